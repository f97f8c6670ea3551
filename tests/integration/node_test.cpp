// `ctnet node` on a real etcd and real kernels: simulated hosts are network namespaces on an underlay bridge inside
// a throwaway namespace, etcd runs in a namespace of its own on that underlay, one agent per host namespace, pods
// made with ctnet's CNI bridge plugin from the conflist each agent wrote. Traffic goes only between namespaces the
// test made (10.210.0.0/24 underlay, 10.244.0.0/16 and fd00:244::/48 pods).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "integration/cni_harness.h"
#include "support/run.h"
#include "support/tcp.h"

namespace ctnet::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A child process started in a namespace, its output in a log file; ended by its pid.
class Proc {
 public:
  Proc() = default;
  Proc(const std::string& netns, std::vector<std::string> argv, const std::string& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      NetNs ns = NetNs::open_named(netns);
      if (setns(ns.fd(), CLONE_NEWNET) != 0) _exit(126);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      execvp(a[0], a.data());
      _exit(127);
    }
  }
  Proc(Proc&& o) noexcept : pid_(std::exchange(o.pid_, -1)), log_(std::move(o.log_)) {}
  Proc& operator=(Proc&& o) noexcept {
    stop(SIGKILL);
    pid_ = std::exchange(o.pid_, -1);
    log_ = std::move(o.log_);
    return *this;
  }
  ~Proc() { stop(SIGKILL); }
  // Sends `sig` and waits; the exit status.
  int stop(int sig = SIGTERM) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return st;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == 0) return true;
    pid_ = -1;
    exit_status_ = st;
    return false;
  }
  int exit_status() const { return exit_status_; }
  std::string log() const { return read_file(log_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_;
  int exit_status_ = -1;
};

bool wait_until(const std::function<bool()>& ok, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (ok()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return ok();
}

RunResult must(const std::vector<std::string>& argv) {
  auto r = test::run(argv);
  EXPECT_EQ(r.exit_code, 0) << argv[0] << " " << (argv.size() > 3 ? argv[3] : "") << ": " << r.err;
  return r;
}

class NodeLab : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    tag_ = std::to_string(getpid()) + "-" + std::to_string(counter++);
    dir_ = "/tmp/tnd-" + tag_;
    std::filesystem::create_directories(dir_);
    lan_ = ns("lan");
    must({"ip", "-n", lan_, "link", "add", "tndbr0", "type", "bridge"});
    must({"ip", "-n", lan_, "link", "set", "tndbr0", "up"});
    etcd_ns_ = attach("etcd", "10.210.0.100");
    start_etcd();
  }
  void TearDown() override {
    agents_.clear();
    etcd_.stop(SIGKILL);
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) NetNs::remove_named(*it);
    if (HasFailure())
      for (const auto& e : std::filesystem::directory_iterator(dir_))
        if (e.path().extension() == ".log") std::cerr << "---- " << e.path() << "\n" << read_file(e.path()) << "\n";
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string ns(const std::string& what) {
    std::string n = "tnd-" + what + "-" + tag_;
    NetNs::create_named(n);
    namespaces_.push_back(n);
    must({"ip", "-n", n, "link", "set", "lo", "up"});
    return n;
  }
  // A namespace on the underlay bridge with `addr`/24 on its link `under0`.
  std::string attach(const std::string& what, const std::string& addr) {
    const std::string n = ns(what);
    const std::string port = "tnd" + what.substr(0, 8) + std::to_string(namespaces_.size());
    must({"ip", "-n", lan_, "link", "add", port, "type", "veth", "peer", "name", "under0", "netns", n});
    must({"ip", "-n", lan_, "link", "set", port, "master", "tndbr0", "up"});
    must({"ip", "-n", n, "addr", "add", addr + "/24", "dev", "under0"});
    must({"ip", "-n", n, "link", "set", "under0", "up"});
    return n;
  }

  void start_etcd() {
    etcd_ = Proc(etcd_ns_, {"etcd", "--name", "tnd", "--data-dir", dir_ + "/etcd", "--listen-client-urls", kEtcd,
                            "--advertise-client-urls", kEtcd, "--listen-peer-urls", "http://127.0.0.1:23800",
                            "--initial-advertise-peer-urls", "http://127.0.0.1:23800", "--initial-cluster",
                            "tnd=http://127.0.0.1:23800", "--logger", "zap", "--log-level", "error"},
                 dir_ + "/etcd.log");
    ASSERT_TRUE(wait_until([&] { return etcdctl({"endpoint", "health"}).exit_code == 0; }, 20s)) << etcd_.log();
  }
  RunResult etcdctl(std::vector<std::string> args) {
    std::vector<std::string> argv{"ip", "netns", "exec", etcd_ns_, "etcdctl", "--endpoints", kEtcd, "--command-timeout=2s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv, {{"ETCDCTL_API", "3"}});
  }

  RunResult ctnet_in(const std::string& netns, std::vector<std::string> args) {
    std::vector<std::string> argv{"ip", "netns", "exec", netns, CTNET_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv);
  }
  void init(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"node", "init", "tndnet", "--etcd", kEtcd, "--cidr", "10.244.0.0/16", "--cidr", "fd00:244::/48"};
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = ctnet_in(etcd_ns_, a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  struct Host {
    std::string ns, name, state;
    int i;
  };
  Host host(int i) {
    if (!hosts_.count(i)) hosts_[i] = {attach("h" + std::to_string(i), "10.210.0." + std::to_string(10 + i)), "h" + std::to_string(i),
                                       dir_ + "/h" + std::to_string(i), i};
    return hosts_[i];
  }
  std::vector<std::string> agent_args(const Host& h, int ttl) {
    return {CTNET_BINARY, "node", "run", "tndnet", "--etcd", kEtcd, "--node-name", h.name, "--state-dir", h.state,
            "--cni-conf-dir", h.state + "/net.d", "--ttl", std::to_string(ttl), "--cni-bin-dir", dir_ + "/nobin"};
  }
  Proc& start_agent(int i, int ttl = 5) {
    Host h = host(i);
    agents_[i] = Proc(h.ns, agent_args(h, ttl), dir_ + "/agent-" + h.name + ".log");
    return agents_[i];
  }

  // The routes of ctnet's protocol in a host, as "dst via gw dev" lines.
  std::set<std::string> routes(const Host& h) {
    std::set<std::string> out;
    for (const char* fam : {"-4", "-6"}) {
      auto r = test::run({"ip", fam, "-n", h.ns, "-j", "route", "show", "proto", "99"});
      auto j = json::parse(r.out, nullptr, false);
      if (!j.is_array()) continue;
      for (const auto& e : j) out.insert(e.value("dst", "") + " via " + e.value("gateway", "") + " dev " + e.value("dev", ""));
    }
    return out;
  }
  size_t peer_routes(const Host& h) { return routes(h).size(); }

  // A pod in host h: the bridge plugin with the agent's conflist (its first plugin), leases in the test's dir.
  struct Pod {
    std::string ns, ip4, ip6;
  };
  Pod pod(const Host& h, const std::string& id) {
    std::ifstream f(h.state + "/net.d/10-ctnet-tndnet.conflist");
    json list = json::parse(f, nullptr, false);
    EXPECT_TRUE(list.is_object()) << "no conflist from " << h.name;
    json conf = list["plugins"][0];
    conf["cniVersion"] = list["cniVersion"];
    conf["name"] = list["name"];
    conf["ipam"]["dataDir"] = h.state + "/leases";
    const std::string n = ns("p" + std::to_string(h.i) + id);
    std::map<std::string, std::string> env{{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", n}, {"CNI_NETNS", NetNs::path_of(n)},
                                           {"CNI_IFNAME", "eth0"}, {"CNI_PATH", "/usr/lib/cni"}};
    NetNs hn = NetNs::open_named(h.ns);
    auto r = exec_plugin(CTNET_BINARY, "bridge", env, conf.dump(), hn.fd());
    EXPECT_EQ(r.exit_code, 0) << r.out;
    Pod p{n};
    for (const auto& ip : r.json.value("ips", json::array())) {
      auto a = Prefix::parse(ip["address"].get<std::string>(), "ip").address();
      (a.is_v4() ? p.ip4 : p.ip6) = a.str();
    }
    return p;
  }
  bool ping(const std::string& from_ns, const std::string& addr, int count = 1) {
    return test::run({"ip", "netns", "exec", from_ns, "busybox", "ping", "-c", std::to_string(count), "-W", "1", addr}).exit_code == 0;
  }

  static constexpr const char* kEtcd = "http://10.210.0.100:23790";
  std::string tag_, dir_, lan_, etcd_ns_;
  Proc etcd_;
  std::map<int, Host> hosts_;
  std::map<int, Proc> agents_;
  std::vector<std::string> namespaces_;
};

TEST_F(NodeLab, PodsOnTwoHostsReachEachOtherOverVxlanDualStack) {
  init();
  start_agent(1);
  start_agent(2);
  const Host a = host(1), b = host(2);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 2 && peer_routes(b) == 2; }, 10s))
      << agents_[1].log() << agents_[2].log();
  Pod pa = pod(a, "a"), pb = pod(b, "b");
  EXPECT_TRUE(ping(pa.ns, pb.ip4, 2)) << pa.ip4 << " -> " << pb.ip4;
  EXPECT_TRUE(ping(pb.ns, pa.ip4));
  EXPECT_TRUE(wait_until([&] { return ping(pa.ns, pb.ip6); }, 5s)) << pa.ip6 << " -> " << pb.ip6;
  Server server(NetNs::path_of(pb.ns), 8080, "pod-b");
  EXPECT_EQ(fetch(NetNs::open_named(pa.ns), pb.ip4, 8080), "pod-b");
  EXPECT_EQ(fetch(NetNs::open_named(pa.ns), pb.ip6, 8080, 3000), "");  // the server is v4 only: refused, not hung
  // The conflist and the subnet env file the agent wrote.
  const std::string env = read_file(a.state + "/subnet.env");
  EXPECT_NE(env.find("NETWORK=10.244.0.0/16"), std::string::npos) << env;
  EXPECT_NE(env.find("MTU=1450"), std::string::npos) << env;
  auto st = ctnet_in(a.ns, {"node", "status", "tndnet", "--etcd", kEtcd, "--state-dir", a.state, "-o", "json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  auto j = json::parse(st.out);
  EXPECT_EQ(j["nodes"].size(), 2u);
  EXPECT_TRUE(j["local"]["kernelMatches"].get<bool>()) << st.out;
}

}  // namespace
}  // namespace ctnet::test
