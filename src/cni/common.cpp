#include <fmt/format.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "addr/address.h"
#include "addr/route.h"
#include "util/json_get.h"
#include "cni/plugins.h"
#include "link/link.h"
#include "nft/masq.h"
#include "ns/sysctl.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::cni {

std::pair<int, std::string> link_index_mac(nl::Socket& s, const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof(ifr.ifr_name) - 1));
  if (::ioctl(s.fd(), SIOCGIFINDEX, &ifr) != 0) throw_errno(fmt::format("link '{}' does not exist", name));
  int index = ifr.ifr_ifindex;
  if (::ioctl(s.fd(), SIOCGIFHWADDR, &ifr) != 0) throw_errno(fmt::format("cannot read the address of '{}'", name));
  MacAddress mac;
  std::memcpy(mac.bytes.data(), ifr.ifr_hwaddr.sa_data, 6);
  return {index, mac.str()};
}

void configure_container(nl::Socket& cs, int index, const std::string& ifname, const Result& r, bool dad) {
  link::change(cs, index, {.up = true}, fmt::format("cannot bring {} up", ifname));
  for (const auto& ip : r.ips) addr::add(cs, index, ip.address, ifname, {.dad = dad});
  for (const auto& rt : r.routes) {
    addr::Route route;
    route.dst = rt.dst;
    route.oif = index;
    route.gateway = rt.gw;
    if (!route.gateway)
      for (const auto& ip : r.ips)
        if (ip.gateway && ip.gateway->family() == rt.dst.family()) {
          route.gateway = ip.gateway;
          break;
        }
    addr::add(cs, route);
  }
}

void check_container(nl::Socket& cs, const std::string& ifname, const Result& prev, int iface_index_in_result) {
  auto l = link::find(cs, ifname);
  if (!l) throw CniError(kPluginFailure, fmt::format("CHECK: interface {} does not exist in the container", ifname));
  auto have = addr::list(cs, l->index);
  for (const auto& ip : prev.ips) {
    if (ip.interface && *ip.interface != iface_index_in_result) continue;
    bool found = false;
    for (const auto& a : have) found = found || a.prefix == ip.address;
    if (!found)
      throw CniError(kPluginFailure, fmt::format("CHECK: {} lacks address {}", ifname, ip.address.str()));
  }
}

void enable_forwarding(const Result& r) {
  bool v4 = false, v6 = false;
  for (const auto& ip : r.ips) (ip.address.address().is_v4() ? v4 : v6) = true;
  auto ensure = [](const char* key) {
    if (read_sysctl(key).value_or("0").rfind('1', 0) != 0) write_sysctl(key, "1");
  };
  if (v4) ensure("net.ipv4.ip_forward");
  if (v6) ensure("net.ipv6.conf.all.forwarding");
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
  check_container(cs, inv_.ifname, prev, 0);
}

void DelSteps::finish() const {
  if (errors_.empty()) return;
  std::string all;
  for (const auto& e : errors_) all += (all.empty() ? "" : "; ") + e;
  throw CniError(kPluginFailure, all);
}

void del_veth_attachment(Invocation& inv, Ipam& ipam, bool ip_masq) {
  DelSteps del;
  del.step([&] {
    bool netns_gone = inv.netns.empty();
    if (!netns_gone) {
      try {
        NetNs cns = NetNs::open_path(inv.netns);
        nl::Socket cs = nl::Socket::in(cns);
        link::remove(cs, inv.ifname);
      } catch (const Error& e) {
        if (e.errnum() != ENOENT && e.errnum() != EINVAL) throw;
        netns_gone = true;
      }
    }
    if (netns_gone) {
      nl::Socket hs;
      link::remove(hs, host_veth_name(inv));
    }
  });
  if (ip_masq) del.step([&] { nft::remove_masq({inv.name, inv.container_id, inv.ifname}); });
  del.step([&] { ipam.del(); });
  del.finish();
}

}  // namespace ctnet::cni
