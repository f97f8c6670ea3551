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
#include "util/ip.h"

#include <fmt/format.h>

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
  // A namespace on the underlay bridge with `addr`/24 (and `addr6`/64) on its link `under0`.
  std::string attach(const std::string& what, const std::string& addr, const std::string& addr6 = "") {
    const std::string n = ns(what);
    const std::string port = "tnd" + what.substr(0, 8) + std::to_string(namespaces_.size());
    must({"ip", "-n", lan_, "link", "add", port, "type", "veth", "peer", "name", "under0", "netns", n});
    must({"ip", "-n", lan_, "link", "set", port, "master", "tndbr0", "up"});
    must({"ip", "-n", n, "addr", "add", addr + "/24", "dev", "under0"});
    if (!addr6.empty()) must({"ip", "-n", n, "addr", "add", addr6 + "/64", "dev", "under0", "nodad"});
    must({"ip", "-n", n, "link", "set", "under0", "up"});
    return n;
  }

  void start_etcd() {
    etcd_ = Proc(etcd_ns_, {"etcd", "--name", "tnd", "--data-dir", dir_ + "/etcd", "--listen-client-urls", kEtcd,
                            "--advertise-client-urls", kEtcd, "--listen-peer-urls", "http://127.0.0.1:23800",
                            "--initial-advertise-peer-urls", "http://127.0.0.1:23800", "--initial-cluster",
                            "tnd=http://127.0.0.1:23800", "--logger", "zap", "--log-level", "error", "--max-txn-ops", "1000"},
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
    if (!hosts_.count(i)) hosts_[i] = {attach("h" + std::to_string(i), "10.210.0." + std::to_string(10 + i),
                                              "fd00:210::" + std::to_string(10 + i)), "h" + std::to_string(i),
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

// Runs `busybox ping` for `seconds` (5 per second) in the background; lost() says how many got no answer.
class ContinuousPing {
 public:
  ContinuousPing(const std::string& from_ns, const std::string& addr, int seconds)
      : t_([this, from_ns, addr, seconds] {
          auto r = test::run({"ip", "netns", "exec", from_ns, "busybox", "ping", "-i", "0.2", "-c", std::to_string(seconds * 5),
                              "-W", "1", addr});
          out_ = r.out;
        }) {}
  ~ContinuousPing() { wait(); }
  void wait() {
    if (t_.joinable()) t_.join();
  }
  // From "N packets transmitted, M packets received": N - M (-1 when the output has no summary).
  int lost() {
    wait();
    auto p = out_.find(" packets transmitted, ");
    if (p == std::string::npos) return -1;
    int sent = std::stoi(out_.substr(out_.rfind('\n', p) + 1));
    int got = std::stoi(out_.substr(p + 22));
    return sent - got;
  }
  const std::string& output() const { return out_; }

 private:
  std::string out_;
  std::thread t_;
};

TEST_F(NodeLab, HostGwRoutesPeersOnTheSegmentAndRefusesOthers) {
  init({"--backend", "host-gw"});
  start_agent(1);
  start_agent(2);
  const Host a = host(1), b = host(2);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 2 && peer_routes(b) == 2; }, 10s)) << agents_[1].log();
  const int b_index = json::parse(read_file(b.state + "/state.json"))["index"];
  // The peer's subnets via its underlay address of each family (the underlay is dual-stack).
  const std::set<std::string> want{fmt::format("10.244.{}.0/24 via 10.210.0.12 dev under0", b_index),
                                   // Canonical text, as the kernel prints it: subnet 0 is fd00:244::/64.
                                   Prefix::parse(fmt::format("fd00:244:0:{:x}::/64", b_index), "want").str() +
                                       " via fd00:210::12 dev under0"};
  EXPECT_EQ(routes(a), want);
  Pod pa = pod(a, "a"), pb = pod(b, "b");
  EXPECT_TRUE(ping(pa.ns, pb.ip4, 2));
  EXPECT_TRUE(wait_until([&] { return ping(pa.ns, pb.ip6); }, 5s)) << pa.ip6 << " -> " << pb.ip6;
  Server server(NetNs::path_of(pb.ns), 8080, "pod-b");
  EXPECT_EQ(fetch(NetNs::open_named(pa.ns), pb.ip4, 8080), "pod-b") << "TCP across hosts over host-gw";
  // A node elsewhere (not on 10.210.0.0/24) cannot be a host-gw next hop: refused, said why, not routed.
  json far = {{"node", "far"}, {"subnets", {"10.244.9.0/24"}}, {"underlay", "10.99.0.5"}, {"backend", "host-gw"}};
  ASSERT_EQ(etcdctl({"put", "/ctnet/networks/tndnet/subnets/9", far.dump()}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return agents_[1].log().find("far: host-gw needs peers on the same L2 segment") != std::string::npos; }, 5s))
      << agents_[1].log();
  EXPECT_EQ(peer_routes(a), 2u);
}

