// Fault injection (issue 8): every kind, through every face, failing at every step in turn.
//
// A row is one face driving one kind (or a small group of kinds): a CLI verb, a topology lab, a CNI plugin.
// For each row the test runs the operation once with CTNET_FAULT_COUNT to learn how many kernel requests (N)
// and state-file writes (M) a successful run takes, undoes it with the face's own delete and checks that this
// leaves exactly what was there before. Then, for every k in 1..N (CTNET_FAULT_REQUEST=k) and 1..M
// (CTNET_FAULT_WRITE=k), it runs the operation again with that one step failing and asserts that
//   - the process failed by exit() with a non-zero status (never a signal); a CNI plugin printed the spec's
//     JSON error object ({"code": N, "msg": "..."}) on stdout;
//   - the kernel and the disk are exactly as before (the snapshot below).
// A faulted run that succeeds anyway (the failed request was one the code tolerates) is undone with the face's
// delete, and then the snapshot must equal the one before.
//
// Everything happens in a throwaway "host" namespace per row (the ctnet process enters it before exec, as a
// runtime's plugin would run there) and in namespaces carrying the row's prefix; parents of macvlan and
// host-device are veth ends the test makes there (never eth0). State dirs are per row under /tmp.
//
// Rows that leak today are listed in kKnownFailures: their leaks are printed, not failed; a listed row that
// is clean fails the test, so the list only ever shrinks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "link/macvlan.h"
#include "support/run.h"

using nlohmann::json;
namespace test = ctnet::test;
namespace fs = std::filesystem;

namespace {

// ---- rows that leak today ------------------------------------------------------------------------------
// The one list of known failures. Issue 8 emptied it (the faces on the kinds layer, the topology record
// written inside the transaction, shared nftables tables removed when their last chain goes); a new row that
// leaks may be listed here only with its reason, and a listed row that turns clean fails the test.
const std::set<std::string> kKnownFailures = {
};

// ---- running a program inside a namespace ----------------------------------------------------------------

struct Cmd {
  std::string argv0;               // "ctnet", or a CNI plugin's name
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string stdin_text;
  std::string exe = CTNET_BINARY;  // anything else is looked up in PATH
};

struct Proc {
  bool exited = false;  // by exit(); false: killed by a signal
  int status = -1;      // exit status, or the signal
  bool hung = false;    // still running after kTimeout: killed by the test
  long ms = 0;
  std::string out, err;
  std::string describe() const {
    std::string s = hung      ? "hung: killed after " + std::to_string(ms) + " ms"
                    : exited ? "exit " + std::to_string(status)
                             : "killed by signal " + std::to_string(status);
    auto trim = [](std::string t) {
      while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
      return t.size() > 400 ? t.substr(0, 400) + "..." : t;
    };
    if (!out.empty()) s += ", stdout: " + trim(out);
    if (!err.empty()) s += ", stderr: " + trim(err);
    return s;
  }
};

const char* const kPath = "/usr/sbin:/usr/bin:/sbin:/bin";
constexpr auto kTimeout = std::chrono::seconds(20);  // no step of any row comes near it

// Runs `c` with its environment only (plus PATH), in the network namespace at `netns` ("" = the test's own).
Proc run(const Cmd& c, const std::string& netns = "") {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return {};
  std::vector<std::string> strs{c.argv0};
  strs.insert(strs.end(), c.args.begin(), c.args.end());
  std::vector<std::string> envs{std::string("PATH=") + kPath};
  for (const auto& [k, v] : c.env) envs.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& s : strs) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  int ns_fd = netns.empty() ? -1 : ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid == 0) {
    if (!netns.empty() && (ns_fd < 0 || setns(ns_fd, CLONE_NEWNET) != 0)) _exit(126);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (c.exe.find('/') != std::string::npos) execve(c.exe.c_str(), argv.data(), envp.data());
    else execvpe(c.exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  if (ns_fd >= 0) close(ns_fd);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!c.stdin_text.empty()) (void)!write(in[1], c.stdin_text.data(), c.stdin_text.size());
  close(in[1]);
  test::Captured got = test::collect(pid, out[0], err[0], kTimeout);
  Proc p{.hung = got.hung, .ms = got.ms, .out = std::move(got.out), .err = std::move(got.err)};
  p.exited = WIFEXITED(got.wait_status) && !p.hung;
  p.status = p.exited ? WEXITSTATUS(got.wait_status) : WTERMSIG(got.wait_status);
  return p;
}

// The test's own setup and observation steps: `ip`, `nft` (tests may run them; src/ may not).
Proc tool(const std::string& exe, std::vector<std::string> args, const std::string& netns = "", const std::string& input = "") {
  return run({.argv0 = exe, .args = std::move(args), .stdin_text = input, .exe = exe}, netns);
}
void must(const Proc& p, const std::string& what) {
  if (!p.exited || p.status != 0) throw std::runtime_error("test setup failed: " + what + ": " + p.describe());
}

std::string netns_path(const std::string& name) { return "/run/netns/" + name; }

// ---- the world of one row ---------------------------------------------------------------------------------

struct World {
  std::string prefix;               // every namespace of the row starts with it
  std::string host;                 // the throwaway host namespace (name)
  std::vector<std::string> before;  // namespaces that exist before the operation (host included)
  fs::path state, data, count_file;

