// Links of any kind: reading them (one, or all) and changing the attributes every kind shares (up/down,
// MTU, MAC, name, master, namespace) in one RTM_NEWLINK request. Kind-specific creation lives in one file
// per kind (veth.h, bridge.h, ...). Every function works through a socket bound to the namespace it acts in.
#pragma once
#include <net/if.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet {
class NetNs;
}

namespace ctnet::link {

struct Link {
  int index = 0;
  std::string name;
  std::string kind;             // "veth", "bridge", "macvlan"... ("" for physical devices and lo)
  std::string slave_kind;       // "bridge" when enslaved to a bridge
  unsigned flags = 0;           // IFF_*
  uint32_t mtu = 0;
  uint32_t txqlen = 0;          // IFLA_TXQLEN
  int master = 0;               // index of the master (bridge), 0 if none
  int parent = 0;               // IFLA_LINK: the peer of a veth, the parent of a macvlan (index in link_netnsid)
  std::optional<int32_t> link_netnsid;  // namespace (as seen from this one) where `parent` lives
  std::optional<MacAddress> mac;
  uint8_t operstate = 0;        // IF_OPER_*
  std::string alias;

  bool is_up() const { return flags & IFF_UP; }
  // IFF_LOWER_UP lives in linux/if.h, which clashes with glibc's net/if.h.
  bool has_carrier() const { return flags & 0x10000; }
};

Link parse(const nl::OwnedMessage& m);
// IF_OPER_* as `ip` prints it: "UP", "DOWN", "UNKNOWN" (lo, tun), "LOWERLAYERDOWN", "DORMANT" ...
std::string_view operstate_name(uint8_t operstate);

std::optional<Link> find(nl::Socket& s, std::string_view name);
std::optional<Link> find(nl::Socket& s, int index);
// Throws "link 'NAME' does not exist in namespace 'NS'" (ns_label only decorates the message).
Link get(nl::Socket& s, std::string_view name, std::string_view ns_label = {});
std::vector<Link> list(nl::Socket& s);
// The ports of bridge (or bond, VRF) `master`: a dump the kernel filters by IFLA_MASTER.
std::vector<Link> list_ports(nl::Socket& s, int master);

// Attributes every link kind shares; unset fields are left as they are.
struct Change {
  std::optional<bool> up;
  std::optional<uint32_t> mtu;
  std::optional<MacAddress> mac;
  std::optional<std::string> name;
  std::optional<int> master;       // 0 detaches from the master
  std::optional<int> netns_fd;     // moves the link (with `name`, it is renamed on arrival)
  std::optional<bool> promisc;
  std::optional<bool> allmulti;
  std::optional<uint32_t> txqlen;
  std::optional<std::string> alias;  // IFLA_IFALIAS ("" clears it)
};
nl::Message change_request(int index, const Change& c);
void change(nl::Socket& s, int index, const Change& c, std::string_view context);

// The start every "create a link" request shares: RTM_NEWLINK with NLM_F_CREATE | NLM_F_EXCL, the name, and
// optionally up, MTU and master. Kind files add IFLA_LINKINFO.
nl::Message create_request(std::string_view name, bool up = false, uint32_t mtu = 0, int master = 0);

// Deletes by name; returns false when there was nothing to delete (deletes are idempotent).
bool remove(nl::Socket& s, std::string_view name);

// The interface name that is free in this namespace for a temporary (rename-on-arrival) link.
std::string temporary_name(std::string_view prefix);

}  // namespace ctnet::link
