// Lab namespaces that run things: `run:` processes (started in the lab's namespace, logged, restarted by `up`,
// stopped by `down` with SIGTERM then SIGKILL, never a reused pid), `exec:` commands (their failure fails `up`
// and leaves nothing), `ctnet exec`, `ctnet logs`, `ctnet inspect -o json` and `up --reconfigure`. Real
// processes (sh, sleep, busybox) in real namespaces. ctnet runs inside a throwaway "host" namespace (nsenter
// --net) with a temporary state directory; lab names and namespaces carry the prefix ctpr<pid>x<n>-. Every
// test ends with its labs down, its namespaces gone and every process it or its labs started killed by pid.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "ns/netns.h"
#include "topology/process.h"

using namespace ctnet;
using nlohmann::json;
namespace process = ctnet::topo::process;
namespace fs = std::filesystem;

namespace {

struct CliRun {
  int status = -1;  // exit code; 128 + signal when killed
  std::string out;  // stdout and stderr
};

std::atomic<int> counter{0};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

bool alive(pid_t pid, uint64_t start) { return process::start_time(pid) == start; }

// Waits (bounded) until `cond` holds; the result is what the test asserts, never how long it took.
template <class F>
bool eventually(F&& cond, int seconds = 10) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class TopologyProc : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    prefix_ = "ctpr" + std::to_string(getpid() % 100000) + "x" + std::to_string(counter++) + "-";
    host_ = prefix_ + "host";
    state_ = fs::temp_directory_path() / (prefix_ + "state");
    fs::create_directories(state_);
    NetNs::create_named(host_);
  }

  void TearDown() override {
    if (host_.empty()) return;
    // Processes the labs recorded (their pid files), so that one a failed test left is still killed by pid.
    std::vector<std::pair<pid_t, uint64_t>> procs;
    if (fs::exists(state_ / "labs"))
      for (auto& e : fs::recursive_directory_iterator(state_ / "labs"))
        if (e.path().extension() == ".pid") {
          try {
            json j = json::parse(slurp(e.path()));
            procs.emplace_back(j["saved"]["pid"].get<pid_t>(), j["saved"]["start_time"].get<uint64_t>());
          } catch (...) {
          }
        }
    if (fs::exists(state_ / "labs"))
      for (auto& e : fs::directory_iterator(state_ / "labs"))
        if (e.path().extension() == ".json") ctnet("down " + e.path().stem().string());
    for (auto [pid, start] : procs)
      if (alive(pid, start)) ::kill(pid, SIGKILL);
    for (auto [pid, start] : mine_)
      if (alive(pid, start)) ::kill(pid, SIGKILL);
    for (auto& n : NetNs::list_named())
      if (n.starts_with(prefix_)) NetNs::remove_named(n);
    std::error_code ec;
    fs::remove_all(state_, ec);
    fs::remove_all(dir(), ec);
    for (auto& d : etc_dirs_) fs::remove_all(d, ec);
    if (made_etc_netns_) fs::remove("/etc/netns", ec);  // only when it is empty again (another test may use it)
  }

  fs::path dir() { return fs::temp_directory_path() / (prefix_ + "files"); }

  // `ctnet up FILE` started in the background (nsenter execs ctnet: the pid is ctnet's), output discarded.
  pid_t start_up(const std::string& file) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("CTNET_STATE_DIR", state_.c_str(), 1);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0), ::dup2(null, 1), ::dup2(null, 2);
      const std::string net = "--net=" + NetNs::path_of(host_);
      ::execlp("nsenter", "nsenter", net.c_str(), CTNET_BINARY, "up", file.c_str(), nullptr);
      ::_exit(127);
    }
    return pid;
  }

  CliRun ctnet(const std::string& args, const std::string& env = "") {
    std::string cmd = env + " CTNET_STATE_DIR=" + state_.string() + " nsenter --net=" + NetNs::path_of(host_) + " " +
                      CTNET_BINARY + " " + args + " 2>&1 </dev/null";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
  }

  // A lab file; NAME and NS are replaced by the prefixed lab name and the prefix of its namespaces.
  std::string write(const std::string& text) {
    fs::create_directories(dir());
    auto p = dir() / ("lab" + std::to_string(files_++) + ".yaml");
    std::ofstream(p) << std::regex_replace(std::regex_replace(text, std::regex("NAME"), lab()), std::regex("NS"), prefix_);
    return p.string();
  }
  std::string lab() { return prefix_ + "lab"; }
  std::string ns(const std::string& n) { return prefix_ + n; }

  json inspect() {
    CliRun r = ctnet("inspect " + lab() + " -o json");
    EXPECT_EQ(r.status, 0) << r.out;
    try {
      return json::parse(r.out);
    } catch (...) {
      ADD_FAILURE() << "not JSON: " << r.out;
      return json::object();
    }
  }

  struct Proc {
    pid_t pid = 0;
    uint64_t start = 0;
    std::string state;
  };
  Proc proc(const std::string& name) {
    const json j = inspect();  // kept: a range-for over a member of a temporary would dangle
    for (auto& p : j["processes"])
      if (p["name"] == name) {
        Proc out{p["pid"].get<pid_t>(), 0, p["state"].get<std::string>()};
        out.start = process::start_time(out.pid).value_or(0);
        if (out.pid > 0 && out.start) mine_.emplace_back(out.pid, out.start);  // killed at the end if still there
        return out;
      }
    ADD_FAILURE() << "no process " << name << " in " << j.dump();
    return {};
  }

  // A process of the test's own (not the lab's): `sleep`, killed by pid at the end.
  Proc spawn_sleep() {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execlp("sleep", "sleep", "1000", nullptr);
      ::_exit(127);
    }
    children_.push_back(pid);
    Proc p{pid, 0, "running"};
    EXPECT_TRUE(eventually([&] { return process::start_time(pid).has_value(); }));
    p.start = process::start_time(pid).value_or(0);
    mine_.emplace_back(pid, p.start);
    return p;
  }
  void reap_children() {
    for (pid_t c : children_) {
      ::kill(c, SIGKILL);
      ::waitpid(c, nullptr, 0);
    }
    children_.clear();
  }

  void etc_netns(const std::string& n, const std::string& file, const std::string& text) {
    fs::path d = fs::path("/etc/netns") / n;
    made_etc_netns_ |= !fs::exists("/etc/netns");
    fs::create_directories(d);
    etc_dirs_.push_back(d);
    std::ofstream(d / file) << text;
  }

  void expect_nothing_left() {
    for (auto& n : NetNs::list_named()) EXPECT_FALSE(n.starts_with(prefix_) && n != host_) << n;
    std::string left;
    if (fs::exists(state_ / "labs"))
      for (auto& e : fs::recursive_directory_iterator(state_ / "labs")) left += " " + e.path().lexically_relative(state_).string();
    EXPECT_EQ(left, "") << "left in the state directory";
  }

  ~TopologyProc() override { reap_children(); }

  std::string prefix_, host_;
  fs::path state_;
  int files_ = 0;
  std::vector<std::pair<pid_t, uint64_t>> mine_;
  std::vector<pid_t> children_;
  std::vector<fs::path> etc_dirs_;
  bool made_etc_netns_ = false;
};

