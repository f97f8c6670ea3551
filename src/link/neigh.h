// Neighbour entries (IP -> MAC on a link) and bridge/VXLAN forwarding entries (MAC -> remote VTEP) over
// rtnetlink, RTM_{NEW,DEL,GET}NEIGH: the per-peer state an overlay programs (as flannel's vxlan backend does):
// a permanent neighbour entry for the peer's VTEP address and an FDB entry sending its MAC to its underlay IP.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet::link {

struct Neighbour {
  int ifindex = 0;
  IpAddress dst;
  std::optional<MacAddress> lladdr;
  uint16_t state = 0;  // NUD_*
};

// Adds or replaces a permanent entry.
nl::Message neighbour_request(int ifindex, const IpAddress& dst, const MacAddress& mac);
void set_neighbour(nl::Socket& s, int ifindex, const IpAddress& dst, const MacAddress& mac);
// `ip neigh add`: a new permanent entry, NLM_F_EXCL (an entry for `dst` on the link already is EEXIST).
nl::Message neighbour_add_request(int ifindex, const IpAddress& dst, const MacAddress& mac);
void add_neighbour(nl::Socket& s, int ifindex, const IpAddress& dst, const MacAddress& mac);
bool remove_neighbour(nl::Socket& s, int ifindex, const IpAddress& dst);  // false: there was none
// The entries on `ifindex` (0: every link) of `family` (AF_INET, AF_INET6; AF_UNSPEC: both), one consistent dump.
std::vector<Neighbour> list_neighbours(nl::Socket& s, int ifindex, int family);
// "REACHABLE", "STALE", "PERMANENT" ... as `ip neigh` prints NUD_* states (the strongest bit when several).
std::string_view neighbour_state_name(uint16_t state);

struct FdbEntry {
  int ifindex = 0;
  MacAddress mac;
  std::optional<IpAddress> dst;  // the remote VTEP (VXLAN)
  uint16_t state = 0;
  uint8_t flags = 0;             // NTF_*
};

// Adds or replaces a permanent FDB entry of a VXLAN device (NTF_SELF: the device's own table).
nl::Message fdb_request(int ifindex, const MacAddress& mac, const IpAddress& dst);
void set_fdb(nl::Socket& s, int ifindex, const MacAddress& mac, const IpAddress& dst);
bool remove_fdb(nl::Socket& s, int ifindex, const MacAddress& mac, const IpAddress& dst);
std::vector<FdbEntry> list_fdb(nl::Socket& s, int ifindex);

}  // namespace ctnet::link