  std::string ns(const std::string& suffix) const { return prefix + suffix; }
  std::map<std::string, std::string> env() const { return {{"CTNET_STATE_DIR", state.string()}}; }
  Cmd cli(std::vector<std::string> args) const { return {.argv0 = "ctnet", .args = std::move(args), .env = env()}; }
  Cmd cni(const std::string& plugin, const std::string& command, const std::string& container, const json& conf) const {
    auto e = env();
    e.insert({{"CNI_COMMAND", command}, {"CNI_CONTAINERID", "tfi-" + prefix}, {"CNI_NETNS", netns_path(container)},
              {"CNI_IFNAME", "eth0"}, {"CNI_PATH", "/usr/lib/cni"}});
    return {.argv0 = plugin, .env = e, .stdin_text = conf.dump()};
  }
  json ipam(const std::string& subnet) const {
    return {{"type", "host-local"}, {"ranges", {{{{"subnet", subnet}}}}}, {"routes", {{{"dst", "0.0.0.0/0"}}}},
            {"dataDir", data.string()}};
  }
  Cmd lab(const std::string& yaml) const {
    fs::path file = state.parent_path() / (prefix + "-lab.yaml");
    std::ofstream(file) << yaml;
    return cli({"up", file.string(), "--prefix", prefix + "-"});
  }
  Cmd nft_flush() const { return {.argv0 = "nft", .args = {"flush", "ruleset"}, .exe = "/usr/sbin/nft"}; }
  Cmd forwarding_off() const {
    return {.argv0 = "sysctl", .args = {"-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"},
            .exe = "/usr/sbin/sysctl"};
  }
  void ip(const std::vector<std::string>& args) const { must(tool("/usr/sbin/ip", args, netns_path(host)), "ip " + args[0]); }
};

struct Row {
  std::string name;                                    // "face/kind"
  std::vector<std::string> namespaces;                 // suffixes of the namespaces that exist before
  std::function<void(const World&)> prepare;           // devices the row needs (run after the namespaces exist)
  std::function<Cmd(const World&)> op;                 // the operation under test
  std::function<std::vector<Cmd>(const World&)> undo;  // the face's delete (and whatever it leaves by design)
  bool cni = false;
};

// ---- the snapshot -----------------------------------------------------------------------------------------
// One line per observed fact, so two snapshots compare as sets and their difference names the leak.
// What is left out, and why:
//   - ifindexes, MAC addresses, operstate/carrier and statistics: they change with every re-creation or with
//     timing, not with what exists; the admin up flag is kept.
//   - IPv6 link-local addresses and their local routes, and the per-link multicast route ff00::/8: the kernel
//     makes them by itself for every link that is up, so they follow the links already compared. The fe80::/64
//     routes are kept: CNI sbr moves them out of the main table, and a rollback must put them back.
//   - host-local's `lock` file (an empty flock file, kept by design, as the reference plugin does) and its
//     `last_reserved_ip.N` files: a cursor, not a lease; every ADD moves it on (also one that succeeds and is
//     DELeted), as the reference plugin does, so that a released address is not handed out again at once.
//   - empty files under host-local's `.ctnet/` index: an empty bucket means the same as no bucket.
//   - directories: only files carry state (an empty directory left behind holds nothing).
//   - sysctls other than forwarding in the host namespace (the one host-wide setting a face changes: CNI
//     isGateway/ptp turn it on); sysctls of lab namespaces go with their namespaces.
using Snapshot = std::set<std::string>;

bool ignored_file(const fs::path& rel, const std::string& content) {
  const std::string name = rel.filename().string();
  if (name == "lock" && content.empty()) return true;
  if (name.starts_with("last_reserved_ip.")) return true;
  if (content.empty() && rel.parent_path().filename() == ".ctnet") return true;
  return false;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '\n') o += "\\n";
    else if (ch == '\r') o += "\\r";
    else o += ch;
  }
  return o;
}

template <class... T>
std::string fmt_line(const T&... parts) {
  std::string s;
  ((s += (s.empty() ? "" : " ") + std::string(parts)), ...);
  return s;
}

void snapshot_ns(const std::string& name, Snapshot& s) {
  Proc p = tool("/usr/sbin/ip", {"-n", name, "-j", "-d", "-batch", "-"}, "", "addr show\nroute show table all\n");
  if (!p.exited || p.status != 0) {
    s.insert("ns " + name + ": cannot be read: " + p.describe());
    return;
  }
  std::istringstream lines(p.out);
  std::string line;
  int part = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_array()) {
      s.insert("ns " + name + ": unreadable output: " + line);
      continue;
    }
    for (const auto& e : j) {
      if (part == 0) {  // links and their addresses
        const std::string ifname = e.value("ifname", "?");
        std::string kind = e.contains("linkinfo") ? e["linkinfo"].value("info_kind", "") : e.value("link_type", "");
        bool up = false;
        for (const auto& f : e.value("flags", json::array())) up = up || f == "UP";
        s.insert(fmt_line("ns", name, "link", ifname, "kind=" + kind, "master=" + e.value("master", "-"),
                          up ? "up" : "down", "mtu=" + std::to_string(e.value("mtu", 0))));
        for (const auto& a : e.value("addr_info", json::array())) {
          std::string local = a.value("local", "");
          if (local.starts_with("fe80:")) continue;
          s.insert(fmt_line("ns", name, "addr", ifname, local + "/" + std::to_string(a.value("prefixlen", 0))));
        }
      } else {  // routes of every table, both families
        std::string dst = e.value("dst", "");
        if ((dst.starts_with("fe80:") && dst != "fe80::/64") || dst == "ff00::/8") continue;
        s.insert(fmt_line("ns", name, "route", "table=" + e.value("table", "main"), "type=" + e.value("type", "unicast"), dst,
                          "via=" + e.value("gateway", "-"), "dev=" + e.value("dev", "-")));
      }
    }
    ++part;
  }
  // Queueing disciplines (CNI bandwidth), by link, place and kind; classes and filters hang from them and go
  // with them. The default ones (handle 0:) come and go with their links, already compared.
  Proc tc = tool("/usr/sbin/tc", {"-n", name, "-j", "qdisc", "show"});
  json qs = json::parse(tc.out, nullptr, false);
  if (!tc.exited || tc.status != 0 || !qs.is_array()) {
    s.insert("ns " + name + ": qdiscs cannot be read: " + tc.describe());
    return;
  }
  for (const auto& q : qs)
    if (q.value("handle", "0:") != "0:")
      s.insert(fmt_line("ns", name, "qdisc", q.value("dev", "?"), q.value("kind", "?"), q.value("handle", "?"),
                        q.value("root", false) ? "root" : "parent=" + q.value("parent", "?")));
  // Policy routing rules of both families (CNI sbr), the defaults included.
  for (const char* family : {"-4", "-6"}) {
    Proc ip = tool("/usr/sbin/ip", {"-n", name, "-j", family, "rule", "show"});
    json rs = json::parse(ip.out, nullptr, false);
    if (!ip.exited || ip.status != 0 || !rs.is_array()) {
      s.insert("ns " + name + ": rules cannot be read: " + ip.describe());
      return;
    }
    for (const auto& r : rs)
      s.insert(fmt_line("ns", name, "rule", family, std::to_string(r.value("priority", -1)), "from", r.value("src", "?"),
                        "lookup", r.value("table", r.contains("l3mdev") ? "l3mdev" : "?")));
  }
}

