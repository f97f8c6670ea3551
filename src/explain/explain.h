// `ctnet explain SRC DST`: the path a packet takes from a namespace to an address, hop by hop, with the kernel's
// own decisions wherever the kernel can be asked (RTM_GETROUTE as `ip route get` sends it, incl. iif for
// forwarded hops; neighbour and FDB entries by single-object gets; link, veth peer, bridge port, macvlan and
// VXLAN attributes; sysctls of the namespace; the nftables chains on the hook; sock_diag at the destination),
// then the return path. The first fault on the path is the verdict, with a code from a fixed list (kCodes).
// Only what the path touches is read: no namespace is dumped, a veth peer's namespace is found by its nsid.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ns/netns.h"
#include "util/ip.h"

namespace ctnet::explain {

// The verdict codes, documented in README.md ("ctnet explain").
inline constexpr const char* kCodes[] = {
    "no-route",      "neighbour-failed", "link-down",  "no-carrier",     "mtu",       "stp-blocking",
    "vlan",          "port-isolated",    "hairpin",    "bridge-netfilter-drop",      "netfilter-drop",
    "rp-filter",     "forwarding-off",   "macvlan-host", "macvlan-mode", "vxlan-no-fdb", "no-listener",
    "not-local",     "unknown"};

enum class Proto { icmp, tcp, udp };
std::string_view to_string(Proto p);

struct Request {
  NetNs src;
  std::string src_label;              // how SRC was named ("ns1", "lab/r1")
  IpAddress dst;
  std::optional<NetNs> dst_ns;        // DST given as a namespace: where the address must end up
  Proto proto = Proto::icmp;
  uint16_t port = 0;                  // tcp/udp destination port
  uint16_t sport = 0;                 // tcp/udp source port (0: any; a probe sets its own)
  uint16_t echo_id = 0;               // a probe's echo id (0: any)
  uint32_t size = 0;                  // L3 packet size; 0: the smallest packet of the protocol
  bool return_path = true;            // also walk the reply back to the source
  // Namespaces to try first when a veth peer's namespace is looked for by nsid (a lab's namespaces).
  std::vector<std::string> hint_names;
};

struct Hop {
  std::string ns;                     // label of the namespace ("host" for the one ctnet runs in)
  std::string dev;                    // the device the decision is about ("" when none)
  std::string step;                   // route | link | neighbour | veth | bridge | macvlan | vxlan | netfilter |
                                      // forward | local | socket | return
  std::string decision;               // what the kernel decides there, in words
  bool ok = true;                     // false: the packet stops here
  nlohmann::json detail = nlohmann::json::object();
};

struct Result {
  bool reaches = false;
  std::string code;                   // one of kCodes when !reaches
  std::string reason;
  std::string fix;
  std::vector<Hop> hops;
  int stop = -1;                      // index into hops of the stopping hop
  // The namespaces the forward path crossed, in order (labels; a probe watches these).
  std::vector<std::string> path_ns;
  std::optional<IpAddress> source;    // the source address the kernel chose for the packet
  // Every namespace the walk touched (both directions), with its label: where a probe is watched.
  std::vector<std::shared_ptr<NetNs>> spaces;
  std::vector<std::string> space_labels;
};

Result walk(const Request& r);

// "reaches DST" / "stops at HOP: REASON — fix: ..."
std::string verdict_line(const Result& r, const IpAddress& dst);
nlohmann::json to_json(const Result& r);
std::string render(const Result& r, const IpAddress& dst);

}  // namespace ctnet::explain
