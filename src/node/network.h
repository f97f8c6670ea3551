// A multi-host network as `ctnet node init` writes it into etcd, the subnets it hands out, and the record each
// node publishes. Everything lives under one key prefix per network:
//   /ctnet/networks/NAME/config                 the network (JSON, NetworkConfig)
//   /ctnet/networks/NAME/subnets/INDEX          a node's lease on subnet number INDEX (JSON, NodeRecord), attached to
//                                               its etcd lease: it goes when the lease expires or is revoked
// One index gives a node its IPv4 and its IPv6 subnet (the INDEX-th of each cluster CIDR), so dual stack is one
// key, one lease and one transaction.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "util/ip.h"

namespace ctnet::node {

enum class Backend { vxlan, host_gw };
std::string_view to_string(Backend b);

struct NetworkConfig {
  std::vector<Prefix> cidrs;        // one or two (one per family), network form
  int subnet_len = 24;              // IPv4 node subnets
  int subnet_len6 = 64;             // IPv6 node subnets
  Backend backend = Backend::vxlan;
  uint32_t vni = 1;
  uint16_t port = 4789;

  nlohmann::json to_json() const;
  static NetworkConfig from_json(const nlohmann::json& j);  // throws InvalidInput naming the key
  void validate() const;                                   // throws InvalidInput naming the option
  // How many node subnets there are (the smaller count of the two families), capped at 65536.
  int64_t subnet_count() const;
  // The INDEX-th node subnet of each cluster CIDR, in the order of `cidrs`.
  std::vector<Prefix> subnets(int64_t index) const;
};

// What a node publishes about itself.
struct NodeRecord {
  std::string node;                          // its name
  std::vector<Prefix> subnets;               // its subnet(s)
  IpAddress underlay;                        // where its VXLAN packets come from / host-gw next hop
  // Its addresses on the underlay link, one per family, `underlay` first: host-gw routes a subnet via the one of
  // the subnet's family (an IPv6 pod subnet over a dual-stack underlay).
  std::vector<IpAddress> underlay_addresses;
  std::optional<IpAddress> underlay_of(int family) const;
  std::optional<MacAddress> vtep_mac;        // vxlan backend
  Backend backend = Backend::vxlan;

  nlohmann::json to_json() const;
  static std::optional<NodeRecord> from_json(const std::string& text);  // nullopt when it is not one
  bool operator==(const NodeRecord&) const = default;
};

std::string network_prefix(const std::string& network);       // "/ctnet/networks/NAME/"
std::string config_key(const std::string& network);
std::string subnets_prefix(const std::string& network);
std::string subnet_key(const std::string& network, int64_t index);
std::optional<int64_t> index_of_key(const std::string& network, const std::string& key);

void validate_network_name(const std::string& name);  // what may go into a key and a file name

}  // namespace ctnet::node
