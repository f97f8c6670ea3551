#include "kinds/vf.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <random>
#include <thread>

#include "kinds/address.h"
#include "kinds/host_device.h"
#include "kinds/link_kind.h"
#include "link/link.h"
#include "util/error.h"
#include "util/names.h"
#include "util/english.h"

namespace ctnet::kinds::vf {

using nlohmann::json;

namespace {

// Which allocation a record belongs to ("allocation" in each record's saved state; the "vf" record's own).
json owner(const sriov::Paths& p, const sriov::Allocation& a) {
  return {{"state_dir", p.state_dir}, {"sysfs", p.sysfs}, {"pci", a.pci}, {"id", a.id}};
}
sriov::Paths paths_of(const json& o) {
  sriov::Paths p;
  p.state_dir = o.value("state_dir", p.state_dir);
  p.sysfs = o.value("sysfs", p.sysfs);
  return p;
}
// The attach that made the record still holds the VF (not released since, nor attached again by another).
bool still_ours(const json& o) {
  auto a = sriov::allocation_of(paths_of(o), o.value("pci", ""));
  return a && a->id == o.value("id", "");
}

std::string new_id() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

// A setting changed through the PF, with the value it replaces (read just before).
// `netdev_mac`: the VF netdev's own MAC when it is attached. With no administrative MAC set, igb reports the MAC
// the VF driver uses; putting that back would make it an administrative one, and the PF would then refuse every
// later MAC change from the VF ("VF N attempted to override administratively set MAC address"), the next
// attach's too: "none" (all zeros) is restored instead.
Made setting_record(NsRef host, const std::string& pf, int pf_index, const std::string& driver, uint32_t vf,
                    sriov::VfConfig cur, const sriov::VfSettings& part, std::optional<MacAddress> netdev_mac = {}) {
  if (netdev_mac && cur.mac == *netdev_mac) cur.mac = MacAddress{};
  return {.kind = "vf-setting", .ns = std::move(host), .name = pf, .ifindex = pf_index,
          .saved = {{"vf", vf}, {"driver", driver}, {"restore", sriov::to_json(sriov::restore_settings(cur, part))}}};
}

void merge(sriov::VfSettings& into, const sriov::VfSettings& part) {
  if (part.mac) into.mac = part.mac;
  if (part.vlan) into.vlan = part.vlan;
  if (part.qos) into.qos = part.qos;
  if (part.proto) into.proto = part.proto;
  if (part.spoofchk) into.spoofchk = part.spoofchk;
  if (part.trust) into.trust = part.trust;
  if (part.link_state) into.link_state = part.link_state;
  if (part.min_tx_rate) into.min_tx_rate = part.min_tx_rate;
  if (part.max_tx_rate) into.max_tx_rate = part.max_tx_rate;
}

// The VF the spec asks for, or the first free one.
const sriov::Vf& pick(const sriov::Pf& pf, const sriov::AttachSpec& spec, const std::vector<sriov::Allocation>& taken) {
  auto allocated = [&](const std::string& pci) -> const sriov::Allocation* {
    for (auto& r : taken)
      if (r.pci == pci) return &r;
    return nullptr;
  };
  if (!spec.vf && !spec.pci) {
    for (auto& v : pf.vfs)
      if (!allocated(v.pci) && !v.userspace() && v.netdev) return v;
    throw Error(fmt::format("{} has no free VF ({} enabled; set more with `ctnet sriov numvfs {} N`)", pf.name,
                            pf.num_vfs, pf.name),
                ENOSPC);
  }
  const std::string want_pci = spec.pci ? sriov::normalize_pci(*spec.pci, "--pci") : "";
  const sriov::Vf* vf = nullptr;
  for (auto& v : pf.vfs)
    if ((spec.vf && v.index == *spec.vf) || (spec.pci && v.pci == want_pci)) vf = &v;
  if (!vf)
    throw Error(spec.vf ? fmt::format("{} has no VF {} ({} enabled)", pf.name, *spec.vf, plural(pf.num_vfs, "VF"))
                        : fmt::format("{} is not a VF of {}", want_pci, pf.name),
                ENOENT);
  if (auto* r = allocated(vf->pci))
    throw Error(fmt::format("VF {} of {} ({}) is already attached to namespace '{}' as {}", vf->index, pf.name,
                            vf->pci, r->netns, r->name),
                EBUSY);
  if (vf->userspace())
    throw Error(fmt::format("VF {} of {} ({}) is bound to {}, a userspace (DPDK) driver: ctnet never moves it",
                            vf->index, pf.name, vf->pci, vf->driver),
                EBUSY);
  if (!vf->netdev)
    throw Error(fmt::format("VF {} of {} ({}) has no netdev in this namespace (driver '{}'): unbound, or moved "
                            "elsewhere by another tool",
                            vf->index, pf.name, vf->pci, vf->driver),
                ENODEV);
  return *vf;
}

// What differs between an attachment and its spec: the VF, and the VF's settings as the PF holds them.
std::vector<std::string> vf_differences(Txn& txn, const sriov::Allocation& a, const sriov::AttachSpec& spec) {
  std::vector<std::string> d;
  if (a.pf != spec.pf) d.push_back(fmt::format("is VF {} of {} (want one of {})", a.vf, a.pf, spec.pf));
  else if (spec.vf && *spec.vf != a.vf) d.push_back(fmt::format("is VF {} of {} (want VF {})", a.vf, a.pf, *spec.vf));
  else if (spec.pci && sriov::normalize_pci(*spec.pci, "--pci") != a.pci)
    d.push_back(fmt::format("is VF {} of {} (want {})", a.pci, a.pf, *spec.pci));
  if (!d.empty()) return d;
  NsSocket& host = txn.host();
  auto pf = link::find(host.rtnl, a.pf);
  if (!pf) return {fmt::format("its PF {} is gone", a.pf)};
  return sriov::differences(sriov::read(host.rtnl, pf->index, a.vf), spec.settings);
}

// The records release removes: those the attach wrote, or, in a record of an older ctnet that kept none, the
// same steps rebuilt from its fields (namespaces without identity, links by name).
std::vector<Made> records_of(Txn& txn, const sriov::Allocation& a, const sriov::Paths& paths) {
  std::vector<Made> r;
  for (auto& j : a.records) r.push_back(made_from_json(j));
  if (!r.empty()) return r;
  const json own = owner(paths, a);
  const NsRef host = txn.ref(txn.host());
  r.push_back({.kind = "vf", .ns = {.spec = a.netns}, .name = a.name, .saved = own, .done = true});
  for (auto& part : sriov::split(a.applied)) {
    Made m = setting_record(host, a.pf, 0, a.driver, a.vf, a.saved, part, a.host_mac);
    m.saved["allocation"] = own;
    if (part.mac && a.host_mac) m.saved["netdev_mac"] = a.host_mac->str();
    m.done = true;
    r.push_back(std::move(m));
  }
  r.push_back({.kind = "vf-netdev", .ns = {.spec = a.netns}, .name = a.name,
               .saved = {{"allocation", own}, {"host", to_json(host)}, {"host_name", a.host_name}}, .done = true});
  return r;
}

// The VF driver may keep its old MAC until the PF resets it: set the one asked for on the netdev too (as
// sriov-cni does), unless it is there already. igb refuses a VF's own MAC request while the PF holds an
// administrative MAC ("VF N attempted to override administratively set MAC address", igb_main.c), so igbvf
// answers EADDRNOTAVAIL; closing the netdev resets the VF (igbvf_down -> igbvf_reset), and the reset hands it
// the PF's MAC: one up/down, then wait for it.
void set_netdev_mac(NsSocket& s, int index, const std::string& name, const MacAddress& mac) {
  if (mac_of(s, name) == mac) return;
  const std::string what = fmt::format("cannot set the MAC of {} in namespace '{}'", name, s.ns.label());
  try {
    link::change(s.rtnl, index, {.mac = mac}, what);
  } catch (const Error& e) {
    if (e.errnum() != EADDRNOTAVAIL) throw;
    link::change(s.rtnl, index, {.up = true}, what);
    link::change(s.rtnl, index, {.up = false}, what);
    for (int i = 0; i < 200; ++i) {
      if (mac_of(s, name) == mac) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw;
  }
}

}  // namespace

void validate(const sriov::AttachSpec& s, const std::string& p) {
  validate_ifname(s.pf, p + "pf");
  validate_ifname(s.name, p + "name");
  sriov::validate(s.settings, p);
  if (s.settings.mac && s.settings.mac->bytes == std::array<uint8_t, 6>{})
    throw InvalidInput(p + "mac", "a VF handed to a namespace needs a real MAC, not 00:00:00:00:00:00");
  if (s.vf && s.pci) throw InvalidInput(p + "vf/" + p + "pci", "give a VF index or a PCI address, not both");
  if (s.pci) sriov::normalize_pci(*s.pci, p + "pci");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
  for (auto& a : s.addresses) address::validate({.prefix = a}, p + "addr");
  if (s.gateway) {
    bool ok = false;
    for (auto& a : s.addresses) ok |= a.family() == s.gateway->family() && a.contains(*s.gateway);
    if (!ok)
      throw InvalidInput(p + "gw", fmt::format("{} is not inside any address given with {}addr", s.gateway->str(), p));
  }
}

sriov::Allocation apply(Txn& txn, const sriov::AttachSpec& spec, const sriov::Paths& paths) {
  validate(spec);
  NsSocket& host = txn.host();
  NsSocket& target = txn.open(spec.netns);
  if (target.ns.same_as(host.ns)) throw InvalidInput("namespace", "the VF would stay in the host namespace");
  if (link::find(target.rtnl, spec.name))
    throw Error(fmt::format("a link named '{}' already exists in namespace '{}'", spec.name, spec.netns), EEXIST);
  sriov::Pf pf = sriov::pf_by_name(spec.pf, paths.sysfs);
  const int pf_index = link::get(host.rtnl, pf.name).index;
  const NsRef host_ref = txn.ref(host);

  // Each step goes into the allocation record before the kernel sees it: a release after a kill finds it.
  sriov::Allocation a;
  const size_t first = txn.made().size();
  auto save = [&] {
    a.records = json::array();
    for (size_t k = first; k < txn.made().size(); ++k) a.records.push_back(to_json(txn.made()[k]));
    sriov::write_allocation(paths, a);
  };

  // ---- the allocation, under the lock: from here on the record holds the VF ----
  link::Link vlink;
  json own;
  {
    Fd lock = sriov::lock_state(paths);
    const sriov::Vf& vf = pick(pf, spec, sriov::allocations(paths));
    vlink = link::get(host.rtnl, *vf.netdev);
    a.id = new_id();
    a.pf = pf.name;
    a.pf_pci = pf.pci;
    a.driver = pf.driver;
    a.vf = vf.index;
    a.pci = vf.pci;
    a.netns = spec.netns;
    a.name = spec.name;
    a.host_name = vlink.name;
    a.host_mac = vlink.mac;
    a.saved = sriov::read(host.rtnl, pf_index, vf.index);
    own = owner(paths, a);
    txn.done(txn.make({.kind = "vf", .ns = txn.ref(target), .name = spec.name, .saved = own}, save));
  }

  // ---- configured through the PF, one setting at a time, each with the value it replaces ----
  for (const auto& part : sriov::split(spec.settings)) {
    const sriov::VfConfig cur = sriov::read(host.rtnl, pf_index, a.vf);
    Made m = setting_record(host_ref, pf.name, pf_index, pf.driver, a.vf, cur, part, a.host_mac);
    m.saved["allocation"] = own;
    // attach sets the MAC on the netdev too (below); its release puts the netdev's own MAC back as well
    if (part.mac && a.host_mac) m.saved["netdev_mac"] = a.host_mac->str();
    txn.done(txn.make(std::move(m), [&] {
      save();
      sriov::apply(host.rtnl, pf_index, pf.name, pf.driver, cur, part);
    }));
    merge(a.applied, part);
  }

  // ---- into the namespace, renamed on arrival (its name there was checked free above) ----
  json moved = {{"allocation", own}, {"host", to_json(host_ref)}, {"host_name", vlink.name}};
  if (spec.mtu && spec.mtu != vlink.mtu) moved["mtu"] = vlink.mtu;
  size_t i = txn.make({.kind = "vf-netdev", .ns = txn.ref(target), .name = spec.name, .saved = moved}, [&] {
    save();
    link::change(host.rtnl, vlink.index, {.up = false, .name = spec.name, .netns_fd = target.ns.fd()},
                 fmt::format("cannot move VF netdev {} into namespace '{}'", vlink.name, spec.netns));
  });
  const int index = index_of(target, spec.name);
  txn.done(i, index);

  if (spec.settings.mac) set_netdev_mac(target, index, spec.name, *spec.settings.mac);
  if (spec.mtu)
    link::change(target.rtnl, index, {.mtu = spec.mtu}, fmt::format("cannot set the MTU of {} in namespace '{}'", spec.name, spec.netns));
  for (const Prefix& p : spec.addresses) address::apply(txn, {.ns = spec.netns, .ifname = spec.name, .ifindex = index, .prefix = p});
  bring_up(target, index, spec.name);
  if (spec.gateway) {
    addr::Route r;
    r.dst = Prefix(spec.gateway->is_v4() ? IpAddress::v4(0) : IpAddress::parse("::", "route"), 0);
    r.oif = index;
    r.gateway = spec.gateway;
    route::apply(txn, {.ns = spec.netns, .route = r, .dev = spec.name});
  }
  save();
  return a;
}

Inspection inspect(Txn& txn, const sriov::AttachSpec& spec, const sriov::Paths& paths) {
  auto a = sriov::allocation_by_name(paths, spec.netns, spec.name);
  if (!a) return Inspection::missing();
  auto l = link::find(txn.open(spec.netns).rtnl, spec.name);
  if (!l)
    return {Inspection::State::differs,
            {fmt::format("VF {} of {} is allocated to it, but its netdev is not there", a->vf, a->pf)}, 0};
  auto d = compare_link(*l, "", spec.mtu, -1);
  for (auto& x : vf_differences(txn, *a, spec)) d.push_back(x);
  return Inspection::of(l->index, d);
}

void repair(Txn& txn, const sriov::AttachSpec& spec, const sriov::Paths& paths) {
  auto a = sriov::allocation_by_name(paths, spec.netns, spec.name);
  NsSocket& s = txn.open(spec.netns);
  auto l = link::find(s.rtnl, spec.name);
  if (!a || !l || !vf_differences(txn, *a, spec).empty()) {
    if (a) release(txn, spec.netns, spec.name, paths);
    apply(txn, spec, paths);
    return;
  }
  link::Change c;
  if (spec.mtu && l->mtu != spec.mtu) c.mtu = spec.mtu;
  if (!l->is_up()) c.up = true;
  if (c.mtu || c.up) link::change(s.rtnl, l->index, c, fmt::format("cannot repair {} in namespace '{}'", spec.name, spec.netns));
}

Removal remove(Txn&, const Made& m) {
  const sriov::Paths p = paths_of(m.saved);
  const std::string pci = m.saved.value("pci", "");
  auto a = sriov::allocation_of(p, pci);
  if (!a) return Removal::absent;
  if (a->id != m.saved.value("id", "")) return Removal::replaced;
  // Held until the VF's netdev is back: a rollback that could not return it keeps the record for a detach.
  if (!sriov::wait_netdev(p, pci, 20))
    throw Error(fmt::format("the netdev of VF {} of {} ({}) is not back on the host: allocation record kept in {}",
                            a->vf, a->pf, pci, p.state_dir),
                ENODEV);
  sriov::remove_allocation(p, pci);
  return Removal::removed;
}

Removal remove_setting(Txn& txn, const Made& m) {
  const json own = m.saved.value("allocation", json());
  if (!own.is_null() && !still_ours(own)) return Removal::absent;
  const uint32_t vf = m.saved.value("vf", 0u);
  NsSocket* host = txn.reopen(m.ns);
  if (!host) throw Error(fmt::format("cannot restore VF {} of {}: the PF's namespace '{}' is gone", vf, m.name, m.ns.label()), ENOENT);
  bool replaced = false;
  auto pf = recorded_link(*host, m, "", &replaced);
  if (!pf) throw Error(fmt::format("cannot restore VF {} of {}: the PF is gone", vf, m.name), ENODEV);
  // A MAC of all zeros is how the PF reports "no administrative MAC"; writing it back clears ours (igb, ixgbe,
  // ice accept it for exactly that purpose).
  const sriov::VfSettings back = sriov::settings_from_json(m.saved.value("restore", json::object()));
  sriov::apply(host->rtnl, pf->index, pf->name, m.saved.value("driver", ""), sriov::read(host->rtnl, pf->index, vf), back);
  if (auto mac = MacAddress::try_parse(m.saved.value("netdev_mac", ""))) {
    auto dev = sriov::pci_netdev(own.value("pci", ""), paths_of(own).sysfs);
    auto l = dev ? link::find(host->rtnl, *dev) : std::nullopt;
    if (l && l->mac != mac) link::change(host->rtnl, l->index, {.mac = mac}, fmt::format("cannot restore the MAC of VF netdev {}", l->name));
  }
  return Removal::removed;
}

Removal remove_netdev(Txn& txn, const Made& m) {
  const json& own = m.saved.at("allocation");
  if (!still_ours(own)) return Removal::absent;
  const sriov::Paths p = paths_of(own);
  const std::string pci = own.value("pci", "");
  const std::string host_name = m.saved.value("host_name", m.name);
  NsSocket* host = txn.reopen(ns_ref_from_json(m.saved.at("host")));
  if (!host) throw Error(fmt::format("cannot return VF netdev {}: the namespace it came from is gone", host_name), ENOENT);
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  std::string back_as;
  if (s)
    if (auto l = recorded_link(*s, m, "", &replaced)) back_as = host_device::move_back(*s, l->index, *host, host_name);
  if (back_as.empty()) {
    // Not in the namespace: it never got there, or it went when the namespace was deleted (the kernel returns a
    // physical netdev to the host by itself, under its name inside: net/core/dev.c, default_device_exit_net).
    auto dev = sriov::wait_netdev(p, pci, s ? 1 : 100);
    if (!dev)
      throw Error(fmt::format("the netdev of VF {} ({}) is neither in namespace '{}' nor back on the host; "
                              "allocation record kept in {}",
                              m.name, pci, m.ns.label(), p.state_dir),
                  ENODEV);
    back_as = *dev;
    auto l = link::find(host->rtnl, back_as);
    if (l && back_as != host_name && !link::find(host->rtnl, host_name)) {
      link::change(host->rtnl, l->index, {.up = false, .name = host_name}, fmt::format("cannot rename {} back to {}", back_as, host_name));
      back_as = host_name;
    }
  }
  if (uint32_t mtu = m.saved.value("mtu", 0u))
    if (auto l = link::find(host->rtnl, back_as); l && l->mtu != mtu)
      link::change(host->rtnl, l->index, {.mtu = mtu}, fmt::format("cannot restore the MTU of {}", back_as));
  return Removal::removed;
}

bool release(Txn& txn, const std::string& ns, const std::string& name, const sriov::Paths& paths) {
  validate_ifname(name, "--name");
  Fd lock = sriov::lock_state(paths);
  auto a = sriov::allocation_by_name(paths, ns, name);
  if (!a) return false;
  std::vector<std::string> errors;
  auto records = records_of(txn, *a, paths);
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    try {
      kinds::remove(txn, *it);
    } catch (const std::exception& e) {
      // Until its netdev is back, the VF stays allocated (the record kept for another try); a setting the driver
      // does not take back is reported once the VF is released.
      if (it->kind == "vf-netdev" || it->kind == "vf") throw;
      errors.push_back(e.what());
    }
  }
  if (!errors.empty())
    throw Error(fmt::format("VF {} of {} released, but not everything was restored: {}", a->vf, a->pf,
                            fmt::join(errors, "; ")));
  return true;
}

Removal remove_attachment(Txn& txn, const Made& m) {
  if (m.ns.spec.empty()) return Removal::absent;  // DEL without a namespace path cannot name the allocation
  return release(txn, m.ns.spec, m.name) ? Removal::removed : Removal::absent;
}

sriov::VfConfig configure(Txn& txn, const std::string& pf_name, uint32_t vf, const sriov::VfSettings& settings,
                          const sriov::Paths& paths) {
  sriov::validate(settings);
  if (settings.empty()) throw InvalidInput("settings", "nothing to set");
  NsSocket& host = txn.host();
  sriov::Pf pf = sriov::pf_by_name(pf_name, paths.sysfs);
  const int pf_index = link::get(host.rtnl, pf.name).index;
  Fd lock = sriov::lock_state(paths);
  for (auto& r : sriov::allocations(paths))
    if (r.pf_pci == pf.pci && r.vf == vf)
      throw Error(fmt::format("VF {} of {} is attached to namespace '{}' as {}: its settings belong to that attachment",
                              vf, pf.name, r.netns, r.name),
                  EBUSY);
  bool known = false;
  for (auto& c : sriov::read_all(host.rtnl, pf_index)) known |= c.vf == vf;
  if (!known) throw Error(fmt::format("{} has no VF {}", pf.name, vf), ENOENT);
  for (const auto& part : sriov::split(settings)) {
    const sriov::VfConfig cur = sriov::read(host.rtnl, pf_index, vf);
    txn.done(txn.make(setting_record(txn.ref(host), pf.name, pf_index, pf.driver, vf, cur, part),
                      [&] { sriov::apply(host.rtnl, pf_index, pf.name, pf.driver, cur, part); }));
  }
  return sriov::read(host.rtnl, pf_index, vf);
}

}  // namespace ctnet::kinds::vf
