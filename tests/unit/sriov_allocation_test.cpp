// SR-IOV allocation records and the parts of the vf kind that work from files alone: the record format (also as
// older ctnet wrote it), and the removes that must leave a VF alone once it was released or attached again.
// Kernel-side behaviour (moves, settings through the PF) is proved in tests/kernel/suites/sriov-*.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kinds/vf.h"
#include "sriov/attach.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace ctnet;
using nlohmann::json;

namespace {
class Allocations : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("tkrn-alloc-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    paths.state_dir = (root / "state").string();
    paths.sysfs = (root / "sys").string();
    fs::create_directories(paths.state_dir);
    netdev_on_host("eth1");
  }
  void TearDown() override { fs::remove_all(root); }

  // The VF's netdev as sysfs shows it in the host namespace (bus/pci/devices/PCI/net/NAME), or none.
  void netdev_on_host(const std::string& name) {
    fs::remove_all(root / "sys/bus/pci/devices" / pci);
    if (!name.empty()) fs::create_directories(root / "sys/bus/pci/devices" / pci / "net" / name);
  }
  sriov::Allocation sample(const std::string& id) {
    sriov::Allocation a;
    a.id = id;
    a.pf = "eth0";
    a.pf_pci = "0000:01:00.0";
    a.driver = "igb";
    a.vf = 0;
    a.pci = pci;
    a.netns = "s1";
    a.name = "vf0";
    a.host_name = "eth1";
    a.host_mac = MacAddress::parse("52:54:00:12:34:56", "mac");
    a.saved.vf = 0;
    a.saved.spoofchk = true;
    a.applied.vlan = 10;
    a.applied.mac = MacAddress::parse("02:00:00:07:00:01", "mac");
    return a;
  }
  json owner(const std::string& id) {
    return {{"state_dir", paths.state_dir}, {"sysfs", paths.sysfs}, {"pci", pci}, {"id", id}};
  }
  bool recorded() { return fs::exists(fs::path(paths.state_dir) / (pci + ".json")); }

  fs::path root;
  const std::string pci = "0000:01:10.0";
  sriov::Paths paths;
};
}  // namespace

TEST_F(Allocations, RecordRoundTripsWithIdAndSteps) {
  auto a = sample("c0ffee");
  a.records = json::array({{{"kind", "vf"}, {"name", "vf0"}}});
  sriov::write_allocation(paths, a);
  auto b = sriov::allocation_of(paths, pci);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->id, "c0ffee");
  EXPECT_EQ(b->pf, "eth0");
  EXPECT_EQ(b->host_name, "eth1");
  EXPECT_EQ(b->host_mac, a.host_mac);
  EXPECT_EQ(b->saved.spoofchk, std::optional(true));
  EXPECT_EQ(b->applied.vlan, std::optional<uint16_t>(10));
  EXPECT_EQ(b->records, a.records);
  EXPECT_TRUE(sriov::allocation_by_name(paths, "s1", "vf0"));
  EXPECT_FALSE(sriov::allocation_by_name(paths, "s2", "vf0"));
  EXPECT_EQ(sriov::allocations(paths).size(), 1u);
  sriov::remove_allocation(paths, pci);
  EXPECT_FALSE(sriov::allocation_of(paths, pci));
}

TEST_F(Allocations, ARecordOfAnOlderCtnetStillReads) {
  // As ctnet wrote it before records carried an id and their steps: release rebuilds the steps from the fields.
  std::ofstream(fs::path(paths.state_dir) / (pci + ".json")) << R"({"pf": "eth0", "pf_pci": "0000:01:00.0",
    "driver": "igb", "vf": 0, "pci": "0000:01:10.0", "netns": "s1", "name": "vf0", "host_name": "eth1",
    "host_mac": "52:54:00:12:34:56", "saved": {"mac": "00:00:00:00:00:00", "vlan": 0}, "applied": {"vlan": 10}})";
  auto a = sriov::allocation_of(paths, pci);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, "");
  EXPECT_TRUE(a->records.empty());
  EXPECT_EQ(a->applied.vlan, std::optional<uint16_t>(10));
  EXPECT_EQ(a->netns, "s1");
}

