#include "nft/masq.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ctnet::nft {
namespace {

const char* table_family(int family) { return family_name(family); }

Table masq_table(int family) { return {fmt::format("{} ctnet_masq", table_family(family)), {"postrouting"}}; }
constexpr const char* kSpoof = "bridge ctnet_macspoof";
const Table kSpoofTable{kSpoof, {"prerouting"}};

std::string masq_table_commands(int family) {
  const char* type = family == AF_INET ? "ipv4_addr" : "ipv6_addr";
  const char* match = family == AF_INET ? "ip" : "ip6";
  return fmt::format("create table {0} ctnet_masq\n"
                     "add chain {0} ctnet_masq postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
                     "add map {0} ctnet_masq src {{ type {1} : verdict; }}\n"
                     "add rule {0} ctnet_masq postrouting {2} saddr vmap @src\n",
                     table_family(family), type, match);
}

// The elements of a verdict map that jump to `chain` (the keys to delete), and whether any jumps elsewhere
// (another attachment still uses the table). `listing` is `nft -j list map ...`.
struct MapElements {
  std::vector<std::string> ours;
  bool others = false;
};
MapElements elements_jumping_to(const std::string& listing, const std::string& chain) {
  MapElements out;
  auto r = try_run(listing, true);
  if (!r.ok) return out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& item : j.value("nftables", nlohmann::json::array())) {
    if (!item.contains("map")) continue;
    for (const auto& e : item["map"].value("elem", nlohmann::json::array())) {
      // [key, {"jump": {"target": chain}}]
      if (!e.is_array() || e.size() != 2 || !e[0].is_string()) continue;
      const auto& v = e[1];
      if (v.contains("jump") && v["jump"].value("target", "") == chain) out.ours.push_back(e[0].get<std::string>());
      else out.others = true;
    }
  }
  return out;
}

// Removes an attachment's chain and the map elements that jump to it; true when other attachments' elements
// are left (an ADD puts its chain and its element in in one transaction, so the map tells who uses the table).
bool remove_chain(int family, const std::string& chain) {
  const char* fam = table_family(family);
  const MapElements e = elements_jumping_to(fmt::format("list map {} ctnet_masq src", fam), chain);
  std::string cmds;
  for (const auto& k : e.ours) cmds += fmt::format("delete element {} ctnet_masq src {{ {} }}\n", fam, k);
  cmds += fmt::format("delete chain {} ctnet_masq {}\n", fam, chain);
  auto r = try_run(cmds, false);
  if (!r.ok && r.err.find("No such file") == std::string::npos)
    throw Error(fmt::format("cannot remove nftables chain {} ctnet_masq {}: {}", fam, chain, r.err));
  return e.others;
}

bool table_exists(int family) { return nft::table_exists(masq_table(family)); }

}  // namespace

void add_masq(const MasqKey& key, const std::vector<Prefix>& addresses) {
  const std::string chain = chain_name(key);
  for (int family : {AF_INET, AF_INET6}) {
    std::string cmds;
    const char* fam = table_family(family);
    const char* match = family == AF_INET ? "ip" : "ip6";
    const char* multicast = family == AF_INET ? "224.0.0.0/4" : "ff00::/8";
    for (const auto& a : addresses) {
      if (a.family() != family) continue;
      if (cmds.empty())
        // Comments are limited to 128 bytes; network names are shorter in practice, GC matches the same text.
        cmds += fmt::format("add chain {} ctnet_masq {} {{ comment \"{}\"; }}\nflush chain {} ctnet_masq {}\n", fam,
                            chain, key.network.substr(0, 127), fam, chain);
      cmds += fmt::format("add rule {} ctnet_masq {} {} daddr {} accept\n", fam, chain, match, a.network().str());
      cmds += fmt::format("add rule {} ctnet_masq {} {} daddr != {} masquerade\n", fam, chain, match, multicast);
      cmds += fmt::format("add element {} ctnet_masq src {{ {} : jump {} }}\n", fam, a.address().str(), chain);
    }
    if (cmds.empty()) continue;
    TablesLock lock;
    try {
      with_table(masq_table(family), masq_table_commands(family), cmds,
                 fmt::format("cannot add masquerade rules for {}", key.container_id));
    } catch (...) {
      // Each nft run is one kernel transaction; the IPv4 rules of a dual-stack attachment went in before.
      if (family == AF_INET6 && table_exists(AF_INET)) {
        if (!remove_chain(AF_INET, chain)) delete_table(masq_table(AF_INET));
      }
      throw;
    }
  }
}

