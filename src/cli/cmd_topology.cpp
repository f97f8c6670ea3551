// Topology verbs: up, down, status, check, graph, validate, labs, impair.
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "explain/explain.h"
#include "kinds/qdisc.h"
#include "link/tc.h"
#include "topology/apply.h"
#include "topology/check.h"
#include "topology/graph.h"
#include "topology/parse.h"
#include "topology/state.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::cli {

namespace {

using namespace ctnet::topo;

bool looks_like_file(const std::string& s) {
  return s.find('/') != std::string::npos || s.ends_with(".yaml") || s.ends_with(".yml") || s.ends_with(".json") ||
         ::access(s.c_str(), F_OK) == 0;
}

// NAME of a lab that is up (its record), or a FILE.
Topology load_lab(const std::string& spec) {
  if (looks_like_file(spec)) return load_file(spec);
  auto rec = Record::load(spec);
  if (!rec) throw Error(fmt::format("lab '{}' is not up (no record in {})", spec, state_dir()));
  return from_json(rec->spec());
}

// With no NAME: the only lab that is up.
std::string only_lab(const std::string& verb) {
  auto labs = Record::list();
  if (labs.empty()) throw Error("no lab is up (`ctnet up` builds the default one)");
  if (labs.size() > 1) {
    std::string names;
    for (auto& l : labs) names += " " + l;
    throw InvalidInput("NAME", fmt::format("several labs are up; say which: ctnet {} NAME (labs:{})", verb, names));
  }
  return labs.front();
}

// Enough descriptors for one namespace handle and one socket per lab namespace.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

long env_long(const char* name, long dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : dflt;
}

// For every pair that failed, where its path stops (explain/explain.h), walked in this process: no packets.
nlohmann::json explain_failures(const Topology& t, const CheckReport& r, bool text) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::string> names;
  for (auto& n : t.namespaces) names.push_back(n.name);
  for (auto& x : r.results) {
    if (x.ok()) continue;
    std::string line;
    try {
      explain::Request q{.src = x.probe.from == kHostNs ? NetNs::current() : NetNs::open_named(x.probe.from)};
      q.src_label = x.probe.from;
      q.dst = x.probe.target;
      if (x.probe.to_ns == kHostNs) q.dst_ns = NetNs::current();
      else q.dst_ns = NetNs::open_named(x.probe.to_ns);
      q.hint_names = names;
      auto res = explain::walk(q);
      line = explain::verdict_line(res, q.dst);
      nlohmann::json j = explain::to_json(res);
      j["from"] = x.probe.from;
      j["target"] = x.probe.target.str();
      j.erase("hops");
      out.push_back(j);
    } catch (const std::exception& e) {
      line = std::string("cannot explain: ") + e.what();
      out.push_back({{"from", x.probe.from}, {"target", x.probe.target.str()}, {"error", e.what()}});
    }
    if (text) fmt::print("explain {} -> {}: {}\n", x.probe.from, x.probe.target.str(), line);
  }
  return out;
}

int run_check_verb(const Topology& t, const Output& out, const CheckOptions& co = {}) {
  CheckReport r = run_check(t, co);
  if (out.json()) {
    auto j = to_json(r);
    if (!r.ok()) j["explain"] = explain_failures(t, r, false);
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}", render_check(r));
    if (!r.ok()) explain_failures(t, r, true);
  }
  if (!r.ok()) throw Error(fmt::format("check of lab '{}' failed", t.name));
  return 0;
}

struct UpArgs {
  std::string file;
  std::string prefix;
  bool dry_run = false, check = false, prune = false;
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : "; ") + x;
  return s;
}

void print_plan(const Topology& t, const Plan& p) {
  fmt::print("plan for lab '{}'{}:\n", t.name, p.up ? " (it is up: only what is missing or differs)" : "");
  size_t n[3] = {};
  for (auto& a : p.actions) {
    ++n[static_cast<int>(a.op)];
    if (a.op == Op::create) fmt::print("  + {}{}\n", a.object, p.up ? " (missing: create)" : "");
    if (a.op == Op::repair) fmt::print("  ~ {}: {} (repair)\n", a.object, joined(a.found.differences));
  }
  for (auto& s : p.stale) fmt::print("  - {} (in the record, not in the file: --prune removes it)\n", s);
  fmt::print("{} to create, {} to repair, {} as specified, {} no longer in the file; nothing was changed (--dry-run)\n",
             n[0], n[1], n[2], p.stale.size());
}