TEST_F(Allocations, TheAllocationRecordRemovesOnlyItsOwnFile) {
  sriov::write_allocation(paths, sample("mine"));
  kinds::Txn txn;
  kinds::Made other{.kind = "vf", .name = "vf0", .saved = owner("someone-else")};
  EXPECT_EQ(kinds::remove(txn, other), kinds::Removal::replaced);
  EXPECT_TRUE(recorded());
  kinds::Made mine{.kind = "vf", .name = "vf0", .saved = owner("mine")};
  EXPECT_EQ(kinds::remove(txn, mine), kinds::Removal::removed);
  EXPECT_FALSE(recorded());
  EXPECT_EQ(kinds::remove(txn, mine), kinds::Removal::absent);
  txn.commit();
}

TEST_F(Allocations, TheAllocationIsKeptWhileTheNetdevIsNotBack) {
  sriov::write_allocation(paths, sample("mine"));
  netdev_on_host("");  // still in a namespace: a later detach must find the record
  kinds::Txn txn;
  kinds::Made mine{.kind = "vf", .name = "vf0", .saved = owner("mine")};
  try {
    kinds::remove(txn, mine);
    FAIL() << "removed an allocation whose netdev is away";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not back on the host"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(recorded());
  txn.commit();
}

TEST_F(Allocations, StepsOfAReleasedAttachLeaveTheVfAlone) {
  // No allocation file (released), or one of a later attach (another id): the old steps touch nothing, so
  // these removes return before any kernel request.
  kinds::Txn txn;
  kinds::Made setting{.kind = "vf-setting", .name = "eth0", .ifindex = 2,
                      .saved = {{"allocation", owner("old")}, {"vf", 0}, {"restore", {{"vlan", 0}}}}};
  kinds::Made moved{.kind = "vf-netdev", .name = "vf0", .ifindex = 7,
                    .saved = {{"allocation", owner("old")}, {"host", json::object()}, {"host_name", "eth1"}}};
  EXPECT_EQ(kinds::remove(txn, setting), kinds::Removal::absent);
  EXPECT_EQ(kinds::remove(txn, moved), kinds::Removal::absent);
  sriov::write_allocation(paths, sample("new"));
  EXPECT_EQ(kinds::remove(txn, setting), kinds::Removal::absent);
  EXPECT_EQ(kinds::remove(txn, moved), kinds::Removal::absent);
  EXPECT_TRUE(recorded());
  txn.commit();
}

TEST_F(Allocations, ReleaseWithoutAnAllocationIsANoOp) {
  kinds::Txn txn;
  EXPECT_FALSE(kinds::vf::release(txn, "s1", "vf0", paths));
  EXPECT_THROW(kinds::vf::release(txn, "s1", "bad/name", paths), InvalidInput);
}

TEST(SriovAttachSpec, ValidationNamesTheFieldWithThePrefix) {
  sriov::AttachSpec s;
  s.netns = "s1";
  s.pf = "eth0";
  s.settings.vlan = 5000;
  auto field = [](const sriov::AttachSpec& spec, const std::string& prefix) {
    try {
      kinds::vf::validate(spec, prefix);
    } catch (const InvalidInput& e) {
      return e.field();
    }
    return std::string("(valid)");
  };
  EXPECT_EQ(field(s, "--"), "--vlan");
  EXPECT_EQ(field(s, "links[3]."), "links[3].vlan");
  s.settings.vlan.reset();
  s.settings.mac = MacAddress{};
  EXPECT_EQ(field(s, "--"), "--mac");  // a VF in a namespace needs a real MAC
  s.settings.mac.reset();
  s.vf = 1;
  s.pci = "0000:01:10.0";
  EXPECT_EQ(field(s, "--"), "--vf/--pci");
  s.pci.reset();
  s.mtu = 40;
  EXPECT_EQ(field(s, "--"), "--mtu");
  s.mtu = 1500;
  s.addresses = {Prefix::parse("10.7.0.0/24", "addr")};
  EXPECT_EQ(field(s, "--"), "--addr");  // the network address is no host address
  s.addresses = {Prefix::parse("10.7.0.1/24", "addr")};
  s.gateway = IpAddress::parse("10.8.0.1", "gw");
  EXPECT_EQ(field(s, "--"), "--gw");
  s.gateway = IpAddress::parse("10.7.0.254", "gw");
  EXPECT_EQ(field(s, "--"), "(valid)");
}
