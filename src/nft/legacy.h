// The iptables-legacy filter table, read through its own kernel interface (getsockopt IPT_SO_GET_INFO /
// IPT_SO_GET_ENTRIES on a raw socket, net/ipv4/netfilter/ip_tables.c; ip6_tables.c for IPv6), so a FORWARD
// policy set by a legacy `iptables -P FORWARD DROP` is seen as well as nftables'. Only read when the module is
// already loaded (/proc/net/ip_tables_names exists in the namespace): opening the socket would load it.
#pragma once
#include <optional>
#include <string>

namespace ctnet {
class NetNs;
}

namespace ctnet::nft {

struct LegacyChain {
  bool drops = false;   // policy DROP
  int rules = 0;        // rules in the chain besides the policy
};

// The built-in chain `hook` (NF_INET_FORWARD, NF_INET_LOCAL_IN ...) of the legacy filter table of `family`
// (AF_INET, AF_INET6) in `ns` (nullptr: the calling thread's); nullopt when the module or the table is absent.
std::optional<LegacyChain> legacy_filter_chain(const NetNs* ns, int family, unsigned hook);

}  // namespace ctnet::nft
