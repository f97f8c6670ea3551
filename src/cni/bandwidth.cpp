// `bandwidth`, a chained plugin: limits a container's traffic with the reference's keys (`ingressRate`,
// `ingressBurst`, `egressRate`, `egressBurst` in bits per second and bits; runtimeConfig `bandwidth`, the same
// keys, replaces them; `shapedSubnets` or `unshapedSubnets`). As the reference does it: traffic to the container
// (ingress) is shaped by a token bucket on the host end of its veth; traffic from it (egress) enters the host end,
// is redirected by a u32 filter on that end's ingress qdisc (action mirred) to an IFB device named after the
// network and container ID, and is shaped on the IFB's egress. With subnets, an htb with a shaped class (1:30)
// and an unshaped one (1:1) and u32 filters by address replaces the token bucket. Everything goes through the
// kinds `qdisc` and `ifb` in ADD's transaction; DEL removes the IFB (the host end's qdiscs go with the veth).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <linux/if_ether.h>

#include <algorithm>

#include "cni/plugins.h"
#include "kinds/ifb.h"
#include "kinds/link_kind.h"
#include "kinds/qdisc.h"
#include "link/link.h"
#include "link/tc.h"
#include "util/json_get.h"
#include "util/sha512.h"

namespace ctnet::cni {
namespace {

namespace tc = link::tc;

constexpr uint32_t kLatencyUsec = 25000;                // the reference's tbf latency, 25 ms
constexpr uint32_t kShaped = 0x30, kUnshaped = 1;       // the reference's htb classes 1:30 and 1:1
constexpr uint64_t kUncapped = 100'000'000'000;         // bytes/s of the unshaped class (the reference's)

struct Limit {
  uint64_t rate = 0, burst = 0;  // bits per second, bits
};

struct Entry {
  Limit ingress, egress;
  std::vector<Prefix> shaped, unshaped;
  bool zero() const { return !ingress.rate && !ingress.burst && !egress.rate && !egress.burst; }
};

uint64_t bits(const nlohmann::json& obj, const char* key, const std::string& parent) {
  const auto* v = member(obj, key);
  if (!v) return 0;
  const std::string field = join_field(parent, key);
  if (!v->is_number_integer()) wrong_type(field, "an integer");
  if (!v->is_number_unsigned()) bad_config(field, "must not be negative");
  return v->get<uint64_t>();
}

Limit limit(const nlohmann::json& obj, const char* rate_key, const char* burst_key, const std::string& parent) {
  Limit l{bits(obj, rate_key, parent), bits(obj, burst_key, parent)};
  const std::string rate_field = join_field(parent, rate_key), burst_field = join_field(parent, burst_key);
  // The reference's rules: both or neither, and a burst the kernel's 32-bit byte counts hold.
  if (l.rate && !l.burst) bad_config(burst_field, fmt::format("missing: {} is set, so it must be too", rate_field));
  if (l.burst && !l.rate) bad_config(rate_field, fmt::format("missing: {} is set, so it must be too", burst_field));
  if (l.burst / 8 >= UINT32_MAX) bad_config(burst_field, "cannot be more than 4GB");
  // The kernel counts bytes: below one byte the bucket would never fill (the reference does not check).
  if (l.rate && l.rate < 8) bad_config(rate_field, "must be at least 8 bits per second");
  if (l.burst && l.burst < 8) bad_config(burst_field, "must be at least 8 bits");
  return l;
}

std::vector<Prefix> subnets(const nlohmann::json& obj, const char* key, const std::string& parent) {
  const std::string field = join_field(parent, key);
  const auto* list = get_array(obj, key, parent);
  std::vector<Prefix> out;
  if (!list) return out;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string f = fmt::format("{}[{}]", field, i);
    if (!(*list)[i].is_string()) wrong_type(f, "a string");
    const auto text = (*list)[i].get<std::string>();
    auto p = Prefix::try_parse(text);
    if (!p || text.find('/') == std::string::npos) bad_config(f, fmt::format("'{}' is not a subnet in CIDR form", text));
    out.push_back(p->network());
  }
  return out;
}

