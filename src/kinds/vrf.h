// Kinds "vrf" (a VRF device, link/vrf.h) and "vrf-port" (a link enslaved to a VRF, keeping its addresses and
// routes). Enslaving makes the kernel cycle the link down and up: it flushes the link's routes and, unless
// net.ipv6.conf.*.keep_addr_on_down is set, its IPv6 addresses. So `enslave` saves the global IPv6 addresses and
// the gateway routes (scope universe) of the main table before, adds back the addresses the kernel dropped, and
// adds the routes to the VRF's table, as the CNI reference plugin does. The "vrf-port" record keeps what was
// saved: a rollback releases the link and puts addresses and routes back where they were.
//
// The kernel adds its l3mdev rule ("1000: from all lookup [l3mdev-table]") when the first VRF of a namespace is
// made and keeps it for later VRFs: it is the kernel's, not recorded, and stays.
#pragma once
#include <string>

#include "kinds/txn.h"
#include "link/vrf.h"

namespace ctnet::kinds::vrf {

struct Spec {
  std::string ns;
  std::string name;
  uint32_t table = 0;  // 0: the first table from 1 that no other VRF, rule or route uses
};

// Field names: prefix + "vrfname", "table".
void validate(const Spec& s, const std::string& field_prefix = "");
// Throws Error("... load the vrf module") when this kernel has no VRF driver.
void require_driver();
// The VRF `name`: made (recorded, up) when missing; when it exists it must be a VRF, with `table` when one is
// given (Conflict otherwise). A VRF a concurrent run made in between is used, not recorded.
link::Vrf ensure(Txn& txn, const Spec& s);
// The record CNI DEL rebuilds: the VRF by name (whoever made it).
Made record(Txn& txn, NsSocket& s, const std::string& name);
// Deletes it while no link is enslaved to it (others may still use it: then it stays, as `replaced`).
Removal remove(Txn& txn, const Made& m);

struct PortSpec {
  std::string ns;
  std::string name;  // the link to enslave
};
// Enslaves the link (it must have no master yet) to `vrf`, then restores its addresses and routes there.
void enslave(Txn& txn, const PortSpec& s, const link::Vrf& vrf);
// The record CNI DEL rebuilds: link `name` as a port of the VRF `vrf`, nothing saved to put back.
Made port_record(Txn& txn, NsSocket& s, const std::string& vrf, const std::string& name);
// Releases the link if it is still a port of the recorded VRF, and puts back what the record saved.
Removal remove_port(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::vrf
