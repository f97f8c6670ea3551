// CNI result formats per version, version comparison, and host-local's configuration and allocator on a
// scratch directory (no kernel involved).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cni/plugin.h"
#include "cni/types.h"
#include "ipam/host_local.h"

namespace ctnet {
namespace {

using nlohmann::json;

cni::Result sample() {
  cni::Result r;
  r.interfaces.push_back({"eth0", "02:00:00:00:00:01", "/run/netns/x", 1400});
  r.ips.push_back({*Prefix::try_parse("10.1.0.5/16"), IpAddress::try_parse("10.1.0.1"), 0});
  r.routes.push_back({*Prefix::try_parse("0.0.0.0/0"), std::nullopt});
  r.dns.nameservers = {"192.0.2.53"};
  return r;
}

TEST(CniResult, OldVersionsCarryIpVersion) {
  for (const char* v : {"0.3.0", "0.3.1", "0.4.0"}) {
    json j = sample().to_json(v);
    EXPECT_EQ(j["ips"][0]["version"], "4") << v;
    EXPECT_FALSE(j["interfaces"][0].contains("mtu")) << v;
  }
  json j = sample().to_json("1.0.0");
  EXPECT_FALSE(j["ips"][0].contains("version"));
  EXPECT_EQ(j["ips"][0]["address"], "10.1.0.5/16");
  EXPECT_EQ(j["ips"][0]["interface"], 0);
  EXPECT_EQ(j["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(j["dns"]["nameservers"][0], "192.0.2.53");
  EXPECT_EQ(sample().to_json("1.1.0")["interfaces"][0]["mtu"], 1400);
}

TEST(CniResult, RoundTripsThroughPrevResult) {
  json j = sample().to_json("0.4.0");
  auto r = cni::Result::from_json(j, "prevResult");
  EXPECT_EQ(r.to_json("0.4.0"), j);
}

TEST(CniResult, BadPrevResultNamesTheField) {
  json j = {{"ips", {{{"address", "10.1.0.5"}}}}};
  try {
    cni::Result::from_json(j, "prevResult");
    FAIL();
  } catch (const std::exception& x) {
    auto e = cni::as_cni_error(x);
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_EQ(std::string(e.what()), "invalid 'prevResult.ips[0].address': '10.1.0.5' is not an address with a prefix length");
  }
  json t = {{"ips", "x"}};
  try {
    cni::Result::from_json(t, "prevResult");
    FAIL();
  } catch (const std::exception& x) {
    auto e = cni::as_cni_error(x);
    EXPECT_EQ(e.code(), cni::kDecodeFailure);
    EXPECT_EQ(std::string(e.what()), "cannot decode 'prevResult.ips': expected an array");
  }
}

TEST(CniError, EngineErrorsGetTheirCodeAtTheBoundary) {
  auto of = [](const std::exception& e) { return cni::as_cni_error(e); };
  EXPECT_EQ(of(InvalidInput("ipam.subnet", "missing")).code(), cni::kInvalidConfig);
  EXPECT_EQ(std::string(of(InvalidInput("ipam.subnet", "missing")).what()), "invalid 'ipam.subnet': missing");
  EXPECT_EQ(of(WrongType("ipam.subnet", "a string")).code(), cni::kDecodeFailure);
  EXPECT_EQ(std::string(of(WrongType("ipam.subnet", "a string")).what()), "cannot decode 'ipam.subnet': expected a string");
  EXPECT_EQ(of(Conflict("requested address 10.0.0.5 is already allocated")).code(), cni::kInvalidConfig);
  EXPECT_EQ(of(Exhausted("no IP addresses available")).code(), cni::kTryAgain);
  auto io = of(IoError("cannot create /x", EACCES));
  EXPECT_EQ(io.code(), cni::kIoFailure);
  EXPECT_EQ(std::string(io.what()), "cannot create /x: Permission denied");
  auto k = of(Error("cannot add veth", EBUSY));
  EXPECT_EQ(k.code(), 100);
  EXPECT_EQ(k.details(), "EBUSY");
  auto c = of(cni::CniError(cni::kInvalidEnv, "CNI_IFNAME missing", "d"));
  EXPECT_EQ(c.code(), cni::kInvalidEnv);
  EXPECT_EQ(c.details(), "d");
  EXPECT_EQ(of(std::runtime_error("x")).code(), 100);
}

TEST(CniVersion, ComparesNumerically) {
  EXPECT_LT(cni::compare_versions("0.4.0", "1.0.0"), 0);
  EXPECT_LT(cni::compare_versions("0.3.1", "0.10.0"), 0);
  EXPECT_EQ(cni::compare_versions("1.1.0", "1.1.0"), 0);
  EXPECT_TRUE(cni::version_supported("0.3.0"));
  EXPECT_TRUE(cni::version_supported("0.2.0"));
  EXPECT_FALSE(cni::version_supported("0.5.0"));
  EXPECT_FALSE(cni::version_supported("1.2.0"));
}

class HostLocal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/tcni-unit-" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ipam::HostLocalConfig config(const json& ranges) {
    return ipam::parse_config({{"type", "host-local"}, {"ranges", ranges}, {"dataDir", dir_}}, "net", nullptr);
  }
  std::string dir_;
};

// The CNI code the plugin would report for what f throws (the engine throws its own error kinds).
int code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return cni::as_cni_error(e).code();
  }
  return 0;
}

