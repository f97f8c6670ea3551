// Bad input to a CNI plugin, class by class: each gets the spec's error object naming the field, and nothing is
// made (no link on the host or in the container, no lease). Names the kernel treats specially ('%' templates),
// bytes that are not UTF-8 in CNI_* variables and names, wrong JSON types in optional keys, key combinations
// the reference refuses, a gateway that is the subnet's network or broadcast address, a missing CNI_PATH.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "integration/cni_harness.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

struct BadInput {
  std::string what;
  std::map<std::string, std::string> env;  // replaces the entries of the default ADD environment ("" removes)
  std::function<void(json&)> conf;         // edits the default bridge configuration
  int code;                                // the CNI error code
  std::string says;                        // a part of the message
};

using CniBadInput = CniFixture;

TEST_F(CniBadInput, EachClassIsASpecErrorNamingTheFieldAndNothingIsMade) {
  const std::vector<BadInput> cases = {
      {"'%' in CNI_IFNAME", {{"CNI_IFNAME", "eth%d"}}, {}, 4, "CNI_IFNAME: interface name 'eth%d' contains '%'"},
      {"'%' in the bridge name", {}, [](json& c) { c["bridge"] = "tcni%d"; }, 7, "'bridge': interface name 'tcni%d' contains '%'"},
      {"CNI_IFNAME not UTF-8", {{"CNI_IFNAME", "e\xff"}}, {}, 4, "CNI_IFNAME: interface name 'e\\xff' is not UTF-8"},
      {"CNI_CONTAINERID not UTF-8", {{"CNI_CONTAINERID", "c\xff"}}, {}, 4, "CNI_CONTAINERID: identifier 'c\\xff'"},
      {"CNI_NETNS not UTF-8", {{"CNI_NETNS", "/run/netns/\xff"}}, {}, 4, "CNI_NETNS: '/run/netns/\\xff' is not UTF-8"},
      {"CNI_ARGS not UTF-8", {{"CNI_ARGS", "K8S_POD_NAME=\xff"}}, {}, 4, "CNI_ARGS: 'K8S_POD_NAME=\\xff' is not UTF-8"},
      {"CNI_PATH missing", {{"CNI_PATH", ""}}, {}, 4, "missing: CNI_PATH"},
      {"dns as a string", {}, [](json& c) { c["dns"] = "10.0.0.53"; }, 6, "'dns': expected an object"},
      {"hairpinMode with promiscMode", {}, [](json& c) { c["hairpinMode"] = true; c["promiscMode"] = true; }, 7,
       "cannot set hairpin mode and promiscuous mode at the same time"},
      {"gateway = network address", {}, [](json& c) { c["ipam"]["ranges"][0][0]["gateway"] = "10.99.0.0"; }, 7,
       "10.99.0.0 is the network address of 10.99.0.0/24"},
      {"gateway = broadcast address", {}, [](json& c) { c["ipam"]["ranges"][0][0]["gateway"] = "10.99.0.255"; }, 7,
       "10.99.0.255 is the broadcast address of 10.99.0.0/24"},
  };
  const std::string ns = container();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto e = env("ADD", "bad", ns);
    for (const auto& [k, v] : c.env) {
      if (v.empty()) e.erase(k);
      else e[k] = v;
    }
    auto conf = bridge_conf();
    if (c.conf) c.conf(conf);
    auto r = run("bridge", e, conf);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    ASSERT_TRUE(r.json.is_object()) << "not a JSON error: " << r.out;
    EXPECT_EQ(r.code(), c.code) << r.out;
    EXPECT_NE(r.msg().find(c.says), std::string::npos) << r.msg();
    EXPECT_EQ(host_links(), std::vector<std::string>{}) << "a bad ADD made a host link";
    auto cs = socket_in(ns);
    EXPECT_FALSE(link::find(cs, "eth0")) << "a bad ADD made the container interface";
    EXPECT_EQ(lease_ips(), std::vector<std::string>{}) << "a bad ADD took a lease";
  }
}

TEST_F(CniBadInput, StatusIsNotReadyWhenTheDataDirCannotBeMadeOrWritten) {
  auto conf = bridge_conf("1.1.0");
  const std::map<std::string, std::string> status = {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", "/usr/lib/cni"}};
  EXPECT_EQ(run("bridge", status, conf).exit_code, 0);
  std::filesystem::create_directories(data_dir_);
  { std::ofstream(data_dir_ + "/a-file") << "x"; }
  conf["ipam"]["dataDir"] = data_dir_ + "/a-file/leases";  // a file where a directory must be
  auto r = run("bridge", status, conf);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.code(), 50) << r.out;  // "the plugin is not available"
  EXPECT_NE(r.msg().find("cannot be created"), std::string::npos) << r.msg();
}

// vlan's keys are checked before anything; where the kernel has no 8021q (this build machine), ADD says which
// module is missing and releases the lease it took (the VLAN itself is proved in the kernel suite, subif).
TEST_F(CniBadInput, VlanKeysAndAMissingDriver) {
  const std::string ns = container();
  auto conf = bridge_conf();
  conf.erase("bridge");
  conf.erase("isGateway");
  conf["type"] = "vlan";
  conf["master"] = "lo";
  for (const auto& [id, says] : std::vector<std::pair<json, std::string>>{{json(), "'vlanId': missing"},
                                                                           {4095, "'vlanId': 4095 is not a VLAN ID"},
                                                                           {"7", "'vlanId': \"7\" is not a VLAN ID"}}) {
    auto c = conf;
    if (!id.is_null()) c["vlanId"] = id;
    auto r = run("vlan", env("ADD", "v1", ns), c);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
  }
  if (std::filesystem::exists("/sys/module/8021q")) GTEST_SKIP() << "this kernel has 8021q";
  conf["vlanId"] = 7;
  auto r = run("vlan", env("ADD", "v1", ns), conf);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.msg().find("load the 8021q module"), std::string::npos) << r.msg();
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
}

TEST_F(CniBadInput, DummyNeedsIpamAndSaysWhenTheDriverIsMissing) {
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcninet"}, {"type", "dummy"}};
  auto r = run("dummy", env("ADD", "d1", ns), conf);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.msg().find("'ipam': missing"), std::string::npos) << r.msg();
  if (std::filesystem::exists("/sys/module/dummy")) GTEST_SKIP() << "this kernel has dummy";
  conf["ipam"] = bridge_conf()["ipam"];
  r = run("dummy", env("ADD", "d1", ns), conf);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.msg().find("load the dummy module"), std::string::npos) << r.msg();
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
}

TEST_F(CniBadInput, TheNetworksDnsBecomesTheResultsDns) {
  const std::string ns = container();
  auto conf = bridge_conf();
  conf["dns"] = {{"nameservers", {"10.99.0.53"}}, {"search", {"lab.example"}}};
  auto r = run("bridge", env("ADD", "dns", ns), conf);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.json["dns"]["nameservers"], json::array({"10.99.0.53"})) << r.out;
  EXPECT_EQ(r.json["dns"]["search"], json::array({"lab.example"})) << r.out;
  EXPECT_EQ(run("bridge", env("DEL", "dns", ns), conf).exit_code, 0);
}

}  // namespace
}  // namespace ctnet::test
