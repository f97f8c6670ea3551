// The requests the `ip` verbs add (route get, neighbour add, alias/promisc/txqueuelen), compared against the
// bytes the kernel expects (layouts from linux/rtnetlink.h, linux/neighbour.h, linux/if_link.h; little-endian
// host); the answers parsed back; ping's limits; the message grammar helper.
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "addr/route.h"
#include "link/link.h"
#include "link/neigh.h"
#include "ops/ping.h"
#include "util/english.h"
#include "util/error.h"

using namespace ctnet;
using Bytes = std::vector<uint8_t>;

namespace {
Bytes bytes_of(const nl::Message& m) { return Bytes(m.bytes().begin(), m.bytes().end()); }
nl::OwnedMessage owned(const nl::Message& m) { return nl::OwnedMessage{std::vector<char>(m.bytes().begin(), m.bytes().end())}; }
}  // namespace

TEST(IpVerbsEncoding, RouteGetIsOneLookupNotADump) {
  nl::Message m = addr::get_request(*IpAddress::try_parse("10.9.1.1"), 4, IpAddress::try_parse("10.0.0.2"));
  Bytes expected = {
      52, 0, 0, 0,  26, 0,  0x05, 0,  0, 0, 0, 0,  0, 0, 0, 0,  // RTM_GETROUTE, NLM_F_REQUEST|NLM_F_ACK (no DUMP)
      2, 32, 32, 0,  0, 0, 0, 0,  0, 0, 0, 0,                   // rtmsg: AF_INET, dst_len 32, src_len 32
      8, 0, 1, 0,   10, 9, 1, 1,                                // RTA_DST
      8, 0, 2, 0,   10, 0, 0, 2,                                // RTA_SRC
      8, 0, 4, 0,   4, 0, 0, 0,                                 // RTA_OIF 4
  };
  EXPECT_EQ(bytes_of(m), expected);
  EXPECT_FALSE(m.hdr()->nlmsg_flags & NLM_F_DUMP);
}

TEST(IpVerbsEncoding, RouteGetAnswerIsParsed) {
  // What the kernel answers for 10.9.1.1 via 10.0.0.1 dev #4 src 10.0.0.2 (an RTM_NEWROUTE, RTM_F_CLONED).
  nl::Message m(RTM_NEWROUTE, 0);
  auto* rt = m.put_header<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = 32;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_type = RTN_UNICAST;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_flags = RTM_F_CLONED;
  uint8_t dst[4] = {10, 9, 1, 1}, gw[4] = {10, 0, 0, 1}, src[4] = {10, 0, 0, 2};
  m.put(RTA_DST, dst, 4);
  m.put_u32(RTA_OIF, 4);
  m.put(RTA_GATEWAY, gw, 4);
  m.put(RTA_PREFSRC, src, 4);
  addr::Route r = addr::parse_route(owned(m));
  EXPECT_EQ(r.dst.str(), "10.9.1.1/32");
  ASSERT_TRUE(r.gateway);
  EXPECT_EQ(r.gateway->str(), "10.0.0.1");
  ASSERT_TRUE(r.src);
  EXPECT_EQ(r.src->str(), "10.0.0.2");
  EXPECT_EQ(r.oif, 4);
  EXPECT_EQ(r.table, RT_TABLE_MAIN);
}

TEST(IpVerbsEncoding, NeighbourAddIsExclusiveAndPermanent) {
  nl::Message m = link::neighbour_add_request(3, *IpAddress::try_parse("10.0.0.2"), *MacAddress::try_parse("02:00:00:00:00:02"));
  Bytes expected = {
      48, 0, 0, 0,  28, 0,  0x01, 0x06,  0, 0, 0, 0,  0, 0, 0, 0,  // RTM_NEWNEIGH, REQUEST|EXCL|CREATE (no REPLACE)
      2, 0, 0, 0,   3, 0, 0, 0,   0x80, 0, 0, 0,                    // ndmsg: AF_INET, index 3, NUD_PERMANENT
      8, 0, 1, 0,   10, 0, 0, 2,                                    // NDA_DST
      10, 0, 2, 0,  2, 0, 0, 0, 0, 2,  0, 0,                        // NDA_LLADDR (padded to 4)
  };
  EXPECT_EQ(bytes_of(m), expected);
}

TEST(IpVerbsEncoding, NeighbourStateNames) {
  EXPECT_EQ(link::neighbour_state_name(NUD_REACHABLE), "REACHABLE");
  EXPECT_EQ(link::neighbour_state_name(NUD_PERMANENT), "PERMANENT");
  EXPECT_EQ(link::neighbour_state_name(NUD_STALE), "STALE");
  EXPECT_EQ(link::neighbour_state_name(0), "NONE");
}

