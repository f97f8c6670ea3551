// Linux bridges and their ports.
#pragma once
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

}  // namespace ctnet::link
