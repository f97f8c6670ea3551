#include "kinds/vxlan.h"

#include <fmt/format.h>

#include "kinds/link_kind.h"
#include "link/vxlan.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::vxlan {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.name, p + "name");
  if (s.vni < 1 || s.vni > 0xffffff) throw InvalidInput(p + "vni", fmt::format("{} is not a VNI (1-16777215)", s.vni));
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
  if (s.port == 0) throw InvalidInput(p + "port", "0 is not a UDP port");
  if (s.local && s.remote && s.local->is_v4() != s.remote->is_v4())
    throw InvalidInput(p + "remote", "is not of the family of local");
  if (!s.underlay.empty()) validate_ifname(s.underlay, p + "underlay");
  if (!s.master.empty()) validate_ifname(s.master, p + "bridge");
}

int apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  link::VxlanSpec v{.name = spec.name, .vni = spec.vni, .local = spec.local, .remote = spec.remote,
                    .underlay = spec.underlay.empty() ? 0 : index_of(s, spec.underlay), .port = spec.port,
                    .learning = spec.learning, .mtu = spec.mtu,
                    .master = spec.master.empty() ? 0 : index_of(s, spec.master), .up = true};
  size_t i = txn.make({.kind = "vxlan", .ns = txn.ref(s), .name = spec.name}, [&] { link::create_vxlan(s.rtnl, v); });
  int index = index_of(s, spec.name);
  txn.done(i, index);
  return index;
}

Inspection inspect(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto l = link::find(s.rtnl, spec.name);
  if (!l) return Inspection::missing();
  int master = 0;
  std::optional<link::Link> br;
  if (!spec.master.empty()) {
    br = link::find(s.rtnl, spec.master);
    master = br ? br->index : -1;
  }
  auto d = compare_link(*l, "vxlan", spec.mtu, master);
  if (!spec.master.empty() && !br) d.push_back(fmt::format("is not a port of its bridge ({} is missing)", spec.master));
  return Inspection::of(l->index, std::move(d));
}

void repair(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  if (auto l = link_to_repair(s, spec.name, "vxlan")) repair_link(s, *l, spec.mtu, spec.master.empty() ? -1 : index_of(s, spec.master));
  else apply(txn, spec);
}

Removal remove(Txn& txn, const Made& m) { return remove_created_link(txn, m, "vxlan"); }

}  // namespace ctnet::kinds::vxlan
