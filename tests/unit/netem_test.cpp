// The netem qdisc (link/tc.h): tc's units, the request against the bytes the kernel expects (linux/pkt_sched.h:
// TCA_OPTIONS holds a struct tc_netem_qopt followed by TCA_NETEM_* attributes, not a nest), its parser on the
// same layout, and the "differs" lines; lab endpoints' impair/mac/mtu/txqueuelen keys and their errors.
#include <gtest/gtest.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "link/tc.h"
#include "topology/model.h"
#include "topology/parse.h"
#include "util/error.h"

using namespace ctnet;
namespace tc = ctnet::link::tc;
using Bytes = std::vector<uint8_t>;

namespace {
Bytes bytes_of(const nl::Message& m) { return Bytes(m.bytes().begin(), m.bytes().end()); }
nl::OwnedMessage owned(const nl::Message& m) { return {std::vector<char>(m.bytes().begin(), m.bytes().end())}; }
void le16(Bytes& b, uint16_t v) { b.insert(b.end(), {uint8_t(v), uint8_t(v >> 8)}); }
void le32(Bytes& b, uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); }
void le64(Bytes& b, uint64_t v) { le32(b, uint32_t(v)), le32(b, uint32_t(v >> 32)); }
void attr(Bytes& b, uint16_t len, uint16_t type) { le16(b, len), le16(b, type); }

tc::Netem every_field() {
  return {.delay_ns = 10'000'000, .jitter_ns = 2'000'000, .loss = *tc::parse_probability("1%"),
          .corrupt = *tc::parse_probability("0.1%"), .duplicate = *tc::parse_probability("1%"),
          .reorder = *tc::parse_probability("25%"), .rate = *tc::parse_rate("10mbit")};
}
}  // namespace

