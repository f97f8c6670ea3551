// The verdict of a namespace's nftables chains on one hook for one packet, as far as it can be evaluated from
// the ruleset (libnftables' JSON listing): the matches ctnet understands (addresses, ports, l4proto, interface
// names, ICMP type, ct state as the packet's first or a reply) are evaluated; anything else (sets by
// reference, xt matches of iptables-nft, marks ...) makes the verdict "cannot tell", never a guess.
#pragma once
#include <cstdint>
#include <string>

#include "ns/netns.h"
#include "util/ip.h"

namespace ctnet::explain {

struct NfPacket {
  IpAddress src, dst;
  uint8_t l4proto = 0;          // IPPROTO_*
  uint16_t sport = 0, dport = 0;  // 0: not known (any)
  int icmp_type = -1;
  std::string iif, oif;
  bool reply = false;           // ct state established (a reply) instead of new
};

enum class NfVerdict { accept, drop, unknown };

struct NfResult {
  NfVerdict verdict = NfVerdict::accept;
  std::string where;            // "inet filter forward rule handle 4" / "... policy drop"
  std::string why;              // unknown: what could not be evaluated
  bool any_chain = false;       // a chain on the hook exists
};

// hook: "prerouting" "input" "forward" "output" "postrouting"; bridge: the bridge family's chains instead of
// ip/ip6/inet ones.
NfResult evaluate(const NetNs& ns, const std::string& hook, const NfPacket& p, bool bridge = false);

}  // namespace ctnet::explain