Entry entry(const nlohmann::json& obj, const std::string& parent) {
  Entry e{.ingress = limit(obj, "ingressRate", "ingressBurst", parent), .egress = limit(obj, "egressRate", "egressBurst", parent),
          .shaped = subnets(obj, "shapedSubnets", parent), .unshaped = subnets(obj, "unshapedSubnets", parent)};
  if (!e.shaped.empty() && !e.unshaped.empty())
    bad_config(join_field(parent, "unshapedSubnets"), "cannot be given with shapedSubnets: one of them must go");
  return e;
}

class Bandwidth : public Plugin {
 public:
  // CNI_ARGS are not read (the reference reads none), so a chain's IP= or MAC= is no error here.
  explicit Bandwidth(Invocation& inv) : inv_(inv) {
    if (!inv.at_least("0.3.0"))
      throw CniError(kIncompatibleVersion, fmt::format("bandwidth needs cniVersion 0.3.0 or later (not {})", inv.version));
    entry_ = entry(inv.conf, "");  // checked even when runtimeConfig replaces it
    if (const auto* rt = inv.runtime("bandwidth")) {
      if (!rt->is_object()) wrong_type("runtimeConfig.bandwidth", "an object");
      entry_ = entry(go_keys(*rt, {"ingressRate", "ingressBurst", "egressRate", "egressBurst"}), "runtimeConfig.bandwidth");
    }
  }

  Result add(kinds::Txn& txn) override {
    auto prev = prev_result(inv_);
    if (!prev) bad_config("prevResult", "missing: bandwidth runs chained after the plugin that made the container's veth");
    if (entry_.zero()) return *prev;
    NsSocket& host = txn.host();
    NsSocket& cns = open_container_netns(txn, inv_);
    const link::Link h = host_interface(host.rtnl, cns.rtnl, *prev);
    if (entry_.ingress.rate) kinds::qdisc::apply(txn, shaping(h.name, entry_.ingress, true));
    if (entry_.egress.rate) {
      const std::string ifb = ifb_name();
      const int ifb_index = kinds::ifb::apply(txn, {.name = ifb, .mtu = h.mtu});  // the MTU follows the host end
      prev->interfaces.push_back({ifb, kinds::mac_of(host, ifb).str(), ""});
      kinds::qdisc::apply(txn, redirect(h.name, ifb_index));
      kinds::qdisc::apply(txn, shaping(ifb, entry_.egress, false));
    }
    return *prev;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    // The IFB by its derived name, whatever the configuration says now (as the reference's DEL): no
    // namespace needed. The qdiscs on the host end of the veth go when the main plugin deletes the veth.
    return {{.kind = "ifb", .ns = txn.ref(txn.host()), .name = ifb_name()}};
  }

  void check(const Result& prev) override {
    nl::Socket hs;
    nl::Socket cs = nl::Socket::in(open_container_netns(inv_));
    const link::Link h = host_interface(hs, cs, prev);
    if (entry_.zero()) return;
    std::vector<std::string> d;
    auto on = [&](const std::string& dev, int index, const kinds::qdisc::Spec& spec) {
      for (auto& x : kinds::qdisc::differences(hs, index, spec)) d.push_back(dev + ": " + x);
    };
    if (entry_.ingress.rate) on(h.name, h.index, shaping(h.name, entry_.ingress, true));
    if (entry_.egress.rate) {
      const std::string ifb = ifb_name();
      auto l = link::find(hs, ifb);
      if (!l || l->kind != "ifb") {
        d.push_back(fmt::format("IFB {} does not exist", ifb));
      } else {
        on(h.name, h.index, redirect(h.name, l->index));
        on(ifb, l->index, shaping(ifb, entry_.egress, false));
      }
    }
    if (!d.empty()) throw CniError(kPluginFailure, fmt::format("CHECK: {}", fmt::join(d, "; ")));
  }

  void gc(const std::set<ipam::Attachment>&) override {}
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  // The reference's name: "bwp" and the start of SHA-512(network name + container ID), 15 bytes in all.
  std::string ifb_name() const { return "bwp" + sha512_hex(inv_.name + inv_.container_id).substr(0, 12); }

