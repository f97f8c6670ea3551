// Compatibility with the reference plugins in /usr/lib/cni, tested rather than assumed: the same
// configuration through both gives results of the same shape and lease files of the same layout, and a host
// can switch between them without losing leases. Also the link-mode plugins (macvlan, ipvlan, host-device).
#include <fstream>
#include <set>

#include "cni_harness.h"
#include "link/macvlan.h"
#include "link/veth.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

bool have_reference() { return ::access("/usr/lib/cni/bridge", X_OK) == 0 && ::access("/usr/lib/cni/host-local", X_OK) == 0; }

// The shape of a JSON value: object keys and array lengths, recursively, with leaf values replaced by types.
json shape(const json& j) {
  if (j.is_object()) {
    json o = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) o[it.key()] = shape(it.value());
    return o;
  }
  if (j.is_array()) {
    json a = json::array();
    for (const auto& v : j) a.push_back(shape(v));
    return a;
  }
  return j.type_name();
}

class CniReference : public CniFixture, public ::testing::WithParamInterface<std::string> {
 protected:
  json conf_for(const std::string& version, const std::string& net, const std::string& bridge, const std::string& subnet) {
    auto c = bridge_conf(version, subnet);
    c["name"] = net;
    c["bridge"] = bridge;
    return c;
  }
};

TEST_P(CniReference, BridgeResultHasTheReferenceShape) {
  if (!have_reference()) GTEST_SKIP() << "reference plugins not installed";
  const std::string version = GetParam();
  auto ours = run("bridge", env("ADD", "ours", container()), conf_for(version, "tcniours", "tcnibr1", "10.99.1.0/24"));
  auto theirs = run_reference("bridge", env("ADD", "theirs", container()), conf_for(version, "tcnitheirs", "tcnibr2", "10.99.2.0/24"));
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  ASSERT_EQ(theirs.exit_code, 0) << theirs.out;
  EXPECT_EQ(shape(ours.json).dump(), shape(theirs.json).dump()) << "ours: " << ours.out << "\ntheirs: " << theirs.out;
  // The same positions: bridge, host veth, container interface; the address belongs to interface 2.
  EXPECT_EQ(ours.json["ips"][0]["interface"], theirs.json["ips"][0]["interface"]);
  EXPECT_EQ(ours.json["interfaces"][0]["name"], "tcnibr1");
  EXPECT_EQ(theirs.json["interfaces"][0]["name"], "tcnibr2");
}

TEST_P(CniReference, LeaseFilesHaveTheReferenceLayout) {
  if (!have_reference()) GTEST_SKIP() << "reference plugins not installed";
  const std::string version = GetParam();
  ASSERT_EQ(run("bridge", env("ADD", "same", container()), conf_for(version, "tcnil1", "tcnibr1", "10.99.3.0/24")).exit_code, 0);
  ASSERT_EQ(run_reference("bridge", env("ADD", "same", container()), conf_for(version, "tcnil2", "tcnibr2", "10.99.3.0/24")).exit_code, 0);
  EXPECT_EQ(lease_files("tcnil1"), lease_files("tcnil2"));
  for (const auto& f : lease_files("tcnil2")) {
    if (f == "lock") continue;
    EXPECT_EQ(read_file(data_dir_ + "/tcnil1/" + f), read_file(data_dir_ + "/tcnil2/" + f)) << f;
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, CniReference, ::testing::Values("0.3.1", "0.4.0", "1.0.0"));

using CniSwitch = CniFixture;

TEST_F(CniSwitch, LeasesSurviveSwitchingBetweenReferenceAndCtnet) {
  if (!have_reference()) GTEST_SKIP() << "reference plugins not installed";
  auto conf = bridge_conf();
  const std::string a = container(), b = container(), c = container();
  auto ra = run_reference("bridge", env("ADD", "ref-a", a), conf);
  ASSERT_EQ(ra.exit_code, 0) << ra.out;
  EXPECT_EQ(ra.json["ips"][0]["address"], "10.99.0.2/24");
  // ctnet continues after the reference's last reservation...
  auto rb = run("bridge", env("ADD", "ctnet-b", b), conf);
  ASSERT_EQ(rb.exit_code, 0) << rb.out;
  EXPECT_EQ(rb.json["ips"][0]["address"], "10.99.0.3/24");
  // ...and the reference skips ctnet's lease.
  auto rc = run_reference("bridge", env("ADD", "ref-c", c), conf);
  ASSERT_EQ(rc.exit_code, 0) << rc.out;
  EXPECT_EQ(rc.json["ips"][0]["address"], "10.99.0.4/24");
  // ctnet releases a lease the reference made, and the reference one that ctnet made.
  EXPECT_EQ(run("bridge", env("DEL", "ref-a", a), conf).exit_code, 0);
  auto d = run_reference("bridge", env("DEL", "ctnet-b", b), conf);
  EXPECT_EQ(d.exit_code, 0) << d.out;
  EXPECT_EQ(lease_ips(), std::vector<std::string>{"10.99.0.4"});
}

TEST_F(CniSwitch, HostLocalAloneMatchesTheReference) {
  if (!have_reference()) GTEST_SKIP() << "reference plugins not installed";
  auto conf = [&](const std::string& net) {
    return json{{"cniVersion", "1.0.0"}, {"name", net}, {"type", "host-local"},
                {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.66.0.0/24"}, {"gateway", "10.66.0.254"}}}}},
                          {"routes", {{{"dst", "0.0.0.0/0"}}, {{"dst", "192.0.2.0/24"}, {"gw", "10.66.0.9"}}}},
                          {"dataDir", data_dir_}}}};
  };
  auto ours = run("host-local", env("ADD", "x", "/x"), conf("tcnih1"));
  auto theirs = run_reference("host-local", env("ADD", "x", "/x"), conf("tcnih2"));
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  ASSERT_EQ(theirs.exit_code, 0) << theirs.out;
  EXPECT_EQ(ours.json, theirs.json);
}

