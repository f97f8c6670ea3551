// MacVLAN, IPVLAN and 802.1Q VLAN sub-interfaces of a parent link. Both are created in the parent's namespace with the
// child's target namespace given as IFLA_NET_NS_FD, under a temporary name, and renamed to the wanted name
// only once they are inside the target namespace: a name clash with a host link must not fail the operation
// (the reference plugins do the same: plugins/main/macvlan/macvlan.go, "tmpName").
#pragma once
#include <optional>
#include <string>

#include "link/link.h"

namespace ctnet::link {

enum class MacvlanMode { bridge, private_, vepa, passthru, source };
std::optional<MacvlanMode> parse_macvlan_mode(std::string_view s);
std::string_view to_string(MacvlanMode m);

enum class IpvlanMode { l2, l3, l3s };
enum class IpvlanFlag { bridge, private_, vepa };
std::optional<IpvlanMode> parse_ipvlan_mode(std::string_view s);
std::optional<IpvlanFlag> parse_ipvlan_flag(std::string_view s);
std::string_view to_string(IpvlanMode m);
std::string_view to_string(IpvlanFlag f);

struct SubInterfaceSpec {
  std::string name;             // created under this name (callers pass a temporary name, then rename)
  int parent = 0;               // index of the parent in the socket's namespace
  std::optional<int> netns_fd;  // where the child is born
  uint32_t mtu = 0;             // must not exceed the parent's MTU
  std::optional<MacAddress> mac;  // macvlan only
};

nl::Message macvlan_request(const SubInterfaceSpec& spec, MacvlanMode mode);
nl::Message ipvlan_request(const SubInterfaceSpec& spec, IpvlanMode mode, IpvlanFlag flag = IpvlanFlag::bridge);
void create_macvlan(nl::Socket& s, const SubInterfaceSpec& spec, MacvlanMode mode);
void create_ipvlan(nl::Socket& s, const SubInterfaceSpec& spec, IpvlanMode mode, IpvlanFlag flag = IpvlanFlag::bridge);
// An 802.1Q VLAN `id` (1..4094) on the parent (IFLA_VLAN_ID).
nl::Message vlan_request(const SubInterfaceSpec& spec, uint16_t id);
void create_vlan(nl::Socket& s, const SubInterfaceSpec& spec, uint16_t id);

// True when the running kernel has (or can load) the driver `module` (a link kind's: "macvlan", "ipvlan",
// "8021q" for vlan); creates nothing.
bool kernel_has_link_kind(std::string_view module);

}  // namespace ctnet::link
