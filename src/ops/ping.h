// ICMP echo sent by ctnet itself from inside a namespace (no ping binary needed): a raw ICMP/ICMPv6 socket is
// opened in the namespace through NsGuard and used from the calling thread afterwards. The options are those of
// iputils ping that lab work reaches for: payload size, DF (path MTU tests), TTL, source, interval.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "util/ip.h"

namespace ctnet {
class NetNs;

// -M: what the kernel does with a packet larger than the path MTU (IP_MTU_DISCOVER / IPV6_MTU_DISCOVER).
enum class PmtuDisc { kernel_default, dont /* fragment it */, do_ /* DF: refuse it, EMSGSIZE */ };

struct PingOptions {
  int count = 3;
  std::chrono::milliseconds interval{200};
  std::chrono::milliseconds timeout{1000};  // per echo
  int size = 56;                            // ICMP payload bytes (after the 8-byte echo header), as ping's -s
  std::optional<int> ttl;                   // IPv4 TTL / IPv6 hop limit
  PmtuDisc pmtu = PmtuDisc::kernel_default;
  std::string bind_dev;                     // -I IFACE: SO_BINDTODEVICE
  std::optional<IpAddress> source;          // -I ADDR: bind() to it (must be an address of the namespace)
  int scope_ifindex = 0;                    // fe80::1%eth0: the link (in the namespace) a link-local target is on
};

// The limits, one InvalidInput per option naming it (-c, -i, -W, -s, -t) before any socket is opened.
// A user's -i is at least kMinPingInterval (checked by the CLI: ctnet's own `check` paces its echoes faster).
inline constexpr std::chrono::milliseconds kMinPingInterval{200};  // as iputils ping allows a user: a diagnostic, not a flood
// -s: the largest payload one IP packet carries: 65535 - 20 (IPv4 header) - 8, or 65535 - 8 for IPv6 (whose
// payload length excludes its header).
int max_ping_size(int family);
void validate(const PingOptions& o, int family);

struct Echo {
  std::optional<double> rtt_ms;  // the reply's round trip
  int ttl = 0;                   // of the reply (IPv4; 0 when unknown)
  std::string error;             // the echo could not be sent, or an ICMP error came back ("" with no rtt: a timeout)
};

struct PingResult {
  int sent = 0;
  int received = 0;
  std::vector<Echo> echoes;
  int path_mtu = 0;  // what the kernel knows of the path MTU, when an echo was refused as too large (EMSGSIZE)
  bool ok() const { return received > 0; }
  double min_ms() const;
  double avg_ms() const;
  double max_ms() const;
};

// Returns as soon as `count` echoes were answered or timed out. Throws only when the socket cannot be opened or
// set up (the namespace is gone, a bad -I); an unreachable target is a result with received == 0.
PingResult ping(const NetNs& ns, const IpAddress& target, const PingOptions& opts = {});

}  // namespace ctnet
