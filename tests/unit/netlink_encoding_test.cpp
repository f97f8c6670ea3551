// Netlink requests compared against the bytes the kernel expects (layouts from linux/rtnetlink.h and
// linux/if_link.h; little-endian host), and replies parsed back.
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <cstring>

#include "addr/address.h"
#include "addr/route.h"
#include "addr/rule.h"
#include "link/bridge.h"
#include "link/link.h"
#include "link/macvlan.h"
#include "link/veth.h"
#include "link/vrf.h"
#include "netlink/socket.h"

using namespace ctnet;
using Bytes = std::vector<uint8_t>;

static Bytes bytes_of(const nl::Message& m) { return Bytes(m.bytes().begin(), m.bytes().end()); }

TEST(Encoding, SetLinkUpAndMtu) {
  nl::Message m = link::change_request(7, {.up = true, .mtu = 1400});
  Bytes expected = {
      40, 0, 0, 0,  16, 0,  1, 0,  0, 0, 0, 0,  0, 0, 0, 0,   // nlmsghdr: len 40, RTM_NEWLINK, NLM_F_REQUEST
      0, 0, 0, 0,   7, 0, 0, 0,   1, 0, 0, 0,   1, 0, 0, 0,   // ifinfomsg: index 7, flags IFF_UP, change IFF_UP
      8, 0, 4, 0,   0x78, 0x05, 0, 0,                           // IFLA_MTU 1400
  };
  EXPECT_EQ(bytes_of(m), expected);
}

TEST(Encoding, AddIpv4AddressWithBroadcast) {
  nl::Message m = addr::add_request(5, Prefix::parse("10.0.0.2/24", "a"));
  Bytes expected = {
      48, 0, 0, 0,  20, 0,  0x01, 0x06,  0, 0, 0, 0,  0, 0, 0, 0,  // RTM_NEWADDR, REQUEST|EXCL|CREATE
      2, 24, 0, 0,  5, 0, 0, 0,                                      // ifaddrmsg: AF_INET /24 index 5
      8, 0, 2, 0,   10, 0, 0, 2,                                     // IFA_LOCAL
      8, 0, 1, 0,   10, 0, 0, 2,                                     // IFA_ADDRESS
      8, 0, 4, 0,   10, 0, 0, 255,                                   // IFA_BROADCAST
  };
  EXPECT_EQ(bytes_of(m), expected);
}

TEST(Encoding, Ipv6AddressHasDadDisabled) {
  nl::Message m = addr::add_request(3, Prefix::parse("fd00::2/64", "a"));
  auto* ifa = static_cast<const ifaddrmsg*>(nl::payload(m.hdr()));
  EXPECT_EQ(ifa->ifa_family, AF_INET6);
  EXPECT_EQ(ifa->ifa_flags, IFA_F_NODAD);
  nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
  auto a = nl::Attrs::of_message(owned.hdr(), sizeof(ifaddrmsg));
  EXPECT_EQ(a.u32(IFA_FLAGS), IFA_F_NODAD);
  EXPECT_FALSE(a.has(IFA_BROADCAST));
}

TEST(Encoding, AddressWithoutPrefixRoute) {
  // CNI ptp: the subnet is reached through the gateway, so the kernel must not add its own prefix route.
  for (const char* p : {"10.0.0.2/24", "fd00::2/64"}) {
    nl::Message m = addr::add_request(3, Prefix::parse(p, "a"), {.prefix_route = false});
    nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
    auto a = nl::Attrs::of_message(owned.hdr(), sizeof(ifaddrmsg));
    const uint32_t nodad = std::string_view(p).find(':') != std::string_view::npos ? IFA_F_NODAD : 0;
    EXPECT_EQ(a.u32(IFA_FLAGS), IFA_F_NOPREFIXROUTE | nodad) << p;
  }
}

TEST(Encoding, DefaultRouteViaGateway) {
  addr::Route r{.dst = addr::default_route(AF_INET), .gateway = IpAddress::parse("10.0.0.1", "g"), .oif = 9};
  nl::Message m = addr::add_request(r);
  Bytes expected = {
      44, 0, 0, 0,  24, 0,  0x01, 0x06,  0, 0, 0, 0,  0, 0, 0, 0,  // RTM_NEWROUTE
      2, 0, 0, 0,  254, 3, 0, 1,  0, 0, 0, 0,                      // rtmsg: AF_INET, dst_len 0, main, boot, universe, unicast
      8, 0, 5, 0,  10, 0, 0, 1,                                    // RTA_GATEWAY
      8, 0, 4, 0,  9, 0, 0, 0,                                     // RTA_OIF
  };
  EXPECT_EQ(bytes_of(m), expected);
}

