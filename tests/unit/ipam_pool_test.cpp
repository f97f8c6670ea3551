// host-local's modes for ctnet's own pools (`attach`: lowest free address, the directory gone with its last lease,
// the lease list), and the one way a CLI operation reports what its rollback could not remove.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "ipam/host_local.h"
#include "kinds/txn.h"
#include "ops/rollback.h"
#include "util/error.h"

using namespace ctnet;

namespace {

class OwnPool : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = "/tmp/tpool-unit-" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    c_.data_dir = base_ + "/bridges";
    c_.network = "c1-2-br0";
    c_.lowest_free = c_.remove_empty = true;
    auto subnet = *Prefix::try_parse("10.9.0.0/29");
    c_.range_sets = {{{subnet, subnet.host(1).address(), subnet.host(6).address(), {}}}};
  }
  void TearDown() override { std::filesystem::remove_all(base_); }
  std::string take(const std::string& id) { return ipam::allocate(c_, id, "holder of " + id, {})[0].address.str(); }
  std::string base_;
  ipam::HostLocalConfig c_;
};

TEST_F(OwnPool, TheLowestFreeAddressIsHandedOutAgainAtOnce) {
  EXPECT_EQ(take("a"), "10.9.0.1/29");  // no gateway reserved: the gateway is a lease of its own
  EXPECT_EQ(take("b"), "10.9.0.2/29");
  EXPECT_EQ(take("c"), "10.9.0.3/29");
  EXPECT_EQ(ipam::release(c_, "b", "holder of b").size(), 1u);
  EXPECT_EQ(take("d"), "10.9.0.2/29");
  EXPECT_FALSE(std::filesystem::exists(c_.data_dir + "/" + c_.network + "/last_reserved_ip.0"));
  auto all = ipam::leases(c_);
  ASSERT_EQ(all.size(), 3u);
  std::set<std::string> holders;
  for (auto& [a, h] : all) holders.insert(a.str() + "=" + h.first + "/" + h.second);
  EXPECT_EQ(holders, (std::set<std::string>{"10.9.0.1=a/holder of a", "10.9.0.2=d/holder of d", "10.9.0.3=c/holder of c"}));
}

TEST_F(OwnPool, TheLastReleaseLeavesNoTrace) {
  take("a");
  take("b");
  ipam::release(c_, "a", "holder of a");
  EXPECT_TRUE(std::filesystem::exists(c_.data_dir + "/" + c_.network + "/lock"));
  ipam::release(c_, "b", "holder of b");
  EXPECT_FALSE(std::filesystem::exists(c_.data_dir)) << "the pool (and the empty data dir) should be gone";
  // A refused allocation makes nothing; the next one starts afresh.
  EXPECT_THROW(ipam::allocate(c_, "x", "h", {*IpAddress::try_parse("10.9.0.9")}), InvalidInput);
  EXPECT_FALSE(std::filesystem::exists(c_.data_dir));
  EXPECT_EQ(take("c"), "10.9.0.1/29");
  ipam::release(c_, "c", "holder of c");
  EXPECT_FALSE(std::filesystem::exists(c_.data_dir));
}

kinds::Removal refuse(kinds::Txn&, const kinds::Made& m) { throw Error("device or resource busy: " + m.name, EBUSY); }

TEST(Rollback, WhatCouldNotBeRemovedIsInTheError) {
  kinds::define_kind("test-stuck", refuse);
  kinds::Txn txn;
  txn.done(txn.intend({.kind = "test-stuck", .ns = {.spec = "ns1"}, .name = "thing0"}));
  try {
    try {
      throw Error("cannot add address 10.0.0.1/24 to eth0", EIO);
    } catch (...) {
      ops::rollback_and_rethrow(txn);
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with("cannot add address 10.0.0.1/24 to eth0")) << what;
    EXPECT_NE(what.find("the rollback could not remove: cannot remove test-stuck thing0 in ns1"), std::string::npos) << what;
  }
  // Without rollback errors the exception passes unchanged (its type too: invalid input stays exit code 2).
  kinds::Txn clean;
  EXPECT_THROW(
      {
        try {
          throw InvalidInput("--mtu", "too large");
        } catch (...) {
          ops::rollback_and_rethrow(clean);
        }
      },
      InvalidInput);
}

}  // namespace
