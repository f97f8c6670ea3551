// The tap plugin: a persistent TAP device as the container's interface, with its MAC, MTU, owner, group and
// multi-queue flag as the kernel reports them (`ip -d`), its address from IPAM, CHECK, and DEL removing it and
// the lease; a taken name or a missing bridge fails with nothing left.
#include <gtest/gtest.h>

#include <filesystem>

#include "integration/cni_harness.h"
#include "support/run.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

RunResult ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

class CniTap : public CniFixture {
 protected:
  json conf() const {
    auto c = bridge_conf();
    c.erase("bridge");
    c.erase("isGateway");
    c["type"] = "tap";
    c["mac"] = "02:00:00:00:7a:01";
    c["mtu"] = 1400;
    c["multiQueue"] = true;
    c["owner"] = 4242;
    c["group"] = 4343;
    return c;
  }
  json details(const std::string& ns) {
    auto r = ip({"-n", std::filesystem::path(ns).filename().string(), "-d", "-j", "link", "show", "eth0"});
    auto j = json::parse(r.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : json();
  }
};

TEST_F(CniTap, MakesATapWithItsSettingsAndDelRemovesIt) {
  const std::string ns = container();
  auto add = run("tap", env("ADD", "tp1", ns), conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json["interfaces"][0]["mac"], "02:00:00:00:7a:01");
  json d = details(ns);
  ASSERT_TRUE(d.is_object()) << "eth0 is not in the container";
  EXPECT_EQ(d["linkinfo"]["info_kind"], "tun");
  EXPECT_EQ(d["linkinfo"]["info_data"]["type"], "tap");
  EXPECT_EQ(d["linkinfo"]["info_data"]["multi_queue"], true);
  EXPECT_EQ(d["linkinfo"]["info_data"]["user"], 4242);
  EXPECT_EQ(d["linkinfo"]["info_data"]["group"], 4343);
  EXPECT_EQ(d["mtu"], 1400);
  bool has_address = false;
  for (const auto& a : d.value("addr_info", json::array())) has_address = has_address || a.value("local", "") == "10.99.0.2";
  auto s = socket_in(ns);
  for (const auto& a : addr::list(s, link::get(s, "eth0").index)) has_address = has_address || a.prefix.str() == "10.99.0.2/24";
  EXPECT_TRUE(has_address);

  auto check = conf();
  check["prevResult"] = add.json;
  EXPECT_EQ(run("tap", env("CHECK", "tp1", ns), check).exit_code, 0);

  ASSERT_EQ(run("tap", env("DEL", "tp1", ns), conf()).exit_code, 0);
  EXPECT_TRUE(details(ns).is_null()) << "the tap is still there";
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  EXPECT_EQ(run("tap", env("DEL", "tp1", ns), conf()).exit_code, 0) << "DEL twice";
}

TEST_F(CniTap, ATakenNameOrAMissingBridgeLeavesNothing) {
  const std::string ns = container();
  {
    ASSERT_EQ(ip({"-n", std::filesystem::path(ns).filename().string(), "link", "add", "eth0", "type", "veth", "peer", "name", "p0"}).exit_code, 0);
  }
  auto taken = run("tap", env("ADD", "tp2", ns), conf());
  EXPECT_EQ(taken.exit_code, 1) << taken.out;
  EXPECT_NE(taken.msg().find("already exists"), std::string::npos) << taken.msg();
  EXPECT_EQ(details(ns).value("linkinfo", json()).value("info_kind", ""), "veth") << "someone else's eth0 was touched";
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});

  auto c = conf();
  c["bridge"] = "nobr0";
  auto missing = run("tap", env("ADD", "tp3", ns, "tap0"), c);
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  auto s = socket_in(ns);
  EXPECT_FALSE(link::find(s, "tap0"));
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
}

}  // namespace
}  // namespace ctnet::test
