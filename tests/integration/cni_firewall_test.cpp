// The firewall plugin chained after bridge, as podman chains it: the container's addresses in ctnet's nftables
// table, the admin chain where a user's drop takes effect (and which keeps the table while it holds rules),
// ingressPolicy same-bridge keeping two networks apart while each reaches its own neighbours and the outside,
// CHECK, GC, DEL without a namespace, and bad input refused naming the field. Traffic is real (ping).
#include <gtest/gtest.h>

#include "integration/cni_harness.h"
#include "nft/firewall.h"
#include "support/run.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniFirewall : public CniFixture {
 protected:
  void SetUp() override {
    CniFixture::SetUp();
    ruleset_before_ = ruleset();
  }
  std::string ruleset() { return test::run({"ip", "netns", "exec", host_name_, "nft", "list", "ruleset"}).out; }
  // One echo answered within a second; `tries` more chances where an answer is expected (a loaded machine may
  // need longer for the first ARP round).
  bool ping(const std::string& from_ns_path, const std::string& addr, int tries = 1) {
    for (int i = 0; i < tries; ++i)
      if (test::run({"ip", "netns", "exec", std::filesystem::path(from_ns_path).filename().string(), "busybox", "ping", "-c1",
                     "-W1", addr}).exit_code == 0)
        return true;
    return false;
  }
  json net(const std::string& name, const std::string& bridge, const std::string& subnet) const {
    json c = bridge_conf("1.0.0", subnet);
    c["name"] = name;
    c["bridge"] = bridge;
    return c;
  }
  json firewall(const json& prev, const std::string& name = "tcninet", json extra = json::object()) const {
    json c = {{"cniVersion", "1.0.0"}, {"name", name}, {"type", "firewall"}, {"backend", ""}, {"prevResult", prev}};
    for (auto& [k, v] : extra.items()) c[k] = v;
    return c;
  }
  // bridge + firewall; returns the container's address.
  std::string attach(const std::string& id, const std::string& ns, const json& bridge, json extra = json::object()) {
    auto b = run("bridge", env("ADD", id, ns), bridge);
    EXPECT_EQ(b.exit_code, 0) << b.out;
    prev_[id] = b.json;
    auto f = run("firewall", env("ADD", id, ns), firewall(b.json, bridge["name"], extra));
    EXPECT_EQ(f.exit_code, 0) << f.out;
    EXPECT_EQ(f.json["ips"], b.json["ips"]) << "the previous result passes on";
    return Prefix::parse(b.json["ips"][0]["address"].get<std::string>(), "ip").address().str();
  }
  std::string ruleset_before_;
  std::map<std::string, json> prev_;
};

