// macvlan (and the ipvlan error path) on this machine's kernel. Everything happens in namespaces the test makes:
// a throwaway "host" namespace holds the parent (a veth end the test created, never eth0) and the children go to
// two container namespaces. Kernel state is checked through netlink; the fixture removes every namespace even
// when a test fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "addr/address.h"
#include "addr/route.h"
#include "link/link.h"
#include "link/veth.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "ns/sysctl.h"
#include "ops/ping.h"
#include "ops/subif.h"
#include "util/error.h"

using namespace ctnet;

namespace {

class Kinds : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tag = "tkrn-" + std::to_string(getpid() % 100000);
    host_name = tag + "-h";
    a_name = tag + "-a";
    b_name = tag + "-b";
    for (auto* n : {&host_name, &a_name, &b_name}) {
      NetNs::remove_named(*n);
      NetNs::create_named(*n);
    }
    host.emplace(NsSocket::open(host_name));
    a.emplace(NsSocket::open(a_name));
    b.emplace(NsSocket::open(b_name));
    link::VethSpec v;
    v.name = "tkrnp0";
    v.peer_name = "tkrnp1";
    v.up = true;
    link::create_veth(host->rtnl, v);
    int peer = link::get(host->rtnl, "tkrnp1").index;
    link::change(host->rtnl, peer, {.up = true}, "peer up");
  }
  void TearDown() override {
    a.reset();
    b.reset();
    host.reset();
    for (auto* n : {&host_name, &a_name, &b_name}) NetNs::remove_named(*n);
  }

  static ops::SubifSpec macvlan(const std::string& addr, const std::string& name = "eth0") {
    ops::SubifSpec s;
    s.kind = ops::SubifKind::macvlan;
    s.parent = "tkrnp0";
    s.name = name;
    s.addresses = {Prefix::parse(addr, "addr")};
    return s;
  }
  // Reachability, not speed: several echoes, so a shared machine dropping a packet under load (softnet backlog
  // drops) does not fail the test; one reply proves the path.
  static bool reaches(const NetNs& from, const std::string& to) {
    return ping(from, IpAddress::parse(to, "target"), {.count = 4}).ok();
  }
  static std::vector<std::string> names(NsSocket& ns) {
    std::vector<std::string> out;
    for (auto& l : link::list(ns.rtnl)) out.push_back(l.name);
    return out;
  }
  // Runs the CLI inside the throwaway host namespace (`ip` only places the process there).
  int cli(const std::string& args, std::string* out = nullptr) {
    std::string cmd = "ip netns exec " + host_name + " " + CTNET_BINARY + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string text;
    char buf[512];
    while (p && fgets(buf, sizeof buf, p)) text += buf;
    int rc = p ? pclose(p) : -1;
    if (out) *out = text;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  std::string host_name, a_name, b_name;
  std::optional<NsSocket> host, a, b;
};

TEST_F(Kinds, MacvlanChildrenInTwoNamespacesReachEachOther) {
  auto ra = ops::add_subif(host_name, a_name, macvlan("10.99.0.1/24"));
  ops::add_subif(host_name, b_name, macvlan("10.99.0.2/24"));
  auto l = link::get(a->rtnl, "eth0");
  EXPECT_EQ(l.kind, "macvlan");
  EXPECT_TRUE(l.is_up());
  EXPECT_EQ(l.mtu, link::get(host->rtnl, "tkrnp0").mtu);
  EXPECT_EQ(ra.index, l.index);
  auto addrs = addr::list(a->rtnl, l.index, AF_INET);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0].prefix.str(), "10.99.0.1/24");
  EXPECT_TRUE(reaches(a->ns, "10.99.0.2"));
  // Nothing with a temporary name is left in the parent's namespace.
  for (auto& n : names(*host)) EXPECT_FALSE(n.starts_with("mvtm")) << n;
}

TEST_F(Kinds, ModeMacAndMtuAreWhatWasAsked) {
  auto s = macvlan("10.99.1.1/24", "mv1");
  s.macvlan_mode = link::MacvlanMode::private_;
  s.mac = MacAddress::parse("02:00:00:99:01:01", "mac");
  s.mtu = 1400;
  auto r = ops::add_subif(host_name, a_name, s);
  auto l = link::get(a->rtnl, "mv1");
  EXPECT_EQ(l.mtu, 1400u);
  ASSERT_TRUE(l.mac);
  EXPECT_EQ(l.mac->str(), "02:00:00:99:01:01");
  EXPECT_EQ(r.mac->str(), "02:00:00:99:01:01");
}

