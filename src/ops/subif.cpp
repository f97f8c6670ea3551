#include "ops/subif.h"

#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "addr/address.h"
#include "addr/route.h"
#include "kinds/address.h"
#include "kinds/txn.h"
#include "link/link.h"
#include "ops/rollback.h"
#include "util/error.h"
#include "util/names.h"
#include "util/english.h"

namespace ctnet::ops {

void validate(const SubifSpec& spec) {
  kinds::subif::validate({.kind = spec.kind, .parent = spec.parent, .name = spec.name, .macvlan_mode = spec.macvlan_mode,
                          .mac = spec.mac, .mtu = spec.mtu}, "--");
  if (spec.mtu) {
    bool v6 = std::any_of(spec.addresses.begin(), spec.addresses.end(), [](const Prefix& p) { return p.address().is_v6(); });
    validate_mtu(spec.mtu, "--mtu", v6);
  }
  if (spec.gateway && spec.default_route_dev)
    throw InvalidInput("--gw", "give either a gateway or a device default route, not both");
  if (spec.gateway) {
    bool reachable = false;
    for (auto& a : spec.addresses)
      if (a.family() == spec.gateway->family() && a.contains(*spec.gateway)) reachable = true;
    if (!reachable)
      throw InvalidInput("--gw", fmt::format("{} is not inside any address given with --addr", spec.gateway->str()));
  }
  std::set<Prefix> seen;
  for (auto& a : spec.addresses)
    if (!seen.insert(a).second) throw InvalidInput("--addr", fmt::format("{} is given twice", a.str()));
}

namespace {
kinds::route::Spec default_route(const std::string& ns, int index, int family, const std::optional<IpAddress>& gw) {
  return {.ns = ns, .route = {.dst = addr::default_route(family), .gateway = gw, .oif = index}};
}

// What the kernel made (the MAC of a macvlan it chose itself).
SubifResult describe(kinds::Txn& txn, const std::string& ns, int index) {
  auto l = link::find(txn.open(ns).rtnl, index);
  if (!l) throw Error(fmt::format("link {} vanished while it was being set up", index), ENODEV);
  return {l->name, l->index, l->mtu, l->mac};
}
}  // namespace

SubifResult add_subif(const std::string& host, const std::string& target, const SubifSpec& spec) {
  validate(spec);
  NetnsArg::parse(target, "NS");
  kinds::subif::require_driver(spec.kind);
  kinds::Txn txn;
  SubifResult r;
  try {
    auto made = kinds::subif::apply(txn, {.kind = spec.kind, .parent_ns = host, .parent = spec.parent, .ns = target,
                                          .name = spec.name, .macvlan_mode = spec.macvlan_mode, .ipvlan_mode = spec.ipvlan_mode,
                                          .ipvlan_flag = spec.ipvlan_flag, .mac = spec.mac, .mtu = spec.mtu}, "--");
    for (auto& a : spec.addresses)
      kinds::address::apply(txn, {.ns = target, .ifname = spec.name, .ifindex = made.index, .prefix = a});
    if (spec.gateway) kinds::route::apply(txn, default_route(target, made.index, spec.gateway->family(), spec.gateway));
    if (spec.default_route_dev) {
      std::set<int> families;
      for (auto& a : spec.addresses) families.insert(a.family());
      if (families.empty()) families.insert(AF_INET);
      for (int f : families) kinds::route::apply(txn, default_route(target, made.index, f, std::nullopt));
    }
    r = describe(txn, target, made.index);
  } catch (...) {
    rollback_and_rethrow(txn);
  }
  txn.commit();
  return r;
}

bool remove_subif(const std::string& ns, SubifKind kind, const std::string& name) {
  validate_ifname(name, "--name");
  if (!ns.empty()) NetnsArg::parse(ns, "NS");
  kinds::Txn txn;  // makes nothing: it lends the remove its socket
  NsSocket& s = txn.open(ns);
  auto l = link::find(s.rtnl, name);
  if (!l) return false;
  if (l->kind != to_string(kind))
    throw Error(fmt::format("link '{}' in namespace '{}' is {}, not {}: not removing it", name, s.ns.label(),
                            article(l->kind.empty() ? "device" : l->kind), article(to_string(kind))),
                EINVAL);
  const kinds::Made m{.kind = std::string(to_string(kind)), .ns = txn.ref(s), .name = name, .ifindex = l->index};
  return kinds::remove(txn, m) == kinds::Removal::removed;
}

std::string default_shim_name(const std::string& parent) { return ("shim-" + parent).substr(0, 15); }

SubifResult add_shim(const std::string& host, const ShimSpec& spec) {
  validate_ifname(spec.parent, "--parent");
  const std::string name = spec.name.empty() ? default_shim_name(spec.parent) : spec.name;
  validate_ifname(name, "--name");
  for (auto& r : spec.routes)
    if (r.family() != spec.address.family())
      throw InvalidInput("--route", fmt::format("{} is not of the family of {}", r.str(), spec.address.str()));
  kinds::subif::require_driver(spec.kind);
  kinds::Txn txn;
  SubifResult res;
  try {
    // Born in the host next to its parent; the temporary name and the rename cost nothing here and keep one way
    // of making a sub-interface.
    auto made = kinds::subif::apply(txn, {.kind = spec.kind, .parent_ns = host, .parent = spec.parent, .ns = host,
                                          .name = name}, "--");
    kinds::address::apply(txn, {.ns = host, .ifname = name, .ifindex = made.index, .prefix = spec.address});
    for (auto& p : spec.routes)
      kinds::route::apply(txn, {.ns = host, .route = {.dst = p.network(), .oif = made.index}});
    res = describe(txn, host, made.index);
  } catch (...) {
    rollback_and_rethrow(txn);
  }
  txn.commit();
  return res;
}


std::vector<MacvlanParent> macvlan_parents(NsSocket& host) {
  std::map<int, MacvlanParent> by_parent;
  std::map<int, std::string> names;
  for (auto& l : link::list(host.rtnl)) names[l.index] = l.name;
  for (auto& l : link::list(host.rtnl))
    if (l.kind == "macvlan" && l.parent && !l.link_netnsid) by_parent[l.parent].shims.push_back(l.name);
  for (auto& ns_name : NetNs::list_named()) {
    try {
      NsSocket ns = NsSocket::named(ns_name);
      if (ns.ns.same_as(host.ns)) continue;
      auto id = nsid_of(ns.rtnl, host.ns);
      if (!id) continue;  // no link of that namespace refers to the host
      for (auto& l : link::list(ns.rtnl))
        if (l.kind == "macvlan" && l.link_netnsid == *id && names.count(l.parent))
          by_parent[l.parent].children.push_back(ns_name + "/" + l.name);
    } catch (const Error&) {
      // a namespace deleted while we looked: nothing to report about it
    }
  }
  std::vector<MacvlanParent> out;
  for (auto& [index, p] : by_parent) {
    if (p.children.empty()) continue;
    p.parent = names[index];
    std::sort(p.children.begin(), p.children.end());
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace ctnet::ops