void run_up(const UpArgs& a) {
  Topology t = a.file.empty() ? default_topology() : load_file(a.file);
  add_prefix(t, a.prefix);
  validate_against_kernel(t);
  if (a.dry_run) return print_plan(t, plan(t));
  raise_fd_limit();
  const bool tty = isatty(STDERR_FILENO);
  const size_t objects = t.namespaces.size() + t.bridges.size() + t.links.size();
  const long kill_after = env_long("CTNET_TEST_KILL_AFTER", -1);
  const char* kill_phase = std::getenv("CTNET_TEST_KILL_PHASE");
  const bool kill_at_intent = kill_phase && std::string_view(kill_phase) == "intent";
  auto last = std::chrono::steady_clock::now();
  UpOptions opts;
  opts.prune = a.prune;
  opts.on_event = [&](const Event& e) {
    // Test hook: die like `kill -9` at a chosen point (after N objects, or right after recording the intent
    // of object N+1 and before making it), to prove `down` works from any half-built state.
    if (kill_after >= 0 && static_cast<long>(e.index) == kill_after &&
        (kill_at_intent ? e.phase == Event::Phase::intent : e.phase == Event::Phase::done))
      ::raise(SIGKILL);
    if (!tty || objects < 50 || e.phase != Event::Phase::done) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(100) && e.index != e.total) return;
    last = now;
    fmt::print(stderr, "\r\033[K[{}/{}] {}", e.index, e.total, e.what);
  };
  auto t0 = std::chrono::steady_clock::now();
  UpResult r = up(t, opts);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (tty && objects >= 50) fmt::print(stderr, "\r\033[K");
  if (!r.converged) {
    if (r.created <= 40)
      for (auto& f : r.findings) fmt::print("  + {}\n", f.object);
    fmt::print("lab '{}' is up: {} namespaces, {} bridges, {} links ({:.1f} ms)\n", t.name, t.namespaces.size(),
               t.bridges.size(), t.links.size(), ms);
  } else {
    for (auto& f : r.findings) {
      if (f.state == "created") fmt::print("  + {} (was missing, created)\n", f.object);
      if (f.state == "repaired") fmt::print("  ~ {}: {} (repaired)\n", f.object, f.detail);
      if (f.state == "failed" || f.state == "skipped") fmt::print("  ! {}: {} (not {})\n", f.object, f.detail, f.state == "failed" ? "done" : "made");
      if (f.state == "stale") fmt::print("  - {} (in the record, not in the file: `up --prune` removes it)\n", f.object);
      if (f.state == "removed") fmt::print("  - {} (removed: no longer in the file{})\n", f.object, f.detail.empty() ? "" : "; " + f.detail);
    }
    fmt::print("lab '{}' was up: {} as specified, {} created, {} repaired, {} failed{} ({:.1f} ms)\n", t.name, r.present,
               r.created, r.repaired, r.failed,
               r.stale ? fmt::format(", {} no longer in the file{}", r.stale, r.removed ? fmt::format(" ({} removed)", r.removed) : "") : "",
               ms);
  }
  fmt::print("remove it with: ctnet down {}\n", t.name);
  std::fflush(stdout);
  if (r.failed) throw Error(fmt::format("lab '{}': {} object{} could not be made or repaired (see above)", t.name, r.failed, r.failed == 1 ? "" : "s"));
  if (a.check) run_check_verb(t, Output{});
}

