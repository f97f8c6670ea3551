#include "kinds/veth.h"

#include <fmt/format.h>

#include "kinds/link_kind.h"
#include "link/veth.h"
#include "util/error.h"
#include "util/names.h"
#include "util/english.h"

namespace ctnet::kinds::veth {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.name, p + "name");
  validate_ifname(s.peer_name, p + "peer");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
  if (s.ns == s.peer_ns && s.name == s.peer_name)
    throw InvalidInput(p + "peer", fmt::format("both ends are named '{}' in the same namespace", s.name));
  if (!s.master.empty()) validate_ifname(s.master, p + "bridge");
  if (!s.peer_master.empty()) validate_ifname(s.peer_master, p + "bridge");
}

namespace {
std::string where(NsSocket& s, const std::string& name) { return fmt::format("{}/{}", s.ns.label(), name); }
}  // namespace

Result apply(Txn& txn, const Spec& spec) {
  NsSocket& a = txn.open(spec.ns);
  NsSocket& b = txn.open(spec.peer_ns);
  const int master = spec.master.empty() ? 0 : index_of(a, spec.master);
  link::VethSpec v{.name = spec.name, .peer_name = spec.peer_name, .mtu = spec.mtu, .mac = spec.mac,
                   .peer_mac = spec.peer_mac, .master = master, .up = spec.up && spec.link_local};
  if (&a != &b) v.peer_netns_fd = b.ns.fd();
  size_t i = txn.make({.kind = "veth", .ns = txn.ref(a), .name = spec.name,
                       .saved = {{"peer", spec.peer_name}, {"peer_ns", to_json(txn.ref(b))}}},
                      [&] { link::create_veth(a.rtnl, v); });
  Result r{index_of(a, spec.name), index_of(b, spec.peer_name)};
  txn.done(i, r.index);
  if (spec.up && !spec.link_local) bring_up(a, r.index, where(a, spec.name), false);
  // The peer cannot be created up: veth_open() on it runs before the pair is linked (ENOTCONN).
  std::optional<int> peer_master;
  if (!spec.peer_master.empty()) peer_master = index_of(b, spec.peer_master);
  if (spec.peer_up) bring_up(b, r.peer_index, where(b, spec.peer_name), spec.peer_link_local, peer_master);
  else if (peer_master) link::change(b.rtnl, r.peer_index, {.master = *peer_master}, "cannot enslave " + where(b, spec.peer_name));
  return r;
}

namespace {
// -1: no check of the master; the bridge's index, or a value no link has when the bridge is missing.
int want_master(NsSocket& s, const std::string& bridge) {
  if (bridge.empty()) return 0;
  auto br = link::find(s.rtnl, bridge);
  return br ? br->index : -2;
}
}  // namespace

Inspection inspect(Txn& txn, const Spec& spec) {
  NsSocket& a = txn.open(spec.ns);
  NsSocket& b = txn.open(spec.peer_ns);
  auto la = link::find(a.rtnl, spec.name);
  auto lb = link::find(b.rtnl, spec.peer_name);
  if (!la && !lb) return Inspection::missing();
  std::vector<std::string> d;
  for (auto [s, l, name, master] : {std::tuple{&a, &la, &spec.name, &spec.master}, std::tuple{&b, &lb, &spec.peer_name, &spec.peer_master}}) {
    if (!*l) {
      d.push_back(where(*s, *name) + " is missing");
      continue;
    }
    const int m = want_master(*s, *master);
    auto diffs = compare_link(**l, "veth", spec.mtu, m == -2 ? -1 : m);
    if (m == -2) diffs.push_back(fmt::format("is not a port of its bridge ({} is missing)", *master));
    for (auto& x : diffs) d.push_back(where(*s, *name) + " " + x);
  }
  return Inspection::of(la ? la->index : 0, std::move(d));
}

void repair(Txn& txn, const Spec& spec) {
  auto ins = inspect(txn, spec);
  if (!ins.present()) {
    apply(txn, spec);
    return;
  }
  for (auto [ns, name, master, up, ll] : {std::tuple{&spec.ns, &spec.name, &spec.master, spec.up, spec.link_local},
                                          std::tuple{&spec.peer_ns, &spec.peer_name, &spec.peer_master, spec.peer_up, spec.peer_link_local}}) {
    NsSocket& s = txn.open(*ns);
    auto l = link::find(s.rtnl, *name);
    if (!l) throw Error(fmt::format("cannot repair veth {}: its other end is gone; remove it and run again", where(s, *name)), ENODEV);
    if (l->kind != "veth") throw Error(fmt::format("cannot repair {}: it is {} link, not a veth", where(s, *name), article(l->kind.empty() ? "device" : l->kind)), EEXIST);
    if (spec.mtu && l->mtu != spec.mtu) link::change(s.rtnl, l->index, {.mtu = spec.mtu}, "cannot set the MTU of " + where(s, *name));
    std::optional<int> m;
    if (!master->empty() && l->master != index_of(s, *master)) m = index_of(s, *master);
    if (up && !l->is_up()) bring_up(s, l->index, where(s, *name), ll, m);
    else if (m) link::change(s.rtnl, l->index, {.master = *m}, "cannot enslave " + where(s, *name));
  }
}

Removal remove(Txn& txn, const Made& m) { return remove_created_link(txn, m, "veth"); }

}  // namespace ctnet::kinds::veth