Snapshot snapshot(const World& w) {
  Snapshot s;
  for (const auto& n : w.before)
    if (fs::exists(netns_path(n))) snapshot_ns(n, s);
    else s.insert("netns " + n + " is gone");
  Proc nft = tool("/usr/sbin/nft", {"list", "ruleset"}, netns_path(w.host));
  s.insert("nft ruleset in " + w.host + ": " + (nft.exited && nft.status == 0 ? escape(nft.out) : nft.describe()));
  Proc fwd = tool("/usr/sbin/sysctl", {"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"}, netns_path(w.host));
  s.insert("sysctls in " + w.host + ": " + (fwd.exited && fwd.status == 0 ? escape(fwd.out) : fwd.describe()));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/run/netns", ec))
    if (e.path().filename().string().starts_with(w.prefix)) s.insert("netns " + e.path().filename().string());
  for (const fs::path& dir : {w.state, w.data}) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::ifstream f(it->path());
      std::string content{std::istreambuf_iterator<char>(f), {}};
      fs::path rel = fs::relative(it->path(), dir.parent_path());
      if (!ignored_file(rel, content)) s.insert("file " + rel.string() + " = " + escape(content));
    }
  }
  return s;
}

// "+ what appeared", "- what vanished" (at most a few lines each).
std::string diff(const Snapshot& before, const Snapshot& after) {
  std::string out;
  int n = 0;
  for (const auto& l : after)
    if (!before.count(l) && n++ < 12) out += "\n      + " + l;
  for (const auto& l : before)
    if (!after.count(l) && n++ < 12) out += "\n      - " + l;
  if (n > 12) out += "\n      ... (" + std::to_string(n - 12) + " more)";
  return out;
}

// ---- the table ----------------------------------------------------------------------------------------------

