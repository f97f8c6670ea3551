// Labs built by the real binary against the real kernel. Each test runs ctnet inside a throwaway "host"
// namespace of its own (nsenter --net), so bridges and host-side veth ends never touch the machine's own
// namespace; lab namespaces carry the test prefix (`up --prefix ttop<pid><n>-`); the state directory is a
// temporary one. The fixture removes everything with that prefix even when a test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sys/mount.h>

#include "addr/address.h"
#include "link/link.h"
#include "link/bridge.h"
#include "link/macvlan.h"
#include "link/veth.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "topology/parse.h"
#include "util/error.h"

using namespace ctnet;
namespace fs = std::filesystem;

namespace {

struct CliRun {
  int status = -1;  // exit code; 128 + signal when killed
  std::string out;  // stdout and stderr
};

std::atomic<int> counter{0};

class TopologyLab : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    prefix_ = "ttop" + std::to_string(getpid() % 100000) + "x" + std::to_string(counter++) + "-";
    host_ = prefix_ + "host";
    state_ = fs::temp_directory_path() / (prefix_ + "state");
    fs::create_directories(state_);
    NetNs::create_named(host_);
  }

  void TearDown() override {
    if (host_.empty()) return;
    // Whatever a test left: labs through ctnet first (it knows host-side objects), then any namespace with
    // the prefix, then the throwaway host namespace (its links die with it).
    if (fs::exists(state_ / "labs"))
      for (auto& e : fs::directory_iterator(state_ / "labs"))
        if (e.path().extension() == ".json") ctnet("down " + e.path().stem().string());
    for (auto& n : NetNs::list_named())
      if (n.starts_with(prefix_)) NetNs::remove_named(n);
    fs::remove_all(state_);
    fs::remove_all(dir());
  }

  fs::path dir() { return fs::temp_directory_path() / (prefix_ + "files"); }

  CliRun ctnet(const std::string& args, const std::string& env = "") {
    std::string cmd = env + " CTNET_STATE_DIR=" + state_.string() + " nsenter --net=" + NetNs::path_of(host_) + " " +
                      CTNET_BINARY + " " + args + " 2>&1";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r.out.find("SUMMARY: AddressSanitizer") != std::string::npos ||
        r.out.find("SUMMARY: UndefinedBehaviorSanitizer") != std::string::npos)
      ADD_FAILURE() << "ctnet " << args << " reported a sanitizer finding:\n" << r.out;
    return r;
  }

  std::string example(const std::string& name) { return std::string(CTNET_SOURCE_DIR) + "/examples/" + name + ".yaml"; }

  std::string write(const std::string& name, const std::string& text) {
    fs::create_directories(dir());
    auto p = dir() / name;
    std::ofstream(p) << text;
    return p.string();
  }

  std::vector<std::string> lab_namespaces() {
    std::vector<std::string> out;
    for (auto& n : NetNs::list_named())
      if (n.starts_with(prefix_) && n != host_) out.push_back(n);
    return out;
  }

  // Links in the throwaway host namespace other than lo (what a lab left behind there).
  std::vector<std::string> host_links() {
    auto s = NsSocket::open(host_);
    std::vector<std::string> out;
    for (auto& l : link::list(s.rtnl))
      if (l.name != "lo") out.push_back(l.name);
    return out;
  }

  std::optional<link::Link> find_link(const std::string& ns, const std::string& name) {
    auto s = NsSocket::open(ns);
    return link::find(s.rtnl, name);
  }

  // The name a host-side object of the file gets under `--prefix prefix_`.
  std::string host_name(const std::string& name) { return topo::prefixed_name(prefix_, name); }

  bool has_ns(const std::string& name) { return NetNs::exists(name); }

  // No record, journal or lock of any lab is left (the labs directory itself may stay).
  bool state_empty() { return !fs::exists(state_ / "labs") || fs::is_empty(state_ / "labs"); }

  void expect_nothing_left() {
    EXPECT_TRUE(lab_namespaces().empty()) << ::testing::PrintToString(lab_namespaces());
    EXPECT_TRUE(host_links().empty()) << ::testing::PrintToString(host_links());
    EXPECT_TRUE(state_empty());
  }

  std::string prefix_, host_;
  fs::path state_;
};

