// Failed ADDs of every plugin leave nothing behind (the transaction's rollback, through the kinds' remove), the
// rollback's own failures reach the runtime in the error's details, and DEL removes what ADD made from the
// invocation alone, through the same remove functions.
#include <sys/stat.h>

#include <fstream>

#include "cni_harness.h"
#include "link/bridge.h"
#include "link/veth.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniRollback : public CniFixture {
 protected:
  // A veth pair in the host namespace to act as a parent/device (never a real NIC).
  void make_veth(const std::string& a, const std::string& b) {
    auto hs = host_socket();
    link::create_veth(hs, {.name = a, .peer_name = b, .up = true});
    link::change(hs, link::get(hs, b).index, {.up = true}, "up");
  }
  // Link names in a container namespace (lo only, when nothing is left).
  static std::vector<std::string> links_in(const std::string& netns) {
    auto s = socket_in(netns);
    std::vector<std::string> out;
    for (const auto& l : link::list(s)) out.push_back(l.name);
    return out;
  }
  json host_local(const std::string& subnet) const {
    return {{"type", "host-local"}, {"ranges", {{{{"subnet", subnet}}}}}, {"dataDir", data_dir_}};
  }
  // A route whose gateway no interface reaches: the kernel refuses it after the links and the lease exist.
  static json unreachable_route() { return json::array({{{"dst", "192.0.2.0/24"}, {"gw", "198.51.100.1"}}}); }

  // An IPAM plugin (a shell script in the test's own CNI_PATH) that hands out a fixed address with an
  // unreachable route, logs every call, and refuses DEL: the rollback of an ADD it took part in fails.
  std::string fake_ipam_dir() {
    const std::string dir = data_dir_ + "/bin";
    std::filesystem::create_directories(dir);
    std::ofstream f(dir + "/tcni-fake-ipam");
    f << "#!/bin/sh\n"
         "echo \"$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME\" >>" << data_dir_ << "/ipam.log\n"
         "case \"$CNI_COMMAND\" in\n"
         "ADD) echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.99.0.9/24\",\"gateway\":\"10.99.0.1\"}],"
         "\"routes\":[{\"dst\":\"192.0.2.0/24\",\"gw\":\"198.51.100.1\"}]}' ;;\n"
         "DEL) echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"fake DEL refused\"}'; exit 1 ;;\n"
         "esac\n";
    f.close();
    ::chmod((dir + "/tcni-fake-ipam").c_str(), 0755);
    return dir;
  }
};

TEST_F(CniRollback, MacvlanWithTheParentsMacIsRefusedAndLeavesNothing) {
  make_veth("tcnim0", "tcnim1");
  const std::string ns = container();
  auto hs = host_socket();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnimv"}, {"type", "macvlan"}, {"master", "tcnim0"},
               {"mac", link::get(hs, "tcnim0").mac->str()}, {"ipam", host_local("10.55.0.0/24")}};
  auto add = run("macvlan", env("ADD", "mv1", ns), conf);
  EXPECT_EQ(add.exit_code, 1) << add.out;
  EXPECT_EQ(add.code(), 7) << add.out;
  EXPECT_NE(add.msg().find("mac"), std::string::npos) << add.out;
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), (std::vector<std::string>{"tcnim0", "tcnim1"}));
  EXPECT_EQ(lease_ips("tcnimv"), std::vector<std::string>{});
}

TEST_F(CniRollback, MacvlanMtuAboveTheParentsIsInvalidConfig) {
  make_veth("tcnim0", "tcnim1");
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnimv"}, {"type", "macvlan"}, {"master", "tcnim0"},
               {"mtu", 9000}, {"ipam", host_local("10.55.0.0/24")}};
  auto add = run("macvlan", env("ADD", "mv1", ns), conf);
  EXPECT_EQ(add.code(), 7) << add.out;
  EXPECT_NE(add.msg().find("invalid 'mtu'"), std::string::npos) << add.out;
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(lease_ips("tcnimv"), std::vector<std::string>{});
}

