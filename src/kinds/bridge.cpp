#include "kinds/bridge.h"

#include <fmt/format.h>
#include <linux/if_bridge.h>
#include <net/if.h>

#include "kinds/link_kind.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::bridge {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.name, p + "name");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
  if (s.mac && (s.mac->bytes[0] & 1)) throw InvalidInput(p + "mac", fmt::format("{} is a multicast address", s.mac->str()));
}

link::Link apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  const uint32_t mtu = spec.mtu || !spec.mtu_of_default_route ? spec.mtu : mtu_of_default_route(s);
  link::BridgeSpec b{.name = spec.name, .mtu = mtu, .mac = spec.mac, .vlan_filtering = spec.vlan_filtering, .up = true};
  size_t i = txn.make({.kind = "bridge", .ns = txn.ref(s), .name = spec.name, .saved = {{"shared", spec.shared}}}, [&] {
    try {
      link::create_bridge(s.rtnl, b);
    } catch (const Error& e) {
      if (e.errnum() == EOPNOTSUPP && spec.vlan_filtering)
        throw Error(fmt::format("cannot create bridge {} with VLAN filtering: the running kernel lacks it "
                                "(CONFIG_BRIDGE_VLAN_FILTERING)", spec.name), EOPNOTSUPP, e.kernel_text());
      throw;
    }
  });
  link::Link l = link::get(s.rtnl, spec.name, s.ns.label());
  txn.done(i, l.index);
  if (spec.promisc) link::change(s.rtnl, l.index, {.promisc = true}, "cannot make bridge " + spec.name + " promiscuous");
  return l;
}

Ensured ensure(Txn& txn, const Spec& spec, const std::string& field) {
  NsSocket& s = txn.open(spec.ns);
  auto l = link::find(s.rtnl, spec.name);
  if (!l) {
    try {
      return {apply(txn, spec), true};
    } catch (const Error& e) {
      if (e.errnum() != EEXIST) throw;  // else a concurrent run made it first (not ours to remove)
      l = link::get(s.rtnl, spec.name, s.ns.label());
    }
  }
  if (l->kind != "bridge")
    throw InvalidInput(field, fmt::format("{} exists and is a {} link, not a bridge", spec.name, l->kind.empty() ? "non-bridge" : l->kind));
  if (!l->is_up() || (spec.promisc && !(l->flags & IFF_PROMISC))) {
    link::Change c{.up = true};
    if (spec.promisc) c.promisc = true;
    link::change(s.rtnl, l->index, c, fmt::format("cannot bring bridge {} up", spec.name));
  }
  return {*l, false};
}

Inspection inspect(Txn& txn, const Spec& spec) {
  auto l = link::find(txn.open(spec.ns).rtnl, spec.name);
  if (!l) return Inspection::missing();
  return Inspection::of(l->index, compare_link(*l, "bridge", spec.mtu, -1));
}

void repair(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  if (auto l = link_to_repair(s, spec.name, "bridge")) repair_link(s, *l, spec.mtu, -1);
  else apply(txn, spec);
}

Removal remove(Txn& txn, const Made& m) {
  if (m.saved.value("shared", false)) {
    bool replaced = false;
    NsSocket* s = txn.reopen(m.ns, &replaced);
    if (!s) return replaced ? Removal::replaced : Removal::absent;
    auto br = recorded_link(*s, m, "bridge", &replaced);
    if (!br) return replaced ? Removal::replaced : Removal::absent;
    for (const auto& l : link::list(s->rtnl))
      if (l.master == br->index) return Removal::replaced;  // someone else's port is on it now
  }
  return remove_created_link(txn, m, "bridge");
}

}  // namespace ctnet::kinds::bridge

namespace ctnet::kinds::port {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.bridge, p + "bridge");
  validate_ifname(s.name, p + "name");
  if (s.pvid > 4094) throw InvalidInput(p + "vlan", fmt::format("{} is not a VLAN ID (1-4094)", s.pvid));
  for (auto& r : s.trunk)
    if (r.min < 1 || r.max > 4094 || r.min > r.max)
      throw InvalidInput(p + "vlanTrunk", "VLAN IDs must be 1-4094 with minID <= maxID");
  if (s.pvid && !s.trunk.empty()) throw InvalidInput(p + "vlanTrunk", "cannot be combined with vlan");
}

void apply(Txn& txn, const Spec& spec, int port_index, int bridge_index) {
  NsSocket& s = txn.open(spec.ns);
  if (!port_index) port_index = index_of(s, spec.name);
  if (!bridge_index) bridge_index = index_of(s, spec.bridge);
  auto l = link::find(s.rtnl, port_index);
  if (!l) throw Error(fmt::format("link {} vanished", spec.name), ENODEV);
  if (l->master != bridge_index) {
    size_t i = txn.make({.kind = "port", .ns = txn.ref(s), .name = spec.name, .ifindex = port_index,
                         .saved = {{"bridge", spec.bridge}, {"master", l->master}}}, [&] {
      link::change(s.rtnl, port_index, {.master = bridge_index}, fmt::format("cannot add {} to bridge {}", spec.name, spec.bridge));
    });
    txn.done(i);
  }
  const auto& o = spec.options;
  if (o.hairpin || o.isolated || o.learning || o.flood)
    link::set_bridge_port(s.rtnl, port_index, o, fmt::format("cannot set port options of {}", spec.name));
  if (spec.pvid) link::set_port_vlan(s.rtnl, port_index, true, spec.pvid, spec.pvid, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
  for (const auto& r : spec.trunk) link::set_port_vlan(s.rtnl, port_index, true, r.min, r.max, 0);
  if ((spec.pvid || !spec.trunk.empty()) && !spec.keep_default_vlan) link::set_port_vlan(s.rtnl, port_index, false, 1, 1, 0);
}

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  auto l = recorded_link(*s, m, "", &replaced);
  if (!l) return replaced ? Removal::replaced : Removal::absent;
  link::change(s->rtnl, l->index, {.master = m.saved.value("master", 0)}, fmt::format("cannot take {} off its bridge", m.name));
  return Removal::removed;
}