// `ctnet impair LAB NS:IFNAME [--delay ..] [--clear]`: changes the netem of one veth end of a running lab and
// keeps the record's copy of the topology in step (`status LAB` stays clean; `status FILE` shows the file
// differs; `up FILE` brings the file's impairment back).
void add_impair_command(CLI::App& app) {
  struct Args {
    std::string lab, endpoint;
    std::map<std::string, std::string> values;  // option -> text
    bool clear = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("impair", "change the impairment (netem: delay, loss, rate ...) of one veth end of a lab "
                                           "that is up\n  example: ctnet impair mylab ns1:eth0 --delay 20ms --loss 1%");
  cmd->add_option("LAB", a->lab, "lab name")->required();
  cmd->add_option("ENDPOINT", a->endpoint, "NAMESPACE:IFNAME of a veth end, as in the file ('host' for the host side)")->required();
  for (const char* o : {"delay", "jitter", "loss", "rate", "corrupt", "duplicate", "reorder", "limit"})
    cmd->add_option(fmt::format("--{}", o), a->values[o], fmt::format("netem {} (units as in the file's impair.{})", o, o));
  cmd->add_flag("--clear", a->clear, "remove the impairment");
  cmd->callback([a] {
    namespace tc = link::tc;
    validate_identifier(a->lab, "LAB", 64);
    std::erase_if(a->values, [](const auto& kv) { return kv.second.empty(); });
    if (a->clear && !a->values.empty()) throw InvalidInput("--clear", "cannot be combined with --" + a->values.begin()->first);
    if (!a->clear && a->values.empty()) throw InvalidInput("impair", "give --delay, --loss, --rate ... or --clear");
    tc::Netem n;
    auto opt = [&](const std::string& key, auto& out, auto parse, const char* what) {
      auto it = a->values.find(key);
      if (it == a->values.end()) return;
      auto v = parse(it->second);
      if (!v) throw InvalidInput("--" + key, fmt::format("'{}' is not {}", it->second, what));
      out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
    };
    const char* percent = "a percentage from 0% to 100%";
    opt("delay", n.delay_ns, tc::parse_time_ns, "a time with a unit (10ms, 500us, 1s)");
    opt("jitter", n.jitter_ns, tc::parse_time_ns, "a time with a unit (2ms, 500us)");
    opt("loss", n.loss, tc::parse_probability, percent);
    opt("corrupt", n.corrupt, tc::parse_probability, percent);
    opt("duplicate", n.duplicate, tc::parse_probability, percent);
    opt("reorder", n.reorder, tc::parse_probability, percent);
    opt("rate", n.rate, tc::parse_rate, "a rate (10mbit, 512kbit, 1gbit)");
    opt("limit", n.limit, [](const std::string& s) -> std::optional<uint32_t> {
      char* end = nullptr;
      unsigned long v = std::strtoul(s.c_str(), &end, 10);
      if (s.empty() || *end || v == 0 || v > UINT32_MAX) return std::nullopt;
      return static_cast<uint32_t>(v);
    }, "a number of packets (1 or more)");
    if (a->values.count("rate") && n.rate == 0) throw InvalidInput("--rate", "must be at least 8bit");
    if (!a->clear) {
      kinds::qdisc::validate_netem(n, "--");
      if (!tc::kernel_has_netem())
        throw InvalidInput("impair", "this kernel has no netem (sch_netem: no /sys/module/sch_netem and no sch_netem.ko)");
    }
    const auto colon = a->endpoint.find(':');
    if (colon == std::string::npos) throw InvalidInput("ENDPOINT", fmt::format("'{}' is not NAMESPACE:IFNAME", a->endpoint));
    const std::string ns = a->endpoint.substr(0, colon), ifname = a->endpoint.substr(colon + 1);

    LabLock lock(a->lab);
    auto rec = Record::load(a->lab);
    if (!rec) throw Error(fmt::format("lab '{}' is not up (no record in {})", a->lab, state_dir()));
    Topology t = from_json(rec->spec());
    Endpoint* end = nullptr;
    for (auto& l : t.links)
      if (l.kind == Kind::veth)
        for (Endpoint* e : {&l.a, &l.b})
          if (e->ns == ns && e->name == ifname) end = e;
    if (!end) throw InvalidInput("ENDPOINT", fmt::format("'{}' is not a veth end of lab '{}'", a->endpoint, a->lab));
    const std::string host = rec->host().spec;
    const kinds::qdisc::Spec spec = kinds::qdisc::netem(ns == kHostNs ? host : ns, ifname, n);
    const std::string key = object_key("qdisc", spec.ns, spec.dev);
    const kinds::Made* recorded = nullptr;
    for (const kinds::Made* m : rec->objects())
      if (object_key(*m) == key) recorded = m;
    {
      RecordJournal journal(*rec);
      kinds::Txn txn;
      txn.set_journal(&journal);
      if (a->clear) {
        if (recorded) {
          kinds::qdisc::remove(txn, *recorded);
          rec->forget(*recorded);
        }
      } else if (recorded) {
        kinds::qdisc::repair(txn, spec);  // replaces the lab's netem in place (or makes it again when gone)
      } else {
        kinds::qdisc::apply(txn, spec);
      }
      txn.commit();
    }
    if (a->clear) end->impair.reset();
    else end->impair = n;
    rec->set_spec(to_json(t));
    rec->save(rec->complete());
    if (a->clear) fmt::print("{}: no impairment on {}{}\n", a->lab, a->endpoint, recorded ? " (removed)" : " (there was none)");
    else fmt::print("{}: {} on {}\n", a->lab, tc::describe(n), a->endpoint);
  });
}

}  // namespace