TEST_F(TopologyLab, EachExampleGoesUpPassesCheckAndLeavesNothing) {
  struct Ex {
    const char* file;
    const char* lab;
    std::vector<std::pair<std::string, std::string>> links;  // (namespace without prefix, ifname) to expect
  };
  std::vector<Ex> examples = {
      {"veth-pair", "veth-pair", {{"ns1", "veth-ns1"}, {"ns2", "veth-ns2"}}},
      {"seed-bridge", "seed", {{"ns1", "veth1-ns1"}, {"ns2", "veth2-ns2"}}},
      {"macvlan", "macvlan", {{"app1", "eth0"}, {"app2", "eth0"}, {"lan", "trunk0"}}},
      {"routed", "routed", {{"fabric", "br-a"}, {"router", "eth-b"}, {"b1", "eth0"}}},
      {"vxlan", "vxlan", {{"site1", "vx0"}, {"site2", "br2"}}},
  };
  for (auto& ex : examples) {
    SCOPED_TRACE(ex.file);
    CliRun up = ctnet(std::string("up --check --prefix ") + prefix_ + " " + example(ex.file));
    ASSERT_EQ(up.status, 0) << up.out;
    EXPECT_NE(up.out.find("expected paths answered"), std::string::npos) << up.out;
    for (auto& [ns, ifname] : ex.links) {
      auto l = find_link(prefix_ + ns, ifname);
      ASSERT_TRUE(l) << ns << "/" << ifname;
      EXPECT_TRUE(l->is_up()) << ns << "/" << ifname;
    }
    EXPECT_EQ(ctnet("labs").out.find(prefix_ + ex.lab) != std::string::npos, true);
    CliRun down = ctnet("down " + prefix_ + ex.lab);
    ASSERT_EQ(down.status, 0) << down.out;
    expect_nothing_left();
  }
}

TEST_F(TopologyLab, BridgeLabPortsAreEnslavedAndAddressesOnlyInNamespaces) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("seed-bridge")).status, 0);
  auto hs = NsSocket::open(host_);
  auto br = link::get(hs.rtnl, host_name("br0"));
  EXPECT_EQ(br.kind, "bridge");
  for (auto port : {"veth1", "veth2"}) {
    auto p = link::get(hs.rtnl, host_name(port));
    EXPECT_EQ(p.master, br.index) << port;
    EXPECT_TRUE(p.is_up()) << port;
    EXPECT_TRUE(addr::list(hs.rtnl, p.index).empty()) << port << " carries no address, not even a link-local";
  }
  {
    // The namespace side has exactly the file's address: IPv4 only, no IPv6 link-local (the file uses no IPv6).
    auto s = NsSocket::open(prefix_ + "ns1");
    auto l = link::get(s.rtnl, "veth1-ns1");
    auto addrs = addr::list(s.rtnl, l.index);
    ASSERT_EQ(addrs.size(), 1u);
    EXPECT_EQ(addrs[0].prefix.str(), "10.0.0.1/24");
  }
  EXPECT_EQ(ctnet("down " + prefix_ + "seed").status, 0);
  expect_nothing_left();
}

TEST_F(TopologyLab, DownWorksWithoutTheFileAndTwice) {
  std::string f = write("lab.yaml", "name: nofile\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=10.7.0.1/24\", \"b:e0=10.7.0.2/24\"]\n");
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + f).status, 0);
  fs::remove(f);
  CliRun st = ctnet("status " + prefix_ + "nofile");
  EXPECT_EQ(st.status, 0) << st.out;
  CliRun d1 = ctnet("down " + prefix_ + "nofile");
  EXPECT_EQ(d1.status, 0) << d1.out;
  CliRun d2 = ctnet("down " + prefix_ + "nofile");
  EXPECT_EQ(d2.status, 0) << d2.out;
  EXPECT_NE(d2.out.find("not up"), std::string::npos);
  expect_nothing_left();
}

