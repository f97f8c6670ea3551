// The `ptp` plugin: a veth with no bridge. As the reference does, the host end carries each gateway as a /32
// (/128) and a host route to the container's address; the container reaches everything through the gateway,
// which it sees as a link-scope host route.
#include <fmt/format.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "addr/address.h"
#include "addr/route.h"
#include "cni/plugins.h"
#include "link/veth.h"
#include "nft/masq.h"
#include "util/error.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

Prefix host_prefix(const IpAddress& a) { return Prefix(a, a.is_v4() ? 32 : 128); }

class Ptp : public Plugin {
 public:
  explicit Ptp(Invocation& inv) : inv_(inv), ipam_(inv) {
    check_args(inv, {"MAC", "IP", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"});
    ip_masq_ = get_bool(inv.conf, "ipMasq", false);
    mtu_ = mtu_key(inv.conf, "mtu");
    if (inv.command == Command::add && !ipam_.configured()) bad_config("ipam", "missing: ptp needs IPAM");
    mac_ = requested_mac(inv);
  }

  Result add() override {
    nl::Socket hs;  // before the undo log: its rollback uses the socket
    UndoLog undo;
    NetNs cns = open_container_netns(inv_);
    Result ipr = ipam_.add(undo);
    if (ipr.ips.empty()) throw CniError(kInvalidConfig, "ptp: IPAM returned no addresses");
    for (const auto& ip : ipr.ips)
      if (!ip.gateway) throw CniError(kInvalidConfig, fmt::format("ptp: IPAM gave {} no gateway", ip.address.str()));
    enable_forwarding(ipr);

    const std::string host = host_veth_name(inv_);
    const MacAddress host_mac = MacAddress::derived("ctnet-host/" + inv_.container_id + "/" + inv_.ifname);
    link::VethSpec v{.name = host, .peer_name = inv_.ifname, .peer_netns_fd = cns.fd(),
                     .mtu = mtu_ ? mtu_ : mtu_of_default_route(hs), .mac = host_mac, .peer_mac = mac_, .up = true};
    link::create_veth(hs, v);
    undo.add("veth " + host, [&hs, host] { link::remove(hs, host); });
    const int host_index = link_index_mac(hs, host).first;
    for (const auto& ip : ipr.ips) {
      nl::Message m = addr::add_request(host_index, host_prefix(*ip.gateway));
      std::string text;
      int err = hs.try_ack(m, &text);
      if (err && err != EEXIST) throw Error(fmt::format("cannot add {} to {}", ip.gateway->str(), host), err, text);
      addr::Route r{.dst = host_prefix(ip.address.address()), .oif = host_index};
      addr::add(hs, r);
    }

    Result res;
    res.interfaces.push_back({host, host_mac.str(), "", v.mtu});
    {
      nl::Socket cs = nl::Socket::in(cns);
      auto [cindex, cmac] = link_index_mac(cs, inv_.ifname);
      res.interfaces.push_back({inv_.ifname, cmac, inv_.netns, v.mtu});
      link::change(cs, cindex, {.up = true}, fmt::format("cannot bring {} up", inv_.ifname));
      for (const auto& ip : ipr.ips) {
        // No prefix route: the subnet is reached through the gateway, which is on-link as a host route.
        nl::Message m = addr::add_request(cindex, ip.address, {.dad = true});
        m.put_u32(IFA_FLAGS, IFA_F_NODAD | IFA_F_NOPREFIXROUTE);
        cs.ack(m, fmt::format("cannot add address {} to {}", ip.address.str(), inv_.ifname));
        addr::add(cs, {.dst = host_prefix(*ip.gateway), .oif = cindex, .src = ip.address.address()});
        if (ip.address.length() < ip.address.max_length())
          addr::add(cs, {.dst = ip.address.network(), .gateway = ip.gateway, .oif = cindex, .src = ip.address.address()});
      }
      for (const auto& rt : ipr.routes) {
        addr::Route r{.dst = rt.dst, .gateway = rt.gw, .oif = cindex};
        if (!r.gateway)
          for (const auto& ip : ipr.ips)
            if (ip.gateway->family() == rt.dst.family()) {
              r.gateway = ip.gateway;
              break;
            }
        addr::add(cs, r);
      }
    }
    take_ipam_result(res, ipr, 1);
    if (ip_masq_) {
      std::vector<Prefix> addrs;
      for (const auto& ip : res.ips) addrs.push_back(ip.address);
      nft::MasqKey key{inv_.name, inv_.container_id, inv_.ifname};
      undo.add("masquerade rules", [key] { nft::remove_masq(key); });
      nft::add_masq(key, addrs);
    }
    undo.commit();
    return res;
  }

  void del() override { del_veth_attachment(inv_, ipam_, ip_masq_); }

  void check(const Result& prev) override {
    ipam_.check(prev);
    nl::Socket hs;
    if (!link::find(hs, host_veth_name(inv_)))
      throw CniError(kPluginFailure, fmt::format("CHECK: host veth {} does not exist", host_veth_name(inv_)));
    NetNs cns = open_container_netns(inv_);
    nl::Socket cs = nl::Socket::in(cns);
    check_container(cs, inv_.ifname, prev, 1);
  }

  void gc(const std::set<ipam::Attachment>& valid) override {
    ipam_.gc(valid);
    if (ip_masq_) nft::gc_masq(inv_.name, valid);
  }
  void status() override { ipam_.status(); }

 private:
  Invocation& inv_;
  Ipam ipam_;
  bool ip_masq_ = false;
  uint32_t mtu_ = 0;
  std::optional<MacAddress> mac_;
};

}  // namespace

std::unique_ptr<Plugin> make_ptp(Invocation& inv) { return std::make_unique<Ptp>(inv); }

}  // namespace ctnet::cni
