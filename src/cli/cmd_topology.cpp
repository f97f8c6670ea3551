// Topology verbs: up, down, status, check, graph, validate, labs, exec, logs, inspect, impair.
#include <fmt/format.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "explain/explain.h"
#include "kinds/netem_options.h"
#include "kinds/qdisc.h"
#include "link/tc.h"
#include "ns/netns.h"
#include "topology/apply.h"
#include "topology/check.h"
#include "topology/graph.h"
#include "topology/inspect.h"
#include "topology/parse.h"
#include "topology/process.h"
#include "topology/state.h"
#include "util/english.h"
#include "util/error.h"
#include "util/fd.h"
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

// Progress of a long `up`/`down` on stderr: one line rewritten in place, "up LAB: 1234/5000 objects, 812/s", at
// most ten times a second (the first after 0.1 s, so the rate means something), and a last line when done. By
// default only on a terminal and for 50 objects or more (kernel objects: namespaces, links, addresses, routes
// ...); `--progress` shows it always (into a pipe as plain lines), `--quiet` never.
class Progress {
 public:
  enum class Mode { automatic, always, never };
  static constexpr size_t kLarge = 50;

  Progress(std::string verb, std::string lab, Mode mode) : verb_(std::move(verb)), lab_(std::move(lab)), mode_(mode) {}

  void update(size_t done, size_t total) {
    if (!decided_) {
      decided_ = true;
      on_ = mode_ == Mode::always || (mode_ == Mode::automatic && total >= kLarge && tty_);
    }
    if (!on_) return;
    done_ = done, total_ = total;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    fmt::print(stderr, "{}{}{}", tty_ ? "\r\033[K" : "", line(), tty_ ? "" : "\n");
  }
  // The last line stays on the screen (a run that failed shows where it stopped).
  void finish() {
    if (on_) fmt::print(stderr, "{}{}, {:.1f} s\n", tty_ ? "\r\033[K" : "", line(), seconds());
    on_ = false;
  }
  ~Progress() { finish(); }

 private:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  std::string line() const {
    double s = seconds();
    return fmt::format("{} {}: {}/{} objects, {:.0f}/s", verb_, lab_, done_, total_, s > 0 ? done_ / s : 0.0);
  }

