// VF settings through the PF: the requests ctnet sends (one setting each, in the kernel's wire layout) and the
// parsing of IFLA_VFINFO_LIST as rtnl_fill_vfinfo lays it out.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "sriov/vf_config.h"
#include "util/error.h"

using namespace ctnet;
using namespace ctnet::sriov;

namespace {
nl::OwnedMessage own(const nl::Message& m) {
  auto b = m.bytes();
  return {std::vector<char>(b.begin(), b.end())};
}

// The single IFLA_VF_INFO nest of a request and the attribute inside it.
const nlattr* only_setting(const nl::Message& m, uint16_t* type) {
  auto a = nl::Attrs::of_message(m.hdr(), sizeof(ifinfomsg));
  auto list = nl::Attrs::list(a.get(IFLA_VFINFO_LIST));
  EXPECT_EQ(list.size(), 1u);
  EXPECT_EQ(nl::attr_type(list[0]), IFLA_VF_INFO);
  auto inner = nl::Attrs::list(list[0]);
  EXPECT_EQ(inner.size(), 1u);
  *type = nl::attr_type(inner[0]);
  return inner[0];
}

VfConfig cur(uint32_t vf) {
  VfConfig c;
  c.vf = vf;
  return c;
}
}  // namespace

TEST(SriovVfConfig, OneRequestPerSettingInOrder) {
  VfSettings s;
  s.mac = MacAddress::parse("02:00:00:00:00:01", "mac");
  s.vlan = 10;
  s.qos = 2;
  s.spoofchk = false;
  s.trust = true;
  s.link_state = LinkState::disable;
  s.max_tx_rate = 200;
  auto reqs = set_requests(7, cur(3), s);
  ASSERT_EQ(reqs.size(), 6u);
  std::vector<uint16_t> types;
  for (auto& r : reqs) {
    EXPECT_EQ(r.msg.hdr()->nlmsg_type, RTM_SETLINK);
    EXPECT_EQ(r.msg.header<ifinfomsg>()->ifi_index, 7);
    uint16_t t;
    only_setting(r.msg, &t);
    types.push_back(t);
  }
  EXPECT_EQ(types, (std::vector<uint16_t>{IFLA_VF_MAC, IFLA_VF_VLAN_LIST, IFLA_VF_SPOOFCHK, IFLA_VF_TRUST,
                                          IFLA_VF_LINK_STATE, IFLA_VF_RATE}));
  EXPECT_EQ(reqs[0].what, "mac 02:00:00:00:00:01");
  EXPECT_EQ(reqs[1].what, "vlan 10 qos 2 proto 802.1Q");
  EXPECT_EQ(reqs[4].what, "link-state disable");
  EXPECT_EQ(reqs[5].what, "max-tx-rate 200");
}

TEST(SriovVfConfig, VlanListCarriesProtocolInNetworkOrder) {
  VfSettings s;
  s.vlan = 100;
  s.qos = 5;
  s.proto = VlanProto::dot1ad;
  auto reqs = set_requests(2, cur(1), s);
  ASSERT_EQ(reqs.size(), 1u);
  uint16_t t;
  const nlattr* vl = only_setting(reqs[0].msg, &t);
  ASSERT_EQ(t, IFLA_VF_VLAN_LIST);
  auto entries = nl::Attrs::list(vl);
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_EQ(nl::attr_type(entries[0]), IFLA_VF_VLAN_INFO);
  ifla_vf_vlan_info i;
  std::memcpy(&i, nl::attr_payload(entries[0]), sizeof i);
  EXPECT_EQ(i.vf, 1u);
  EXPECT_EQ(i.vlan, 100u);
  EXPECT_EQ(i.qos, 5u);
  EXPECT_EQ(i.vlan_proto, htons(0x88a8));
  EXPECT_EQ(reqs[0].what, "vlan 100 qos 5 proto 802.1ad");
}

TEST(SriovVfConfig, RateKeepsTheOtherBoundFromTheCurrentSettings) {
  VfConfig c = cur(0);
  c.min_tx_rate = 10;
  c.max_tx_rate = 500;
  VfSettings s;
  s.max_tx_rate = 300;
  auto reqs = set_requests(2, c, s);
  ASSERT_EQ(reqs.size(), 1u);
  uint16_t t;
  const nlattr* a = only_setting(reqs[0].msg, &t);
  ASSERT_EQ(t, IFLA_VF_RATE);
  ifla_vf_rate r;
  std::memcpy(&r, nl::attr_payload(a), sizeof r);
  EXPECT_EQ(r.min_tx_rate, 10u);
  EXPECT_EQ(r.max_tx_rate, 300u);
}

