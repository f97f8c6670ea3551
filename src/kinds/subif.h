// Kinds "macvlan", "ipvlan" and "vlan" (802.1Q): a sub-interface of a parent link, born in its target namespace under a temporary
// name (recorded, so a rollback or `down` after a kill finds it) and renamed there, so a link with the wanted name
// in the parent's namespace never makes it fail (the reference plugins do the same: macvlan.go "tmpName").
#pragma once
#include <optional>
#include <string>

#include "kinds/txn.h"
#include "link/macvlan.h"

namespace ctnet::kinds::subif {

enum class Kind { macvlan, ipvlan, vlan };
std::string_view to_string(Kind k);

struct Spec {
  Kind kind = Kind::macvlan;
  std::string parent_ns;        // "" = host
  std::string parent;
  std::string ns;               // where the child lives
  std::string name;
  link::MacvlanMode macvlan_mode = link::MacvlanMode::bridge;
  link::IpvlanMode ipvlan_mode = link::IpvlanMode::l2;
  link::IpvlanFlag ipvlan_flag = link::IpvlanFlag::bridge;
  std::optional<MacAddress> mac;  // macvlan only
  uint16_t vlan_id = 0;           // vlan only: 1..4094
  uint32_t mtu = 0;               // 0: the parent's; never above it
  bool up = true;
  bool link_local = true;
};

// Field names: prefix + "name", "parent", "mode", "mac", "mtu", "vlanId".
void validate(const Spec& s, const std::string& field_prefix = "");
// Throws Error("this kernel has no ipvlan driver ...") when the driver is missing.
void require_driver(Kind k);
bool kernel_has_driver(Kind k);

struct Result {
  int index = 0;
  uint32_t mtu = 0;
  std::optional<MacAddress> mac;
};
Result apply(Txn& txn, const Spec& s, const std::string& field_prefix = "");
Inspection inspect(Txn& txn, const Spec& s);
void repair(Txn& txn, const Spec& s);
Removal remove_macvlan(Txn& txn, const Made& m);
Removal remove_ipvlan(Txn& txn, const Made& m);
Removal remove_vlan(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::subif