TEST_F(CniRollback, MacvlanRefusedByTheKernelAfterCreationLeavesNothing) {
  // Two macvlans of one parent may not share a MAC: the kernel creates the second and refuses to open it
  // (macvlan_open: EADDRINUSE), after the lease and the link exist.
  make_veth("tcnim0", "tcnim1");
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnimv"}, {"type", "macvlan"}, {"master", "tcnim0"},
               {"mac", "02:00:00:55:00:01"}, {"ipam", host_local("10.55.0.0/24")}};
  const std::string a = container(), b = container();
  auto first = run("macvlan", env("ADD", "mv1", a), conf);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  auto second = run("macvlan", env("ADD", "mv2", b), conf);
  EXPECT_EQ(second.exit_code, 1) << second.out;
  EXPECT_TRUE(second.json.is_object() && second.json.contains("code")) << second.out;
  EXPECT_EQ(links_in(b), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), (std::vector<std::string>{"tcnim0", "tcnim1"}));
  EXPECT_EQ(lease_ips("tcnimv"), std::vector<std::string>{"10.55.0.2"});
  EXPECT_EQ(run("macvlan", env("DEL", "mv1", a), conf).exit_code, 0);
  EXPECT_EQ(links_in(a), std::vector<std::string>{"lo"});
  EXPECT_EQ(lease_ips("tcnimv"), std::vector<std::string>{});
}

TEST_F(CniRollback, HostDeviceFailingLateReturnsTheDevice) {
  make_veth("tcnid0", "tcnid1");
  const std::string ns = container();
  auto ipam = host_local("10.56.0.0/24");
  ipam["routes"] = unreachable_route();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnihd"}, {"type", "host-device"}, {"device", "tcnid0"}, {"ipam", ipam}};
  auto add = run("host-device", env("ADD", "hd1", ns), conf);
  EXPECT_EQ(add.exit_code, 1) << add.out;
  EXPECT_TRUE(add.json.is_object() && add.json.contains("code")) << add.out;
  EXPECT_EQ(add.json.value("details", ""), "ENETUNREACH") << add.out;
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), (std::vector<std::string>{"tcnid0", "tcnid1"}));
  auto hs = host_socket();
  EXPECT_EQ(link::get(hs, "tcnid0").alias, "");  // the alias it carried while away is taken off again
  EXPECT_EQ(lease_ips("tcnihd"), std::vector<std::string>{});
}

TEST_F(CniRollback, HostDeviceFoundByMacComesBackUnderItsNameOnDel) {
  // Named by hwaddr only: DEL knows the device by its container name and finds its host name in its alias.
  make_veth("tcnid0", "tcnid1");
  const std::string ns = container();
  auto hs = host_socket();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnihd"}, {"type", "host-device"},
               {"hwaddr", link::get(hs, "tcnid0").mac->str()}, {"ipam", host_local("10.56.0.0/24")}};
  auto add = run("host-device", env("ADD", "hd1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(links_in(ns), (std::vector<std::string>{"lo", "eth0"}));
  EXPECT_EQ(add.json["interfaces"][0]["mac"], conf["hwaddr"]);
  auto del = run("host-device", env("DEL", "hd1", ns), conf);
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), (std::vector<std::string>{"tcnid0", "tcnid1"}));
  EXPECT_EQ(lease_ips("tcnihd"), std::vector<std::string>{});
  EXPECT_EQ(run("host-device", env("DEL", "hd1", ns), conf).exit_code, 0);
}

TEST_F(CniRollback, HostDeviceDelAfterTheNamespaceWentLeavesAHostLinkOfThatNameAlone) {
  // The container namespace is gone (a physical device would be back in the host under its container name):
  // a host link that merely has that name (here "eth0" in the test's host namespace) is not renamed.
  make_veth("tcnid0", "tcnid1");
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnihd"}, {"type", "host-device"}, {"device", "tcnid0"},
               {"ipam", host_local("10.56.0.0/24")}};
  ASSERT_EQ(run("host-device", env("ADD", "hd1", ns), conf).exit_code, 0);
  remove_container(ns);  // the veth goes with it (its peer when the kernel's namespace cleanup has run)
  auto hs = host_socket();
  link::create_veth(hs, {.name = "eth0", .peer_name = "tcnie1"});
  auto del = run("host-device", env("DEL", "hd1", ns), conf);
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_TRUE(link::find(hs, "eth0"));
  EXPECT_FALSE(link::find(hs, "tcnid0"));
  EXPECT_EQ(lease_ips("tcnihd"), std::vector<std::string>{});
}

