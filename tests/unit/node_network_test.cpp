// The multi-host network's arithmetic and records: the INDEX-th node subnet of each family, the count of them,
// configuration validation naming the option, records that do not parse ignored.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "node/network.h"
#include "util/error.h"

namespace ctnet::node {
namespace {

NetworkConfig dual() {
  NetworkConfig c;
  c.cidrs = {Prefix::parse("10.244.0.0/16", "c"), Prefix::parse("fd00:244::/48", "c")};
  return c;
}

TEST(NodeNetwork, SubnetsOfAnIndexInBothFamilies) {
  NetworkConfig c = dual();
  EXPECT_EQ(c.subnet_count(), 256);
  auto s = c.subnets(0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].str(), "10.244.0.0/24");
  EXPECT_EQ(s[1].str(), "fd00:244::/64");
  s = c.subnets(3);
  EXPECT_EQ(s[0].str(), "10.244.3.0/24");
  EXPECT_EQ(s[1].str(), "fd00:244:0:3::/64");
  s = c.subnets(255);
  EXPECT_EQ(s[0].str(), "10.244.255.0/24");
  EXPECT_EQ(s[1].str(), "fd00:244:0:ff::/64");
  c.subnet_len = 26;  // carries across bytes
  EXPECT_EQ(c.subnets(5)[0].str(), "10.244.1.64/26");
  c.cidrs = {Prefix::parse("10.0.0.0/8", "c")};
  c.subnet_len = 30;
  EXPECT_EQ(c.subnet_count(), 65536) << "capped";
  EXPECT_EQ(c.subnets(65535)[0].str(), "10.3.255.252/30");
}

TEST(NodeNetwork, ValidationNamesTheOption) {
  NetworkConfig c = dual();
  c.cidrs.push_back(Prefix::parse("10.1.0.0/16", "c"));
  try {
    c.validate();
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--cidr");
  }
  c = dual();
  c.subnet_len = 16;
  EXPECT_THROW(c.validate(), InvalidInput);
  c = dual();
  c.vni = 0;
  EXPECT_THROW(c.validate(), InvalidInput);
  c = NetworkConfig{};
  c.cidrs = {Prefix::parse("10.0.0.0/16", "c"), Prefix::parse("10.1.0.0/16", "c")};
  EXPECT_THROW(c.validate(), InvalidInput) << "two of one family";
  EXPECT_THROW(validate_network_name("a/b"), InvalidInput);
  EXPECT_THROW(validate_network_name(""), InvalidInput);
  EXPECT_NO_THROW(validate_network_name("pods-1.a_b"));
}

TEST(NodeNetwork, ConfigAndRecordRoundTrip) {
  NetworkConfig c = dual();
  c.backend = Backend::host_gw;
  c.vni = 7;
  auto back = NetworkConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  NodeRecord r{.node = "h1", .subnets = c.subnets(1), .underlay = IpAddress::parse("10.0.0.1", "u"),
               .vtep_mac = MacAddress::parse("02:00:00:00:00:01", "m")};
  auto parsed = NodeRecord::from_json(r.to_json().dump());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, r);
  EXPECT_EQ(r.underlay_of(AF_INET), r.underlay);
  EXPECT_FALSE(r.underlay_of(AF_INET6)) << "a record of an IPv4-only underlay (or of an older ctnet)";
  r.underlay_addresses = {r.underlay, IpAddress::parse("fd00::1", "u")};
  parsed = NodeRecord::from_json(r.to_json().dump());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, r);
  EXPECT_EQ(parsed->underlay_of(AF_INET6), IpAddress::parse("fd00::1", "u")) << "host-gw's IPv6 next hop";
  EXPECT_FALSE(NodeRecord::from_json("not json"));
  EXPECT_FALSE(NodeRecord::from_json(R"({"node": "x", "subnets": ["nope"], "underlay": "10.0.0.1"})"));
  EXPECT_EQ(index_of_key("n", "/ctnet/networks/n/subnets/12"), 12);
  EXPECT_FALSE(index_of_key("n", "/ctnet/networks/n/subnets/x"));
  EXPECT_FALSE(index_of_key("n", "/ctnet/networks/m/subnets/1"));
}

}  // namespace
}  // namespace ctnet::node
