#include <fmt/format.h>

#include "addr/address.h"
#include "addr/route.h"
#include "cni/plugins.h"
#include "kinds/address.h"
#include "kinds/link_kind.h"
#include "kinds/sysctl.h"
#include "link/link.h"
#include "ns/sysctl.h"
#include "util/error.h"
#include "util/json_get.h"
#include "util/names.h"
#include "util/english.h"

namespace ctnet::cni {

void configure_container(kinds::Txn& txn, const std::string& ns, int index, const std::string& ifname, const Result& r, bool dad) {
  for (const auto& ip : r.ips)
    kinds::address::apply(txn, {.ns = ns, .ifname = ifname, .ifindex = index, .prefix = ip.address, .dad = dad});
  add_routes(txn, ns, index, ifname, r);
}

void add_routes(kinds::Txn& txn, const std::string& ns, int index, const std::string& ifname, const Result& r) {
  for (const auto& rt : r.routes) {
    addr::Route route{.dst = rt.dst, .gateway = rt.gw, .oif = index, .metric = rt.priority};
    if (rt.scope) route.scope = static_cast<uint8_t>(*rt.scope);
    if (!route.gateway && !rt.scope)  // an on-link route (a scope given, no gateway) stays on the link
      for (const auto& ip : r.ips)
        if (ip.gateway && ip.gateway->family() == rt.dst.family()) {
          route.gateway = ip.gateway;
          break;
        }
    // A route that is already there is not an error, as in the reference (ipam.ConfigureIface: "the first one
    // wins"): a second network of the same container brings its own default route. It is not recorded, so
    // that network's DEL leaves the first one's route alone.
    kinds::route::apply(txn, {.ns = ns, .route = route, .dev = ifname, .may_exist = true});
  }
}

void check_container(nl::Socket& cs, const Invocation& inv, const Result& prev, int iface_index_in_result) {
  const std::string& ifname = inv.ifname;
  auto fail = [&](const std::string& what) { throw CniError(kPluginFailure, fmt::format("CHECK: {}", what)); };
  auto l = link::find(cs, ifname);
  if (!l) fail(fmt::format("interface {} does not exist in the container", ifname));
  if (!l->is_up()) fail(fmt::format("{} is down", ifname));
  // The interface as the result describes it: the same MAC, in this sandbox.
  if (iface_index_in_result >= 0 && static_cast<size_t>(iface_index_in_result) < prev.interfaces.size()) {
    const Interface& want = prev.interfaces[static_cast<size_t>(iface_index_in_result)];
    if (want.name != ifname) fail(fmt::format("the result names interface {}, not {}", want.name, ifname));
    if (want.sandbox != inv.netns) fail(fmt::format("the result puts {} in {}, not in {}", ifname, want.sandbox, inv.netns));
    if (!want.mac.empty() && (!l->mac || l->mac->str() != want.mac))
      fail(fmt::format("{} has MAC {} (the result says {})", ifname, l->mac ? l->mac->str() : "none", want.mac));
  }
  auto have = addr::list(cs, l->index);
  for (const auto& ip : prev.ips) {
    if (ip.interface && *ip.interface != iface_index_in_result) continue;
    bool found = false;
    for (const auto& a : have) found = found || a.prefix == ip.address;
    if (!found) fail(fmt::format("{} lacks address {}", ifname, ip.address.str()));
  }
  // Every route of the result is in the container's main table (the reference's ValidateExpectedRoute).
  const auto routes = addr::list_routes(cs);
  for (const auto& want : prev.routes) {
    bool found = false;
    for (const auto& r : routes)
      found = found || (r.dst.network() == want.dst.network() && (!want.gw || r.gateway == want.gw));
    if (!found) fail(fmt::format("the container has no route to {}{}", want.dst.network().str(), want.gw ? " via " + want.gw->str() : ""));
  }
}

void enable_forwarding(kinds::Txn& txn, const Result& r) {
  bool v4 = false, v6 = false;
  for (const auto& ip : r.ips) (ip.address.address().is_v4() ? v4 : v6) = true;
  // Recorded with the old value: a failed ADD turns forwarding off again if it turned it on.
  if (v4) kinds::sysctl::apply(txn, {.key = "net.ipv4.ip_forward", .value = "1"});
  if (v6) kinds::sysctl::apply(txn, {.key = "net.ipv6.conf.all.forwarding", .value = "1"});
}

uint32_t mtu_key(const nlohmann::json& conf, std::string_view key) {
  auto v = get_int(conf, key);
  if (!v) return 0;
  if (auto p = mtu_problem(*v); !p.empty()) bad_config(key, p);
  return static_cast<uint32_t>(*v);
}

std::optional<Result> prev_result(const Invocation& inv) {
  const auto* p = member(inv.conf, "prevResult");
  if (!p) return std::nullopt;
  return Result::from_json(*p, "prevResult");
}

void take_ipam_result(Result& res, const Result& ipam_result, int iface) {
  res.ips = ipam_result.ips;
  for (auto& ip : res.ips) ip.interface = iface;
  res.routes = ipam_result.routes;
  res.dns = ipam_result.dns;
}

void OneInterfacePlugin::check(const Result& prev) {
  ipam_.check(prev);
  NetNs cns = open_container_netns(inv_);
  nl::Socket cs = nl::Socket::in(cns);
  check_link(cs);
  check_container(cs, inv_, prev, 0);
}

void OneInterfacePlugin::check_link(nl::Socket& cs) {
  if (kind_.empty()) return;
  auto l = link::find(cs, inv_.ifname);
  if (!l || l->kind != kind_)
    throw CniError(kPluginFailure, fmt::format("CHECK: {} is not {} link in the container", inv_.ifname, article(kind_)));
}

Result OneInterfacePlugin::add_interface(kinds::Txn& txn, const std::function<int()>& make) {
  NsSocket& cns = open_container_netns(txn, inv_);
  Result ipr;
  if (!ipam_.needs_interface()) ipr = ipam_.add(txn);
  const int index = make();
  if (ipam_.needs_interface()) ipr = ipam_.add(txn);
  Result res;
  take_ipam_result(res, ipr, 0);
  res.interfaces.push_back({inv_.ifname, kinds::mac_of(cns, inv_.ifname).str(), inv_.netns, kinds::mtu_of(cns, inv_.ifname)});
  configure_container(txn, inv_.netns, index, inv_.ifname, res, false);
  return res;
}

std::vector<kinds::Made> OneInterfacePlugin::records_of(kinds::Txn& txn, const std::string& record_kind) const {
  return records_with(txn, {.kind = record_kind, .ns = container_ref(inv_), .name = inv_.ifname});
}

std::vector<kinds::Made> OneInterfacePlugin::records_with(kinds::Txn& txn, kinds::Made link) const {
  std::vector<kinds::Made> out;
  auto lease = ipam_.record(txn);
  if (lease && !ipam_.needs_interface()) out.push_back(std::move(*lease));
  // Without CNI_NETNS the namespace is gone, and the kernel took (or gave back) the interface with it.
  if (!inv_.netns.empty()) out.push_back(std::move(link));
  if (lease && ipam_.needs_interface()) out.push_back(std::move(*lease));  // removed first: newest first
  return out;
}

std::vector<kinds::Made> veth_attachment_records(kinds::Txn& txn, const Invocation& inv, const Ipam& ipam, bool macspoof, bool ip_masq) {
  std::vector<kinds::Made> out;
  auto lease = ipam.record(txn);
  if (lease && !ipam.needs_interface()) out.push_back(std::move(*lease));
  out.push_back({.kind = "veth", .ns = txn.ref(txn.host()), .name = host_veth_name(inv)});
  if (lease && ipam.needs_interface()) out.push_back(std::move(*lease));  // released while the veth still exists
  const nft::MasqKey key{inv.name, inv.container_id, inv.ifname};
  if (macspoof) out.push_back(macspoof_record(txn, key));
  if (ip_masq) out.push_back(masq_record(txn, key));
  return out;
}

}  // namespace ctnet::cni
