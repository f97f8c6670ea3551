// `ctnet node`: the agent that leases this node a subnet of a multi-host network from etcd, publishes how to
// reach it, watches the other nodes and programs the kernel (node/dataplane.h), in the network namespace it runs
// in; and the verbs around it (init, leave, status).
#pragma once
#include <string>
#include <vector>

#include "node/etcd.h"
#include "node/network.h"

namespace ctnet::node {

struct InitOptions {
  std::string network;
  etcd::Options etcd;
  NetworkConfig config;
  bool force = false;
};
// Writes the network's configuration; refuses to replace a different one without `force`. Returns what it did.
std::string init(const InitOptions& o);

struct AgentOptions {
  std::string network;
  etcd::Options etcd;
  std::string node_name;       // default: the host name
  std::string iface;           // the underlay; default: the link towards etcd
  std::string state_dir;       // default: /var/lib/ctnet/node/NETWORK
  std::string cni_conf_dir;    // where the conflist goes ("": none)
  std::string cni_bin_dir = "/opt/cni/bin:/usr/lib/cni";  // portmap / loopback are chained when found there
  std::string bridge = "ctnet0";
  int ttl = 60;                // seconds of the etcd lease
};

// Runs until SIGTERM or SIGINT, which leave the kernel's state and the lease (it expires unless the agent comes
// back within the TTL). Returns the exit code.
int run(const AgentOptions& o);

// After the agent stopped: revokes the node's lease (peers drop it at once) and removes its kernel state and files.
std::string leave(const AgentOptions& o);

// Nodes, subnets, underlay addresses, VTEP MACs, lease TTLs; for this node (a state dir in this namespace), whether
// the kernel matches etcd. As text or JSON.
std::string status(const AgentOptions& o, bool json);

}  // namespace ctnet::node
