// The portmap plugin chained after bridge, as podman's and containerd's networks chain it: a host port reached
// from another machine (a client namespace routed through the host), from the host's own localhost, from the
// container itself and from a neighbour on the same bridge; never for traffic only passing through the host;
// a port another container holds refused with its owner named; CHECK, GC, DEL without a namespace and without
// prevResult (containerd's repeated DEL), and bad input refused before anything is made. The kernel's state is
// read back with `nft` and `ip` in the throwaway host namespace.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "integration/cni_harness.h"
#include "nft/portmap.h"
#include "support/run.h"
#include "support/tcp.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniPortmap : public CniFixture {
 protected:
  void SetUp() override {
    CniFixture::SetUp();
    client_name_ = "tcni-x-" + tag_;
    client_ = std::make_unique<NetNs>(NetNs::create_named(client_name_));
    // The client is another machine: a veth to the host, 10.77.0.2 -> the host's 10.77.0.1.
    const std::string h = host_name_, x = client_name_;
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "-n", h, "link", "set", "lo", "up"},
             {"ip", "-n", h, "link", "add", "tcnipx0", "type", "veth", "peer", "name", "tcnipx1", "netns", x},
             {"ip", "-n", h, "addr", "add", "10.77.0.1/24", "dev", "tcnipx0"},
             {"ip", "-n", h, "addr", "add", "fd00:77::1/64", "dev", "tcnipx0", "nodad"},
             {"ip", "-n", h, "link", "set", "tcnipx0", "up"},
             {"ip", "-n", x, "addr", "add", "10.77.0.2/24", "dev", "tcnipx1"},
             {"ip", "-n", x, "addr", "add", "fd00:77::2/64", "dev", "tcnipx1", "nodad"},
             {"ip", "-n", x, "link", "set", "tcnipx1", "up"},
             {"ip", "-n", x, "link", "set", "lo", "up"},
             {"ip", "-n", x, "route", "add", "default", "via", "10.77.0.1"}})
      ASSERT_EQ(run_cmd(argv).exit_code, 0) << argv[3] << " " << argv[4];
    ruleset_before_ = ruleset();
  }
  void TearDown() override {
    client_.reset();
    NetNs::remove_named(client_name_);
    CniFixture::TearDown();
  }
  static RunResult run_cmd(const std::vector<std::string>& argv) { return test::run(argv); }

  std::string ruleset() { return run_cmd({"ip", "netns", "exec", host_name_, "nft", "list", "ruleset"}).out; }

  json bridge(bool dual = false) const {
    json c = bridge_conf("1.0.0", "10.78.0.0/24");
    c["hairpinMode"] = true;  // podman's default: a container reaching itself through the host port
    if (dual) {
      c["ipam"]["ranges"].push_back(json::array({{{"subnet", "fd00:78::/64"}}}));
      c["ipam"]["routes"].push_back({{"dst", "::/0"}});
    }
    return c;
  }
  json portmap(const json& prev, json mappings, json extra = json::object()) const {
    json c = {{"cniVersion", "1.0.0"}, {"name", "tcninet"}, {"type", "portmap"},
              {"runtimeConfig", {{"portMappings", std::move(mappings)}}}, {"prevResult", prev}};
    for (auto& [k, v] : extra.items()) c[k] = v;
    return c;
  }
  static json web() { return json::array({{{"hostPort", 8080}, {"containerPort", 80}, {"protocol", "tcp"}}}); }

  // bridge + portmap for one container; returns the portmap run.
  PluginRun attach(const std::string& id, const std::string& ns, const json& mappings, bool dual = false, json extra = json::object()) {
    auto b = run("bridge", env("ADD", id, ns), bridge(dual));
    EXPECT_EQ(b.exit_code, 0) << b.out;
    prev_[id] = b.json;
    return run("portmap", env("ADD", id, ns), portmap(b.json, mappings, extra));
  }
  void detach(const std::string& id, const std::string& ns, const json& mappings, bool dual = false) {
    EXPECT_EQ(run("portmap", env("DEL", id, ns), portmap(prev_[id], mappings)).exit_code, 0);
    EXPECT_EQ(run("bridge", env("DEL", id, ns), bridge(dual)).exit_code, 0);
  }

  std::string client_name_, ruleset_before_;
  std::unique_ptr<NetNs> client_;
  std::map<std::string, json> prev_;
};

