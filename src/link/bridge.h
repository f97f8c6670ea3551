// Linux bridges and their ports.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "link/link.h"

namespace ctnet::link {

struct BridgeSpec {
  std::string name;
  uint32_t mtu = 0;
  // The bridge MAC is pinned at creation. A bridge without an assigned address takes the lowest MAC of its
  // ports and changes it whenever ports come and go, which breaks the neighbours' ARP caches
  // (net/bridge/br_stp_if.c: br_stp_recalculate_bridge_id keeps a user-set address).
  // Unset: a stable address derived from the name.
  std::optional<MacAddress> mac;
  bool vlan_filtering = false;
  bool up = true;
};

nl::Message bridge_request(const BridgeSpec& spec);
void create_bridge(nl::Socket& s, const BridgeSpec& spec);

// Port settings (IFLA_PROTINFO / IFLA_BRPORT_*), applied to a link already enslaved to a bridge.
struct BridgePortOptions {
  std::optional<bool> hairpin;     // IFLA_BRPORT_MODE: reflect frames back out of the port they came in
  std::optional<bool> isolated;    // IFLA_BRPORT_ISOLATED: isolated ports cannot talk to each other
  std::optional<bool> learning;
  std::optional<bool> flood;
};
nl::Message bridge_port_request(int port_index, const BridgePortOptions& o);
void set_bridge_port(nl::Socket& s, int port_index, const BridgePortOptions& o, std::string_view context);

// Port VLAN membership (AF_BRIDGE IFLA_AF_SPEC, what `bridge vlan add|del` sends). `add` false removes; removing
// a VLAN the port does not have is not an error. flags: BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED.
nl::Message port_vlan_request(int port_index, bool add, uint16_t vid_min, uint16_t vid_max, uint16_t flags);
void set_port_vlan(nl::Socket& s, int port_index, bool add, uint16_t vid_min, uint16_t vid_max, uint16_t flags);

// A port's VLAN membership as the kernel holds it (`bridge vlan show dev PORT`); the bridge device itself answers
// for its own stack ("self"). Empty when VLAN filtering is off.
struct PortVlans {
  std::map<uint16_t, bool> vids;  // VLAN ID -> leaves the port untagged
  std::optional<uint16_t> pvid;   // the VLAN untagged frames coming in are put in
  bool operator==(const PortVlans&) const = default;
};
PortVlans port_vlans(nl::Socket& s, int port_index);
std::string describe(const PortVlans& v);  // "10 (pvid, untagged), 20, 30": as `bridge vlan show` lists them

}  // namespace ctnet::link
