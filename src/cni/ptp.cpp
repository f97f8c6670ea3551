// The `ptp` plugin: a veth with no bridge. As the reference does, the host end carries each gateway as a /32
// (/128) and a host route to the container's address; the container reaches everything through the gateway,
// which it sees as a link-scope host route.
#include <fmt/format.h>

#include "cni/plugins.h"
#include "kinds/address.h"
#include "kinds/link_kind.h"
#include "kinds/veth.h"
#include "link/link.h"
#include "util/error.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

Prefix host_prefix(const IpAddress& a) { return Prefix(a, a.is_v4() ? 32 : 128); }

class Ptp : public Plugin {
 public:
  explicit Ptp(Invocation& inv) : inv_(inv), ipam_(inv) {
    check_args(inv, {"MAC", "IP"});
    ip_masq_ = get_bool(inv.conf, "ipMasq", false);
    mtu_ = mtu_key(inv.conf, "mtu");
    if (inv.command == Command::add && !ipam_.configured()) bad_config("ipam", "missing: ptp needs IPAM");
    mac_ = requested_mac(inv);
  }

  Result add(kinds::Txn& txn) override {
    NsSocket& host = txn.host();
    open_container_netns(txn, inv_);
    Result ipr;
    auto run_ipam = [&] {
      ipr = ipam_.add(txn);
      if (ipr.ips.empty()) throw CniError(kInvalidConfig, "ptp: IPAM returned no addresses");
      for (const auto& ip : ipr.ips)
        if (!ip.gateway) throw CniError(kInvalidConfig, fmt::format("ptp: IPAM gave {} no gateway", ip.address.str()));
    };
    if (!ipam_.needs_interface()) run_ipam();

    const std::string host_name = host_veth_name(inv_);
    const MacAddress host_mac = host_veth_mac(inv_);
    const uint32_t mtu = mtu_ ? mtu_ : kinds::mtu_of_default_route(host);
    auto v = kinds::veth::apply(txn, {.name = host_name, .peer_ns = inv_.netns, .peer_name = inv_.ifname, .mtu = mtu,
                                      .mac = host_mac, .peer_mac = mac_});
    if (ipam_.needs_interface()) run_ipam();
    enable_forwarding(txn, ipr);
    for (const auto& ip : ipr.ips) {
      kinds::address::apply(txn, {.ifname = host_name, .ifindex = v.index, .prefix = host_prefix(*ip.gateway), .may_exist = true});
      kinds::route::apply(txn, {.route = {.dst = host_prefix(ip.address.address()), .oif = v.index}, .dev = host_name});
    }

    Result res;
    res.interfaces.push_back({host_name, host_mac.str(), "", mtu});
    const MacAddress cmac = mac_ ? *mac_ : kinds::mac_of(txn.open(inv_.netns), inv_.ifname);
    res.interfaces.push_back({inv_.ifname, cmac.str(), inv_.netns, mtu});
    const std::string& cns = inv_.netns;
    const int cindex = v.peer_index;
    for (const auto& ip : ipr.ips) {
      // No prefix route: the subnet is reached through the gateway, which is on-link as a host route.
      kinds::address::apply(txn, {.ns = cns, .ifname = inv_.ifname, .ifindex = cindex, .prefix = ip.address, .prefix_route = false});
      const auto src = ip.address.address();
      kinds::route::apply(txn, {.ns = cns, .route = {.dst = host_prefix(*ip.gateway), .oif = cindex, .src = src}, .dev = inv_.ifname});
      if (ip.address.length() < ip.address.max_length())
        kinds::route::apply(txn, {.ns = cns, .route = {.dst = ip.address.network(), .gateway = ip.gateway, .oif = cindex, .src = src},
                                  .dev = inv_.ifname});
    }
    add_routes(txn, cns, cindex, inv_.ifname, ipr);
    take_ipam_result(res, ipr, 1);
    if (ip_masq_) {
      std::vector<Prefix> addrs;
      for (const auto& ip : res.ips) addrs.push_back(ip.address);
      add_masq(txn, {inv_.name, inv_.container_id, inv_.ifname}, addrs);
    }
    return res;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    return veth_attachment_records(txn, inv_, ipam_, false, ip_masq_);
  }

  void check(const Result& prev) override {
    ipam_.check(prev);
    nl::Socket hs;
    if (!link::find(hs, host_veth_name(inv_)))
      throw CniError(kPluginFailure, fmt::format("CHECK: host veth {} does not exist", host_veth_name(inv_)));
    NetNs cns = open_container_netns(inv_);
    nl::Socket cs = nl::Socket::in(cns);
    check_container(cs, inv_, prev, 1);
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