void validate(const Vlans& v, const std::string& p) {
  validate_ifname(v.name, p + "name");
  if (v.access > 4094 || (!v.access && v.trunk.empty()))
    throw InvalidInput(p + "vlan", fmt::format("{} is not a VLAN ID (1-4094)", v.access));
  for (auto& r : v.trunk) {
    if (r.min < 1 || r.max > 4094 || r.min > r.max)
      throw InvalidInput(p + "trunk", fmt::format("{}-{} is not a range of VLAN IDs (1-4094, the lower first)", r.min, r.max));
    if (v.access >= r.min && v.access <= r.max)
      throw InvalidInput(p + "trunk", fmt::format("holds VLAN {}, the port's access VLAN (`vlan`)", v.access));
  }
}

link::PortVlans wanted(const Vlans& v) {
  link::PortVlans w;
  if (v.access) w.vids[v.access] = true, w.pvid = v.access;
  for (auto& r : v.trunk)
    for (unsigned id = r.min; id <= r.max; ++id) w.vids.emplace(static_cast<uint16_t>(id), false);
  return w;
}

namespace {

// One request per run of consecutive VLAN IDs with the same flags (a trunk of 100-4094 is one request). The PVID
// is never part of a range (the kernel refuses BRIDGE_VLAN_INFO_PVID with RANGE_BEGIN: br_netlink.c).
template <class Fn>
void for_each_run(const link::PortVlans& v, Fn fn) {
  auto it = v.vids.begin();
  while (it != v.vids.end()) {
    const uint16_t first = it->first;
    const bool untagged = it->second, pvid = v.pvid == first;
    uint16_t last = first;
    for (++it; !pvid && it != v.vids.end() && it->first == last + 1 && it->second == untagged && v.pvid != it->first; ++it)
      last = it->first;
    fn(first, last, static_cast<uint16_t>((pvid ? BRIDGE_VLAN_INFO_PVID : 0) | (untagged ? BRIDGE_VLAN_INFO_UNTAGGED : 0)));
  }
}

// Takes the port from `have` to `want`: VLANs it should not have off (or whose flags change), then the missing on.
void set_exactly(nl::Socket& s, int index, const link::PortVlans& have, const link::PortVlans& want) {
  link::PortVlans off, on;
  for (auto [id, untagged] : have.vids) {
    auto w = want.vids.find(id);
    if (w == want.vids.end() || w->second != untagged || (want.pvid == id) != (have.pvid == id)) off.vids[id] = untagged;
  }
  for (auto [id, untagged] : want.vids)
    if (!have.vids.count(id) || off.vids.count(id)) on.vids[id] = untagged;
  on.pvid = want.pvid;
  for_each_run(off, [&](uint16_t a, uint16_t b, uint16_t) { link::set_port_vlan(s, index, false, a, b, 0); });
  for_each_run(on, [&](uint16_t a, uint16_t b, uint16_t flags) { link::set_port_vlan(s, index, true, a, b, flags); });
}

nlohmann::json vlans_json(const link::PortVlans& v) {
  nlohmann::json ids = nlohmann::json::array();
  for (auto [id, untagged] : v.vids) ids.push_back({id, untagged});
  nlohmann::json j = {{"vids", ids}};
  if (v.pvid) j["pvid"] = *v.pvid;
  return j;
}

link::PortVlans vlans_from(const nlohmann::json& j) {
  link::PortVlans v;
  for (auto& e : j.value("vids", nlohmann::json::array())) v.vids[e.at(0).get<uint16_t>()] = e.at(1).get<bool>();
  if (j.contains("pvid")) v.pvid = j["pvid"].get<uint16_t>();
  return v;
}

}  // namespace

Inspection inspect(Txn& txn, const Vlans& v) {
  NsSocket& s = txn.open(v.ns);
  auto l = link::find(s.rtnl, v.name);
  if (!l) return Inspection::missing();
  const link::PortVlans have = link::port_vlans(s.rtnl, l->index), want = wanted(v);
  if (have == want) return Inspection::of(l->index, {});
  return Inspection::of(l->index, {fmt::format("VLANs {} (want {})", link::describe(have), link::describe(want))});
}

void apply(Txn& txn, const Vlans& v) {
  NsSocket& s = txn.open(v.ns);
  const int index = index_of(s, v.name);
  const link::PortVlans have = link::port_vlans(s.rtnl, index);
  const size_t i = txn.make({.kind = "port-vlans", .ns = txn.ref(s), .name = v.name, .ifindex = index, .saved = vlans_json(have)},
                            [&] { set_exactly(s.rtnl, index, have, wanted(v)); });
  txn.done(i, index);
}

void repair(Txn& txn, const Vlans& v) {
  NsSocket& s = txn.open(v.ns);
  const int index = index_of(s, v.name);
  set_exactly(s.rtnl, index, link::port_vlans(s.rtnl, index), wanted(v));
}

Removal remove_vlans(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  auto l = recorded_link(*s, m, "", &replaced);
  if (!l) return replaced ? Removal::replaced : Removal::absent;  // a link that is gone took its VLANs along
  set_exactly(s->rtnl, l->index, link::port_vlans(s->rtnl, l->index), vlans_from(m.saved));
  return Removal::removed;
}

}  // namespace ctnet::kinds::port
