// `ctnet explain`: a table of planted faults, each built in throwaway namespaces by `ip`/`nft` (the product
// itself never runs them), with the code and hop the walk must name; working paths of every kind that must
// report `reaches`; and the same table with --probe where the fault drops packets, where the kernel's own
// account (kfree_skb, nftrace) must agree with the walk.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <vector>
#include <iostream>
#include <nlohmann/json.hpp>

#include "support/netns_fixture.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

// Topologies, as shell functions over $P (the test's prefix). Addresses: 10.9/fd00:9 bridged, 10.1-2/fd00:1-2
// routed through r, 10.3/fd00:3 a plain veth pair, 10.4 macvlan, 10.5 VXLAN underlay, 10.6 overlay.
const char* kLib = R"SH(
set -e
# No DAD: a tentative link-local address leaves IPv6 neighbour discovery unanswered for a second or two.
ns() { for n in "$@"; do ip netns add $P-$n; ip -n $P-$n link set lo up
  ip netns exec $P-$n sh -c 'for c in all default; do echo 0 > /proc/sys/net/ipv6/conf/$c/accept_dad; done'; done; }
bridged() {
  ns h a b
  ip -n $P-h link add br0 type bridge; ip -n $P-h link set br0 up
  ip netns exec $P-h sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables; echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables' 2>/dev/null || true
  for x in a b; do
    ip -n $P-h link add v$x type veth peer name eth0 netns $P-$x
    ip -n $P-h link set v$x master br0 up; ip -n $P-$x link set eth0 up
  done
  ip -n $P-a addr add 10.9.0.1/24 dev eth0; ip -n $P-b addr add 10.9.0.2/24 dev eth0
  ip -n $P-a addr add fd00:9::1/64 dev eth0 nodad; ip -n $P-b addr add fd00:9::2/64 dev eth0 nodad
}
vethpair() {
  ns a b
  ip -n $P-a link add eth0 type veth peer name eth0 netns $P-b
  ip -n $P-a link set eth0 up; ip -n $P-b link set eth0 up
  ip -n $P-a addr add 10.3.0.1/24 dev eth0; ip -n $P-b addr add 10.3.0.2/24 dev eth0
  ip -n $P-a addr add fd00:3::1/64 dev eth0 nodad; ip -n $P-b addr add fd00:3::2/64 dev eth0 nodad
}
routed() {
  ns a r b
  ip -n $P-a link add eth0 type veth peer name ra netns $P-r
  ip -n $P-b link add eth0 type veth peer name rb netns $P-r
  for l in "a eth0" "b eth0" "r ra" "r rb"; do set -- $l; ip -n $P-$1 link set $2 up; done
  ip -n $P-a addr add 10.1.0.2/24 dev eth0; ip -n $P-r addr add 10.1.0.1/24 dev ra
  ip -n $P-b addr add 10.2.0.2/24 dev eth0; ip -n $P-r addr add 10.2.0.1/24 dev rb
  ip -n $P-a addr add fd00:1::2/64 dev eth0 nodad; ip -n $P-r addr add fd00:1::1/64 dev ra nodad
  ip -n $P-b addr add fd00:2::2/64 dev eth0 nodad; ip -n $P-r addr add fd00:2::1/64 dev rb nodad
  ip -n $P-a route add default via 10.1.0.1; ip -n $P-b route add default via 10.2.0.1
  ip -n $P-a -6 route add default via fd00:1::1; ip -n $P-b -6 route add default via fd00:2::1
  ip netns exec $P-r sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
}
macvlan() {
  ns h sw a b
  ip -n $P-h link add p0 type veth peer name up0 netns $P-sw
  ip -n $P-h link set p0 up; ip -n $P-sw link set up0 up
  ip -n $P-h addr add 10.4.0.254/24 dev p0
  for x in a b; do
    ip netns exec $P-h ip link add link p0 name m$x type macvlan mode ${MODE:-bridge}
    ip -n $P-h link set dev m$x netns $P-$x; ip -n $P-$x link set dev m$x up
  done
  ip -n $P-a addr add 10.4.0.1/24 dev ma; ip -n $P-b addr add 10.4.0.2/24 dev mb
}
vxlan() {
  ns n1 n2
  ip -n $P-n1 link add u0 type veth peer name u0 netns $P-n2
  ip -n $P-n1 link set u0 up; ip -n $P-n2 link set u0 up
  ip -n $P-n1 addr add 10.5.0.1/24 dev u0; ip -n $P-n2 addr add 10.5.0.2/24 dev u0
  i=1; for n in n1 n2; do
    ip netns exec $P-$n ip link add vx0 type vxlan id 42 dstport 4789 local 10.5.0.$i dev u0
    ip -n $P-$n link set vx0 up; ip -n $P-$n addr add 10.6.0.$i/24 dev vx0; i=2
  done
  ip netns exec $P-n1 bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.5.0.2
  ip netns exec $P-n2 bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.5.0.1
}
listen() {  # listen NS PROTO PORT: a server the test ends by its pid
  if [ "$2" = tcp ]; then ip netns exec $P-$1 python3 -c "import socket,time;s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0);s.bind(('::',$3));s.listen();time.sleep(300)" >/dev/null 2>&1 &
  else ip netns exec $P-$1 python3 -c "import socket,time;s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0);s.bind(('::',$3));time.sleep(300)" >/dev/null 2>&1 &
  fi
  echo $! >> $PIDS
  for i in $(seq 50); do ip netns exec $P-$1 ss -lntu | grep -q ":$3 " && return 0; sleep 0.05; done
}
# IPv6 addresses stay tentative (no local route) until their link has carrier, which veth gets asynchronously:
# the walk (like the kernel) would rightly find them not yet local. Wait until none is left.
settle() {
  for n in $(ls /run/netns | grep "^$P-"); do
    for i in $(seq 100); do ip -n $n -6 addr show tentative | grep -q inet6 || break; sleep 0.02; done
  done
}
fw() {  # fw NS FAMILY HOOK POLICY RULE...: one base chain of table f
  ns=$1 fam=$2 hook=$3 pol=$4; shift 4
  { echo "add table $fam f"; echo "add chain $fam f c$hook { type filter hook $hook priority 0; policy $pol; }"
    for r in "$@"; do echo "add rule $fam f c$hook $r"; done; } | ip netns exec $P-$ns nft -f -
}
)SH";

