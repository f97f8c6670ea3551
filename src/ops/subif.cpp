#include "ops/subif.h"

#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <linux/net_namespace.h>

#include <algorithm>
#include <map>
#include <set>

#include "addr/address.h"
#include "addr/route.h"
#include "link/link.h"
#include "ops/undo.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::ops {

std::string_view to_string(SubifKind k) { return k == SubifKind::macvlan ? "macvlan" : "ipvlan"; }

void validate(const SubifSpec& spec) {
  validate_ifname(spec.parent, "--parent");
  validate_ifname(spec.name, "--name");
  if (spec.kind == SubifKind::ipvlan && spec.mac)
    throw InvalidInput("--mac", "an ipvlan child shares its parent's MAC address; only macvlan takes one");
  if (spec.kind == SubifKind::macvlan && spec.macvlan_mode == link::MacvlanMode::source)
    throw InvalidInput("--mode", "macvlan mode 'source' needs a list of source MACs, which ctnet does not manage");
  if (spec.mac && (spec.mac->bytes[0] & 1))
    throw InvalidInput("--mac", fmt::format("{} is a multicast address", spec.mac->str()));
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

bool kernel_knows_kind(SubifKind kind) { return link::kernel_has_link_kind(to_string(kind)); }

void require_driver(SubifKind kind) {
  auto k = to_string(kind);
  if (!kernel_knows_kind(kind))
    throw Error(fmt::format("this kernel has no {0} driver: load the {0} module", k), EOPNOTSUPP);
}

namespace {
void add_default_route(nl::Socket& s, int index, int family, const std::optional<IpAddress>& gw) {
  addr::Route r;
  r.dst = addr::default_route(family);
  r.oif = index;
  r.gateway = gw;
  addr::add(s, r);
}

SubifResult describe(nl::Socket& s, int index) {
  auto l = link::find(s, index);
  if (!l) throw Error(fmt::format("link {} vanished while it was being set up", index), ENODEV);
  return {l->name, l->index, l->mtu, l->mac};
}
}  // namespace

SubifResult add_subif(NsSocket& host, NsSocket& target, const SubifSpec& spec) {
  validate(spec);
  require_driver(spec.kind);
  const auto kind = to_string(spec.kind);
  link::Link parent = link::get(host.rtnl, spec.parent, host.ns.label());
  if (spec.mtu > parent.mtu)
    throw InvalidInput("--mtu", fmt::format("{} is larger than the MTU {} of parent '{}'", spec.mtu, parent.mtu, spec.parent));
  if (link::find(target.rtnl, spec.name))
    throw Error(fmt::format("a link named '{}' already exists in namespace '{}'", spec.name, target.ns.label()), EEXIST);

  UndoLog undo;
  link::SubInterfaceSpec sub;
  sub.name = link::temporary_name(spec.kind == SubifKind::macvlan ? "mvtm" : "ivtm");
  sub.parent = parent.index;
  sub.netns_fd = target.ns.fd();
  sub.mtu = spec.mtu ? spec.mtu : parent.mtu;
  sub.mac = spec.mac;
  if (spec.kind == SubifKind::macvlan)
    link::create_macvlan(host.rtnl, sub, spec.macvlan_mode);
  else
    link::create_ipvlan(host.rtnl, sub, spec.ipvlan_mode, spec.ipvlan_flag);
  const int index = link::get(target.rtnl, sub.name, target.ns.label()).index;
  undo.add(fmt::format("{} {} in {}", kind, spec.name, target.ns.label()), [&target, index] {
    if (auto l = link::find(target.rtnl, index)) link::remove(target.rtnl, l->name);
  });

  link::change(target.rtnl, index, {.name = spec.name},
               fmt::format("cannot rename {} {} to '{}' in namespace '{}'", kind, sub.name, spec.name, target.ns.label()));
  for (auto& a : spec.addresses) addr::add(target.rtnl, index, a, spec.name);
  link::change(target.rtnl, index, {.up = true}, fmt::format("cannot bring {} up", spec.name));
  if (spec.gateway) add_default_route(target.rtnl, index, spec.gateway->family(), spec.gateway);
  if (spec.default_route_dev) {
    std::set<int> families;
    for (auto& a : spec.addresses) families.insert(a.family());
    if (families.empty()) families.insert(AF_INET);
    for (int f : families) add_default_route(target.rtnl, index, f, std::nullopt);
  }
  SubifResult r = describe(target.rtnl, index);
  undo.commit();
  return r;
}

bool remove_subif(NsSocket& target, SubifKind kind, const std::string& name) {
  validate_ifname(name, "--name");
  auto l = link::find(target.rtnl, name);
  if (!l) return false;
  if (l->kind != to_string(kind))
    throw Error(fmt::format("link '{}' in namespace '{}' is a {}, not of kind {}: not removing it", name, target.ns.label(),
                            l->kind.empty() ? "device" : l->kind, to_string(kind)),
                EINVAL);
  return link::remove(target.rtnl, name);
}

std::string default_shim_name(const std::string& parent) { return ("shim-" + parent).substr(0, 15); }

SubifResult add_shim(NsSocket& host, const ShimSpec& spec) {
  validate_ifname(spec.parent, "--parent");
  const std::string name = spec.name.empty() ? default_shim_name(spec.parent) : spec.name;
  validate_ifname(name, "--name");
  for (auto& r : spec.routes)
    if (r.family() != spec.address.family())
      throw InvalidInput("--route", fmt::format("{} is not of the family of {}", r.str(), spec.address.str()));
  require_driver(spec.kind);
  link::Link parent = link::get(host.rtnl, spec.parent, host.ns.label());
  if (link::find(host.rtnl, name))
    throw Error(fmt::format("a link named '{}' already exists in namespace '{}'", name, host.ns.label()), EEXIST);

  UndoLog undo;
  link::SubInterfaceSpec sub;
  sub.name = name;  // the shim stays where it is born: no temporary name needed
  sub.parent = parent.index;
  sub.mtu = parent.mtu;
  if (spec.kind == SubifKind::macvlan)
    link::create_macvlan(host.rtnl, sub, link::MacvlanMode::bridge);
  else
    link::create_ipvlan(host.rtnl, sub, link::IpvlanMode::l2, link::IpvlanFlag::bridge);
  const int index = link::get(host.rtnl, name).index;
  undo.add(fmt::format("{} shim {}", to_string(spec.kind), name), [&host, index] {
    if (auto l = link::find(host.rtnl, index)) link::remove(host.rtnl, l->name);
  });
  addr::add(host.rtnl, index, spec.address, name);
  link::change(host.rtnl, index, {.up = true}, fmt::format("cannot bring {} up", name));
  for (auto& p : spec.routes) {
    addr::Route r;
    r.dst = p.network();
    r.oif = index;
    addr::add(host.rtnl, r);
  }
  SubifResult res = describe(host.rtnl, index);
  undo.commit();
  return res;
}

namespace {
// The id under which namespace `peer` is known inside the socket's namespace (IFLA_LINK_NETNSID of links whose
// parent lives there), or nullopt when none is assigned (RTM_GETNSID, net/core/net_namespace.c).
std::optional<int32_t> nsid_of(nl::Socket& s, const NetNs& peer) {
  nl::Message m(RTM_GETNSID, 0);
  m.put_header<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  m.put_u32(NETNSA_FD, static_cast<uint32_t>(peer.fd()));
  auto replies = s.query(m, "cannot read a namespace id");
  if (replies.empty()) return std::nullopt;
  auto id = nl::Attrs::of_message(replies.front().hdr(), sizeof(rtgenmsg)).s32(NETNSA_NSID);
  if (!id || *id < 0) return std::nullopt;
  return id;
}
}  // namespace

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
