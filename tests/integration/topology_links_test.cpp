// Lab links like real ones, on this machine's kernel: per-endpoint MAC, MTU and queue length as the kernel has
// them, a lab attached to an external bridge (made by the test with ctnet's own bridge code) that `down`
// leaves in place without its ports, and the refusals (each naming its field) that leave nothing behind —
// among them an impairment on a kernel without sch_netem. ctnet runs inside a throwaway "host" namespace;
// lab namespaces carry the test prefix; the state directory is a temporary one.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "kinds/subif.h"
#include "link/bridge.h"
#include "link/link.h"
#include "link/macvlan.h"
#include "link/tc.h"
#include "link/veth.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "topology/parse.h"

using namespace ctnet;
namespace fs = std::filesystem;

namespace {

std::atomic<int> counter{0};

class TopologyLinks : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    prefix_ = "ctlk" + std::to_string(getpid() % 100000) + "x" + std::to_string(counter++) + "-";
    host_ = prefix_ + "host";
    state_ = fs::temp_directory_path() / (prefix_ + "state");
    fs::create_directories(state_);
    NetNs::create_named(host_);
  }

  void TearDown() override {
    if (host_.empty()) return;
    if (fs::exists(state_ / "labs"))
      for (auto& e : fs::directory_iterator(state_ / "labs"))
        if (e.path().extension() == ".json") ctnet("down " + e.path().stem().string());
    for (auto& n : NetNs::list_named())
      if (n.starts_with(prefix_)) NetNs::remove_named(n);  // the host namespace's links die with it
    fs::remove_all(state_);
    fs::remove_all(dir());
  }

  fs::path dir() { return fs::temp_directory_path() / (prefix_ + "files"); }

  struct Run {
    int status = -1;
    std::string out;
  };
  Run ctnet(const std::string& args) {
    std::string cmd = "CTNET_STATE_DIR=" + state_.string() + " nsenter --net=" + NetNs::path_of(host_) + " " +
                      CTNET_BINARY + " " + args + " 2>&1";
    Run r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
  }

  std::string write(const std::string& text) {
    fs::create_directories(dir());
    auto p = dir() / "lab.yaml";
    std::ofstream(p) << text;
    return p.string();
  }

  std::optional<link::Link> find_link(const std::string& ns, const std::string& name) {
    auto s = NsSocket::open(ns);
    return link::find(s.rtnl, name);
  }

  std::vector<std::string> lab_namespaces() {
    std::vector<std::string> out;
    for (auto& n : NetNs::list_named())
      if (n.starts_with(prefix_) && n != host_) out.push_back(n);
    return out;
  }

  std::vector<std::string> host_links() {
    auto s = NsSocket::open(host_);
    std::vector<std::string> out;
    for (auto& l : link::list(s.rtnl))
      if (l.name != "lo") out.push_back(l.name);
    return out;
  }

  bool state_empty() { return !fs::exists(state_ / "labs") || fs::is_empty(state_ / "labs"); }

  // A refused file: the exit status, the field and the text in the message, and nothing made.
  void expect_refused(const std::string& yaml, const std::string& field, const std::string& text) {
    Run r = ctnet("up --prefix " + prefix_ + " " + write(yaml));
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.out.find(field), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(text), std::string::npos) << r.out;
    EXPECT_TRUE(lab_namespaces().empty()) << ::testing::PrintToString(lab_namespaces());
    EXPECT_TRUE(state_empty());
  }

  std::string prefix_, host_;
  fs::path state_;
};

