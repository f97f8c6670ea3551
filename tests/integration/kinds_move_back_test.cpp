// host_device::move_back, the one way a device (a host device, an SR-IOV VF's netdev) returns to the host: under
// its old name, or a temporary one when that is taken, also when the kernel moved it and only the rename failed
// (a link moves under its current name when that is free and is renamed afterwards). A veth end stands in for
// the device; everything happens in two throwaway namespaces, removed even when a test fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include "kinds/host_device.h"
#include "link/link.h"
#include "link/veth.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"

using namespace ctnet;

namespace {

class MoveBack : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tag = "tkmb-" + std::to_string(getpid() % 100000);
    host_name = tag + "-h";
    ctr_name = tag + "-c";
    for (auto* n : {&host_name, &ctr_name}) {
      NetNs::remove_named(*n);
      NetNs::create_named(*n);
    }
    host.emplace(NsSocket::open(host_name));
    ctr.emplace(NsSocket::open(ctr_name));
    veth("tkmb0", "tkmb1");
    // the "device" goes into the container as eth9
    link::change(host->rtnl, link::get(host->rtnl, "tkmb0").index, {.up = false, .name = "eth9", .netns_fd = ctr->ns.fd()},
                 "move in");
  }
  void TearDown() override {
    host.reset();
    ctr.reset();
    for (auto* n : {&host_name, &ctr_name}) NetNs::remove_named(*n);
  }
  void veth(const std::string& a, const std::string& b) {
    link::VethSpec v;
    v.name = a;
    v.peer_name = b;
    link::create_veth(host->rtnl, v);
  }
  int inside() { return link::get(ctr->rtnl, "eth9").index; }
  // The peer of the link that came back is still tkmb1: it is the device, not the link that took its name.
  bool is_the_device(const std::string& name) {
    auto l = link::find(host->rtnl, name);
    return l && l->parent == link::get(host->rtnl, "tkmb1").index;
  }

  std::string host_name, ctr_name;
  std::optional<NsSocket> host, ctr;
};

TEST_F(MoveBack, UnderItsOldName) {
  EXPECT_EQ(kinds::host_device::move_back(*ctr, inside(), *host, "tkmb0"), "tkmb0");
  EXPECT_TRUE(is_the_device("tkmb0"));
  EXPECT_FALSE(link::find(ctr->rtnl, "eth9"));
}

TEST_F(MoveBack, UnderATemporaryNameWhenTheOldOneIsTaken) {
  veth("tkmb0", "tkmb2");  // its old name is taken meanwhile; its name inside (eth9) is free on the host
  std::string back = kinds::host_device::move_back(*ctr, inside(), *host, "tkmb0");
  EXPECT_EQ(back.rfind("ctr", 0), 0u) << back;
  EXPECT_TRUE(is_the_device(back));
  EXPECT_FALSE(link::find(ctr->rtnl, "eth9"));
  EXPECT_FALSE(link::find(host->rtnl, "eth9"));  // not left under its name inside
  EXPECT_EQ(link::get(host->rtnl, "tkmb0").parent, link::get(host->rtnl, "tkmb2").index);  // the other left alone
}

TEST_F(MoveBack, UnderATemporaryNameWhenBothNamesAreTaken) {
  veth("tkmb0", "tkmb2");
  veth("eth9", "tkmb3");
  std::string back = kinds::host_device::move_back(*ctr, inside(), *host, "tkmb0");
  EXPECT_EQ(back.rfind("ctr", 0), 0u) << back;
  EXPECT_TRUE(is_the_device(back));
  EXPECT_FALSE(link::find(ctr->rtnl, "eth9"));
  EXPECT_EQ(link::get(host->rtnl, "eth9").parent, link::get(host->rtnl, "tkmb3").index);
}

}  // namespace