std::vector<Row> rows() {
  std::vector<Row> r;
  // Parents for macvlan and host-device: a veth pair inside the row's host namespace.
  auto parent = [](const World& w) {
    w.ip({"link", "add", "tfp0", "type", "veth", "peer", "name", "tfp1"});
    w.ip({"link", "set", "tfp0", "up"});
    w.ip({"link", "set", "tfp1", "up"});
  };
  auto device = [](const World& w) { w.ip({"link", "add", "tfhd0", "type", "veth", "peer", "name", "tfhd1"}); };

  // ---- CLI
  r.push_back({.name = "cli/ns add",
               .op = [](const World& w) { return w.cli({"ns", "add", w.ns("n")}); },
               .undo = [](const World& w) { return std::vector{w.cli({"ns", "del", w.ns("n")})}; }});
  r.push_back({.name = "cli/connect (veth pair)",
               .namespaces = {"a", "b"},
               .op = [](const World& w) { return w.cli({"connect", w.ns("a"), w.ns("b"), "--subnet", "10.10.0.0/24", "--mtu", "1400"}); },
               .undo = [](const World& w) { return std::vector{w.cli({"link", "del", "veth-" + w.ns("b"), "--ns", w.ns("a")})}; }});
  r.push_back({.name = "cli/attach --create --subnet --gateway (bridge, veth, port, address, route, lease)",
               .op = [](const World& w) {
                 return w.cli({"attach", w.ns("n"), "--bridge", "tfbr0", "--subnet", "10.20.0.0/24", "--gateway", "--create"});
               },
               .undo = [](const World& w) {
                 return std::vector{w.cli({"detach", w.ns("n"), "--bridge", "tfbr0"}), w.cli({"ns", "del", w.ns("n")}),
                                    w.cli({"link", "del", "tfbr0"})};
               }});
  r.push_back({.name = "cli/attach to an existing bridge --subnet",
               .namespaces = {"a"},
               .prepare = [](const World& w) {
                 w.ip({"link", "add", "tfbr1", "type", "bridge"});
                 w.ip({"link", "set", "tfbr1", "up"});
               },
               .op = [](const World& w) { return w.cli({"attach", w.ns("a"), "--bridge", "tfbr1", "--subnet", "10.21.0.0/24"}); },
               .undo = [](const World& w) { return std::vector{w.cli({"detach", w.ns("a"), "--bridge", "tfbr1"})}; }});
  r.push_back({.name = "cli/macvlan add",
               .namespaces = {"a"},
               .prepare = parent,
               .op = [](const World& w) {
                 return w.cli({"macvlan", "add", w.ns("a"), "--parent", "tfp0", "--addr", "10.30.0.2/24", "--gw", "10.30.0.1",
                               "--mtu", "1400", "--mac", "02:00:00:30:00:02"});
               },
               .undo = [](const World& w) { return std::vector{w.cli({"macvlan", "del", w.ns("a")})}; }});
  r.push_back({.name = "cli/macvlan shim",
               .prepare = parent,
               .op = [](const World& w) {
                 return w.cli({"macvlan", "shim", "--parent", "tfp0", "--addr", "10.30.0.254/32", "--route", "10.30.0.0/28"});
               },
               .undo = [](const World& w) { return std::vector{w.cli({"macvlan", "shim-del", "--parent", "tfp0"})}; }});

  // ---- topology
  auto lab = [](std::string name, std::string yaml, std::function<void(const World&)> prep = {}) {
    return Row{.name = "topology/" + name,
               .prepare = std::move(prep),
               .op = [yaml](const World& w) { return w.lab(yaml); },
               .undo = [name](const World& w) { return std::vector{w.cli({"down", w.prefix + "-" + name})}; }};
  };
  r.push_back(lab("namespaces-veth-routes-sysctls",
                  "name: namespaces-veth-routes-sysctls\n"
                  "namespaces:\n"
                  "  r:\n"
                  "    sysctls: {net.ipv4.ip_forward: 1, net.ipv6.conf.all.forwarding: 1}\n"
                  "  a:\n"
                  "    routes: [\"default via 10.1.0.1\", \"default via fd00:1::1\"]\n"
                  "  b:\n"
                  "    loopback: false\n"
                  "    routes: [\"10.9.0.0/16 via 10.2.0.1\", \"10.8.0.0/16 dev eth0\"]\n"
                  "links:\n"
                  "  - endpoints: [\"r:eth-a=10.1.0.1/24,fd00:1::1/64\", \"a:eth0=10.1.0.2/24,fd00:1::2/64\"]\n"
                  "  - {endpoints: [\"r:eth-b=10.2.0.1/24\", \"b:eth0=10.2.0.2/24\"], mtu: 1400}\n"));
  r.push_back(lab("bridges",
                  "name: bridges\n"
                  "namespaces:\n"
                  "  fab: {}\n"
                  "  a: {routes: [\"default via 10.3.0.1\"]}\n"
                  "  b: {}\n"
                  "bridges:\n"
                  "  tfbr0: {subnet: 10.3.0.0/24, addresses: [10.3.0.1/24], mtu: 1450}\n"
                  "  tfbr1: {namespace: fab}\n"
                  "links:\n"
                  "  - endpoints: [\"a:eth0=10.3.0.2/24\", \"tfbr0\"]\n"
                  "  - endpoints: [\"b:eth0\", \"tfbr1:b-port\"]\n"
                  "  - endpoints: [\"tfbr0:up0\", \"tfbr1:down0\"]\n"));
  r.push_back(lab("macvlan",
                  "name: macvlan\n"
                  "namespaces: [lan, a, b]\n"
                  "links:\n"
                  "  - {kind: veth, a: {namespace: lan, name: gw0, addresses: [10.4.0.1/24]}, b: {namespace: lan, name: trunk0}}\n"
                  "  - {kind: macvlan, endpoint: \"a:eth0=10.4.0.2/24\", parent: \"lan:trunk0\", mode: bridge, mtu: 1400}\n"
                  "  - {kind: macvlan, endpoint: \"b:eth0=10.5.0.2/24\", parent: tfp0, mode: private}\n",
                  parent));
  r.push_back(lab("vxlan",
                  "name: vxlan\n"
                  "namespaces: [s1, s2]\n"
                  "bridges:\n"
                  "  br1: {namespace: s1}\n"
                  "links:\n"
                  "  - endpoints: [\"s1:under0=10.9.0.1/30\", \"s2:under0=10.9.0.2/30\"]\n"
                  "  - {kind: vxlan, namespace: s1, name: vx0, vni: 42, local: 10.9.0.1, remote: 10.9.0.2, dev: \"s1:under0\", bridge: br1}\n"
                  "  - {kind: vxlan, namespace: s2, name: vx0, vni: 42, local: 10.9.0.2, remote: 10.9.0.1, dev: \"s2:under0\",\n"
                  "     addresses: [10.50.0.2/24]}\n"));
  r.push_back(lab("host-device",
                  "name: host-device\n"
                  "namespaces:\n"
                  "  c: {routes: [\"default via 10.6.0.1\"]}\n"
                  "links:\n"
                  "  - {kind: host-device, device: tfhd0, namespace: c, name: eth0, addresses: [10.6.0.2/24]}\n",
                  device));

  // ---- CNI
  auto cni = [](std::string name, std::string plugin, std::function<json(const World&)> conf,
                std::function<void(const World&)> prep = {}, std::vector<std::string> extra_undo = {}) {
    return Row{.name = "cni/" + name,
               .namespaces = {"c"},
               .prepare = std::move(prep),
               .op = [plugin, conf](const World& w) { return w.cni(plugin, "ADD", w.ns("c"), conf(w)); },
               .undo = [plugin, conf, extra_undo](const World& w) {
                 std::vector<Cmd> u{w.cni(plugin, "DEL", w.ns("c"), conf(w))};
                 // What DEL keeps by design (as the reference does): the bridge, the nftables tables, forwarding on.
                 for (const auto& l : extra_undo) u.push_back(w.cli({"link", "del", l}));
                 u.push_back(w.nft_flush());
                 u.push_back(w.forwarding_off());
                 return u;
               },
               .cni = true};
  };
  r.push_back(cni("bridge (isGateway, ipMasq, hairpinMode, macspoofchk)", "bridge",
                  [](const World& w) {
                    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "bridge"}, {"bridge", "tfcni0"},
                                {"isGateway", true}, {"ipMasq", true}, {"hairpinMode", true}, {"macspoofchk", true},
                                {"ipam", w.ipam("10.60.0.0/24")}};
                  },
                  {}, {"tfcni0"}));
  // (No `vlan`/`vlanTrunk` row: this kernel lacks bridge VLAN filtering, CONFIG_BRIDGE_VLAN_FILTERING.)
  r.push_back(cni("bridge (isDefaultGateway, portIsolation, promiscMode, mtu)", "bridge",
                  [](const World& w) {
                    return json{{"cniVersion", "1.1.0"}, {"name", "tfinet"}, {"type", "bridge"}, {"bridge", "tfcni1"},
                                {"isDefaultGateway", true}, {"portIsolation", true}, {"promiscMode", true}, {"mtu", 1400},
                                {"ipam", w.ipam("10.61.0.0/24")}};
                  },
                  {}, {"tfcni1"}));
  r.push_back(cni("ptp (ipMasq)", "ptp", [](const World& w) {
    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "ptp"}, {"ipMasq", true}, {"ipam", w.ipam("10.62.0.0/24")}};
  }));
  r.push_back(cni("macvlan", "macvlan",
                  [](const World& w) {
                    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "macvlan"}, {"master", "tfp0"},
                                {"mode", "bridge"}, {"mtu", 1400}, {"ipam", w.ipam("10.63.0.0/24")}};
                  },
                  parent));
  r.push_back(cni("host-device", "host-device",
                  [](const World& w) {
                    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "host-device"}, {"device", "tfhd0"},
                                {"ipam", w.ipam("10.64.0.0/24")}};
                  },
                  device));
  // The kernel gives a loopback device 127.0.0.1/8 (and its local routes) the first time it goes up and keeps them
  // when it goes down (net/ipv4/devinet.c, inetdev_event): the container's lo has been up once before the row
  // starts, so that what the plugin's DEL or rollback leaves is compared, not what the kernel added by itself.
  auto lo_was_up = [](const World& w) {
    for (const char* state : {"up", "down"})
      must(tool("/usr/sbin/ip", {"link", "set", "lo", state}, netns_path(w.ns("c"))), "ip link set lo");
  };
  r.push_back(cni("loopback", "loopback",
                  [](const World&) { return json{{"cniVersion", "0.3.1"}, {"name", "tfinet"}, {"type", "loopback"}}; },
                  lo_was_up));
  // tuning runs chained: the container's eth0 (a veth inside it) is there before, as the main plugin left it.
  auto container_eth0 = [](const World& w) {
    must(tool("/usr/sbin/ip", {"link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"}, netns_path(w.ns("c"))), "ip link add");
  };
  r.push_back(cni("tuning", "tuning",
                  [](const World& w) {
                    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "tuning"},
                                {"dataDir", (w.data / "tuning").string()},
                                {"sysctl", {{"net.ipv4.conf.eth0.arp_ignore", "1"}, {"net.ipv4.conf.eth0.arp_announce", "2"}}},
                                {"mac", "02:00:00:00:fa:01"}, {"mtu", 1400}, {"promisc", true}, {"txQLen", 77},
                                {"prevResult", {{"cniVersion", "1.0.0"},
                                                {"interfaces", {{{"name", "eth0"}, {"sandbox", netns_path(w.ns("c"))}}}}}}};
                  },
                  container_eth0));
  // portmap runs chained: the host reaches the container's 10.67.0.5 through tfpm0 (hairpin, route_localnet).
  auto host_route = [](const World& w) {
    const std::string h = netns_path(w.ns("h"));
    must(tool("/usr/sbin/ip", {"link", "add", "tfpm0", "type", "veth", "peer", "name", "tfpm1"}, h), "ip link add");
    must(tool("/usr/sbin/ip", {"addr", "add", "10.67.0.1/24", "dev", "tfpm0"}, h), "ip addr add");
    must(tool("/usr/sbin/ip", {"link", "set", "tfpm0", "up"}, h), "ip link set up");
  };
  r.push_back(cni("portmap (dual stack, hostIP)", "portmap",
                  [](const World& w) {
                    const std::string sandbox = netns_path(w.ns("c"));
                    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "portmap"},
                                {"runtimeConfig", {{"portMappings", {{{"hostPort", 8080}, {"containerPort", 80}},
                                                                     {{"hostPort", 5353}, {"containerPort", 53}, {"protocol", "udp"},
                                                                      {"hostIP", "10.67.0.1"}}}}}},
                                {"prevResult", {{"cniVersion", "1.0.0"},
                                                {"interfaces", {{{"name", "eth0"}, {"sandbox", sandbox}}}},
                                                {"ips", {{{"address", "10.67.0.5/24"}, {"interface", 0}},
                                                         {{"address", "fd00:67::5/64"}, {"interface", 0}}}}}}};
                  },
                  host_route));
  r.push_back(cni("firewall (same-bridge, own admin chain)", "firewall", [](const World& w) {
    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "firewall"}, {"ingressPolicy", "same-bridge"},
                {"iptablesAdminChainName", "TF-ADMIN"},
                {"prevResult", {{"cniVersion", "1.0.0"},
                                {"interfaces", {{{"name", "tfbr9"}}, {{"name", "eth0"}, {"sandbox", netns_path(w.ns("c"))}}}},
                                {"ips", {{{"address", "10.68.0.5/24"}, {"interface", 1}}, {{"address", "fd00:68::5/64"}, {"interface", 1}}}}}}};
  }));
  r.push_back(cni("tap", "tap", [](const World& w) {
    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "tap"}, {"mac", "02:00:00:00:fa:02"}, {"mtu", 1400},
                {"owner", 4242}, {"ipam", w.ipam("10.66.0.0/24")}};
  }));
  // bandwidth runs chained after the plugin that made the veth: its host end (bwth0) and the container's eth0
  // are there before. DEL removes the IFB; the qdiscs on the host end go with the veth by design, so the
  // face's delete here is DEL and removing them.
  auto veth_to_container = [](const World& w) {
    w.ip({"link", "add", "bwth0", "type", "veth", "peer", "name", "eth0", "netns", w.ns("c")});
    w.ip({"link", "set", "bwth0", "up"});
  };
  auto bandwidth = [veth_to_container](std::string name, json keys) {
    auto conf = [keys](const World& w) {
      json c = keys;
      c.update({{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "bandwidth"},
                {"prevResult", {{"cniVersion", "1.0.0"},
                                {"interfaces", {{{"name", "bwth0"}}, {{"name", "eth0"}, {"sandbox", netns_path(w.ns("c"))}}}}}}});
      return c;
    };
    return Row{.name = "cni/" + name,
               .namespaces = {"c"},
               .prepare = veth_to_container,
               .op = [conf](const World& w) { return w.cni("bandwidth", "ADD", w.ns("c"), conf(w)); },
               .undo = [conf](const World& w) {
                 auto tc_del = [](const char* where) {
                   return Cmd{.argv0 = "tc", .args = {"qdisc", "del", "dev", "bwth0", where}, .exe = "/usr/sbin/tc"};
                 };
                 return std::vector{w.cni("bandwidth", "DEL", w.ns("c"), conf(w)), tc_del("root"), tc_del("ingress")};
               },
               .cni = true};
  };
  const json limits = {{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"egressRate", 16000000}, {"egressBurst", 160000}};
  r.push_back(bandwidth("bandwidth (tbf, IFB, ingress redirect)", limits));
  json subnets = limits;
  subnets["shapedSubnets"] = {"10.67.0.0/16", "fd00:67::/48"};
  r.push_back(bandwidth("bandwidth (htb classes and u32 filters: shapedSubnets)", subnets));
  // sbr runs chained: the container's eth0 (a veth inside it) carries its addresses and routes, as the main
  // plugin left them. Its DEL leaves the routes it moved out of the main table gone (the interface is deleted
  // next, as the reference expects), so the face's delete here is DEL and putting them back.
  auto addressed_eth0 = [](const World& w) {
    const std::string c = netns_path(w.ns("c"));
    for (std::vector<std::string> a : {std::vector<std::string>{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"},
                                       {"link", "set", "eth0p", "up"}, {"link", "set", "eth0", "up"},
                                       {"addr", "add", "10.70.0.5/24", "dev", "eth0"},
                                       {"addr", "add", "fd00:70::5/64", "dev", "eth0", "nodad"},
                                       {"route", "add", "default", "via", "10.70.0.1", "dev", "eth0"},
                                       {"-6", "route", "add", "default", "via", "fd00:70::1", "dev", "eth0"}})
      must(tool("/usr/sbin/ip", a, c), "ip " + a[0]);
  };
  auto sbr = [addressed_eth0](std::string name, json keys, bool moves_routes) {
    auto conf = [keys](const World& w) {
      json c = keys;
      c.update({{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "sbr"},
                {"prevResult", {{"cniVersion", "1.0.0"},
                                {"interfaces", {{{"name", "eth0"}, {"sandbox", netns_path(w.ns("c"))}}}},
                                {"ips", {{{"address", "10.70.0.5/24"}, {"gateway", "10.70.0.1"}, {"interface", 0}},
                                         {{"address", "fd00:70::5/64"}, {"gateway", "fd00:70::1"}, {"interface", 0}}}}}}});
      return c;
    };
    return Row{.name = "cni/" + name,
               .namespaces = {"c"},
               .prepare = addressed_eth0,
               .op = [conf](const World& w) { return w.cni("sbr", "ADD", w.ns("c"), conf(w)); },
               .undo = [conf, moves_routes](const World& w) {
                 std::vector<Cmd> u{w.cni("sbr", "DEL", w.ns("c"), conf(w))};
                 auto ip = [&](std::vector<std::string> a) {
                   a.insert(a.begin(), {"-n", w.ns("c")});
                   u.push_back(Cmd{.argv0 = "ip", .args = a, .exe = "/usr/sbin/ip"});
                 };
                 if (moves_routes) {
                   ip({"route", "replace", "10.70.0.0/24", "dev", "eth0", "proto", "kernel", "scope", "link", "src", "10.70.0.5"});
                   ip({"route", "replace", "default", "via", "10.70.0.1", "dev", "eth0"});
                   ip({"-6", "route", "replace", "fd00:70::/64", "dev", "eth0", "proto", "kernel", "metric", "256"});
                   ip({"-6", "route", "append", "fe80::/64", "dev", "eth0", "proto", "kernel", "metric", "256"});  // beside eth0p's
                   ip({"-6", "route", "replace", "default", "via", "fd00:70::1", "dev", "eth0"});
                 }
                 return u;
               },
               .cni = true};
  };
  r.push_back(sbr("sbr (dual stack: rules, routes moved to tables 100 and 101)", json::object(), true));
  r.push_back(sbr("sbr (table: rules only)", {{"table", 4242}}, false));
  // vrf: only where the kernel has the VRF driver (CONFIG_NET_VRF; the development machine's has none, and the
  // kernel suite proves the plugin there). The kernel's l3mdev rules, which the first VRF of a namespace brings
  // and which stay, are there before the row runs. DEL releases eth0 as the reference does: what the kernel
  // dropped when it cycled eth0 (its IPv6 address, the gateway routes) is put back by the face's delete here.
  if (ctnet::link::kernel_has_link_kind("vrf")) {
    auto vrf_world = [addressed_eth0](const World& w) {
      addressed_eth0(w);
      must(tool("/usr/sbin/ip", {"link", "add", "tfvrf9", "type", "vrf", "table", "99"}, netns_path(w.ns("c"))), "ip link add vrf");
      must(tool("/usr/sbin/ip", {"link", "del", "tfvrf9"}, netns_path(w.ns("c"))), "ip link del vrf");
    };
    auto conf = [](const World& w) {
      return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "vrf"}, {"vrfname", "tfvrf"},
                  {"prevResult", {{"cniVersion", "1.0.0"},
                                  {"interfaces", {{{"name", "eth0"}, {"sandbox", netns_path(w.ns("c"))}}}},
                                  {"ips", {{{"address", "10.70.0.5/24"}, {"interface", 0}}, {{"address", "fd00:70::5/64"}, {"interface", 0}}}}}}};
    };
    r.push_back(Row{.name = "cni/vrf (VRF made, eth0 enslaved with its IPv6 address and routes)",
                    .namespaces = {"c"},
                    .prepare = vrf_world,
                    .op = [conf](const World& w) { return w.cni("vrf", "ADD", w.ns("c"), conf(w)); },
                    .undo = [conf](const World& w) {
                      std::vector<Cmd> u{w.cni("vrf", "DEL", w.ns("c"), conf(w))};
                      for (std::vector<std::string> a : {std::vector<std::string>{"-6", "addr", "replace", "fd00:70::5/64", "dev", "eth0", "nodad"},
                                                         {"route", "replace", "default", "via", "10.70.0.1", "dev", "eth0"},
                                                         {"-6", "route", "replace", "default", "via", "fd00:70::1", "dev", "eth0"}}) {
                        a.insert(a.begin(), {"-n", w.ns("c")});
                        u.push_back(Cmd{.argv0 = "ip", .args = a, .exe = "/usr/sbin/ip"});
                      }
                      return u;
                    },
                    .cni = true});
  }
  r.push_back(cni("host-local (IPAM alone)", "host-local", [](const World& w) {
    return json{{"cniVersion", "1.0.0"}, {"name", "tfinet"}, {"type", "host-local"}, {"ipam", w.ipam("10.65.0.0/24")}};
  }));
  return r;
}

