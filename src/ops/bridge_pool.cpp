#include "ops/bridge_pool.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "kinds/link_kind.h"
#include "ns/netns.h"
#include "util/error.h"
#include "util/paths.h"

namespace ctnet::ops {

namespace {

constexpr const char* kGateway = "gateway";

std::string pools_dir() { return state_dir() + "/bridges"; }

// A namespace in pool and lease names: its cookie, or (kernels before 5.14) its nsfs device and inode.
std::string ns_key(const kinds::NsRef& r) { return r.cookie ? fmt::format("c{}", r.cookie) : fmt::format("i{}.{}", r.dev, r.ino); }

template <class T>
std::optional<T> number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The holder's fields are joined by ':', so the path is escaped (a name `ip netns` made may hold any byte but '/').
std::string escape(std::string_view s) {
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/') o += static_cast<char>(c);
    else o += fmt::format("%{:02x}", c);
  }
  return o;
}
std::string unescape(std::string_view s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned v = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
      o += static_cast<char>(v);
      i += 2;
    } else {
      o += s[i];
    }
  }
  return o;
}

// "HOSTINDEX:HOSTNAME:DEV:INO:PATH" (the lease file's second line, where host-local keeps the interface name).
std::string holder_text(const Holder& h) {
  return fmt::format("{}:{}:{}:{}:{}", h.host_index, h.host_name, h.ns.dev, h.ns.ino, escape(h.ns.spec));
}
std::optional<Holder> parse_holder(const ipam::Attachment& a) {
  std::vector<std::string_view> f;
  std::string_view rest = a.second;
  for (size_t colon; f.size() < 4 && (colon = rest.find(':')) != std::string_view::npos; rest.remove_prefix(colon + 1))
    f.push_back(rest.substr(0, colon));
  if (f.size() != 4 || !(a.first.starts_with('c') || a.first.starts_with('i'))) return std::nullopt;  // the gateway's
  auto index = number<int>(f[0]);
  auto dev = number<uint64_t>(f[2]), ino = number<uint64_t>(f[3]);
  if (!index || !dev || !ino) return std::nullopt;
  Holder h{.ns = {.spec = unescape(rest), .dev = *dev, .ino = *ino}, .host_index = *index, .host_name = std::string(f[1])};
  if (a.first.starts_with('c')) h.ns.cookie = number<uint64_t>(std::string_view(a.first).substr(1)).value_or(0);
  return h;
}

// Still attached: its veth end is on the host (same index and name) and its namespace is where it was. Neither
// check alone would do: the namespace's name can be re-created with the same (reused) inode, and the kernel
// dismantles a deleted namespace's links a moment after its name is gone.
bool alive(NsSocket& host, const Holder& h) {
  if (kinds::name_of(host, h.host_index) != h.host_name) return false;
  struct stat st{};
  return ::stat(h.ns.spec.c_str(), &st) == 0 && st.st_dev == h.ns.dev && st.st_ino == h.ns.ino;
}

std::string label(const std::string& path) {
  const std::string run = std::string(kNetnsRunDir) + "/";
  return path.starts_with(run) ? fmt::format("namespace '{}'", path.substr(run.size())) : "namespace " + path;
}

kinds::Made record(const ipam::HostLocalConfig& c, const kinds::NsRef& ns, const ipam::Attachment& a, const std::string& address) {
  return {.kind = "lease", .ns = ns, .name = address,
          .saved = {{"dir", c.data_dir}, {"pool", c.network}, {"id", a.first}, {"holder", a.second}}};
}

// Kind "lease": releases the lease (and the pool's directory with its last one).
kinds::Removal remove_lease(kinds::Txn&, const kinds::Made& m) {
  ipam::HostLocalConfig c;
  c.data_dir = m.saved.value("dir", "");
  c.network = m.saved.value("pool", "");
  c.remove_empty = true;
  if (c.data_dir.empty() || c.network.empty()) throw Error("the record of lease " + m.name + " names no pool", EINVAL);
  return ipam::release(c, m.saved.value("id", ""), m.saved.value("holder", "")).empty() ? kinds::Removal::absent
                                                                                         : kinds::Removal::removed;
}
[[maybe_unused]] const bool kLeaseKind = (kinds::define_kind("lease", remove_lease), true);

// The host addresses of a subnet, in ranges around the reserved ones.
ipam::RangeSet ranges_of(const Prefix& subnet, std::vector<IpAddress> reserved) {
  const bool p2p = subnet.length() >= subnet.max_length() - 1;  // /31, /32, /127, /128: every address is a host
  const IpAddress start = p2p ? subnet.first() : subnet.host(1).address();
  const IpAddress end = p2p ? subnet.last() : subnet.host(subnet.host_count()).address();
  std::sort(reserved.begin(), reserved.end());
  ipam::RangeSet set;
  IpAddress from = start;
  bool done = false;
  for (const auto& r : reserved) {
    if (r.family() != start.family() || r < from || end < r) continue;
    if (from < r) set.push_back({subnet, from, r.plus(-1), {}});
    if (r == end) done = true;
    else from = r.plus(1);
  }
  if (!done) set.push_back({subnet, from, end, {}});
  return set;
}

}  // namespace

