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
};

// Field names: prefix + "name", "mtu".
void validate(const Spec& s, const std::string& field_prefix = "");
// Throws Error("... load the dummy module") when this kernel has no dummy driver.
void require_driver();
// Makes it (a taken name is refused), brings it up; returns its ifindex.
int apply(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::dummy