TEST_F(CniPortmap, ReachesTheContainerFromOutsideLocalhostItselfAndANeighbour) {
  const std::string c1 = container(), c2 = container();
  auto pm = attach("p1", c1, web());
  ASSERT_EQ(pm.exit_code, 0) << pm.out;
  EXPECT_EQ(pm.json["ips"], prev_["p1"]["ips"]) << "portmap passes the previous result on";
  ASSERT_EQ(run("bridge", env("ADD", "p2", c2), bridge()).exit_code, 0);
  Server server(c1, 80, "web-p1");

  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8080), "web-p1") << "another machine, to the host's address";
  EXPECT_EQ(fetch(*host_, "127.0.0.1", 8080), "web-p1") << "the host's localhost (route_localnet, masquerade)";
  EXPECT_EQ(fetch(*host_, "10.77.0.1", 8080), "web-p1") << "the host, to its own address";
  EXPECT_EQ(fetch(NetNs::open_path(c1), "10.78.0.1", 8080), "web-p1") << "the container itself (hairpin)";
  EXPECT_EQ(fetch(NetNs::open_path(c2), "10.77.0.1", 8080), "web-p1") << "a neighbour on the same bridge";
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8081), "") << "an unmapped port";
  EXPECT_EQ(run_cmd({"ip", "netns", "exec", host_name_, "cat", "/proc/sys/net/ipv4/conf/tcnibr0/route_localnet"}).out, "1\n");

  auto check = portmap(pm.json, web());
  EXPECT_EQ(run("portmap", env("CHECK", "p1", c1), check).exit_code, 0);

  detach("p1", c1, web());
  EXPECT_EQ(run("bridge", env("DEL", "p2", c2), bridge()).exit_code, 0);
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8080), "");
  EXPECT_EQ(ruleset(), ruleset_before_) << "the last DEL removes the network's tables";
}

TEST_F(CniPortmap, TrafficOnlyPassingThroughTheHostIsNotIntercepted) {
  // A server on 10.79.0.2:8080 behind the host: the client's connection to it is routed, not DNATed to the
  // container that maps host port 8080 (the reference's nftables backend once did, its #1209).
  const std::string far_name = "tcni-f-" + tag_;
  NetNs far = NetNs::create_named(far_name);
  struct Remove {
    std::string n;
    ~Remove() { NetNs::remove_named(n); }
  } remove{far_name};
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"ip", "-n", host_name_, "link", "add", "tcnipf0", "type", "veth", "peer", "name", "tcnipf1", "netns", far_name},
           {"ip", "-n", host_name_, "addr", "add", "10.79.0.1/24", "dev", "tcnipf0"},
           {"ip", "-n", host_name_, "link", "set", "tcnipf0", "up"},
           {"ip", "-n", far_name, "addr", "add", "10.79.0.2/24", "dev", "tcnipf1"},
           {"ip", "-n", far_name, "link", "set", "tcnipf1", "up"},
           {"ip", "-n", far_name, "route", "add", "default", "via", "10.79.0.1"}})
    ASSERT_EQ(run_cmd(argv).exit_code, 0);
  const std::string c1 = container();
  ASSERT_EQ(attach("p1", c1, web()).exit_code, 0);  // the bridge turns forwarding on
  Server in_container(c1, 80, "container");
  Server behind(NetNs::path_of(far_name), 8080, "far");
  EXPECT_EQ(fetch(*client_, "10.79.0.2", 8080), "far");
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8080), "container");
  detach("p1", c1, web());
}

