// Kind "vf": an SR-IOV virtual function handed to a namespace. src/sriov allocates it (its own record, under a
// lock, with the VF's original settings) and restores it on release; this driver records the hand-over in the
// transaction so a rollback, CNI DEL and `down` release it the same way.
#pragma once
#include "kinds/txn.h"
#include "sriov/attach.h"

namespace ctnet::kinds::vf {

sriov::Allocation apply(Txn& txn, const sriov::AttachSpec& s, const sriov::Paths& paths = {});
Inspection inspect(Txn& txn, const std::string& ns, const std::string& name, uint32_t mtu = 0);
// Brings the VF's netdev in `ns` up and to `mtu` (0: as it is): after apply, and the repair of what inspect reports.
void configure(Txn& txn, const std::string& ns, const std::string& name, uint32_t mtu = 0);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::vf