TEST_F(CniFirewall, AddsTheAddressesAndTheAdminChainTakesEffect) {
  const std::string c1 = container(), c2 = container();
  const std::string a1 = attach("f1", c1, bridge_conf());
  const std::string a2 = attach("f2", c2, bridge_conf());
  const std::string rules = ruleset();
  EXPECT_NE(rules.find("table inet ctnet_firewall"), std::string::npos) << rules;
  EXPECT_NE(rules.find(a1 + " comment"), std::string::npos) << rules;
  EXPECT_TRUE(ping(c2, a1, 3));
  // A user's rule in the admin chain drops traffic routed to f1 (from the host's side of the bridge, through
  // forward: here the host namespace itself routes from the client below).
  const std::string x = "tcni-x-" + tag_;
  NetNs client = NetNs::create_named(x);
  struct Remove { std::string n; ~Remove() { NetNs::remove_named(n); } } remove{x};
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"ip", "-n", host_name_, "link", "add", "tcnifx0", "type", "veth", "peer", "name", "tcnifx1", "netns", x},
           {"ip", "-n", host_name_, "addr", "add", "10.76.0.1/24", "dev", "tcnifx0"},
           {"ip", "-n", host_name_, "link", "set", "tcnifx0", "up"},
           {"ip", "-n", x, "addr", "add", "10.76.0.2/24", "dev", "tcnifx1"},
           {"ip", "-n", x, "link", "set", "tcnifx1", "up"},
           {"ip", "-n", x, "route", "add", "default", "via", "10.76.0.1"}})
    ASSERT_EQ(test::run(argv).exit_code, 0);
  EXPECT_TRUE(ping(NetNs::path_of(x), a1, 3));
  ASSERT_EQ(test::run({"ip", "netns", "exec", host_name_, "nft", "add", "rule", "inet", "ctnet_firewall", "CNI-ADMIN",
                       "ip", "daddr", a1, "drop"}).exit_code, 0);
  EXPECT_FALSE(ping(NetNs::path_of(x), a1)) << "the admin chain's drop";
  EXPECT_TRUE(ping(NetNs::path_of(x), a2, 3));

  auto check = firewall(prev_["f1"]);
  EXPECT_EQ(run("firewall", env("CHECK", "f1", c1), check).exit_code, 0);
  for (const char* id : {"f1", "f2"}) {
    const std::string ns = id == std::string("f1") ? c1 : c2;
    EXPECT_EQ(run("firewall", env("DEL", id, ns), firewall(prev_[id])).exit_code, 0);
    EXPECT_EQ(run("firewall", env("DEL", id, ns), firewall(prev_[id])).exit_code, 0) << "DEL twice";
    EXPECT_EQ(run("bridge", env("DEL", id, ns), bridge_conf()).exit_code, 0);
  }
  EXPECT_NE(ruleset().find("ip daddr " + a1 + " drop"), std::string::npos) << "the user's rule keeps the table";
  ASSERT_EQ(test::run({"ip", "netns", "exec", host_name_, "nft", "flush", "chain", "inet", "ctnet_firewall", "CNI-ADMIN"}).exit_code, 0);
  // The next attachment's DEL, with the admin chain empty, removes the table.
  const std::string c3 = container();
  attach("f3", c3, bridge_conf());
  EXPECT_EQ(run("firewall", env("DEL", "f3", c3), firewall(prev_["f3"])).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "f3", c3), bridge_conf()).exit_code, 0);
  EXPECT_EQ(ruleset(), ruleset_before_);
}

TEST_F(CniFirewall, SameBridgeKeepsNetworksApart) {
  const std::string a = container(), a2 = container(), b = container();
  const json na = net("tcnia", "tcnibra", "10.71.0.0/24"), nb = net("tcnib", "tcnibrb", "10.72.0.0/24");
  const json policy = {{"ingressPolicy", "same-bridge"}};
  const std::string ia = attach("fa", a, na, policy), ia2 = attach("fa2", a2, na, policy), ib = attach("fb", b, nb, policy);
  EXPECT_TRUE(ping(a2, ia, 3)) << "the same bridge";
  EXPECT_FALSE(ping(b, ia)) << "another same-bridge network";
  EXPECT_FALSE(ping(a, ib));
  EXPECT_TRUE(ping(a, "10.72.0.1", 3)) << "the host (its address on the other bridge is local, not forwarded)";
  for (auto [id, ns, conf] : {std::tuple{"fa", a, na}, std::tuple{"fa2", a2, na}, std::tuple{"fb", b, nb}}) {
    EXPECT_EQ(run("firewall", env("DEL", id, ns), firewall(prev_[id], conf["name"], policy)).exit_code, 0);
    EXPECT_EQ(run("bridge", env("DEL", id, ns), conf).exit_code, 0);
  }
  EXPECT_EQ(ruleset(), ruleset_before_);
}