// ---- running a row ----------------------------------------------------------------------------------------

struct Counts {
  long requests = 0, writes = 0;
};

class RowRunner {
 public:
  RowRunner(const Row& row, std::string prefix) : row_(row) {
    w_.prefix = std::move(prefix);
    w_.host = w_.ns("h");
    fs::path base = fs::temp_directory_path() / (w_.prefix + "-files");
    w_.state = base / "state";
    w_.data = base / "cni-data";
    w_.count_file = base / "count";
    w_.before = {w_.host};
    for (const auto& s : row.namespaces) w_.before.push_back(w_.ns(s));
  }
  ~RowRunner() { teardown(); }

  // Fresh namespaces, devices and directories.
  void setup() {
    teardown();
    fs::create_directories(w_.state);
    fs::create_directories(w_.data);
    for (const auto& n : w_.before) must(tool("/usr/sbin/ip", {"netns", "add", n}), "ip netns add " + n);
    if (row_.prepare) row_.prepare(w_);
  }
  void teardown() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/run/netns", ec))
      if (e.path().filename().string().starts_with(w_.prefix)) tool("/usr/sbin/ip", {"netns", "del", e.path().filename().string()});
    fs::remove_all(w_.state.parent_path(), ec);
  }

  const World& world() const { return w_; }

  Proc run_op(const std::map<std::string, std::string>& fault) {
    Cmd c = row_.op(w_);
    for (const auto& [k, v] : fault) c.env[k] = v;
    return run(c, netns_path(w_.host));
  }
  // The face's delete; "" when every step exited 0.
  std::string undo() {
    std::string problems;
    for (const Cmd& c : row_.undo(w_)) {
      Proc p = run(c, netns_path(w_.host));
      if (!p.exited || p.status != 0) problems += "\n      undo step " + c.argv0 + " failed: " + p.describe();
    }
    return problems;
  }

  // A failure as the issue wants it: exit() with a non-zero status, never a signal; CNI: the spec's JSON error
  // on stdout; CLI: exit 1 (a failure on the system; 2 would claim the input was invalid) with its message.
  std::string failure_shape(const Proc& p) const {
    if (!p.exited) return p.describe();
    if (row_.cni) {
      json j = json::parse(p.out, nullptr, false);
      if (!j.is_object() || !j.contains("code") || !j["code"].is_number() || !j.contains("msg") || !j["msg"].is_string())
        return "stdout is not a CNI error object: " + p.describe();
    } else if (p.status != 1 || p.err.empty()) {
      return "not the CLI's failure (exit 1 and a message on stderr): " + p.describe();
    }
    return "";
  }

  Counts read_counts() const {
    Counts c;
    std::ifstream f(w_.count_file);
    std::string word;
    long n;
    while (f >> word >> n) (word == "requests" ? c.requests : c.writes) = n;
    return c;
  }

 private:
  const Row& row_;
  World w_;
};

