// Kinds "bridge" (a Linux bridge, MAC pinned at creation) and "port" (a link enslaved to a bridge, with its port
// options and VLAN membership).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "kinds/txn.h"
#include "link/bridge.h"
#include "link/link.h"

namespace ctnet::kinds::bridge {

struct Spec {
  std::string ns;               // "" = host
  std::string name;
  uint32_t mtu = 0;
  // mtu 0 at creation: the MTU of the link the default route leaves through (looked up only when the bridge
  // is created), as the CNI bridge plugin chooses it.
  bool mtu_of_default_route = false;
  std::optional<MacAddress> mac;  // unset: a stable address derived from the name (link/bridge.h)
  bool vlan_filtering = false;
  bool promisc = false;
  // Shared by attachments that come and go (CNI, `attach`): a rollback removes it only while it has no port,
  // since a concurrent run may have attached to it meanwhile.
  bool shared = false;
};

void validate(const Spec& s, const std::string& field_prefix = "");
// Creates the bridge (recorded); the kernel's answer to an exclusive create is the only arbiter between
// concurrent runs.
link::Link apply(Txn& txn, const Spec& s);
// The bridge, created when missing (EEXIST from a concurrent creator is fine), else checked to be a bridge
// (throws InvalidInput naming `field` otherwise) and brought up.
struct Ensured {
  link::Link link;
  bool created = false;
};
Ensured ensure(Txn& txn, const Spec& s, const std::string& field = "bridge");
Inspection inspect(Txn& txn, const Spec& s);
void repair(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::bridge

namespace ctnet::kinds::port {

struct VlanRange {
  uint16_t min = 0, max = 0;
};

struct Spec {
  std::string ns;
  std::string bridge;
  std::string name;                    // the port link
  link::BridgePortOptions options;     // hairpin, isolation, learning, flood
  uint16_t pvid = 0;                   // access VLAN (untagged, PVID); 0: none
  std::vector<VlanRange> trunk;        // tagged VLANs
  bool keep_default_vlan = true;       // VLAN 1 that the kernel gives every new port
};

void validate(const Spec& s, const std::string& field_prefix = "");
// Enslaves the link (when it is not yet a port of the bridge; recorded, so a rollback detaches it) and applies
// options and VLANs. `port_index`/`bridge_index` save the lookups when the caller has them.
void apply(Txn& txn, const Spec& s, int port_index = 0, int bridge_index = 0);
Removal remove(Txn& txn, const Made& m);

// Kind "port-vlans": a port's VLAN membership set to exactly this (a lab's `vlan:` / `trunk:` on a bridge port
// whose link joined the bridge when it was made). The access VLAN is the PVID and leaves untagged, the trunk VLANs
// leave tagged, and every other VLAN (the bridge's default VLAN 1 too) is taken off the port. Recorded with the
// membership the port had, which its remove puts back.
struct Vlans {
  std::string ns;
  std::string name;                    // the port link
  uint16_t access = 0;                 // 0: none
  std::vector<VlanRange> trunk;
};
// Field names: prefix + "vlan", "trunk".
void validate(const Vlans& v, const std::string& field_prefix = "");
link::PortVlans wanted(const Vlans& v);
Inspection inspect(Txn& txn, const Vlans& v);
void apply(Txn& txn, const Vlans& v);
void repair(Txn& txn, const Vlans& v);  // sets the membership again (the record keeps what the port first had)
Removal remove_vlans(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::port