TEST_F(Kinds, PrivateChildrenCannotTalk) {
  auto s1 = macvlan("10.99.2.1/24");
  s1.macvlan_mode = link::MacvlanMode::private_;
  auto s2 = macvlan("10.99.2.2/24");
  s2.macvlan_mode = link::MacvlanMode::private_;
  ops::add_subif(host_name, a_name, s1);
  ops::add_subif(host_name, b_name, s2);
  EXPECT_FALSE(ping(a->ns, IpAddress::parse("10.99.2.2", "t"), {.count = 1, .timeout = std::chrono::milliseconds(500)}).ok());
}

TEST_F(Kinds, ANameTakenInTheParentNamespaceDoesNotMatter) {
  // The child is born under a temporary name and renamed inside the target namespace.
  ops::add_subif(host_name, a_name, macvlan("10.99.3.1/24", "tkrnp1"));
  EXPECT_EQ(link::get(a->rtnl, "tkrnp1").kind, "macvlan");
  EXPECT_EQ(link::get(host->rtnl, "tkrnp1").kind, "veth");
}

TEST_F(Kinds, MtuAboveTheParentIsRefusedAndNothingIsCreated) {
  auto before_a = names(*a), before_h = names(*host);
  auto s = macvlan("10.99.4.1/24");
  s.mtu = 9000;
  try {
    ops::add_subif(host_name, a_name, s);
    FAIL() << "an MTU above the parent's was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--mtu");
  }
  EXPECT_EQ(names(*a), before_a);
  EXPECT_EQ(names(*host), before_h);
}

TEST_F(Kinds, AKernelRefusalAfterCreationRollsBack) {
  // IPv6 off in the target: the child is created, renamed and up before the kernel refuses its address; the
  // transaction must remove the child.
  auto before_a = names(*a), before_h = names(*host);
  write_sysctl("net.ipv6.conf.all.disable_ipv6", "1", &a->ns);
  write_sysctl("net.ipv6.conf.default.disable_ipv6", "1", &a->ns);
  try {
    ops::add_subif(host_name, a_name, macvlan("fd00:99:5::1/64"));
    FAIL() << "an IPv6 address was added in a namespace without IPv6";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fd00:99:5::1/64"), std::string::npos) << e.what();
  }
  EXPECT_EQ(names(*a), before_a);
  EXPECT_EQ(names(*host), before_h);
  // A MAC equal to the parent's (the kernel would create the child and then refuse to open it, EADDRINUSE from
  // macvlan_open) is refused before anything is made, naming the option.
  auto s = macvlan("10.99.5.1/24");
  s.mac = link::get(host->rtnl, "tkrnp0").mac;
  try {
    ops::add_subif(host_name, a_name, s);
    FAIL() << "a macvlan with its parent's MAC was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--mac") << e.what();
  }
  EXPECT_EQ(names(*host), before_h);
}

TEST_F(Kinds, InvalidInputIsRefusedBeforeTheKernel) {
  auto s = macvlan("10.99.6.1/24", "bad/name");
  EXPECT_THROW(ops::add_subif(host_name, a_name, s), InvalidInput);
  auto m = macvlan("10.99.6.1/24");
  m.kind = ops::SubifKind::ipvlan;
  m.mac = MacAddress::parse("02:00:00:00:00:01", "mac");
  EXPECT_THROW(ops::add_subif(host_name, a_name, m), InvalidInput);
  auto g = macvlan("10.99.6.1/24");
  g.gateway = IpAddress::parse("10.98.0.1", "gw");
  EXPECT_THROW(ops::add_subif(host_name, a_name, g), InvalidInput);
  auto np = macvlan("10.99.6.1/24");
  np.parent = "tkrnnosuch";
  EXPECT_THROW(ops::add_subif(host_name, a_name, np), Error);
  EXPECT_EQ(names(*a).size(), 1u);  // lo
}

TEST_F(Kinds, RemoveIsIdempotentAndOnlyRemovesItsKind) {
  ops::add_subif(host_name, a_name, macvlan("10.99.7.1/24"));
  EXPECT_TRUE(ops::remove_subif(a_name, ops::SubifKind::macvlan, "eth0"));
  EXPECT_FALSE(link::find(a->rtnl, "eth0"));
  EXPECT_FALSE(ops::remove_subif(a_name, ops::SubifKind::macvlan, "eth0"));
  EXPECT_THROW(ops::remove_subif(host_name, ops::SubifKind::macvlan, "tkrnp0"), Error);
  EXPECT_TRUE(link::find(host->rtnl, "tkrnp0"));
}