TEST_F(TopologyProc, ProcessRunsInTheLabNamespaceLogsAndStopsAtDown) {
  auto file = write(R"(name: NAME
namespaces:
  NSa:
    run:
      - {name: talker, command: "sh -c 'echo hello-from-ctpr; echo oops >&2; exec sleep 1000'"}
)");
  CliRun up = ctnet("up " + file);
  ASSERT_EQ(up.status, 0) << up.out;
  Proc p = proc("talker");
  ASSERT_GT(p.pid, 0);
  EXPECT_EQ(p.state, "running");
  // In the lab's namespace, not in the host's (ctnet's) one.
  EXPECT_EQ(inode_of("/proc/" + std::to_string(p.pid) + "/ns/net"), inode_of(NetNs::path_of(ns("a"))));
  EXPECT_NE(inode_of("/proc/" + std::to_string(p.pid) + "/ns/net"), inode_of(NetNs::path_of(host_)));
  // Its stdout and stderr are in its log, which `logs` prints.
  EXPECT_TRUE(eventually([&] {
    auto out = ctnet("logs " + lab() + " " + ns("a") + " talker").out;
    return out.find("hello-from-ctpr") != std::string::npos && out.find("oops") != std::string::npos;
  }));
  CliRun st = ctnet("status " + lab());
  EXPECT_EQ(st.status, 0) << st.out;
  EXPECT_NE(st.out.find("present  process talker in " + ns("a")), std::string::npos) << st.out;

  CliRun down = ctnet("down " + lab());
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_FALSE(alive(p.pid, p.start)) << "down left the process running";
  expect_nothing_left();
}