TEST(SriovVfConfig, ParsesVfInfoListAsTheKernelFillsIt) {
  nl::Message m(RTM_NEWLINK, 0);
  m.put_header<ifinfomsg>()->ifi_index = 4;
  m.put_u32(IFLA_NUM_VF, 2);
  nlattr* list = m.begin_nest(IFLA_VFINFO_LIST);
  for (uint32_t vf = 0; vf < 2; ++vf) {
    nlattr* info = m.begin_nest(IFLA_VF_INFO);
    ifla_vf_mac mac{};
    mac.vf = vf;
    mac.mac[0] = 0x02;
    mac.mac[5] = static_cast<uint8_t>(vf + 1);
    m.put(IFLA_VF_MAC, &mac, sizeof mac);
    ifla_vf_vlan vlan{vf, vf ? 20u : 0u, vf ? 3u : 0u};
    m.put(IFLA_VF_VLAN, &vlan, sizeof vlan);
    nlattr* vl = m.begin_nest(IFLA_VF_VLAN_LIST);
    ifla_vf_vlan_info vi{vf, vlan.vlan, vlan.qos, htons(vf ? 0x88a8 : 0x8100)};
    m.put(IFLA_VF_VLAN_INFO, &vi, sizeof vi);
    m.end_nest(vl);
    ifla_vf_rate rate{vf, 0, vf ? 100u : 0u};
    m.put(IFLA_VF_RATE, &rate, sizeof rate);
    // A driver without spoof checking leaves the kernel's -1 (rtnl_fill_vfinfo presets it).
    ifla_vf_spoofchk sp{vf, vf ? 1u : static_cast<uint32_t>(-1)};
    m.put(IFLA_VF_SPOOFCHK, &sp, sizeof sp);
    ifla_vf_link_state ls{vf, vf ? 2u : 0u};
    m.put(IFLA_VF_LINK_STATE, &ls, sizeof ls);
    ifla_vf_trust tr{vf, 0};
    m.put(IFLA_VF_TRUST, &tr, sizeof tr);
    m.end_nest(info);
  }
  m.end_nest(list);
  auto vfs = parse_vfinfo(own(m));
  ASSERT_EQ(vfs.size(), 2u);
  EXPECT_EQ(vfs[0].vf, 0u);
  EXPECT_EQ(vfs[0].mac.str(), "02:00:00:00:00:01");
  EXPECT_EQ(vfs[0].vlan, 0);
  EXPECT_FALSE(vfs[0].spoofchk.has_value());
  EXPECT_EQ(vfs[0].link_state, LinkState::auto_);
  EXPECT_EQ(vfs[1].vf, 1u);
  EXPECT_EQ(vfs[1].vlan, 20);
  EXPECT_EQ(vfs[1].qos, 3);
  EXPECT_EQ(vfs[1].proto, VlanProto::dot1ad);
  EXPECT_EQ(vfs[1].spoofchk, true);
  EXPECT_EQ(vfs[1].trust, false);
  EXPECT_EQ(vfs[1].link_state, LinkState::disable);
  EXPECT_EQ(vfs[1].max_tx_rate, 100u);
}

TEST(SriovVfConfig, NoVfListMeansNoVfs) {
  nl::Message m(RTM_NEWLINK, 0);
  m.put_header<ifinfomsg>()->ifi_index = 4;
  EXPECT_TRUE(parse_vfinfo(own(m)).empty());
}

TEST(SriovVfConfig, RestoreCoversExactlyWhatWasApplied) {
  VfConfig saved = cur(2);
  saved.vlan = 0;
  saved.spoofchk = true;
  saved.trust = false;
  VfSettings applied;
  applied.vlan = 10;
  applied.trust = true;
  auto r = restore_settings(saved, applied);
  EXPECT_EQ(r.vlan, 0);
  EXPECT_EQ(r.qos, 0);
  EXPECT_EQ(r.proto, VlanProto::dot1q);
  EXPECT_EQ(r.trust, false);
  EXPECT_FALSE(r.spoofchk.has_value());
  EXPECT_FALSE(r.mac.has_value());
  EXPECT_FALSE(r.link_state.has_value());
}

