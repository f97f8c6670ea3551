#include <gtest/gtest.h>

#include "ns/netns.h"
#include "ops/scenarios.h"
#include "util/error.h"
#include "util/ip.h"
#include "util/names.h"

using namespace ctnet;

TEST(Names, AcceptsKernelValidInterfaceNames) {
  EXPECT_NO_THROW(validate_ifname("eth0", "f"));
  EXPECT_NO_THROW(validate_ifname("veth-ns1", "f"));
  EXPECT_NO_THROW(validate_ifname("abcdefghijklmno", "f"));  // 15 bytes
}

TEST(Names, RejectsBadInterfaceNamesNamingTheField) {
  for (const char* bad : {"abcdefghijklmnop" /*16*/, "a/b", "a:b", "a b", "", ".", "..", "tab\tx", "eth%d", "br%",
                          "e\xff", "\xc3(", "\xed\xa0\x80" /*a surrogate*/, "\xc0\xaf" /*overlong '/'*/}) {
    try {
      validate_ifname(bad, "links[2].name");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "links[2].name");
      EXPECT_NE(std::string(e.what()).find("links[2].name"), std::string::npos);
    }
  }
}

TEST(Names, Utf8NamesAreFineAndOtherBytesArePrintedEscaped) {
  EXPECT_NO_THROW(validate_ifname("br-\xc3\xa9t\xc3\xa9", "f"));  // "br-été", as the kernel allows
  EXPECT_TRUE(is_utf8("\xf0\x9f\x90\xb3 ok"));
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_utf8("\xe2\x82"));            // cut short
  EXPECT_EQ(printable("a\xff" "b\n\xc3\xa9"), "a\\xffb\\x0a\xc3\xa9");
  try {
    validate_ifname("e\xff", "CNI_IFNAME");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_TRUE(is_utf8(e.what())) << "the message itself must be printable";
    EXPECT_NE(std::string(e.what()).find("e\\xff"), std::string::npos) << e.what();
  }
}

TEST(Names, SixteenByteNameMessageSaysTheLimit) {
  try {
    validate_ifname("abcdefghijklmnop", "--name");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("16 bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at most 15"), std::string::npos) << e.what();
  }
}

TEST(Names, NamespaceNamesCannotTraversePaths) {
  EXPECT_NO_THROW(validate_netns_name("ns-1_a.b", "NS"));
  EXPECT_THROW(validate_netns_name("../etc", "NS"), InvalidInput);
  EXPECT_THROW(validate_netns_name("a/b", "NS"), InvalidInput);
  EXPECT_THROW(validate_netns_name("..", "NS"), InvalidInput);
  EXPECT_THROW(validate_netns_name("", "NS"), InvalidInput);
  EXPECT_THROW(validate_netns_name(std::string(65, 'a'), "NS"), InvalidInput);
}

TEST(Ip, ParsesAndPrintsBothFamilies) {
  EXPECT_EQ(IpAddress::parse("10.0.0.1", "f").str(), "10.0.0.1");
  EXPECT_EQ(IpAddress::parse("fd00::1", "f").str(), "fd00::1");
  EXPECT_TRUE(IpAddress::parse("fd00::1", "f").is_v6());
  EXPECT_THROW(IpAddress::parse("10.0.0.256", "f"), InvalidInput);
  EXPECT_THROW(IpAddress::parse("", "f"), InvalidInput);
}

TEST(Ip, PrefixParsingRejectsBadCidrs) {
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0/24", "fd00::/129", "x/24",
                          "10.0.0.0/24x"}) {
    EXPECT_FALSE(Prefix::try_parse(bad).has_value()) << bad;
  }
  try {
    Prefix::parse("10.0.0.0/33", "--subnet");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--subnet");
  }
}

TEST(Ip, SubnetArithmetic) {
  Prefix p = Prefix::parse("10.1.2.77/24", "f");
  EXPECT_EQ(p.network().str(), "10.1.2.0/24");
  EXPECT_EQ(p.first().str(), "10.1.2.0");
  EXPECT_EQ(p.last().str(), "10.1.2.255");
  EXPECT_EQ(p.host(1).str(), "10.1.2.1/24");
  EXPECT_EQ(p.host(254).str(), "10.1.2.254/24");
  EXPECT_EQ(p.host_count(), 254);
  EXPECT_TRUE(p.contains(IpAddress::parse("10.1.2.200", "f")));
  EXPECT_FALSE(p.contains(IpAddress::parse("10.1.3.1", "f")));
  EXPECT_FALSE(p.contains(IpAddress::parse("fd00::1", "f")));
  EXPECT_EQ(Prefix::parse("10.0.0.0/31", "f").host_count(), 2);
  EXPECT_EQ(Prefix::parse("10.0.0.0/20", "f").last().str(), "10.0.15.255");
}