struct RowReport {
  std::string name;
  long requests = 0, writes = 0, steps = 0, tolerated = 0;
  std::string tolerated_steps;  // " request 3" ...
  std::vector<std::string> leaks;  // "(row, step): what"
};

// CTNET_FAULT_STRIDE=N fails only every Nth step of a row, starting at a different one per row (`salt`): the
// sanitized run (make test-sanitize) pays the sanitizers' start-up in each of the table's thousands of runs; the
// normal run fails every step.
long fault_stride() {
  const char* s = std::getenv("CTNET_FAULT_STRIDE");
  const long n = s ? std::atol(s) : 1;
  return n > 0 ? n : 1;
}

RowReport run_row(const Row& row, const std::string& prefix, size_t salt = 0) {
  RowReport rep{.name = row.name};
  RowRunner rr(row, prefix);
  rr.setup();
  Snapshot base = snapshot(rr.world());

  // The successful run, to count its steps, then the face's delete.
  Proc ok = rr.run_op({{"CTNET_FAULT_COUNT", rr.world().count_file.string()}});
  if (!ok.exited || ok.status != 0) {
    rep.leaks.push_back("the run without a fault failed: " + ok.describe());
    return rep;
  }
  Counts n = rr.read_counts();
  rep.requests = n.requests;
  rep.writes = n.writes;
  std::string problems = rr.undo();
  ++rep.steps;
  if (Snapshot after = snapshot(rr.world()); after != base || !problems.empty()) {
    rep.leaks.push_back("run, then the face's delete:" + diff(base, after) + problems);
    rr.setup();
    base = snapshot(rr.world());
  }

  for (const char* var : {"CTNET_FAULT_REQUEST", "CTNET_FAULT_WRITE"}) {
    const long total = std::string(var) == "CTNET_FAULT_REQUEST" ? n.requests : n.writes;
    const std::string what = std::string(var) == "CTNET_FAULT_REQUEST" ? "request " : "write ";
    const long stride = fault_stride();
    for (long k = 1 + static_cast<long>(salt) % stride; k <= total; k += stride) {
      ++rep.steps;
      Proc p = rr.run_op({{var, std::to_string(k)}});
      if (p.ms > 1000) std::cout << "[fault] slow: " << row.name << ", " << what << k << ": " << p.ms << " ms\n";
      std::string problem;
      if (p.exited && p.status == 0) {
        ++rep.tolerated;  // the code tolerated the failed step: what it made must go with the face's delete
        rep.tolerated_steps += " " + what + std::to_string(k);
        problem = rr.undo();
      } else {
        problem = rr.failure_shape(p);
        if (!problem.empty()) problem = "\n      " + problem;
      }
      Snapshot after = snapshot(rr.world());
      if (after != base || !problem.empty()) {
        rep.leaks.push_back(what + std::to_string(k) + " (" + (p.exited && p.status == 0 ? "tolerated, then deleted" : "failed") +
                            "):" + diff(base, after) + problem +
                            (p.err.empty() ? "" : "\n      its error: " + p.err.substr(0, p.err.find('\n'))) +
                            (row.cni ? "\n      its stdout: " + p.out.substr(0, 300) : ""));
        rr.setup();  // start the next step from a clean world
        base = snapshot(rr.world());
      }
    }
  }
  return rep;
}

