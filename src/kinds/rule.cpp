#include "kinds/rule.h"

#include <fmt/format.h>

#include "util/error.h"

namespace ctnet::kinds::rule {

using nlohmann::json;

json to_json(const addr::Rule& r) {
  json j = {{"family", r.family == AF_INET ? 4 : 6}, {"table", r.table}, {"priority", r.priority.value_or(0)}};
  if (r.src) j["src"] = r.src->str();
  return j;
}

addr::Rule rule_from_json(const json& j) {
  addr::Rule r;
  r.family = j.value("family", 4) == 6 ? AF_INET6 : AF_INET;
  r.table = j.value("table", 0u);
  r.priority = j.value("priority", 0u);
  if (j.contains("src")) {
    auto p = Prefix::try_parse(j["src"].get<std::string>());
    if (!p) throw Error("a rule record has an unreadable source", EINVAL);
    r.src = *p;
  }
  if (!r.table) throw Error("a rule record names no table", EINVAL);
  return r;
}

NsLock lock_tables(NsSocket& s) { return NsLock("ctnet-routing-tables", &s.ns); }

Made record(Txn& txn, NsSocket& s, const addr::Rule& r) {
  return {.kind = "rule", .ns = txn.ref(s), .name = r.str(), .saved = to_json(r)};
}

addr::Rule apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  addr::Rule r = spec.rule;
  if (!r.priority) r.priority = addr::default_priority(addr::list_rules(s.rtnl, r.family));
  nl::Message m = addr::add_request(r);
  txn.done(txn.make(record(txn, s, r), [&] { s.rtnl.ack(m, fmt::format("cannot add rule {} in '{}'", r.str(), s.ns.label())); }));
  return r;
}

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;  // the namespace took its rules with it
  return addr::remove(s->rtnl, rule_from_json(m.saved)) ? Removal::removed : Removal::absent;
}

}  // namespace ctnet::kinds::rule