// kill -9 at several points of `up` (after N objects, and between recording an intent and making it):
// `down` must still remove everything.
TEST_F(TopologyLab, DownAfterKillNineAtSeveralPoints) {
  // seed-bridge: 2 namespaces, 1 bridge, 2 veths in the host namespace = 5 objects.
  for (const char* phase : {"done", "intent"}) {
    for (int n : {0, 1, 2, 3, 4}) {
      if (n == 0 && std::string_view(phase) == "done") continue;  // nothing is done yet at 0
      SCOPED_TRACE(std::to_string(n) + " " + phase);
      CliRun up = ctnet("up --prefix " + prefix_ + " " + example("seed-bridge"),
                     "CTNET_TEST_KILL_AFTER=" + std::to_string(n) + " CTNET_TEST_KILL_PHASE=" + phase);
      EXPECT_EQ(up.status, 128 + 9) << up.out;
      CliRun labs = ctnet("labs");
      EXPECT_NE(labs.out.find("incomplete"), std::string::npos) << labs.out;
      CliRun down = ctnet("down " + prefix_ + "seed");
      EXPECT_EQ(down.status, 0) << down.out;
      expect_nothing_left();
    }
  }
}

TEST_F(TopologyLab, NamespaceCollisionHalfWayRollsBack) {
  // routed creates fabric, router, a1, a2, b1 in that order: b1 already exists (not the lab's).
  NetNs::create_named(prefix_ + "b1");
  CliRun up = ctnet("up --prefix " + prefix_ + " " + example("routed"));
  EXPECT_EQ(up.status, 1) << up.out;
  EXPECT_NE(up.out.find(prefix_ + "b1' already exists"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("rolled back"), std::string::npos) << up.out;
  EXPECT_EQ(lab_namespaces(), std::vector<std::string>{prefix_ + "b1"});  // only the one that was there before
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLab, LinkCollisionHalfWayRollsBackAndKeepsWhatWasNotOurs) {
  // veth2 (the second bridge port of seed-bridge) already exists in the host namespace.
  {
    auto hs = NsSocket::open(host_);
    link::create_veth(hs.rtnl, {.name = host_name("veth2"), .peer_name = "veth2-other"});
  }
  CliRun up = ctnet("up --prefix " + prefix_ + " " + example("seed-bridge"));
  EXPECT_EQ(up.status, 1) << up.out;
  EXPECT_NE(up.out.find(host_name("veth2")), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("File exists"), std::string::npos) << up.out;  // the kernel's reason
  EXPECT_TRUE(lab_namespaces().empty());
  auto left = host_links();
  std::sort(left.begin(), left.end());
  std::vector<std::string> want{host_name("veth2"), "veth2-other"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(left, want);
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLab, InvalidFilesNameFieldAndLineAndCreateNothing) {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"name: bad\nnamespaces: [a]\nlinks:\n  - kind: wormhole\n    endpoint: a:e0\n", "links[0].kind (line 4)"},
      {"name: bad\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=10.0.0.1/33\", b:e0]\n", "links[0].endpoints[0] (line 4)"},
      {"name: bad\nnamespaces: [a, a]\n", "namespaces[1] (line 2)"},
      {"name: bad\nnamespaces: [a, b]\nlinks:\n  - endpoints: [a:sixteen-bytes-xx, b:e0]\n", "links[0].endpoints[0] (line 4)"},
      {"name: bad\nnamespaces: [a]\nlinks:\n  - kind: macvlan\n    endpoint: a:mv0\n    parent: ttopnodev\n",
       "links[0].parent (line 4)"},
      {"name: bad\nnamespaces: [a]\nbridges:\n  br: {subnet: 10.1.0.0/24}\nlinks:\n  - endpoints: [\"a:e0=10.2.0.1/24\", br]\n",
       "links[0].endpoints[0] (line 6)"},
      {"name: bad\nnamespaces: [a]\nlinks:\n  - kind: vf\n    pf: ttopnopf\n    endpoint: a:eth0\n", "links[0].pf (line 4)"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    std::string f = write("bad.yaml", c.yaml);
    CliRun up = ctnet("up --prefix " + prefix_ + " " + f);
    EXPECT_EQ(up.status, 2) << up.out;
    EXPECT_NE(up.out.find(c.expect), std::string::npos) << up.out;
    CliRun v = ctnet("validate " + f);
    EXPECT_EQ(v.status, 2) << v.out;
    expect_nothing_left();
  }
}

TEST_F(TopologyLab, IpvlanIsRejectedAtValidationWhenTheKernelLacksIt) {
  if (link::kernel_has_link_kind("ipvlan")) GTEST_SKIP() << "this kernel has ipvlan";
  std::string f = write("ipvlan.yaml",
                        "name: ipv\nnamespaces: [a, b]\nlinks:\n  - endpoints: [a:p0, b:p0]\n"
                        "  - kind: ipvlan\n    endpoint: b:ipv0\n    parent: a:p0\n");
  CliRun up = ctnet("up --prefix " + prefix_ + " " + f);
  EXPECT_EQ(up.status, 2) << up.out;
  EXPECT_NE(up.out.find("no ipvlan driver"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("links[1].kind (line 5)"), std::string::npos) << up.out;
  expect_nothing_left();
}

TEST_F(TopologyLab, ConvergingUpRecreatesALinkDeletedByHand) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("routed")).status, 0);
  {
    auto s = NsSocket::open(prefix_ + "a1");
    ASSERT_TRUE(link::remove(s.rtnl, "eth0"));
  }
  CliRun st = ctnet("status -o json " + prefix_ + "routed");
  EXPECT_EQ(st.status, 1) << st.out;
  EXPECT_NE(st.out.find("\"missing\""), std::string::npos) << st.out;
  auto br_before = find_link(prefix_ + "fabric", "br-a");
  ASSERT_TRUE(br_before);

  CliRun again = ctnet("up --check --prefix " + prefix_ + " " + example("routed"));
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("was missing, created"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("5 created"), std::string::npos) << again.out;  // the veth, its two addresses, a1's two routes
  auto br_after = find_link(prefix_ + "fabric", "br-a");
  ASSERT_TRUE(br_after);
  EXPECT_EQ(br_after->index, br_before->index);  // what was right was not touched
  ASSERT_TRUE(find_link(prefix_ + "a1", "eth0"));
  EXPECT_EQ(ctnet("status " + prefix_ + "routed").status, 0);

  ASSERT_EQ(ctnet("down " + prefix_ + "routed").status, 0);
  expect_nothing_left();
}