TEST_F(CniRollback, PtpFailedAddRemovesEverything) {
  const std::string ns = container();
  auto ipam = host_local("10.88.0.0/24");
  ipam["routes"] = unreachable_route();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcniptp"}, {"type", "ptp"}, {"ipMasq", true}, {"ipam", ipam}};
  auto add = run("ptp", env("ADD", "p1", ns), conf);
  EXPECT_EQ(add.exit_code, 1) << add.out;
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), std::vector<std::string>{});
  EXPECT_EQ(lease_ips("tcniptp"), std::vector<std::string>{});
}

TEST_F(CniRollback, RollbackErrorsReachTheDetails) {
  const std::string dir = fake_ipam_dir();
  const std::string ns = container();
  auto conf = bridge_conf();
  conf["ipam"] = {{"type", "tcni-fake-ipam"}};
  auto e = env("ADD", "ctr1", ns);
  e["CNI_PATH"] = dir;
  auto add = run("bridge", e, conf);
  EXPECT_EQ(add.exit_code, 1) << add.out;
  EXPECT_EQ(add.code(), 100) << add.out;
  const std::string details = add.json.value("details", "");
  EXPECT_TRUE(details.starts_with("ENETUNREACH; rollback failed: ")) << add.out;
  EXPECT_NE(details.find("fake DEL refused"), std::string::npos) << add.out;
  // The IPAM plugin was asked to release exactly this attachment; everything else went.
  EXPECT_EQ(read_file(data_dir_ + "/ipam.log"), "ADD ctr1 eth0\nDEL ctr1 eth0\n");
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), std::vector<std::string>{});
}

TEST_F(CniRollback, DelReportsEveryFailureAndStillRemovesTheRest) {
  // A DEL whose IPAM release fails still removes the veth, and says what failed.
  const std::string dir = fake_ipam_dir();
  const std::string ns = container();
  auto conf = bridge_conf();
  auto add = run("bridge", env("ADD", "ctr1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto del_conf = conf;
  del_conf["ipam"] = {{"type", "tcni-fake-ipam"}};
  auto e = env("DEL", "ctr1", ns);
  e["CNI_PATH"] = dir;
  auto del = run("bridge", e, del_conf);
  EXPECT_EQ(del.exit_code, 1) << del.out;
  EXPECT_NE(del.msg().find("fake DEL refused"), std::string::npos) << del.out;
  EXPECT_EQ(links_in(ns), std::vector<std::string>{"lo"});
  EXPECT_EQ(host_links(), std::vector<std::string>{"tcnibr0"});
}

TEST_F(CniRollback, DelLeavesALinkOfAnotherKindUnderTheHostVethsName) {
  // DEL knows the host end by its derived name only: it deletes it only while it is a veth.
  const std::string ns = container();
  auto conf = bridge_conf();
  auto add = run("bridge", env("ADD", "ctr1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const std::string host = add.json["interfaces"][1]["name"].get<std::string>();
  auto hs = host_socket();
  link::remove(hs, host);
  link::create_bridge(hs, {.name = host});
  auto del = run("bridge", env("DEL", "ctr1", ns), conf);
  EXPECT_EQ(del.exit_code, 0) << del.out;
  ASSERT_TRUE(link::find(hs, host));
  EXPECT_EQ(link::find(hs, host)->kind, "bridge");
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
}

TEST_F(CniRollback, MacvlanDelAfterTheNamespaceWentReleasesTheLease) {
  make_veth("tcnim0", "tcnim1");
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnimv"}, {"type", "macvlan"}, {"master", "tcnim0"},
               {"ipam", host_local("10.55.0.0/24")}};
  ASSERT_EQ(run("macvlan", env("ADD", "mv1", ns), conf).exit_code, 0);
  remove_container(ns);
  auto del = run("macvlan", env("DEL", "mv1", ns), conf);
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_EQ(lease_ips("tcnimv"), std::vector<std::string>{});
  EXPECT_EQ(run("macvlan", env("DEL", "mv1", ""), conf).exit_code, 0);
}

}  // namespace
}  // namespace ctnet::test