TEST_F(TopologyLinks, EndpointMacMtuAndQueueLengthAreTheKernels) {
  const std::string yaml = R"(name: ends
namespaces: [a, b]
links:
  - mtu: 1450
    endpoints:
      - {namespace: a, name: e1, addresses: [10.0.0.1/24], mac: "02:00:5e:10:00:01", mtu: 1400, txqueuelen: 50}
      - {namespace: b, name: e2, addresses: [10.0.0.2/24]}
)";
  Run up = ctnet("up --prefix " + prefix_ + " " + write(yaml));
  ASSERT_EQ(up.status, 0) << up.out;
  auto a = find_link(prefix_ + "a", "e1");
  auto b = find_link(prefix_ + "b", "e2");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->mac->str(), "02:00:5e:10:00:01");
  EXPECT_EQ(a->mtu, 1400u);   // the end's own
  EXPECT_EQ(a->txqlen, 50u);
  EXPECT_EQ(b->mtu, 1450u);   // the link's
  EXPECT_NE(b->txqlen, 50u);
  Run st = ctnet("status " + prefix_ + "ends");
  EXPECT_EQ(st.status, 0) << st.out;
  {
    // Changed behind the lab's back: status names it, up repairs it.
    auto s = NsSocket::open(prefix_ + "a");
    link::change(s.rtnl, a->index, {.mtu = 1300, .txqlen = 70}, "test");
  }
  st = ctnet("status " + prefix_ + "ends");
  EXPECT_NE(st.status, 0) << st.out;
  EXPECT_NE(st.out.find("mtu 1300 (want 1400)"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("txqueuelen 70 (want 50)"), std::string::npos) << st.out;
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + write(yaml)).status, 0);
  a = find_link(prefix_ + "a", "e1");
  EXPECT_EQ(a->mtu, 1400u);
  EXPECT_EQ(a->txqlen, 50u);
  Run down = ctnet("down " + prefix_ + "ends");
  ASSERT_EQ(down.status, 0) << down.out;
  EXPECT_TRUE(lab_namespaces().empty());
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLinks, ExternalBridgeGetsPortsAndOutlivesTheLab) {
  {
    auto s = NsSocket::open(host_);
    link::create_bridge(s.rtnl, {.name = "ctlkbr0"});
  }
  const std::string yaml = R"(name: ext
namespaces: [a, b]
bridges:
  ctlkbr0: {external: true}
links:
  - endpoints: ["a:eth0=10.1.0.1/24", "ctlkbr0:pa"]
  - endpoints: ["b:eth0=10.1.0.2/24", "ctlkbr0:pb"]
)";
  Run up = ctnet("up --check --prefix " + prefix_ + " " + write(yaml));
  ASSERT_EQ(up.status, 0) << up.out;
  auto hs = NsSocket::open(host_);
  const link::Link br = link::get(hs.rtnl, "ctlkbr0");  // not renamed by --prefix: it is not the lab's
  EXPECT_EQ(link::list_ports(hs.rtnl, br.index).size(), 2u);
  Run st = ctnet("status " + prefix_ + "ext");
  EXPECT_EQ(st.status, 0) << st.out;
  EXPECT_EQ(st.out.find("bridge host/ctlkbr0"), std::string::npos) << "an external bridge is no object of the lab:\n" << st.out;
  Run down = ctnet("down " + prefix_ + "ext");
  ASSERT_EQ(down.status, 0) << down.out;
  auto after = link::find(hs.rtnl, "ctlkbr0");
  ASSERT_TRUE(after) << "down removed the external bridge";
  EXPECT_EQ(after->index, br.index);
  EXPECT_TRUE(link::list_ports(hs.rtnl, br.index).empty());
  EXPECT_EQ(host_links(), std::vector<std::string>{"ctlkbr0"});
  EXPECT_TRUE(lab_namespaces().empty());
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLinks, ExternalBridgeMustExistAndBeABridge) {
  const std::string yaml = "name: ext\nnamespaces: [a]\nbridges:\n  ctlkbr1: {external: true}\n"
                           "links:\n  - endpoints: [\"a:eth0=10.2.0.1/24\", ctlkbr1]\n";
  expect_refused(yaml, "bridges.ctlkbr1.external", "does not exist in the host namespace");
  {
    auto s = NsSocket::open(host_);
    link::create_veth(s.rtnl, {.name = "ctlkbr1", .peer_name = "ctlkbr1p"});
  }
  expect_refused(yaml, "bridges.ctlkbr1.external", "is a veth link, not a bridge");
  EXPECT_EQ(host_links().size(), 2u);  // the test's veth pair, untouched
}

