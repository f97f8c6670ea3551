// VXLAN tunnel endpoints (one per VNI), usually attached to a bridge.
#pragma once
#include <optional>
#include <string>

#include "link/link.h"

namespace ctnet::link {

struct VxlanSpec {
  std::string name;
  uint32_t vni = 0;
  std::optional<IpAddress> local;
  std::optional<IpAddress> remote;   // unicast peer; unset: learning only
  int underlay = 0;                  // IFLA_VXLAN_LINK: device for the underlay (0: routing decides)
  uint16_t port = 4789;              // IANA port (the kernel's default is the legacy 8472)
  std::optional<bool> learning;      // source-address learning into the FDB (the kernel's default: on)
  uint32_t mtu = 0;
  int master = 0;
  bool up = true;
};

nl::Message vxlan_request(const VxlanSpec& spec);
void create_vxlan(nl::Socket& s, const VxlanSpec& spec);

}  // namespace ctnet::link
