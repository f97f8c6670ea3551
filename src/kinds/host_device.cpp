#include "kinds/host_device.h"

#include <fmt/format.h>

#include "kinds/link_kind.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::host_device {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.device, p + "device");
  if (!s.name.empty()) validate_ifname(s.name, p + "name");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
  if (s.mac && (s.mac->bytes[0] & 1)) throw InvalidInput(p + "mac", fmt::format("{} is a multicast address", s.mac->str()));
}

int apply(Txn& txn, const Spec& spec) {
  NsSocket& host = txn.open(spec.host_ns);
  NsSocket& target = txn.open(spec.ns);
  const std::string name = spec.name.empty() ? spec.device : spec.name;
  link::Link dev = link::get(host.rtnl, spec.device, host.ns.label());
  if (&host == &target) throw Error(fmt::format("cannot move {}: it is already in namespace '{}'", spec.device, host.ns.label()), EINVAL);
  nlohmann::json saved = {{"device", spec.device}, {"host", to_json(txn.ref(host))}, {"mtu", dev.mtu}};
  if (dev.mac) saved["mac"] = dev.mac->str();
  link::Change move{.up = false, .name = name, .netns_fd = target.ns.fd()};
  if (spec.alias_old_name && dev.alias != spec.device) {
    saved["alias"] = dev.alias;
    move.alias = spec.device;  // do_setlink() moves the device first, then applies the rest there
  }
  size_t i = txn.make({.kind = "host-device", .ns = txn.ref(target), .name = name, .saved = saved}, [&] {
    link::change(host.rtnl, dev.index, move, fmt::format("cannot move {} into namespace '{}'", spec.device, target.ns.label()));
  });
  int index = index_of(target, name);
  txn.done(i, index);
  link::Change c;
  if (spec.up) c.up = true;
  if (spec.mtu && spec.mtu != dev.mtu) c.mtu = spec.mtu;
  if (spec.mac) c.mac = spec.mac;
  if (c.up || c.mtu || c.mac) link::change(target.rtnl, index, c, fmt::format("cannot configure {} in '{}'", name, target.ns.label()));
  return index;
}

Inspection inspect(Txn& txn, const Spec& spec) {
  auto l = link::find(txn.open(spec.ns).rtnl, spec.name.empty() ? spec.device : spec.name);
  if (!l) return Inspection::missing();
  return Inspection::of(l->index, compare_link(*l, "", spec.mtu, -1));
}

void repair(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto l = link::find(s.rtnl, spec.name.empty() ? spec.device : spec.name);
  if (!l) {
    apply(txn, spec);
    return;
  }
  if (spec.up && !l->is_up()) link::change(s.rtnl, l->index, {.up = true}, "cannot bring up " + l->name);
}

std::string move_back(NsSocket& from, int index, NsSocket& host, const std::string& old_name) {
  const std::string what = fmt::format("cannot move {} back to namespace '{}'", old_name, host.ns.label());
  auto inside = link::find(from.rtnl, index);
  if (!inside) throw Error(fmt::format("{}: link {} is not in namespace '{}'", what, index, from.ns.label()), ENODEV);
  nl::Message m = link::change_request(index, {.up = false, .name = old_name, .netns_fd = host.ns.fd()});
  std::string text;
  int err = from.rtnl.try_ack(m, &text);
  if (!err) return old_name;
  if (err != EEXIST) throw Error(what, err, text);
  // The old name was taken meanwhile: come back under a temporary one rather than stay in the namespace. The
  // kernel moves a link under its current name when that is free there and renames it afterwards
  // (net/core/rtnetlink.c: do_setlink), so the move may have happened and only the rename failed.
  const std::string tmp = link::temporary_name("ctr");
  if (auto l = link::find(from.rtnl, index); l && l->name == inside->name) {
    link::change(from.rtnl, index, {.up = false, .name = tmp, .netns_fd = host.ns.fd()}, what);
    return tmp;
  }
  auto arrived = link::find(host.rtnl, inside->name);
  if (!arrived) throw Error(fmt::format("{}: it left '{}' as {} but is not there", what, from.ns.label(), inside->name), ENODEV);
  link::change(host.rtnl, arrived->index, {.up = false, .name = tmp}, what);
  return tmp;
}

namespace {
// Its name in the host namespace: the record's, else the alias it carries (alias_old_name), else its name now.
std::string old_name(const Made& m, const link::Link& l) {
  if (auto d = m.saved.value("device", ""); !d.empty()) return d;
  return is_valid_ifname(l.alias) ? l.alias : m.name;
}
}  // namespace

Removal remove(Txn& txn, const Made& m) {
  NsSocket* host = txn.reopen(ns_ref_from_json(m.saved.at("host")));
  if (!host) throw Error(fmt::format("cannot return {}: the namespace it came from is gone", m.saved.value("device", m.name)), ENOENT);
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  std::string device, back_as;
  if (s) {
    auto l = recorded_link(*s, m, "", &replaced);
    if (!l) l = link::find(s->rtnl, m.name);  // a physical device may have been re-indexed by the move
    if (!l) return Removal::absent;
    device = old_name(m, *l);
    back_as = move_back(*s, l->index, *host, device);
  } else {
    // The namespace is gone: the kernel returned a physical device to the initial namespace by itself
    // (net/core/dev.c: default_device_exit_net), under the name it had inside. A link of that name here is
    // renamed back only when it provably is the device (the host may have its own eth0): its ifindex (kept by
    // the move when free), the MAC it left with, or the alias naming its recorded old name.
    auto l = link::find(host->rtnl, m.name);
    if (!l) return Removal::absent;
    const std::string recorded = m.saved.value("device", "");
    const auto left_with = MacAddress::try_parse(m.saved.value("mac", ""));
    const bool same = (m.ifindex && l->index == m.ifindex) || (left_with && l->mac == left_with) ||
                      (!recorded.empty() && l->alias == recorded);
    if (!same) return Removal::absent;
    device = back_as = old_name(m, *l);
    if (m.name == device) return Removal::absent;
    link::change(host->rtnl, l->index, {.name = device}, fmt::format("cannot rename {} back to {}", m.name, device));
  }
  // Its settings as they were before it moved (looked up only when the record has some).
  const uint32_t mtu = m.saved.value("mtu", 0u);
  const auto mac = MacAddress::try_parse(m.saved.value("mac", ""));
  const bool alias = m.saved.contains("alias");
  if (!mtu && !mac && !alias) return Removal::removed;
  if (auto back = link::find(host->rtnl, back_as)) {
    link::Change c;
    if (mtu && back->mtu != mtu) c.mtu = mtu;
    if (mac && back->mac != mac) c.mac = mac;
    if (alias && back->alias != m.saved["alias"].get<std::string>()) c.alias = m.saved["alias"].get<std::string>();
    if (c.mtu || c.mac || c.alias)
      link::change(host->rtnl, back->index, c, fmt::format("cannot restore the settings of {}", device));
  }
  return Removal::removed;
}

}  // namespace ctnet::kinds::host_device
