#include "kinds/sysctl.h"

#include "ns/sysctl.h"

namespace ctnet::kinds::sysctl {

namespace {
// /proc/sys values end in a newline; "1\n" holds "1".
bool holds(const std::optional<std::string>& have, const std::string& want) {
  return have && have->substr(0, have->find_last_not_of("\n \t") + 1) == want;
}
// The namespace to open /proc/sys in: none (the thread's own) for the host, which spares two namespace switches.
const NetNs* in(Txn& txn, NsSocket& s) { return txn.is_host(s) ? nullptr : &s.ns; }
}  // namespace

void apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto before = read_sysctl(spec.key, in(txn, s));
  if (holds(before, spec.value)) return;
  std::string old = before.value_or("");
  old = old.substr(0, old.find_last_not_of("\n \t") + 1);
  size_t i = txn.make({.kind = "sysctl", .ns = txn.ref(s), .name = spec.key, .saved = {{"old", old}, {"new", spec.value}}},
                      [&] { write_sysctl(spec.key, spec.value, in(txn, s)); });
  txn.done(i);
}

bool present(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  return holds(read_sysctl(spec.key, in(txn, s)), spec.value);
}

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  if (!holds(read_sysctl(m.name, in(txn, *s)), m.saved.value("new", ""))) return Removal::replaced;
  const std::string old = m.saved.value("old", "");
  if (old.empty()) return Removal::absent;
  write_sysctl(m.name, old, in(txn, *s));
  return Removal::removed;
}

}  // namespace ctnet::kinds::sysctl
