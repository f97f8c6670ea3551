#include "kinds/vrf.h"

#include <fmt/format.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <set>

#include "addr/address.h"
#include "addr/rule.h"
#include "kinds/address.h"
#include "kinds/link_kind.h"
#include "kinds/rule.h"
#include "link/macvlan.h"
#include "util/error.h"
#include "util/names.h"
#include "util/english.h"

namespace ctnet::kinds::vrf {

using nlohmann::json;

void validate(const Spec& s, const std::string& p) { validate_ifname(s.name, p + "vrfname"); }

void require_driver() {
  if (!link::kernel_has_link_kind("vrf"))
    throw Error("this kernel has no VRF driver (CONFIG_NET_VRF): load the vrf module", EOPNOTSUPP);
}

namespace {

std::optional<link::Vrf> find_vrf(NsSocket& s, const std::string& name) {
  for (auto& v : link::list_vrfs(s.rtnl))
    if (v.name == name) return v;
  return std::nullopt;
}

// The kernel adds an IPv6 address's local route (table local, or the VRF's) once the address is usable (after
// DAD, at once without): routes with it as their source need that. Waits as the reference does (about 2.5 s).
void wait_for_local_route(NsSocket& s, int index, const IpAddress& a, uint32_t table) {
  for (int k = 0;; ++k) {
    for (const auto& r : addr::list_routes(s.rtnl, AF_INET6, table, true))
      if (r.oif == index && r.dst.length() == 128 && r.dst.address() == a) return;
    if (k == 8) throw Error(fmt::format("address {} got no local route in table {} in '{}'", a.str(), table, s.ns.label()), ETIMEDOUT);
    ::usleep(10000u << k);
  }
}

json address_json(const addr::Address& a) { return {{"prefix", a.prefix.str()}, {"flags", a.flags}}; }

// The saved IPv6 addresses the link lacks now, added again (with their DAD and prefix-route flags).
void put_back_addresses(NsSocket& s, int index, const json& saved, uint32_t table) {
  const auto now = addr::list(s.rtnl, index, AF_INET6);
  for (const auto& j : saved) {
    auto p = Prefix::try_parse(j.value("prefix", ""));
    if (!p) throw Error("a vrf-port record has an unreadable address", EINVAL);
    bool there = false;
    for (const auto& a : now) there = there || a.prefix == *p;
    if (there) continue;
    const uint32_t flags = j.value("flags", 0u);
    nl::Message m = addr::add_request(index, *p, {.dad = !(flags & IFA_F_NODAD), .prefix_route = !(flags & IFA_F_NOPREFIXROUTE)});
    std::string text;
    if (int err = s.rtnl.try_ack(m, &text); err && err != EEXIST)
      throw Error(fmt::format("cannot restore address {} in '{}'", p->str(), s.ns.label()), err, text);
    wait_for_local_route(s, index, p->address(), table);
  }
}

}  // namespace

link::Vrf ensure(Txn& txn, const Spec& spec) {
  validate(spec);
  NsSocket& s = txn.open(spec.ns);
  NsLock lock = rule::lock_tables(s);  // the free table stays free until the VRF holds it
  auto check = [&](const link::Vrf& v) {
    if (spec.table && v.table != spec.table)
      throw Conflict(fmt::format("VRF {} exists already in '{}' with routing table {} (the configuration's table is {})", v.name,
                                 s.ns.label(), v.table, spec.table));
    return v;
  };
  const auto vrfs = link::list_vrfs(s.rtnl);
  std::set<uint32_t> taken;
  for (const auto& v : vrfs) {
    if (v.name == spec.name) return check(v);
    taken.insert(v.table);
  }
  if (auto l = link::find(s.rtnl, spec.name))
    throw Conflict(fmt::format("'{}' in '{}' is {} link, not a VRF", spec.name, s.ns.label(), article(l->kind.empty() ? "device" : l->kind)));
  const uint32_t table = spec.table ? spec.table : addr::first_free_table(s.rtnl, 1, taken);
  nl::Message m = link::vrf_request(spec.name, table);
  int err = 0;
  std::string text;
  const size_t i = txn.make({.kind = "vrf", .ns = txn.ref(s), .name = spec.name, .saved = {{"table", table}}}, [&] {
    err = s.rtnl.try_ack(m, &text);
    if (err && err != EEXIST) throw Error(fmt::format("cannot create VRF {} in '{}'", spec.name, s.ns.label()), err, text);
  });
  if (err == EEXIST) {  // made by someone else since we looked (not under our lock): use it, it is not ours
    txn.discard(i);
    if (auto v = find_vrf(s, spec.name)) return check(*v);
    throw Conflict(fmt::format("'{}' in '{}' is not a VRF", spec.name, s.ns.label()));
  }
  const int index = index_of(s, spec.name);
  txn.done(i, index);
  bring_up(s, index, spec.name);
  return {index, spec.name, table};
}

Made record(Txn& txn, NsSocket& s, const std::string& name) { return {.kind = "vrf", .ns = txn.ref(s), .name = name}; }

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  std::optional<link::Link> v;
  if (m.ifindex) v = recorded_link(*s, m, "vrf", &replaced);
  else if (auto l = link::find(s->rtnl, m.name); l && l->kind == "vrf") v = l;
  if (!v) return replaced ? Removal::replaced : Removal::absent;
  for (const auto& l : link::list(s->rtnl))
    if (l.master == v->index) return Removal::replaced;  // a link is still in it: it stays
  Made exact = m;
  exact.ifindex = v->index;
  return remove_created_link(txn, exact, "vrf");
}