TEST(Ip, AdditionCarriesAcrossBytesAndFamilies) {
  EXPECT_EQ(IpAddress::parse("10.0.0.255", "f").plus(1).str(), "10.0.1.0");
  EXPECT_EQ(IpAddress::parse("10.0.1.0", "f").plus(-1).str(), "10.0.0.255");
  EXPECT_EQ(IpAddress::parse("fd00::ffff", "f").plus(1).str(), "fd00::1:0");
  EXPECT_EQ(IpAddress::parse("10.0.1.5", "f").minus(IpAddress::parse("10.0.0.250", "f")), 11);
  Prefix v6 = Prefix::parse("fd00:1::/64", "f");
  EXPECT_EQ(v6.host(2).str(), "fd00:1::2/64");
  EXPECT_TRUE(v6.overlaps(Prefix::parse("fd00:1::/48", "f")));
  EXPECT_FALSE(v6.overlaps(Prefix::parse("fd00:2::/64", "f")));
}

TEST(Ip, MacParsingAndDerivation) {
  EXPECT_EQ(MacAddress::parse("02:AB:cd:00:11:ff", "f").str(), "02:ab:cd:00:11:ff");
  EXPECT_THROW(MacAddress::parse("02:ab:cd:00:11", "f"), InvalidInput);
  EXPECT_THROW(MacAddress::parse("02-ab-cd-00-11-ff", "f"), InvalidInput);
  MacAddress d = MacAddress::derived("bridge:br0");
  EXPECT_EQ(d, MacAddress::derived("bridge:br0"));  // stable
  EXPECT_NE(d, MacAddress::derived("bridge:br1"));
  EXPECT_EQ(d.bytes[0] & 0x03, 0x02);  // locally administered, unicast
}

TEST(Error, MessageCarriesKernelTextAndErrnoName) {
  Error e("cannot add veth1 to br0", EBUSY, "Device or resource busy, port already enslaved");
  EXPECT_STREQ(e.what(), "cannot add veth1 to br0: Device or resource busy, port already enslaved (EBUSY)");
  Error plain("cannot open x", ENOENT);
  EXPECT_STREQ(plain.what(), "cannot open x: No such file or directory (ENOENT)");
}

TEST(Scenarios, DefaultNamesFitTheKernelLimit) {
  EXPECT_EQ(default_host_ifname("ns1", "br0"), "ns1-br0");
  std::string h = default_host_ifname("a-very-long-namespace-name", "br0");
  EXPECT_LE(h.size(), 15u);
  EXPECT_TRUE(is_valid_ifname(h));
  EXPECT_NE(h, default_host_ifname("a-very-long-namespace-name", "br1"));
  EXPECT_EQ(default_ns_ifname("ns1"), "veth-ns1");
  EXPECT_EQ(default_ns_ifname("abcdefghij"), "veth-abcdefghij");  // 15 bytes: kept
}

TEST(Scenarios, LongDefaultNamesDoNotCollideWhenTheyShareAPrefix) {
  // Cut at 15 bytes both would be "veth-tenant-blu".
  std::string a = default_ns_ifname("tenant-blue-frontend"), b = default_ns_ifname("tenant-blue-backend");
  EXPECT_NE(a, b);
  for (auto& n : {a, b}) {
    EXPECT_LE(n.size(), 15u) << n;
    EXPECT_TRUE(is_valid_ifname(n)) << n;
  }
  EXPECT_EQ(a, default_ns_ifname("tenant-blue-frontend"));  // stable: detach finds what attach made
  // A namespace given by path or pid:N is no part of an interface name either.
  EXPECT_TRUE(is_valid_ifname(default_ns_ifname("/proc/1/ns/net")));
  EXPECT_TRUE(is_valid_ifname(default_ns_ifname("pid:1")));
  EXPECT_TRUE(is_valid_ifname(default_host_ifname("pid:1", "br0")));
}

