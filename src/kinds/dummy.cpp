#include "kinds/dummy.h"

#include <fmt/format.h>
#include <linux/if_link.h>

#include "kinds/link_kind.h"
#include "link/link.h"
#include "link/macvlan.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::dummy {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.name, p + "name");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
}

void require_driver() {
  if (!link::kernel_has_link_kind("dummy"))
    throw Error("this kernel has no dummy driver (CONFIG_DUMMY): load the dummy module", EOPNOTSUPP);
}

int apply(Txn& txn, const Spec& spec) {
  validate(spec);
  NsSocket& s = txn.open(spec.ns);
  if (link::find(s.rtnl, spec.name))
    throw Error(fmt::format("a link named '{}' already exists in '{}'", spec.name, s.ns.label()), EEXIST);
  nl::Message m = link::create_request(spec.name, false, spec.mtu);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "dummy");
  m.end_nest(info);
  const size_t i = txn.make({.kind = "dummy", .ns = txn.ref(s), .name = spec.name},
                            [&] { s.rtnl.ack(m, fmt::format("cannot create dummy {} in '{}'", spec.name, s.ns.label())); });
  const int index = index_of(s, spec.name);
  txn.done(i, index);
  bring_up(s, index, spec.name, spec.link_local);
  return index;
}

Inspection inspect(Txn& txn, const Spec& spec) {
  auto l = link::find(txn.open(spec.ns).rtnl, spec.name);
  if (!l) return Inspection::missing();
  return Inspection::of(l->index, compare_link(*l, "dummy", spec.mtu, -1));
}

void repair(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  if (auto l = link_to_repair(s, spec.name, "dummy")) repair_link(s, *l, spec.mtu, -1);
  else apply(txn, spec);
}

Removal remove(Txn& txn, const Made& m) { return remove_created_link(txn, m, "dummy"); }

}  // namespace ctnet::kinds::dummy
