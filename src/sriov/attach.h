// SR-IOV attachments: what an attach asks for, and the allocation records that say which VF is handed to whom.
// A record is one JSON file per VF (named after its PCI address) in a state folder, created under an exclusive
// lock on that folder, so two containers never get the same VF. It holds the VF's original settings and name
// and the steps the attach made (kinds records, opaque here), which release runs backwards, also when the
// namespace is already gone. The attach itself is the "vf" kind's driver (kinds/vf.h).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sriov/device.h"
#include "sriov/vf_config.h"
#include "util/fd.h"
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
  uint32_t mtu = 0;                    // 0: as it is (restored on release when set)
  std::vector<Prefix> addresses;
  std::optional<IpAddress> gateway;
};

struct Allocation {
  std::string id;                      // unique per attach: an old record of a released VF leaves a new one alone
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
  nlohmann::json records = nlohmann::json::array();  // the attach's steps, oldest first (none: a record of an
                                                     // older ctnet; release rebuilds them from the fields)
};

struct Paths {
  std::string state_dir = ctnet::state_dir() + "/sriov";  // $CTNET_STATE_DIR/sriov
  std::string sysfs = kSysfs;
};

// The exclusive lock on the state folder (released when the Fd closes).
Fd lock_state(const Paths& p);

std::vector<Allocation> allocations(const Paths& paths = {});
std::optional<Allocation> allocation_of(const Paths& paths, const std::string& pci);
std::optional<Allocation> allocation_by_name(const Paths& paths, const std::string& netns, const std::string& name);
// Atomic (written aside, then renamed over). Throws Error naming the file.
void write_allocation(const Paths& paths, const Allocation& a);
void remove_allocation(const Paths& paths, const std::string& pci);
nlohmann::json to_json(const Allocation& a);
Allocation allocation_from_json(const nlohmann::json& j);

// The netdev of PCI device `pci` in this namespace's sysfs, polled up to `tries` times 100 ms apart (a netdev
// returns from a deleted namespace asynchronously: net/core/net_namespace.c, cleanup_net runs in a workqueue).
std::optional<std::string> wait_netdev(const Paths& p, const std::string& pci, int tries);

// sriov_numvfs, refused while any VF of the PF is attached.
void set_numvfs(const std::string& pf, int n, const Paths& paths = {});

}  // namespace ctnet::sriov
