// The dhcp IPAM plugin under ctnet's bridge against a real DHCP server: in the test's throwaway host namespace a
// bridge carries dnsmasq (10.77.0.0/24, a private lease file, DNS off), and ctnet's DHCP daemon runs on a private
// socket. ADD gives the container the address dnsmasq leased (its lease file says so, with the reference's client
// identifier), the daemon renews at T1, DEL releases (the lease file loses it) and renewals stop; option 121's
// routes reach the container; GC releases what is not listed; without the daemon the error says what to start;
// bad configuration names the field. Both processes are ended by pid, even when a test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <sstream>
#include <thread>

#include "integration/cni_harness.h"
#include "support/run.h"

namespace ctnet::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Starts argv[0] (a path) in network namespace `ns_fd`, stdout and stderr appended to `log`.
pid_t spawn_in(int ns_fd, std::vector<std::string> argv, const std::string& log) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    if (out < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// SIGTERM, then SIGKILL if it has not ended within 5 s; reaps it and returns its wait status.
int end_process(pid_t& pid) {
  int status = 0;
  if (pid <= 0) return status;
  kill(pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return status;
    }
    std::this_thread::sleep_for(100ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  pid = -1;
  return status;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit) {
  for (auto end = std::chrono::steady_clock::now() + limit;; std::this_thread::sleep_for(100ms)) {
    if (p()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
  }
}

// One line of dnsmasq's lease file: "EXPIRY MAC IP HOSTNAME CLIENTID".
struct DnsmasqLease {
  long expiry = 0;
  std::string mac, ip, client_id;
};

// Option 61's value as dnsmasq writes it: hex bytes joined by ':'.
std::string hex_id(const std::string& id) {
  std::string out = "00";
  for (unsigned char c : id) out += fmt::format(":{:02x}", c);
  return out;
}

class CniDhcp : public CniFixture {
 protected:
  CniDhcp() { prefix_ = "dht"; }

  void SetUp() override {
    CniFixture::SetUp();
    std::filesystem::create_directories(data_dir_ + "/bin");
    std::filesystem::create_symlink(CTNET_BINARY, data_dir_ + "/bin/dhcp");
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"ip", "-n", host_name_, "link", "add", "dhtbr0", "type", "bridge"},
             {"ip", "-n", host_name_, "addr", "add", "10.77.0.1/24", "dev", "dhtbr0"},
             {"ip", "-n", host_name_, "link", "set", "dhtbr0", "up"}}) {
      auto r = test::run(args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }

  void TearDown() override {
    const bool had_daemon = daemon_ > 0;
    const int status = end_process(daemon_);
    // SIGTERM ends it cleanly (under the sanitizers a finding would abort it).
    if (had_daemon) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the daemon's wait status " << status;
    }
    end_process(dnsmasq_);
    if (HasFailure() || std::getenv("DHT_LOGS")) {
      std::cerr << "--- ctnet cni dhcp-daemon:\n" << read_file(data_dir_ + "/daemon.log");
      std::cerr << "--- dnsmasq:\n" << read_file(data_dir_ + "/dnsmasq.log");
    }
    CniFixture::TearDown();
  }

  // dnsmasq on dhtbr0 only: a 2-minute lease (its shortest), renewal after `t1` seconds; no ping before an
  // offer (dnsmasq would wait 3 s for an answer first). --keep-in-foreground, not --no-daemon: that debug mode
  // writes no pid file.
  void start_dnsmasq(int t1 = 30, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
                                     "--interface=dhtbr0", "--bind-interfaces", "--user=root", "--no-ping",
                                     "--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,2m",
                                     "--dhcp-option=option:router,10.77.0.1", "--dhcp-option=option:dns-server,10.77.0.53",
                                     "--dhcp-option=option:domain-name,dht.test", fmt::format("--dhcp-option=option:T1,{}", t1),
                                     "--dhcp-leasefile=" + leases_file(), "--pid-file=" + data_dir_ + "/dnsmasq.pid",
                                     "--log-dhcp", "--log-facility=" + data_dir_ + "/dnsmasq.log"};
    for (auto& e : extra) argv.push_back(e);
    dnsmasq_ = spawn_in(host_->fd(), argv, data_dir_ + "/dnsmasq.out");
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(data_dir_ + "/dnsmasq.pid"); }, 5s))
        << read_file(data_dir_ + "/dnsmasq.out");
  }

  void start_daemon() {
    daemon_ = spawn_in(host_->fd(), {CTNET_BINARY, "cni", "dhcp-daemon", "--socket", socket(), "--timeout", "3s",
                                     "--resend-timeout", "20s"},
                       data_dir_ + "/daemon.log");
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(socket()); }, 5s)) << read_file(data_dir_ + "/daemon.log");
  }

  std::string socket() const { return data_dir_ + "/dhcp.sock"; }
  std::string leases_file() const { return data_dir_ + "/leases"; }

  std::map<std::string, std::string> env_dhcp(const std::string& cmd, const std::string& id, const std::string& netns) const {
    auto e = env(cmd, id, netns);
    e["CNI_PATH"] = data_dir_ + "/bin";
    return e;
  }

  json conf(json ipam = json::object(), const std::string& version = "1.0.0") const {
    ipam["type"] = "dhcp";
    if (!ipam.contains("daemonSocketPath")) ipam["daemonSocketPath"] = socket();
    return {{"cniVersion", version}, {"name", "dhtnet"}, {"type", "bridge"}, {"bridge", "dhtbr0"}, {"ipam", ipam}};
  }

  std::vector<DnsmasqLease> dnsmasq_leases() const {
    std::vector<DnsmasqLease> out;
    std::istringstream in(read_file(leases_file()));
    std::string host;
    for (DnsmasqLease l; in >> l.expiry >> l.mac >> l.ip >> host >> l.client_id;) out.push_back(l);
    return out;
  }
  std::optional<DnsmasqLease> dnsmasq_lease(const std::string& ip) const {
    for (const auto& l : dnsmasq_leases())
      if (l.ip == ip) return l;
    return std::nullopt;
  }

  // The address of a result, without its length.
  static std::string ip_of(const PluginRun& add) {
    const std::string a = add.json["ips"][0].value("address", "");
    return a.substr(0, a.find('/'));
  }

  std::string mac_of(const std::string& ns) {
    auto s = socket_in(ns);
    return link::get(s, "eth0").mac->str();
  }

  pid_t daemon_ = -1, dnsmasq_ = -1;
};