TEST(SriovVfConfig, ValidationRefusesBadValuesBeforeTheKernel) {
  auto bad = [](auto f) {
    VfSettings s;
    f(s);
    EXPECT_THROW(validate(s), InvalidInput);
  };
  bad([](VfSettings& s) { s.vlan = 4095; });
  bad([](VfSettings& s) { s.vlan = 10, s.qos = 8; });
  bad([](VfSettings& s) { s.qos = 1; });  // qos without a vlan
  bad([](VfSettings& s) { s.vlan = 0, s.proto = VlanProto::dot1ad; });
  bad([](VfSettings& s) { s.mac = MacAddress::parse("01:00:5e:00:00:01", "m"); });
  bad([](VfSettings& s) { s.min_tx_rate = 300, s.max_tx_rate = 100; });
  VfSettings ok;
  ok.vlan = 4094;
  ok.qos = 7;
  ok.proto = VlanProto::dot1ad;
  ok.min_tx_rate = 10;
  ok.max_tx_rate = 0;  // 0: no maximum
  EXPECT_NO_THROW(validate(ok));
}

TEST(SriovVfConfig, SplitKeepsVlanPartsAndRatesTogether) {
  VfSettings s;
  s.mac = MacAddress::parse("02:00:00:00:00:01", "m");
  s.vlan = 5;
  s.qos = 1;
  s.min_tx_rate = 1;
  s.max_tx_rate = 2;
  auto parts = split(s);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_TRUE(parts[0].mac && !parts[0].vlan);
  EXPECT_TRUE(parts[1].vlan && parts[1].qos && !parts[1].mac);
  EXPECT_TRUE(parts[2].min_tx_rate && parts[2].max_tx_rate);
  EXPECT_TRUE(split(VfSettings{}).empty());
}

TEST(SriovVfConfig, ParsesWords) {
  EXPECT_EQ(parse_vlan_proto("802.1Q"), VlanProto::dot1q);
  EXPECT_EQ(parse_vlan_proto("802.1AD"), VlanProto::dot1ad);
  EXPECT_FALSE(parse_vlan_proto("qinq"));
  EXPECT_EQ(parse_link_state("enable"), LinkState::enable);
  EXPECT_FALSE(parse_link_state("up"));
}

TEST(SriovVfConfig, SettingsRoundTripThroughRecords) {
  VfSettings s;
  s.mac = MacAddress::parse("00:00:00:00:00:00", "m");  // "no administrative MAC" is a value to restore
  s.vlan = 0;
  s.qos = 0;
  s.proto = VlanProto::dot1ad;
  s.spoofchk = false;
  s.link_state = LinkState::auto_;
  s.max_tx_rate = 0;
  auto j = to_json(s);
  EXPECT_EQ(j.size(), 7u);  // zeros and false are kept: only unset fields are left out
  auto b = settings_from_json(j);
  EXPECT_EQ(b.mac, s.mac);
  EXPECT_EQ(b.vlan, s.vlan);
  EXPECT_EQ(b.proto, s.proto);
  EXPECT_EQ(b.spoofchk, s.spoofchk);
  EXPECT_EQ(b.link_state, s.link_state);
  EXPECT_EQ(b.max_tx_rate, s.max_tx_rate);
  EXPECT_FALSE(b.trust || b.min_tx_rate);
  EXPECT_TRUE(to_json(VfSettings{}).empty());
}

TEST(SriovVfConfig, DifferencesNameOnlyWhatWasAskedFor) {
  VfConfig c = cur(1);
  c.vlan = 10;
  c.spoofchk = true;
  c.max_tx_rate = 100;
  VfSettings w;
  w.vlan = 10;
  EXPECT_TRUE(differences(c, w).empty());
  w.mac = MacAddress::parse("02:00:00:00:00:01", "m");
  w.spoofchk = false;
  w.trust = true;  // the driver reports no trust: nothing to compare
  w.max_tx_rate = 200;
  EXPECT_EQ(differences(c, w), (std::vector<std::string>{"mac 00:00:00:00:00:00 (want 02:00:00:00:00:01)",
                                                         "spoofchk on (want off)", "max-tx-rate 100 (want 200)"}));
}
