// Engine operations for MacVLAN and IPVLAN sub-interfaces: "add a macvlan/ipvlan to namespace NS on parent IF
// with mode M and address A", its removal, and the host-side macvlan "shim" that lets the host reach its own
// macvlan children (a parent never delivers frames between itself and its macvlans: drivers/net/macvlan.c only
// switches between children, so the host needs a child of its own).
// The work is the kinds' (kinds/subif.h, kinds/address.h), in one transaction: the child is born in the target
// namespace under a temporary name and renamed there, and a failure at any step removes what was made.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "kinds/subif.h"
#include "link/macvlan.h"
#include "ns/ns_socket.h"
#include "util/ip.h"

namespace ctnet::ops {

using SubifKind = kinds::subif::Kind;
using kinds::subif::to_string;

struct SubifSpec {
  SubifKind kind = SubifKind::macvlan;
  std::string parent;                 // parent link, in the `host` namespace
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
inline bool kernel_knows_kind(SubifKind kind) { return kinds::subif::kernel_has_driver(kind); }

// Namespaces are given as NAME, /path or pid:N; "" is the host (the namespace ctnet runs in).
// Creates the child on `spec.parent` (in `host`) inside `target`, brings it up, addresses it, adds its default
// route. On any failure nothing is left behind (or the error says what could not be removed).
SubifResult add_subif(const std::string& host, const std::string& target, const SubifSpec& spec);

// Removes the child named `name` in `ns` through the kind's remove, if it is a macvlan/ipvlan of that kind;
// false when absent. Throws when `name` exists but is another kind of link (never deletes what it did not make).
bool remove_subif(const std::string& ns, SubifKind kind, const std::string& name);

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
SubifResult add_shim(const std::string& host, const ShimSpec& spec);

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
