// The sbr plugin chained after ctnet's bridge (host-local IPAM), in a throwaway host namespace: the rules and the
// tables' routes read back with `ip -j` in the container (one table per address from 100, dual stack, as the
// reference makes them: compared with /usr/lib/cni/sbr), traffic from each source address leaving through its
// own interface (UDP datagrams whose arrival interface the host reads with IP_PKTINFO), the `table`, `gateways`
// and `addSourceHints` keys, CHECK, DEL (twice, and leaving a rule of someone else's), the rollback of an ADD that
// failed half-way, and bad input refused before anything changes. Then the vrf plugin: this machine's kernel has
// no VRF driver (the plugin is proved in the kernel suite, tests/kernel/suites/vrf.sh), so here it must say so
// and leave nothing, and its bad input is refused first.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <set>

#include "integration/cni_harness.h"
#include "ns/netns.h"
#include "support/run.h"
#include "util/fd.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

std::string ns_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

json ip_json(std::vector<std::string> args) {
  std::vector<std::string> argv{"ip", "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run(argv);
  auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json::array() : j;
}

class CniSbr : public CniFixture {
 protected:
  CniSbr() { prefix_ = "sbt"; }

  // A bridge network: ranges (one range set per subnet), optionally with default routes of each family.
  json bridge_net(const std::string& name, const std::string& bridge, std::vector<std::string> subnets, bool routes) const {
    json ranges = json::array(), rs = json::array();
    for (const auto& s : subnets) {
      ranges.push_back(json::array({{{"subnet", s}}}));
      rs.push_back({{"dst", s.find(':') == std::string::npos ? "0.0.0.0/0" : "::/0"}});
    }
    json ipam = {{"type", "host-local"}, {"ranges", ranges}, {"dataDir", data_dir_}};
    if (routes) ipam["routes"] = rs;
    return {{"cniVersion", "1.0.0"}, {"name", name}, {"type", "bridge"}, {"bridge", bridge}, {"isGateway", true}, {"ipam", ipam}};
  }
  json attach(const json& net, const std::string& id, const std::string& ns, const std::string& ifname = "eth0") {
    auto r = run("bridge", env("ADD", id, ns, ifname), net);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.json;
  }
  json sbr(const json& prev, json keys = json::object()) const {
    keys["cniVersion"] = "1.0.0";
    keys["name"] = "sbtnet";
    keys["type"] = "sbr";
    if (!prev.is_null()) keys["prevResult"] = prev;
    return keys;
  }

  // Rules of both families as "PRIORITY: from SRC lookup TABLE" (the defaults included).
  static std::set<std::string> rules(const std::string& ns) {
    std::set<std::string> out;
    for (const char* f : {"-4", "-6"})
      for (const auto& r : ip_json({"-n", ns_name(ns), f, "rule", "show"}))
        out.insert(std::to_string(r.value("priority", -1)) + ": from " + r.value("src", "?") + " lookup " + r.value("table", "?"));
    return out;
  }
  // Unicast routes of both families in `table` ("all": every table), as "TABLE DST via GW dev DEV src SRC".
  static std::set<std::string> routes(const std::string& ns, const std::string& table = "all") {
    std::set<std::string> out;
    for (const char* f : {"-4", "-6"})
      for (const auto& r : ip_json({"-n", ns_name(ns), f, "route", "show", "table", table})) {
        if (r.value("type", "unicast") != "unicast") continue;
        // `ip` names the table only when it lists several.
        std::string s = (table == "all" ? r.value("table", "main") : table) + " " + r.value("dst", "?");
        if (r.contains("gateway")) s += " via " + r["gateway"].get<std::string>();
        s += " dev " + r.value("dev", "?");
        if (r.contains("prefsrc")) s += " src " + r["prefsrc"].get<std::string>();
        out.insert(s);
      }
    return out;
  }
  // Everything sbr may touch in the container.
  static std::set<std::string> state(const std::string& ns) {
    auto s = rules(ns);
    for (const auto& r : routes(ns)) s.insert(r);
    return s;
  }
  static std::string address(const json& result, size_t i) {
    const std::string a = result["ips"][i]["address"];
    return a.substr(0, a.find('/'));
  }
};

TEST_F(CniSbr, MovesEachAddressRoutesIntoATableOfItsOwn) {
  const std::string ns = container();
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.97.0.0/24", "fd00:97::/64"}, true);
  const json prev = attach(net, "s1", ns);
  ASSERT_EQ(prev["ips"].size(), 2u);
  const std::string a4 = address(prev, 0), a6 = address(prev, 1);
  auto add = run("sbr", env("ADD", "s1", ns), sbr(prev));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json, prev) << "sbr passes prevResult through";

  // One table per address, from 100, each with the address's rule at the kernel's default priority.
  const auto r = rules(ns);
  EXPECT_TRUE(r.count("32765: from " + a4 + " lookup 100")) << testing::PrintToString(r);
  EXPECT_TRUE(r.count("32765: from " + a6 + " lookup 101")) << testing::PrintToString(r);
  const auto t100 = routes(ns, "100"), t101 = routes(ns, "101");
  EXPECT_TRUE(t100.count("100 default via 10.97.0.1 dev eth0")) << testing::PrintToString(t100);
  EXPECT_TRUE(t100.count("100 10.97.0.0/24 dev eth0 src " + a4)) << testing::PrintToString(t100);
  EXPECT_TRUE(t101.count("101 default via fd00:97::1 dev eth0")) << testing::PrintToString(t101);
  EXPECT_TRUE(t101.count("101 fd00:97::/64 dev eth0")) << testing::PrintToString(t101);
  for (const auto& x : routes(ns, "main")) EXPECT_EQ(x.find("dev eth0"), std::string::npos) << "left in main: " << x;

  auto check = sbr(prev);
  EXPECT_EQ(run("sbr", env("CHECK", "s1", ns), check).exit_code, 0);
  test::run({"ip", "-n", ns_name(ns), "-6", "rule", "del", "from", a6, "lookup", "101"});
  auto bad = run("sbr", env("CHECK", "s1", ns), check);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.msg().find("no rule from " + a6), std::string::npos) << bad.msg();
  // Back as it was: DEL finds a table through its rule.
  test::run({"ip", "-n", ns_name(ns), "-6", "rule", "add", "from", a6, "lookup", "101", "priority", "32765"});

  // DEL finds the rules by the interface's addresses and empties their tables.
  ASSERT_EQ(run("sbr", env("DEL", "s1", ns), sbr(nullptr)).exit_code, 0);
  for (const auto& x : rules(ns)) EXPECT_EQ(x.find("from " + a4), std::string::npos) << x;
  EXPECT_TRUE(routes(ns, "100").empty()) << testing::PrintToString(routes(ns, "100"));
  EXPECT_TRUE(routes(ns, "101").empty()) << testing::PrintToString(routes(ns, "101"));
  EXPECT_EQ(run("sbr", env("DEL", "s1", ns), sbr(nullptr)).exit_code, 0) << "DEL twice";
  EXPECT_EQ(run("sbr", env("DEL", "s1", ""), sbr(nullptr)).exit_code, 0) << "DEL without CNI_NETNS";
  EXPECT_EQ(run("bridge", env("DEL", "s1", ns), net).exit_code, 0);
  EXPECT_EQ(run("sbr", env("DEL", "s1", ns), sbr(nullptr)).exit_code, 0) << "DEL with the interface gone";
  remove_container(ns);
  EXPECT_EQ(run("sbr", env("DEL", "s1", ns), sbr(nullptr)).exit_code, 0) << "DEL with the namespace gone";
}