struct Case {
  const char* name;
  const char* setup;
  const char* src;   // namespace suffix
  const char* dst;   // an address, or "@suffix" for a namespace
  std::vector<std::string> args;
  const char* code;  // "reaches" or the expected code
  const char* hop_ns;
  const char* hop_dev;  // "" when the hop names no device
  bool probe;           // run the case again with --probe
};

const Case kCases[] = {
    // Working paths of every kind: no false alarms.
    {"VethReaches", "vethpair", "a", "@b", {}, "reaches", "", "", true},
    {"VethReachesV6", "vethpair", "a", "fd00:3::2", {}, "reaches", "", "", true},
    {"BridgeReaches", "bridged", "a", "@b", {}, "reaches", "", "", true},
    {"BridgeReachesV6", "bridged", "a", "fd00:9::2", {}, "reaches", "", "", true},
    {"RoutedReaches", "routed", "a", "10.2.0.2", {}, "reaches", "", "", true},
    {"RoutedReachesV6", "routed", "a", "fd00:2::2", {}, "reaches", "", "", true},
    {"MacvlanSiblingsReach", "macvlan", "a", "@b", {}, "reaches", "", "", true},
    {"VxlanReaches", "vxlan", "n1", "10.6.0.2", {}, "reaches", "", "", true},
    {"TcpListenerReaches", "bridged; listen b tcp 8080", "a", "@b", {"--proto", "tcp", "--port", "8080"}, "reaches", "", "", true},
    {"UdpListenerReachesV6", "vethpair; listen b udp 5300", "a", "fd00:3::2", {"--proto", "udp", "--port", "5300"}, "reaches", "", "", true},
    {"FirewallAcceptsWhatItShould", "routed; fw r inet forward drop 'ct state established accept' 'ip daddr 10.2.0.0/24 icmp type echo-request accept'",
     "a", "10.2.0.2", {}, "reaches", "", "", true},
    // Planted faults.
    {"NoRoute", "routed; ip -n $P-a route del default", "a", "10.2.0.2", {}, "no-route", "a", "", true},
    {"NoRouteV6OnTheWayBack", "routed; ip -n $P-b -6 route del default", "a", "fd00:2::2", {}, "no-route", "b", "", true},
    {"NeighbourNobodyAnswers", "bridged", "a", "10.9.0.77", {}, "neighbour-failed", "h", "br0", false},
    {"PolicyRuleOnForwardedHop", "routed; ip -n $P-r rule add iif ra lookup 100 pref 100; ip -n $P-r route add blackhole 10.2.0.0/24 table 100", "a", "10.2.0.2", {}, "no-route", "r", "ra", true},
    {"GatewayNobodyHolds", "routed; ip -n $P-a route replace default via 10.1.0.99", "a", "10.2.0.2", {}, "neighbour-failed", "r", "ra", false},
    {"NeighbourFailedEntryV6", "bridged; ip -n $P-a neigh replace fd00:9::9 dev eth0 nud failed", "a", "fd00:9::9", {}, "neighbour-failed", "a", "eth0", false},
    {"LinkDown", "bridged; ip -n $P-h link set vb down", "a", "10.9.0.2", {}, "link-down", "h", "vb", true},
    {"NoCarrier", "vethpair; ip -n $P-b link set eth0 down", "a", "10.3.0.2", {}, "no-carrier", "a", "eth0", true},
    {"MtuOnBridgePort", "bridged; ip -n $P-h link set vb mtu 1300", "a", "10.9.0.2", {"--size", "1400"}, "mtu", "h", "vb", true},
    {"MtuAtSourceV6", "vethpair", "a", "fd00:3::2", {"--size", "1600"}, "mtu", "a", "eth0", true},
    {"StpBlocking", "bridged; ip -n $P-h link set br0 type bridge forward_delay 3000 stp_state 1; ip -n $P-h link set vb nomaster; ip -n $P-h link set vb master br0", "a", "10.9.0.2", {}, "stp-blocking", "h", "vb", true},
    {"PortIsolated", "bridged; ip netns exec $P-h bridge link set dev va isolated on; ip netns exec $P-h bridge link set dev vb isolated on", "a", "@b", {}, "port-isolated", "h", "vb", true},
    {"BridgeNetfilterDrop", "bridged; fw h inet forward drop", "a", "@b", {}, "bridge-netfilter-drop", "h", "br0", true},
    {"BridgeNetfilterDropV6", "bridged; fw h ip6 forward accept 'icmpv6 type echo-request drop'", "a", "fd00:9::2", {}, "bridge-netfilter-drop", "h", "br0", true},
    {"NetfilterDropForward", "routed; fw r inet forward accept 'ip daddr 10.2.0.2 drop'", "a", "10.2.0.2", {}, "netfilter-drop", "r", "rb", true},
    {"NetfilterDropInputV6", "vethpair; fw b ip6 input accept 'icmpv6 type echo-request drop'", "a", "fd00:3::2", {}, "netfilter-drop", "b", "eth0", true},
    {"RpFilter", "routed; ip -n $P-r route del 10.1.0.0/24; ip -n $P-r route add 10.1.0.0/24 dev rb; ip netns exec $P-r sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter'", "a", "10.2.0.2", {}, "rp-filter", "r", "ra", true},
    {"ForwardingOff", "routed; ip netns exec $P-r sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'", "a", "@b", {}, "forwarding-off", "r", "ra", true},
    {"ForwardingOffV6", "routed; ip netns exec $P-r sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/forwarding'", "a", "fd00:2::2", {}, "forwarding-off", "r", "ra", true},
    {"MacvlanHostToChild", "macvlan", "h", "@a", {}, "macvlan-host", "h", "p0", true},
    {"MacvlanChildToHost", "macvlan", "a", "10.4.0.254", {}, "macvlan-host", "a", "ma", true},
    {"MacvlanPrivateMode", "MODE=private macvlan", "a", "@b", {}, "macvlan-mode", "a", "ma", true},
    {"VxlanNoFdb", "vxlan; ip netns exec $P-n1 bridge fdb del 00:00:00:00:00:00 dev vx0 dst 10.5.0.2", "n1", "10.6.0.2", {}, "vxlan-no-fdb", "n1", "vx0", true},
    {"NoListenerTcp", "bridged", "a", "@b", {"--proto", "tcp", "--port", "8081"}, "no-listener", "b", "", true},
    {"NoListenerUdpV6", "vethpair", "a", "fd00:3::2", {"--proto", "udp", "--port", "5353"}, "no-listener", "b", "", true},
    {"NotLocal", "bridged; ip -n $P-a neigh replace 10.9.0.50 lladdr $(ip netns exec $P-b cat /sys/class/net/eth0/address) dev eth0 nud permanent", "a", "10.9.0.50", {}, "not-local", "b", "eth0", false},
    {"UnknownPeerNamespace", "ns a; unshare -n sleep 300 >/dev/null 2>&1 & echo $! >> $PIDS; sleep 0.2; ip -n $P-a link add eth0 type veth peer name x0 netns $!; nsenter -t $! -n ip link set x0 up; ip -n $P-a link set eth0 up; ip -n $P-a addr add 10.8.0.1/24 dev eth0", "a", "10.8.0.2", {}, "unknown", "a", "eth0", false},
    // Two faults: the first one on the path is named.
    {"TwoFaultsForwardingBeforeReturnRoute", "routed; ip netns exec $P-r sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'; ip -n $P-b route del default", "a", "10.2.0.2", {}, "forwarding-off", "r", "ra", true},
    {"TwoFaultsMtuBeforeFirewall", "bridged; ip -n $P-a link set eth0 mtu 1400; fw h inet forward drop", "a", "10.9.0.2", {"--size", "1450"}, "mtu", "a", "eth0", true},
    {"TwoFaultsIsolationBeforeListener", "bridged; ip netns exec $P-h bridge link set dev va isolated on; ip netns exec $P-h bridge link set dev vb isolated on", "a", "@b", {"--proto", "tcp", "--port", "9"}, "port-isolated", "h", "vb", true},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Explain : public NetnsFixture, public ::testing::WithParamInterface<Case> {
 protected:
  Explain() : NetnsFixture("tex") {
    pids_ = "/tmp/" + prefix() + ".pids";
    for (const char* s : {"h", "a", "b", "r", "sw", "n1", "n2"}) ns_name(std::string("-") + s);
  }
  ~Explain() override {
    // Only the processes this test started, by pid.
    std::ifstream f(pids_);
    for (pid_t pid; f >> pid;) ::kill(pid, SIGKILL);
    std::remove(pids_.c_str());
  }
  void setup(const std::string& script) {
    auto r = run({"sh", "-c", std::string(kLib) + "\n" + script + "\nsettle"}, {{"P", prefix()}, {"PIDS", pids_}});
    ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.err;
  }
  std::string ns(const std::string& suffix) { return prefix() + "-" + suffix; }
  json explain(const Case& c, bool probe) {
    std::vector<std::string> args{"explain", ns(c.src), c.dst[0] == '@' ? ns(c.dst + 1) : c.dst, "-o", "json"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    if (probe) args.push_back("--probe");
    auto r = ctnet(args);
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    bool reaches = std::string(c.code) == "reaches";
    EXPECT_EQ(r.exit_code, reaches ? 0 : 1) << r.err;
    return j;
  }
  std::string pids_;
};

TEST_P(Explain, Walk) {
  const Case& c = GetParam();
  setup(c.setup);
  json j = explain(c, false);
  ASSERT_TRUE(j.is_object());
  if (std::string(c.code) == "reaches") {
    EXPECT_EQ(j["verdict"], "reaches") << j.dump(2);
    EXPECT_TRUE(j["reason"].is_null());
    return;
  }
  ASSERT_EQ(j["verdict"], "stops") << j.dump(2);
  EXPECT_EQ(j["reason"], c.code) << j.dump(2);
  EXPECT_EQ(j["hop"]["namespace"], ns(c.hop_ns)) << j.dump(2);
  if (*c.hop_dev) {
    EXPECT_EQ(j["hop"]["device"], c.hop_dev) << j.dump(2);
  }
  EXPECT_FALSE(j["fix"].get<std::string>().empty());
}

// The probe, for the cases whose fault the probe can show within its wait (not a FAILED neighbour entry, ...).
class ExplainProbe : public Explain {};
std::vector<Case> probed_cases() {
  std::vector<Case> v;
  for (const auto& c : kCases)
    if (c.probe) v.push_back(c);
  return v;
}

TEST_P(ExplainProbe, Probe) {
  const Case& c = GetParam();
  setup(c.setup);
  json j = explain(c, true);
  ASSERT_TRUE(j.is_object() && j.contains("probe")) << j.dump(2);
  const json& p = j["probe"];
  // One line per case in the test log: what the kernel itself said.
  std::cout << "[probe] " << c.name << ": " << p["outcome"].get<std::string>() << "; reason " << p["reason"].dump()
            << "; drops " << p["drops"].dump() << "; nftables " << p["nftables"].dump() << "\n";
  EXPECT_EQ(p["reached"], std::string(c.code) == "reaches") << j.dump(2);
  EXPECT_TRUE(p["agrees"].get<bool>()) << j.dump(2);
  // Where the kernel names a reason of its own, it is the walk's.
  if (std::string(c.code) != "reaches" && !p["reason"].is_null() && std::string(c.code) != "bridge-netfilter-drop") {
    EXPECT_EQ(p["reason"], c.code) << j.dump(2);
  }
  // Nothing of the probe is left behind: no tracefs instance, no nftables table.
  auto t = run({"sh", "-c", "ls /sys/kernel/tracing/instances 2>/dev/null | grep -c ctnet-explain || true"});
  EXPECT_EQ(t.out, "0\n");
  auto n = run({"sh", "-c", "for n in $(ls /run/netns | grep ^" + prefix() + "-); do ip netns exec $n nft list tables; done | grep -c ctnet_probe || true"});
  EXPECT_EQ(n.out, "0\n");
}

INSTANTIATE_TEST_SUITE_P(Faults, Explain, ::testing::ValuesIn(kCases), [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Faults, ExplainProbe, ::testing::ValuesIn(probed_cases()), [](const auto& info) { return info.param.name; });

// The cannot-tell rule: a match the walk cannot evaluate is said so, never guessed.
class ExplainCannotTell : public NetnsFixture {
 protected:
  ExplainCannotTell() : NetnsFixture("tey") {}
};

TEST_F(ExplainCannotTell, UnevaluableRuleIsReportedNotGuessed) {
  const std::string P = prefix();
  for (const char* s : {"-a", "-r", "-b"}) ns_name(s);
  auto r = run({"sh", "-c", std::string(kLib) + "\nrouted; fw r inet forward accept 'meta mark 7 drop'"},
               {{"P", P}, {"PIDS", "/dev/null"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto e = ctnet({"explain", P + "-a", "10.2.0.2"});
  EXPECT_EQ(e.exit_code, 0) << e.out << e.err;
  EXPECT_NE(e.out.find("cannot tell"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("reaches 10.2.0.2"), std::string::npos) << e.out;
}

TEST_F(ExplainCannotTell, BadInputNamesTheField) {
  auto e = ctnet({"explain", "no-such-ns-tey", "10.0.0.1"});
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.err.find("SRC"), std::string::npos) << e.err;
  auto p = ctnet({"explain", "no-such-ns-tey", "10.0.0.1", "--proto", "tcp"});
  EXPECT_EQ(p.exit_code, 2);
}

}  // namespace
}  // namespace ctnet::test

namespace ctnet::test {
namespace {

// A lab brought up by ctnet itself: explain takes LAB/NODE, and `check` prints the explain verdict of every
// pair that fails.
class ExplainLab : public NetnsFixture {
 protected:
  ExplainLab() : NetnsFixture("tez") { lab_ = prefix() + "-routed"; }
  ~ExplainLab() override { ctnet({"down", lab_}); }
  std::string lab_;
};

TEST_F(ExplainLab, LabNodesAndCheckPrintTheVerdictOfFailingPairs) {
  auto up = ctnet({"up", "--prefix", prefix() + "-", std::string(CTNET_SOURCE_DIR) + "/examples/routed.yaml"});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  auto ok = ctnet({"explain", lab_ + "/a1", lab_ + "/b1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("reaches 10.2.0."), std::string::npos) << ok.out;
  auto r = run({"ip", "netns", "exec", prefix() + "-router", "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(ctnet({"explain", lab_ + "/a1", lab_ + "/b1", "-o", "json"}).out);
  EXPECT_EQ(j["reason"], "forwarding-off") << j.dump(2);
  EXPECT_EQ(j["hop"]["namespace"], prefix() + "-router") << j.dump(2);
  auto check = ctnet({"check", lab_, "--count", "1", "--timeout", "200"});
  EXPECT_NE(check.exit_code, 0);
  EXPECT_NE(check.out.find("stops at " + prefix() + "-router"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("forwarding is off"), std::string::npos) << check.out;
  EXPECT_NE(ctnet({"explain", lab_ + "/nope", "10.2.0.2"}).err.find("has no namespace 'nope'"), std::string::npos);
  // doctor --lab: the lab's namespaces only; the bridges live in its fabric namespace, read there.
  auto d = ctnet({"doctor", "--lab", lab_, "-o", "json"});
  EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  bool fabric = false;
  for (auto& f : json::parse(d.out)) {
    std::string m = f["message"];
    fabric |= f["check"].get<std::string>().starts_with("bridge-nf-call") && m.find(prefix() + "-fabric") != std::string::npos;
    EXPECT_TRUE(m.find("namespace '") == std::string::npos || m.find("namespace '" + prefix() + "-") != std::string::npos)
        << "a finding outside the lab: " << m;
  }
  if (::access("/proc/sys/net/bridge", F_OK) == 0) {
    EXPECT_TRUE(fabric) << d.out;
  }
}

}  // namespace
}  // namespace ctnet::test