TEST(Netem, UnitsAsTcReadsThem) {
  EXPECT_EQ(tc::parse_time_ns("10ms"), 10'000'000u);
  EXPECT_EQ(tc::parse_time_ns("1.5s"), 1'500'000'000u);
  EXPECT_EQ(tc::parse_time_ns("500us"), 500'000u);
  EXPECT_EQ(tc::parse_time_ns("100ns"), 100u);
  EXPECT_FALSE(tc::parse_time_ns("10"));     // a unit is required
  EXPECT_FALSE(tc::parse_time_ns("-1ms"));
  EXPECT_FALSE(tc::parse_time_ns("10 parsecs"));
  EXPECT_EQ(tc::parse_probability("100%"), UINT32_MAX);
  EXPECT_EQ(tc::parse_probability("1%"), 42949673u);  // rint(0.01 * (2^32 - 1)), tc's get_percent
  EXPECT_EQ(tc::parse_probability("0"), 0u);
  EXPECT_FALSE(tc::parse_probability("101%"));
  EXPECT_FALSE(tc::parse_probability("1%%"));
  EXPECT_EQ(tc::parse_rate("10mbit"), 1'250'000u);  // bytes per second
  EXPECT_EQ(tc::parse_rate("1gbit"), 125'000'000u);
  EXPECT_EQ(tc::parse_rate("100kbps"), 100'000u);
  EXPECT_FALSE(tc::parse_rate("10m"));
  EXPECT_EQ(tc::time_str(10'000'000), "10ms");
  EXPECT_EQ(tc::time_str(2'000'000'000), "2s");
  EXPECT_EQ(tc::time_str(500'000), "500us");
  EXPECT_EQ(tc::probability_str(42949673), "1%");
  EXPECT_EQ(tc::rate_str(1'250'000), "10mbit");
}

TEST(Netem, RequestIsTheStructThenAttributes) {
  // tc qdisc add dev X root handle 1: netem delay 10ms 2ms loss 1% duplicate 1% corrupt 0.1% reorder 25% rate 10mbit
  const tc::Netem n = every_field();
  nl::Message m = tc::new_qdisc(5, {.handle = 0x10000, .parent = tc::kRoot, .kind = "netem", .netem = n});
  const auto ticks = [](uint64_t ns) { return uint32_t(double(ns) / 1000.0 * tc::ticks_per_usec()); };
  Bytes e;
  le32(e, 144), le16(e, RTM_NEWQDISC), le16(e, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL), le32(e, 0), le32(e, 0);
  le32(e, 0), le32(e, 5), le32(e, 0x10000), le32(e, 0xffffffff), le32(e, 0);        // tcmsg
  attr(e, 10, TCA_KIND), e.insert(e.end(), {'n', 'e', 't', 'e', 'm', 0, 0, 0});
  attr(e, 96, TCA_OPTIONS);                                                           // no NLA_F_NESTED, as tc
  le32(e, ticks(10'000'000)), le32(e, 1000), le32(e, 42949673), le32(e, 1);          // latency, limit, loss, gap
  le32(e, 42949673), le32(e, ticks(2'000'000));                                       // duplicate, jitter
  attr(e, 12, TCA_NETEM_REORDER), le32(e, 0x40000000), le32(e, 0);                    // 25%, correlation 0
  attr(e, 12, TCA_NETEM_LATENCY64), le64(e, 10'000'000);
  attr(e, 12, TCA_NETEM_JITTER64), le64(e, 2'000'000);
  attr(e, 12, TCA_NETEM_CORRUPT), le32(e, 4294967), le32(e, 0);                       // 0.1%
  attr(e, 20, TCA_NETEM_RATE), le32(e, 1'250'000), le32(e, 0), le32(e, 0), le32(e, 0);
  EXPECT_EQ(bytes_of(m), e);
  // The kernel dumps the same layout: parsed back, it is the same netem.
  tc::Qdisc q = tc::parse_qdisc(owned(m));
  ASSERT_TRUE(q.netem);
  EXPECT_EQ(*q.netem, n);
}

TEST(Netem, RatesAbove32BitsGoInRate64) {
  tc::Netem n{.rate = *tc::parse_rate("40gbit")};
  nl::Message m = tc::replace_qdisc(5, {.handle = 0x10000, .parent = tc::kRoot, .kind = "netem", .netem = n});
  EXPECT_EQ(m.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
  tc::Qdisc q = tc::parse_qdisc(owned(m));
  ASSERT_TRUE(q.netem);
  EXPECT_EQ(q.netem->rate, 5'000'000'000u);
}

TEST(Netem, DifferencesNameTheField) {
  tc::Netem have{.delay_ns = 10'000'000}, want{.delay_ns = 20'000'000, .loss = *tc::parse_probability("1%")};
  auto d = tc::differences(have, want);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0], "delay 10ms (want 20ms)");
  EXPECT_EQ(d[1], "loss 0% (want 1%)");
  EXPECT_EQ(tc::describe(want), "delay 20ms loss 1%");
}

namespace {
const char* kLab = R"(name: ctlk
namespaces: [a, b]
links:
  - endpoints:
      - {namespace: a, name: e1, addresses: [10.0.0.1/24], ENDA}
      - {namespace: b, name: e2, addresses: [10.0.0.2/24]}
)";
std::string lab(const std::string& end) {
  std::string s = kLab;
  s.replace(s.find("ENDA"), 4, end);
  return s;
}
void expect_error(const std::string& end, const std::string& field, const std::string& text) {
  try {
    topo::parse_yaml(lab(end));
    ADD_FAILURE() << "parsed: " << end;
  } catch (const InvalidInput& e) {
    EXPECT_NE(e.field().find(field), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(LabEndpoint, SettingsOfAnEnd) {
  topo::Topology t = topo::parse_yaml(lab("mac: 02:00:00:00:00:01, mtu: 1400, txqueuelen: 50, impair: {delay: 50ms, loss: 20%}"));
  const topo::Endpoint& a = t.links[0].a;
  EXPECT_EQ(a.mac->str(), "02:00:00:00:00:01");
  EXPECT_EQ(a.mtu, 1400u);
  EXPECT_EQ(a.txqueuelen, 50u);
  ASSERT_TRUE(a.impair);
  EXPECT_EQ(a.impair->delay_ns, 50'000'000u);
  EXPECT_EQ(a.impair->loss, *tc::parse_probability("20%"));
  EXPECT_FALSE(t.links[0].b.impair);
  // The record keeps them.
  topo::Topology back = topo::from_json(topo::to_json(t));
  EXPECT_EQ(back.links[0].a.mac, a.mac);
  EXPECT_EQ(back.links[0].a.mtu, 1400u);
  EXPECT_EQ(back.links[0].a.txqueuelen, 50u);
  EXPECT_EQ(back.links[0].a.impair, a.impair);
}

TEST(LabEndpoint, ErrorsNameTheField) {
  expect_error("impair: {delay: 10}", "endpoints[0].impair.delay", "is not a time");
  expect_error("impair: {loss: 120%}", "impair.loss", "percentage");
  expect_error("impair: {rate: 10mb}", "impair.rate", "is not a rate");
  expect_error("impair: {rate: 1bit}", "impair.rate", "at least 8bit");
  expect_error("impair: {jitter: 2ms}", "impair.jitter", "needs `delay`");
  expect_error("impair: {delay: 1ms, jitter: 2ms}", "impair.jitter", "more than the delay");
  expect_error("impair: {reorder: 25%}", "impair.reorder", "needs `delay`");
  expect_error("impair: {delay: 2min}", "impair.delay", "is not a time");
  expect_error("impair: {delay: 61s}", "impair.delay", "60s");
  expect_error("impair: {}", "impair", "sets nothing");
  expect_error("impair: {latency: 1ms}", "impair.latency", "unknown key");
  expect_error("impair: [1ms]", "impair", "mapping");
  expect_error("mac: 01:00:5e:00:00:01", "endpoints[0].mac", "multicast");
  expect_error("mac: zz", "endpoints[0].mac", "");
  expect_error("mtu: 10", "endpoints[0].mtu", "");
  expect_error("txqueuelen: -1", "endpoints[0].txqueuelen", "not a number");
}

TEST(LabBridge, ExternalBridgeIsNotChanged) {
  const std::string head = "name: ctlk\nnamespaces: [a]\nbridges:\n  br0: {external: true";
  const std::string links = "}\nlinks:\n  - endpoints: [\"a:e1=10.0.0.1/24\", br0]\n";
  topo::Topology t = topo::parse_yaml(head + links);
  EXPECT_TRUE(t.bridges[0].external);
  EXPECT_TRUE(topo::from_json(topo::to_json(t)).bridges[0].external);
  topo::add_prefix(t, "x-");
  EXPECT_EQ(t.bridges[0].name, "br0");           // someone else's bridge keeps its name
  EXPECT_EQ(t.links[0].b.bridge, "br0");
  for (const char* key : {", mtu: 1400", ", vlan_filtering: true", ", addresses: [10.0.0.254/24]"}) {
    try {
      topo::parse_yaml(head + key + links);
      ADD_FAILURE() << key;
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("not ctnet's to change"), std::string::npos) << e.what();
    }
  }
}

TEST(LabEndpoint, OwnMtuOfAnIpv6EndIsAtLeast1280) {
  const std::string file = R"(name: ctlk
namespaces: [a, b]
links:
  - endpoints:
      - {namespace: a, name: e1, addresses: [fd00:1::1/64], mtu: 1200}
      - {namespace: b, name: e2, addresses: [fd00:1::2/64]}
)";
  try {
    topo::parse_yaml(file);
    ADD_FAILURE() << "an IPv6 end with mtu 1200 parsed";
  } catch (const InvalidInput& e) {
    EXPECT_NE(e.field().find("(a:e1).mtu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1280"), std::string::npos) << e.what();
  }
}
