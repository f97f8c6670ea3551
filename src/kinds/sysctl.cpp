#include "kinds/sysctl.h"

#include "ns/sysctl.h"

namespace ctnet::kinds::sysctl {

namespace {
// /proc/sys values end in a newline; "1\n" holds "1".
bool holds(const std::optional<std::string>& have, const std::string& want) {
  return have && have->substr(0, have->find_last_not_of("\n \t") + 1) == want;
}
}  // namespace

void apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto before = read_sysctl(spec.key, &s.ns);
  if (holds(before, spec.value)) return;
  std::string old = before.value_or("");
  old = old.substr(0, old.find_last_not_of("\n \t") + 1);
  size_t i = txn.make({.kind = "sysctl", .ns = txn.ref(s), .name = spec.key, .saved = {{"old", old}, {"new", spec.value}}},
                      [&] { write_sysctl(spec.key, spec.value, &s.ns); });
  txn.done(i);
}

bool present(Txn& txn, const Spec& spec) { return holds(read_sysctl(spec.key, &txn.open(spec.ns).ns), spec.value); }

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  if (!holds(read_sysctl(m.name, &s->ns), m.saved.value("new", ""))) return Removal::replaced;
  const std::string old = m.saved.value("old", "");
  if (old.empty()) return Removal::absent;
  write_sysctl(m.name, old, &s->ns);
  return Removal::removed;
}

}  // namespace ctnet::kinds::sysctl