TEST_F(Kinds, IpvlanNeedsItsDriver) {
  ops::SubifSpec s = macvlan("10.99.8.1/24");
  s.kind = ops::SubifKind::ipvlan;
  auto before_a = names(*a), before_h = names(*host);
  if (ops::kernel_knows_kind(ops::SubifKind::ipvlan)) {
    ops::add_subif(host_name, a_name, s);
    EXPECT_EQ(link::get(a->rtnl, "eth0").kind, "ipvlan");
    return;
  }
  try {
    ops::add_subif(host_name, a_name, s);
    FAIL() << "ipvlan created on a kernel said to lack it";
  } catch (const Error& e) {
    // The one message of the ipvlan driver check (kinds/subif.cpp), whichever face asks.
    EXPECT_TRUE(e.context().starts_with("this kernel has no ipvlan driver")) << e.context();
    EXPECT_NE(e.context().find("load the ipvlan module"), std::string::npos) << e.context();
  }
  EXPECT_EQ(names(*a), before_a);
  EXPECT_EQ(names(*host), before_h);
}

TEST_F(Kinds, ShimLetsTheHostReachItsMacvlanChildren) {
  int p0 = link::get(host->rtnl, "tkrnp0").index;
  addr::add(host->rtnl, p0, Prefix::parse("10.99.9.253/24", "a"), "tkrnp0");
  ops::add_subif(host_name, a_name, macvlan("10.99.9.1/24"));
  const auto child = IpAddress::parse("10.99.9.1", "t");
  EXPECT_FALSE(ping(host->ns, child, {.count = 1, .timeout = std::chrono::milliseconds(500)}).ok());
  ops::ShimSpec sh;
  sh.parent = "tkrnp0";
  sh.address = Prefix::parse("10.99.9.254/32", "a");
  sh.routes = {Prefix::parse("10.99.9.0/28", "r")};
  auto r = ops::add_shim(host_name, sh);
  EXPECT_EQ(r.name, "shim-tkrnp0");
  EXPECT_EQ(link::get(host->rtnl, "shim-tkrnp0").kind, "macvlan");
  EXPECT_TRUE(reaches(host->ns, "10.99.9.1"));
  EXPECT_TRUE(ops::remove_subif(host_name, ops::SubifKind::macvlan, "shim-tkrnp0"));
}

TEST_F(Kinds, DoctorHelperSeesChildrenWithoutAShim) {
  ops::add_subif(host_name, a_name, macvlan("10.99.11.1/24"));
  ops::add_subif(host_name, b_name, macvlan("10.99.11.2/24", "mv"));
  auto ps = ops::macvlan_parents(*host);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].parent, "tkrnp0");
  EXPECT_EQ(ps[0].children, (std::vector<std::string>{a_name + "/eth0", b_name + "/mv"}));
  EXPECT_FALSE(ps[0].host_reaches_children());
  ops::ShimSpec sh;
  sh.parent = "tkrnp0";
  sh.address = Prefix::parse("10.99.11.254/32", "a");
  ops::add_shim(host_name, sh);
  ps = ops::macvlan_parents(*host);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_TRUE(ps[0].host_reaches_children());
  EXPECT_EQ(ps[0].shims, (std::vector<std::string>{"shim-tkrnp0"}));
}

TEST_F(Kinds, CliAddsAndRemovesAMacvlan) {
  std::string out;
  ASSERT_EQ(cli("macvlan add " + a_name + " --parent tkrnp0 --mode vepa --addr 10.99.10.1/24 --name cli0", &out), 0) << out;
  EXPECT_NE(out.find("macvlan cli0 in " + a_name), std::string::npos) << out;
  EXPECT_EQ(link::get(a->rtnl, "cli0").kind, "macvlan");
  EXPECT_EQ(cli("macvlan add " + a_name + " --parent tkrnp0 --mtu 65000 --name cli1", &out), 2) << out;
  EXPECT_NE(out.find("larger than the MTU"), std::string::npos) << out;
  ASSERT_EQ(cli("macvlan del " + a_name + " --name cli0", &out), 0) << out;
  EXPECT_FALSE(link::find(a->rtnl, "cli0"));
  ASSERT_EQ(cli("macvlan del " + a_name + " --name cli0", &out), 0) << out;
  EXPECT_NE(out.find("absent"), std::string::npos);
}

}  // namespace
