// Engine operations for MacVLAN and IPVLAN sub-interfaces: "add a macvlan/ipvlan to namespace NS on parent IF
// with mode M and address A", its removal, and the host-side macvlan "shim" that lets the host reach its own
// macvlan children (a parent never delivers frames between itself and its macvlans: drivers/net/macvlan.c only
// switches between children, so the host needs a child of its own).
// The child is born in the target namespace under a temporary name and renamed there (link/macvlan.h), so a
// host link with the wanted name never makes the operation fail. Everything created is in an UndoLog.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "link/macvlan.h"
#include "ns/ns_socket.h"
#include "util/ip.h"

namespace ctnet::ops {

enum class SubifKind { macvlan, ipvlan };
std::string_view to_string(SubifKind k);

struct SubifSpec {
  SubifKind kind = SubifKind::macvlan;
  std::string parent;                 // parent link, in the namespace of the `host` socket
  std::string name = "eth0";          // the name inside the target namespace
  link::MacvlanMode macvlan_mode = link::MacvlanMode::bridge;
  link::IpvlanMode ipvlan_mode = link::IpvlanMode::l2;
  link::IpvlanFlag ipvlan_flag = link::IpvlanFlag::bridge;
  std::optional<MacAddress> mac;      // macvlan only (ipvlan children share the parent's MAC)
  uint32_t mtu = 0;                   // 0: the parent's; never above it
  std::vector<Prefix> addresses;
  std::optional<IpAddress> gateway;   // default route via this address
  bool default_route_dev = false;     // default route through the device itself (ipvlan l3/l3s: no ARP)
};

struct SubifResult {
  std::string name;
  int index = 0;
  uint32_t mtu = 0;
  std::optional<MacAddress> mac;
};

// Checks the spec alone (names, mode/flag combinations, addresses), without touching the kernel.
void validate(const SubifSpec& spec);

// True when the running kernel can create links of this kind (module loaded, loadable or built in).
bool kernel_knows_kind(SubifKind kind);
// Throws Error("this kernel has no ipvlan driver: load the ipvlan module") when the driver is missing.
void require_driver(SubifKind kind);

// Creates the child on `spec.parent` (looked up through `host`) inside `target`, addresses it, brings it up.
// On any failure nothing is left behind.
SubifResult add_subif(NsSocket& host, NsSocket& target, const SubifSpec& spec);

// Removes the child named `name` in `target` if it is a macvlan/ipvlan of that kind; false when absent.
// Throws when `name` exists but is another kind of link (never deletes what it did not make).
bool remove_subif(NsSocket& target, SubifKind kind, const std::string& name);

// The host shim: a bridge-mode macvlan (or l2 bridge ipvlan) named `name` on `parent` in the `host` namespace
// with `address`, plus routes through it (typically the containers' range).
struct ShimSpec {
  SubifKind kind = SubifKind::macvlan;
  std::string parent;
  std::string name;                   // "" = shim-<parent> (cut to 15 bytes)
  Prefix address;
  std::vector<Prefix> routes;
};
std::string default_shim_name(const std::string& parent);
SubifResult add_shim(NsSocket& host, const ShimSpec& spec);

}  // namespace ctnet::ops

namespace ctnet::ops {

// For `doctor`: host links that have macvlan children in named namespaces, and whether the host has a shim on
// them (a macvlan child of its own). Without one, the host cannot reach those children through the parent.
struct MacvlanParent {
  std::string parent;                 // in the `host` namespace
  std::vector<std::string> children;  // "NS/IFNAME"
  std::vector<std::string> shims;     // host-side macvlan children of the parent
  bool host_reaches_children() const { return !shims.empty(); }
};
std::vector<MacvlanParent> macvlan_parents(NsSocket& host);

}  // namespace ctnet::ops