TEST_F(CniDhcp, AddGivesTheAddressDnsmasqLeasedAndDelReleasesIt) {
  start_dnsmasq();
  start_daemon();
  const std::string ns1 = container(), ns2 = container();
  auto add = run("bridge", env_dhcp("ADD", "d1", ns1), conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const std::string ip1 = ip_of(add);
  EXPECT_EQ(add.json["ips"][0]["address"], ip1 + "/24");
  EXPECT_EQ(add.json["ips"][0]["gateway"], "10.77.0.1");
  EXPECT_EQ(add.json["routes"], json::parse(R"([{"dst":"0.0.0.0/0","gw":"10.77.0.1"}])")) << "the router as default route";
  EXPECT_EQ(add.json["dns"], json::parse(R"({"nameservers":["10.77.0.53"],"domain":"dht.test"})"));

  // The container has it, and dnsmasq leased exactly that to its MAC, with the reference's client identifier.
  auto cs = socket_in(ns1);
  bool has = false;
  for (const auto& a : addr::list(cs, link::get(cs, "eth0").index)) has = has || a.prefix.str() == ip1 + "/24";
  EXPECT_TRUE(has) << ip1;
  bool default_route = false;
  for (const auto& r : addr::list_routes(cs, AF_INET))
    default_route = default_route || (r.dst.length() == 0 && r.gateway && r.gateway->str() == "10.77.0.1");
  EXPECT_TRUE(default_route);
  ASSERT_TRUE(eventually([&] { return dnsmasq_lease(ip1).has_value(); }, 3s)) << read_file(leases_file());
  EXPECT_EQ(dnsmasq_lease(ip1)->mac, mac_of(ns1));
  EXPECT_EQ(dnsmasq_lease(ip1)->client_id, hex_id("d1/dhtnet/eth0"));

  auto add2 = run("bridge", env_dhcp("ADD", "d2", ns2), conf());
  ASSERT_EQ(add2.exit_code, 0) << add2.out;
  const std::string ip2 = ip_of(add2);
  EXPECT_NE(ip1, ip2);
  ASSERT_TRUE(eventually([&] { return dnsmasq_lease(ip2).has_value(); }, 3s));

  auto check = conf();
  check["prevResult"] = add.json;
  auto chk = run("bridge", env_dhcp("CHECK", "d1", ns1), check);
  EXPECT_EQ(chk.exit_code, 0) << chk.out;

  EXPECT_EQ(run("bridge", env_dhcp("DEL", "d1", ns1), conf()).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return !dnsmasq_lease(ip1); }, 3s)) << "DHCPRELEASE: " << read_file(leases_file());
  EXPECT_TRUE(dnsmasq_lease(ip2).has_value()) << "the other container keeps its lease";
  EXPECT_EQ(host_links().size(), 2u) << "the bridge and d2's veth";
  auto del_again = run("bridge", env_dhcp("DEL", "d1", ns1), conf());
  EXPECT_EQ(del_again.exit_code, 0) << "a lease the daemon does not know is no error: " << del_again.out;
  auto gone = run("bridge", env_dhcp("CHECK", "d1", ns1), check);
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.msg().find("holds no lease for d1/dhtnet/eth0"), std::string::npos) << gone.out;

  EXPECT_EQ(run("bridge", env_dhcp("DEL", "d2", ns2), conf()).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return dnsmasq_leases().empty(); }, 3s)) << read_file(leases_file());
  EXPECT_EQ(host_links(), std::vector<std::string>{"dhtbr0"});
}