TEST_F(TopologyProc, LogsFollowPrintsWhatIsAppendedAndEndsWhenTheLabGoesDown) {
  auto file = write(R"(name: NAME
namespaces:
  NSa:
    run:
      - {name: ticker, command: "sh -c 'i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.1; done'"}
)");
  ASSERT_EQ(ctnet("up " + file).status, 0);
  const fs::path log = state_ / "labs" / lab() / ns("a") / "ticker.log";
  ASSERT_TRUE(eventually([&] { return slurp(log).find("tick-2\n") != std::string::npos; })) << log;
  auto follow = std::async(std::launch::async, [&] { return ctnet("logs -f " + lab() + " " + ns("a") + " ticker"); });
  // It keeps running (a plain `logs` would have ended at once) ...
  ASSERT_EQ(follow.wait_for(std::chrono::milliseconds(1500)), std::future_status::timeout);
  // ... and what the log holds now, ticks written while it ran among them, is in its output.
  std::string before_down = slurp(log);
  ASSERT_FALSE(before_down.empty());
  before_down.pop_back();
  const std::string last = before_down.substr(before_down.rfind('\n') + 1);
  CliRun down = ctnet("down " + lab());
  EXPECT_EQ(down.status, 0) << down.out;
  ASSERT_EQ(follow.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "logs -f did not end at down";
  CliRun f = follow.get();
  EXPECT_EQ(f.status, 0) << f.out;
  EXPECT_EQ(f.out.rfind("tick-1\n", 0), 0u) << f.out;
  EXPECT_NE(f.out.find(last + "\n"), std::string::npos) << "missing " << last << " in:\n" << f.out;
  expect_nothing_left();
}

TEST_F(TopologyProc, AProcessThatIgnoresSigtermIsKilledAfterItsTimeout) {
  auto file = write(R"(name: NAME
namespaces:
  NSa:
    run:
      - name: stubborn
        command: [sh, -c, 'trap "" TERM; echo ready; while :; do sleep 1; done']
        stop_timeout: 1
)");
  ASSERT_EQ(ctnet("up " + file).status, 0);
  Proc p = proc("stubborn");
  ASSERT_TRUE(eventually([&] { return ctnet("logs " + lab() + " " + ns("a")).out.find("ready") != std::string::npos; }));
  // It ignores SIGTERM (the trap is in place: "ready" is printed after it), so only SIGKILL ends it.
  ::kill(p.pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(alive(p.pid, p.start)) << "the test's premise: SIGTERM is ignored";
  CliRun down = ctnet("down " + lab());
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_FALSE(alive(p.pid, p.start));
  expect_nothing_left();
}

TEST_F(TopologyProc, AReusedPidIsNeverSignalled) {
  auto file = write("name: NAME\nnamespaces:\n  NSa:\n    run: [\"sleep 1000\"]\n");
  ASSERT_EQ(ctnet("up " + file).status, 0);
  Proc lab_proc = proc("sleep");
  ASSERT_GT(lab_proc.pid, 0);
  // The lab's process has ended and its pid now belongs to another process (one of ours): simulated by editing
  // the record (and the pid file) to name our process's pid with the lab process's start time.
  // Start times count clock ticks (1/100 s): ours must begin in a later one than the lab's.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Proc other = spawn_sleep();
  ASSERT_NE(other.start, lab_proc.start);
  const std::string from = "\"pid\":" + std::to_string(lab_proc.pid), to = "\"pid\":" + std::to_string(other.pid);
  int edited = 0;
  for (auto& e : fs::recursive_directory_iterator(state_ / "labs")) {
    if (e.path().extension() != ".json" && e.path().extension() != ".pid" && e.path().extension() != ".journal") continue;
    std::string text = slurp(e.path());
    for (size_t at; (at = text.find(from)) != std::string::npos; ++edited) text.replace(at, from.size(), to);
    std::ofstream(e.path()) << text;
  }
  ASSERT_GE(edited, 2) << "record and pid file";
  CliRun st = ctnet("status " + lab());
  EXPECT_NE(st.out.find("missing  process sleep"), std::string::npos) << st.out;
  CliRun down = ctnet("down " + lab());
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_TRUE(alive(other.pid, other.start)) << "down signalled a process that is not the lab's";
  ::kill(lab_proc.pid, SIGKILL);  // the real one, which the edited record no longer names
  expect_nothing_left();
}

TEST_F(TopologyProc, UpRestartsAProcessThatDied) {
  auto file = write("name: NAME\nnamespaces:\n  NSa:\n    run: [\"sleep 1000\", \"sleep 2000\"]\n");
  ASSERT_EQ(ctnet("up " + file).status, 0);
  Proc first = proc("sleep-1"), second = proc("sleep-2");
  ::kill(first.pid, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !alive(first.pid, first.start); }));
  CliRun st = ctnet("status " + lab());
  EXPECT_NE(st.status, 0);
  EXPECT_NE(st.out.find("missing  process sleep-1"), std::string::npos) << st.out;
  EXPECT_EQ(proc("sleep-1").state, "dead");

  CliRun up = ctnet("up " + file);
  EXPECT_EQ(up.status, 0) << up.out;
  EXPECT_NE(up.out.find("+ process sleep-1 in " + ns("a") + " (was missing, created)"), std::string::npos) << up.out;
  Proc again = proc("sleep-1");
  EXPECT_EQ(again.state, "running");
  EXPECT_TRUE(alive(again.pid, again.start));
  EXPECT_EQ(inode_of("/proc/" + std::to_string(again.pid) + "/ns/net"), inode_of(NetNs::path_of(ns("a"))));
  EXPECT_TRUE(alive(second.pid, second.start)) << "the one that was running is left alone";
  EXPECT_EQ(proc("sleep-2").pid, second.pid);

  ASSERT_EQ(ctnet("down " + lab()).status, 0);
  EXPECT_FALSE(alive(again.pid, again.start));
  EXPECT_FALSE(alive(second.pid, second.start));
  expect_nothing_left();
}

