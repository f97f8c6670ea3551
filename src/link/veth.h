// veth pairs. The peer is created directly in its target namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER), so
// it never appears in the host namespace and cannot clash with a host name, and no move is needed.
#pragma once
#include <optional>
#include <string>

#include "link/link.h"

namespace ctnet::link {

struct VethSpec {
  std::string name;                   // the end created in the socket's namespace
  std::string peer_name;
  std::optional<int> peer_netns_fd;   // where the peer is born; unset: the socket's namespace
  uint32_t mtu = 0;                   // both ends; 0: kernel default
  uint32_t peer_mtu = 0;              // the peer's, when it differs; 0: `mtu`
  std::optional<uint32_t> txqlen, peer_txqlen;  // IFLA_TXQLEN; unset: the kernel's default (1000)
  std::optional<MacAddress> mac;
  std::optional<MacAddress> peer_mac;
  int master = 0;                     // enslave this end at creation (e.g. to a bridge)
  bool up = false;                    // this end only: the peer cannot be created up (the kernel answers
                                      // ENOTCONN, veth_open() runs before the pair is linked); bring it up after.
};

nl::Message veth_request(const VethSpec& spec);
void create_veth(nl::Socket& s, const VethSpec& spec);

}  // namespace ctnet::link