  std::string verb_, lab_;
  Mode mode_;
  bool tty_ = isatty(STDERR_FILENO);
  bool decided_ = false, on_ = false;
  size_t done_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

void add_progress_flags(CLI::App* cmd, Progress::Mode& mode) {
  cmd->add_flag_callback("--progress", [&mode] { mode = Progress::Mode::always; },
                         "show progress on stderr even when it is not a terminal, and for small labs");
  cmd->add_flag_callback("--quiet", [&mode] { mode = Progress::Mode::never; }, "no progress line");
}

struct UpArgs {
  std::string file;
  std::string prefix;
  bool dry_run = false, check = false, prune = false, reconfigure = false;
  Progress::Mode progress = Progress::Mode::automatic;
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
  if (a.reconfigure && Record::exists(t.name)) {
    // From scratch: the running lab goes as `down` removes it (from its record), then a fresh `up` of the file.
    DownResult d = down(t.name);
    if (!d.errors.empty())
      throw Error(fmt::format("lab '{}': --reconfigure could not take the running lab down (nothing was rebuilt): {}",
                              t.name, joined(d.errors)));
    fmt::print("lab '{}' was up: taken down for --reconfigure (removed {})\n", t.name, plural(d.removed, "object"));
  }
  Progress progress("up", t.name, a.progress);
  const long kill_after = env_long("CTNET_TEST_KILL_AFTER", -1);
  const char* kill_phase = std::getenv("CTNET_TEST_KILL_PHASE");
  const bool kill_at_intent = kill_phase && std::string_view(kill_phase) == "intent";
  UpOptions opts;
  opts.prune = a.prune;
  opts.on_event = [&](const Event& e) {
    // Test hook: die like `kill -9` at a chosen point (after N objects, or right after recording the intent
    // of object N+1 and before making it), to prove `down` works from any half-built state.
    if (kill_after >= 0 && static_cast<long>(e.index) == kill_after &&
        (kill_at_intent ? e.phase == Event::Phase::intent : e.phase == Event::Phase::done))
      ::raise(SIGKILL);
    if (e.phase == Event::Phase::done) progress.update(e.index, e.total);
  };
  auto t0 = std::chrono::steady_clock::now();
  UpResult r = up(t, opts);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();
  if (!r.converged) {
    if (r.created <= 40)
      for (auto& f : r.findings) fmt::print("  + {}\n", f.object);
    fmt::print("lab '{}' is up: {}, {}, {} ({:.1f} ms)\n", t.name, plural(t.namespaces.size(), "namespace"),
               plural(t.bridges.size(), "bridge"), plural(t.links.size(), "link"), ms);
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

// Prints each log (headed "==> NAME <==" when there are several, as `tail` does). `follow_dir` set: then keeps
// printing what is appended, woken by inotify on that directory, until it is removed (the lab went down) or the
// user interrupts.
void print_logs(const std::vector<std::pair<std::string, std::string>>& logs, const std::string& follow_dir) {
  std::vector<off_t> offset(logs.size(), 0);
  size_t last = logs.size();  // the log printed last, for the headers
  auto drain = [&] {
    for (size_t i = 0; i < logs.size(); ++i) {
      Fd f(::open(logs[i].second.c_str(), O_RDONLY | O_CLOEXEC));
      if (!f) continue;  // nothing written yet
      if (::lseek(f.get(), 0, SEEK_END) < offset[i]) offset[i] = 0;  // truncated: from the start again
      char buf[8192];
      ssize_t n;
      while ((n = ::pread(f.get(), buf, sizeof buf, offset[i])) > 0) {
        if (last != i && logs.size() > 1) fmt::print("{}==> {} <==\n", last == logs.size() ? "" : "\n", logs[i].first);
        last = i;
        std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
        offset[i] += n;
      }
    }
    std::fflush(stdout);
  };
  if (follow_dir.empty()) return drain();
  Fd in(::inotify_init1(IN_CLOEXEC));
  if (!in || ::inotify_add_watch(in.get(), follow_dir.c_str(), IN_MODIFY | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
    throw Error(fmt::format("cannot watch {}", follow_dir), errno);
  drain();
  alignas(inotify_event) char ev[4096];
  for (;;) {
    const ssize_t n = ::read(in.get(), ev, sizeof ev);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("cannot read inotify events", errno);
    drain();
    for (ssize_t off = 0; off < n;) {
      auto* e = reinterpret_cast<const inotify_event*>(ev + off);
      if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) return;  // `down` removed the lab's files
      off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
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
    for (auto& [key, text] : a->values)
      if (key != "limit") kinds::qdisc::set_netem_option(n, key, text, "--" + key);
    if (auto it = a->values.find("limit"); it != a->values.end()) {
      char* end = nullptr;
      unsigned long v = std::strtoul(it->second.c_str(), &end, 10);
      if (*end || v == 0 || v > UINT32_MAX) throw InvalidInput("--limit", fmt::format("'{}' is not a number of packets (1 or more)", it->second));
      n.limit = static_cast<uint32_t>(v);
    }
    if (!a->clear) kinds::qdisc::validate_netem(n, "--");
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
    // The kernel is asked last: a wrong lab or endpoint is the first thing to tell.
    if (!a->clear && !tc::kernel_has_netem())
      throw InvalidInput("impair", "this kernel has no netem (sch_netem: no /sys/module/sch_netem and no sch_netem.ko)");
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

namespace {

// The record of lab `lab` and its namespace `node`, still the one the lab made.
std::pair<Record, std::string> lab_node(const std::string& lab, const std::string& node) {
  validate_identifier(lab, "LAB", 64);
  auto rec = Record::load(lab);
  if (!rec) throw Error(fmt::format("lab '{}' is not up (no record in {})", lab, state_dir()));
  std::string nodes;
  for (auto* m : rec->objects()) {
    if (m->kind != "netns") continue;
    if (m->name == node) {
      if (!NetNs::exists(node) || NetNs::open_named(node).inode() != m->ns.ino)
        throw Error(fmt::format("namespace '{}' of lab '{}' is gone or was replaced (`ctnet up` recreates it)", node, lab));
      return {std::move(*rec), node};
    }
    nodes += " " + m->name;
  }
  throw InvalidInput("NODE", fmt::format("'{}' is not a namespace of lab '{}' (its namespaces:{})", node, lab, nodes));
}

void add_lab_process_commands(CLI::App& app) {
  if (wanted("exec")) {
    struct Args {
      std::string lab, node;
      std::vector<std::string> cmd;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("exec", "run a command in a namespace of a lab (with its /etc/netns files, as "
                                           "`ip netns exec`); its exit code is ctnet's\n"
                                           "  example: ctnet exec routed ns1 -- busybox ping -c1 10.0.2.2");
    cmd->add_option("LAB", a->lab, "lab name")->required();
    cmd->add_option("NODE", a->node, "namespace of the lab")->required();
    cmd->add_option("CMD", a->cmd, "the program and its arguments (after --); no shell: say `sh -c '...'` for one")->required();
    cmd->callback([a] {
      auto [rec, node] = lab_node(a->lab, a->node);
      std::fflush(stdout);
      const int rc = process::run_foreground(node, a->cmd);
      if (rc != 0) std::exit(rc);  // the command's own status, not ctnet's "error" code
    });
  }
  if (wanted("logs")) {
    struct Args {
      std::string lab, node, proc;
      bool follow = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("logs", "print what the processes of a lab namespace wrote (stdout and stderr); "
                                           "PROC `exec`: the output of its exec commands\n"
                                           "  example: ctnet logs web ns1 httpd");
    cmd->add_option("LAB", a->lab, "lab name")->required();
    cmd->add_option("NODE", a->node, "namespace of the lab")->required();
    cmd->add_option("PROC", a->proc, "process name (default: every process of NODE, and its exec commands)");
    cmd->add_flag("-f,--follow", a->follow, "keep printing what is appended, as `tail -f`, until the lab goes down");
    cmd->callback([a] {
      auto [rec, node] = lab_node(a->lab, a->node);
      std::vector<std::pair<std::string, std::string>> logs;  // name, path
      if (!a->proc.empty()) {
        validate_identifier(a->proc, "PROC", 64);
        bool known = a->proc == "exec";
        for (auto* m : rec.objects()) known |= m->kind == "process" && m->ns.spec == node && m->name == a->proc;
        if (!known) throw InvalidInput("PROC", fmt::format("'{}' is no process of namespace '{}' in lab '{}'", a->proc, node, a->lab));
        logs.emplace_back(a->proc, a->proc == "exec" ? process::exec_log_path(a->lab, node) : process::log_path(a->lab, node, a->proc));
      } else {
        for (auto* m : rec.objects())
          if (m->kind == "process" && m->ns.spec == node) logs.emplace_back(m->name, process::log_path(a->lab, node, m->name));
        if (::access(process::exec_log_path(a->lab, node).c_str(), F_OK) == 0)
          logs.emplace_back("exec", process::exec_log_path(a->lab, node));
      }
      print_logs(logs, a->follow ? process::lab_dir(a->lab) + "/" + node : "");
    });
  }
  if (wanted("inspect")) {
    auto name = std::make_shared<std::string>();
    auto out = std::make_shared<Output>();
    auto* cmd = app.add_subcommand("inspect", "one table of a lab as the kernel has it: nodes, interfaces, MACs, "
                                              "addresses, peers, bridges, processes\n"
                                              "  example: ctnet inspect routed -o json");
    cmd->add_option("NAME", *name, "lab name (default: the only lab that is up)");
    add_output_option(cmd, *out);
    cmd->callback([name, out] {
      std::string lab = name->empty() ? only_lab("inspect") : *name;
      validate_identifier(lab, "NAME", 64);
      LabView v = inspect_lab(lab);
      if (out->json()) fmt::print("{}\n", to_json(v).dump(2));
      else fmt::print("{}", render(v));
    });
  }
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
    cmd->add_flag("--reconfigure", a->reconfigure, "a lab that is up: take it down (from its record) and build it "
                                                   "afresh from FILE, processes and exec commands included")
        ->excludes(cmd->get_option("--dry-run"))
        ->excludes(cmd->get_option("--prune"));
    cmd->add_option("--prefix", a->prefix, "prepend to the lab's name, every namespace and every host-side link and bridge "
                                           "(several copies of one file side by side)");
    add_progress_flags(cmd, a->progress);
    cmd->callback([a] { run_up(*a); });
  }
  if (wanted("down")) {
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto mode = std::make_shared<Progress::Mode>(Progress::Mode::automatic);
    auto* cmd = app.add_subcommand("down", "remove exactly what the lab's record lists (the file is not needed)\n"
                                           "  example: ctnet down routed");
    cmd->add_option("NAME", *name, "lab name")->required();
    cmd->add_flag("--force", *force, "a damaged record: remove what it still names, and the record itself");
    add_progress_flags(cmd, *mode);
    cmd->callback([name, force, mode] {
      validate_identifier(*name, "NAME", 64);
      Progress progress("down", *name, *mode);
      DownOptions opts{.force = *force};
      opts.on_event = [&](const Event& e) { progress.update(e.index, e.total); };
      DownResult r = down(*name, opts);
      progress.finish();
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
      fmt::print("lab '{}' is down: removed {}{}\n", *name, plural(r.removed, "object"),
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
                                            "  example: ctnet graph routed -o html > routed.html");
    cmd->add_option("NAME|FILE", *name, "lab name or topology file (default: the only lab that is up)");
    cmd->add_option("-o,--output", *format,
                    "text (a tree), dot (Graphviz), svg, html (one self-contained interactive page) or mermaid (Markdown)")
        ->check(CLI::IsMember({"text", "dot", "svg", "html", "mermaid"}));
    cmd->callback([name, format] {
      std::string lab = name->empty() ? only_lab("graph") : *name;
      Topology t = load_lab(lab);
      if (*format == "dot") fmt::print("{}", to_dot(t));
      else if (*format == "svg") fmt::print("{}", to_svg(t));
      else if (*format == "mermaid") fmt::print("{}", to_mermaid(t));
      else if (*format == "html") {
        // A lab that is up (by name): what the kernel has too (MACs, state).
        LiveLinks live;
        if (!looks_like_file(lab))
          if (auto rec = Record::load(lab)) live = read_live(t, rec->host());
        fmt::print("{}", to_html(t, live));
      } else fmt::print("{}", to_text(t));
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
      fmt::print("{}: lab '{}' is valid: {}, {}, {}\n", *file, t.name, plural(t.namespaces.size(), "namespace"),
                 plural(t.bridges.size(), "bridge"), plural(t.links.size(), "link"));
    });
  }
  add_lab_process_commands(app);
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
