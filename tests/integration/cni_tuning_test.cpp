// The tuning plugin chained after bridge, as podman's default network chains it: sysctls and link settings of
// the container interface applied, the result's MAC updated, CHECK comparing them, DEL putting the old values
// back from its state file (also when the namespace is gone, and twice), bad keys refused before anything.
#include <gtest/gtest.h>

#include <filesystem>

#include "integration/cni_harness.h"
#include "ns/sysctl.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniTuning : public CniFixture {
 protected:
  json tuning(const json& prev, json keys) const {
    keys["cniVersion"] = "1.0.0";
    keys["name"] = "tcninet";
    keys["type"] = "tuning";
    keys["dataDir"] = data_dir_ + "/tuning";
    keys["prevResult"] = prev;
    return keys;
  }
  link::Link eth0(const std::string& ns) {
    auto s = socket_in(ns);
    return link::get(s, "eth0");
  }
  std::string sysctl(const std::string& ns, const std::string& key) {
    NetNs n = NetNs::open_path(ns);
    return read_sysctl(key, &n).value_or("?");
  }
};

TEST_F(CniTuning, AppliesChecksAndPutsEverythingBackOnDel) {
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "t1", ns), bridge_conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const link::Link before = eth0(ns);
  const std::string arp_before = sysctl(ns, "net.ipv4.conf.eth0.arp_ignore");
  auto conf = tuning(add.json, {{"sysctl", {{"net.ipv4.conf.eth0.arp_ignore", "1"}, {"net.core.somaxconn", "512"}}},
                                {"mac", "02:00:00:00:aa:01"}, {"mtu", 1400}, {"promisc", true}, {"allmulti", true},
                                {"txQLen", 321}});
  auto t = run("tuning", env("ADD", "t1", ns), conf);
  ASSERT_EQ(t.exit_code, 0) << t.out;
  EXPECT_EQ(t.json["interfaces"][2]["mac"], "02:00:00:00:aa:01") << "the result carries the new MAC";
  const link::Link l = eth0(ns);
  EXPECT_EQ(l.mac->str(), "02:00:00:00:aa:01");
  EXPECT_EQ(l.mtu, 1400u);
  EXPECT_TRUE(l.flags & IFF_PROMISC);
  EXPECT_TRUE(l.flags & IFF_ALLMULTI);
  EXPECT_EQ(l.txqlen, 321u);
  EXPECT_EQ(sysctl(ns, "net.ipv4.conf.eth0.arp_ignore"), "1");
  EXPECT_EQ(sysctl(ns, "net.core.somaxconn"), "512");

  auto check = conf;
  check["prevResult"] = t.json;
  EXPECT_EQ(run("tuning", env("CHECK", "t1", ns), check).exit_code, 0);
  {
    auto s = socket_in(ns);
    link::change(s, l.index, {.mtu = 1300}, "test: mtu");
  }
  auto bad = run("tuning", env("CHECK", "t1", ns), check);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.msg().find("mtu 1300 (want 1400)"), std::string::npos) << bad.msg();

  ASSERT_EQ(run("tuning", env("DEL", "t1", ns), conf).exit_code, 0);
  const link::Link after = eth0(ns);
  EXPECT_EQ(after.mac, before.mac);
  EXPECT_EQ(after.mtu, before.mtu) << "the MTU tuning found (it wrote 1400; 1300 was set later, still put back)";
  EXPECT_FALSE(after.flags & IFF_PROMISC);
  EXPECT_FALSE(after.flags & IFF_ALLMULTI);
  EXPECT_EQ(after.txqlen, before.txqlen);
  EXPECT_EQ(sysctl(ns, "net.ipv4.conf.eth0.arp_ignore"), arp_before);
  EXPECT_FALSE(std::filesystem::exists(data_dir_ + "/tuning/t1-eth0.json"));
  EXPECT_EQ(run("tuning", env("DEL", "t1", ns), conf).exit_code, 0) << "DEL twice";
  EXPECT_EQ(run("bridge", env("DEL", "t1", ns), bridge_conf()).exit_code, 0);
}

TEST_F(CniTuning, DelAfterTheNamespaceWentRemovesTheStateFile) {
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "t2", ns), bridge_conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto conf = tuning(add.json, {{"mtu", 1400}});
  ASSERT_EQ(run("tuning", env("ADD", "t2", ns), conf).exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(data_dir_ + "/tuning/t2-eth0.json"));
  remove_container(ns);
  EXPECT_EQ(run("tuning", env("DEL", "t2", ns), conf).exit_code, 0);
  EXPECT_EQ(run("tuning", env("DEL", "t2", ""), conf).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(data_dir_ + "/tuning/t2-eth0.json"));
  EXPECT_EQ(run("bridge", env("DEL", "t2", ""), bridge_conf()).exit_code, 0);
}

TEST_F(CniTuning, BadKeysAreRefusedBeforeAnythingChanges) {
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "t3", ns), bridge_conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const link::Link before = eth0(ns);
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"sysctl", {{"kernel.hostname", "x"}}}, {"mtu", 1400}}, "'sysctl.kernel.hostname': invalid net sysctl key"},
      {{{"sysctl", {{"net/../kernel/hostname", "x"}}}}, "'sysctl.net/../kernel/hostname': not a sysctl key"},
      {{{"sysctl", {{"net.core.somaxconn", 512}}}}, "'sysctl.net.core.somaxconn': expected a string"},
      {{{"mac", "01:00:5e:00:00:01"}}, "'mac': 01:00:5e:00:00:01 is a multicast address"},
      {{{"promisc", "yes"}}, "'promisc': expected a boolean"},
      {{{"txQLen", -1}}, "'txQLen': must be a non-negative integer"},
      {{{"mtu", 0}}, "mtu"},
  };
  for (const auto& [keys, says] : cases) {
    SCOPED_TRACE(keys.dump());
    auto r = run("tuning", env("ADD", "t3", ns), tuning(add.json, keys));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
  }
  auto no_prev = tuning(add.json, {{"mtu", 1400}});
  no_prev.erase("prevResult");
  EXPECT_NE(run("tuning", env("ADD", "t3", ns), no_prev).msg().find("prevResult"), std::string::npos);
  // A sysctl that does not exist fails the ADD after another one was written (keys apply in order): the
  // rollback puts that one back, and no state file is left.
  const std::string arp_before = sysctl(ns, "net.ipv4.conf.eth0.arp_ignore");
  auto missing = run("tuning", env("ADD", "t3", ns),
                     tuning(add.json, {{"sysctl", {{"net.ipv4.conf.eth0.arp_ignore", "2"}, {"net.ipv4.conf.eth0.no_such", "1"}}}}));
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_EQ(sysctl(ns, "net.ipv4.conf.eth0.arp_ignore"), arp_before);
  EXPECT_EQ(eth0(ns).mtu, before.mtu);
  EXPECT_FALSE(std::filesystem::exists(data_dir_ + "/tuning/t3-eth0.json"));
  EXPECT_EQ(run("bridge", env("DEL", "t3", ns), bridge_conf()).exit_code, 0);
}

}  // namespace
}  // namespace ctnet::test
