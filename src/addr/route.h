// Routes in the main table (or another table by number).
#pragma once
#include <linux/rtnetlink.h>

#include <optional>
#include <vector>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet::addr {

struct Route {
  Prefix dst;                         // length 0: default route
  std::optional<IpAddress> gateway;
  int oif = 0;                        // output interface index
  std::optional<IpAddress> src;       // preferred source
  uint32_t table = RT_TABLE_MAIN;
  uint8_t protocol = RTPROT_BOOT;     // what `ip route add` uses
  std::optional<uint8_t> scope;       // unset: link scope without gateway, universe with one
  uint32_t metric = 0;
  uint32_t mtu = 0;
  bool onlink = false;                // the gateway is on the link even without a route to it (RTNH_F_ONLINK)
  uint8_t type = RTN_UNICAST;         // RTN_LOCAL, RTN_BROADCAST ... in dumps with all types

  int family() const { return dst.family(); }
  std::string str() const;            // "default via 10.0.0.1 dev 5"
};

// The same key in a table, which an exclusive add refuses and a replace overwrites: family, destination and
// metric (IPv6 takes metric 0 as 1024, IP6_RT_PRIO_USER). (TOS is not compared: ctnet sets none.)
bool same_key(const Route& a, const Route& b);

// A route as the kernel sends it (RTM_NEWROUTE in a dump or in a route-get answer).
Route parse_route(const nl::OwnedMessage& m);

// The destination of a default route: 0.0.0.0/0 or ::/0.
Prefix default_route(int family);

nl::Message add_request(const Route& r, bool replace = false);
// NLM_F_CREATE alone: added beside routes of the same key (IPv6 keeps such a route per link, e.g. each link's
// fe80::/64, which an exclusive add refuses as EEXIST); EEXIST only for the very same route. Puts back a route
// that was taken away.
nl::Message append_request(const Route& r);
void add(nl::Socket& s, const Route& r, bool replace = false);
bool remove(nl::Socket& s, const Route& r);  // idempotent
// `ip route get`: RTM_GETROUTE for one destination without NLM_F_DUMP (the kernel resolves it as it would for a
// packet: net/ipv4/route.c inet_rtm_getroute), optionally from `oif` and/or source `src`.
nl::Message get_request(const IpAddress& dst, int oif = 0, const std::optional<IpAddress>& src = std::nullopt);
// The route the kernel would take (dst is the host address asked for; type RTN_LOCAL for one of its own).
// Throws Error with the kernel's text when there is none (ENETUNREACH, EHOSTUNREACH ...).
Route get_route(nl::Socket& s, const IpAddress& dst, int oif = 0, const std::optional<IpAddress>& src = std::nullopt);
// The interface the kernel would send a packet to `dst` through (a route lookup, RTM_GETROUTE without a dump:
// its cost does not grow with the routing table), if any route leads there.
std::optional<int> lookup_oif(nl::Socket& s, const IpAddress& dst);
// The routes of `table` (0: every table); unicast ones only unless `all_types`.
std::vector<Route> list_routes(nl::Socket& s, int family = AF_UNSPEC, uint32_t table = RT_TABLE_MAIN, bool all_types = false);

}  // namespace ctnet::addr
