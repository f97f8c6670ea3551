#include "link/veth.h"

#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

namespace ctnet::link {

nl::Message veth_request(const VethSpec& spec) {
  nl::Message m = create_request(spec.name, spec.up, spec.mtu, spec.master);
  if (spec.mac) m.put(IFLA_ADDRESS, spec.mac->bytes.data(), 6);
  if (spec.txqlen) m.put_u32(IFLA_TXQLEN, *spec.txqlen);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "veth");
  nlattr* data = m.begin_nest(IFLA_INFO_DATA);
  nlattr* peer = m.begin_nest(VETH_INFO_PEER);
  // The peer's attributes follow an ifinfomsg of its own (drivers/net/veth.c: veth_newlink).
  static_cast<ifinfomsg*>(m.reserve(sizeof(ifinfomsg)))->ifi_family = AF_UNSPEC;
  m.put_str(IFLA_IFNAME, spec.peer_name);
  if (spec.peer_netns_fd) m.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(*spec.peer_netns_fd));
  if (const uint32_t mtu = spec.peer_mtu ? spec.peer_mtu : spec.mtu) m.put_u32(IFLA_MTU, mtu);
  if (spec.peer_mac) m.put(IFLA_ADDRESS, spec.peer_mac->bytes.data(), 6);
  if (spec.peer_txqlen) m.put_u32(IFLA_TXQLEN, *spec.peer_txqlen);
  m.end_nest(peer);
  m.end_nest(data);
  m.end_nest(info);
  return m;
}

void create_veth(nl::Socket& s, const VethSpec& spec) {
  nl::Message m = veth_request(spec);
  s.ack(m, fmt::format("cannot create veth pair {}/{}", spec.name, spec.peer_name));
}

}  // namespace ctnet::link