TEST_F(TopologyLab, ConvergingUpBringsUpALinkThatIsDown) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("veth-pair")).status, 0);
  {
    auto s = NsSocket::open(prefix_ + "ns1");
    auto l = link::get(s.rtnl, "veth-ns1");
    link::change(s.rtnl, l.index, {.up = false}, "test");
  }
  CliRun st = ctnet("status " + prefix_ + "veth-pair");
  EXPECT_EQ(st.status, 1) << st.out;
  EXPECT_NE(st.out.find("differs"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("veth-ns1 is down"), std::string::npos) << st.out;
  CliRun again = ctnet("up --prefix " + prefix_ + " " + example("veth-pair"));
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("veth-ns1 is down (repaired)"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("1 repaired"), std::string::npos) << again.out;
  EXPECT_TRUE(find_link(prefix_ + "ns1", "veth-ns1")->is_up());
  EXPECT_EQ(ctnet("status " + prefix_ + "veth-pair").status, 0);
  EXPECT_EQ(ctnet("check --count 1 " + prefix_ + "veth-pair").status, 0);
  ASSERT_EQ(ctnet("down " + prefix_ + "veth-pair").status, 0);
  expect_nothing_left();
}

TEST_F(TopologyLab, HostDeviceMovesInAndBackOnDown) {
  {
    auto hs = NsSocket::open(host_);
    link::create_veth(hs.rtnl, {.name = "hd0", .peer_name = "hd0-peer"});
  }
  std::string f = write("hd.yaml",
                        "name: hd\nnamespaces: [c]\nlinks:\n  - kind: host-device\n    device: hd0\n"
                        "    endpoint: \"c:net1=10.8.0.1/24\"\n");
  CliRun up = ctnet("up --prefix " + prefix_ + " " + f);
  ASSERT_EQ(up.status, 0) << up.out;
  auto moved = find_link(prefix_ + "c", "net1");
  ASSERT_TRUE(moved);
  EXPECT_TRUE(moved->is_up());
  EXPECT_FALSE(find_link(host_, "hd0"));
  CliRun down = ctnet("down " + prefix_ + "hd");
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_TRUE(find_link(host_, "hd0"));  // back home under its own name
  EXPECT_TRUE(lab_namespaces().empty());
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLab, GraphAndStatusWorkFromTheRecord) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("seed-bridge")).status, 0);
  CliRun dot = ctnet("graph -o dot " + prefix_ + "seed");
  EXPECT_EQ(dot.status, 0);
  EXPECT_NE(dot.out.find("veth1-ns1"), std::string::npos) << dot.out;
  CliRun text = ctnet("graph " + prefix_ + "seed");
  EXPECT_NE(text.out.find("10.0.0.2/24"), std::string::npos) << text.out;
  CliRun st = ctnet("status -o json " + prefix_ + "seed");
  EXPECT_EQ(st.status, 0) << st.out;
  EXPECT_NE(st.out.find("\"ok\": true"), std::string::npos) << st.out;
  ASSERT_EQ(ctnet("down " + prefix_ + "seed").status, 0);
  expect_nothing_left();
}

}  // namespace

