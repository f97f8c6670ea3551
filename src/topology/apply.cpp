#include "topology/apply.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <unordered_set>

#include "kinds/link_kind.h"
#include "kinds/netns.h"
#include "ns/netns.h"
#include "topology/desired.h"
#include "topology/process.h"
#include "topology/state.h"
#include "util/error.h"

namespace ctnet::topo {

using nlohmann::json;
using kinds::Inspection;
using kinds::Made;

std::string_view to_string(Op op) {
  switch (op) {
    case Op::create: return "create";
    case Op::repair: return "repair";
    case Op::none: return "none";
  }
  return "?";
}

json to_json(const std::vector<Finding>& fs) {
  json a = json::array();
  for (auto& f : fs) {
    json o = {{"object", f.object}, {"state", f.state}};
    if (!f.detail.empty()) o["detail"] = f.detail;
    a.push_back(o);
  }
  return a;
}

namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : std::string(sep)) + x;
  return s;
}

Op decide(const Inspection& found) {
  switch (found.state) {
    case Inspection::State::missing: return Op::create;
    case Inspection::State::differs: return Op::repair;
    case Inspection::State::present: return Op::none;
  }
  return Op::none;
}

// The namespace spec that plays host for a lab: the recorded one, as long as it is still the same namespace
// (a lab built with --host-netns X is found in X without the option), else the current one.
std::string host_of(const Record* rec, kinds::Txn& look) {
  if (!rec) return kinds::host_netns();
  const kinds::NsRef& h = rec->host();
  const std::string& now = kinds::host_netns();
  if (!now.empty() && h.spec != now)
    throw InvalidInput("--host-netns", fmt::format("lab '{}' was built with {} as its host; run without --host-netns{}",
                                                   rec->lab(), h.spec.empty() ? "the namespace ctnet ran in" : "'" + h.spec + "'",
                                                   h.spec.empty() ? " in that namespace" : " (or with --host-netns " + h.spec + ")"));
  bool replaced = false;
  if (!look.reopen(h, &replaced)) {
    if (h.spec.empty())
      throw Error(fmt::format("lab '{}' was built in another network namespace than the one ctnet runs in now; "
                              "run ctnet there (or `ctnet down --force {}`)", rec->lab(), rec->lab()));
    throw Error(fmt::format("namespace '{}', the host of lab '{}', {} (`ctnet down --force {}` removes what is left)",
                            h.spec, rec->lab(), replaced ? "is another namespace now" : "is gone", rec->lab()));
  }
  return h.spec;
}

// Record entries that no object of the file claims, newest first.
std::vector<Made> stale_entries(const Record& rec, const std::vector<Item>& items) {
  std::vector<std::string> keys;
  keys.reserve(items.size() * 2);
  for (auto& item : items) claim(item, keys);
  std::unordered_set<std::string> claimed(keys.begin(), keys.end());
  std::vector<Made> out;
  auto objs = rec.objects();
  for (auto it = objs.rbegin(); it != objs.rend(); ++it)
    if (!claimed.count(object_key(**it))) out.push_back(**it);
  return out;
}

// Inspects items without opening a namespace that is missing or a stale file (its objects are missing too).
class Inspector {
 public:
  explicit Inspector(kinds::Txn& look) : look_(look) {}
  Inspection inspect(const Item& item) {
    if (!std::holds_alternative<kinds::netns::Spec>(item.spec))
      for (auto& ns : item.namespaces)
        if (!usable(ns)) return Inspection::missing();
    return topo::inspect(look_, item);
  }
  void made(const std::string& ns) { usable_[ns] = true; }

 private:
  bool usable(const std::string& ns) {
    auto [it, fresh] = usable_.try_emplace(ns, false);
    if (fresh) it->second = NetNs::exists(ns) && !kinds::netns::is_stale(ns);
    return it->second;
  }
  kinds::Txn& look_;
  std::map<std::string, bool> usable_;
};

// An Error that names the object (and so its namespace), or the record; invalid input keeps its field.
[[noreturn]] void rethrow_for(const std::string& what, const std::string& suffix = {}) {
  try {
    throw;
  } catch (const InvalidInput& e) {
    throw InvalidInput(e.field(), e.problem() + suffix);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}{}", what, e.what(), suffix));
  }
}

