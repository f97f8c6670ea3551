// Kind "tap": a persistent TAP device made in its namespace (CNI tap). The kernel makes tun/tap devices only
// through /dev/net/tun (drivers/net/tun.c: tun_newlink refuses rtnetlink creation), in the namespace the file
// was opened in; the rest (MAC, MTU, master, up) is rtnetlink as for every link. Its remove deletes the link by
// identity (the kernel reports the kind "tun" for taps too).
#pragma once
#include <optional>
#include <string>

#include "kinds/txn.h"
#include "util/ip.h"

namespace ctnet::kinds::tap {

struct Spec {
  std::string ns;
  std::string name;
  std::optional<MacAddress> mac;
  uint32_t mtu = 0;               // 0: the kernel's default
  bool multi_queue = false;       // IFF_MULTI_QUEUE
  std::optional<uint32_t> owner;  // uid that may attach to it (TUNSETOWNER)
  std::optional<uint32_t> group;  // gid (TUNSETGROUP)
  std::string master;             // a bridge in the same namespace to enslave it to ("": none)
};

// Field names: prefix + "name", "mac", "mtu".
void validate(const Spec& s, const std::string& field_prefix = "");
// Makes it (refused when the name is taken: TUNSETIFF would attach to an existing tap instead), configures it
// and brings it up. Returns its ifindex.
int apply(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::tap
