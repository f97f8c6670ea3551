#include "kinds/veth.h"

#include <fmt/format.h>

#include <array>

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
  if (s.peer_mtu) validate_mtu(s.peer_mtu, p + "peer_mtu");
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
  link::VethSpec v{.name = spec.name, .peer_name = spec.peer_name, .mtu = spec.mtu, .peer_mtu = spec.peer_mtu,
                   .txqlen = spec.txqlen, .peer_txqlen = spec.peer_txqlen, .mac = spec.mac, .peer_mac = spec.peer_mac,
                   .master = master, .up = spec.up && spec.link_local};
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
// One end's own settings, as the spec wants them.
struct End {
  const std::string* ns;
  const std::string* name;
  const std::string* master;
  uint32_t mtu;
  const std::optional<MacAddress>* mac;
  const std::optional<uint32_t>* txqlen;
  bool up, link_local;
};
std::array<End, 2> ends(const Spec& s) {
  return {End{&s.ns, &s.name, &s.master, s.mtu, &s.mac, &s.txqlen, s.up, s.link_local},
          End{&s.peer_ns, &s.peer_name, &s.peer_master, s.peer_mtu ? s.peer_mtu : s.mtu, &s.peer_mac, &s.peer_txqlen,
              s.peer_up, s.peer_link_local}};
}

// What compare_link does not look at: the MAC and the queue length a file may give an end.
void compare_end(const link::Link& l, const End& e, std::vector<std::string>& d) {
  if (*e.mac && l.mac != **e.mac) d.push_back(fmt::format("mac {} (want {})", l.mac ? l.mac->str() : "none", (*e.mac)->str()));
  if (*e.txqlen && l.txqlen != **e.txqlen) d.push_back(fmt::format("txqueuelen {} (want {})", l.txqlen, **e.txqlen));
}

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
  const auto want = ends(spec);
  for (auto [s, l, e] : {std::tuple{&a, &la, want[0]}, std::tuple{&b, &lb, want[1]}}) {
    const std::string* name = e.name;
    const std::string* master = e.master;
    if (!*l) {
      d.push_back(where(*s, *name) + " is missing");
      continue;
    }
    const int m = want_master(*s, *master);
    auto diffs = compare_link(**l, "veth", e.mtu, m == -2 ? -1 : m);
    compare_end(**l, e, diffs);
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
  for (const End& e : ends(spec)) {
    const std::string* name = e.name;
    const std::string* master = e.master;
    const bool up = e.up, ll = e.link_local;
    NsSocket& s = txn.open(*e.ns);
    auto l = link::find(s.rtnl, *name);
    if (!l) throw Error(fmt::format("cannot repair veth {}: its other end is gone; remove it and run again", where(s, *name)), ENODEV);
    if (l->kind != "veth") throw Error(fmt::format("cannot repair {}: it is {} link, not a veth", where(s, *name), article(l->kind.empty() ? "device" : l->kind)), EEXIST);
    link::Change c;
    if (e.mtu && l->mtu != e.mtu) c.mtu = e.mtu;
    if (*e.mac && l->mac != **e.mac) c.mac = **e.mac;
    if (*e.txqlen && l->txqlen != **e.txqlen) c.txqlen = **e.txqlen;
    if (c.mtu || c.mac || c.txqlen) link::change(s.rtnl, l->index, c, "cannot set the MTU, MAC or queue length of " + where(s, *name));
    std::optional<int> m;
    if (!master->empty() && l->master != index_of(s, *master)) m = index_of(s, *master);
    if (up && !l->is_up()) bring_up(s, l->index, where(s, *name), ll, m);
    else if (m) link::change(s.rtnl, l->index, {.master = *m}, "cannot enslave " + where(s, *name));
  }
}

Removal remove(Txn& txn, const Made& m) { return remove_created_link(txn, m, "veth"); }

}  // namespace ctnet::kinds::veth
