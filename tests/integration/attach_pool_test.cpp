// `ctnet attach`'s address pool (ops/bridge_pool.h): host-local's allocator and lock, one pool per bridge identity,
// leases held by namespace identity and released by detach, by the next attach once their namespace or bridge
// is gone, and by the rollback of the attach that took them (and no other). Everything runs in a throwaway host
// namespace with the test's own state directory; leases are read back from the pool's files, addresses through
// netlink.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "addr/address.h"
#include "link/link.h"
#include "ns/ns_socket.h"
#include "ns/sysctl.h"
#include "support/netns_fixture.h"
#include "util/ip.h"

using namespace ctnet;
using namespace ctnet::test;

namespace {

class AttachPool : public NetnsFixture {
 protected:
  AttachPool() : NetnsFixture("ap") {}

  std::vector<std::string> attach(const std::string& host, const std::string& ns, const std::string& br,
                                  std::vector<std::string> more) {
    std::vector<std::string> args{"--host-netns", host, "attach", ns, "--bridge", br};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  // Every lease of every pool: "POOL/ADDRESS" -> the holder's first line.
  std::map<std::string, std::string> leases() const {
    std::map<std::string, std::string> out;
    const std::filesystem::path dir = state_dir() + "/bridges";
    std::error_code ec;
    for (auto& pool : std::filesystem::directory_iterator(dir, ec))
      for (auto& f : std::filesystem::directory_iterator(pool.path()))
        if (IpAddress::try_parse(f.path().filename().string())) {
          std::ifstream in(f.path());
          std::string text{std::istreambuf_iterator<char>(in), {}};
          out[pool.path().filename().string() + "/" + f.path().filename().string()] = text.substr(0, text.find('\r'));
        }
    return out;
  }
  size_t pools() const {
    size_t n = 0;
    std::error_code ec;
    for (auto& p : std::filesystem::directory_iterator(state_dir() + "/bridges", ec)) n += p.is_directory();
    return n;
  }
  // The IPv4 or IPv6 (global) address of NS's end of the bridge link, "" if none.
  static std::string address_of(const std::string& ns, const std::string& br, int family = AF_INET) {
    NsSocket s = NsSocket::open(ns);
    auto l = link::find(s.rtnl, "veth-" + br);
    if (!l) return "";
    for (auto& a : addr::list(s.rtnl, l->index, family))
      if (family == AF_INET || a.prefix.address().data()[0] != 0xfe) return a.prefix.str();
    return "";
  }
  static bool bridge_has(const std::string& host, const std::string& br, const std::string& cidr) {
    NsSocket s = NsSocket::open(host);
    auto l = link::find(s.rtnl, br);
    if (!l) return false;
    for (auto& a : addr::list(s.rtnl, l->index))
      if (a.prefix.str() == cidr) return true;
    return false;
  }
};

TEST_F(AttachPool, ParallelAttachesNeverShareAnAddress) {
  auto host = make_ns("h");
  const std::string br = prefix() + "p";
  ASSERT_EQ(ctnet(attach(host, make_ns("g"), br, {"--subnet", "10.211.0.0/24", "--gateway"})).exit_code, 0);
  std::vector<std::string> spaces;
  for (int i = 0; i < 8; ++i) spaces.push_back(make_ns("n" + std::to_string(i)));
  std::vector<RunResult> results(spaces.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < spaces.size(); ++i)
    threads.emplace_back([&, i] { results[i] = ctnet(attach(host, spaces[i], br, {"--subnet", "10.211.0.0/24"})); });
  for (auto& t : threads) t.join();
  std::set<std::string> seen = {"10.211.0.1/24", address_of(prefix() + "g", br)};
  for (size_t i = 0; i < spaces.size(); ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << results[i].err;
    auto a = address_of(spaces[i], br);
    EXPECT_TRUE(seen.insert(a).second) << spaces[i] << " got " << a << ", which another attach has";
  }
  EXPECT_EQ(seen.size(), spaces.size() + 2);
  EXPECT_EQ(leases().size(), spaces.size() + 2) << "one lease per namespace, and the gateway's";
}

TEST_F(AttachPool, ParallelAttachesAndDetachesKeepThePoolWhole) {
  // The pool's directory goes with its last lease and comes back with the next: runs that race with that
  // (waiting for its lock, or opening it just before) start again instead of writing into a removed directory.
  auto host = make_ns("h");
  const std::string br = prefix() + "s";
  std::vector<std::string> spaces;
  for (int i = 0; i < 4; ++i) spaces.push_back(make_ns("s" + std::to_string(i)));
  std::vector<std::string> failures(spaces.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < spaces.size(); ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 10; ++k) {
        auto a = ctnet(attach(host, spaces[i], br, {"--subnet", "10.217.0.0/24"}));
        auto d = ctnet({"--host-netns", host, "detach", spaces[i], "--bridge", br});
        if (a.exit_code || d.exit_code) failures[i] += a.err + d.err;
      }
    });
  for (auto& t : threads) t.join();
  for (auto& f : failures) EXPECT_EQ(f, "");
  EXPECT_TRUE(leases().empty());
  EXPECT_EQ(pools(), 0u);
}