TEST(Scenarios, ConnectTakesBothAddressesOfAPointToPointSubnet) {
  auto pair = [](const char* subnet) {
    auto [a, b] = connect_addresses(Prefix::parse(subnet, "--subnet"));
    return a.str() + " " + b.str();
  };
  EXPECT_EQ(pair("10.10.0.0/24"), "10.10.0.1/24 10.10.0.2/24");
  EXPECT_EQ(pair("10.10.0.0/30"), "10.10.0.1/30 10.10.0.2/30");
  EXPECT_EQ(pair("10.10.0.4/31"), "10.10.0.4/31 10.10.0.5/31");  // RFC 3021
  EXPECT_EQ(pair("10.10.0.5/31"), "10.10.0.4/31 10.10.0.5/31");  // host bits given: the same subnet
  EXPECT_EQ(pair("fd00:1::/127"), "fd00:1::/127 fd00:1::1/127");  // RFC 6164
  EXPECT_EQ(pair("fd00:1::/64"), "fd00:1::1/64 fd00:1::2/64");
  for (const char* single : {"10.10.0.1/32", "fd00::1/128"}) {
    try {
      connect_addresses(Prefix::parse(single, "--subnet"));
      ADD_FAILURE() << "accepted " << single;
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "--subnet");
      EXPECT_NE(std::string(e.what()).find("fewer than two"), std::string::npos) << e.what();
    }
  }
}

TEST(NetnsArg, OneParserForNamePathAndPid) {
  auto n = NetnsArg::parse("ns1", "NS");
  EXPECT_EQ(n.name, "ns1");
  EXPECT_EQ(n.path, "/run/netns/ns1");
  EXPECT_EQ(n.pid, 0);
  // Names `ip netns add` accepts but ctnet would not create can still be named.
  EXPECT_EQ(NetnsArg::parse("tenant:blue", "NS").name, "tenant:blue");
  EXPECT_EQ(NetnsArg::parse("with space", "NS").name, "with space");
  EXPECT_EQ(NetnsArg::parse(std::string(255, 'n'), "NS").name.size(), 255u);
  // A path directly under /run/netns is that name; any other path is just a file.
  EXPECT_EQ(NetnsArg::parse("/run/netns/tenant:blue", "NS").name, "tenant:blue");
  EXPECT_EQ(NetnsArg::parse("/var/run/netns/x", "NS").name, "x");
  auto p = NetnsArg::parse("/proc/1/ns/net", "NS");
  EXPECT_FALSE(p.named());
  EXPECT_EQ(p.path, "/proc/1/ns/net");
  EXPECT_EQ(p.short_name(), "/proc/1/ns/net");
  auto pid = NetnsArg::parse("pid:1234", "NS");
  EXPECT_EQ(pid.pid, 1234);
  EXPECT_FALSE(pid.named());
  EXPECT_EQ(pid.path, "/proc/1234/ns/net");
  for (std::string bad : std::vector<std::string>{"", "a/b", "..", ".", "pid:", "pid:x", "pid:0", "pid:-3", "pid:12x", std::string(256, 'n')}) {
    try {
      NetnsArg::parse(bad, "--ns");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "--ns");
      EXPECT_NE(std::string(e.what()).find("NAME as under /run/netns, /path/to/nsfile or pid:N"), std::string::npos) << e.what();
    }
  }
  // Creation keeps the strict rules.
  EXPECT_THROW(validate_netns_name("tenant:blue", "NS"), InvalidInput);
  EXPECT_NO_THROW(validate_existing_netns_name("tenant:blue", "NS"));
}

TEST(Mtu, OneRuleForEveryFace) {
  for (int64_t ok : {68, 1500, 9000, 65535}) EXPECT_EQ(mtu_problem(ok), "") << ok;
  for (int64_t bad : {int64_t(0), int64_t(-1), int64_t(67), int64_t(65536), int64_t(4294967296)}) {
    try {
      validate_mtu(bad, "--mtu");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "--mtu");
      EXPECT_NE(std::string(e.what()).find("is not an MTU between 68 and 65535"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(mtu_problem(1279), "");
  EXPECT_NE(mtu_problem(1279, true).find("IPv6"), std::string::npos);
  EXPECT_EQ(mtu_problem(1280, true), "");
}