TEST_F(TopologyLinks, ImpairmentOnAKernelWithoutNetemIsRefusedBeforeAnythingIsMade) {
  if (link::tc::kernel_has_netem()) GTEST_SKIP() << "this kernel has sch_netem (the kernel suite lab-links covers it)";
  expect_refused("name: imp\nnamespaces: [a, b]\nlinks:\n  - endpoints:\n"
                 "      - {namespace: a, name: e1, addresses: [10.3.0.1/24], impair: {delay: 50ms, loss: 20%}}\n"
                 "      - \"b:e2=10.3.0.2/24\"\n",
                 "links[0].endpoints[0].impair", "this kernel has no netem (sch_netem");
  EXPECT_TRUE(host_links().empty());
}

TEST_F(TopologyLinks, VlanAndDummyKindsOnAKernelWithoutThemAreRefusedBeforeAnythingIsMade) {
  const std::string head = "name: vd\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n";
  if (kinds::subif::kernel_has_driver(kinds::subif::Kind::vlan)) GTEST_SKIP() << "this kernel has 8021q (the kernel suite covers it)";
  expect_refused(head + "  - {kind: vlan, parent: \"a:e0\", id: 10}\n", "links[1].kind", "no 802.1Q VLAN driver");
  if (link::kernel_has_link_kind("dummy")) GTEST_SKIP() << "this kernel has dummy";
  expect_refused(head + "  - {kind: dummy, namespace: b, name: d0}\n", "links[1].kind", "no dummy driver");
  EXPECT_TRUE(host_links().empty());
}

// This kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): the kernel refuses the bridge when it
// is made, and the namespaces made before it are removed again.
TEST_F(TopologyLinks, AVlanAwareBridgeTheKernelRefusesRollsBackTheWholeLab) {
  const std::string yaml = "name: vb\nnamespaces: [a]\nbridges: [{name: ctlkvbr, namespace: a, vlan_filtering: true}]\n"
                           "links:\n  - {a: {bridge: ctlkvbr, name: p0, vlan: 10}, b: \"a:e0=10.4.0.1/24\"}\n";
  Run r = ctnet("up --prefix " + prefix_ + " " + write(yaml));
  if (r.status == 0) {
    ctnet("down " + prefix_ + "vb");
    GTEST_SKIP() << "this kernel filters VLANs on bridges (the kernel suite lab-links covers it)";
  }
  EXPECT_NE(r.out.find("VLAN filtering"), std::string::npos) << r.out;
  EXPECT_TRUE(lab_namespaces().empty()) << ::testing::PrintToString(lab_namespaces());
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLinks, BadEndpointSettingsNameTheirField) {
  auto lab = [](const std::string& settings) {
    return "name: bad\nnamespaces: [a, b]\nlinks:\n  - endpoints:\n      - {namespace: a, name: e1, " + settings +
           "}\n      - \"b:e2\"\n";
  };
  expect_refused(lab("impair: {jitter: 2ms}"), "links[0].endpoints[0].impair.jitter", "needs `delay`");
  expect_refused(lab("impair: {delay: 5ms, reorder: 150%}"), "impair.reorder", "percentage");
  expect_refused(lab("impair: {rate: fast}"), "impair.rate", "is not a rate");
  expect_refused(lab("mac: ff:ff:ff:ff:ff:ff"), "links[0].endpoints[0].mac", "multicast");
  expect_refused(lab("mtu: 70000"), "links[0].endpoints[0].mtu", "");
  expect_refused(lab("txqueuelen: many"), "links[0].endpoints[0].txqueuelen", "not a number");
  EXPECT_TRUE(host_links().empty());
}

}  // namespace
