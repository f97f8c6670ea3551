// The `bridge` plugin: a veth whose host end is a port of a Linux bridge, with the reference plugin's keys.
// ADD costs the kernel floor's requests plus two (reading the bridge, reading the container interface):
// no dumps, no exec, one socket per namespace.
#include <fmt/format.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include "addr/address.h"
#include "addr/route.h"
#include "cni/plugins.h"
#include "link/bridge.h"
#include "link/veth.h"
#include "nft/masq.h"
#include "util/error.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::cni {
namespace {

struct VlanRange {
  int min, max;
};

// Port VLAN membership (AF_BRIDGE IFLA_AF_SPEC, what `bridge vlan add` sends).
void port_vlan(nl::Socket& s, int port, uint16_t type, int vid_min, int vid_max, uint16_t flags) {
  nl::Message m(type, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_BRIDGE;
  ifi->ifi_index = port;
  nlattr* spec = m.begin_nest(IFLA_AF_SPEC);
  if (vid_min == vid_max) {
    bridge_vlan_info v{flags, static_cast<uint16_t>(vid_min)};
    m.put(IFLA_BRIDGE_VLAN_INFO, &v, sizeof v);
  } else {
    bridge_vlan_info b{static_cast<uint16_t>(flags | BRIDGE_VLAN_INFO_RANGE_BEGIN), static_cast<uint16_t>(vid_min)};
    bridge_vlan_info e{static_cast<uint16_t>(flags | BRIDGE_VLAN_INFO_RANGE_END), static_cast<uint16_t>(vid_max)};
    m.put(IFLA_BRIDGE_VLAN_INFO, &b, sizeof b);
    m.put(IFLA_BRIDGE_VLAN_INFO, &e, sizeof e);
  }
  m.end_nest(spec);
  std::string text;
  int err = s.try_ack(m, &text);
  if (err && !(type == RTM_DELLINK && (err == ENOENT || err == EINVAL)))
    throw Error(fmt::format("cannot set VLAN {}-{} on port #{}", vid_min, vid_max, port), err, text);
}

void set_promisc(nl::Socket& s, int index) {
  nl::Message m(RTM_NEWLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_flags = IFF_PROMISC;
  ifi->ifi_change = IFF_PROMISC;
  s.ack(m, "cannot set the bridge promiscuous");
}

class Bridge : public Plugin {
 public:
  explicit Bridge(Invocation& inv) : inv_(inv), ipam_(inv) {
    const auto& c = inv.conf;
    check_args(inv, {"MAC", "IP", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"});
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
    enable_dad_ = get_bool(c, "enabledad", false);
    macspoofchk_ = get_bool(c, "macspoofchk", false);
    disable_container_iface_ = get_bool(c, "disableContainerInterface", false);
    port_isolation_ = get_bool(c, "portIsolation", false);
    preserve_default_vlan_ = get_bool(c, "preserveDefaultVlan", true);
    mtu_ = mtu_key(c, "mtu");
    if (auto v = get_int(c, "vlan")) {
      if (*v < 0 || *v > 4094) bad_config("vlan", fmt::format("{} is not a VLAN ID (0-4094)", *v));
      vlan_ = static_cast<int>(*v);
    }
    if (const auto* t = get_array(c, "vlanTrunk")) {
      for (size_t i = 0; i < t->size(); ++i) {
        std::string f = fmt::format("vlanTrunk[{}]", i);
        const auto& o = (*t)[i];
        if (!o.is_object()) wrong_type(f, "an object");
        auto id = get_int(o, "id", f), lo = get_int(o, "minID", f), hi = get_int(o, "maxID", f);
        VlanRange r{0, 0};
        if (id) r = {static_cast<int>(*id), static_cast<int>(*id)};
        else if (lo && hi) r = {static_cast<int>(*lo), static_cast<int>(*hi)};
        else bad_config(f, "needs id, or minID and maxID");
        if (r.min < 1 || r.max > 4094 || r.min > r.max) bad_config(f, "VLAN IDs must be 1-4094 with minID <= maxID");
        trunk_.push_back(r);
      }
    }
    if (vlan_ && !trunk_.empty()) bad_config("vlanTrunk", "cannot be combined with vlan");
    mac_ = requested_mac(inv);
  }

  Result add() override {
    nl::Socket hs;  // before the undo log: its rollback uses the socket
    UndoLog undo;
    NetNs cns = open_container_netns(inv_);
    Result ipr = ipam_.add(undo);
    for (const auto& ip : ipr.ips)
      if (is_gw_ && !ip.gateway) throw CniError(kInvalidConfig, fmt::format("isGateway: IPAM gave {} no gateway", ip.address.str()));

    auto br = ensure_bridge(hs, undo);
    if (is_gw_) {
      for (const auto& ip : ipr.ips) gateway_address(hs, br, Prefix(*ip.gateway, ip.address.length()));
      enable_forwarding(ipr);
    }

    const std::string host = host_veth_name(inv_);
    const MacAddress host_mac = MacAddress::derived("ctnet-host/" + inv_.container_id + "/" + inv_.ifname);
    link::VethSpec v{.name = host, .peer_name = inv_.ifname, .peer_netns_fd = cns.fd(), .mtu = mtu_ ? mtu_ : br.mtu,
                     .mac = host_mac, .peer_mac = mac_, .master = br.index, .up = true};
    link::create_veth(hs, v);
    undo.add("veth " + host, [&hs, host] { link::remove(hs, host); });

    if (hairpin_ || port_isolation_ || vlan_ || !trunk_.empty()) {
      auto port = link::get(hs, host);
      if (hairpin_ || port_isolation_) {
        link::BridgePortOptions o;
        if (hairpin_) o.hairpin = true;
        if (port_isolation_) o.isolated = true;
        link::set_bridge_port(hs, port.index, o, fmt::format("cannot set port options of {}", host));
      }
      if (vlan_) port_vlan(hs, port.index, RTM_SETLINK, vlan_, vlan_, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
      for (const auto& r : trunk_) port_vlan(hs, port.index, RTM_SETLINK, r.min, r.max, 0);
      if ((vlan_ || !trunk_.empty()) && !preserve_default_vlan_) port_vlan(hs, port.index, RTM_DELLINK, 1, 1, 0);
    }

    Result res;
    res.interfaces.push_back({bridge_, br.mac ? br.mac->str() : "", "", br.mtu});
    res.interfaces.push_back({host, host_mac.str(), "", v.mtu});
    {
      nl::Socket cs = nl::Socket::in(cns);
      auto [cindex, cmac] = link_index_mac(cs, inv_.ifname);
      res.interfaces.push_back({inv_.ifname, cmac, inv_.netns, v.mtu});
      take_ipam_result(res, ipr, 2);
      if (is_default_gw_) add_default_routes(res);
      if (!disable_container_iface_) configure_container(cs, cindex, inv_.ifname, res, enable_dad_);
    }
    if (macspoofchk_) {
      nft::MasqKey key{inv_.name, inv_.container_id, inv_.ifname};
      undo.add("MAC spoof check", [key] { nft::remove_macspoof(key); });
      nft::add_macspoof(key, host, res.interfaces[2].mac);
    }
    if (ip_masq_ && !res.ips.empty()) {
      std::vector<Prefix> addrs;
      for (const auto& ip : res.ips) addrs.push_back(ip.address);
      nft::MasqKey key{inv_.name, inv_.container_id, inv_.ifname};
      undo.add("masquerade rules", [key] { nft::remove_masq(key); });
      nft::add_masq(key, addrs);
    }
    undo.commit();
    return res;
  }

  void del() override {
    std::string spoof_error;
    if (macspoofchk_) {
      try {
        nft::remove_macspoof({inv_.name, inv_.container_id, inv_.ifname});
      } catch (const std::exception& e) {
        spoof_error = e.what();
      }
    }
    del_veth_attachment(inv_, ipam_, ip_masq_);
    if (!spoof_error.empty()) throw CniError(kPluginFailure, spoof_error);
  }

  void check(const Result& prev) override {
    ipam_.check(prev);
    // The container side first: when it is gone, the host end went with it, and the container is what to name.
    NetNs cns = open_container_netns(inv_);
    nl::Socket cs = nl::Socket::in(cns);
    int idx = 2;
    for (size_t i = 0; i < prev.interfaces.size(); ++i)
      if (prev.interfaces[i].name == inv_.ifname && !prev.interfaces[i].sandbox.empty()) idx = static_cast<int>(i);
    check_container(cs, inv_.ifname, prev, idx);
    nl::Socket hs;
    auto br = link::find(hs, bridge_);
    if (!br || br->kind != "bridge") throw CniError(kPluginFailure, fmt::format("CHECK: bridge {} does not exist", bridge_));
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
  link::Link ensure_bridge(nl::Socket& hs, UndoLog& undo) {
    auto br = link::find(hs, bridge_);
    if (br) {
      if (br->kind != "bridge")
        throw CniError(kInvalidConfig, fmt::format("invalid 'bridge': {} exists and is a {} link, not a bridge", bridge_,
                                                   br->kind.empty() ? "non-bridge" : br->kind));
      if (!br->is_up()) link::change(hs, br->index, {.up = true}, fmt::format("cannot bring {} up", bridge_));
    } else {
      link::BridgeSpec spec{.name = bridge_, .mtu = mtu_ ? mtu_ : mtu_of_default_route(hs),
                            .vlan_filtering = vlan_ != 0 || !trunk_.empty(), .up = true};
      try {
        link::create_bridge(hs, spec);
        std::string name = bridge_;
        // Rolled back only while it has no port: a concurrent ADD may have attached a container meanwhile.
        undo.add("bridge " + name, [&hs, name] {
          auto br = link::find(hs, name);
          if (!br) return;
          for (const auto& l : link::list(hs))
            if (l.master == br->index) return;
          link::remove(hs, name);
        });
      } catch (const Error& e) {
        if (e.errnum() == EOPNOTSUPP && spec.vlan_filtering)
          throw CniError(kPluginFailure, fmt::format("vlan: cannot create {} with VLAN filtering: the running kernel lacks "
                                                     "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)", bridge_));
        if (e.errnum() != EEXIST) throw;  // a concurrent ADD made it first
      }
      br = link::get(hs, bridge_);
    }
    if (promisc_ && !(br->flags & IFF_PROMISC)) set_promisc(hs, br->index);
    return *br;
  }

  void gateway_address(nl::Socket& hs, const link::Link& br, const Prefix& gw) {
    if (force_address_) {
      for (const auto& a : addr::list(hs, br.index, gw.family()))
        if (a.prefix != gw && a.prefix.network().overlaps(gw.network())) addr::remove(hs, br.index, a.prefix);
    }
    nl::Message m = addr::add_request(br.index, gw);
    std::string text;
    int err = hs.try_ack(m, &text);
    if (err && err != EEXIST) throw Error(fmt::format("cannot add gateway address {} to {}", gw.str(), bridge_), err, text);
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
  int vlan_ = 0;
  std::vector<VlanRange> trunk_;
  std::optional<MacAddress> mac_;
};

}  // namespace

std::unique_ptr<Plugin> make_bridge(Invocation& inv) { return std::make_unique<Bridge>(inv); }

}  // namespace ctnet::cni