TEST_F(CniDhcp, TheDaemonRenewsAtT1AndStopsOnceReleased) {
  start_dnsmasq(/*t1=*/3);  // dnsmasq 2.90 ignored a T1 of 2 s
  start_daemon();
  const std::string ns = container();
  auto add = run("bridge", env_dhcp("ADD", "r1", ns), conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const std::string ip = ip_of(add);
  ASSERT_TRUE(eventually([&] { return dnsmasq_lease(ip).has_value(); }, 3s));
  const long first = dnsmasq_lease(ip)->expiry;
  // dnsmasq moves the expiry on when it ACKs the renewal (unicast to it from the leased address at T1).
  EXPECT_TRUE(eventually([&] { auto l = dnsmasq_lease(ip); return l && l->expiry > first; }, 10s))
      << "no renewal: " << read_file(leases_file());
  EXPECT_TRUE(eventually([&] { return read_file(data_dir_ + "/daemon.log").find("r1/dhtnet/eth0: renewed " + ip + "/24") != std::string::npos; }, 2s));

  EXPECT_EQ(run("bridge", env_dhcp("DEL", "r1", ns), conf()).exit_code, 0);
  ASSERT_TRUE(eventually([&] { return !dnsmasq_lease(ip); }, 3s));
  const std::string log = read_file(data_dir_ + "/daemon.log");
  std::this_thread::sleep_for(4s);  // longer than T1
  EXPECT_FALSE(dnsmasq_lease(ip).has_value()) << "renewed after the release";
  EXPECT_EQ(read_file(data_dir_ + "/daemon.log"), log) << "the daemon kept working on the released lease";
}

TEST_F(CniDhcp, ClasslessRoutesAndPriorityReachTheContainer) {
  start_dnsmasq(30, {"--dhcp-option=121,0.0.0.0/0,10.77.0.1,10.88.0.0/16,10.77.0.254,10.99.0.0/24,0.0.0.0"});
  start_daemon();
  const std::string ns = container();
  auto add = run("bridge", env_dhcp("ADD", "s1", ns), conf({{"priority", 50}}));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json["routes"], json::parse(R"([{"dst":"0.0.0.0/0","gw":"10.77.0.1","priority":50},
                                                 {"dst":"10.88.0.0/16","gw":"10.77.0.254","priority":50},
                                                 {"dst":"10.99.0.0/24","priority":50,"scope":253}])"));
  auto cs = socket_in(ns);
  std::set<std::string> routes;
  for (const auto& r : addr::list_routes(cs, AF_INET))
    if (r.metric == 50) routes.insert(r.dst.network().str() + (r.gateway ? " via " + r.gateway->str() : " scope " + std::to_string(*r.scope)));
  EXPECT_EQ(routes, (std::set<std::string>{"0.0.0.0/0 via 10.77.0.1", "10.88.0.0/16 via 10.77.0.254", "10.99.0.0/24 scope 253"}));
  EXPECT_EQ(run("bridge", env_dhcp("DEL", "s1", ns), conf({{"priority", 50}})).exit_code, 0);
}