TEST_F(CniPortmap, DualStackAndHostIp) {
  const std::string c1 = container();
  json m = json::array({{{"HostPort", 8080}, {"ContainerPort", 80}},  // as containerd sends it; protocol: tcp
                        {{"hostPort", 9090}, {"containerPort", 80}, {"protocol", "TCP"}, {"hostIP", "10.77.0.1"}},
                        {{"hostPort", 9091}, {"containerPort", 80}, {"hostIP", "127.0.0.1"}}});
  auto pm = attach("p1", c1, m, true);
  ASSERT_EQ(pm.exit_code, 0) << pm.out;
  Server v4(c1, 80, "v4");
  Server v6(c1, 80, "v6", AF_INET6);
  // The container's IPv6 link-local address is still tentative (DAD, about a second) and its first SYN-ACK
  // waits for it: the first v6 connection may need the SYN's retransmission.
  EXPECT_EQ(fetch(*client_, "fd00:77::1", 8080, 4000), "v6");
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8080), "v4");
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 9090), "v4") << "hostIP 10.77.0.1";
  EXPECT_EQ(fetch(*client_, "fd00:77::1", 9090), "") << "a v4 hostIP maps no v6 port";
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 9091), "") << "hostIP 127.0.0.1: not for 10.77.0.1";
  EXPECT_EQ(fetch(*host_, "127.0.0.1", 9091), "v4");
  EXPECT_EQ(run("portmap", env("CHECK", "p1", c1), portmap(pm.json, m)).exit_code, 0);
  detach("p1", c1, m, true);
  EXPECT_EQ(ruleset(), ruleset_before_);
}

TEST_F(CniPortmap, APortAnotherContainerHoldsIsRefusedAndItsDelLeavesTheOwnersMapping) {
  const std::string c1 = container(), c2 = container();
  ASSERT_EQ(attach("p1", c1, web()).exit_code, 0);
  auto second = attach("p2", c2, web());
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.msg().find("host port tcp . 8080 is already mapped to 10.78.0.2 . 80"), std::string::npos) << second.out;
  // The runtime cleans the failed attachment up with DEL, with the same mappings: p1 keeps its port.
  EXPECT_EQ(run("portmap", env("DEL", "p2", c2), portmap(prev_["p2"], web())).exit_code, 0);
  Server server(c1, 80, "web-p1");
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8080), "web-p1");
  EXPECT_EQ(run("bridge", env("DEL", "p2", c2), bridge()).exit_code, 0);
  detach("p1", c1, web());
  EXPECT_EQ(ruleset(), ruleset_before_);
}

TEST_F(CniPortmap, DelWithoutNamespaceOrPrevResultCheckAndGc) {
  const std::string c1 = container(), c2 = container();
  ASSERT_EQ(attach("p1", c1, web()).exit_code, 0);
  json other = json::array({{{"hostPort", 8443}, {"containerPort", 443}}});
  ASSERT_EQ(attach("p2", c2, other).exit_code, 0);

  // CHECK sees an element that went missing.
  const std::string table = nft::portmap_table("tcninet", AF_INET);
  ASSERT_EQ(run_cmd({"ip", "netns", "exec", host_name_, "nft", "delete", "element", table.substr(0, 2),
                     table.substr(3), "ports", "{ tcp . 8443 }"}).exit_code, 0);
  auto bad = run("portmap", env("CHECK", "p2", c2), portmap(prev_["p2"], other));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.msg().find("ports tcp . 8443 is missing"), std::string::npos) << bad.out;

  // GC with only p2 valid removes p1's mappings.
  json gc = {{"cniVersion", "1.1.0"}, {"name", "tcninet"}, {"type", "portmap"},
             {"cni.dev/valid-attachments", {{{"containerID", "p2"}, {"ifname", "eth0"}}}}};
  auto e = env("GC", "", "");
  auto g = run("portmap", e, gc);
  EXPECT_EQ(g.exit_code, 0) << g.out;
  EXPECT_EQ(ruleset().find("8080"), std::string::npos) << ruleset();
  EXPECT_NE(ruleset().find("hairpin"), std::string::npos) << "p2's table stays";

  // containerd's second DEL: no netns, no prevResult, no mappings. Then DEL again.
  json del = {{"cniVersion", "1.0.0"}, {"name", "tcninet"}, {"type", "portmap"}};
  remove_container(c2);
  for (int i = 0; i < 2; ++i) {
    auto d = run("portmap", env("DEL", "p2", ""), del);
    EXPECT_EQ(d.exit_code, 0) << d.out;
  }
  EXPECT_EQ(run("bridge", env("DEL", "p2", ""), bridge()).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "p1", c1), bridge()).exit_code, 0);
  EXPECT_EQ(ruleset(), ruleset_before_);
}

