#include "kinds/subif.h"

#include <fmt/format.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include "kinds/link_kind.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::subif {

std::string_view to_string(Kind k) { return k == Kind::macvlan ? "macvlan" : k == Kind::ipvlan ? "ipvlan" : "vlan"; }

namespace {
std::string_view module_of(Kind k) { return k == Kind::vlan ? "8021q" : to_string(k); }
std::string_view config_of(Kind k) { return k == Kind::macvlan ? "MACVLAN" : k == Kind::ipvlan ? "IPVLAN" : "VLAN_8021Q"; }
}  // namespace

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.parent, p + "parent");
  validate_ifname(s.name, p + "name");
  if (s.kind != Kind::macvlan && s.mac)
    throw InvalidInput(p + "mac", fmt::format("an {} child shares its parent's MAC address; only macvlan takes one", to_string(s.kind)));
  if (s.kind == Kind::vlan && (s.vlan_id < 1 || s.vlan_id > 4094))
    throw InvalidInput(p + "vlanId", fmt::format("{} is not a VLAN ID between 1 and 4094", s.vlan_id));
  if (s.kind == Kind::macvlan && s.macvlan_mode == link::MacvlanMode::source)
    throw InvalidInput(p + "mode", "macvlan mode 'source' needs a list of source MACs, which ctnet does not manage");
  if (s.mac && (s.mac->bytes[0] & 1)) throw InvalidInput(p + "mac", fmt::format("{} is a multicast address", s.mac->str()));
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
}

bool kernel_has_driver(Kind k) { return link::kernel_has_link_kind(module_of(k)); }

void require_driver(Kind k) {
  if (!kernel_has_driver(k))
    throw Error(fmt::format("this kernel has no {} driver (CONFIG_{}): load the {} module{}", to_string(k), config_of(k),
                            module_of(k), k == Kind::ipvlan ? ", or use macvlan" : ""),
                EOPNOTSUPP);
}

Result apply(Txn& txn, const Spec& spec, const std::string& p) {
  NsSocket& host = txn.open(spec.parent_ns);
  NsSocket& target = txn.open(spec.ns);
  const auto kind = to_string(spec.kind);
  link::Link parent = link::get(host.rtnl, spec.parent, host.ns.label());
  // Said before anything is made (the kernel would only refuse the rename, after the child exists).
  if (ifreq ifr{}; spec.name.size() < sizeof ifr.ifr_name) {
    std::memcpy(ifr.ifr_name, spec.name.data(), spec.name.size());
    if (::ioctl(target.rtnl.fd(), SIOCGIFINDEX, &ifr) == 0)
      throw Error(fmt::format("a link named '{}' already exists in namespace '{}'", spec.name, target.ns.label()), EEXIST);
  }
  if (spec.mtu > parent.mtu)
    throw InvalidInput(p + "mtu", fmt::format("{} is larger than the MTU {} of parent '{}'", spec.mtu, parent.mtu, spec.parent));
  if (spec.mac && parent.mac && *spec.mac == *parent.mac)
    throw InvalidInput(p + "mac", fmt::format("{} is the MAC address of parent '{}'", spec.mac->str(), spec.parent));
  link::SubInterfaceSpec sub{.name = link::temporary_name("ctt"), .parent = parent.index, .mtu = spec.mtu ? spec.mtu : parent.mtu,
                             .mac = spec.mac};
  if (&host != &target) sub.netns_fd = target.ns.fd();
  size_t i = txn.make({.kind = std::string(kind), .ns = txn.ref(target), .name = spec.name, .saved = {{"tmp", sub.name}}}, [&] {
    if (spec.kind == Kind::macvlan) link::create_macvlan(host.rtnl, sub, spec.macvlan_mode);
    else if (spec.kind == Kind::ipvlan) link::create_ipvlan(host.rtnl, sub, spec.ipvlan_mode, spec.ipvlan_flag);
    else link::create_vlan(host.rtnl, sub, spec.vlan_id);
  });
  const int index = index_of(target, sub.name);
  txn.done(i, index);
  // Renamed only inside the target namespace; do_setlink() renames before it changes flags, so with
  // link-locals on, one request renames and brings it up under its final name.
  link::change(target.rtnl, index, {.up = spec.up && spec.link_local ? std::optional(true) : std::nullopt, .name = spec.name},
               fmt::format("cannot rename {} {} to '{}' in namespace '{}'", kind, sub.name, spec.name, target.ns.label()));
  if (spec.up && !spec.link_local) bring_up(target, index, spec.name, false);
  return {index, sub.mtu, spec.kind == Kind::macvlan ? std::nullopt : parent.mac};
}

Inspection inspect(Txn& txn, const Spec& spec) {
  auto l = link::find(txn.open(spec.ns).rtnl, spec.name);
  if (!l) return Inspection::missing();
  return Inspection::of(l->index, compare_link(*l, to_string(spec.kind), spec.mtu, -1));
}

void repair(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto l = link_to_repair(s, spec.name, to_string(spec.kind));
  if (!l) apply(txn, spec);
  else if (spec.up && !l->is_up()) bring_up(s, l->index, spec.name, spec.link_local);
}

Removal remove_macvlan(Txn& txn, const Made& m) { return remove_created_link(txn, m, "macvlan"); }
Removal remove_ipvlan(Txn& txn, const Made& m) { return remove_created_link(txn, m, "ipvlan"); }
Removal remove_vlan(Txn& txn, const Made& m) { return remove_created_link(txn, m, "vlan"); }

}  // namespace ctnet::kinds::subif
