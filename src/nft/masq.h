// IP masquerade for CNI attachments through libnftables, in-process. libnftables.so.1 is dlopen()ed on first
// use, so plugins that do not masquerade pay nothing for it at startup.
//
// Layout (one table per family, shared by every network):
//   table ip ctnet_masq {
//     map src { type ipv4_addr : verdict; elements = { 10.1.0.5 : jump c-<hash> } }
//     chain postrouting { type nat hook postrouting priority srcnat; ip saddr vmap @src }
//     chain c-<net>-<att> { comment "NETWORK"; ip daddr 10.1.0.0/16 accept; ip daddr != 224.0.0.0/4 masquerade }
//   }
// <net> hashes the network name and <att> (network, container ID, ifname), so DEL finds the rules by container
// ID alone, even when the namespace and the lease are gone, and GC finds every chain of one network.
#pragma once
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "util/ip.h"

namespace ctnet::nft {

struct MasqKey {
  std::string network, container_id, ifname;
};

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

// The chain name of an attachment (exposed for tests).
std::string chain_name(const MasqKey& key);
// Runs nft commands (exposed for tests reading the rules back); returns the output, throws Error on failure.
std::string run(const std::string& commands, bool json_output = false);

}  // namespace ctnet::nft
