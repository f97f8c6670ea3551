#include "kinds/vf.h"

#include "link/link.h"

namespace ctnet::kinds::vf {

sriov::Allocation apply(Txn& txn, const sriov::AttachSpec& spec, const sriov::Paths& paths) {
  NsSocket& target = txn.open(spec.netns);
  sriov::Allocation a;
  nlohmann::json saved = {{"state_dir", paths.state_dir}, {"sysfs", paths.sysfs}};
  size_t i = txn.make({.kind = "vf", .ns = txn.ref(target), .name = spec.name, .saved = saved},
                      [&] { a = sriov::attach(txn.host(), spec, paths); });
  txn.done(i);
  return a;
}

Inspection inspect(Txn& txn, const std::string& ns, const std::string& name) {
  auto l = link::find(txn.open(ns).rtnl, name);
  if (!l) return Inspection::missing();
  return Inspection::of(l->index, l->is_up() ? std::vector<std::string>{} : std::vector<std::string>{"is down"});
}

Removal remove(Txn& txn, const Made& m) {
  sriov::Paths paths;
  paths.state_dir = m.saved.value("state_dir", paths.state_dir);
  paths.sysfs = m.saved.value("sysfs", paths.sysfs);
  // The allocation record (keyed by namespace and name) restores the VF also when the namespace is gone.
  return sriov::detach(txn.host(), m.ns.spec, m.name, paths) ? Removal::removed : Removal::absent;
}

}  // namespace ctnet::kinds::vf