BridgePool bridge_pool(kinds::Txn& txn, NsSocket& host, int bridge_index, const std::string& bridge) {
  BridgePool p;
  p.host = txn.ref(host);
  p.bridge = bridge;
  p.config.data_dir = pools_dir();
  p.config.network = fmt::format("{}-{}-{}", ns_key(p.host), bridge_index, bridge);
  p.config.lowest_free = true;
  p.config.remove_empty = true;
  return p;
}

void drop_stale_pools(kinds::Txn& txn, NsSocket& host) {
  const std::string dir = pools_dir(), mine = ns_key(txn.ref(host)) + "-";
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string_view(e->d_name).starts_with(mine)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  for (const auto& name : names) {
    std::string_view rest = std::string_view(name).substr(mine.size());
    const size_t dash = rest.find('-');
    auto index = number<int>(rest.substr(0, dash));
    if (dash == std::string_view::npos || !index) continue;
    if (kinds::name_of(host, *index) == rest.substr(dash + 1)) continue;  // the bridge is still there
    ipam::HostLocalConfig c;
    c.data_dir = dir;
    c.network = name;
    c.remove_empty = true;
    auto all = ipam::leases(c);
    for (const auto& [a, holder] : all) kinds::remove(txn, record(c, {}, holder, a.str()));
    if (all.empty()) ipam::release(c, "", "");  // a pool without leases (a killed run's): release removes it
  }
}

void release_stale(kinds::Txn& txn, NsSocket& host, const BridgePool& pool) {
  for (const auto& [a, attachment] : ipam::leases(pool.config)) {
    auto h = parse_holder(attachment);
    if (h && !alive(host, *h)) kinds::remove(txn, record(pool.config, h->ns, attachment, a.str()));
  }
}

void lease_gateway(kinds::Txn& txn, const BridgePool& pool, const Prefix& gateway) {
  ipam::HostLocalConfig c = pool.config;
  const Prefix subnet = gateway.network();
  c.range_sets = {{{subnet, gateway.address(), gateway.address(), {}}}};
  const ipam::Attachment holder{kGateway, subnet.str()};
  auto held = [&] {
    auto mine = ipam::leases_of(c, holder.first, holder.second);
    return std::find(mine.begin(), mine.end(), gateway.address()) != mine.end();
  };
  if (held()) return;  // another attach leased it: not ours to release
  try {
    size_t i = txn.make(record(c, pool.host, holder, gateway.address().str()),
                        [&] { ipam::allocate(c, holder.first, holder.second, {gateway.address()}); });
    txn.done(i);
  } catch (const Conflict&) {
    if (held()) return;  // a concurrent attach leased it first
    std::string who = "someone else";
    for (const auto& [a, attachment] : ipam::leases(c))
      if (a == gateway.address())
        if (auto h = parse_holder(attachment)) who = label(h->ns.spec);
    throw InvalidInput("--gateway", fmt::format("{} (the first address of {}) is already the address of {} on bridge {}",
                                                gateway.address().str(), subnet.str(), who, pool.bridge));
  }
}

Prefix lease_address(kinds::Txn& txn, const BridgePool& pool, const Holder& holder, const std::optional<Prefix>& addr,
                     const std::optional<Prefix>& subnet, const std::vector<IpAddress>& reserved, const std::string& who) {
  ipam::HostLocalConfig c = pool.config;
  std::vector<IpAddress> requested;
  if (addr) {
    c.range_sets = {{{addr->network(), addr->address(), addr->address(), {}}}};
    requested = {addr->address()};
  } else {
    c.range_sets = {ranges_of(*subnet, reserved)};
  }
  const ipam::Attachment attachment{ns_key(holder.ns), holder_text(holder)};
  std::vector<ipam::Lease> got;
  try {
    if (c.range_sets[0].empty()) throw Exhausted("every address is the bridge's");
    size_t i = txn.make(record(c, holder.ns, attachment, addr ? addr->address().str() : ""),
                        [&] { got = ipam::allocate(c, attachment.first, attachment.second, requested); });
    txn.entry(i).name = got.at(0).address.address().str();
    txn.done(i);
  } catch (const Conflict&) {
    throw Error(fmt::format("cannot attach '{}': address {} is already used on bridge {}", who, addr->str(), pool.bridge), EADDRINUSE);
  } catch (const Exhausted&) {
    throw Error(fmt::format("cannot attach '{}': subnet {} has no free address left", who, subnet->str()), ENOSPC);
  }
  return got[0].address;
}

std::vector<kinds::Made> detached_leases(NsSocket& host, const BridgePool& pool, const kinds::NsRef* ns,
                                         const std::string& path) {
  std::vector<kinds::Made> out;
  for (const auto& [a, attachment] : ipam::leases(pool.config)) {
    auto h = parse_holder(attachment);
    if (!h) continue;
    const bool mine = ns ? attachment.first == ns_key(*ns) : h->ns.spec == path;
    if (mine && !alive(host, *h)) out.push_back(record(pool.config, h->ns, attachment, a.str()));
  }
  return out;
}

}  // namespace ctnet::ops