TEST_F(CniFirewall, OpenLetsNetworksTalk) {
  const std::string a = container(), b = container();
  const json na = net("tcnia", "tcnibra", "10.71.0.0/24"), nb = net("tcnib", "tcnibrb", "10.72.0.0/24");
  const std::string ia = attach("fa", a, na), ib = attach("fb", b, nb);
  EXPECT_TRUE(ping(b, ia, 3));
  for (auto [id, ns, conf] : {std::tuple{"fa", a, na}, std::tuple{"fb", b, nb}}) {
    EXPECT_EQ(run("firewall", env("DEL", id, ns), firewall(prev_[id], conf["name"])).exit_code, 0);
    EXPECT_EQ(run("bridge", env("DEL", id, ns), conf).exit_code, 0);
  }
}

TEST_F(CniFirewall, CheckGcAndDelWithoutNamespace) {
  const std::string c1 = container(), c2 = container();
  const std::string a1 = attach("f1", c1, bridge_conf());
  attach("f2", c2, bridge_conf());
  ASSERT_EQ(test::run({"ip", "netns", "exec", host_name_, "nft", "delete", "element", "inet", "ctnet_firewall",
                       "containers4", "{ " + a1 + " }"}).exit_code, 0);
  auto bad = run("firewall", env("CHECK", "f1", c1), firewall(prev_["f1"]));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.msg().find(a1 + " is not in inet ctnet_firewall containers4"), std::string::npos) << bad.out;
  json gc = {{"cniVersion", "1.1.0"}, {"name", "tcninet"}, {"type", "firewall"},
             {"cni.dev/valid-attachments", json::array()}};
  EXPECT_EQ(run("firewall", env("GC", "", ""), gc).exit_code, 0);
  EXPECT_EQ(ruleset(), ruleset_before_) << "GC with nothing valid removes every attachment, and the table";
  remove_container(c2);
  json del = {{"cniVersion", "1.0.0"}, {"name", "tcninet"}, {"type", "firewall"}};
  EXPECT_EQ(run("firewall", env("DEL", "f2", ""), del).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "f2", ""), bridge_conf()).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "f1", c1), bridge_conf()).exit_code, 0);
}

TEST_F(CniFirewall, BadInputIsRefusedNamingTheField) {
  const std::string c1 = container();
  auto b = run("bridge", env("ADD", "f1", c1), bridge_conf());
  ASSERT_EQ(b.exit_code, 0);
  const std::string before = ruleset();
  for (auto [extra, field] : std::vector<std::pair<json, std::string>>{
           {{{"backend", "firewalld"}}, "backend"},   // not running here: said so
           {{{"backend", "pf"}}, "backend"},
           {{{"backend", 1}}, "backend"},
           {{{"ingressPolicy", "closed"}}, "ingressPolicy"},
           {{{"iptablesAdminChainName", "MY ADMIN;"}}, "iptablesAdminChainName"},
           {{{"iptablesAdminChainName", "forward"}}, "iptablesAdminChainName"}}) {
    auto r = run("firewall", env("ADD", "f1", c1), firewall(b.json, "tcninet", extra));
    EXPECT_EQ(r.exit_code, 1) << field;
    EXPECT_NE(r.msg().find("'" + field + "'"), std::string::npos) << r.out;
    if (extra.contains("backend") && extra["backend"] == "firewalld") {
      EXPECT_NE(r.msg().find("firewalld is not running"), std::string::npos) << r.out;
    }
    EXPECT_EQ(ruleset(), before);
  }
  json other_admin = firewall(b.json, "tcninet", {{"iptablesAdminChainName", "MY-ADMIN"}});
  ASSERT_EQ(run("firewall", env("ADD", "f1", c1), other_admin).exit_code, 0);
  EXPECT_NE(ruleset().find("jump MY-ADMIN"), std::string::npos) << ruleset();
  EXPECT_EQ(run("firewall", env("CHECK", "f1", c1), other_admin).exit_code, 0);
  EXPECT_EQ(run("firewall", env("DEL", "f1", c1), other_admin).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "f1", c1), bridge_conf()).exit_code, 0);
  EXPECT_EQ(ruleset(), ruleset_before_);
}

}  // namespace
}  // namespace ctnet::test