TEST_F(CniDhcp, GcReleasesTheLeasesNotListed) {
  start_dnsmasq();
  start_daemon();
  const std::string ns1 = container(), ns2 = container();
  auto a1 = run("bridge", env_dhcp("ADD", "g1", ns1), conf({}, "1.1.0"));
  auto a2 = run("bridge", env_dhcp("ADD", "g2", ns2), conf({}, "1.1.0"));
  ASSERT_EQ(a1.exit_code, 0) << a1.out;
  ASSERT_EQ(a2.exit_code, 0) << a2.out;
  ASSERT_TRUE(eventually([&] { return dnsmasq_leases().size() == 2; }, 3s));
  auto gc = conf({}, "1.1.0");
  gc["cni.dev/valid-attachments"] = {{{"containerID", "g1"}, {"ifname", "eth0"}}};
  auto e = env_dhcp("GC", "", "");
  auto r = run("bridge", e, gc);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(eventually([&] { return !dnsmasq_lease(ip_of(a2)) && dnsmasq_lease(ip_of(a1)); }, 3s)) << read_file(leases_file());
  auto st = run("bridge", env_dhcp("STATUS", "", ""), conf({}, "1.1.0"));
  EXPECT_EQ(st.exit_code, 0) << st.out;
}

TEST_F(CniDhcp, WithoutTheDaemonAddSaysWhatToStartAndDelIsFine) {
  const std::string ns = container();
  const std::string nobody = data_dir_ + "/nobody.sock";
  auto add = run("bridge", env_dhcp("ADD", "n1", ns), conf({{"daemonSocketPath", nobody}}));
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(add.code(), 11) << add.out;
  EXPECT_NE(add.msg().find("cannot reach the DHCP daemon at " + nobody), std::string::npos) << add.out;
  EXPECT_NE(add.msg().find("(is `ctnet cni dhcp-daemon` running?)"), std::string::npos) << add.out;
  EXPECT_EQ(host_links(), std::vector<std::string>{"dhtbr0"}) << "the veth made before IPAM is rolled back";
  auto cs = socket_in(ns);
  EXPECT_FALSE(link::find(cs, "eth0"));

  auto alone = run("dhcp", env_dhcp("ADD", "n1", ns), conf({{"daemonSocketPath", nobody}}));
  EXPECT_EQ(alone.code(), 11) << alone.out;
  EXPECT_NE(alone.msg().find("is `ctnet cni dhcp-daemon` running?"), std::string::npos) << alone.out;
  EXPECT_EQ(run("bridge", env_dhcp("DEL", "n1", ns), conf({{"daemonSocketPath", nobody}})).exit_code, 0);
  EXPECT_EQ(run("dhcp", env_dhcp("DEL", "n1", ""), conf({{"daemonSocketPath", nobody}})).exit_code, 0);
  auto st = run("dhcp", env_dhcp("STATUS", "", ""), conf({{"daemonSocketPath", nobody}}, "1.1.0"));
  EXPECT_EQ(st.code(), 50) << st.out;
  EXPECT_NE(st.msg().find("is `ctnet cni dhcp-daemon` running?"), std::string::npos) << st.out;
}

