// What every ctnet nftables feature shares: libnftables, in-process (dlopen()ed on first use, so plugins that
// do not touch nftables pay nothing for it at startup), the lock around making and deleting shared tables, and
// the names that key rules to one attachment.
#pragma once
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ns/ns_lock.h"

namespace ctnet::nft {

// One attachment of a container to a network: what its rules are keyed by.
struct MasqKey {
  std::string network, container_id, ifname;
};
using Attachments = std::set<std::pair<std::string, std::string>>;  // (container ID, ifname)

// "c-<net>-<att>": <net> hashes the network name and <att> (network, container ID, ifname), so DEL finds an
// attachment's rules by container ID alone, even when the namespace and the lease are gone, and GC finds every
// attachment of one network by the prefix (network_prefix).
std::string chain_name(const MasqKey& key);
std::string network_prefix(const std::string& network);

struct RunResult {
  bool ok;
  std::string out, err;
};
// One nft command buffer (text or JSON input) = one kernel transaction. `json_output` asks for JSON listings.
RunResult try_run(const std::string& commands, bool json_output = false);
// The same; throws Error("nft: ...") on failure.
std::string run(const std::string& commands, bool json_output = false);
// A JSON listing (`list table ...`), parsed; an empty array when the object does not exist.
nlohmann::json list_json(const std::string& what);

// Held while a plugin creates a shared table or deletes one it finds unused, so that no other plugin of this
// network namespace adds its rules in between.
class TablesLock {
 public:
  TablesLock();

 private:
  NsLock lock_;  // in the namespace the plugin runs in, where libnftables acts
};

// A table of ours. `fixed` names the chains every instance of it has (an entry ending in '-' is a prefix); the
// table is in use while it holds any other chain or any set or map element.
struct Table {
  std::string name;                  // "ip ctnet_masq"
  std::vector<std::string> fixed;    // {"postrouting"}
};
// Runs `setup` (one transaction) once the table exists (`create` makes it in one transaction, or fails because
// another ADD already did). When setup fails, a table created for it goes again. The caller holds TablesLock.
void with_table(const Table& t, const std::string& create, const std::string& setup, const std::string& what);
// Deletes the table when nothing uses it (the caller holds TablesLock; `listing` is its JSON listing when the
// caller has one): a host without attachments has none of our tables, as before the first ADD.
void delete_if_unused(const Table& t, const nlohmann::json* listing = nullptr);
void delete_table(const Table& t);
bool table_exists(const Table& t);

const char* family_name(int family);  // "ip", "ip6"

}  // namespace ctnet::nft
