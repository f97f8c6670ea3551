// The `static` IPAM plugin's configuration: the addresses are given, nothing is allocated and nothing is stored
// (the reference's keys: "addresses" [{address, gateway}], "routes", "dns"; the last is read by the CNI face).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipam/host_local.h"
#include "util/ip.h"

namespace ctnet::ipam {

struct StaticAddress {
  Prefix address;                   // 10.10.0.5/24 (the host's address in its subnet)
  std::optional<IpAddress> gateway;
};

struct StaticConfig {
  std::vector<StaticAddress> addresses;
  std::vector<RouteConfig> routes;
};

// An address given in CIDR form, with the field it came from (for errors).
struct GivenAddress {
  std::string cidr, field;
};

// The "ipam" object, then, as the reference applies them: `appended` (CNI_ARGS IP) added to its addresses and
// `gateway` (CNI_ARGS GATEWAY) made the gateway of all of its family; `replacing` (args.cni.ips, runtimeConfig.ips),
// when not empty, instead of all of them. Refuses an address that is its subnet's network or IPv4 broadcast
// address, a gateway of the other family, and more than one address per family before cniVersion 0.3.0.
StaticConfig parse_static(const nlohmann::json& ipam, const std::vector<GivenAddress>& appended,
                          const std::optional<std::string>& gateway, const std::vector<GivenAddress>& replacing,
                          bool one_per_family);

}  // namespace ctnet::ipam
