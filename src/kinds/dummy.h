// Kind "dummy": a dummy link made in its namespace (CNI dummy: an interface that carries addresses and routes
// but no traffic). Its remove deletes the link by identity.
#pragma once
#include <string>

#include "kinds/txn.h"

namespace ctnet::kinds::dummy {

struct Spec {
  std::string ns;
  std::string name;
  uint32_t mtu = 0;  // 0: the kernel's default
  bool link_local = true;  // false: no IPv6 link-local address (link_kind.h, bring_up)
};

// Field names: prefix + "name", "mtu".
void validate(const Spec& s, const std::string& field_prefix = "");
// Throws Error("... load the dummy module") when this kernel has no dummy driver.
void require_driver();
// Makes it (a taken name is refused), brings it up; returns its ifindex.
int apply(Txn& txn, const Spec& s);
// Present when a dummy of that name is up with the spec's MTU (when set).
Inspection inspect(Txn& txn, const Spec& s);
// Makes it when missing, else brings it up and to its MTU; a link of another kind under the name is refused.
void repair(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::dummy