// `sleep ARG` processes, found by their unique argument (no pid is known when `up` failed or was killed).
std::vector<pid_t> sleeps_with_arg(const std::string& arg) {
  std::vector<pid_t> pids;
  for (auto& e : fs::directory_iterator("/proc")) {
    std::string cmd = slurp(e.path() / "cmdline");
    if (cmd.find(std::string("sleep") + '\0' + arg + '\0') != std::string::npos)
      pids.push_back(std::atoi(e.path().filename().c_str()));
  }
  return pids;
}
bool runs_with_arg(const std::string& arg) { return !sleeps_with_arg(arg).empty(); }

TEST_F(TopologyProc, AFailingExecCommandFailsUpAndLeavesNothing) {
  const std::string mark = std::to_string(900000 + getpid() % 100000);
  auto file = write(R"(name: NAME
namespaces:
  NSa:
    run: ["sleep )" + mark + R"("]
    exec:
      - "true"
      - sh -c 'echo broke-ctpr; exit 3'
  NSb: {}
links:
  - endpoints: ["NSa:eth0=10.66.0.1/24", "NSb:eth0=10.66.0.2/24"]
)");
  CliRun up = ctnet("up " + file);
  EXPECT_NE(up.status, 0) << up.out;
  EXPECT_NE(up.out.find("namespaces." + ns("a") + ".exec[1]"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("exited with status 3"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("broke-ctpr"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("rolled back"), std::string::npos) << up.out;
  EXPECT_FALSE(runs_with_arg(mark)) << "the run: process outlived the failed up";
  EXPECT_FALSE(NetNs::exists(ns("a")));
  EXPECT_FALSE(NetNs::exists(ns("b")));
  expect_nothing_left();
}

TEST_F(TopologyProc, AProgramThatCannotBeExecutedFailsUpNamingTheField) {
  auto file = write("name: NAME\nnamespaces:\n  NSa:\n    run: [\"sleep 1000\", ctpr-no-such-program]\n");
  CliRun up = ctnet("up " + file);
  EXPECT_NE(up.status, 0) << up.out;
  EXPECT_NE(up.out.find("run[1]: cannot execute 'ctpr-no-such-program': No such file or directory"), std::string::npos)
      << up.out;
  EXPECT_FALSE(NetNs::exists(ns("a")));
  expect_nothing_left();
  auto bad_exec = write("name: NAME\nnamespaces:\n  NSa:\n    exec: [/nonexistent/ctpr]\n");
  up = ctnet("up " + bad_exec);
  EXPECT_NE(up.out.find("exec[0]: cannot execute '/nonexistent/ctpr': No such file or directory"), std::string::npos)
      << up.out;
  expect_nothing_left();
}

TEST_F(TopologyProc, EtcNetnsFilesAreSeenByExecCommandsAndCtnetExec) {
  etc_netns(ns("a"), "resolv.conf", "nameserver 192.0.2.53 # ctpr\n");
  auto file = write("name: NAME\nnamespaces:\n  NSa:\n    exec: [cat /etc/resolv.conf, \"ls /sys/class/net\"]\n");
  CliRun up = ctnet("up " + file);
  ASSERT_EQ(up.status, 0) << up.out;
  std::string log = ctnet("logs " + lab() + " " + ns("a") + " exec").out;
  EXPECT_NE(log.find("$ cat /etc/resolv.conf\nnameserver 192.0.2.53 # ctpr"), std::string::npos) << log;
  // The namespace's own sysfs: its lo, not the host's links.
  EXPECT_NE(log.find("$ ls /sys/class/net\nlo\n"), std::string::npos) << log;
  CliRun ex = ctnet("exec " + lab() + " " + ns("a") + " -- cat /etc/resolv.conf");
  EXPECT_EQ(ex.status, 0) << ex.out;
  EXPECT_NE(ex.out.find("192.0.2.53"), std::string::npos) << ex.out;
  // The machine's /etc is untouched.
  EXPECT_EQ(slurp("/etc/resolv.conf").find("192.0.2.53 # ctpr"), std::string::npos);
  ASSERT_EQ(ctnet("down " + lab()).status, 0);
  expect_nothing_left();
}

TEST_F(TopologyProc, CtnetExecRunsInTheNamespaceAndPassesTheExitCode) {
  auto file = write("name: NAME\nnamespaces:\n  NSa: {}\n");
  ASSERT_EQ(ctnet("up " + file).status, 0);
  CliRun rc = ctnet("exec " + lab() + " " + ns("a") + " -- sh -c 'exit 7'");
  EXPECT_EQ(rc.status, 7) << rc.out;
  CliRun where = ctnet("exec " + lab() + " " + ns("a") + " -- readlink /proc/self/ns/net");
  EXPECT_EQ(where.status, 0) << where.out;
  EXPECT_NE(where.out.find("net:[" + std::to_string(inode_of(NetNs::path_of(ns("a")))) + "]"), std::string::npos)
      << where.out;
  CliRun missing = ctnet("exec " + lab() + " " + ns("a") + " -- ctpr-no-such-program");
  EXPECT_EQ(missing.status, 127) << missing.out;
  EXPECT_NE(missing.out.find("cannot execute 'ctpr-no-such-program'"), std::string::npos) << missing.out;
  CliRun node = ctnet("exec " + lab() + " " + ns("zz") + " -- true");
  EXPECT_NE(node.status, 0);
  EXPECT_NE(node.out.find("is not a namespace of lab"), std::string::npos) << node.out;
  ASSERT_EQ(ctnet("down " + lab()).status, 0);
  expect_nothing_left();
}

TEST_F(TopologyProc, InspectShowsInterfacesPeersBridgesAndProcesses) {
  auto file = write(R"(name: NAME
namespaces:
  NSa:
    run: [{name: idle, command: sleep 1000}]
  NSb: {}
bridges:
  br0: {}
links:
  - endpoints: ["NSa:eth0=10.67.0.1/24", "NSb:eth0=10.67.0.2/24"]
  - endpoints: ["NSb:eth1=10.68.0.2/24", "br0"]
)");
  CliRun up = ctnet("up " + file);
  ASSERT_EQ(up.status, 0) << up.out;
  const std::string a = ns("a"), b = ns("b"), name = lab();
  CliRun r = ctnet("inspect " + name + " -o json");
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["lab"], name);
  EXPECT_EQ(j["nodes"], json::array({a, b}));
  auto find = [&](const std::string& node, const std::string& ifname) {
    for (auto& i : j["interfaces"])
      if (i["node"] == node && i["name"] == ifname) return i;
    ADD_FAILURE() << "no " << node << ":" << ifname << " in " << j.dump();
    return json::object();
  };
  json ea = find(a, "eth0");
  EXPECT_EQ(ea["kind"], "veth");
  EXPECT_EQ(ea["peer"], b + ":eth0");
  EXPECT_EQ(ea["addresses"], json::array({"10.67.0.1/24"}));
  EXPECT_EQ(ea["mtu"], 1500);
  EXPECT_EQ(ea["state"], "up");
  EXPECT_GT(ea["ifindex"].get<int>(), 1);
  EXPECT_EQ(ea["mac"].get<std::string>().size(), 17u);
  EXPECT_EQ(find(a, "lo")["state"], "unknown");  // lo has no carrier state: the kernel says "unknown"
  json eb1 = find(b, "eth1");
  ASSERT_TRUE(eb1.contains("peer")) << eb1.dump();
  const std::string port = eb1["peer"].get<std::string>();
  ASSERT_TRUE(port.starts_with("host:")) << port;
  EXPECT_EQ(find("host", port.substr(5))["bridge"], "br0");
  EXPECT_EQ(find("host", "br0")["kind"], "bridge");
  ASSERT_EQ(j["processes"].size(), 1u);
  EXPECT_EQ(j["processes"][0]["name"], "idle");
  EXPECT_EQ(j["processes"][0]["node"], a);
  EXPECT_EQ(j["processes"][0]["state"], "running");
  EXPECT_EQ(j["processes"][0]["argv"], json::array({"sleep", "1000"}));
  const pid_t pid = j["processes"][0]["pid"].get<pid_t>();
  mine_.emplace_back(pid, process::start_time(pid).value_or(0));
  EXPECT_EQ(inode_of("/proc/" + std::to_string(pid) + "/ns/net"), inode_of(NetNs::path_of(a)));
  // Only the lab's things: nothing of another namespace.
  for (auto& i : j["interfaces"]) EXPECT_TRUE(i["node"] == a || i["node"] == b || i["node"] == "host") << i.dump();
  CliRun table = ctnet("inspect " + name);
  EXPECT_EQ(table.status, 0);
  EXPECT_NE(table.out.find(b + ":eth0"), std::string::npos) << table.out;
  ASSERT_EQ(ctnet("down " + name).status, 0);
  expect_nothing_left();
}

TEST_F(TopologyProc, ReconfigureRebuildsTheRunningLabProcessesIncluded) {
  auto file = write(R"(name: NAME
namespaces:
  NSa:
    run: ["sleep 1000"]
    exec: ["echo built"]
)");
  ASSERT_EQ(ctnet("up " + file).status, 0);
  Proc before = proc("sleep");
  // A converging up leaves the running lab alone and does not run exec again.
  CliRun again = ctnet("up " + file);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(proc("sleep").pid, before.pid);
  EXPECT_EQ(ctnet("logs " + lab() + " " + ns("a") + " exec").out, "$ echo built\nbuilt\n");

  CliRun re = ctnet("up --reconfigure " + file);
  EXPECT_EQ(re.status, 0) << re.out;
  EXPECT_NE(re.out.find("taken down for --reconfigure"), std::string::npos) << re.out;
  EXPECT_FALSE(alive(before.pid, before.start)) << "the old process survived --reconfigure";
  Proc after = proc("sleep");
  EXPECT_TRUE(alive(after.pid, after.start));
  EXPECT_EQ(inode_of("/proc/" + std::to_string(after.pid) + "/ns/net"), inode_of(NetNs::path_of(ns("a"))));
  EXPECT_EQ(ctnet("logs " + lab() + " " + ns("a") + " exec").out, "$ echo built\nbuilt\n");
  ASSERT_EQ(ctnet("down " + lab()).status, 0);
  EXPECT_FALSE(alive(after.pid, after.start));
  expect_nothing_left();
}

// A TCP server and its client, both the lab's own: the server a `run:` process of one node, the client an `exec:`
// command of the other (which fails `up` unless it got the server's answer). Python 3 from Debian.
TEST_F(TopologyProc, ATcpServerAndClientOfTheLabTalk) {
  fs::create_directories(dir());
  std::ofstream(dir() / "server.py") << R"(import socket
server = socket.create_server(("10.67.0.1", 7070))
print("listening", flush=True)
while True:
    conn, peer = server.accept()
    print("client", peer[0], flush=True)
    conn.sendall(b"ctpr-echo " + conn.recv(100))
    conn.close()
)";
  std::ofstream(dir() / "client.py") << R"(import socket, sys, time
for attempt in range(100):  # the server may still be starting
    try:
        conn = socket.create_connection(("10.67.0.1", 7070), timeout=2)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("no server at 10.67.0.1:7070")
conn.sendall(b"hello")
print(conn.recv(100).decode())
)";
  auto file = write("name: NAME\nnamespaces:\n  NSsrv:\n    run:\n      - {name: server, command: \"/usr/bin/python3 " +
                    (dir() / "server.py").string() + "\"}\n  NScli:\n    exec: [\"/usr/bin/python3 " +
                    (dir() / "client.py").string() +
                    "\"]\nlinks:\n  - endpoints: [\"NSsrv:eth0=10.67.0.1/24\", \"NScli:eth0=10.67.0.2/24\"]\n");
  CliRun up = ctnet("up " + file);
  ASSERT_EQ(up.status, 0) << up.out;  // the client's exec: succeeded
  Proc server = proc("server");
  EXPECT_EQ(server.state, "running");
  CliRun check = ctnet("check " + lab());
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_NE(ctnet("logs " + lab() + " " + ns("cli") + " exec").out.find("ctpr-echo hello"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    return ctnet("logs " + lab() + " " + ns("srv") + " server").out.find("client 10.67.0.2") != std::string::npos;
  })) << "the server saw the client's address";
  ASSERT_EQ(ctnet("down " + lab()).status, 0);
  EXPECT_FALSE(alive(server.pid, server.start));
  expect_nothing_left();
}