namespace {
TEST_F(TopologyLab, CheckFailsWhenAnExpectedPathIsBroken) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("veth-pair")).status, 0);
  {
    auto s = NsSocket::open(prefix_ + "ns2");
    link::change(s.rtnl, link::get(s.rtnl, "veth-ns2").index, {.up = false}, "test");
  }
  CliRun check = ctnet("check --count 1 --timeout 200 " + prefix_ + "veth-pair");
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("FAIL"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("0 of 2 expected paths answered, 2 failed"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("hint: `ctnet status"), std::string::npos) << check.out;
  CliRun json = ctnet("check -o json --count 1 --timeout 200 " + prefix_ + "veth-pair");
  EXPECT_NE(json.out.find("\"ok\": false"), std::string::npos) << json.out;
  ASSERT_EQ(ctnet("down " + prefix_ + "veth-pair").status, 0);
  expect_nothing_left();
}
}  // namespace

// ---- topology as a diff: repairs, identities, prefix, damaged records, prune, dry-run -------------------------
namespace {

TEST_F(TopologyLab, BridgeDeletedByHandIsRecreatedWithItsPorts) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("seed-bridge")).status, 0);
  {
    auto hs = NsSocket::open(host_);
    ASSERT_TRUE(link::remove(hs.rtnl, host_name("br0")));
  }
  CliRun st = ctnet("status " + prefix_ + "seed");
  EXPECT_EQ(st.status, 1) << st.out;
  EXPECT_NE(st.out.find("missing  bridge host/" + host_name("br0")), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("is not a port of its bridge"), std::string::npos) << st.out;

  CliRun again = ctnet("up --prefix " + prefix_ + " " + example("seed-bridge"));
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("1 created, 2 repaired"), std::string::npos) << again.out;
  auto hs = NsSocket::open(host_);
  auto br = link::get(hs.rtnl, host_name("br0"));
  for (auto port : {"veth1", "veth2"}) EXPECT_EQ(link::get(hs.rtnl, host_name(port)).master, br.index) << port;
  EXPECT_EQ(ctnet("status " + prefix_ + "seed").status, 0);
  CliRun check = ctnet("check --count 1 " + prefix_ + "seed");
  EXPECT_EQ(check.status, 0) << check.out;
  ASSERT_EQ(ctnet("down " + prefix_ + "seed").status, 0);
  expect_nothing_left();
}