  // The host end of the container's veth, as the reference finds it: the peer of CNI_IFNAME, in this
  // namespace, and one of prevResult's host interfaces.
  link::Link host_interface(nl::Socket& hs, nl::Socket& cs, const Result& prev) const {
    if (prev.interfaces.empty()) bad_config("prevResult.interfaces", "none: bandwidth needs the host end of the container's veth");
    auto c = link::find(cs, inv_.ifname);
    if (!c) throw CniError(kPluginFailure, fmt::format("interface {} does not exist in the container", inv_.ifname));
    if (c->kind != "veth" || !c->parent)
      throw CniError(kPluginFailure, fmt::format("container interface {} has no veth peer", inv_.ifname));
    auto h = link::find(hs, c->parent);
    if (!h || h->kind != "veth" || h->parent != c->index)
      throw CniError(kPluginFailure, fmt::format("the veth peer of {} (index {}) is not in the host namespace", inv_.ifname, c->parent));
    for (const auto& i : prev.interfaces)
      if (i.sandbox.empty() && i.name == h->name) return *h;
    throw CniError(kPluginFailure, fmt::format("the veth peer of {} ({}) is not among prevResult's host interfaces", inv_.ifname, h->name));
  }

  // The shaping qdisc at the root of `dev`. Plain: a tbf, as the reference's tc rate/burst/latency 25ms. With
  // subnets: the reference's htb (shaped class 1:30 at the rate, ceil twice that; unshaped 1:1 uncapped), the
  // listed subnets filtered into the class they name, the rest to the default class. Subnets are the far end:
  // the source of traffic to the container (`to_container`), the destination of traffic from it. (The
  // reference matched the destination both ways, which to the container is the container's own address.)
  kinds::qdisc::Spec shaping(const std::string& dev, const Limit& l, bool to_container) const {
    const uint64_t rate = l.rate / 8, burst = l.burst / 8;
    const tc::Qdisc root{.handle = tc::handle(1, 0), .parent = tc::kRoot};
    if (entry_.shaped.empty() && entry_.unshaped.empty()) {
      tc::Qdisc q = root;
      q.kind = "tbf";
      q.tbf = tc::tbf(rate, burst, kLatencyUsec);
      return {.dev = dev, .qdisc = q};
    }
    const bool exclude = !entry_.unshaped.empty();
    tc::Qdisc q = root;
    q.kind = "htb";
    q.htb_default = exclude ? kShaped : kUnshaped;
    const uint32_t buffer = tc::buffer_ticks(rate, burst);
    const uint32_t uncapped_buffer = tc::buffer_ticks(kUncapped, kUncapped / 1000);  // 1 ms: a buffer the rate never runs dry of
    auto quantum = [](uint64_t r) { return static_cast<uint32_t>(std::clamp<uint64_t>(r / 10, 1000, 200000)); };  // r2q 10, in the kernel's bounds
    kinds::qdisc::Spec s{.dev = dev, .qdisc = q};
    s.classes = {{.id = tc::handle(1, kShaped), .parent = root.handle, .rate = rate, .ceil = 2 * rate, .buffer = buffer,
                  .cbuffer = buffer, .quantum = quantum(rate)},
                 {.id = tc::handle(1, kUnshaped), .parent = root.handle, .rate = kUncapped, .ceil = kUncapped,
                  .buffer = uncapped_buffer, .cbuffer = uncapped_buffer, .quantum = quantum(kUncapped)}};
    for (const Prefix& p : exclude ? entry_.unshaped : entry_.shaped) {
      const bool v4 = p.address().is_v4();
      // As the reference: one priority per protocol (u32 keeps one protocol per priority).
      s.filters.push_back({.parent = root.handle, .priority = static_cast<uint16_t>(v4 ? 16 : 15),
                           .protocol = static_cast<uint16_t>(v4 ? ETH_P_IP : ETH_P_IPV6), .keys = tc::address_keys(p, to_container),
                           .classid = tc::handle(1, exclude ? kUnshaped : kShaped)});
    }
    return s;
  }

  // The host end's ingress qdisc with the filter that sends everything arriving from the container to the IFB.
  static kinds::qdisc::Spec redirect(const std::string& dev, int ifb_index) {
    return {.dev = dev,
            .qdisc = {.handle = tc::kIngressHandle, .parent = tc::kIngress, .kind = "ingress"},
            .filters = {{.parent = tc::kIngressHandle, .priority = 1, .protocol = ETH_P_ALL, .redirect_to = ifb_index}}};
  }

  Invocation& inv_;
  Entry entry_;
};

}  // namespace

std::unique_ptr<Plugin> make_bandwidth(Invocation& inv) { return std::make_unique<Bandwidth>(inv); }

}  // namespace ctnet::cni