// `kill -9` of `up` while its processes start (at the test hook's points around each process, and from outside
// at moments spread over the start-up), then `down`: no process of the lab is left. A process runs only once its
// pid and start time are in the record; one whose `up` died first ends by itself.
TEST_F(TopologyProc, KillNineOfUpWhileProcessesStartThenDownLeavesNoProcess) {
  const std::string mark = std::to_string(800000 + getpid() % 100000);
  std::string runs;
  for (int i = 0; i < 12; ++i) runs += "\"sleep " + mark + "\", ";
  auto file = write("name: NAME\nnamespaces:\n  NSa:\n    run: [" + runs + "]\n");
  auto nothing_runs = [&] { return eventually([&] { return !runs_with_arg(mark); }, 3); };
  auto down_leaves_nothing = [&](const std::string& when) {
    SCOPED_TRACE(when);
    CliRun down = ctnet("down " + lab());
    EXPECT_EQ(down.status, 0) << down.out;
    EXPECT_TRUE(nothing_runs()) << "a process of the killed up outlived down: " << down.out;
    for (pid_t p : sleeps_with_arg(mark)) ::kill(p, SIGKILL);  // ours by the unique argument
    expect_nothing_left();
  };
  // Object 0 is the namespace; 1..12 the processes.
  for (const char* phase : {"intent", "done"})
    for (int n : {1, 2, 6, 12}) {
      CliRun up = ctnet("up " + file, std::string("CTNET_TEST_KILL_AFTER=") + std::to_string(n) + " CTNET_TEST_KILL_PHASE=" + phase);
      EXPECT_EQ(up.status, 128 + SIGKILL) << up.out;
      down_leaves_nothing(std::string(phase) + " " + std::to_string(n));
    }
  int killed = 0;
  for (int delay_ms : {0, 2, 4, 7, 10, 15, 20, 30, 45, 70}) {
    pid_t up = start_up(file);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(up, SIGKILL);
    int st = 0;
    ::waitpid(up, &st, 0);
    killed += WIFSIGNALED(st);
    down_leaves_nothing("killed from outside after " + std::to_string(delay_ms) + " ms");
  }
  EXPECT_GE(killed, 3) << "most kills should land before up ends";
}

}  // namespace