void enslave(Txn& txn, const PortSpec& spec, const link::Vrf& vrf) {
  NsSocket& s = txn.open(spec.ns);
  const link::Link l = link::get(s.rtnl, spec.name, s.ns.label());
  if (l.master) {
    auto m = link::find(s.rtnl, l.master);
    throw Conflict(fmt::format("interface {} in '{}' has a master already: {}", spec.name, s.ns.label(), m ? m->name : "?"));
  }
  json addresses = json::array();
  for (const auto& a : addr::list(s.rtnl, l.index, AF_INET6))
    if (a.scope == RT_SCOPE_UNIVERSE) addresses.push_back(address_json(a));
  std::vector<addr::Route> routes;
  json saved_routes = json::array();
  for (const auto& r : addr::list_routes(s.rtnl, AF_UNSPEC, RT_TABLE_MAIN))
    if (r.oif == l.index && r.scope.value_or(RT_SCOPE_UNIVERSE) == RT_SCOPE_UNIVERSE) {
      routes.push_back(r);
      saved_routes.push_back(route::to_json(r));
    }
  const size_t i = txn.make({.kind = "vrf-port", .ns = txn.ref(s), .name = spec.name, .ifindex = l.index,
                             .saved = {{"vrf", vrf.name}, {"addresses", addresses}, {"routes", saved_routes}}},
                            [&] {
                              link::change(s.rtnl, l.index, {.master = vrf.index},
                                           fmt::format("cannot enslave {} to VRF {} in '{}'", spec.name, vrf.name, s.ns.label()));
                            });
  txn.done(i, l.index);
  put_back_addresses(s, l.index, addresses, vrf.table);
  // The routes, now in the VRF's table. One of another link there with the same key stays (the first one wins).
  const auto there = addr::list_routes(s.rtnl, AF_UNSPEC, vrf.table);
  for (addr::Route r : routes) {
    r.table = vrf.table;
    bool others = false;
    for (const auto& x : there) others = others || (addr::same_key(x, r) && x.oif != l.index);
    route::apply(txn, {.ns = spec.ns, .route = r, .dev = spec.name, .may_exist = others, .replace = !others});
  }
}

Made port_record(Txn& txn, NsSocket& s, const std::string& vrf, const std::string& name) {
  return {.kind = "vrf-port", .ns = txn.ref(s), .name = name, .saved = {{"vrf", vrf}}};
}

Removal remove_port(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  std::optional<link::Link> l = m.ifindex ? recorded_link(*s, m, "", &replaced) : link::find(s->rtnl, m.name);
  if (!l) return replaced ? Removal::replaced : Removal::absent;
  auto master = l->master ? link::find(s->rtnl, l->master) : std::nullopt;
  if (!master || master->kind != "vrf" || master->name != m.saved.value("vrf", "")) return Removal::absent;  // not its port now
  link::change(s->rtnl, l->index, {.master = 0}, fmt::format("cannot release {} from VRF {} in '{}'", m.name, master->name, s->ns.label()));
  // Back in the main table: what the kernel dropped when it cycled the link (a rollback's record has it).
  put_back_addresses(*s, l->index, m.saved.value("addresses", json::array()), RT_TABLE_LOCAL);
  for (const auto& j : m.saved.value("routes", json::array())) {
    const addr::Route r = route::route_from_json(j);
    nl::Message req = addr::append_request(r);
    std::string text;
    if (int err = s->rtnl.try_ack(req, &text); err && err != EEXIST)
      throw Error(fmt::format("cannot put back route {} in '{}'", r.str(), s->ns.label()), err, text);
  }
  return Removal::removed;
}

}  // namespace ctnet::kinds::vrf