TEST_F(CniDhcp, BadConfigurationNamesTheFieldAndMakesNothing) {
  start_dnsmasq();
  start_daemon();
  const std::string ns = container();
  const std::vector<std::tuple<json, int, std::string>> cases = {
      {{{"request", "routers"}}, 6, "'ipam.request': expected an array"},
      {{{"request", {{{"option", "nosuch"}}}}}, 7, "'ipam.request[0].option': 'nosuch' is not a DHCP option"},
      {{{"request", {{{"option", 3}}}}}, 6, "'ipam.request[0].option': expected a string"},
      {{{"request", {{{"option", "routers"}, {"skipDefault", "yes"}}}}}, 6, "'ipam.request[0].skipDefault': expected true or false"},
      {{{"request", {"routers"}}}, 6, "'ipam.request[0]': expected an object"},
      {{{"provide", {{{"option", "host-name"}, {"value", 5}}}}}, 6, "'ipam.provide[0].value': expected a string"},
      {{{"provide", {{{"option", "300"}, {"value", "x"}}}}}, 7, "'ipam.provide[0].option': '300' is not a DHCP option"},
      {{{"provide", {{{"value", "x"}}}}}, 7, "'ipam.provide[0].option': missing"},
      {{{"provide", {{{"option", "53"}, {"value", "x"}}}}}, 7, "'ipam.provide[0].option': option 53 is the client's own"},
      {{{"provide", {{{"option", "host-name"}, {"value", std::string(256, 'h')}}}}}, 7, "'ipam.provide[0].value': 256 bytes"},
      {{{"daemonSocketPath", "dhcp.sock"}}, 7, "'ipam.daemonSocketPath': 'dhcp.sock' is not an absolute path"},
      {{{"daemonSocketPath", 1}}, 6, "'ipam.daemonSocketPath': expected a string"},
      {{{"priority", "high"}}, 6, "'ipam.priority': expected an integer"},
      {{{"priority", -1}}, 7, "'ipam.priority': -1 is not a route metric"},
  };
  for (const auto& [ipam, code, says] : cases) {
    SCOPED_TRACE(ipam.dump());
    for (const char* plugin : {"dhcp", "bridge"}) {
      auto r = run(plugin, env_dhcp("ADD", "b1", ns), conf(ipam));
      EXPECT_EQ(r.exit_code, 1) << plugin << ": " << r.out;
      EXPECT_EQ(r.code(), code) << plugin << ": " << r.out;
      EXPECT_NE(r.msg().find(says), std::string::npos) << plugin << ": " << r.msg();
    }
  }
  EXPECT_EQ(host_links(), std::vector<std::string>{"dhtbr0"});
  auto cs = socket_in(ns);
  EXPECT_FALSE(link::find(cs, "eth0"));
  EXPECT_TRUE(dnsmasq_leases().empty()) << "no lease was asked for";
  // A provided host name reaches the server (dnsmasq writes it into its lease file).
  auto ok = run("bridge", env_dhcp("ADD", "b2", ns),
                conf({{"provide", {{{"option", "host-name"}, {"value", "dht-web"}}}}, {"request", {{{"skipDefault", false}}}}}));
  ASSERT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_TRUE(eventually([&] { return read_file(leases_file()).find(" dht-web ") != std::string::npos; }, 3s))
      << read_file(leases_file());
  EXPECT_EQ(run("bridge", env_dhcp("DEL", "b2", ns), conf()).exit_code, 0);
}

}  // namespace
}  // namespace ctnet::test