TEST_F(HostLocal, DefaultsFollowTheReference) {
  auto c = config(json::array({json::array({{{"subnet", "10.2.0.0/24"}}})}));
  ASSERT_EQ(c.range_sets.size(), 1u);
  const auto& r = c.range_sets[0][0];
  EXPECT_EQ(r.start.str(), "10.2.0.1");
  EXPECT_EQ(r.end.str(), "10.2.0.254");
  EXPECT_EQ(r.gateway.str(), "10.2.0.1");
  EXPECT_EQ(c.data_dir, dir_);
}

TEST_F(HostLocal, BadRangesAreRefusedWithTheirCode) {
  EXPECT_EQ(code_of([&] { config(json::array({json::array({{{"subnet", "10.2.0.1/24"}}})})); }), cni::kInvalidConfig);
  EXPECT_EQ(code_of([&] { config(json::array({json::array({{{"subnet", "10.2.0.0/31"}}})})); }), cni::kInvalidConfig);
  EXPECT_EQ(code_of([&] { config(json::array({json::array({{{"subnet", "10.2.0.0/24"}, {"rangeEnd", "10.3.0.1"}}})})); }),
            cni::kInvalidConfig);
  EXPECT_EQ(code_of([&] { config(json::array({json::array({{{"subnet", 5}}})})); }), cni::kDecodeFailure);
  EXPECT_EQ(code_of([&] {
              config(json::array({json::array({{{"subnet", "10.2.0.0/24"}}}), json::array({{{"subnet", "10.2.0.0/25"}}})}));
            }),
            cni::kInvalidConfig);
  EXPECT_EQ(code_of([&] { config(json::array()); }), cni::kInvalidConfig);
}

TEST_F(HostLocal, AllocatesInOrderSkippingTheGatewayAndWrapsAfterRelease) {
  auto c = config(json::array({json::array({{{"subnet", "10.2.0.0/29"}}})}));  // hosts .1-.6, gateway .1
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) got.push_back(ipam::allocate(c, "c" + std::to_string(i), "eth0", {})[0].address.str());
  EXPECT_EQ(got, (std::vector<std::string>{"10.2.0.2/29", "10.2.0.3/29", "10.2.0.4/29", "10.2.0.5/29", "10.2.0.6/29"}));
  EXPECT_EQ(code_of([&] { ipam::allocate(c, "c9", "eth0", {}); }), cni::kTryAgain);
  EXPECT_EQ(ipam::release(c, "c1", "eth0").size(), 1u);
  EXPECT_EQ(ipam::allocate(c, "c9", "eth0", {})[0].address.str(), "10.2.0.3/29");
  // Duplicate allocation for the same attachment is refused, as the reference does.
  EXPECT_EQ(code_of([&] { ipam::allocate(c, "c9", "eth0", {}); }), cni::kInvalidConfig);
  EXPECT_EQ(ipam::release(c, "c9", "eth0").size(), 1u);
  EXPECT_TRUE(ipam::release(c, "c9", "eth0").empty());
}

TEST_F(HostLocal, RequestedAddressesAndGc) {
  auto c = config(json::array({json::array({{{"subnet", "10.2.0.0/24"}}})}));
  EXPECT_EQ(ipam::allocate(c, "a", "eth0", {*IpAddress::try_parse("10.2.0.50")})[0].address.str(), "10.2.0.50/24");
  EXPECT_EQ(code_of([&] { ipam::allocate(c, "b", "eth0", {*IpAddress::try_parse("10.2.0.50")}); }), cni::kInvalidConfig);
  EXPECT_EQ(code_of([&] { ipam::allocate(c, "b", "eth0", {*IpAddress::try_parse("10.9.0.50")}); }), cni::kInvalidConfig);
  EXPECT_EQ(code_of([&] { ipam::allocate(c, "b", "eth0", {*IpAddress::try_parse("10.2.0.1")}); }), cni::kInvalidConfig);
  ipam::allocate(c, "b", "eth0", {});
  ipam::allocate(c, "b", "net1", {});
  auto released = ipam::gc(c, {{"a", "eth0"}});
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(ipam::leases_of(c, "a", "eth0").size(), 1u);
  EXPECT_TRUE(ipam::leases_of(c, "b", "eth0").empty());
}

TEST_F(HostLocal, ReleasesLeasesWrittenByTheReference) {
  auto c = config(json::array({json::array({{{"subnet", "10.2.0.0/24"}}})}));
  std::filesystem::create_directories(dir_ + "/net");
  std::ofstream(dir_ + "/net/10.2.0.9") << "refctr\r\neth0";
  std::ofstream(dir_ + "/net/10.2.0.10") << "other\r\neth0";
  auto r = ipam::release(c, "refctr", "eth0");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].str(), "10.2.0.9");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/net/10.2.0.9"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/net/10.2.0.10"));
}

TEST_F(HostLocal, DualStackGivesOneAddressPerRangeSet) {
  auto c = config(json::array({json::array({{{"subnet", "10.2.0.0/24"}}}), json::array({{{"subnet", "fd00:2::/64"}}})}));
  auto l = ipam::allocate(c, "d", "eth0", {});
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].address.str(), "10.2.0.2/24");
  EXPECT_EQ(l[1].address.str(), "fd00:2::2/64");
  EXPECT_EQ(l[1].gateway.str(), "fd00:2::1");
}

}  // namespace
}  // namespace ctnet
