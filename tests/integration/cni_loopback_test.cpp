// The loopback plugin as containerd's CRI plugin runs it beside the pod network (cniVersion 0.3.1, CNI_IFNAME
// "lo"), and as a chain member: `lo` up on ADD and down on DEL, the result the reference gives, CHECK failing
// once `lo` is down. The reference plugin answers the same invocations side by side where it is installed.
#include <gtest/gtest.h>

#include <filesystem>

#include "integration/cni_harness.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniLoopback : public CniFixture {
 protected:
  json conf(const std::string& version = "0.3.1") const {
    return {{"cniVersion", version}, {"name", "tcnilo"}, {"type", "loopback"}};
  }
  bool lo_up(const std::string& ns) {
    auto s = socket_in(ns);
    auto lo = link::find(s, "lo");
    return lo && lo->is_up();
  }
  void set_lo(const std::string& ns, bool up) {
    auto s = socket_in(ns);
    link::change(s, link::get(s, "lo").index, {.up = up}, "test: lo");
  }
};

TEST_F(CniLoopback, AddBringsLoUpWithTheReferenceResultAndDelSetsItDown) {
  const std::string ns = container();
  set_lo(ns, false);
  auto add = run("loopback", env("ADD", "l1", ns, "lo"), conf());
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_TRUE(lo_up(ns));
  ASSERT_EQ(add.json["interfaces"].size(), 1u) << add.out;
  EXPECT_EQ(add.json["interfaces"][0]["name"], "lo");
  EXPECT_EQ(add.json["interfaces"][0]["mac"], "00:00:00:00:00:00");
  EXPECT_EQ(add.json["interfaces"][0]["sandbox"], ns);
  ASSERT_EQ(add.json["ips"].size(), 2u) << add.out;
  EXPECT_EQ(add.json["ips"][0]["address"], "127.0.0.1/8");
  EXPECT_EQ(add.json["ips"][0]["version"], "4");  // 0.3.1's shape
  EXPECT_EQ(add.json["ips"][1]["address"], "::1/128");

  auto with_prev = conf("1.0.0");
  with_prev["prevResult"] = add.json;
  EXPECT_EQ(run("loopback", env("CHECK", "l1", ns, "lo"), with_prev).exit_code, 0);
  set_lo(ns, false);
  auto check = run("loopback", env("CHECK", "l1", ns, "lo"), with_prev);
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_EQ(check.msg(), "loopback interface is down") << check.out;
  set_lo(ns, true);

  ASSERT_EQ(run("loopback", env("DEL", "l1", ns, "lo"), conf()).exit_code, 0);
  EXPECT_FALSE(lo_up(ns));
  EXPECT_EQ(run("loopback", env("DEL", "l1", ns, "lo"), conf()).exit_code, 0) << "DEL twice";
  // containerd repeats DEL with CNI_NETNS empty once the sandbox is gone.
  EXPECT_EQ(run("loopback", env("DEL", "l1", "", "lo"), conf()).exit_code, 0);
  remove_container(ns);
  EXPECT_EQ(run("loopback", env("DEL", "l1", ns, "lo"), conf()).exit_code, 0) << "DEL after the namespace went";
}

TEST_F(CniLoopback, ChainedItPassesThePrevResultThroughAndIgnoresTheIfname) {
  const std::string ns = container();
  auto c = conf("1.0.0");
  c["prevResult"] = {{"cniVersion", "1.0.0"},
                     {"interfaces", {{{"name", "eth0"}, {"sandbox", ns}}}},
                     {"ips", {{{"address", "10.97.0.5/24"}, {"interface", 0}}}}};
  auto add = run("loopback", env("ADD", "l2", ns, "eth0"), c);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_TRUE(lo_up(ns));
  EXPECT_EQ(add.json["ips"][0]["address"], "10.97.0.5/24") << add.out;
  EXPECT_EQ(add.json["interfaces"][0]["name"], "eth0");
}

TEST_F(CniLoopback, ANonLoopbackAddressOnLoFailsAndALoThatWasUpStaysUp) {
  const std::string ns = container();
  set_lo(ns, true);
  {
    auto s = socket_in(ns);
    addr::add(s, link::get(s, "lo").index, Prefix::parse("10.96.0.1/32", "test"), "lo");
  }
  auto add = run("loopback", env("ADD", "l3", ns, "lo"), conf());
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_EQ(add.msg(), "loopback interface found with non-loopback address 10.96.0.1/32") << add.out;
  EXPECT_TRUE(lo_up(ns)) << "the failed ADD did not bring lo up, so its rollback must not set it down";
}

TEST_F(CniLoopback, AnswersLikeTheReferencePlugin) {
  if (!std::filesystem::exists("/usr/lib/cni/loopback")) GTEST_SKIP() << "containernetworking-plugins is not installed";
  const std::string a = container(), b = container();
  set_lo(a, false);
  set_lo(b, false);
  auto ours = run("loopback", env("ADD", "l4", a, "lo"), conf());
  auto ref = run_reference("loopback", env("ADD", "l4", b, "lo"), conf());
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  ours.json["interfaces"][0].erase("sandbox");
  ref.json["interfaces"][0].erase("sandbox");
  // The 0.3.x result carries each address's "version" (the spec's own field); the reference 1.1.1 prints its
  // 1.0.0 structure under the 0.3.1 label and leaves it out. Everything else is the same.
  for (auto& ip : ours.json["ips"]) ip.erase("version");
  EXPECT_EQ(ours.json, ref.json);
  EXPECT_EQ(run_reference("loopback", env("DEL", "l4", b, "lo"), conf()).exit_code, 0);
  EXPECT_FALSE(lo_up(b)) << "the reference sets lo down on DEL too";
}

}  // namespace
}  // namespace ctnet::test