TEST_F(NodeLab, LeaveDropsTheNodeAtOnceAndADeadNodeGoesWithItsLease) {
  init();
  for (int i = 1; i <= 3; ++i) start_agent(i);
  const Host a = host(1), b = host(2), c = host(3);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 4 && peer_routes(b) == 4 && peer_routes(c) == 4; }, 10s));
  // c stops (SIGTERM: its kernel state stays), then leaves on purpose.
  EXPECT_EQ(agents_[3].stop(SIGTERM), 0);
  EXPECT_TRUE(test::run({"ip", "-n", c.ns, "link", "show", "ctnet.1"}).exit_code == 0) << "SIGTERM leaves the data plane";
  auto t0 = std::chrono::steady_clock::now();
  auto r = ctnet_in(c.ns, {"node", "leave", "tndnet", "--etcd", kEtcd, "--state-dir", c.state, "--cni-conf-dir", c.state + "/net.d"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_until([&] { return peer_routes(a) == 2 && peer_routes(b) == 2; }, 3s)) << "peers drop a node that left at once";
  std::cerr << "leave -> peers updated in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() << " ms\n";
  EXPECT_NE(test::run({"ip", "-n", c.ns, "link", "show", "ctnet.1"}).exit_code, 0) << "leave removed the device";
  EXPECT_FALSE(std::filesystem::exists(c.state + "/state.json"));
  EXPECT_FALSE(std::filesystem::exists(c.state + "/net.d/10-ctnet-tndnet.conflist"));
  // b dies (kill -9): a removes it once its 5 s lease has expired.
  agents_[2].stop(SIGKILL);
  EXPECT_EQ(peer_routes(a), 2u) << "not before the lease expires";
  EXPECT_TRUE(wait_until([&] { return peer_routes(a) == 0; }, 12s)) << agents_[1].log();
}

TEST_F(NodeLab, RoutesOfPeersThatLeftWhileTheAgentWasDownAreCleanedOnStart) {  // flannel #2554
  init();
  start_agent(1);
  start_agent(2);
  const Host a = host(1), b = host(2);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 2; }, 10s));
  agents_[1].stop(SIGTERM);
  agents_[2].stop(SIGTERM);
  ASSERT_EQ(ctnet_in(b.ns, {"node", "leave", "tndnet", "--etcd", kEtcd, "--state-dir", b.state}).exit_code, 0);
  EXPECT_EQ(peer_routes(a), 2u) << "a's agent is down: nothing changed its kernel";
  start_agent(1);
  EXPECT_TRUE(wait_until([&] { return peer_routes(a) == 0; }, 10s)) << agents_[1].log();
  auto fdb = test::run({"bridge", "-n", a.ns, "fdb", "show", "dev", "ctnet.1"});
  EXPECT_EQ(fdb.out.find("dst 10.210.0.12"), std::string::npos) << fdb.out;
  auto neigh = test::run({"ip", "-n", a.ns, "neigh", "show", "dev", "ctnet.1"});
  EXPECT_EQ(neigh.out.find("PERMANENT"), std::string::npos) << neigh.out;
}

