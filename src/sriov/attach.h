// Handing SR-IOV VFs to network namespaces and taking them back. Allocations are records (one JSON file per VF,
// named after its PCI address) in a state folder, created and removed under an exclusive lock on that folder,
// so two containers never get the same VF. A record holds the VF's original settings and name, which release
// restores, also when the namespace is already gone (the kernel then returns a physical netdev to the host
// namespace by itself: net/core/dev.c, default_device_exit_net).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ns/ns_socket.h"
#include "sriov/device.h"
#include "sriov/vf_config.h"
#include "util/ip.h"
#include "util/paths.h"

namespace ctnet::sriov {

struct AttachSpec {
  std::string netns;                   // namespace spec (name, path, pid:N)
  std::string pf;                      // PF netdev
  std::optional<uint32_t> vf;          // a given VF index, or
  std::optional<std::string> pci;      // a given VF PCI address; neither: the first free VF
  VfSettings settings;
  std::string name = "eth0";           // the VF netdev's name inside the namespace
  std::vector<Prefix> addresses;
  std::optional<IpAddress> gateway;
};

struct Allocation {
  std::string pf;
  std::string pf_pci;
  std::string driver;                  // the PF's driver
  uint32_t vf = 0;
  std::string pci;
  std::string netns;
  std::string name;                    // inside the namespace
  std::string host_name;               // the VF netdev's name before it was moved
  std::optional<MacAddress> host_mac;  // the VF netdev's MAC before
  VfConfig saved;                      // the VF's settings before
  VfSettings applied;                  // what attach changed
};

struct Paths {
  std::string state_dir = ctnet::state_dir() + "/sriov";  // $CTNET_STATE_DIR/sriov
  std::string sysfs = kSysfs;
};

// Validates the whole spec, allocates a VF, configures it through the PF, moves it into the namespace, renames
// and addresses it. Any failure restores the VF and releases the allocation.
Allocation attach(NsSocket& host, const AttachSpec& spec, const Paths& paths = {});

// Releases the VF attached as `name` in namespace `netns`: back to the host namespace under its old name, old
// settings restored, record removed. False when no such allocation exists (idempotent).
bool detach(NsSocket& host, const std::string& netns, const std::string& name, const Paths& paths = {});

std::vector<Allocation> allocations(const Paths& paths = {});

// sriov_numvfs, refused while any VF of the PF is attached.
void set_numvfs(const std::string& pf, int n, const Paths& paths = {});

// Splits settings into single-setting parts (vlan/qos/proto and the two rates stay together).
std::vector<VfSettings> split(const VfSettings& s);

}  // namespace ctnet::sriov