struct Lab {
  std::optional<Record> rec;
  std::string host;
  std::vector<Item> items;
};

Lab open_lab(const Topology& t, kinds::Txn& look) {
  Lab lab;
  if (Record::exists(t.name)) lab.rec = Record::load(t.name);
  lab.host = host_of(lab.rec ? &*lab.rec : nullptr, look);
  lab.items = desired(t, lab.host);
  return lab;
}

}  // namespace

Plan plan(const Topology& t) {
  kinds::Txn look;
  look.commit();
  Lab lab = open_lab(t, look);
  Plan p;
  p.up = lab.rec.has_value();
  Inspector ins(look);
  p.actions.reserve(lab.items.size());
  for (auto& item : lab.items) {
    Action a{item.what, Op::create, Inspection::missing()};
    if (p.up) a.found = ins.inspect(item), a.op = decide(a.found);
    p.actions.push_back(std::move(a));
  }
  if (p.up)
    for (auto& m : stale_entries(*lab.rec, lab.items)) p.stale.push_back(m.str());
  return p;
}

std::vector<Finding> status(const Topology& t) {
  kinds::Txn look;
  look.commit();
  Lab lab = open_lab(t, look);
  Inspector ins(look);
  std::vector<Finding> out;
  for (auto& item : lab.items) {
    Inspection f = ins.inspect(item);
    const char* state = f.state == Inspection::State::present ? "present" : f.present() ? "differs" : "missing";
    out.push_back({item.what, state, join(f.differences, "; ")});
  }
  if (lab.rec)
    for (auto& m : stale_entries(*lab.rec, lab.items)) out.push_back({m.str(), "stale", "in the record, not in the file"});
  return out;
}

namespace {

constexpr size_t kFreshFindings = 64;

// A lab without a record: every object made in one transaction, in order, without looking first (the kernel's
// answer to each exclusive create is the check), then the `exec:` commands (namespaces in file order, each
// namespace's in order), and the complete record written before it commits. Any failure, that last write too,
// removes everything this run made (its processes first: they are the newest) and, when that worked, the record.
void build(const Topology& t, Record& rec, const std::vector<Item>& items, const UpOptions& opts, UpResult& result) {
  size_t made = 0;
  RecordJournal journal(rec, [&](RecordJournal::Phase ph, const Made& m) {
    if (ph == RecordJournal::Phase::done) ++made;
    if (opts.on_event)
      opts.on_event({ph == RecordJournal::Phase::intent ? Event::Phase::intent : Event::Phase::done, made, items.size(), m.str()});
  });
  kinds::Txn txn;
  txn.set_journal(&journal);
  const Item* current = nullptr;
  try {
    for (auto& item : items) {
      current = &item;
      apply(txn, item);
      ++result.created;
      // Only small labs list what they made: no need to hold a line per object of a big one.
      if (result.findings.size() < kFreshFindings) result.findings.push_back({item.what, "created", {}});
    }
    current = nullptr;
    for (auto& n : t.namespaces)
      for (auto& c : n.exec) {
        try {
          process::run_exec(t.name, n.name, c.argv, c.field);
        } catch (const InvalidInput&) {
          throw;
        } catch (const std::exception& e) {
          throw InvalidInput(c.field, e.what());  // (a fork or a log file that failed) named by its command
        }
      }
    rec.save(true);
  } catch (...) {
    const size_t n = txn.made().size();
    std::vector<std::string> errors = txn.rollback();
    std::string suffix;
    if (errors.empty()) {
      suffix = n ? fmt::format(" (rolled back: removed the {} object{} this run had made)", n, n == 1 ? "" : "s")
                 : " (nothing had been made)";
      rec.erase();
    } else {
      suffix = "; the rollback could not remove: " + join(errors, "; ") +
               fmt::format(" (the record keeps them: `ctnet down {}` retries)", rec.lab());
      rec.save(false);
    }
    rethrow_for(current ? current->what : "the lab's state record", suffix);
  }
  txn.commit();
}

// A lab that is up: each object inspected and, when missing or different, made or repaired in a transaction of
// its own. A failure undoes only that step; what depends on it (its addresses) is skipped.
void converge(Record& rec, kinds::Txn& look, const std::vector<Item>& items, const UpOptions& opts, UpResult& result) {
  Inspector ins(look);
  std::vector<char> failed(items.size(), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    if (opts.on_event && i) opts.on_event({Event::Phase::done, i, items.size(), items[i - 1].what});
    if (item.parent >= 0 && failed[static_cast<size_t>(item.parent)]) {
      failed[i] = 1;
      result.findings.push_back({item.what, "skipped", "its link could not be made or repaired"});
      ++result.failed;
      continue;
    }
    Inspection found;
    Op op = Op::none;
    RecordJournal journal(rec);
    kinds::Txn txn;
    txn.set_journal(&journal);
    try {
      found = ins.inspect(item);
      op = decide(found);
      if (op == Op::none) {
        ++result.present;
        continue;
      }
      if (op == Op::create) {
        apply(txn, item);
      } else {
        repair(txn, item);
        // What the driver cannot repair (a link of another kind, an MTU it does not change) stays a difference.
        Inspection after = topo::inspect(txn, item);
        if (!after.ok()) throw Error("still " + join(after.differences, "; "));
      }
      txn.commit();
      if (auto* ns = std::get_if<kinds::netns::Spec>(&item.spec)) ins.made(ns->name);
      if (op == Op::create) ++result.created;
      else ++result.repaired;
      result.findings.push_back({item.what, op == Op::create ? "created" : "repaired", join(found.differences, "; ")});
    } catch (const std::exception& e) {
      std::vector<std::string> errors = txn.rollback();
      if (errors.empty()) journal.drop_all();
      failed[i] = 1;
      ++result.failed;
      std::string detail = found.differences.empty() ? e.what() : join(found.differences, "; ") + ": " + e.what();
      if (!errors.empty()) detail += "; could not undo: " + join(errors, "; ");
      result.findings.push_back({item.what, "failed", detail});
    }
  }
  if (opts.on_event && !items.empty()) opts.on_event({Event::Phase::done, items.size(), items.size(), items.back().what});
}

}  // namespace