TEST_F(TopologyLab, StaleNamespaceFileIsRecovered) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("veth-pair")).status, 0);
  // Unmounted, the file stays behind (a crashed `ip netns add`, a /run that is not a tmpfs across a reboot),
  // and the namespace it named is gone with its veth.
  const std::string path = NetNs::path_of(prefix_ + "ns1");
  ASSERT_EQ(umount2(path.c_str(), MNT_DETACH), 0);
  ASSERT_TRUE(fs::exists(path));
  // The kernel destroys the namespace asynchronously (cleanup_net); its veth's other end goes with it.
  for (int i = 0; i < 500 && find_link(prefix_ + "ns2", "veth-ns2"); ++i) usleep(10000);
  ASSERT_FALSE(find_link(prefix_ + "ns2", "veth-ns2"));
  CliRun st = ctnet("status " + prefix_ + "veth-pair");
  EXPECT_EQ(st.status, 1) << st.out;
  EXPECT_NE(st.out.find("stale file"), std::string::npos) << st.out;
  CliRun again = ctnet("up --prefix " + prefix_ + " " + example("veth-pair"));
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("namespace " + prefix_ + "ns1"), std::string::npos) << again.out;
  EXPECT_TRUE(find_link(prefix_ + "ns1", "veth-ns1"));
  CliRun after = ctnet("status " + prefix_ + "veth-pair");
  EXPECT_EQ(after.status, 0) << after.out;
  EXPECT_EQ(ctnet("check --count 1 " + prefix_ + "veth-pair").status, 0);
  ASSERT_EQ(ctnet("down " + prefix_ + "veth-pair").status, 0);
  expect_nothing_left();
}

TEST_F(TopologyLab, OneFailedRepairDoesNotUndoTheOthers) {
  std::string f = write("two.yaml", "name: two\nnamespaces: [a, b, c]\nlinks:\n"
                                    "  - endpoints: [\"a:e0=10.9.0.1/24\", \"b:e0=10.9.0.2/24\"]\n"
                                    "  - endpoints: [\"a:e1=10.9.1.1/24\", \"c:e0=10.9.1.2/24\"]\n");
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + f).status, 0);
  {
    // The first link is deleted (up makes it again); the second one's end in `a` is now a bridge of
    // someone else's: that cannot be repaired, and its address must not go onto that bridge.
    auto s = NsSocket::open(prefix_ + "a");
    ASSERT_TRUE(link::remove(s.rtnl, "e0"));
    ASSERT_TRUE(link::remove(s.rtnl, "e1"));
    link::create_bridge(s.rtnl, {.name = "e1"});
  }
  CliRun again = ctnet("up --prefix " + prefix_ + " " + f);
  EXPECT_EQ(again.status, 1) << again.out;
  EXPECT_NE(again.out.find("is a bridge link, not a veth"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("(not made)"), std::string::npos) << again.out;  // its address, skipped
  auto e0 = find_link(prefix_ + "a", "e0");
  ASSERT_TRUE(e0);  // the repair that worked stands
  EXPECT_EQ(e0->kind, "veth");
  auto s = NsSocket::open(prefix_ + "a");
  EXPECT_TRUE(addr::list(s.rtnl, link::get(s.rtnl, "e1").index).empty());
  ASSERT_EQ(ctnet("down " + prefix_ + "two").status, 0);
  expect_nothing_left();
}

// A lab built with --host-netns X records X as its host (by identity): `down` without the option removes the
// lab's bridge in X, not the same-named bridge of the namespace it runs in.
TEST_F(TopologyLab, HostNetnsIsRecordedAndDownFindsIt) {
  const std::string x = prefix_ + "hx";
  NetNs::create_named(x);
  CliRun up = ctnet("--host-netns " + x + " up --prefix " + prefix_ + " " + example("seed-bridge"));
  ASSERT_EQ(up.status, 0) << up.out;
  const std::string br = host_name("br0");
  ASSERT_TRUE(find_link(x, br));
  EXPECT_FALSE(find_link(host_, br));
  {
    auto hs = NsSocket::open(host_);
    link::create_bridge(hs.rtnl, {.name = br});  // someone else's, in the namespace ctnet runs in
  }
  CliRun st = ctnet("status " + prefix_ + "seed");  // without the option: the record says where the host was
  EXPECT_EQ(st.status, 0) << st.out;
  CliRun labs = ctnet("labs -o json");
  EXPECT_NE(labs.out.find("\"host\": \"" + x + "\""), std::string::npos) << labs.out;
  CliRun down = ctnet("down " + prefix_ + "seed");
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_FALSE(find_link(x, br));
  EXPECT_FALSE(find_link(x, host_name("veth1")));
  ASSERT_TRUE(find_link(host_, br));
  EXPECT_EQ(find_link(host_, br)->kind, "bridge");
  EXPECT_TRUE(state_empty());
  NetNs::remove_named(x);
}

