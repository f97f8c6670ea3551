// Kind "sysctl": a per-namespace kernel setting (net.*) changed by a run, recorded with the value it had, so a
// rollback puts it back (a failed CNI ADD must not leave forwarding turned on) — but only if it still holds the
// value this run wrote: a later change by someone else is theirs.
#pragma once
#include <string>

#include "kinds/txn.h"

namespace ctnet::kinds::sysctl {

struct Spec {
  std::string ns;      // "" = host
  std::string key;     // "net.ipv4.ip_forward"
  std::string value;
};

// Writes the value when it differs (recorded then); nothing when it already holds it.
void apply(Txn& txn, const Spec& s);
bool present(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::sysctl