// The reference (Debian's /usr/lib/cni/sbr) and ctnet, each after ctnet's bridge in a container of its own, leave
// the same rules and tables (addresses written as A4 / A6).
TEST_F(CniSbr, SameRulesAndTablesAsTheReference) {
  if (!std::filesystem::exists("/usr/lib/cni/sbr")) GTEST_SKIP() << "no reference sbr";
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.96.0.0/24", "fd00:96::/64"}, true);
  std::set<std::string> seen[2];
  for (int ref = 0; ref < 2; ++ref) {
    const std::string ns = container(), id = "r" + std::to_string(ref);
    const json prev = attach(net, id, ns);
    auto r = ref ? run_reference("sbr", env("ADD", id, ns), sbr(prev)) : run("sbr", env("ADD", id, ns), sbr(prev));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    for (std::string s : state(ns)) {
      for (const auto& [a, as] : {std::pair{address(prev, 0), "A4"}, std::pair{address(prev, 1), "A6"}})
        for (size_t at; (at = s.find(a)) != std::string::npos;) s.replace(at, a.size(), as);
      seen[ref].insert(s);
    }
  }
  EXPECT_EQ(seen[0], seen[1]);
}

// Three interfaces on three bridges: eth0 stays in the main table, net1 and net2 get sbr. A datagram to an
// address of the host's own (on its lo) arrives on the bridge of the interface whose source it carries.
TEST_F(CniSbr, TrafficFromEachSourceLeavesThroughItsOwnInterface) {
  const std::string ns = container();
  test::run({"ip", "-n", host_name_, "link", "set", "lo", "up"});
  test::run({"ip", "-n", host_name_, "addr", "add", "10.200.0.1/32", "dev", "lo"});
  const json a = bridge_net("sbtnet-a", "sbtbr-a", {"10.91.0.0/24"}, true);
  const json b = bridge_net("sbtnet-b", "sbtbr-b", {"10.92.0.0/24"}, false);
  const json c = bridge_net("sbtnet-c", "sbtbr-c", {"10.93.0.0/24"}, false);
  attach(a, "s3", ns, "eth0");
  const json pb = attach(b, "s3", ns, "net1");
  const json pc = attach(c, "s3", ns, "net2");
  ASSERT_EQ(run("sbr", env("ADD", "s3", ns, "net1"), sbr(pb)).exit_code, 0);
  ASSERT_EQ(run("sbr", env("ADD", "s3", ns, "net2"), sbr(pc)).exit_code, 0);
  const std::string sb = address(pb, 0), sc = address(pc, 0);
  EXPECT_TRUE(rules(ns).count("32765: from " + sb + " lookup 100"));
  EXPECT_TRUE(rules(ns).count("32764: from " + sc + " lookup 101")) << "the next free table, one priority up";

  // The host's receiving socket (any address, port 9999) and the interface each datagram arrived on.
  Fd rx;
  {
    NsGuard in(*host_);
    rx = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  }
  int on = 1;
  ASSERT_EQ(setsockopt(rx.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on), 0);
  sockaddr_in any{.sin_family = AF_INET, .sin_port = htons(9999), .sin_addr = {htonl(INADDR_ANY)}};
  ASSERT_EQ(bind(rx.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  NetNs cns = NetNs::open_path(ns);
  auto arrives_on = [&](const std::string& src) -> std::string {
    Fd tx;
    {
      NsGuard in(cns);
      tx = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    if (!src.empty()) {
      sockaddr_in from{.sin_family = AF_INET};
      inet_pton(AF_INET, src.c_str(), &from.sin_addr);
      if (bind(tx.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return "bind failed";
    }
    sockaddr_in to{.sin_family = AF_INET, .sin_port = htons(9999)};
    inet_pton(AF_INET, "10.200.0.1", &to.sin_addr);
    if (sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != 1) return "sendto failed";
    pollfd p{.fd = rx.get(), .events = POLLIN};
    if (poll(&p, 1, 3000) != 1) return "nothing arrived";
    char buf[16], ctl[256];
    iovec iov{buf, sizeof buf};
    msghdr mh{.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    if (recvmsg(rx.get(), &mh, 0) < 0) return "recvmsg failed";
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        auto* pi = reinterpret_cast<in_pktinfo*>(CMSG_DATA(c));
        auto hs = host_socket();
        auto l = link::find(hs, pi->ipi_ifindex);
        return l ? l->name : "#" + std::to_string(pi->ipi_ifindex);
      }
    return "no IP_PKTINFO";
  };
  EXPECT_EQ(arrives_on(""), "sbtbr-a") << "no source chosen: the main table, eth0";
  EXPECT_EQ(arrives_on(sb), "sbtbr-b") << "from net1's address: table 100, net1";
  EXPECT_EQ(arrives_on(sc), "sbtbr-c") << "from net2's address: table 101, net2";

  // DEL of net1's sbr leaves net2's alone.
  ASSERT_EQ(run("sbr", env("DEL", "s3", ns, "net1"), sbr(nullptr)).exit_code, 0);
  EXPECT_FALSE(rules(ns).count("32765: from " + sb + " lookup 100"));
  EXPECT_TRUE(routes(ns, "100").empty());
  EXPECT_TRUE(rules(ns).count("32764: from " + sc + " lookup 101"));
  EXPECT_FALSE(routes(ns, "101").empty());
  EXPECT_EQ(arrives_on(sc), "sbtbr-c");
}

// `table`: rules only, to that table; DEL removes the rules to that table only.
TEST_F(CniSbr, TableKeyAddsRulesOnly) {
  const std::string ns = container();
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.95.0.0/24", "fd00:95::/64"}, true);
  const json prev = attach(net, "s4", ns);
  const std::string a4 = address(prev, 0), a6 = address(prev, 1);
  const auto main_before = routes(ns, "main");
  ASSERT_EQ(run("sbr", env("ADD", "s4", ns), sbr(prev, {{"table", 500}})).exit_code, 0);
  EXPECT_TRUE(rules(ns).count("32765: from " + a4 + " lookup 500"));
  EXPECT_TRUE(rules(ns).count("32765: from " + a6 + " lookup 500"));
  EXPECT_EQ(routes(ns, "main"), main_before) << "the routes stay where they are";
  EXPECT_TRUE(routes(ns, "500").empty());
  EXPECT_EQ(run("sbr", env("CHECK", "s4", ns), sbr(prev, {{"table", 500}})).exit_code, 0);
  // A rule of someone else's from the same address.
  test::run({"ip", "-n", ns_name(ns), "rule", "add", "from", a4, "lookup", "600", "priority", "100"});
  ASSERT_EQ(run("sbr", env("DEL", "s4", ns), sbr(nullptr, {{"Table", 500}})).exit_code, 0) << "keys are matched as Go matches them";
  const auto after = rules(ns);
  EXPECT_FALSE(after.count("32765: from " + a4 + " lookup 500"));
  EXPECT_FALSE(after.count("32765: from " + a6 + " lookup 500"));
  EXPECT_TRUE(after.count("100: from " + a4 + " lookup 600")) << "not ours: it stays";
}

// `gateways` replace prevResult's gateways; `addSourceHints` keeps the subnet routes in the main table with the
// address as their source and takes out the rest.
TEST_F(CniSbr, GatewaysAndSourceHints) {
  const std::string ns = container();
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.94.0.0/24", "fd00:94::/64"}, false);
  const json prev = attach(net, "s5", ns);
  const std::string a4 = address(prev, 0), a6 = address(prev, 1);
  auto add = run("sbr", env("ADD", "s5", ns),
                 sbr(prev, {{"gateways", {"10.94.0.254", "fd00:94::fe"}}, {"addSourceHints", true}}));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_TRUE(routes(ns, "100").count("100 default via 10.94.0.254 dev eth0")) << testing::PrintToString(routes(ns, "100"));
  EXPECT_TRUE(routes(ns, "101").count("101 default via fd00:94::fe dev eth0")) << testing::PrintToString(routes(ns, "101"));
  const auto main = routes(ns, "main");
  EXPECT_TRUE(main.count("main 10.94.0.0/24 dev eth0 src " + a4)) << testing::PrintToString(main);
  EXPECT_TRUE(main.count("main fd00:94::/64 dev eth0 src " + a6)) << testing::PrintToString(main);
  EXPECT_EQ(run("sbr", env("DEL", "s5", ns), sbr(nullptr)).exit_code, 0);
  EXPECT_TRUE(routes(ns, "100").empty());
  EXPECT_TRUE(routes(ns, "101").empty());
}

// The IPv6 gateway cannot be reached: the kernel refuses the second table's default route after the first
// table was made. The rollback puts everything back, and DEL after it (as a runtime runs it) is fine.
TEST_F(CniSbr, AFailedAddRemovesWhatItMadeAndDelAfterItIsFine) {
  const std::string ns = container();
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.90.0.0/24", "fd00:90::/64"}, true);
  const json prev = attach(net, "s6", ns);
  const auto before = state(ns);
  auto add = run("sbr", env("ADD", "s6", ns), sbr(prev, {{"gateways", {"fd00:250::1"}}}));
  EXPECT_EQ(add.exit_code, 1) << add.out;
  EXPECT_EQ(add.code(), 100) << add.out;
  EXPECT_NE(add.msg().find("cannot add route default via fd00:250::1"), std::string::npos) << add.msg();
  EXPECT_EQ(state(ns), before) << "rules, table 100 and the main table's routes as they were";
  EXPECT_EQ(run("sbr", env("DEL", "s6", ns), sbr(nullptr)).exit_code, 0);
  EXPECT_EQ(state(ns), before);
}

TEST_F(CniSbr, BadInputIsRefusedBeforeAnythingChanges) {
  const std::string ns = container();
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.89.0.0/24"}, true);
  const json prev = attach(net, "s7", ns);
  const auto before = state(ns);
  json other = prev;  // its address belongs to another interface
  other["ips"][0]["interface"] = 1;
  const std::vector<std::pair<json, std::string>> cases = {
      {sbr(prev, {{"table", 0}}), "'table': 0 is not a routing table"},
      {sbr(prev, {{"table", -1}}), "'table': -1 is not a routing table"},
      {sbr(prev, {{"table", 4294967296}}), "'table': 4294967296 is not a routing table"},
      {sbr(prev, {{"table", "100"}}), "'table'"},
      {sbr(prev, {{"gateways", "10.89.0.1"}}), "'gateways'"},
      {sbr(prev, {{"gateways", {1}}}), "'gateways[0]'"},
      {sbr(prev, {{"gateways", {"nope"}}}), "'gateways[0]': 'nope' is not an IP address"},
      {sbr(prev, {{"gateways", {"10.89.0.1", "10.89.0.2"}}}), "'gateways[1]': a second IPv4 gateway"},
      {sbr(prev, {{"gateways", {"10.89.0.1", "fd00::1", "fd00::2"}}}), "'gateways': holds at most 2"},
      {sbr(prev, {{"addSourceHints", "yes"}}), "'addSourceHints'"},
      {sbr(nullptr), "'prevResult': missing"},
      {sbr(other), "'prevResult.ips': no IP address of interface eth0"},
  };
  for (const auto& [conf, says] : cases) {
    SCOPED_TRACE(conf.dump());
    auto r = run("sbr", env("ADD", "s7", ns), conf);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
    EXPECT_EQ(state(ns), before);
  }
  json unnamed = prev;  // an address that names no interface counts for CNI_IFNAME, which the container lacks
  unnamed["ips"][0].erase("interface");
  auto missing = run("sbr", env("ADD", "s7", ns, "eth9"), sbr(unnamed));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.msg().find("eth9"), std::string::npos) << missing.msg();
  EXPECT_EQ(state(ns), before);
}

class CniVrf : public CniSbr {};

// No VRF driver in this kernel: a clear error, and nothing made. Bad input is refused before the driver matters.
TEST_F(CniVrf, MissingDriverIsAClearErrorAndLeavesNothing) {
  const std::string ns = container();
  const json net = bridge_net("sbtnet", "sbtbr0", {"10.88.0.0/24", "fd00:88::/64"}, true);
  const json prev = attach(net, "v1", ns);
  auto links = [&] {
    std::set<std::string> out;
    for (const auto& l : ip_json({"-n", ns_name(ns), "-d", "link", "show"}))
      out.insert(l.value("ifname", "?") + " master=" + l.value("master", "-"));
    return out;
  };
  const auto before = state(ns);
  const auto links_before = links();
  auto vrf = [&](json keys, const std::string& version = "1.0.0") {
    keys["cniVersion"] = version;
    keys["name"] = "sbtnet";
    keys["type"] = "vrf";
    keys["prevResult"] = prev;
    return keys;
  };
  if (std::filesystem::exists("/sys/module/vrf")) GTEST_SKIP() << "this kernel has the vrf driver";
  auto r = run("vrf", env("ADD", "v1", ns), vrf({{"vrfname", "sbtblue"}}));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.code(), 100) << r.out;
  EXPECT_NE(r.msg().find("no VRF driver (CONFIG_NET_VRF): load the vrf module"), std::string::npos) << r.msg();
  EXPECT_EQ(state(ns), before);
  EXPECT_EQ(links(), links_before);
  EXPECT_EQ(run("vrf", env("DEL", "v1", ns), vrf({{"vrfname", "sbtblue"}})).exit_code, 0) << "DEL after it is fine";

  const std::vector<std::tuple<json, std::string, std::string>> cases = {
      {vrf(json::object()), "1.0.0", "'vrfname': missing"},
      {vrf({{"vrfname", "a%d"}}), "1.0.0", "'vrfname'"},
      {vrf({{"vrfname", "sixteen-bytes-xx"}}), "1.0.0", "'vrfname'"},
      {vrf({{"vrfname", "sbtblue"}, {"table", -1}}), "1.0.0", "'table': -1 is not a routing table"},
      {vrf({{"vrfname", "sbtblue"}, {"table", "7"}}), "1.0.0", "'table'"},
      {vrf({{"vrfname", "sbtblue"}}, "0.3.0"), "0.3.0", "vrf needs cniVersion 0.3.1 or later"},
  };
  for (const auto& [conf, version, says] : cases) {
    SCOPED_TRACE(conf.dump());
    json c = conf;
    c["cniVersion"] = version;
    auto x = run("vrf", env("ADD", "v1", ns), c);
    EXPECT_EQ(x.exit_code, 1) << x.out;
    EXPECT_NE(x.msg().find(says), std::string::npos) << x.msg();
  }
  EXPECT_EQ(state(ns), before);
  EXPECT_EQ(links(), links_before);
}

}  // namespace
}  // namespace ctnet::test
