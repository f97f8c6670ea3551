// The `bridge` plugin: a veth whose host end is a port of a Linux bridge, with the reference plugin's keys.
// ADD costs the kernel floor's requests plus two (reading the bridge, its gateway address): no dumps, no exec,
// one socket per namespace; links are found by ioctl (kinds::index_of), not read back.
#include <fmt/format.h>

#include "cni/plugins.h"
#include "kinds/address.h"
#include "kinds/bridge.h"
#include "kinds/link_kind.h"
#include "kinds/veth.h"
#include "util/error.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::cni {
namespace {

class Bridge : public Plugin {
 public:
  explicit Bridge(Invocation& inv) : inv_(inv), ipam_(inv) {
    const auto& c = inv.conf;
    check_args(inv, {"MAC", "IP"});
    bridge_ = get_string(c, "bridge").value_or("cni0");
    try {
      validate_ifname(bridge_, "bridge");
    } catch (const InvalidInput& e) {
      bad_config("bridge", e.problem());
    }
    is_default_gw_ = get_bool(c, "isDefaultGateway", false);
    is_gw_ = get_bool(c, "isGateway", false) || is_default_gw_;
    force_address_ = get_bool(c, "forceAddress", false);
    ip_masq_ = get_bool(c, "ipMasq", false);
    hairpin_ = get_bool(c, "hairpinMode", false);
    promisc_ = get_bool(c, "promiscMode", false);
    // As the reference refuses it: promiscuous mode would make the bridge see the hairpinned frames twice.
    if (hairpin_ && promisc_) bad_config("promiscMode", "cannot set hairpin mode and promiscuous mode at the same time");
    enable_dad_ = get_bool(c, "enabledad", false);
    macspoofchk_ = get_bool(c, "macspoofchk", false);
    disable_container_iface_ = get_bool(c, "disableContainerInterface", false);
    port_isolation_ = get_bool(c, "portIsolation", false);
    preserve_default_vlan_ = get_bool(c, "preserveDefaultVlan", true);
    mtu_ = mtu_key(c, "mtu");
    if (auto v = get_int(c, "vlan")) {
      if (*v < 0 || *v > 4094) bad_config("vlan", fmt::format("{} is not a VLAN ID (0-4094)", *v));
      vlan_ = static_cast<uint16_t>(*v);
    }
    if (const auto* t = get_array(c, "vlanTrunk")) {
      for (size_t i = 0; i < t->size(); ++i) {
        std::string f = fmt::format("vlanTrunk[{}]", i);
        const auto& o = (*t)[i];
        if (!o.is_object()) wrong_type(f, "an object");
        auto id = get_int(o, "id", f), lo = get_int(o, "minID", f), hi = get_int(o, "maxID", f);
        int64_t min = 0, max = 0;
        if (id) min = max = *id;
        else if (lo && hi) min = *lo, max = *hi;
        else bad_config(f, "needs id, or minID and maxID");
        if (min < 1 || max > 4094 || min > max) bad_config(f, "VLAN IDs must be 1-4094 with minID <= maxID");
        trunk_.push_back({static_cast<uint16_t>(min), static_cast<uint16_t>(max)});
      }
    }
    mac_ = requested_mac(inv);
    kinds::port::validate(port_spec(), "");  // vlan with vlanTrunk
  }

