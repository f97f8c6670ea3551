// A namespace together with an rtnetlink socket that lives in it: the unit every operation works on.
// The socket is opened once (one namespace switch) and reused for every request in that namespace.
#pragma once
#include <string>

#include "netlink/socket.h"
#include "ns/netns.h"

namespace ctnet {

struct NsSocket {
  NetNs ns;
  nl::Socket rtnl;

  static NsSocket open(const std::string& spec) {
    NetNs ns = NetNs::open(spec);
    nl::Socket s = nl::Socket::in(ns);
    return {std::move(ns), std::move(s)};
  }
  static NsSocket of(NetNs ns) {
    nl::Socket s = nl::Socket::in(ns);
    return {std::move(ns), std::move(s)};
  }
  // The namespace ctnet itself runs in (the host, for the CLI).
  static NsSocket current() { return {NetNs::current(), nl::Socket()}; }
};

}  // namespace ctnet
