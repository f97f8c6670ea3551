// SR-IOV devices as sysfs shows them (Documentation/PCI/pci-iov-howto.rst, Documentation/ABI/testing/sysfs-bus-pci):
// a physical function is a netdev whose PCI device has sriov_totalvfs/sriov_numvfs; its VFs are the symlinks
// virtfnN to their PCI devices, each with its driver and (for kernel drivers) a netdev under net/.
// sysfs lists only the netdevs of the namespace sysfs was mounted in: a VF whose netdev was moved into a
// container shows none. Every function takes the sysfs root so unit tests can use a fake tree.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ctnet::sriov {

inline constexpr const char* kSysfs = "/sys";

struct Vf {
  uint32_t index = 0;            // N of virtfnN
  std::string pci;               // 0000:01:10.0
  std::string driver;            // igbvf, vfio-pci, "" when unbound
  std::optional<std::string> netdev;  // in the namespace of this sysfs
  // Bound to a userspace I/O driver (DPDK and friends): reported, never moved.
  bool userspace() const;
};

struct Pf {
  std::string name;              // netdev
  std::string pci;
  std::string driver;
  int total_vfs = 0;
  int num_vfs = 0;
  std::vector<Vf> vfs;
};

// Every SR-IOV capable PF with a netdev in this namespace, sorted by name.
std::vector<Pf> discover(const std::string& sysfs = kSysfs);
// The PF with netdev `name`; throws Error when it does not exist or has no SR-IOV capability.
Pf pf_by_name(const std::string& name, const std::string& sysfs = kSysfs);
// The PF and VF index of a VF given by PCI address; throws when it is not a VF.
struct VfRef {
  std::string pf_pci;
  uint32_t vf = 0;
};
VfRef vf_by_pci(const std::string& pci, const std::string& sysfs = kSysfs);
// The netdev of a PCI device in this namespace, if any.
std::optional<std::string> pci_netdev(const std::string& pci, const std::string& sysfs = kSysfs);
// Validates a PCI address "DDDD:BB:DD.F" (or "BB:DD.F", completed with domain 0000) and returns the full form.
std::string normalize_pci(const std::string& addr, const std::string& field);

// Writes sriov_numvfs. Changing between two non-zero counts goes through 0 (the kernel answers EBUSY otherwise).
// Waits (bounded) until the VFs' sysfs entries appear.
void set_numvfs(const Pf& pf, int n, const std::string& sysfs = kSysfs);

}  // namespace ctnet::sriov