TEST_F(NodeLab, AnAgentKilledAndRestartedLosesNoPacketAndFlapsNothing) {
  init();
  for (int i = 1; i <= 3; ++i) start_agent(i);
  const Host a = host(1), b = host(2), c = host(3);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 4 && peer_routes(b) == 4 && peer_routes(c) == 4; }, 10s));
  Pod pa = pod(a, "a"), pb = pod(b, "b"), pc = pod(c, "c");
  ASSERT_TRUE(ping(pb.ns, pc.ip4));
  ASSERT_TRUE(ping(pa.ns, pb.ip4));
  const auto before = routes(a);
  size_t log_before = 0;
  const std::string dev_before = test::run({"ip", "-n", a.ns, "-j", "link", "show", "ctnet.1"}).out;
  {
    ContinuousPing bc(pb.ns, pc.ip4, 4), ab(pa.ns, pb.ip4, 4);
    std::this_thread::sleep_for(500ms);
    log_before = agents_[1].log().size();
    agents_[1].stop(SIGKILL);
    start_agent(1);
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(bc.lost(), 0) << bc.output();
    EXPECT_EQ(ab.lost(), 0) << ab.output();
  }
  EXPECT_TRUE(wait_until([&] { return agents_[1].log().find("holds subnet", log_before) != std::string::npos; }, 5s));
  EXPECT_EQ(routes(a), before);
  EXPECT_EQ(test::run({"ip", "-n", a.ns, "-j", "link", "show", "ctnet.1"}).out, dev_before) << "the device is kept as it was";
  EXPECT_EQ(agents_[1].log().find("added", log_before), std::string::npos) << "nothing to change on restart:\n" << agents_[1].log();
}

TEST_F(NodeLab, APeerWithANewVtepMacIsReprogrammed) {  // flannel #533
  init();
  start_agent(1);
  start_agent(2);
  const Host a = host(1), b = host(2);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 2; }, 10s));
  Pod pa = pod(a, "a"), pb = pod(b, "b");
  ASSERT_TRUE(ping(pa.ns, pb.ip4));
  // b "reboots": its agent stops, its VXLAN device goes (and with it its MAC); the new agent makes a new one.
  agents_[2].stop(SIGTERM);
  must({"ip", "-n", b.ns, "link", "del", "ctnet.1"});
  start_agent(2);
  ASSERT_TRUE(wait_until([&] { return test::run({"ip", "-n", b.ns, "link", "show", "ctnet.1"}).exit_code == 0; }, 5s));
  auto link = json::parse(test::run({"ip", "-n", b.ns, "-j", "link", "show", "ctnet.1"}).out);
  const std::string mac = link[0]["address"];
  EXPECT_TRUE(wait_until([&] {
    return test::run({"bridge", "-n", a.ns, "fdb", "show", "dev", "ctnet.1"}).out.find(mac + " dst 10.210.0.12") != std::string::npos;
  }, 5s)) << test::run({"bridge", "-n", a.ns, "fdb", "show", "dev", "ctnet.1"}).out;
  EXPECT_NE(test::run({"ip", "-n", a.ns, "neigh", "show", "dev", "ctnet.1"}).out.find(mac), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return ping(pa.ns, pb.ip4); }, 3s)) << "traffic flows to the new MAC";
}

TEST_F(NodeLab, ARevokedLeaseIsTakenAgainWithTheSameSubnet) {  // flannel #904
  init();
  start_agent(1);
  start_agent(2);
  const Host a = host(1), b = host(2);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 2; }, 10s));
  auto state = json::parse(read_file(b.state + "/state.json"));
  char hex[32];
  snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(state["lease"].get<int64_t>()));
  ASSERT_EQ(etcdctl({"lease", "revoke", hex}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return agents_[2].log().find("is gone") != std::string::npos; }, 5s)) << agents_[2].log();
  EXPECT_TRUE(wait_until([&] { return peer_routes(a) == 2; }, 5s));
  EXPECT_TRUE(agents_[2].running()) << "a revoked lease does not stop the agent";
  auto again = json::parse(read_file(b.state + "/state.json"));
  EXPECT_EQ(again["index"], state["index"]) << "the same subnet";
  EXPECT_NE(again["lease"], state["lease"]);
}

