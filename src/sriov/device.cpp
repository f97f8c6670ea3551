#include "sriov/device.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "util/error.h"
#include "util/names.h"

namespace fs = std::filesystem;

namespace ctnet::sriov {

bool Vf::userspace() const {
  return driver == "vfio-pci" || driver == "uio_pci_generic" || driver == "igb_uio" || driver == "vfio_pci";
}

namespace {
std::optional<std::string> read_line(const fs::path& p) {
  std::ifstream f(p);
  std::string s;
  if (!f || !std::getline(f, s)) return std::nullopt;
  return s;
}
int read_int(const fs::path& p) {
  auto s = read_line(p);
  if (!s) return 0;
  try {
    return std::stoi(*s);
  } catch (...) {
    return 0;
  }
}
std::string link_base(const fs::path& p) {
  std::error_code ec;
  auto t = fs::read_symlink(p, ec);
  return ec ? std::string() : t.filename().string();
}
std::optional<std::string> first_netdev(const fs::path& dev) {
  std::error_code ec;
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dev / "net", ec)) names.push_back(e.path().filename().string());
  if (names.empty()) return std::nullopt;
  std::sort(names.begin(), names.end());
  return names.front();
}
fs::path pci_dir(const std::string& sysfs, const std::string& pci) { return fs::path(sysfs) / "bus/pci/devices" / pci; }

Pf read_pf(const std::string& sysfs, const std::string& name) {
  fs::path dev = fs::path(sysfs) / "class/net" / name / "device";
  Pf pf;
  pf.name = name;
  pf.pci = link_base(dev);
  pf.driver = link_base(dev / "driver");
  pf.total_vfs = read_int(dev / "sriov_totalvfs");
  pf.num_vfs = read_int(dev / "sriov_numvfs");
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dev, ec)) {
    auto fname = e.path().filename().string();
    if (!fname.starts_with("virtfn")) continue;
    Vf vf;
    try {
      vf.index = static_cast<uint32_t>(std::stoul(fname.substr(6)));
    } catch (...) {
      continue;
    }
    vf.pci = link_base(e.path());
    vf.driver = link_base(e.path() / "driver");
    vf.netdev = first_netdev(e.path());
    pf.vfs.push_back(vf);
  }
  std::sort(pf.vfs.begin(), pf.vfs.end(), [](const Vf& a, const Vf& b) { return a.index < b.index; });
  return pf;
}
}  // namespace

std::vector<Pf> discover(const std::string& sysfs) {
  std::vector<Pf> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(fs::path(sysfs) / "class/net", ec)) {
    auto name = e.path().filename().string();
    if (!fs::exists(e.path() / "device/sriov_totalvfs")) continue;
    out.push_back(read_pf(sysfs, name));
  }
  std::sort(out.begin(), out.end(), [](const Pf& a, const Pf& b) { return a.name < b.name; });
  return out;
}

Pf pf_by_name(const std::string& name, const std::string& sysfs) {
  validate_ifname(name, "--pf");
  fs::path n = fs::path(sysfs) / "class/net" / name;
  if (!fs::exists(n)) throw Error(fmt::format("link '{}' does not exist", name), ENODEV);
  if (!fs::exists(n / "device/sriov_totalvfs"))
    throw Error(fmt::format("'{}' is not an SR-IOV physical function (no device/sriov_totalvfs in sysfs)", name), ENOTSUP);
  return read_pf(sysfs, name);
}

std::string normalize_pci(const std::string& addr, const std::string& field) {
  static const std::regex full("^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]$");
  static const std::regex shortf("^[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]$");
  std::string a = addr;
  if (std::regex_match(a, shortf)) a = "0000:" + a;
  if (!std::regex_match(a, full))
    throw InvalidInput(field, fmt::format("'{}' is not a PCI address like 0000:01:10.0", addr));
  std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
  return a;
}

VfRef vf_by_pci(const std::string& pci, const std::string& sysfs) {
  fs::path dev = pci_dir(sysfs, pci);
  if (!fs::exists(dev)) throw Error(fmt::format("PCI device {} does not exist", pci), ENODEV);
  std::string pf_pci = link_base(dev / "physfn");
  if (pf_pci.empty()) throw Error(fmt::format("PCI device {} is not an SR-IOV virtual function (no physfn)", pci), EINVAL);
  std::error_code ec;
  for (auto& e : fs::directory_iterator(pci_dir(sysfs, pf_pci), ec)) {
    auto fname = e.path().filename().string();
    if (fname.starts_with("virtfn") && link_base(e.path()) == pci)
      return {pf_pci, static_cast<uint32_t>(std::stoul(fname.substr(6)))};
  }
  throw Error(fmt::format("PCI device {} is not listed among the VFs of {}", pci, pf_pci), ENOENT);
}

std::optional<std::string> pci_netdev(const std::string& pci, const std::string& sysfs) {
  return first_netdev(pci_dir(sysfs, pci));
}

void set_numvfs(const Pf& pf, int n, const std::string& sysfs) {
  if (n < 0 || n > pf.total_vfs)
    throw InvalidInput("N", fmt::format("{} is not in 0..{} (sriov_totalvfs of {})", n, pf.total_vfs, pf.name));
  fs::path file = fs::path(sysfs) / "class/net" / pf.name / "device/sriov_numvfs";
  auto write = [&](int v) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw_errno(fmt::format("cannot open {}", file.string()));
    auto s = std::to_string(v);
    ssize_t w = ::write(fd, s.data(), s.size());
    int err = errno;
    ::close(fd);
    if (w < 0) throw Error(fmt::format("cannot set sriov_numvfs of {} (driver {}) to {}", pf.name, pf.driver, v), err);
  };
  int cur = read_int(file);
  if (cur == n) return;
  // The kernel refuses to change a non-zero VF count directly (drivers/pci/iov.c: sriov_numvfs_store, EBUSY).
  if (cur != 0 && n != 0) write(0);
  write(n);
  // VF probing may finish after the write returns on some drivers: wait for the virtfn links (bounded).
  const fs::path dev = fs::path(sysfs) / "class/net" / pf.name / "device";
  for (int i = 0; i < 100; ++i) {
    int have = 0;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dev, ec))
      if (e.path().filename().string().starts_with("virtfn")) ++have;
    if (have == n) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace ctnet::sriov