// The hook itself: only the numbered request fails, with the kernel text naming it; the count file says how
// many steps a run took.
TEST(FaultInjection, HookFailsTheNumberedRequestOnlyAndCounts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Row row{.name = "hook", .namespaces = {"a", "b"}};
  RowRunner rr(row, "tf" + std::to_string(getpid() % 100000) + "z");
  rr.setup();
  const World& w = rr.world();
  Cmd c = w.cli({"connect", w.ns("a"), w.ns("b"), "--addr1", "10.10.0.1/24", "--addr2", "10.10.0.2/24"});
  c.env["CTNET_FAULT_COUNT"] = w.count_file.string();
  Proc ok = run(c);
  ASSERT_EQ(ok.status, 0) << ok.describe();
  std::ifstream f(w.count_file);
  std::string text{std::istreambuf_iterator<char>(f), {}};
  EXPECT_TRUE(std::regex_match(text, std::regex("requests [1-9][0-9]*\nwrites 0\n"))) << text;
  const long n = rr.read_counts().requests;
  must(run(w.cli({"link", "del", "veth-" + w.ns("b"), "--ns", w.ns("a")})), "link del");

  c.env.erase("CTNET_FAULT_COUNT");
  c.env["CTNET_FAULT_REQUEST"] = std::to_string(n);  // the last request: every earlier one went through
  Proc last = run(c);
  EXPECT_EQ(last.status, 1) << last.describe();
  EXPECT_NE(last.err.find("injected fault (CTNET_FAULT_REQUEST=" + std::to_string(n) + ")"), std::string::npos) << last.err;
  c.env["CTNET_FAULT_REQUEST"] = std::to_string(n + 1);  // beyond the run: nothing fails
  EXPECT_EQ(run(c).status, 0);
}