UpResult up(const Topology& t, const UpOptions& opts) {
  LabLock lock(t.name);
  kinds::Txn look;
  look.commit();
  Lab lab = open_lab(t, look);
  UpResult result;
  result.converged = lab.rec.has_value();
  Record rec = lab.rec ? std::move(*lab.rec) : Record(t.name, json::object());
  if (!result.converged) rec.set_host(look.ref(look.host()));
  rec.set_spec(to_json(t));
  // The spec and the host are on record before the first kernel object exists.
  if (!result.converged) {
    try {
      rec.save(false);
    } catch (...) {
      rec.erase();  // its lock file (nothing else exists yet)
      throw;
    }
    build(t, rec, lab.items, opts, result);
    return result;
  }
  rec.save(false);
  converge(rec, look, lab.items, opts, result);
  for (auto& m : stale_entries(rec, lab.items)) {
    ++result.stale;
    if (!opts.prune) {
      result.findings.push_back({m.str(), "stale", "in the record, not in the file"});
      continue;
    }
    try {
      kinds::Txn txn;
      txn.commit();
      kinds::Removal r = kinds::remove(txn, m);
      rec.forget(m);
      ++result.removed;
      result.findings.push_back({m.str(), "removed", r == kinds::Removal::replaced ? "replaced, left alone" : ""});
    } catch (const std::exception& e) {
      ++result.failed;
      result.findings.push_back({m.str(), "failed", fmt::format("cannot remove it: {}", e.what())});
    }
  }
  rec.save(true);
  return result;
}

