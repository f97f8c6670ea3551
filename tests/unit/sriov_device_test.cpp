// SR-IOV discovery through sysfs, on a fake tree laid out as the kernel lays out /sys (class/net/X/device ->
// the PCI device; virtfnN -> the VF's PCI device; physfn back; driver -> bus/pci/drivers/D; net/NAME).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sriov/device.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace ctnet;
using namespace ctnet::sriov;

namespace {
class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("tkrn-sysfs-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "bus/pci/devices");
    for (auto d : {"igb", "igbvf", "vfio-pci"}) fs::create_directories(root / "bus/pci/drivers" / d);
    fs::create_directories(root / "class/net");
    pci("0000:01:00.0", "igb", "eth0");
    write(dev("0000:01:00.0") / "sriov_totalvfs", "7");
    write(dev("0000:01:00.0") / "sriov_numvfs", "3");
    vf(0, "0000:01:10.0", "igbvf", "eth1");
    vf(1, "0000:01:10.2", "vfio-pci", "");
    vf(2, "0000:01:10.4", "igbvf", "");  // netdev moved into a container: sysfs shows none
    pci("0000:02:00.0", "e1000e", "eth9");  // no SR-IOV
    s = root.string();
  }
  void TearDown() override { fs::remove_all(root); }

  fs::path dev(const std::string& p) { return root / "devices/pci0000:00" / p; }
  static void write(const fs::path& p, const std::string& v) { std::ofstream(p) << v << "\n"; }
  void pci(const std::string& addr, const std::string& driver, const std::string& netdev) {
    fs::create_directories(dev(addr));
    fs::create_directory_symlink(dev(addr), root / "bus/pci/devices" / addr);
    if (!driver.empty()) fs::create_directory_symlink(root / "bus/pci/drivers" / driver, dev(addr) / "driver");
    if (!netdev.empty()) {
      fs::create_directories(dev(addr) / "net" / netdev);
      fs::create_directories(root / "class/net" / netdev);
      fs::create_directory_symlink(dev(addr), root / "class/net" / netdev / "device");
    }
  }
  void vf(int n, const std::string& addr, const std::string& driver, const std::string& netdev) {
    pci(addr, driver, netdev);
    fs::create_directory_symlink(dev(addr), dev("0000:01:00.0") / ("virtfn" + std::to_string(n)));
    fs::create_directory_symlink(dev("0000:01:00.0"), dev(addr) / "physfn");
  }
  fs::path root;
  std::string s;
};
}  // namespace

TEST_F(FakeSysfs, DiscoversPfsWithTheirVfs) {
  auto pfs = discover(s);
  ASSERT_EQ(pfs.size(), 1u);
  const Pf& pf = pfs[0];
  EXPECT_EQ(pf.name, "eth0");
  EXPECT_EQ(pf.pci, "0000:01:00.0");
  EXPECT_EQ(pf.driver, "igb");
  EXPECT_EQ(pf.total_vfs, 7);
  EXPECT_EQ(pf.num_vfs, 3);
  ASSERT_EQ(pf.vfs.size(), 3u);
  EXPECT_EQ(pf.vfs[0].pci, "0000:01:10.0");
  EXPECT_EQ(pf.vfs[0].netdev, "eth1");
  EXPECT_FALSE(pf.vfs[0].userspace());
  EXPECT_EQ(pf.vfs[1].driver, "vfio-pci");
  EXPECT_TRUE(pf.vfs[1].userspace());
  EXPECT_FALSE(pf.vfs[1].netdev);
  EXPECT_EQ(pf.vfs[2].driver, "igbvf");
  EXPECT_FALSE(pf.vfs[2].netdev);
}

TEST_F(FakeSysfs, FindsPfByNameAndRefusesOthers) {
  EXPECT_EQ(pf_by_name("eth0", s).vfs.size(), 3u);
  try {
    pf_by_name("eth9", s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an SR-IOV physical function"), std::string::npos);
  }
  EXPECT_THROW(pf_by_name("nosuch", s), Error);
  EXPECT_THROW(pf_by_name("bad/name", s), InvalidInput);
}

TEST_F(FakeSysfs, LocatesVfByPciAddress) {
  auto r = vf_by_pci("0000:01:10.4", s);
  EXPECT_EQ(r.pf_pci, "0000:01:00.0");
  EXPECT_EQ(r.vf, 2u);
  EXPECT_THROW(vf_by_pci("0000:01:00.0", s), Error);  // a PF, not a VF
  EXPECT_THROW(vf_by_pci("0000:09:00.0", s), Error);
  EXPECT_EQ(pci_netdev("0000:01:10.0", s), "eth1");
  EXPECT_FALSE(pci_netdev("0000:01:10.4", s));
}

TEST_F(FakeSysfs, NumvfsRangeIsCheckedAgainstTotalvfs) {
  Pf pf = pf_by_name("eth0", s);
  EXPECT_THROW(set_numvfs(pf, 8, s), InvalidInput);
  EXPECT_THROW(set_numvfs(pf, -1, s), InvalidInput);
  set_numvfs(pf, 3, s);  // unchanged: nothing written, no wait
  std::ifstream f(root / "class/net/eth0/device/sriov_numvfs");
  std::string v;
  f >> v;
  EXPECT_EQ(v, "3");
}

TEST(SriovPci, NormalizesAddresses) {
  EXPECT_EQ(normalize_pci("01:10.0", "--pci"), "0000:01:10.0");
  EXPECT_EQ(normalize_pci("0000:AF:1f.7", "--pci"), "0000:af:1f.7");
  EXPECT_THROW(normalize_pci("0000:01:10.8", "--pci"), InvalidInput);
  EXPECT_THROW(normalize_pci("../../etc", "--pci"), InvalidInput);
  EXPECT_THROW(normalize_pci("", "--pci"), InvalidInput);
}
