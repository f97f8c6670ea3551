#include "kinds/vf.h"

#include <fmt/format.h>

#include "kinds/link_kind.h"
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

Inspection inspect(Txn& txn, const std::string& ns, const std::string& name, uint32_t mtu) {
  auto l = link::find(txn.open(ns).rtnl, name);
  if (!l) return Inspection::missing();
  return Inspection::of(l->index, compare_link(*l, "", mtu, -1));
}

void configure(Txn& txn, const std::string& ns, const std::string& name, uint32_t mtu) {
  NsSocket& s = txn.open(ns);
  link::Link l = link::get(s.rtnl, name, s.ns.label());
  link::Change c;
  if (!l.is_up()) c.up = true;
  if (mtu && l.mtu != mtu) c.mtu = mtu;
  if (c.up || c.mtu) link::change(s.rtnl, l.index, c, fmt::format("cannot configure VF {} in '{}'", name, s.ns.label()));
}

Removal remove(Txn& txn, const Made& m) {
  sriov::Paths paths;
  paths.state_dir = m.saved.value("state_dir", paths.state_dir);
  paths.sysfs = m.saved.value("sysfs", paths.sysfs);
  // The allocation record (keyed by namespace and name) restores the VF also when the namespace is gone.
  return sriov::detach(txn.host(), m.ns.spec, m.name, paths) ? Removal::removed : Removal::absent;
}

}  // namespace ctnet::kinds::vf
