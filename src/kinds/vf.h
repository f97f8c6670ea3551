// Kind "vf": an SR-IOV virtual function handed to a namespace, configured through its PF. An attach is made of
// records of four kinds, each removed by its own function:
//   "vf"          the allocation record (sriov/attach.h: one file per VF, made under a lock, so no two attaches
//                 take the same VF); removing it deletes the file, once the VF's netdev is back on the host
//   "vf-setting"  one setting changed through the PF, with the value it replaced; removing it puts that back
//   "vf-netdev"   the VF's netdev moved into the namespace and renamed; removing it moves it back under its old
//                 name (host_device::move_back: a temporary name if that is taken), or, when the namespace is
//                 gone (the kernel returned the netdev by itself), renames it back
//   "address", "route" on the netdev (kinds/address.h)
// Each step is written into the allocation record before it is made, so `release` (`ctnet sriov detach`, CNI
// DEL) removes the same records a rollback would, newest first, from another process, after a kill, and after
// the namespace was deleted. Every record carries the allocation's id: once the VF was released (and maybe
// attached again by someone else), an old record leaves it alone.
#pragma once
#include <string>

#include "kinds/txn.h"
#include "sriov/attach.h"

namespace ctnet::kinds::vf {

// Field names: field_prefix + "pf", "name", "mac", "vlan", "qos", "proto", "vf", "pci", "mtu", "addr", "gw".
void validate(const sriov::AttachSpec& s, const std::string& field_prefix = "--");
// Validates, allocates a VF (the given one or the first free), configures it through the PF, moves it into the
// namespace under its name there, sets MAC and MTU on the netdev, addresses it, brings it up and adds the
// default route. Everything is recorded in `txn`.
sriov::Allocation apply(Txn& txn, const sriov::AttachSpec& s, const sriov::Paths& paths = {});
// Present when an allocation names the namespace and name and its netdev is there; differs when the netdev is
// down, its MTU, the VF or the VF's settings are not as specified.
Inspection inspect(Txn& txn, const sriov::AttachSpec& s, const sriov::Paths& paths = {});
// Brings it up and sets the MTU in place; a VF that is missing, not the one specified or not set as specified
// (its netdev left a re-created namespace) is released and attached anew.
void repair(Txn& txn, const sriov::AttachSpec& s, const sriov::Paths& paths = {});

Removal remove(Txn& txn, const Made& m);          // "vf"
Removal remove_setting(Txn& txn, const Made& m);  // "vf-setting"
Removal remove_netdev(Txn& txn, const Made& m);   // "vf-netdev"
// "vf-attachment": the whole attachment of `name` in namespace `ns.spec`, through release() (for DEL, which knows
// only the namespace and the name).
Removal remove_attachment(Txn& txn, const Made& m);

// Releases the VF attached as `name` in namespace `ns` (the namespace as attach was given it) through its
// allocation record: false when there is none (idempotent). When its netdev cannot be brought back, throws
// and keeps the record (a later release tries again); a setting the driver does not take back is reported in
// the Error thrown after the VF was released.
bool release(Txn& txn, const std::string& ns, const std::string& name, const sriov::Paths& paths = {});

// Sets VF `vf` of `pf` through the PF without moving it: for a VF of a userspace (DPDK) program, or on a PF
// whose driver makes no VF netdevs. Each setting is a "vf-setting" record in `txn`, so a refusal rolls back
// what was applied before it. Refused for a VF that is attached (its record holds what release restores).
// Returns the VF's settings afterwards.
sriov::VfConfig configure(Txn& txn, const std::string& pf, uint32_t vf, const sriov::VfSettings& settings,
                          const sriov::Paths& paths = {});

}  // namespace ctnet::kinds::vf