TEST_F(CniPortmap, ConditionsAndSnatOff) {
  const std::string c1 = container();
  // iptables conditions, translated: not from the client.
  auto pm = attach("p1", c1, web(), false, {{"conditionsV4", {"!", "-s", "10.77.0.2"}}, {"snat", false}});
  ASSERT_EQ(pm.exit_code, 0) << pm.out;
  Server server(c1, 80, "web");
  EXPECT_NE(ruleset().find("ip saddr != 10.77.0.2 fib daddr type local"), std::string::npos) << ruleset();
  EXPECT_EQ(ruleset().find("masquerade"), std::string::npos) << "snat false: no masquerade";
  EXPECT_EQ(fetch(*client_, "10.77.0.1", 8080), "");
  EXPECT_EQ(fetch(*host_, "10.77.0.1", 8080), "web");
  detach("p1", c1, web());
}

TEST_F(CniPortmap, BadInputIsRefusedNamingTheFieldAndNothingIsMade) {
  const std::string c1 = container();
  auto b = run("bridge", env("ADD", "p1", c1), bridge());
  ASSERT_EQ(b.exit_code, 0);
  const std::string before = ruleset();
  struct Case {
    json mappings, extra;
    std::string field;
  };
  const std::vector<Case> cases = {
      {json::array({{{"hostPort", 0}, {"containerPort", 80}}}), {}, "runtimeConfig.portMappings[0].hostPort"},
      {json::array({{{"hostPort", 80}, {"containerPort", 70000}}}), {}, "runtimeConfig.portMappings[0].containerPort"},
      {json::array({{{"hostPort", "80"}, {"containerPort", 80}}}), {}, "runtimeConfig.portMappings[0].hostPort"},
      {json::array({{{"hostPort", 80}, {"containerPort", 80}, {"protocol", "icmp"}}}), {}, "runtimeConfig.portMappings[0].protocol"},
      {json::array({{{"hostPort", 80}, {"containerPort", 80}, {"hostIP", "10.0.0.300"}}}), {}, "runtimeConfig.portMappings[0].hostIP"},
      {json::object({{"hostPort", 80}}), {}, "runtimeConfig.portMappings"},
      {web(), {{"markMasqBit", 40}}, "markMasqBit"},
      {web(), {{"markMasqBit", 3}, {"externalSetMarkChain", "KUBE-MARK-MASQ"}}, "markMasqBit"},
      {web(), {{"backend", "pf"}}, "backend"},
      {web(), {{"backend", "nftables"}, {"conditionsV4", {"-d", "10.0.0.1"}}}, "conditionsV4"},
      {web(), {{"conditionsV4", {"ip saddr 10.0.0.1; flush ruleset"}}}, "conditionsV4"},
      {web(), {{"conditionsV4", {"-m", "comment"}}}, "conditionsV4"},
      {web(), {{"snat", "yes"}}, "snat"},
  };
  for (const auto& c : cases) {
    auto r = run("portmap", env("ADD", "p1", c1), portmap(b.json, c.mappings, c.extra));
    EXPECT_EQ(r.exit_code, 1) << c.field;
    EXPECT_TRUE(r.code() == 6 || r.code() == 7) << r.out;
    EXPECT_NE(r.msg().find("'" + c.field + "'"), std::string::npos) << r.out;
    EXPECT_EQ(ruleset(), before) << c.field;
  }
  auto chained = portmap(b.json, web());
  chained.erase("prevResult");
  auto r = run("portmap", env("ADD", "p1", c1), chained);
  EXPECT_NE(r.msg().find("'prevResult'"), std::string::npos) << r.out;
  EXPECT_EQ(run("bridge", env("DEL", "p1", c1), bridge()).exit_code, 0);
}

}  // namespace
}  // namespace ctnet::test