TEST(Encoding, VethPeerIsBornInTheTargetNamespace) {
  nl::Message m = link::veth_request({.name = "h1", .peer_name = "c1", .peer_netns_fd = 42, .mtu = 1400, .master = 3, .up = true});
  nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
  EXPECT_EQ(owned.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  auto top = nl::Attrs::of_message(owned.hdr(), sizeof(ifinfomsg));
  EXPECT_EQ(top.str(IFLA_IFNAME), "h1");
  EXPECT_EQ(top.u32(IFLA_MASTER), 3u);
  EXPECT_EQ(top.u32(IFLA_MTU), 1400u);
  auto info = nl::Attrs::of_nest(top.get(IFLA_LINKINFO));
  EXPECT_EQ(info.str(IFLA_INFO_KIND), "veth");
  auto data = nl::Attrs::of_nest(info.get(IFLA_INFO_DATA));
  const nlattr* peer = data.get(VETH_INFO_PEER);
  ASSERT_NE(peer, nullptr);
  // The peer nest starts with its own ifinfomsg, then the peer's attributes.
  const char* p = static_cast<const char*>(nl::attr_payload(peer));
  auto peer_attrs = nl::Attrs::of_buffer(p + sizeof(ifinfomsg), nl::attr_payload_len(peer) - sizeof(ifinfomsg));
  EXPECT_EQ(peer_attrs.str(IFLA_IFNAME), "c1");
  EXPECT_EQ(peer_attrs.u32(IFLA_NET_NS_FD), 42u);
  EXPECT_EQ(peer_attrs.u32(IFLA_MTU), 1400u);
  auto* peer_ifi = reinterpret_cast<const ifinfomsg*>(p);
  EXPECT_EQ(peer_ifi->ifi_flags & IFF_UP, 0u) << "the peer cannot be created up (ENOTCONN)";
}

TEST(Encoding, BridgeMacIsPinned) {
  nl::Message m = link::bridge_request({.name = "br0"});
  nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
  auto top = nl::Attrs::of_message(owned.hdr(), sizeof(ifinfomsg));
  auto mac = top.bytes(IFLA_ADDRESS);
  ASSERT_EQ(mac.size(), 6u);
  EXPECT_EQ(std::memcmp(mac.data(), MacAddress::derived("bridge:br0").bytes.data(), 6), 0);
  EXPECT_EQ(nl::Attrs::of_nest(top.get(IFLA_LINKINFO)).str(IFLA_INFO_KIND), "bridge");
}

TEST(Encoding, MacvlanModeAndParent) {
  nl::Message m = link::macvlan_request({.name = "tmp1", .parent = 4, .netns_fd = 11}, link::MacvlanMode::bridge);
  nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
  auto top = nl::Attrs::of_message(owned.hdr(), sizeof(ifinfomsg));
  EXPECT_EQ(top.u32(IFLA_LINK), 4u);
  EXPECT_EQ(top.u32(IFLA_NET_NS_FD), 11u);
  auto data = nl::Attrs::of_nest(nl::Attrs::of_nest(top.get(IFLA_LINKINFO)).get(IFLA_INFO_DATA));
  EXPECT_EQ(data.u32(IFLA_MACVLAN_MODE), static_cast<uint32_t>(MACVLAN_MODE_BRIDGE));
}

TEST(Encoding, SourceRuleWithTableAndPriority) {
  // What `ip rule add from 10.1.0.5 lookup 100 priority 32765` sends (linux/fib_rules.h).
  addr::Rule r{.family = AF_INET, .src = Prefix::parse("10.1.0.5/32", "a"), .table = 100, .priority = 32765};
  nl::Message m = addr::add_request(r);
  Bytes expected = {
      52, 0, 0, 0,  32, 0,  0x01, 0x06,  0, 0, 0, 0,  0, 0, 0, 0,  // RTM_NEWRULE, REQUEST|EXCL|CREATE
      2, 0, 32, 0,  100, 0, 0, 1,  0, 0, 0, 0,                     // fib_rule_hdr: AF_INET, src_len 32, table 100, FR_ACT_TO_TBL
      8, 0, 2, 0,   10, 1, 0, 5,                                   // FRA_SRC
      8, 0, 6, 0,   0xfd, 0x7f, 0, 0,                              // FRA_PRIORITY 32765
      8, 0, 15, 0,  100, 0, 0, 0,                                  // FRA_TABLE 100
  };
  EXPECT_EQ(bytes_of(m), expected);
  EXPECT_EQ(r.str(), "from 10.1.0.5 lookup 100 priority 32765");
}

TEST(Encoding, RuleTableAbove255OnlyInItsAttribute) {
  addr::Rule r{.family = AF_INET6, .src = Prefix::parse("fd00::5/128", "a"), .table = 1000};
  nl::Message m = addr::add_request(r);
  const auto* h = m.header<fib_rule_hdr>();
  EXPECT_EQ(h->family, AF_INET6);
  EXPECT_EQ(h->src_len, 128);
  EXPECT_EQ(h->table, RT_TABLE_UNSPEC);
  nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
  auto a = nl::Attrs::of_message(owned.hdr(), sizeof(fib_rule_hdr));
  EXPECT_EQ(a.u32(FRA_TABLE), 1000u);
  EXPECT_FALSE(a.has(FRA_PRIORITY)) << "no priority given: none sent";
  EXPECT_EQ(a.bytes(FRA_SRC).size(), 16u);
}

TEST(Encoding, DefaultRulePriorityIsTheKernels) {
  auto rules = [](std::vector<uint32_t> prios) {
    std::vector<addr::Rule> out;
    for (auto p : prios) out.push_back({.priority = p});
    return out;
  };
  EXPECT_EQ(addr::default_priority(rules({0, 32766, 32767})), 32765u);
  EXPECT_EQ(addr::default_priority(rules({0, 32765, 32766, 32767})), 32764u);
  EXPECT_EQ(addr::default_priority(rules({0, 0})), 0u);
  EXPECT_EQ(addr::default_priority(rules({0})), 0u);
  EXPECT_EQ(addr::default_priority({}), 0u);
}

TEST(Encoding, VrfCarriesItsTable) {
  nl::Message m = link::vrf_request("blue", 1001);
  nl::OwnedMessage owned{std::vector<char>(m.bytes().begin(), m.bytes().end())};
  EXPECT_EQ(owned.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  auto top = nl::Attrs::of_message(owned.hdr(), sizeof(ifinfomsg));
  EXPECT_EQ(top.str(IFLA_IFNAME), "blue");
  auto info = nl::Attrs::of_nest(top.get(IFLA_LINKINFO));
  EXPECT_EQ(info.str(IFLA_INFO_KIND), "vrf");
  EXPECT_EQ(nl::Attrs::of_nest(info.get(IFLA_INFO_DATA)).u32(IFLA_VRF_TABLE), 1001u);
}

TEST(Encoding, ExtendedAckMessageIsRead) {
  // An NLMSG_ERROR as the kernel sends it with NETLINK_EXT_ACK and NETLINK_CAP_ACK on.
  alignas(8) char buf[256] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  h->nlmsg_type = NLMSG_ERROR;
  h->nlmsg_flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
  auto* err = reinterpret_cast<nlmsgerr*>(buf + sizeof(nlmsghdr));
  err->error = -EBUSY;
  err->msg.nlmsg_len = 100;  // the original request's length; capped, so not echoed
  char* tlv = buf + sizeof(nlmsghdr) + sizeof(nlmsgerr);
  const char text[] = "Device is already enslaved";
  auto* a = reinterpret_cast<nlattr*>(tlv);
  a->nla_type = NLMSGERR_ATTR_MSG;
  a->nla_len = static_cast<uint16_t>(sizeof(nlattr) + sizeof text);
  std::memcpy(tlv + sizeof(nlattr), text, sizeof text);
  h->nlmsg_len = static_cast<uint32_t>(sizeof(nlmsghdr) + sizeof(nlmsgerr) + nl::align(a->nla_len));
  EXPECT_EQ(nl::extack_message(h), "Device is already enslaved");
  h->nlmsg_flags = NLM_F_CAPPED;  // no TLVs
  EXPECT_EQ(nl::extack_message(h), "");
}