// ---- link modes ----------------------------------------------------------------------------------------------

class CniModes : public CniFixture {
 protected:
  // A veth pair in the host namespace to act as a parent/device (never a real NIC).
  void make_veth(const std::string& a, const std::string& b) {
    auto hs = host_socket();
    link::create_veth(hs, {.name = a, .peer_name = b, .up = true});
    link::change(hs, link::get(hs, b).index, {.up = true}, "up");
  }
};

TEST_F(CniModes, MacvlanOnAVethParent) {
  make_veth("tcnim0", "tcnim1");
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnimv"}, {"type", "macvlan"}, {"master", "tcnim0"},
               {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.55.0.0/24"}}}}}, {"dataDir", data_dir_}}}};
  auto add = run("macvlan", env("ADD", "mv1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json["interfaces"].size(), 1u);
  EXPECT_EQ(add.json["ips"][0]["interface"], 0);
  auto cs = socket_in(ns);
  auto l = link::find(cs, "eth0");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, "macvlan");
  EXPECT_TRUE(l->is_up());
  // Nothing with a temporary name is left on the host.
  EXPECT_EQ(host_links(), (std::vector<std::string>{"tcnim0", "tcnim1"}));
  if (have_reference()) {
    auto ref = run_reference("macvlan", env("ADD", "mv2", container()), conf);
    ASSERT_EQ(ref.exit_code, 0) << ref.out;
    EXPECT_EQ(ref.json["interfaces"].size(), add.json["interfaces"].size());
    EXPECT_EQ(ref.json["ips"][0]["interface"], add.json["ips"][0]["interface"]);
  }
  EXPECT_EQ(run("macvlan", env("DEL", "mv1", ns), conf).exit_code, 0);
  EXPECT_FALSE(link::find(cs, "eth0"));
  EXPECT_EQ(run("macvlan", env("DEL", "mv1", ns), conf).exit_code, 0);
}

TEST_F(CniModes, IpvlanSaysClearlyWhenTheKernelLacksIt) {
  if (link::kernel_has_link_kind("ipvlan")) GTEST_SKIP() << "this kernel has ipvlan";
  make_veth("tcnii0", "tcnii1");
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcniiv"}, {"type", "ipvlan"}, {"master", "tcnii0"},
               {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.54.0.0/24"}}}}}, {"dataDir", data_dir_}}}};
  auto add = run("ipvlan", env("ADD", "iv1", container()), conf);
  EXPECT_NE(add.exit_code, 0);
  EXPECT_NE(add.msg().find("ipvlan"), std::string::npos) << add.out;
  EXPECT_EQ(lease_ips("tcniiv"), std::vector<std::string>{});
}

TEST_F(CniModes, HostDeviceMovesInAndBack) {
  make_veth("tcnid0", "tcnid1");
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnihd"}, {"type", "host-device"}, {"device", "tcnid0"}};
  auto add = run("host-device", env("ADD", "hd1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto cs = socket_in(ns);
  EXPECT_TRUE(link::find(cs, "eth0"));
  EXPECT_EQ(host_links(), std::vector<std::string>{"tcnid1"});
  EXPECT_EQ(run("host-device", env("DEL", "hd1", ns), conf).exit_code, 0);
  EXPECT_FALSE(link::find(cs, "eth0"));
  EXPECT_EQ(host_links(), (std::vector<std::string>{"tcnid0", "tcnid1"}));
}

TEST_F(CniModes, HostDeviceBySysfsLocationIsValidated) {
  const std::string ns = container();
  auto conf_with = [&](const char* key, const char* value) {
    return json{{"cniVersion", "1.0.0"}, {"name", "tcnihs"}, {"type", "host-device"}, {key, value},
                {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.55.0.0/24"}}}}}, {"dataDir", data_dir_}}}};
  };
  auto bad_pci = run("host-device", env("ADD", "hs1", ns), conf_with("pciBusID", "00:02.0"));
  EXPECT_EQ(bad_pci.code(), 7) << bad_pci.out;
  EXPECT_NE(bad_pci.msg().find("pciBusID"), std::string::npos) << bad_pci.out;
  auto bad_path = run("host-device", env("ADD", "hs1", ns), conf_with("kernelpath", "/etc/../sys/devices/x"));
  EXPECT_EQ(bad_path.code(), 7) << bad_path.out;
  EXPECT_NE(bad_path.msg().find("kernelpath"), std::string::npos) << bad_path.out;
  // Well-formed but absent: an error, and the address taken for it is released again.
  auto absent = run("host-device", env("ADD", "hs1", ns), conf_with("pciBusID", "0000:7f:1f.7"));
  EXPECT_NE(absent.exit_code, 0);
  EXPECT_NE(absent.msg().find("0000:7f:1f.7"), std::string::npos) << absent.out;
  EXPECT_EQ(lease_ips("tcnihs"), std::vector<std::string>{});
}

TEST_F(CniModes, SriovValidatesAndRollsBackWithoutHardware) {
  // No SR-IOV hardware here (tests/kernel runs the engine in a VM): the plugin must refuse bad configurations
  // with their codes and leave nothing behind when the VF does not exist.
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcnisr"}, {"type", "sriov"},
               {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.53.0.0/24"}}}}}, {"dataDir", data_dir_}}}};
  const std::string ns = container();
  auto missing = run("sriov", env("ADD", "s1", ns), conf);
  EXPECT_EQ(missing.code(), 7) << missing.out;
  EXPECT_NE(missing.msg().find("deviceID"), std::string::npos) << missing.out;
  auto bad = conf;
  bad["deviceID"] = "not-a-pci-address";
  auto r = run("sriov", env("ADD", "s1", ns), bad);
  EXPECT_EQ(r.code(), 7) << r.out;
  bad["deviceID"] = "0000:00:00.0";
  bad["vlan"] = 5000;
  r = run("sriov", env("ADD", "s1", ns), bad);
  EXPECT_EQ(r.code(), 7) << r.out;
  EXPECT_NE(r.msg().find("vlan"), std::string::npos) << r.out;
  bad.erase("vlan");
  bad["deviceID"] = "0000:7f:1f.7";  // no such device
  r = run("sriov", env("ADD", "s1", ns), bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.msg().find("0000:7f:1f.7"), std::string::npos) << r.out;
  EXPECT_EQ(lease_ips("tcnisr"), std::vector<std::string>{});
  EXPECT_EQ(run("sriov", env("DEL", "s1", ns), bad).exit_code, 0);
}


}  // namespace
}  // namespace ctnet::test

namespace ctnet::test {
namespace {

using CniExecIpam = CniFixture;

// An IPAM type other than host-local is executed from CNI_PATH, as the spec says (here the reference `static`).
TEST_F(CniExecIpam, OtherIpamTypesAreExecutedFromCniPath) {
  if (::access("/usr/lib/cni/static", X_OK) != 0) GTEST_SKIP() << "reference static IPAM not installed";
  auto conf = bridge_conf();
  conf["ipam"] = {{"type", "static"},
                  {"addresses", {{{"address", "10.99.0.50/24"}, {"gateway", "10.99.0.1"}}}},
                  {"routes", {{{"dst", "0.0.0.0/0"}}}}};
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "st1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json["ips"][0]["address"], "10.99.0.50/24");
  auto cs = socket_in(ns);
  auto eth0 = link::find(cs, "eth0");
  ASSERT_TRUE(eth0);
  bool has = false;
  for (const auto& a : addr::list(cs, eth0->index, AF_INET)) has = has || a.prefix.str() == "10.99.0.50/24";
  EXPECT_TRUE(has);
  EXPECT_EQ(run("bridge", env("DEL", "st1", ns), conf).exit_code, 0);
  // A type found nowhere in CNI_PATH is a configuration error naming ipam.type, and nothing is left behind.
  conf["ipam"] = {{"type", "nosuch-ipam"}};
  auto bad = run("bridge", env("ADD", "st2", ns), conf);
  EXPECT_EQ(bad.code(), 7) << bad.out;
  EXPECT_NE(bad.msg().find("ipam.type"), std::string::npos) << bad.out;
  EXPECT_FALSE(link::find(cs, "eth0"));
}

}  // namespace
}  // namespace ctnet::test