TEST(IpVerbsEncoding, AliasPromiscAndTxqueuelenInOneRequest) {
  nl::Message m = link::change_request(7, {.promisc = true, .txqlen = 500, .alias = "uplink"});
  Bytes expected = {
      52, 0, 0, 0,  16, 0,  1, 0,  0, 0, 0, 0,  0, 0, 0, 0,         // RTM_NEWLINK, NLM_F_REQUEST
      0, 0, 0, 0,   7, 0, 0, 0,   0, 1, 0, 0,   0, 1, 0, 0,         // ifinfomsg: index 7, IFF_PROMISC set and changed
      8, 0, 13, 0,  0xf4, 0x01, 0, 0,                               // IFLA_TXQLEN 500
      11, 0, 20, 0, 'u', 'p', 'l', 'i', 'n', 'k', 0,  0,            // IFLA_IFALIAS "uplink\0" (padded)
  };
  EXPECT_EQ(bytes_of(m), expected);
  // promisc off: the bit is in ifi_change, not in ifi_flags.
  nl::Message off = link::change_request(7, {.promisc = false});
  auto* ifi = static_cast<const ifinfomsg*>(nl::payload(off.hdr()));
  EXPECT_EQ(ifi->ifi_change, unsigned(IFF_PROMISC));
  EXPECT_EQ(ifi->ifi_flags, 0u);
}

TEST(IpVerbsEncoding, OperstateNamesAsIpPrintsThem) {
  EXPECT_EQ(link::operstate_name(6), "UP");
  EXPECT_EQ(link::operstate_name(2), "DOWN");
  EXPECT_EQ(link::operstate_name(0), "UNKNOWN");
  EXPECT_EQ(link::operstate_name(200), "UNKNOWN");
}

namespace {
std::string ping_field(const PingOptions& o, int family = AF_INET) {
  try {
    validate(o, family);
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "";
}
}  // namespace

TEST(PingLimits, EachBadValueNamesItsOption) {
  EXPECT_EQ(ping_field({}), "");
  EXPECT_EQ(ping_field({.timeout = std::chrono::milliseconds(0)}), "-W");
  EXPECT_EQ(ping_field({.size = 65508}), "-s");
  EXPECT_EQ(ping_field({.size = 65507}), "");
  EXPECT_EQ(ping_field({.size = 65527}, AF_INET6), "");  // IPv6's payload length excludes its header
  EXPECT_EQ(ping_field({.size = 65528}, AF_INET6), "-s");
  EXPECT_EQ(ping_field({.size = -1}), "-s");
  EXPECT_EQ(ping_field({.ttl = 0}), "-t");
  EXPECT_EQ(ping_field({.ttl = 256}), "-t");
  EXPECT_EQ(ping_field({.ttl = 1}), "");
  EXPECT_EQ(ping_field({.interval = std::chrono::milliseconds(-1)}), "-i");
  EXPECT_EQ(ping_field({.interval = std::chrono::milliseconds(100)}), "");  // `check`'s pace; the CLI's -i floor is its own
  EXPECT_EQ(ping_field({.count = 0}), "-c");
  EXPECT_EQ(ping_field({.source = IpAddress::try_parse("fd00::1")}), "-I");
}

TEST(English, CountsAndArticles) {
  EXPECT_EQ(plural(1, "bridge"), "1 bridge");
  EXPECT_EQ(plural(0, "bridge"), "0 bridges");
  EXPECT_EQ(plural(2, "address"), "2 addresses");
  EXPECT_EQ(plural(3, "VF"), "3 VFs");
  EXPECT_EQ(article("ipvlan"), "an ipvlan");
  EXPECT_EQ(article("veth"), "a veth");
  EXPECT_EQ(article("macvlan"), "a macvlan");
  EXPECT_EQ(article("vxlan"), "a vxlan");
  EXPECT_EQ(article("IPv6 address"), "an IPv6 address");
  EXPECT_EQ(article("SR-IOV VF"), "an SR-IOV VF");
  EXPECT_EQ(article("VRF"), "a VRF");
  EXPECT_EQ(article("unicast route"), "a unicast route");
  EXPECT_EQ(article("UDP packet"), "a UDP packet");
  EXPECT_EQ(article("ICMP packet"), "an ICMP packet");
  EXPECT_EQ(article("ifb"), "an ifb");
}