void add_topology_commands(CLI::App& app) {
  if (wanted("impair")) add_impair_command(app);
  if (wanted("up")) {
    auto a = std::make_shared<UpArgs>();
    auto* cmd = app.add_subcommand("up", "build a lab from FILE (no FILE: the seed's bridge scenario, lab 'seed'); "
                                         "on a lab that is up, make what is missing and repair what differs\n"
                                         "  example: ctnet up examples/routed.yaml --check");
    cmd->add_option("FILE", a->file, "topology file (YAML)");
    cmd->add_flag("--dry-run", a->dry_run, "validate and print the actions (create, repair); change nothing");
    cmd->add_flag("--check", a->check, "run `check` right after building");
    cmd->add_flag("--prune", a->prune, "also remove what the lab's record names and the file no longer has");
    cmd->add_option("--prefix", a->prefix, "prepend to the lab's name, every namespace and every host-side link and bridge "
                                           "(several copies of one file side by side)");
    cmd->callback([a] { run_up(*a); });
  }
  if (wanted("down")) {
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("down", "remove exactly what the lab's record lists (the file is not needed)\n"
                                           "  example: ctnet down routed");
    cmd->add_option("NAME", *name, "lab name")->required();
    cmd->add_flag("--force", *force, "a damaged record: remove what it still names, and the record itself");
    cmd->callback([name, force] {
      validate_identifier(*name, "NAME", 64);
      DownResult r = down(*name, {.force = *force});
      if (!r.had_record) {
        fmt::print("lab '{}' is not up (no record in {}); nothing to remove\n", *name, state_dir());
        return;
      }
      for (auto& d : r.damage) fmt::print("  ! the record had lost: {}\n", d);
      for (auto& x : r.replaced) fmt::print("  ! {}: replaced, left alone (it is no longer the one the lab made)\n", x);
      if (!r.errors.empty()) {
        std::string all;
        for (auto& e : r.errors) all += "\n  " + e;
        if (*force) throw Error(fmt::format("lab '{}': could not remove everything (the record was removed, --force):{}", *name, all));
        throw Error(fmt::format("lab '{}': could not remove everything (the record is kept; run down again, or down --force):{}", *name, all));
      }
      fmt::print("lab '{}' is down: removed {} objects{}\n", *name, r.removed,
                 r.replaced.empty() ? "" : fmt::format(", left {} that were replaced", r.replaced.size()));
    });
  }
  if (wanted("status")) {
    auto name = std::make_shared<std::string>();
    auto out = std::make_shared<Output>();
    auto* cmd = app.add_subcommand("status", "each object of a lab: present and as specified, missing, or differing\n"
                                             "  example: ctnet status seed -o json");
    cmd->add_option("NAME", *name, "lab name or topology file (default: the only lab that is up)");
    add_output_option(cmd, *out);
    cmd->callback([name, out] {
      std::string lab = name->empty() ? only_lab("status") : *name;
      Topology t = load_lab(lab);
      auto fs = status(t);
      size_t bad = 0, stale = 0;
      for (auto& f : fs) bad += f.state != "present", stale += f.state == "stale";
      if (out->json()) {
        nlohmann::json j = {{"lab", t.name}, {"up", Record::exists(t.name)}, {"ok", bad == 0}, {"objects", to_json(fs)}};
        fmt::print("{}\n", j.dump(2));
      } else {
        fmt::print("lab {}{}\n", t.name, Record::exists(t.name) ? "" : " (no record: not built by ctnet up)");
        for (auto& f : fs)
          fmt::print("  {:<8} {}{}\n", f.state, f.object, f.detail.empty() ? "" : " (" + f.detail + ")");
        fmt::print("{} of {} as specified{}\n", fs.size() - bad, fs.size() - stale,
                   stale ? fmt::format("; {} in the record but no longer in the file (`ctnet up --prune FILE` removes them)", stale) : "");
      }
      if (bad) throw Error(fmt::format("lab '{}': {} objects are missing, differ or are no longer in the file", t.name, bad));
    });
  }
  if (wanted("check")) {
    auto name = std::make_shared<std::string>();
    auto out = std::make_shared<Output>();
    auto co = std::make_shared<CheckOptions>();
    auto* cmd = app.add_subcommand("check", "ping every address each namespace should reach; a matrix of round trips\n"
                                            "  example: ctnet check seed");
    cmd->add_option("NAME", *name, "lab name or topology file (default: the only lab that is up)");
    add_output_option(cmd, *out);
    cmd->add_option("--count", co->count, "echo requests per pair (big labs: 1)")->check(CLI::Range(1, 100));
    cmd->add_option("--timeout", co->timeout_ms, "milliseconds to wait for each reply")->check(CLI::Range(10, 60000));
    cmd->add_option("--threads", co->threads, "pairs pinged at once")->check(CLI::Range(1, 256));
    cmd->add_flag("--all", co->all, "ping every expected pair even in big labs (may overflow the neighbour table)");
    cmd->callback([name, out, co] {
      std::string lab = name->empty() ? only_lab("check") : *name;
      run_check_verb(load_lab(lab), *out, *co);
    });
  }
  if (wanted("graph")) {
    auto name = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>("text");
    auto* cmd = app.add_subcommand("graph", "draw a lab: namespaces, bridges, links, interface names and addresses\n"
                                            "  example: ctnet graph routed -o svg > routed.svg");
    cmd->add_option("NAME|FILE", *name, "lab name or topology file (default: the only lab that is up)");
    cmd->add_option("-o,--output", *format, "text (a tree), dot (Graphviz) or svg")->check(CLI::IsMember({"text", "dot", "svg"}));
    cmd->callback([name, format] {
      std::string lab = name->empty() ? only_lab("graph") : *name;
      Topology t = load_lab(lab);
      if (*format == "dot") fmt::print("{}", to_dot(t));
      else if (*format == "svg") fmt::print("{}", to_svg(t));
      else fmt::print("{}", to_text(t));
    });
  }
  if (wanted("validate")) {
    auto file = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("validate", "check a topology file (syntax, names, addresses, kinds the kernel has)\n"
                                               "  example: ctnet validate examples/macvlan.yaml");
    cmd->add_option("FILE", *file, "topology file (YAML)")->required();
    cmd->callback([file] {
      Topology t = load_file(*file);
      validate_against_kernel(t);
      fmt::print("{}: lab '{}' is valid: {} namespaces, {} bridges, {} links\n", *file, t.name, t.namespaces.size(),
                 t.bridges.size(), t.links.size());
    });
  }
  if (wanted("labs")) {
    auto out = std::make_shared<Output>();
    auto* cmd = app.add_subcommand("labs", "the labs that are up (their state records)\n  example: ctnet labs -o json");
    add_output_option(cmd, *out);
    cmd->callback([out] {
      auto all = labs();
      if (out->json()) {
        nlohmann::json j = nlohmann::json::array();
        for (auto& l : all) {
          nlohmann::json o = {{"name", l.name}, {"state", l.state}, {"complete", l.state == "up"}, {"objects", l.objects},
                              {"namespaces", l.namespaces}, {"host", l.host}};
          if (!l.problem.empty()) o["problem"] = l.problem;
          j.push_back(o);
        }
        return fmt::print("{}\n", j.dump(2));
      }
      if (all.empty()) return fmt::print("no lab is up\n");
      fmt::print("{:<24} {:>10} {:>8}  {}\n", "LAB", "NAMESPACES", "OBJECTS", "STATE");
      for (auto& l : all) {
        std::string state = l.state == "incomplete" ? "incomplete (an up was interrupted)"
                            : l.state == "damaged"  ? "damaged: " + l.problem
                                                    : l.state;
        fmt::print("{:<24} {:>10} {:>8}  {}\n", l.name, l.namespaces, l.objects, state);
      }
    });
  }
}

}  // namespace ctnet::cli
