// Kind "ifb": an intermediate functional block device (CNI bandwidth: traffic entering the host end of a
// container's veth is redirected to it, so that a qdisc on its egress can shape it). Made up, with the MTU
// given; its remove deletes the link by identity (also by name alone, as CNI DEL rebuilds the record).
#pragma once
#include <string>

#include "kinds/txn.h"

namespace ctnet::kinds::ifb {

struct Spec {
  std::string ns;
  std::string name;
  uint32_t mtu = 0;  // 0: the kernel's default
};

// Field names: prefix + "name", "mtu".
void validate(const Spec& s, const std::string& field_prefix = "");
// Makes it (a taken name is refused) and brings it up; returns its ifindex. A kernel without the ifb driver
// is reported as such.
int apply(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::ifb
