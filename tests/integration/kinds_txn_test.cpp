// The kinds layer itself: a transaction removes what it made when it is not committed, records name objects by
// identity (a remove leaves alone what someone else made under the same name), removes work from the record
// alone, and a device always finds its way back to the host.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include "kinds/address.h"
#include "kinds/bridge.h"
#include "kinds/host_device.h"
#include "kinds/netns.h"
#include "kinds/txn.h"
#include "kinds/veth.h"
#include "kinds/vxlan.h"
#include "link/link.h"
#include "support/netns_fixture.h"
#include "util/error.h"

namespace ctnet::test {
namespace {

class KindsTxn : public NetnsFixture {
 protected:
  KindsTxn() : NetnsFixture("kt") {}
  bool has_link(const std::string& ns, const std::string& name) {
    NsSocket s = NsSocket::open(ns);
    return link::find(s.rtnl, name).has_value();
  }
};

TEST_F(KindsTxn, AnUncommittedTransactionRemovesWhatItMade) {
  auto a = make_ns("a"), b = make_ns("b");
  {
    kinds::Txn txn;
    kinds::bridge::apply(txn, {.ns = a, .name = "br0"});
    kinds::veth::apply(txn, {.ns = a, .name = "p0", .peer_ns = b, .peer_name = "eth0", .master = "br0"});
    kinds::address::apply(txn, {.ns = b, .ifname = "eth0", .prefix = *Prefix::try_parse("10.77.0.2/24")});
    kinds::vxlan::apply(txn, {.ns = a, .name = "vx0", .vni = 42, .master = "br0"});
    ASSERT_EQ(txn.made().size(), 4u);
    EXPECT_TRUE(has_link(a, "br0") && has_link(a, "p0") && has_link(b, "eth0") && has_link(a, "vx0"));
  }
  EXPECT_FALSE(has_link(a, "br0"));
  EXPECT_FALSE(has_link(a, "p0"));
  EXPECT_FALSE(has_link(b, "eth0"));
  EXPECT_FALSE(has_link(a, "vx0"));
}

TEST_F(KindsTxn, ARefusedCreateIsNotRecordedSoRollbackKeepsTheOtherOwnersObject) {
  auto a = make_ns("a");
  {
    kinds::Txn txn;
    kinds::bridge::apply(txn, {.ns = a, .name = "theirs"});
    txn.commit();  // someone else's bridge
  }
  {
    kinds::Txn txn;
    EXPECT_THROW(kinds::bridge::apply(txn, {.ns = a, .name = "theirs"}), Error);
    EXPECT_TRUE(txn.made().empty());
  }
  EXPECT_TRUE(has_link(a, "theirs"));
}

TEST_F(KindsTxn, ARemoveLeavesAnObjectThatIsNoLongerTheOneMade) {
  auto a = make_ns("a");
  kinds::Made veth_record;
  {
    kinds::Txn txn;
    auto b = make_ns("b");
    kinds::veth::apply(txn, {.ns = a, .name = "x0", .peer_ns = b, .peer_name = "x1"});
    veth_record = txn.made().back();
    txn.commit();
  }
  // Deleted by hand and made again under the same name by someone else.
  {
    NsSocket s = NsSocket::open(a);
    link::remove(s.rtnl, "x0");
    kinds::Txn other;
    kinds::veth::apply(other, {.ns = a, .name = "x0", .peer_ns = a, .peer_name = "x1"});
    other.commit();
  }
  kinds::Txn txn;
  EXPECT_EQ(kinds::remove(txn, veth_record), kinds::Removal::replaced);
  EXPECT_TRUE(has_link(a, "x0"));
}

TEST_F(KindsTxn, ANamespaceRecreatedUnderTheSameNameIsLeftAlone) {
  const auto name = ns_name("re");
  kinds::Made record;
  {
    kinds::Txn txn;
    kinds::netns::apply(txn, {.name = name});
    record = txn.made().back();
    txn.commit();
  }
  EXPECT_NE(record.ns.cookie + record.ns.ino, 0u);
  NetNs::remove_named(name);
  // Holding the first namespace's socket open would keep its inode busy; a new one gets its own identity.
  NetNs::create_named(name);
  kinds::Txn txn;
  EXPECT_EQ(kinds::remove(txn, record), kinds::Removal::replaced);
  EXPECT_TRUE(NetNs::exists(name));
  EXPECT_EQ(kinds::remove(txn, {.kind = "netns", .ns = {.spec = "nonexistent-xyz"}, .name = "nonexistent-xyz"}),
            kinds::Removal::absent);
}

TEST_F(KindsTxn, AStaleNamespaceFileIsRecovered) {
  const auto name = ns_name("st");
  NetNs::create_named(name);
  // What a crash of `ip netns add` (or a non-tmpfs /run across a reboot) leaves: a plain file, no mount.
  ASSERT_EQ(umount2(NetNs::path_of(name).c_str(), MNT_DETACH), 0);
  ASSERT_TRUE(kinds::netns::is_stale(name));
  kinds::Txn txn;
  EXPECT_EQ(kinds::netns::inspect(txn, {.name = name}).state, kinds::Inspection::State::differs);
  kinds::netns::repair(txn, {.name = name});
  txn.commit();
  EXPECT_FALSE(kinds::netns::is_stale(name));
  NetNs::open_named(name);
}

TEST_F(KindsTxn, ADeviceComesBackUnderATemporaryNameWhenItsOldOneIsTaken) {
  auto host = make_ns("h"), c = make_ns("c");
  kinds::Made record;
  {
    kinds::Txn txn;
    kinds::veth::apply(txn, {.ns = host, .name = "dev0", .peer_ns = host, .peer_name = "dev0p"});
    txn.commit();
  }
  {
    kinds::Txn txn;
    kinds::host_device::apply(txn, {.host_ns = host, .device = "dev0", .ns = c, .name = "eth5"});
    record = txn.made().back();
    txn.commit();
  }
  EXPECT_TRUE(has_link(c, "eth5"));
  {
    kinds::Txn txn;  // someone takes the old name meanwhile
    kinds::bridge::apply(txn, {.ns = host, .name = "dev0"});
    txn.commit();
  }
  kinds::Txn txn;
  EXPECT_EQ(kinds::remove(txn, record), kinds::Removal::removed);
  EXPECT_FALSE(has_link(c, "eth5"));
  NsSocket s = NsSocket::open(host);
  auto peer = link::get(s.rtnl, "dev0p");
  auto back = link::find(s.rtnl, peer.parent);
  ASSERT_TRUE(back);
  EXPECT_NE(back->name, "dev0");
  EXPECT_EQ(back->kind, "veth");
}

TEST_F(KindsTxn, ASharedBridgeIsKeptWhileItHasPorts) {
  auto a = make_ns("a"), b = make_ns("b");
  kinds::Made bridge_record;
  {
    kinds::Txn txn;
    bridge_record = (kinds::bridge::ensure(txn, {.ns = a, .name = "cni9", .shared = true}), txn.made().back());
    txn.commit();
  }
  {
    kinds::Txn txn;
    kinds::veth::apply(txn, {.ns = a, .name = "vp", .peer_ns = b, .peer_name = "eth0", .master = "cni9"});
    txn.commit();
  }
  kinds::Txn txn;
  EXPECT_EQ(kinds::remove(txn, bridge_record), kinds::Removal::replaced);
  EXPECT_TRUE(has_link(a, "cni9"));
}

TEST_F(KindsTxn, ValidationNamesTheField) {
  try {
    kinds::veth::validate({.name = "ok", .peer_name = "bad/name"}, "--");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--peer");
  }
  try {
    kinds::address::validate({.prefix = *Prefix::try_parse("10.1.2.0/24")}, "links[1].addresses[0]");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "links[1].addresses[0]");
  }
  EXPECT_THROW(kinds::address::validate({.prefix = *Prefix::try_parse("10.1.2.255/24")}, "a"), InvalidInput);
  EXPECT_NO_THROW(kinds::address::validate({.prefix = *Prefix::try_parse("10.1.2.0/31")}, "a"));
}

}  // namespace
}  // namespace ctnet::test
