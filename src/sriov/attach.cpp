#include "sriov/attach.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "util/error.h"
#include "util/paths.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ctnet::sriov {

namespace {
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

fs::path record_path(const Paths& p, const std::string& pci) { return fs::path(p.state_dir) / (pci + ".json"); }
}  // namespace

json to_json(const Allocation& a) {
  json j{{"pf", a.pf},       {"pf_pci", a.pf_pci}, {"driver", a.driver},   {"vf", a.vf},
         {"pci", a.pci},     {"netns", a.netns},   {"name", a.name},       {"host_name", a.host_name},
         {"saved", to_json(as_settings(a.saved))}, {"applied", to_json(a.applied)}};
  if (a.host_mac) j["host_mac"] = a.host_mac->str();
  if (!a.id.empty()) j["id"] = a.id;
  if (!a.records.empty()) j["records"] = a.records;
  return j;
}

Allocation allocation_from_json(const json& j) {
  Allocation a;
  a.id = j.value("id", "");
  a.pf = j.at("pf");
  a.pf_pci = j.at("pf_pci");
  a.driver = j.value("driver", "");
  a.vf = j.at("vf");
  a.pci = j.at("pci");
  a.netns = j.at("netns");
  a.name = j.at("name");
  a.host_name = j.at("host_name");
  if (j.contains("host_mac")) a.host_mac = MacAddress::parse(j["host_mac"].get<std::string>(), "record.host_mac");
  a.saved = as_config(a.vf, settings_from_json(j.at("saved")));
  a.applied = settings_from_json(j.at("applied"));
  if (auto it = j.find("records"); it != j.end() && it->is_array()) a.records = *it;
  return a;
}

void write_allocation(const Paths& p, const Allocation& a) {
  write_file_replacing(record_path(p, a.pci).string(), to_json(a).dump(2) + "\n");
}

void remove_allocation(const Paths& p, const std::string& pci) {
  std::error_code ec;
  fs::remove(record_path(p, pci), ec);
  if (ec) throw Error(fmt::format("cannot remove {}", record_path(p, pci).string()), ec.value());
}

std::vector<Allocation> allocations(const Paths& p) {
  std::vector<Allocation> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(p.state_dir, ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream f(e.path());
    try {
      out.push_back(allocation_from_json(json::parse(f)));
    } catch (const std::exception& ex) {
      throw Error(fmt::format("unreadable SR-IOV allocation record {}: {}", e.path().string(), ex.what()));
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.pci < b.pci; });
  return out;
}

std::optional<Allocation> allocation_of(const Paths& p, const std::string& pci) {
  auto path = record_path(p, pci);
  std::ifstream f(path);
  if (!f) return std::nullopt;
  try {
    return allocation_from_json(json::parse(f));
  } catch (const std::exception& ex) {
    throw Error(fmt::format("unreadable SR-IOV allocation record {}: {}", path.string(), ex.what()));
  }
}

std::optional<Allocation> allocation_by_name(const Paths& p, const std::string& netns, const std::string& name) {
  for (auto& a : allocations(p))
    if (a.netns == netns && a.name == name) return a;
  return std::nullopt;
}

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

std::optional<std::string> wait_netdev(const Paths& p, const std::string& pci, int tries) {
  for (int i = 0; i < tries; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto n = pci_netdev(pci, p.sysfs)) return n;
  }
  return std::nullopt;
}

void set_numvfs(const std::string& pf_name, int n, const Paths& paths) {
  Pf pf = pf_by_name(pf_name, paths.sysfs);
  Fd lock = lock_state(paths);
  for (auto& r : allocations(paths))
    if (r.pf_pci == pf.pci)
      throw Error(fmt::format("VF {} of {} is attached to namespace '{}' as {}: detach it before changing the VF count",
                              r.vf, pf.name, r.netns, r.name),
                  EBUSY);
  sriov::set_numvfs(pf, n, paths.sysfs);
}

}  // namespace ctnet::sriov
