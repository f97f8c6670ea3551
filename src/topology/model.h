// A lab topology after parsing and validation: every name checked, every pool address drawn, every reference
// resolved. Nothing here touches the kernel; the plan (apply.h) turns it into kernel objects.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kinds/bridge.h"
#include "link/tc.h"
#include "util/ip.h"

namespace ctnet::topo {

// The namespace ctnet itself runs in. A file says `host` where it means it; it cannot name a lab namespace so.
inline constexpr const char* kHostNs = "host";

struct RouteSpec {
  Prefix dst;                       // length 0: default
  std::optional<IpAddress> via;     // gateway
  std::string dev;                  // output interface (optional when `via` is given)
  int line = 0;
  std::string str() const;          // "default via 10.0.0.1"
};

// A program a namespace runs: argv as given (a YAML list) or split from a string with shell-like quoting (no
// expansion, no shell). `exec:` commands run once after a fresh `up`; `run:` processes are started, recorded
// and stopped by ctnet (src/topology/process.h).
struct Command {
  std::vector<std::string> argv;
  std::string field;                // "namespaces.ns1.exec[1]"
};
struct Process {
  std::string name;                 // unique in its namespace; default: the program's basename (+ "-N" if repeated)
  std::vector<std::string> argv;
  uint32_t stop_timeout = 5;        // seconds between SIGTERM and SIGKILL at `down`
  std::string field;                // "namespaces.ns1.run[0]"
};

struct Namespace {
  std::string name;
  bool loopback = true;             // bring `lo` up
  // IPv6 link-local addresses on the namespace's interfaces. Unset in the file: on only when the file gives
  // an interface in this namespace an IPv6 address (resolved by the parser).
  std::optional<bool> ipv6_link_local;
  std::vector<std::pair<std::string, std::string>> sysctls;  // key, value (net.* keys, per namespace)
  std::vector<RouteSpec> routes;
  std::vector<Command> exec;        // in order, after every object exists and the `run:` processes started
  std::vector<Process> run;
  int line = 0;
};

struct Bridge {
  std::string name;
  std::string ns = kHostNs;         // where the bridge lives
  uint32_t mtu = 0;
  bool vlan_filtering = false;
  // Exists already (in `ns`): ctnet attaches ports to it and never creates, changes or deletes it.
  bool external = false;
  std::optional<Prefix> subnet;     // when set, every address on this segment must lie in it
  std::vector<Prefix> addresses;    // addresses on the bridge itself (a gateway)
  int line = 0;
};

struct Pool {
  std::string name;
  Prefix subnet;
  int line = 0;
};

enum class Kind { veth, macvlan, ipvlan, host_device, vxlan, vf, vlan, dummy };
std::string_view to_string(Kind k);
std::optional<Kind> parse_kind(std::string_view s);

// One interface of a link, as it ends up: in namespace `ns` under `name`.
struct Endpoint {
  std::string ns = kHostNs;
  std::string name;
  std::string bridge;               // veth end that is a port of this bridge (ns is then the bridge's)
  std::vector<Prefix> addresses;
  // veth ends (long form): this end's own settings; mtu 0: the link's.
  std::optional<MacAddress> mac;
  uint32_t mtu = 0;
  std::optional<uint32_t> txqueuelen;
  std::optional<link::tc::Netem> impair;  // a netem qdisc at the root of this end (its egress)
  // A port of a VLAN-aware bridge: its access VLAN (PVID, untagged) or the VLANs it carries tagged (a trunk).
  uint16_t vlan = 0;
  std::vector<kinds::port::VlanRange> trunk;
};

// "access VLAN 10", "trunk 10, 20-30"; "" for a port without VLANs.
std::string vlans_str(const Endpoint& e);

struct Link {
  Kind kind = Kind::veth;
  int line = 0;
  std::string field;                // "links[3]" for messages
  uint32_t mtu = 0;
  Endpoint a;                       // veth: first end; others: the interface the link puts in a namespace
  Endpoint b;                       // veth: second end
  std::optional<Prefix> subnet;     // veth: when set, both ends' addresses must lie in it
  // macvlan / ipvlan / vlan
  Endpoint parent;                  // ns + name of the parent link
  std::string mode;                 // macvlan: bridge|private|vepa|passthru; ipvlan: l2|l3|l3s
  std::string flag;                 // ipvlan: bridge|private|vepa
  // host-device: the existing link in the host namespace that moves into a.ns (renamed to a.name)
  std::string device;
  // vf: an SR-IOV virtual function of PF `pf` (index `vf`, or PCI address `pci`, or the first free one)
  // handed to a.ns as a.name through src/sriov (which records and restores the VF's settings)
  std::string pf;
  std::optional<uint32_t> vf;
  std::string pci;
  std::optional<uint16_t> vlan;     // vf: the VF's VLAN; vlan: the 802.1Q ID (`id`)
  std::optional<MacAddress> mac;
  // vxlan: a is the vxlan device itself
  uint32_t vni = 0;
  std::optional<IpAddress> local, remote;
  uint16_t port = 4789;
  std::string underlay;             // device name in a.ns
};

struct Topology {
  std::string name;
  std::vector<Pool> pools;
  std::vector<Namespace> namespaces;
  std::vector<Bridge> bridges;
  std::vector<Link> links;

  const Namespace* find_ns(std::string_view n) const;
  const Bridge* find_bridge(std::string_view n) const;
};

// The resolved topology as JSON (kept in the state record so down/status/check work without the file) and back.
nlohmann::json to_json(const Topology& t);
Topology from_json(const nlohmann::json& j);

}  // namespace ctnet::topo