DownResult down(const std::string& lab, const DownOptions& opts) {
  DownResult res;
  if (!Record::exists(lab)) {
    Record::clear_unborn(lab);  // nothing to remove in the kernel, and no file left behind either
    return res;
  }
  LabLock lock(lab);
  auto rec = opts.force ? Record::salvage(lab, &res.damage) : Record::load(lab);
  if (!rec) return res;
  res.had_record = true;
  kinds::Txn txn;
  txn.commit();  // it only removes
  if (!opts.force) host_of(&*rec, txn);

  const std::vector<const Made*> objs = rec->objects();
  std::set<std::string> lab_ns;
  for (auto* m : objs)
    if (m->kind == "netns") lab_ns.insert(m->name);
  // Progress: objects handled (removed, waited for, found gone); a namespace counts with everything inside it.
  std::map<std::string, size_t> inside;
  size_t handled = 0;
  auto handled_one = [&](const Made& m) {
    handled += 1 + (m.kind == "netns" ? inside[m.name] : 0);
    if (opts.on_event) opts.on_event({Event::Phase::done, std::min(handled, objs.size()), objs.size(), m.str()});
  };
  auto remove = [&](const Made& m) {
    try {
      switch (kinds::remove(txn, m)) {
        case kinds::Removal::removed: ++res.removed; break;
        case kinds::Removal::replaced: res.replaced.push_back(m.str()); break;
        case kinds::Removal::absent: break;
      }
    } catch (const std::exception& e) {
      res.errors.push_back(fmt::format("{}: {}", m.str(), e.what()));
    }
    handled_one(m);
  };
  // In three passes, each newest first. (1) Devices that came from the host (host-device, a VF and its settings) go back before
  // their namespace goes. (2) The namespaces: the kernel tears them down in one batch (net/core/net_namespace.c:
  // cleanup_net) with every link inside and the host-side ends of veths whose peer lived there; we wait for
  // those ends instead of deleting them one by one (an RCU grace period each). (3) The rest, such as host
  // bridges, which by now have no ports left to detach one by one (a synchronize_net each).
  auto moved_in = [](const Made& m) { return m.kind == "host-device" || m.kind.starts_with("vf"); };  // vf, vf-setting, vf-netdev
  auto peer_in_lab = [&](const Made& m) {
    return m.kind == "veth" && m.saved.contains("peer_ns") && lab_ns.count(kinds::ns_ref_from_json(m.saved["peer_ns"]).spec);
  };
  for (auto* m : objs)
    if (m->kind != "netns" && m->kind != "process" && !moved_in(*m) && lab_ns.count(m->ns.spec)) ++inside[m->ns.spec];
  // (0) The lab's processes, before anything they use goes (a process inside keeps its namespace alive).
  for (auto it = objs.rbegin(); it != objs.rend(); ++it)
    if ((*it)->kind == "process") remove(**it);
  for (auto it = objs.rbegin(); it != objs.rend(); ++it)
    if (moved_in(**it)) remove(**it);
  for (auto it = objs.rbegin(); it != objs.rend(); ++it)
    if ((*it)->kind == "netns") remove(**it);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto it = objs.rbegin(); it != objs.rend(); ++it) {
    const Made& m = **it;
    if (moved_in(m) || m.kind == "netns" || lab_ns.count(m.ns.spec)) continue;  // done, or gone with its namespace
    if (!peer_in_lab(m)) continue;
    try {
      bool replaced = false;
      NsSocket* s = txn.reopen(m.ns, &replaced);
      if (!s) {
        if (replaced) res.replaced.push_back(m.str());
        continue;
      }
      bool gone = true;
      while (gone && kinds::recorded_link(*s, m, "veth", &replaced)) {
        gone = std::chrono::steady_clock::now() < deadline;
        if (gone) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      if (gone) ++res.removed, handled_one(m);
      else remove(m);  // something still holds its peer's namespace open (a process inside it)
    } catch (const std::exception& e) {
      res.errors.push_back(fmt::format("{}: {}", m.str(), e.what()));
    }
  }
  for (auto it = objs.rbegin(); it != objs.rend(); ++it) {
    const Made& m = **it;
    if (!moved_in(m) && m.kind != "netns" && m.kind != "process" && !lab_ns.count(m.ns.spec) && !peer_in_lab(m)) remove(m);
  }
  if (opts.on_event && handled < objs.size() && !objs.empty())
    opts.on_event({Event::Phase::done, objs.size(), objs.size(), objs.front()->str()});
  if (res.errors.empty() || opts.force) rec->erase();
  return res;
}

std::vector<LabInfo> labs() {
  std::vector<LabInfo> out;
  for (auto& name : Record::list()) {
    LabInfo info{.name = name};
    try {
      auto rec = Record::load(name);
      if (!rec) continue;  // removed meanwhile
      info.state = rec->complete() ? "up" : "incomplete";
      info.host = rec->host().label();
      for (auto* m : rec->objects()) info.namespaces += m->kind == "netns";
      info.objects = rec->size();
    } catch (const std::exception& e) {
      info.state = "damaged";
      info.problem = e.what();
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace ctnet::topo