TEST_F(AttachPool, DetachReleasesTheLease) {
  auto host = make_ns("h"), a = make_ns("a"), b = make_ns("b"), c = make_ns("c");
  const std::string br = prefix() + "d";
  ASSERT_EQ(ctnet(attach(host, a, br, {"--subnet", "10.212.0.0/24"})).exit_code, 0);
  ASSERT_EQ(ctnet(attach(host, b, br, {"--subnet", "10.212.0.0/24"})).exit_code, 0);
  EXPECT_EQ(address_of(a, br), "10.212.0.1/24");
  EXPECT_EQ(address_of(b, br), "10.212.0.2/24");
  ASSERT_EQ(leases().size(), 2u);
  ASSERT_EQ(ctnet({"--host-netns", host, "detach", a, "--bridge", br}).exit_code, 0);
  auto left = leases();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left.begin()->first.ends_with("/10.212.0.2"));
  ASSERT_EQ(ctnet(attach(host, c, br, {"--subnet", "10.212.0.0/24"})).exit_code, 0);
  EXPECT_EQ(address_of(c, br), "10.212.0.1/24") << "the released address is handed out again";
  // The last detach leaves no pool behind.
  ASSERT_EQ(ctnet({"--host-netns", host, "detach", b, "--bridge", br}).exit_code, 0);
  ASSERT_EQ(ctnet({"--host-netns", host, "detach", c, "--bridge", br}).exit_code, 0);
  EXPECT_EQ(pools(), 0u);
}