TEST_F(NodeLab, HundredsOfPeersAreAllProgrammed) {  // flannel #958
  init();
  start_agent(1);
  const Host a = host(1);
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(a.state + "/state.json"); }, 10s));
  // 300 nodes that exist only in etcd (one transaction), all on the underlay segment.
  std::string txn = "\n";
  for (int i = 0; i < 300; ++i) {
    json rec = {{"node", "fake" + std::to_string(i)}, {"subnets", {fmt::format("10.244.{}.0/24", 10 + i % 240), fmt::format("fd00:244:0:{:x}::/64", 10 + i)}},
                {"underlay", fmt::format("10.210.{}.{}", 1 + i / 250, 1 + i % 250)}, {"vtepMac", fmt::format("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)}};
    if (i >= 240) break;  // 240 distinct v4 subnets fit the test's /16 next to the agents' own
    txn += fmt::format("put /ctnet/networks/tndnet/subnets/{} {}\n", 10 + i, rec.dump());  // compact JSON: one word
  }
  txn += "\n\n";
  auto r = test::run({"ip", "netns", "exec", etcd_ns_, "etcdctl", "--endpoints", kEtcd, "txn"}, {{"ETCDCTL_API", "3"}}, txn);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(wait_until([&] { return peer_routes(a) == 480; }, 20s)) << peer_routes(a) << "\n" << agents_[1].log();
  auto fdb = test::run({"bridge", "-n", a.ns, "fdb", "show", "dev", "ctnet.1"});
  EXPECT_EQ(std::count(fdb.out.begin(), fdb.out.end(), '\n'), 240 + 0) << "one entry per peer";
  ASSERT_EQ(etcdctl({"del", "--prefix", "/ctnet/networks/tndnet/subnets/1"}).exit_code, 0);  // 10..199 and 1xx
  ASSERT_EQ(etcdctl({"del", "--prefix", "/ctnet/networks/tndnet/subnets/2"}).exit_code, 0);
  for (int d = 3; d <= 9; ++d) etcdctl({"del", "--prefix", "/ctnet/networks/tndnet/subnets/" + std::to_string(d)});
  EXPECT_TRUE(wait_until([&] { return peer_routes(a) == 0; }, 20s)) << peer_routes(a);
}

TEST_F(NodeLab, TrafficFlowsWhileEtcdIsDownFor30Seconds) {  // flannel #636
  init();
  start_agent(1, 10);
  start_agent(2, 10);
  const Host a = host(1), b = host(2);
  ASSERT_TRUE(wait_until([&] { return peer_routes(a) == 2 && peer_routes(b) == 2; }, 10s));
  Pod pa = pod(a, "a"), pb = pod(b, "b");
  ASSERT_TRUE(ping(pa.ns, pb.ip4));
  {
    ContinuousPing p(pa.ns, pb.ip4, 34);
    std::this_thread::sleep_for(1s);
    etcd_.stop(SIGKILL);
    std::this_thread::sleep_for(30s);
    EXPECT_EQ(peer_routes(a), 2u) << "etcd unreachable: the data plane stays";
    EXPECT_TRUE(agents_[1].running() && agents_[2].running());
    start_etcd();
    EXPECT_EQ(p.lost(), 0) << p.output();
  }
  EXPECT_TRUE(wait_until([&] { return etcdctl({"get", "--prefix", "--keys-only", "/ctnet/networks/tndnet/subnets/"}).out.find("subnets/1") != std::string::npos; }, 15s));
  EXPECT_TRUE(agents_[1].running() && agents_[2].running());
  EXPECT_TRUE(ping(pa.ns, pb.ip4));
}

TEST_F(NodeLab, TwoNodesRaceForTheLastSubnetAndAnExhaustedNetworkSaysSo) {
  ASSERT_EQ(ctnet_in(etcd_ns_, {"node", "init", "tndnet", "--etcd", kEtcd, "--cidr", "10.244.0.0/23"}).exit_code, 0);
  for (int i = 1; i <= 3; ++i) start_agent(i);
  ASSERT_TRUE(wait_until([&] { return !agents_[1].running() || !agents_[2].running() || !agents_[3].running(); }, 10s));
  std::this_thread::sleep_for(1s);
  int running = 0;
  std::string refused;
  for (int i = 1; i <= 3; ++i) {
    if (agents_[i].running()) ++running;
    else refused = agents_[i].log();
  }
  EXPECT_EQ(running, 2);
  EXPECT_NE(refused.find("has no free subnet: all 2 are leased"), std::string::npos) << refused;
  auto keys = etcdctl({"get", "--prefix", "--keys-only", "/ctnet/networks/tndnet/subnets/"}).out;
  EXPECT_NE(keys.find("subnets/0"), std::string::npos);
  EXPECT_NE(keys.find("subnets/1"), std::string::npos);
}

TEST_F(NodeLab, InitRefusesADifferentConfigurationWithoutForce) {
  init();
  auto same = ctnet_in(etcd_ns_, {"node", "init", "tndnet", "--etcd", kEtcd, "--cidr", "10.244.0.0/16", "--cidr", "fd00:244::/48"});
  EXPECT_EQ(same.exit_code, 0);
  EXPECT_NE(same.out.find("initialized already"), std::string::npos) << same.out;
  auto other = ctnet_in(etcd_ns_, {"node", "init", "tndnet", "--etcd", kEtcd, "--cidr", "10.245.0.0/16"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("--force replaces it"), std::string::npos) << other.err;
  EXPECT_EQ(ctnet_in(etcd_ns_, {"node", "init", "tndnet", "--etcd", kEtcd, "--cidr", "10.245.0.0/16", "--force"}).exit_code, 0);
  auto bad = ctnet_in(etcd_ns_, {"node", "init", "tndnet", "--etcd", kEtcd, "--cidr", "10.245.0.0/16", "--subnet-len", "8"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--subnet-len"), std::string::npos) << bad.err;
  auto unreachable = ctnet_in(etcd_ns_, {"node", "status", "tndnet", "--etcd", "http://10.210.0.100:1,http://10.210.0.99:2379", "--etcd-timeout", "500"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find("10.210.0.99"), std::string::npos) << "names every endpoint: " << unreachable.err;
}

TEST_F(NodeLab, TlsWithClientCertificatesAndAWrongCaRefusedClearly) {
  // A CA, a server certificate for etcd's address, a client certificate; and a CA nobody signed with.
  const std::string d = dir_ + "/pki";
  std::filesystem::create_directories(d);
  auto ssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    auto r = test::run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  for (const char* ca : {"ca", "other-ca"})
    ssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", std::string("/CN=tnd-") + ca,
         "-keyout", d + "/" + ca + ".key", "-out", d + "/" + ca + ".pem"});
  std::ofstream(d + "/san.cnf") << "subjectAltName=IP:10.210.0.100\nextendedKeyUsage=serverAuth,clientAuth\n";
  for (const char* who : {"server", "client"}) {
    ssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", std::string("/CN=tnd-") + who, "-keyout", d + "/" + who + ".key",
         "-out", d + "/" + who + ".csr"});
    ssl({"x509", "-req", "-in", d + "/" + who + ".csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key", "-CAcreateserial",
         "-days", "1", "-extfile", d + "/san.cnf", "-out", d + "/" + who + ".pem"});
  }
  etcd_.stop(SIGKILL);
  const std::string url = "https://10.210.0.100:23791";
  etcd_ = Proc(etcd_ns_, {"etcd", "--name", "tnd", "--data-dir", dir_ + "/etcd-tls", "--listen-client-urls", url,
                          "--advertise-client-urls", url, "--listen-peer-urls", "http://127.0.0.1:23801",
                          "--initial-advertise-peer-urls", "http://127.0.0.1:23801", "--initial-cluster", "tnd=http://127.0.0.1:23801",
                          "--cert-file", d + "/server.pem", "--key-file", d + "/server.key", "--trusted-ca-file", d + "/ca.pem",
                          "--client-cert-auth", "--log-level", "error", "--logger", "zap"},
               dir_ + "/etcd-tls.log");
  const std::vector<std::string> tls{"--etcd", url, "--etcd-ca", d + "/ca.pem", "--etcd-cert", d + "/client.pem",
                                     "--etcd-key", d + "/client.key"};
  auto with = [&](std::vector<std::string> a, const std::vector<std::string>& extra) {
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ASSERT_TRUE(wait_until([&] {
    return ctnet_in(etcd_ns_, with({"node", "init", "tndnet", "--cidr", "10.244.0.0/16"}, tls)).exit_code == 0;
  }, 20s)) << etcd_.log();
  for (int i : {1, 2}) {
    Host h = host(i);
    agents_[i] = Proc(h.ns, with({CTNET_BINARY, "node", "run", "tndnet", "--node-name", h.name, "--state-dir", h.state, "--ttl", "5"}, tls),
                      dir_ + "/agent-" + h.name + ".log");
  }
  EXPECT_TRUE(wait_until([&] { return peer_routes(host(1)) == 1 && peer_routes(host(2)) == 1; }, 10s)) << agents_[1].log();
  auto wrong = ctnet_in(etcd_ns_, {"node", "status", "tndnet", "--etcd", url, "--etcd-ca", d + "/other-ca.pem", "--etcd-cert",
                                   d + "/client.pem", "--etcd-key", d + "/client.key"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("certificate"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("other-ca.pem"), std::string::npos) << "names the CA file: " << wrong.err;
  auto no_cert = ctnet_in(etcd_ns_, {"node", "status", "tndnet", "--etcd", url, "--etcd-ca", d + "/ca.pem"});
  EXPECT_EQ(no_cert.exit_code, 1) << "etcd asks for a client certificate";
}

}  // namespace
}  // namespace ctnet::test