TEST_F(TopologyLab, ANamespaceReplacedBySomeoneElseIsLeftAlone) {
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("veth-pair")).status, 0);
  NetNs::remove_named(prefix_ + "ns1");
  NetNs::create_named(prefix_ + "ns1");  // same name, another namespace
  CliRun down = ctnet("down " + prefix_ + "veth-pair");
  EXPECT_EQ(down.status, 0) << down.out;
  EXPECT_NE(down.out.find("namespace " + prefix_ + "ns1: replaced, left alone"), std::string::npos) << down.out;
  EXPECT_TRUE(has_ns(prefix_ + "ns1"));
  EXPECT_FALSE(has_ns(prefix_ + "ns2"));
  EXPECT_TRUE(state_empty());
}

TEST_F(TopologyLab, TwoCopiesWithPrefixesSideBySide) {
  const std::string a = prefix_ + "a-", b = prefix_ + "b-";
  for (auto& p : {a, b}) {
    CliRun up = ctnet("up --check --prefix " + p + " " + example("seed-bridge"));
    ASSERT_EQ(up.status, 0) << up.out;
  }
  auto hs = NsSocket::open(host_);
  EXPECT_NE(link::get(hs.rtnl, topo::prefixed_name(a, "br0")).index, link::get(hs.rtnl, topo::prefixed_name(b, "br0")).index);
  for (auto& p : {a, b}) EXPECT_EQ(ctnet("check --count 1 " + p + "seed").status, 0) << p;
  for (auto& p : {a, b}) EXPECT_EQ(ctnet("down " + p + "seed").status, 0) << p;
  expect_nothing_left();
}

TEST_F(TopologyLab, ADamagedRecordIsListedAndForcedDown) {
  const std::string other = prefix_ + "s-";
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("veth-pair")).status, 0);
  ASSERT_EQ(ctnet("up --prefix " + other + " " + example("seed-bridge")).status, 0);
  // Torn right after its first object (namespace ns1): the rest of the file is lost.
  fs::path rec = state_ / "labs" / (prefix_ + "veth-pair.json");
  std::string text;
  {
    std::ifstream in(rec);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto first = text.find("\"kind\":\"netns\"");
  ASSERT_NE(first, std::string::npos) << text;
  std::ofstream(rec, std::ios::trunc) << text.substr(0, text.find('\n', first) + 1) << "{\"kind\":\"ve";

  CliRun labs = ctnet("labs");
  EXPECT_EQ(labs.status, 0) << labs.out;
  EXPECT_NE(labs.out.find("damaged"), std::string::npos) << labs.out;
  EXPECT_NE(labs.out.find(other + "seed"), std::string::npos) << labs.out;  // the others are still listed
  CliRun down = ctnet("down " + prefix_ + "veth-pair");
  EXPECT_EQ(down.status, 1) << down.out;
  EXPECT_NE(down.out.find("--force"), std::string::npos) << down.out;
  EXPECT_TRUE(has_ns(prefix_ + "ns1"));
  CliRun forced = ctnet("down --force " + prefix_ + "veth-pair");
  EXPECT_EQ(forced.status, 0) << forced.out;
  EXPECT_FALSE(has_ns(prefix_ + "ns1"));  // what the record still named
  EXPECT_FALSE(fs::exists(rec));
  EXPECT_EQ(ctnet("status " + other + "seed").status, 0);
  ASSERT_EQ(ctnet("down " + other + "seed").status, 0);
  NetNs::remove_named(prefix_ + "ns2");  // the part the damaged record had lost
  expect_nothing_left();
}

