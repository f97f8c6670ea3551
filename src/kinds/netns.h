// Kind "netns": a named network namespace, exactly as `ip netns add` makes it, with lo up and its sysctls.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "kinds/txn.h"

namespace ctnet::kinds::netns {

struct Spec {
  std::string name;
  bool loopback = true;                                      // bring lo up
  std::vector<std::pair<std::string, std::string>> sysctls;  // net.* keys, written inside the namespace
};

void validate(const Spec& s, const std::string& field = "namespace");
// Creates it (a stale file under /run/netns that is no namespace any more is removed first) and returns the
// transaction's socket in it.
NsSocket& apply(Txn& txn, const Spec& s);
Inspection inspect(Txn& txn, const Spec& s);
// Brings an existing namespace to its spec (lo up, sysctls); a stale file is replaced by a new namespace.
void repair(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

// True when /run/netns/NAME exists but is not a namespace (left by a crashed `ip netns add`, or a reboot of a
// machine whose /run is not a tmpfs).
bool is_stale(const std::string& name);

}  // namespace ctnet::kinds::netns