TEST_F(AttachPool, ALeaseOfADeletedNamespaceIsReleasedAtTheNextAttach) {
  auto host = make_ns("h"), a = make_ns("a"), b = make_ns("b"), c = make_ns("c");
  const std::string br = prefix() + "n";
  ASSERT_EQ(ctnet(attach(host, a, br, {"--subnet", "10.213.0.0/24"})).exit_code, 0);
  ASSERT_EQ(ctnet(attach(host, b, br, {"--subnet", "10.213.0.0/24"})).exit_code, 0);
  ASSERT_TRUE(NetNs::remove_named(a));  // by hand, not through ctnet
  ASSERT_EQ(leases().size(), 2u);
  ASSERT_EQ(ctnet(attach(host, c, br, {"--subnet", "10.213.0.0/24"})).exit_code, 0);
  EXPECT_EQ(address_of(c, br), "10.213.0.1/24") << "the deleted namespace's address was not released";
  EXPECT_EQ(leases().size(), 2u);
  // A namespace made again under the same name (the kernel may give it the old inode) is another namespace:
  // the next attach releases the old one's lease and gives the new one its own.
  ASSERT_TRUE(NetNs::remove_named(b));
  NetNs::create_named(b);
  // (Another host end name: the kernel dismantles the old namespace's veth a moment later.)
  auto again = ctnet(attach(host, b, br, {"--subnet", "10.213.0.0/24", "--host-name", prefix() + "b2"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(address_of(b, br), "10.213.0.2/24");
  EXPECT_EQ(leases().size(), 2u);
}

TEST_F(AttachPool, ABridgeMadeAgainIsAFreshPoolAndSoIsOneInAnotherHost) {
  auto h1 = make_ns("h1"), h2 = make_ns("h2"), a = make_ns("a"), b = make_ns("b"), c = make_ns("c");
  const std::string br = prefix() + "r";
  ASSERT_EQ(ctnet(attach(h1, a, br, {"--subnet", "10.214.0.0/24", "--gateway"})).exit_code, 0);
  EXPECT_EQ(address_of(a, br), "10.214.0.2/24");
  // The same bridge name in another host namespace: another pool.
  ASSERT_EQ(ctnet(attach(h2, b, br, {"--subnet", "10.214.0.0/24", "--gateway"})).exit_code, 0);
  EXPECT_EQ(address_of(b, br), "10.214.0.2/24");
  EXPECT_EQ(pools(), 2u);
  // Deleted by hand and made again: the old pool goes at the next attach, the new bridge starts afresh.
  ASSERT_EQ(run({"ip", "-n", h1, "link", "del", br}).exit_code, 0);
  ASSERT_EQ(ctnet(attach(h1, c, br, {"--subnet", "10.214.0.0/24", "--gateway"})).exit_code, 0);
  EXPECT_EQ(address_of(c, br), "10.214.0.2/24");
  EXPECT_TRUE(bridge_has(h1, br, "10.214.0.1/24"));
  EXPECT_EQ(pools(), 2u) << "the deleted bridge's pool is still there";
  EXPECT_EQ(leases().size(), 4u);  // c and h2's b, each with its bridge's gateway
  // `link del` of a bridge takes its pool with it.
  ASSERT_EQ(ctnet({"--host-netns", h2, "link", "del", br}).exit_code, 0);
  EXPECT_EQ(pools(), 1u);
}

TEST_F(AttachPool, GatewayIsRefusedWhenANamespaceHoldsItsAddress) {
  auto host = make_ns("h"), a = make_ns("a"), b = make_ns("b");
  const std::string br = prefix() + "g";
  ASSERT_EQ(ctnet(attach(host, a, br, {"--subnet", "10.215.0.0/24"})).exit_code, 0);
  ASSERT_EQ(address_of(a, br), "10.215.0.1/24");
  const auto before = leases();
  auto r = ctnet(attach(host, b, br, {"--subnet", "10.215.0.0/24", "--gateway"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--gateway"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(a), std::string::npos) << "the error should name the holder: " << r.err;
  EXPECT_EQ(leases(), before);
  EXPECT_FALSE(bridge_has(host, br, "10.215.0.1/24"));
  EXPECT_EQ(address_of(b, br), "") << "the refused attach left a link";
  // Once the namespace lets it go, the gateway can be had; a second --gateway attach shares it.
  ASSERT_EQ(ctnet({"--host-netns", host, "detach", a, "--bridge", br}).exit_code, 0);
  ASSERT_EQ(ctnet(attach(host, b, br, {"--subnet", "10.215.0.0/24", "--gateway"})).exit_code, 0);
  ASSERT_EQ(ctnet(attach(host, a, br, {"--subnet", "10.215.0.0/24", "--gateway"})).exit_code, 0);
  EXPECT_EQ(address_of(b, br), "10.215.0.2/24");
  EXPECT_EQ(address_of(a, br), "10.215.0.3/24");
  EXPECT_TRUE(bridge_has(host, br, "10.215.0.1/24"));
  // An explicit address that is the gateway's is taken: refused too.
  auto c = make_ns("c");
  auto x = ctnet(attach(host, c, br, {"--addr", "10.215.0.1/24"}));
  EXPECT_EQ(x.exit_code, 1) << x.err;
  EXPECT_NE(x.err.find("already used"), std::string::npos) << x.err;
}

TEST_F(AttachPool, AFailedAttachReleasesOnlyWhatItTook) {
  auto host = make_ns("h"), a = make_ns("a"), b = make_ns("b"), c = make_ns("c"), d = make_ns("d");
  const std::string br = prefix() + "f";
  const std::string subnet = "fd00:216::/64";
  ASSERT_EQ(ctnet(attach(host, a, br, {"--subnet", subnet, "--gateway"})).exit_code, 0);
  ASSERT_EQ(ctnet(attach(host, b, br, {"--subnet", subnet, "--gateway"})).exit_code, 0);
  const auto before = leases();
  ASSERT_EQ(before.size(), 3u);
  // IPv6 off in c: its lease is taken, then its address is refused; the rollback releases that lease only (not
  // the gateway's, which an earlier attach took).
  NetNs target = NetNs::open_named(c);
  write_sysctl("net.ipv6.conf.all.disable_ipv6", "1", &target);
  write_sysctl("net.ipv6.conf.default.disable_ipv6", "1", &target);
  auto r = ctnet(attach(host, c, br, {"--subnet", subnet, "--gateway"}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("fd00:216::4/64"), std::string::npos) << r.err;
  EXPECT_EQ(leases(), before);
  EXPECT_TRUE(bridge_has(host, br, "fd00:216::1/64")) << "the gateway address went with the failed attach";
  EXPECT_EQ(address_of(a, br, AF_INET6), "fd00:216::2/64");
  EXPECT_EQ(address_of(b, br, AF_INET6), "fd00:216::3/64");
  ASSERT_EQ(ctnet(attach(host, d, br, {"--subnet", subnet})).exit_code, 0);
  EXPECT_EQ(address_of(d, br, AF_INET6), "fd00:216::4/64") << "the failed attach's lease was not released";
}

}  // namespace
