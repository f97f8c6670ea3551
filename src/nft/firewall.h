// The CNI `firewall` plugin's rules in ctnet's own nftables table, shared by every network:
//
//   table inet ctnet_firewall {
//     set containers4, containers6 { ipv4_addr / ipv6_addr }   # every attachment's addresses (comment: whose)
//     set isolated { ifname }, same_bridge { ifname . ifname }  # bridges of ingressPolicy same-bridge / isolated
//     chain forward { type filter hook forward priority filter;
//       jump CNI-ADMIN                                          # the admin chain: users' own rules come first
//       iifname @isolated oifname @isolated jump isolation      # isolated bridges do not reach each other
//       ip daddr @containers4 ct state established,related accept; ip saddr @containers4 accept  (and IPv6) }
//     chain isolation { iifname . oifname @same_bridge return; drop }
//     chain CNI-ADMIN { }
//   }
// An ADD adds set elements only (its cost does not grow with the containers on the host). nftables runs every
// base chain of a hook: these accepts end this table's verdict only, they cannot undo a drop in another table
// (a host FORWARD policy of DROP set through iptables stays in force); a drop here (admin rules, isolation)
// drops. The table goes when no attachment is left and the admin chain holds no rule of the user's.
#pragma once
#include <string>
#include <vector>

#include "nft/nft.h"
#include "util/ip.h"

namespace ctnet::nft {

enum class IngressPolicy { open, same_bridge, isolated };

struct FirewallSpec {
  MasqKey key;
  std::vector<IpAddress> addresses;
  IngressPolicy ingress = IngressPolicy::open;
  std::string bridge;                      // the network's bridge (ingress policies other than open)
  std::string admin_chain = "CNI-ADMIN";
};

void add_firewall(const FirewallSpec& spec);
void remove_firewall(const MasqKey& key);
void gc_firewall(const std::string& network, const Attachments& valid);
std::vector<std::string> check_firewall(const FirewallSpec& spec);

inline constexpr const char* kFirewallTable = "inet ctnet_firewall";

}  // namespace ctnet::nft
