// Kind "rule": a policy routing rule ("from SRC lookup TABLE priority P", addr/rule.h) in a namespace. It is made
// with an explicit priority (the one the kernel would pick when none is given), so the record names exactly one
// rule and its remove deletes that one and no other, also when a same-source rule of someone else's exists.
#pragma once
#include <string>

#include "addr/rule.h"
#include "kinds/txn.h"
#include "ns/ns_lock.h"

namespace ctnet::kinds::rule {

struct Spec {
  std::string ns;
  addr::Rule rule;  // rule.priority unset: the kernel's default (addr::default_priority), made explicit
};

// Adds it (recorded); returns it as made, with its priority.
addr::Rule apply(Txn& txn, const Spec& s);
// The record of an existing rule (CNI DEL rebuilds what ADD made from the kernel's rules).
Made record(Txn& txn, NsSocket& s, const addr::Rule& r);
Removal remove(Txn& txn, const Made& m);

// Held while a run picks a free routing table (addr::first_free_table) and takes it with a rule or a VRF, so
// that two runs in one namespace never pick the same table.
NsLock lock_tables(NsSocket& s);

nlohmann::json to_json(const addr::Rule& r);
addr::Rule rule_from_json(const nlohmann::json& j);

}  // namespace ctnet::kinds::rule
