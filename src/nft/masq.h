// IP masquerade and the MAC spoof check for CNI attachments, through libnftables in-process (nft/nft.h).
//
// Layout (one table per family, shared by every network):
//   table ip ctnet_masq {
//     map src { type ipv4_addr : verdict; elements = { 10.1.0.5 : jump c-<hash> } }
//     chain postrouting { type nat hook postrouting priority srcnat; ip saddr vmap @src }
//     chain c-<net>-<att> { comment "NETWORK"; ip daddr 10.1.0.0/16 accept; ip daddr != 224.0.0.0/4 masquerade }
//   }
// The chain is named by nft::chain_name (the attachment's key).
#pragma once
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nft/nft.h"
#include "util/ip.h"

namespace ctnet::nft {

// Adds masquerade for traffic from each address (with its subnet left alone). Throws Error.
void add_masq(const MasqKey& key, const std::vector<Prefix>& addresses);
// Removes the attachment's rules; idempotent.
void remove_masq(const MasqKey& key);
// Removes the rules of every attachment of `network` not in `valid` (container ID, ifname).
void gc_masq(const std::string& network, const std::set<std::pair<std::string, std::string>>& valid);

// MAC spoof check (bridge `macspoofchk`): frames entering the bridge from the container's port must carry the
// container's MAC. table bridge ctnet_macspoof { chain prerouting { type filter hook prerouting priority -300;
// iifname vmap @ports }, chain c-<net>-<att> { ether saddr != MAC drop } }; keyed like the masquerade rules.
void add_macspoof(const MasqKey& key, const std::string& host_ifname, const std::string& mac);
void remove_macspoof(const MasqKey& key);
void gc_macspoof(const std::string& network, const std::set<std::pair<std::string, std::string>>& valid);


}  // namespace ctnet::nft
