// VRF devices (drivers/net/vrf.c): an L3 master device bound to a routing table; the links enslaved to it route
// through that table (the kernel's l3mdev rule sends their traffic there).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "link/link.h"

namespace ctnet::link {

// RTM_NEWLINK of kind "vrf" with IFLA_VRF_TABLE (which the driver requires), exclusive, down.
nl::Message vrf_request(std::string_view name, uint32_t table);

struct Vrf {
  int index = 0;
  std::string name;
  uint32_t table = 0;
};
// Every VRF of the socket's namespace with its table.
std::vector<Vrf> list_vrfs(nl::Socket& s);

}  // namespace ctnet::link
