#include "nft/firewall.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <functional>
#include <map>
#include <set>

#include "util/error.h"

namespace ctnet::nft {
namespace {

using nlohmann::json;

const Table kTable{kFirewallTable, {"forward", "isolation", "CNI-ADMIN"}};

std::string create_commands() {
  const std::string t = kFirewallTable;
  return fmt::format(
      "create table {0}\n"
      "add set {0} containers4 {{ type ipv4_addr; }}\n"
      "add set {0} containers6 {{ type ipv6_addr; }}\n"
      "add set {0} isolated {{ type ifname; }}\n"
      "add set {0} same_bridge {{ type ifname . ifname; }}\n"
      "add chain {0} CNI-ADMIN\n"
      "add chain {0} isolation\n"
      "add rule {0} isolation iifname . oifname @same_bridge return\n"
      "add rule {0} isolation drop\n"
      "add chain {0} forward {{ type filter hook forward priority filter; policy accept; }}\n"
      "add rule {0} forward jump CNI-ADMIN\n"
      "add rule {0} forward iifname @isolated oifname @isolated jump isolation\n"
      "add rule {0} forward ip daddr @containers4 ct state established,related accept\n"
      "add rule {0} forward ip saddr @containers4 accept\n"
      "add rule {0} forward ip6 daddr @containers6 ct state established,related accept\n"
      "add rule {0} forward ip6 saddr @containers6 accept\n",
      t);
}

struct Listed {
  std::vector<std::pair<std::string, json>> ours;  // (set, key)
  size_t others = 0;                               // other attachments' addresses
  bool admin_rules = false;                        // a rule of the user's in an admin chain
  std::set<std::string> chains;
};

Listed scan(const json& listing, const std::function<bool(const std::string&)>& is_ours) {
  Listed out;
  for (const auto& item : listing) {
    if (item.contains("set")) {
      const auto& s = item["set"];
      const std::string name = s.value("name", "");
      if (name != "containers4" && name != "containers6") continue;
      for (const auto& e : s.value("elem", json::array())) {
        const bool commented = e.is_object() && e.contains("elem");
        const std::string comment = commented ? e["elem"].value("comment", "") : "";
        if (is_ours(comment)) out.ours.emplace_back(name, commented ? e["elem"].value("val", json()) : e);
        else ++out.others;
      }
    } else if (item.contains("chain")) {
      out.chains.insert(item["chain"].value("name", ""));
    } else if (item.contains("rule")) {
      const std::string chain = item["rule"].value("chain", "");
      if (chain != "forward" && chain != "isolation") out.admin_rules = true;
    }
  }
  return out;
}

// Removes the listed addresses, or the whole table when it is left with no attachment and no admin rule.
void remove_listed(const Listed& l) {
  if (l.ours.empty()) return;
  if (l.others == 0 && !l.admin_rules) {
    delete_table(kTable);
    return;
  }
  std::map<std::string, json> by_set;
  for (const auto& [set, key] : l.ours) by_set[set].push_back(key);
  json cmds = json::array();
  for (auto& [set, keys] : by_set)
    cmds.push_back({{"delete", {{"element", {{"family", "inet"}, {"table", "ctnet_firewall"}, {"name", set}, {"elem", keys}}}}}});
  auto r = try_run(json{{"nftables", cmds}}.dump(), true);  // JSON input is read in JSON mode (libnftables 1.0.6)
  if (!r.ok) throw Error(fmt::format("cannot remove firewall rules from nftables table {}: {}", kFirewallTable, r.err));
}

const char* set_of(const IpAddress& a) { return a.is_v4() ? "containers4" : "containers6"; }

}  // namespace

void add_firewall(const FirewallSpec& s) {
  const std::string t = kFirewallTable;
  const std::string comment = chain_name(s.key);
  std::string cmds;
  if (s.admin_chain != "CNI-ADMIN") {
    // Another admin chain: made on first use and jumped to once, beside the default one.
    const auto listed = list_json("chain " + t + " forward");
    bool jumps = false;
    for (const auto& item : listed)
      if (item.contains("rule") && item["rule"].dump().find("\"target\":\"" + s.admin_chain + "\"") != std::string::npos) jumps = true;
    cmds += fmt::format("add chain {} {}\n", t, s.admin_chain);
    if (!jumps) cmds += fmt::format("insert rule {} forward jump {}\n", t, s.admin_chain);
  }
  if (s.ingress != IngressPolicy::open) {
    cmds += fmt::format("add element {} isolated {{ \"{}\" }}\n", t, s.bridge);
    if (s.ingress == IngressPolicy::same_bridge)
      cmds += fmt::format("add element {} same_bridge {{ \"{}\" . \"{}\" }}\n", t, s.bridge, s.bridge);
  }
  for (const auto& a : s.addresses)
    cmds += fmt::format("add element {} {} {{ {} comment \"{}\" }}\n", t, set_of(a), a.str(), comment);
  TablesLock lock;
  with_table(kTable, create_commands(), cmds, fmt::format("cannot add the firewall rules of {}", s.key.container_id));
}

void remove_firewall(const MasqKey& key) {
  if (!table_exists(kTable)) return;
  const std::string comment = chain_name(key);
  TablesLock lock;
  remove_listed(scan(list_json(std::string("table ") + kFirewallTable), [&](const std::string& c) { return c == comment; }));
}

void gc_firewall(const std::string& network, const Attachments& valid) {
  if (!table_exists(kTable)) return;
  std::set<std::string> keep;
  for (const auto& [id, ifname] : valid) keep.insert(chain_name({network, id, ifname}));
  const std::string prefix = network_prefix(network);
  TablesLock lock;
  remove_listed(scan(list_json(std::string("table ") + kFirewallTable),
                     [&](const std::string& c) { return c.starts_with(prefix) && !keep.count(c); }));
}

std::vector<std::string> check_firewall(const FirewallSpec& s) {
  const std::string comment = chain_name(s.key);
  const auto listing = list_json(std::string("table ") + kFirewallTable);
  std::vector<std::string> out;
  if (listing.empty()) return {fmt::format("nftables table {} is missing", kFirewallTable)};
  const Listed l = scan(listing, [&](const std::string& c) { return c == comment; });
  for (const auto& a : s.addresses) {
    bool found = false;
    for (const auto& [set, key] : l.ours) found = found || (set == set_of(a) && key.is_string() && key.get<std::string>() == a.str());
    if (!found) out.push_back(fmt::format("{} is not in {} {}", a.str(), kFirewallTable, set_of(a)));
  }
  if (!l.chains.count(s.admin_chain)) out.push_back(fmt::format("the admin chain {} is missing", s.admin_chain));
  return out;
}

}  // namespace ctnet::nft