TEST(FaultInjection, EveryStepOfEveryRowFailsCleanly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const char* only = std::getenv("CTNET_FAULT_ROWS");  // a regex, to run some rows while debugging
  const auto table = rows();
  const std::string base = "tf" + std::to_string(getpid() % 100000);
  long steps = 0, leaking_steps = 0, tolerated = 0, rows_run = 0;
  std::map<std::string, int> per_face;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < table.size(); ++i) {
    const Row& row = table[i];
    if (only && !std::regex_search(row.name, std::regex(only))) continue;
    ++rows_run;
    ++per_face[row.name.substr(0, row.name.find('/'))];
    auto r0 = std::chrono::steady_clock::now();
    RowReport rep = run_row(row, base + static_cast<char>('a' + i), i);
    steps += rep.steps;
    leaking_steps += static_cast<long>(rep.leaks.size());
    tolerated += rep.tolerated;
    const bool known = kKnownFailures.count(row.name) > 0;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - r0).count();
    std::cout << "[fault] " << row.name << ": " << rep.requests << " requests, " << rep.writes << " writes, " << rep.steps
              << " steps (" << rep.tolerated << " tolerated" << (rep.tolerated ? ":" : "") << rep.tolerated_steps << "), " << rep.leaks.size() << " leaking"
              << (known ? " [known failure]" : "") << ", " << ms << " ms\n";
    std::string detail;
    for (const auto& l : rep.leaks) detail += "    " + row.name + ", " + l + "\n";
    if (known) {
      std::cout << detail;
      EXPECT_FALSE(rep.leaks.empty()) << row.name << " is clean now: remove it from kKnownFailures";
    } else {
      EXPECT_TRUE(rep.leaks.empty()) << row.name << " leaves something behind:\n" << detail;
    }
  }
  auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0).count();
  std::string faces;
  for (const auto& [face, count] : per_face) faces += (faces.empty() ? "" : ", ") + std::to_string(count) + " " + face;
  if (fault_stride() > 1) std::cout << "[fault] CTNET_FAULT_STRIDE=" << fault_stride() << ": every " << fault_stride() << "th step of each row\n";
  std::cout << "[fault] table: " << rows_run << " rows (face x kind: " << faces << ") x their steps = " << steps
            << " runs (each request and each state write failed once, plus one run + delete per row); " << tolerated
            << " faulted runs tolerated; " << leaking_steps << " leaking steps, in " << kKnownFailures.size()
            << " known-failure rows; " << s << " s\n";
}

}  // namespace
