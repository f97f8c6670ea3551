// ICMP echo sent by ctnet itself from inside a namespace (no ping binary needed): a raw ICMP/ICMPv6 socket is
// opened in the namespace through NsGuard and used from the calling thread afterwards.
#pragma once
#include <chrono>
#include <optional>
#include <vector>

#include "util/ip.h"

namespace ctnet {
class NetNs;

struct PingOptions {
  int count = 3;
  std::chrono::milliseconds interval{200};
  std::chrono::milliseconds timeout{1000};  // per echo
};

struct PingResult {
  int sent = 0;
  int received = 0;
  std::vector<std::optional<double>> rtt_ms;  // per echo; nullopt = no reply
  bool ok() const { return received > 0; }
  double min_ms() const;
  double avg_ms() const;
  double max_ms() const;
};

// Returns as soon as `count` echoes were answered or timed out. Throws only when the socket cannot be opened
// (the namespace is gone); an unreachable target is a result with received == 0.
PingResult ping(const NetNs& ns, const IpAddress& target, const PingOptions& opts = {});

}  // namespace ctnet
