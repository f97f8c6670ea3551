// A namespace together with an rtnetlink socket that lives in it: the unit every operation works on.
// The socket is opened once (one namespace switch) and reused for every request in that namespace.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "netlink/socket.h"
#include "ns/netns.h"

namespace ctnet {

struct NsSocket {
  NetNs ns;
  nl::Socket rtnl;

  // A namespace argument: NAME, /path or pid:N (NetnsArg).
  static NsSocket open(const std::string& spec, std::string_view field = "namespace") { return of(NetNs::open(spec, field)); }
  // A name under /run/netns, whatever it looks like (from NetNs::list_named or a record).
  static NsSocket named(const std::string& name) { return of(NetNs::open_named(name)); }
  static NsSocket of(NetNs ns) {
    nl::Socket s = nl::Socket::in(ns);
    return {std::move(ns), std::move(s)};
  }
  // The namespace ctnet itself runs in (the host, for the CLI).
  static NsSocket current() { return {NetNs::current(), nl::Socket()}; }
};

// The id under which namespace `other` is known inside the namespace of `s` (the IFLA_LINK_NETNSID of links
// whose other end lives there), or nullopt when none is assigned (RTM_GETNSID; net/core/net_namespace.c).
std::optional<int32_t> nsid_of(nl::Socket& s, const NetNs& other);

}  // namespace ctnet
