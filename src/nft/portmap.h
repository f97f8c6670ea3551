// Port mappings (the CNI `portmap` plugin) in nftables, one table per network and family, where an ADD adds map
// and set elements only: its cost does not grow with the mappings already on the host, and a packet costs one
// hash lookup however many there are.
//
//   table ip ctnet_portmap_<net> {                     # comment: the network's name
//     map ports    { inet_proto . inet_service : ipv4_addr . inet_service }               # hostPort -> container
//     map ip_ports { ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }   # hostIP:hostPort -> ...
//     set hairpin, ip_hairpin { ifname . [ipv4_addr .] inet_proto . inet_service }       # masquerade from there
//     chain prerouting, output { [conditions] fib daddr type local jump hostports }   # only to this host's
//     chain hostports { marks; dnat to ... map @ip_ports; dnat to ... map @ports }       # own addresses
//     chain postrouting { meta mark & MARK == MARK masquerade }
//   }
// Every element carries the attachment's name (nft::chain_name) as its comment: DEL removes its own elements
// and nothing else, from the table alone (no namespace, lease or prevResult needed).
//
// Masquerade (snat, the default) is what lets a connection come back the way it went: from the container's own
// host interface (the bridge or its ptp veth: the container itself or a neighbour through the host port), from
// 127.0.0.0/8 (with route_localnet on that interface, which the plugin sets), or, with masqAll, from anywhere.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "nft/nft.h"
#include "util/ip.h"

namespace ctnet::nft {

struct PortMapping {
  int host_port = 0, container_port = 0;
  std::string protocol;             // tcp, udp, sctp
  std::optional<IpAddress> host_ip; // only traffic to this address (none: any of the host's addresses)
};

// The table-wide behaviour of one network (rewritten by every ADD, so the last configuration holds).
struct PortmapPolicy {
  bool snat = true;
  bool masq_all = false;
  uint32_t mark = 1u << 13;                  // markMasqBit
  std::string conditions;                    // nft match expressions before `fib daddr type local`
};

struct PortmapSpec {
  MasqKey key;
  IpAddress container;               // the family of the table
  std::string host_ifname;           // the container's host-side interface (hairpin); "" = none
  std::vector<PortMapping> mappings; // those of this family
  PortmapPolicy policy;
};

// Adds the mappings; a host port another attachment holds already is a Conflict naming it. Throws Error.
void add_portmap(const PortmapSpec& spec);
// Removes the attachment's elements (both families; idempotent) and the network's tables once they are empty.
void remove_portmap(const MasqKey& key);
// Removes the elements of every attachment of `network` not in `valid`.
void gc_portmap(const std::string& network, const Attachments& valid);
// What differs between the kernel and `spec` (empty: all there).
std::vector<std::string> check_portmap(const PortmapSpec& spec);

std::string portmap_table(const std::string& network, int family);  // "ip ctnet_portmap_0123abcd"

}  // namespace ctnet::nft