void remove_masq(const MasqKey& key) {
  const std::string chain = chain_name(key);
  for (int family : {AF_INET, AF_INET6}) {
    if (!table_exists(family)) continue;
    TablesLock lock;
    if (!remove_chain(family, chain)) delete_table(masq_table(family));
  }
}

void gc_masq(const std::string& network, const std::set<std::pair<std::string, std::string>>& valid) {
  std::set<std::string> keep;
  for (const auto& [id, ifname] : valid) keep.insert(chain_name({network, id, ifname}));
  // The JSON listing of nft 1.0.6 leaves chain comments out: the network is recognised by the name's prefix.
  const std::string prefix = network_prefix(network);
  for (int family : {AF_INET, AF_INET6}) {
    auto r = try_run(fmt::format("list table {} ctnet_masq", table_family(family)), true);
    if (!r.ok) continue;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) continue;
    for (const auto& item : j.value("nftables", nlohmann::json::array())) {
      if (!item.contains("chain")) continue;
      const auto& c = item["chain"];
      std::string name = c.value("name", "");
      if (name.rfind(prefix, 0) != 0 || keep.count(name)) continue;
      TablesLock lock;
      if (!remove_chain(family, name)) delete_table(masq_table(family));
    }
  }
}

namespace {

// As remove_chain, for the MAC spoof check's chains.
bool remove_spoof_chain(const std::string& chain) {
  const MapElements e = elements_jumping_to(fmt::format("list map {} ports", kSpoof), chain);
  std::string cmds;
  for (const auto& k : e.ours) cmds += fmt::format("delete element {} ports {{ \"{}\" }}\n", kSpoof, k);
  cmds += fmt::format("delete chain {} {}\n", kSpoof, chain);
  auto r = try_run(cmds, false);
  if (!r.ok && r.err.find("No such file") == std::string::npos)
    throw Error(fmt::format("cannot remove nftables chain {} {}: {}", kSpoof, chain, r.err));
  return e.others;
}
}  // namespace

void add_macspoof(const MasqKey& key, const std::string& host_ifname, const std::string& mac) {
  const std::string chain = chain_name(key);
  TablesLock lock;
  with_table(kSpoofTable,
             fmt::format("create table {0}\n"
                         "add chain {0} prerouting {{ type filter hook prerouting priority -300; policy accept; }}\n"
                         "add map {0} ports {{ type ifname : verdict; }}\n"
                         "add rule {0} prerouting iifname vmap @ports\n",
                         kSpoof),
             fmt::format("add chain {0} {1}\nflush chain {0} {1}\nadd rule {0} {1} ether saddr != {2} drop\n"
                         "add element {0} ports {{ \"{3}\" : jump {1} }}\n",
                         kSpoof, chain, mac, host_ifname),
             fmt::format("cannot add the MAC spoof check for {}", key.container_id));
}

void remove_macspoof(const MasqKey& key) {
  if (!try_run(fmt::format("list table {}", kSpoof), false).ok) return;
  TablesLock lock;
  if (!remove_spoof_chain(chain_name(key))) delete_table(kSpoofTable);
}

void gc_macspoof(const std::string& network, const std::set<std::pair<std::string, std::string>>& valid) {
  std::set<std::string> keep;
  for (const auto& [id, ifname] : valid) keep.insert(chain_name({network, id, ifname}));
  const std::string prefix = network_prefix(network);
  auto r = try_run(fmt::format("list table {}", kSpoof), true);
  if (!r.ok) return;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return;
  for (const auto& item : j.value("nftables", nlohmann::json::array())) {
    if (!item.contains("chain")) continue;
    std::string name = item["chain"].value("name", "");
    if (name.rfind(prefix, 0) != 0 || keep.count(name)) continue;
    TablesLock lock;
    if (!remove_spoof_chain(name)) delete_table(kSpoofTable);
  }
}

}  // namespace ctnet::nft
