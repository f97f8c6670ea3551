#include "sriov/attach.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "addr/address.h"
#include "addr/route.h"
#include "link/link.h"
#include "ops/undo.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fd.h"
#include "util/names.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ctnet::sriov {

namespace {

// ---- records ----
json settings_json(const VfSettings& s) {
  json j = json::object();
  if (s.mac) j["mac"] = s.mac->str();
  if (s.vlan) j["vlan"] = *s.vlan;
  if (s.qos) j["qos"] = *s.qos;
  if (s.proto) j["proto"] = std::string(to_string(*s.proto));
  if (s.spoofchk) j["spoofchk"] = *s.spoofchk;
  if (s.trust) j["trust"] = *s.trust;
  if (s.link_state) j["link_state"] = std::string(to_string(*s.link_state));
  if (s.min_tx_rate) j["min_tx_rate"] = *s.min_tx_rate;
  if (s.max_tx_rate) j["max_tx_rate"] = *s.max_tx_rate;
  return j;
}
VfSettings settings_from(const json& j) {
  VfSettings s;
  if (j.contains("mac")) s.mac = MacAddress::parse(j["mac"].get<std::string>(), "record.mac");
  if (j.contains("vlan")) s.vlan = j["vlan"].get<uint16_t>();
  if (j.contains("qos")) s.qos = j["qos"].get<uint8_t>();
  if (j.contains("proto")) s.proto = parse_vlan_proto(j["proto"].get<std::string>());
  if (j.contains("spoofchk")) s.spoofchk = j["spoofchk"].get<bool>();
  if (j.contains("trust")) s.trust = j["trust"].get<bool>();
  if (j.contains("link_state")) s.link_state = parse_link_state(j["link_state"].get<std::string>());
  if (j.contains("min_tx_rate")) s.min_tx_rate = j["min_tx_rate"].get<uint32_t>();
  if (j.contains("max_tx_rate")) s.max_tx_rate = j["max_tx_rate"].get<uint32_t>();
  return s;
}
VfSettings as_settings(const VfConfig& c) {
  VfSettings s;
  s.mac = c.mac;
  s.vlan = c.vlan;
  s.qos = c.qos;
  s.proto = c.proto;
  s.spoofchk = c.spoofchk;
  s.trust = c.trust;
  s.link_state = c.link_state;
  s.min_tx_rate = c.min_tx_rate;
  s.max_tx_rate = c.max_tx_rate;
  return s;
}
VfConfig as_config(uint32_t vf, const VfSettings& s) {
  VfConfig c;
  c.vf = vf;
  c.mac = s.mac.value_or(MacAddress{});
  c.vlan = s.vlan.value_or(0);
  c.qos = s.qos.value_or(0);
  c.proto = s.proto.value_or(VlanProto::dot1q);
  c.spoofchk = s.spoofchk;
  c.trust = s.trust;
  c.link_state = s.link_state;
  c.min_tx_rate = s.min_tx_rate.value_or(0);
  c.max_tx_rate = s.max_tx_rate.value_or(0);
  return c;
}

json to_json(const Allocation& a) {
  json j{{"pf", a.pf},       {"pf_pci", a.pf_pci}, {"driver", a.driver},   {"vf", a.vf},
         {"pci", a.pci},     {"netns", a.netns},   {"name", a.name},       {"host_name", a.host_name},
         {"saved", settings_json(as_settings(a.saved))}, {"applied", settings_json(a.applied)}};
  if (a.host_mac) j["host_mac"] = a.host_mac->str();
  return j;
}
Allocation from_json(const json& j) {
  Allocation a;
  a.pf = j.at("pf");
  a.pf_pci = j.at("pf_pci");
  a.driver = j.value("driver", "");
  a.vf = j.at("vf");
  a.pci = j.at("pci");
  a.netns = j.at("netns");
  a.name = j.at("name");
  a.host_name = j.at("host_name");
  if (j.contains("host_mac")) a.host_mac = MacAddress::parse(j["host_mac"].get<std::string>(), "record.host_mac");
  a.saved = as_config(a.vf, settings_from(j.at("saved")));
  a.applied = settings_from(j.at("applied"));
  return a;
}

fs::path record_path(const Paths& p, const std::string& pci) { return fs::path(p.state_dir) / (pci + ".json"); }

void write_record(const Paths& p, const Allocation& a) {
  auto path = record_path(p, a.pci);
  auto tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << to_json(a).dump(2) << "\n";
    if (!f || fault::fail_write()) throw Error(fmt::format("cannot write {}", tmp), EIO);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(fmt::format("cannot write {}", path.string()));
}

std::vector<Allocation> read_records(const Paths& p) {
  std::vector<Allocation> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(p.state_dir, ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream f(e.path());
    try {
      out.push_back(from_json(json::parse(f)));
    } catch (const std::exception& ex) {
      throw Error(fmt::format("unreadable SR-IOV allocation record {}: {}", e.path().string(), ex.what()));
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.pci < b.pci; });
  return out;
}

// An exclusive lock on the state folder for the whole of one attach/detach (released when the Fd closes).
Fd lock_state(const Paths& p) {
  std::error_code ec;
  fs::create_directories(p.state_dir, ec);
  if (ec) throw Error(fmt::format("cannot create {}", p.state_dir), ec.value());
  ::chmod(p.state_dir.c_str(), 0700);
  auto lock = fs::path(p.state_dir) / ".lock";
  Fd fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw_errno(fmt::format("cannot open {}", lock.string()));
  if (::flock(fd.get(), LOCK_EX) != 0) throw_errno(fmt::format("cannot lock {}", lock.string()));
  return fd;
}

// Restores `what` best effort, one setting at a time; returns the messages of the failures.
std::vector<std::string> restore(nl::Socket& host, int pf_index, const Allocation& a, const VfSettings& what) {
  std::vector<std::string> errors;
  VfSettings back = restore_settings(a.saved, what);
  // A MAC of all zeros is how the PF reports "no administrative MAC"; writing it back clears ours (igb,
  // ixgbe, ice accept it for exactly that purpose).
  for (auto& part : split(back)) {
    try {
      VfConfig cur = read(host, pf_index, a.vf);
      apply(host, pf_index, a.pf, a.driver, cur, part);
    } catch (const std::exception& e) {
      errors.push_back(e.what());
    }
  }
  return errors;
}

void add_default_route(nl::Socket& s, int index, const IpAddress& gw) {
  addr::Route r;
  r.dst = Prefix(gw.is_v4() ? IpAddress::v4(0) : IpAddress::parse("::", "route"), 0);
  r.oif = index;
  r.gateway = gw;
  addr::add(s, r);
}

std::optional<std::string> wait_netdev(const Paths& p, const std::string& pci, int tries) {
  for (int i = 0; i < tries; ++i) {
    if (auto n = pci_netdev(pci, p.sysfs)) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

// Applies `wanted` part by part, collecting in `done` what the driver took; `undo` puts `done` back.
void apply_parts(nl::Socket& host, int pf_index, const Allocation& a, const VfSettings& wanted, VfSettings& done,
                 UndoLog& undo) {
  undo.add(fmt::format("settings of VF {} of {}", a.vf, a.pf), [&host, pf_index, &a, &done] {
    auto errs = restore(host, pf_index, a, done);
    if (!errs.empty()) throw Error(errs.front());
  });
  for (auto& part : split(wanted)) {
    VfConfig cur = read(host, pf_index, a.vf);
    apply(host, pf_index, a.pf, a.driver, cur, part);
    if (part.mac) done.mac = part.mac;
    if (part.vlan || part.qos || part.proto) done.vlan = part.vlan, done.qos = part.qos, done.proto = part.proto;
    if (part.spoofchk) done.spoofchk = part.spoofchk;
    if (part.trust) done.trust = part.trust;
    if (part.link_state) done.link_state = part.link_state;
    if (part.min_tx_rate || part.max_tx_rate) done.min_tx_rate = part.min_tx_rate, done.max_tx_rate = part.max_tx_rate;
  }
}

}  // namespace

VfConfig configure(NsSocket& host, const std::string& pf_name, uint32_t vf, const VfSettings& settings,
                   const Paths& paths) {
  validate(settings);
  if (settings.empty()) throw InvalidInput("settings", "nothing to set");
  Pf pf = pf_by_name(pf_name, paths.sysfs);
  const int pf_index = link::get(host.rtnl, pf.name).index;
  Fd lock = lock_state(paths);
  Allocation a;
  a.pf = pf.name;
  a.pf_pci = pf.pci;
  a.driver = pf.driver;
  a.vf = vf;
  for (auto& v : pf.vfs)
    if (v.index == vf) a.pci = v.pci;
  for (auto& r : read_records(paths))
    if (r.pf_pci == pf.pci && r.vf == vf)
      throw Error(fmt::format("VF {} of {} is attached to namespace '{}' as {}: its settings belong to that attachment",
                              vf, pf.name, r.netns, r.name),
                  EBUSY);
  bool known = false;
  for (auto& c : read_all(host.rtnl, pf_index))
    if (c.vf == vf) a.saved = c, known = true;
  if (!known) throw Error(fmt::format("{} has no VF {}", pf.name, vf), ENOENT);
  UndoLog undo;
  VfSettings done;
  apply_parts(host.rtnl, pf_index, a, settings, done, undo);
  undo.commit();
  return read(host.rtnl, pf_index, vf);
}

std::vector<VfSettings> split(const VfSettings& s) {
  std::vector<VfSettings> out;
  if (s.mac) out.push_back({.mac = s.mac});
  if (s.vlan || s.qos || s.proto) out.push_back({.vlan = s.vlan, .qos = s.qos, .proto = s.proto});
  if (s.spoofchk) out.push_back({.spoofchk = s.spoofchk});
  if (s.trust) out.push_back({.trust = s.trust});
  if (s.link_state) out.push_back({.link_state = s.link_state});
  if (s.min_tx_rate || s.max_tx_rate) out.push_back({.min_tx_rate = s.min_tx_rate, .max_tx_rate = s.max_tx_rate});
  return out;
}

std::vector<Allocation> allocations(const Paths& paths) { return read_records(paths); }

Allocation attach(NsSocket& host, const AttachSpec& spec, const Paths& paths) {
  // ---- the whole input first ----
  validate_ifname(spec.name, "--name");
  validate(spec.settings);
  if (spec.settings.mac && spec.settings.mac->bytes == std::array<uint8_t, 6>{})
    throw InvalidInput("--mac", "a VF handed to a namespace needs a real MAC, not 00:00:00:00:00:00");
  if (spec.vf && spec.pci) throw InvalidInput("--vf/--pci", "give a VF index or a PCI address, not both");
  std::optional<std::string> want_pci;
  if (spec.pci) want_pci = normalize_pci(*spec.pci, "--pci");
  if (spec.gateway) {
    bool ok = false;
    for (auto& a : spec.addresses) ok |= a.family() == spec.gateway->family() && a.contains(*spec.gateway);
    if (!ok) throw InvalidInput("--gw", fmt::format("{} is not inside any address given with --addr", spec.gateway->str()));
  }
  NsSocket target = NsSocket::open(spec.netns);
  if (target.ns.same_as(host.ns)) throw InvalidInput("namespace", "the VF would stay in the host namespace");
  if (link::find(target.rtnl, spec.name))
    throw Error(fmt::format("a link named '{}' already exists in namespace '{}'", spec.name, spec.netns), EEXIST);
  Pf pf = pf_by_name(spec.pf, paths.sysfs);
  const int pf_index = link::get(host.rtnl, pf.name).index;

  Fd lock = lock_state(paths);
  auto records = read_records(paths);
  auto allocated = [&](const std::string& pci) -> const Allocation* {
    for (auto& r : records)
      if (r.pci == pci) return &r;
    return nullptr;
  };

  // ---- pick the VF ----
  const Vf* vf = nullptr;
  if (spec.vf || want_pci) {
    for (auto& v : pf.vfs)
      if ((spec.vf && v.index == *spec.vf) || (want_pci && v.pci == *want_pci)) vf = &v;
    if (!vf)
      throw Error(spec.vf ? fmt::format("{} has no VF {} ({} VFs enabled)", pf.name, *spec.vf, pf.num_vfs)
                          : fmt::format("{} is not a VF of {}", *want_pci, pf.name),
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
  } else {
    for (auto& v : pf.vfs)
      if (!allocated(v.pci) && !v.userspace() && v.netdev) {
        vf = &v;
        break;
      }
    if (!vf)
      throw Error(fmt::format("{} has no free VF ({} enabled; set more with `ctnet sriov numvfs {} N`)", pf.name,
                              pf.num_vfs, pf.name),
                  ENOSPC);
  }

  link::Link vlink = link::get(host.rtnl, *vf->netdev);
  Allocation a;
  a.pf = pf.name;
  a.pf_pci = pf.pci;
  a.driver = pf.driver;
  a.vf = vf->index;
  a.pci = vf->pci;
  a.netns = spec.netns;
  a.name = spec.name;
  a.host_name = vlink.name;
  a.host_mac = vlink.mac;
  a.saved = read(host.rtnl, pf_index, vf->index);

  UndoLog undo;
  write_record(paths, a);
  undo.add("allocation record of " + a.pci, [&paths, &a] { fs::remove(record_path(paths, a.pci)); });

  // ---- configure through the PF, one setting at a time; the undo restores what was taken ----
  VfSettings done;
  apply_parts(host.rtnl, pf_index, a, spec.settings, done, undo);
  a.applied = done;
  write_record(paths, a);

  // ---- into the namespace, renamed on arrival (its name there was checked free above) ----
  link::change(host.rtnl, vlink.index, {.up = false, .name = spec.name, .netns_fd = target.ns.fd()},
               fmt::format("cannot move VF netdev {} into namespace '{}'", vlink.name, spec.netns));
  undo.add(fmt::format("VF netdev {} in {}", spec.name, spec.netns), [&] {
    if (auto l = link::find(target.rtnl, spec.name))
      link::change(target.rtnl, l->index, {.up = false, .name = a.host_name, .netns_fd = host.ns.fd()},
                   "cannot move the VF back to the host");
  });
  const int index = link::get(target.rtnl, spec.name, spec.netns).index;
  // The VF driver may keep its old MAC until reset; set the one asked for on the netdev too (as sriov-cni does).
  if (spec.settings.mac)
    link::change(target.rtnl, index, {.mac = spec.settings.mac}, fmt::format("cannot set the MAC of {}", spec.name));
  for (auto& p : spec.addresses) addr::add(target.rtnl, index, p, spec.name);
  link::change(target.rtnl, index, {.up = true}, fmt::format("cannot bring {} up", spec.name));
  if (spec.gateway) add_default_route(target.rtnl, index, *spec.gateway);
  undo.commit();
  return a;
}

bool detach(NsSocket& host, const std::string& netns, const std::string& name, const Paths& paths) {
  validate_ifname(name, "--name");
  Fd lock = lock_state(paths);
  std::optional<Allocation> found;
  for (auto& r : read_records(paths))
    if (r.netns == netns && r.name == name) found = r;
  if (!found) return false;
  const Allocation& a = *found;

  // ---- back to the host namespace ----
  bool moved = false;
  try {
    NsSocket target = NsSocket::open(netns);
    if (auto l = link::find(target.rtnl, name)) {
      int err;
      {
        auto m = link::change_request(l->index, {.up = false, .name = a.host_name, .netns_fd = host.ns.fd()});
        err = target.rtnl.try_ack(m);
      }
      if (err == EEXIST) {  // the old name was taken meanwhile: come back under a temporary one
        auto m = link::change_request(l->index, {.up = false, .name = link::temporary_name("vf"), .netns_fd = host.ns.fd()});
        target.rtnl.ack(m, fmt::format("cannot move VF netdev {} back from namespace '{}'", name, netns));
      } else if (err) {
        throw Error(fmt::format("cannot move VF netdev {} back from namespace '{}'", name, netns), err);
      }
      moved = true;
    }
  } catch (const Error& e) {
    if (e.errnum() != ENOENT) throw;  // namespace gone: the kernel hands the netdev back by itself
  }
  // Namespace teardown is asynchronous (net/core/net_namespace.c: cleanup_net runs in a workqueue): wait for it.
  auto dev = wait_netdev(paths, a.pci, moved ? 20 : 100);
  if (!dev)
    throw Error(fmt::format("the netdev of VF {} of {} ({}) is neither in namespace '{}' nor back on the host; "
                            "record kept in {}",
                            a.vf, a.pf, a.pci, netns, paths.state_dir),
                ENODEV);
  std::vector<std::string> errors;
  if (auto l = link::find(host.rtnl, *dev)) {
    // Host addresses of the netdev were dropped on the namespace move; the name and MAC come back here.
    if (*dev != a.host_name && !link::find(host.rtnl, a.host_name)) {
      try {
        link::change(host.rtnl, l->index, {.up = false, .name = a.host_name}, "cannot rename the VF back");
      } catch (const std::exception& e) {
        errors.push_back(e.what());
      }
    }
  }

  // ---- settings back ----
  Pf pf = pf_by_name(a.pf, paths.sysfs);
  const int pf_index = link::get(host.rtnl, pf.name).index;
  for (auto& e : restore(host.rtnl, pf_index, a, a.applied)) errors.push_back(e);
  if (a.applied.mac && a.host_mac) {
    if (auto l = link::find(host.rtnl, a.host_name)) {
      try {
        link::change(host.rtnl, l->index, {.mac = a.host_mac}, "cannot restore the VF netdev's MAC");
      } catch (const std::exception& e) {
        errors.push_back(e.what());
      }
    }
  }
  fs::remove(record_path(paths, a.pci));
  if (!errors.empty())
    throw Error(fmt::format("VF {} of {} released, but not everything was restored: {}", a.vf, a.pf, errors.front()));
  return true;
}

void set_numvfs(const std::string& pf_name, int n, const Paths& paths) {
  Pf pf = pf_by_name(pf_name, paths.sysfs);
  Fd lock = lock_state(paths);
  for (auto& r : read_records(paths))
    if (r.pf_pci == pf.pci)
      throw Error(fmt::format("VF {} of {} is attached to namespace '{}' as {}: detach it before changing the VF count",
                              r.vf, pf.name, r.netns, r.name),
                  EBUSY);
  sriov::set_numvfs(pf, n, paths.sysfs);
}

}  // namespace ctnet::sriov