  Result add(kinds::Txn& txn) override {
    open_container_netns(txn, inv_);
    Result ipr;
    auto run_ipam = [&] {
      ipr = ipam_.add(txn);
      for (const auto& ip : ipr.ips)
        if (is_gw_ && !ip.gateway) throw CniError(kInvalidConfig, fmt::format("isGateway: IPAM gave {} no gateway", ip.address.str()));
    };
    if (!ipam_.needs_interface()) run_ipam();

    // Shared: other containers' ports come and go on it, so a rollback removes it only while it has none.
    const link::Link br = kinds::bridge::ensure(txn, {.name = bridge_, .mtu = mtu_, .mtu_of_default_route = true,
                                                      .vlan_filtering = vlan_ != 0 || !trunk_.empty(), .promisc = promisc_,
                                                      .shared = true}).link;
    const std::string host = host_veth_name(inv_);
    const MacAddress host_mac = host_veth_mac(inv_);
    const uint32_t mtu = mtu_ ? mtu_ : br.mtu;
    auto v = kinds::veth::apply(txn, {.name = host, .peer_ns = inv_.netns, .peer_name = inv_.ifname, .mtu = mtu,
                                      .mac = host_mac, .peer_mac = mac_, .master = bridge_, .peer_up = !disable_container_iface_});
    if (ipam_.needs_interface()) run_ipam();
    if (is_gw_) {
      for (const auto& ip : ipr.ips)
        kinds::address::apply(txn, {.ifname = bridge_, .ifindex = br.index, .prefix = Prefix(*ip.gateway, ip.address.length()),
                                    .may_exist = true, .replace_overlapping = force_address_, .shared = true});
      enable_forwarding(txn, ipr);
    }
    if (hairpin_ || port_isolation_ || vlan_ || !trunk_.empty()) kinds::port::apply(txn, port_spec(), v.index, br.index);

    Result res;
    res.interfaces.push_back({bridge_, br.mac ? br.mac->str() : "", "", br.mtu});
    res.interfaces.push_back({host, host_mac.str(), "", mtu});
    const MacAddress cmac = mac_ ? *mac_ : kinds::mac_of(txn.open(inv_.netns), inv_.ifname);
    res.interfaces.push_back({inv_.ifname, cmac.str(), inv_.netns, mtu});
    take_ipam_result(res, ipr, 2);
    if (is_default_gw_) add_default_routes(res);
    if (!disable_container_iface_) configure_container(txn, inv_.netns, v.peer_index, inv_.ifname, res, enable_dad_);
    const nft::MasqKey key{inv_.name, inv_.container_id, inv_.ifname};
    if (macspoofchk_) add_macspoof(txn, key, host, res.interfaces[2].mac);
    if (ip_masq_ && !res.ips.empty()) {
      std::vector<Prefix> addrs;
      for (const auto& ip : res.ips) addrs.push_back(ip.address);
      add_masq(txn, key, addrs);
    }
    return res;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    return veth_attachment_records(txn, inv_, ipam_, macspoofchk_, ip_masq_);
  }

  void check(const Result& prev) override {
    ipam_.check(prev);
    // The container side first: when it is gone, the host end went with it, and the container is what to name.
    NetNs cns = open_container_netns(inv_);
    nl::Socket cs = nl::Socket::in(cns);
    int idx = 2;
    for (size_t i = 0; i < prev.interfaces.size(); ++i)
      if (prev.interfaces[i].name == inv_.ifname && !prev.interfaces[i].sandbox.empty()) idx = static_cast<int>(i);
    check_container(cs, inv_, prev, idx);
    nl::Socket hs;
    auto br = link::find(hs, bridge_);
    if (!br || br->kind != "bridge") throw CniError(kPluginFailure, fmt::format("CHECK: bridge {} does not exist", bridge_));
    if (!prev.interfaces.empty() && prev.interfaces[0].name != bridge_)
      throw CniError(kPluginFailure, fmt::format("CHECK: the result names bridge {}, the configuration {}", prev.interfaces[0].name, bridge_));
    auto host = link::find(hs, host_veth_name(inv_));
    if (!host || host->master != br->index)
      throw CniError(kPluginFailure, fmt::format("CHECK: host veth {} is not a port of {}", host_veth_name(inv_), bridge_));
  }

  void gc(const std::set<ipam::Attachment>& valid) override {
    ipam_.gc(valid);
    if (ip_masq_) nft::gc_masq(inv_.name, valid);
    if (macspoofchk_) nft::gc_macspoof(inv_.name, valid);
  }

  void status() override { ipam_.status(); }

 private:
  // The host end's port settings: hairpin, isolation, VLANs.
  kinds::port::Spec port_spec() const {
    kinds::port::Spec p{.bridge = bridge_, .name = host_veth_name(inv_), .pvid = vlan_, .trunk = trunk_,
                        .keep_default_vlan = preserve_default_vlan_};
    if (hairpin_) p.options.hairpin = true;
    if (port_isolation_) p.options.isolated = true;
    return p;
  }

  static void add_default_routes(Result& res) {
    for (const auto& ip : res.ips) {
      bool have = false;
      for (const auto& r : res.routes) have = have || (r.dst.length() == 0 && r.dst.family() == ip.address.family());
      if (!have) res.routes.push_back({Prefix(*IpAddress::try_parse(ip.address.address().is_v4() ? "0.0.0.0" : "::"), 0), ip.gateway});
    }
  }

  Invocation& inv_;
  Ipam ipam_;
  std::string bridge_;
  bool is_gw_ = false, is_default_gw_ = false, force_address_ = false, ip_masq_ = false, hairpin_ = false,
       promisc_ = false, enable_dad_ = false, macspoofchk_ = false, disable_container_iface_ = false,
       port_isolation_ = false, preserve_default_vlan_ = true;
  uint32_t mtu_ = 0;
  uint16_t vlan_ = 0;
  std::vector<kinds::port::VlanRange> trunk_;
  std::optional<MacAddress> mac_;
};

}  // namespace

std::unique_ptr<Plugin> make_bridge(Invocation& inv) { return std::make_unique<Bridge>(inv); }

}  // namespace ctnet::cni
