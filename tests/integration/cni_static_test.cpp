// The static IPAM plugin, on its own beside the reference's and in-process under bridge: the configured
// addresses, routes and DNS; CNI_ARGS IP appended and GATEWAY applied; runtimeConfig ips replacing them; CHECK;
// nothing stored, so DEL has nothing to release; bad addresses refused with the field named.
#include <gtest/gtest.h>

#include <filesystem>

#include "integration/cni_harness.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniStatic : public CniFixture {
 protected:
  json conf(json ipam = {}) const {
    if (ipam.is_null())
      ipam = {{"addresses", {{{"address", "10.91.0.5/24"}, {"gateway", "10.91.0.1"}}, {{"address", "fd00:91::5/64"}}}},
              {"routes", {{{"dst", "0.0.0.0/0"}}, {{"dst", "10.92.0.0/16"}, {"gw", "10.91.0.254"}}}},
              {"dns", {{"nameservers", {"10.91.0.53"}}}}};
    ipam["type"] = "static";
    return {{"cniVersion", "1.0.0"}, {"name", "tcnistatic"}, {"type", "static"}, {"ipam", ipam}};
  }
};

TEST_F(CniStatic, GivesTheConfiguredAddressesLikeTheReference) {
  const std::string ns = container();
  auto ours = run("static", env("ADD", "s1", ns), conf());
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  EXPECT_EQ(ours.json["ips"][0]["address"], "10.91.0.5/24");
  EXPECT_EQ(ours.json["ips"][0]["gateway"], "10.91.0.1");
  EXPECT_EQ(ours.json["ips"][1]["address"], "fd00:91::5/64");
  EXPECT_EQ(ours.json["routes"][1]["gw"], "10.91.0.254");
  EXPECT_EQ(ours.json["dns"]["nameservers"][0], "10.91.0.53");
  if (std::filesystem::exists("/usr/lib/cni/static")) {
    auto ref = run_reference("static", env("ADD", "s1", ns), conf());
    ASSERT_EQ(ref.exit_code, 0) << ref.out;
    EXPECT_EQ(ours.json, ref.json);
  }
  auto check = conf();
  check["cniVersion"] = "1.0.0";
  check["prevResult"] = ours.json;
  EXPECT_EQ(run("static", env("CHECK", "s1", ns), check).exit_code, 0);
  check["prevResult"]["ips"][0]["address"] = "10.91.0.6/24";
  auto bad = run("static", env("CHECK", "s1", ns), check);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.msg().find("10.91.0.6/24 is not a configured address"), std::string::npos) << bad.msg();
  EXPECT_EQ(run("static", env("DEL", "s1", ns), conf()).exit_code, 0);
}

TEST_F(CniStatic, CniArgsAppendAndRuntimeConfigReplaces) {
  const std::string ns = container();
  auto e = env("ADD", "s2", ns);
  e["CNI_ARGS"] = "IP=10.91.0.7/24,10.91.0.8/24;GATEWAY=10.91.0.2";
  auto r = run("static", e, conf());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_EQ(r.json["ips"].size(), 4u) << r.out;
  EXPECT_EQ(r.json["ips"][2]["address"], "10.91.0.7/24");
  for (const auto& ip : {0, 2, 3}) EXPECT_EQ(r.json["ips"][ip]["gateway"], "10.91.0.2") << "GATEWAY applies to every address";
  auto c = conf();
  c["runtimeConfig"] = {{"ips", {"10.91.0.9/24"}}};
  auto rc = run("static", env("ADD", "s3", ns), c);
  ASSERT_EQ(rc.exit_code, 0) << rc.out;
  ASSERT_EQ(rc.json["ips"].size(), 1u) << rc.out;
  EXPECT_EQ(rc.json["ips"][0]["address"], "10.91.0.9/24");
}

TEST_F(CniStatic, UnderBridgeTheContainerGetsItAndNothingIsStored) {
  const std::string ns = container();
  auto c = bridge_conf();
  c["ipam"] = {{"type", "static"}, {"addresses", {{{"address", "10.99.0.42/24"}, {"gateway", "10.99.0.1"}}}}};
  auto add = run("bridge", env("ADD", "s4", ns), c);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto s = socket_in(ns);
  bool found = false;
  for (const auto& a : addr::list(s, link::get(s, "eth0").index)) found = found || a.prefix.str() == "10.99.0.42/24";
  EXPECT_TRUE(found);
  EXPECT_FALSE(std::filesystem::exists(data_dir_ + "/tcninet")) << "static stores nothing";
  EXPECT_EQ(run("bridge", env("DEL", "s4", ns), c).exit_code, 0);
  EXPECT_EQ(host_links(), std::vector<std::string>{"tcnibr0"});
}

TEST_F(CniStatic, BadAddressesNameTheField) {
  const std::string ns = container();
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"addresses", {{{"address", "10.91.0.0/24"}}}}}, "'ipam.addresses[0].address': 10.91.0.0 is the network address"},
      {{{"addresses", {{{"address", "10.91.0.255/24"}}}}}, "'ipam.addresses[0].address': 10.91.0.255 is the broadcast address"},
      {{{"addresses", {{{"address", "10.91.0.5"}}}}}, "'ipam.addresses[0].address': '10.91.0.5' is not an address in CIDR form"},
      {{{"addresses", {{{"address", "10.91.0.5/24"}, {"gateway", "fd00::1"}}}}}, "'ipam.addresses[0].gateway': fd00::1 is not of the family"},
      {{{"addresses", "10.91.0.5/24"}}, "'ipam.addresses': expected an array"},
  };
  for (const auto& [ipam, says] : cases) {
    SCOPED_TRACE(ipam.dump());
    auto r = run("static", env("ADD", "s5", ns), conf(ipam));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
  }
}

}  // namespace
}  // namespace ctnet::test
