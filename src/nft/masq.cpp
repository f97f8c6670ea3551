#include "nft/masq.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fault.h"
#include "util/fd.h"

namespace ctnet::nft {
namespace {

// The few entry points of libnftables we use (see /usr/include/nftables/libnftables.h).
struct Lib {
  void* (*ctx_new)(uint32_t);
  void (*ctx_free)(void*);
  int (*buffer_output)(void*);
  int (*buffer_error)(void*);
  const char* (*get_output)(void*);
  const char* (*get_error)(void*);
  void (*set_flags)(void*, unsigned);
  int (*run_cmd)(void*, const char*);
};
constexpr unsigned kOutputJson = 1u << 4;  // NFT_CTX_OUTPUT_JSON

const Lib& lib() {
  static Lib l;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    void* h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      failure = dlerror();
      return;
    }
    auto sym = [&](const char* name) {
      void* p = dlsym(h, name);
      if (!p) failure = fmt::format("libnftables.so.1 lacks {}", name);
      return p;
    };
    l.ctx_new = reinterpret_cast<void* (*)(uint32_t)>(sym("nft_ctx_new"));
    l.ctx_free = reinterpret_cast<void (*)(void*)>(sym("nft_ctx_free"));
    l.buffer_output = reinterpret_cast<int (*)(void*)>(sym("nft_ctx_buffer_output"));
    l.buffer_error = reinterpret_cast<int (*)(void*)>(sym("nft_ctx_buffer_error"));
    l.get_output = reinterpret_cast<const char* (*)(void*)>(sym("nft_ctx_get_output_buffer"));
    l.get_error = reinterpret_cast<const char* (*)(void*)>(sym("nft_ctx_get_error_buffer"));
    l.set_flags = reinterpret_cast<void (*)(void*, unsigned)>(sym("nft_ctx_output_set_flags"));
    l.run_cmd = reinterpret_cast<int (*)(void*, const char*)>(sym("nft_run_cmd_from_buffer"));
  });
  if (!failure.empty()) throw Error("ipMasq needs libnftables (package libnftables1): " + failure);
  return l;
}

struct Result {
  bool ok;
  std::string out, err;
};

Result try_run(const std::string& cmds, bool json) {
  const Lib& l = lib();
  if (fault::fail_request()) return {false, "", fault::request_text()};  // tests only
  void* ctx = l.ctx_new(0);
  if (!ctx) throw Error("cannot create an nftables context");
  l.buffer_output(ctx);
  l.buffer_error(ctx);
  if (json) l.set_flags(ctx, kOutputJson);
  int rc = l.run_cmd(ctx, cmds.c_str());
  // Each get_*_buffer call hands the buffer over and resets it: read each once.
  const char* out = l.get_output(ctx);
  const char* err = l.get_error(ctx);
  Result r{rc == 0, out ? out : "", err ? err : ""};
  l.ctx_free(ctx);
  return r;
}

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string network_prefix(const std::string& network) {
  return fmt::format("c-{:08x}-", static_cast<uint32_t>(fnv1a(network)));
}

const char* table_family(int family) { return family == AF_INET ? "ip" : "ip6"; }

// Held while a plugin creates a shared table or deletes one it finds unused, so that no other plugin of this
// network namespace adds its chain in between. An abstract AF_UNIX name is per network namespace and goes
// with the process that bound it, also on kill -9: no lock file is left behind (unix(7), "Abstract sockets").
class TablesLock {
 public:
  TablesLock() : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (!fd_) throw_errno("cannot create the nftables lock socket");
    static constexpr char kName[] = "ctnet-nft-tables";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, kName, sizeof kName - 1);  // sun_path[0] = 0: abstract
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sizeof kName);
    for (int tries = 0; ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), len) != 0; ++tries) {
      if (errno != EADDRINUSE || tries > 20000) throw_errno("cannot take the nftables lock");
      ::usleep(500);  // another plugin holds it for one or two nft runs
    }
  }

 private:
  Fd fd_;
};

// A table of ours, and the base chain every other chain of it hangs off.
struct Table {
  std::string name;  // "ip ctnet_masq"
  const char* base;  // "postrouting"
};
Table masq_table(int family) { return {fmt::format("{} ctnet_masq", table_family(family)), "postrouting"}; }
constexpr const char* kSpoof = "bridge ctnet_macspoof";
const Table kSpoofTable{kSpoof, "prerouting"};

void delete_table(const Table& t) {
  auto r = try_run("delete table " + t.name, false);
  if (!r.ok && r.err.find("No such file") == std::string::npos)
    throw Error(fmt::format("cannot remove the unused nftables table {}: {}", t.name, r.err));
}

// Deletes `t` when it holds no chain but its base chain (the caller holds TablesLock): a host without
// attachments has none of our tables, as before the first ADD.
void delete_if_unused(const Table& t) {
  auto r = try_run("list table " + t.name, true);
  if (!r.ok) return;  // not there
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return;
  for (const auto& item : j.value("nftables", nlohmann::json::array()))
    if (item.contains("chain") && item["chain"].value("name", "") != t.base) return;
  delete_table(t);
}

// Runs `setup` (one nft transaction) once the table exists (`create` makes it). When setup fails, a table
// created for it goes again. The caller holds TablesLock.
void with_table(const Table& t, const std::string& create, const std::string& setup, const std::string& what) {
  // One transaction: either it creates the whole table or it fails because another ADD already did.
  auto r = try_run(create, false);
  const bool created = r.ok;
  if (!r.ok && r.err.find("File exists") == std::string::npos)
    throw Error(fmt::format("cannot create nftables table {}: {}", t.name, r.err));
  r = try_run(setup, false);
  if (r.ok) return;
  if (created) delete_if_unused(t);
  throw Error(fmt::format("{}: {}", what, r.err));
}

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

bool table_exists(int family) {
  return try_run(fmt::format("list table {} ctnet_masq", table_family(family)), false).ok;
}

}  // namespace

std::string chain_name(const MasqKey& k) {
  uint64_t h = fnv1a(k.network);
  h = fnv1a(std::string_view("\0", 1), h);
  h = fnv1a(k.container_id, h);
  h = fnv1a(std::string_view("\0", 1), h);
  h = fnv1a(k.ifname, h);
  return network_prefix(k.network) + fmt::format("{:016x}", h);
}

std::string run(const std::string& commands, bool json_output) {
  auto r = try_run(commands, json_output);
  if (!r.ok) throw Error("nft: " + r.err);
  return r.out;
}

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