TEST_F(TopologyLab, ObjectsNoLongerInTheFileAreNamedAndPruned) {
  std::string v1 = write("p1.yaml", "name: pr\nnamespaces: [a, b, c]\nlinks:\n"
                                    "  - endpoints: [\"a:e0=10.9.0.1/24\", \"b:e0=10.9.0.2/24\"]\n"
                                    "  - endpoints: [\"a:e1=10.9.1.1/24\", \"c:e0=10.9.1.2/24\"]\n");
  std::string v2 = write("p2.yaml", "name: pr\nnamespaces: [a, b]\nlinks:\n"
                                    "  - endpoints: [\"a:e0=10.9.0.1/24\", \"b:e0=10.9.0.2/24\"]\n");
  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + v1).status, 0);
  CliRun dry = ctnet("up --dry-run --prefix " + prefix_ + " " + v2);
  EXPECT_EQ(dry.status, 0) << dry.out;
  EXPECT_NE(dry.out.find("- namespace " + prefix_ + "c (in the record, not in the file"), std::string::npos) << dry.out;
  CliRun again = ctnet("up --prefix " + prefix_ + " " + v2);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("namespace " + prefix_ + "c (in the record, not in the file"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("veth e1 in " + prefix_ + "a"), std::string::npos) << again.out;
  EXPECT_TRUE(has_ns(prefix_ + "c"));  // named, not removed
  CliRun st = ctnet("status " + prefix_ + "pr");
  EXPECT_EQ(st.status, 1) << st.out;
  EXPECT_NE(st.out.find("stale"), std::string::npos) << st.out;
  CliRun prune = ctnet("up --prune --prefix " + prefix_ + " " + v2);
  EXPECT_EQ(prune.status, 0) << prune.out;
  EXPECT_NE(prune.out.find("removed: no longer in the file"), std::string::npos) << prune.out;
  EXPECT_FALSE(has_ns(prefix_ + "c"));
  EXPECT_FALSE(find_link(prefix_ + "a", "e1"));
  EXPECT_TRUE(find_link(prefix_ + "a", "e0"));
  EXPECT_EQ(ctnet("status " + prefix_ + "pr").status, 0);
  ASSERT_EQ(ctnet("down " + prefix_ + "pr").status, 0);
  expect_nothing_left();
}

TEST_F(TopologyLab, DryRunPrintsTheActionsAndChangesNothing) {
  CliRun fresh = ctnet("up --dry-run --prefix " + prefix_ + " " + example("seed-bridge"));
  EXPECT_EQ(fresh.status, 0) << fresh.out;
  EXPECT_NE(fresh.out.find("+ namespace " + prefix_ + "ns1"), std::string::npos) << fresh.out;
  EXPECT_NE(fresh.out.find("+ bridge host/" + host_name("br0")), std::string::npos) << fresh.out;
  EXPECT_NE(fresh.out.find("7 to create"), std::string::npos) << fresh.out;
  expect_nothing_left();

  ASSERT_EQ(ctnet("up --prefix " + prefix_ + " " + example("seed-bridge")).status, 0);
  {
    auto s = NsSocket::open(prefix_ + "ns2");
    link::change(s.rtnl, link::get(s.rtnl, "veth2-ns2").index, {.up = false}, "test");
    auto n1 = NsSocket::open(prefix_ + "ns1");
    ASSERT_TRUE(link::remove(n1.rtnl, "veth1-ns1"));
  }
  CliRun dry = ctnet("up --dry-run --prefix " + prefix_ + " " + example("seed-bridge"));
  EXPECT_EQ(dry.status, 0) << dry.out;
  EXPECT_NE(dry.out.find("(missing: create)"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("veth2-ns2 is down (repair)"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("2 to create, 1 to repair, 4 as specified"), std::string::npos) << dry.out;
  EXPECT_FALSE(find_link(prefix_ + "ns1", "veth1-ns1"));
  EXPECT_FALSE(find_link(prefix_ + "ns2", "veth2-ns2")->is_up());
  ASSERT_EQ(ctnet("down " + prefix_ + "seed").status, 0);
  expect_nothing_left();
}

}  // namespace
