// `ctnet doctor` scopes: bridge-nf-call-* read and fixed per namespace (where the bridges are), --fix only inside
// the scope, duplicate addresses only within one L2 segment.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ns/netns.h"
#include "ns/sysctl.h"
#include "support/netns_fixture.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class DoctorScope : public NetnsFixture {
 protected:
  DoctorScope() : NetnsFixture("tdo") {}
  void sh(const std::string& script) {
    auto r = run({"sh", "-c", "set -e; " + script}, {{"P", prefix()}});
    ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.err;
  }
  static std::vector<json> findings(const json& all, const std::string& check) {
    std::vector<json> out;
    for (auto& f : all)
      if (f["check"] == check) out.push_back(f);
    return out;
  }
};

TEST_F(DoctorScope, BridgeNetfilterIsPerNamespaceAndFixedOnlyInScope) {
  auto h1 = make_ns("-h1"), h2 = make_ns("-h2");
  NetNs n1 = NetNs::open_named(h1), n2 = NetNs::open_named(h2);
  if (!read_sysctl("net.bridge.bridge-nf-call-iptables", &n1)) GTEST_SKIP() << "br_netfilter is not loaded";
  for (auto* n : {&n1, &n2}) write_sysctl("net.bridge.bridge-nf-call-iptables", "1", n);
  // A bridge with a port in each, and a veth that is down in each.
  for (const char* h : {"h1", "h2"})
    sh(std::string("ip -n $P-") + h + " link add br0 type bridge; ip -n $P-" + h + " link add p0 type veth peer name p1; ip -n $P-" + h +
       " link set p0 master br0; ip -n $P-" + h + " link set br0 up");
  auto r = ctnet({"doctor", h1, "--fix", "-o", "json"});
  auto all = json::parse(r.out);
  EXPECT_EQ(read_sysctl("net.bridge.bridge-nf-call-iptables", &n1), "0") << r.out;
  EXPECT_EQ(read_sysctl("net.bridge.bridge-nf-call-iptables", &n2), "1") << "--fix reached outside its scope";
  auto nf = findings(all, "bridge-nf-call-iptables");
  ASSERT_EQ(nf.size(), 1u) << r.out;
  EXPECT_NE(nf[0]["message"].get<std::string>().find(h1), std::string::npos);
  EXPECT_EQ(nf[0]["message"].get<std::string>().find(h2), std::string::npos) << "h2 is out of scope";
  // veth-down: fixed in h1 only.
  auto up = [&](const std::string& ns) {
    return run({"ip", "-n", ns, "-o", "link", "show", "p1"}).out.find(",UP") != std::string::npos;
  };
  EXPECT_TRUE(up(h1));
  EXPECT_FALSE(up(h2)) << "--fix brought up a veth outside its scope";
  // Without a scope, --fix changes the host (here h2, through --host-netns) and nothing it was not told about.
  write_sysctl("net.bridge.bridge-nf-call-iptables", "1", &n1);
  sh("ip -n $P-h1 link set p1 down");
  ctnet({"--host-netns", h2, "doctor", "--fix"});
  EXPECT_EQ(read_sysctl("net.bridge.bridge-nf-call-iptables", &n2), "0") << "the host is fixed";
  EXPECT_EQ(read_sysctl("net.bridge.bridge-nf-call-iptables", &n1), "1") << "a namespace not named was changed";
  EXPECT_FALSE(up(h1)) << "a veth in a namespace not named was brought up";
  EXPECT_TRUE(up(h2));
  write_sysctl("net.bridge.bridge-nf-call-iptables", "1", &n2);
  // Without a scope both are read.
  auto both = json::parse(ctnet({"doctor", "-o", "json"}).out);
  int in_h2 = 0;
  for (auto& f : findings(both, "bridge-nf-call-iptables")) in_h2 += f["message"].get<std::string>().find(h2) != std::string::npos;
  EXPECT_EQ(in_h2, 1) << both.dump(2);
}

TEST_F(DoctorScope, DuplicateAddressesOnlyWithinOneSegment) {
  auto h = make_ns("-h"), a = make_ns("-a"), b = make_ns("-b"), c = make_ns("-c"), d = make_ns("-d");
  sh("ip -n $P-h link add br0 type bridge; ip -n $P-h link set br0 up;"
     "for x in a b; do ip -n $P-h link add v$x type veth peer name eth0 netns $P-$x; ip -n $P-h link set v$x master br0 up;"
     "  ip -n $P-$x link set eth0 up; done;"
     "ip -n $P-a addr add 10.77.0.9/24 dev eth0; ip -n $P-b addr add 10.77.0.9/24 dev eth0;"
     // Another segment (a veth pair of its own) reusing the address: not a duplicate.
     "ip -n $P-c link add eth0 type veth peer name eth0 netns $P-d; ip -n $P-c addr add 10.77.0.9/24 dev eth0;"
     "ip -n $P-c link set eth0 up; ip -n $P-d link set eth0 up");
  auto r = ctnet({"doctor", h, a, b, c, d, "-o", "json"});
  auto dup = findings(json::parse(r.out), "duplicate-address");
  ASSERT_EQ(dup.size(), 1u) << r.out;
  auto m = dup[0]["message"].get<std::string>();
  EXPECT_NE(m.find("2 times"), std::string::npos) << m;
  EXPECT_EQ(m.find(c), std::string::npos) << "an address on another segment is not a duplicate: " << m;
  EXPECT_EQ(r.exit_code, 1) << "a duplicate on one segment breaks ARP: a failure";
}

TEST_F(DoctorScope, HealthyScopeExitsZero) {
  auto a = make_ns("-a"), b = make_ns("-b");
  sh("ip -n $P-a link add eth0 type veth peer name eth0 netns $P-b; ip -n $P-a link set eth0 up; ip -n $P-b link set eth0 up");
  auto r = ctnet({"doctor", a, b});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ctnet explain"), std::string::npos) << "doctor points at explain";
  EXPECT_EQ(ctnet({"doctor", "/tmp/not-a-namespace"}).exit_code, 2);
}

}  // namespace
}  // namespace ctnet::test
