// `ctnet node`: multi-host networks on etcd (node/agent.h).
#include <fmt/format.h>

#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "node/agent.h"
#include "util/error.h"

namespace ctnet::cli {
namespace {

struct EtcdArgs {
  std::string urls, ca, cert, key;
  int timeout_ms = 3000;
  etcd::Options options() const {
    etcd::Options o;
    std::stringstream in(urls);
    for (std::string u; std::getline(in, u, ',');)
      if (!u.empty()) o.endpoints.push_back(u);
    if (o.endpoints.empty()) throw InvalidInput("--etcd", "give one or more URLs, e.g. http://10.0.0.1:2379");
    for (const auto& u : o.endpoints)
      if (!u.starts_with("http://") && !u.starts_with("https://"))
        throw InvalidInput("--etcd", fmt::format("'{}' is not an http:// or https:// URL", u));
    o.ca_file = ca;
    o.cert_file = cert;
    o.key_file = key;
    if (cert.empty() != key.empty()) throw InvalidInput("--etcd-cert", "give --etcd-cert and --etcd-key together");
    if (timeout_ms < 100 || timeout_ms > 60000) throw InvalidInput("--etcd-timeout", "must be 100..60000 ms");
    o.timeout = std::chrono::milliseconds(timeout_ms);
    return o;
  }
};

void add_etcd(CLI::App* cmd, EtcdArgs& e) {
  cmd->add_option("--etcd", e.urls, "etcd endpoints, comma-separated (failover in order)")->required();
  cmd->add_option("--etcd-ca", e.ca, "CA certificate (PEM) to trust for https endpoints");
  cmd->add_option("--etcd-cert", e.cert, "client certificate (PEM)");
  cmd->add_option("--etcd-key", e.key, "client key (PEM)");
  cmd->add_option("--etcd-timeout", e.timeout_ms, "per request, in ms (default 3000)");
}

struct NodeArgs {
  std::string network;
  EtcdArgs etcd;
  node::AgentOptions agent;
  std::vector<std::string> cidrs;
  int subnet_len = 24, subnet_len6 = 64;
  std::string backend = "vxlan";
  uint32_t vni = 1;
  uint16_t port = 4789;
  bool force = false;
  Output out;
  node::AgentOptions resolved() const {
    node::AgentOptions a = agent;
    a.network = network;
    a.etcd = etcd.options();
    return a;
  }
};

}  // namespace

void add_node_commands(CLI::App& app) {
  if (!wanted("node")) return;
  auto* top = app.add_subcommand("node", "multi-host networks: an agent per host leases a subnet from etcd and carries "
                                         "traffic between hosts (VXLAN or host-gw)");
  top->require_subcommand(1);
  auto a = std::make_shared<NodeArgs>();

  auto* init = top->add_subcommand("init", "write a network's configuration into etcd\n"
                                           "  example: ctnet node init pods --etcd http://10.0.0.1:2379 --cidr 10.244.0.0/16");
  init->add_option("NETWORK", a->network, "network name")->required();
  add_etcd(init, a->etcd);
  init->add_option("--cidr", a->cidrs, "the cluster CIDR; twice for dual stack (one IPv4, one IPv6)")->required();
  init->add_option("--subnet-len", a->subnet_len, "prefix length of a node's IPv4 subnet (default 24)");
  init->add_option("--subnet-len6", a->subnet_len6, "prefix length of a node's IPv6 subnet (default 64)");
  init->add_option("--backend", a->backend, "vxlan (default) or host-gw (all nodes on one L2 segment)");
  init->add_option("--vni", a->vni, "VXLAN network identifier (default 1)");
  init->add_option("--port", a->port, "VXLAN UDP port (default 4789)");
  init->add_flag("--force", a->force, "replace a different configuration");
  init->callback([a] {
    node::InitOptions o{.network = a->network, .etcd = a->etcd.options(), .force = a->force};
    for (const auto& c : a->cidrs) o.config.cidrs.push_back(Prefix::parse(c, "--cidr").network());
    o.config.subnet_len = a->subnet_len;
    o.config.subnet_len6 = a->subnet_len6;
    if (a->backend == "vxlan") o.config.backend = node::Backend::vxlan;
    else if (a->backend == "host-gw") o.config.backend = node::Backend::host_gw;
    else throw InvalidInput("--backend", fmt::format("'{}' is not vxlan or host-gw", a->backend));
    o.config.vni = a->vni;
    o.config.port = a->port;
    fmt::print("{}\n", node::init(o));
  });

  auto agent_options = [a](CLI::App* cmd) {
    cmd->add_option("NETWORK", a->network, "network name")->required();
    add_etcd(cmd, a->etcd);
    cmd->add_option("--state-dir", a->agent.state_dir, "what this node keeps between runs (default /var/lib/ctnet/node/NETWORK)");
    cmd->add_option("--cni-conf-dir", a->agent.cni_conf_dir, "where the runtimes' conflist goes");
  };
  auto* run = top->add_subcommand("run", "the agent, in the foreground, in this network namespace (SIGTERM stops it and "
                                         "leaves the data plane)\n"
                                         "  example: ctnet node run pods --etcd http://10.0.0.1:2379 --cni-conf-dir /etc/cni/net.d");
  agent_options(run);
  run->add_option("--iface", a->agent.iface, "the underlay link (default: the link towards etcd)");
  run->add_option("--node-name", a->agent.node_name, "this node's name (default: the host name)");
  run->add_option("--cni-bin-dir", a->agent.cni_bin_dir, "where to look for portmap and loopback (default /opt/cni/bin:/usr/lib/cni)");
  run->add_option("--bridge", a->agent.bridge, "the pods' bridge in the conflist (default ctnet0)");
  run->add_option("--ttl", a->agent.ttl, "seconds of the node's etcd lease (default 60)");
  run->callback([a] { node::run(a->resolved()); });  // returns on SIGTERM/SIGINT (0); failures throw

  auto* leave = top->add_subcommand("leave", "after the agent stopped: release the node's subnet (peers drop it at once) and "
                                             "remove its kernel state\n  example: ctnet node leave pods --etcd http://10.0.0.1:2379");
  agent_options(leave);
  leave->callback([a] { fmt::print("{}\n", node::leave(a->resolved())); });

  auto* status = top->add_subcommand("status", "the network's nodes, subnets, underlay addresses, VTEP MACs, lease TTLs; for "
                                               "this node, whether the kernel matches etcd\n"
                                               "  example: ctnet node status pods --etcd http://10.0.0.1:2379 -o json");
  agent_options(status);
  add_output_option(status, a->out);
  status->callback([a] { fmt::print("{}\n", node::status(a->resolved(), a->out.json())); });
}

}  // namespace ctnet::cli
