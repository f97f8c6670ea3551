#include "ops/scenarios.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "addr/address.h"
#include "addr/route.h"
#include "link/bridge.h"
#include "link/veth.h"
#include "ns/ns_socket.h"
#include "ops/undo.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fd.h"
#include "util/names.h"
#include "util/paths.h"

namespace ctnet {

namespace {
uint32_t fnv32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// Brings up the end that was born in another namespace and addresses it (the peer of a veth cannot be
// created up: veth_open() on the peer runs before the pair is linked and fails with ENOTCONN).
void finish_end(NsSocket& where, int index, const std::string& ifname, const std::optional<Prefix>& a) {
  link::change(where.rtnl, index, {.up = true}, fmt::format("cannot bring up {} in '{}'", ifname, where.ns.label()));
  if (a) addr::add(where.rtnl, index, *a, fmt::format("{} in '{}'", ifname, where.ns.label()));
}

// Index of a link just created in another namespace (one RTM_GETLINK in that namespace).
int index_of(NsSocket& where, const std::string& ifname) { return link::get(where.rtnl, ifname, where.ns.label()).index; }
}  // namespace

// A readable name when it is a valid interface name, else a hash of what it names: cutting it at 15 bytes
// would give two long names that share a prefix the same interface name.
std::string default_ns_ifname(const std::string& towards) {
  std::string readable = "veth-" + towards;
  if (is_valid_ifname(readable)) return readable;
  return fmt::format("ve{:08x}", fnv32(towards));
}

std::string default_host_ifname(const std::string& ns, const std::string& bridge) {
  std::string readable = ns + "-" + bridge;
  if (is_valid_ifname(readable)) return readable;
  return fmt::format("vh{:08x}", fnv32(ns + '\0' + bridge));
}

std::pair<Prefix, Prefix> connect_addresses(const Prefix& subnet) {
  // A point-to-point subnet (/31, RFC 3021; /127, RFC 6164) has no network or broadcast address to skip.
  if (subnet.length() == subnet.max_length() - 1) return {subnet.host(0), subnet.host(1)};
  if (subnet.host_count() < 2)
    throw InvalidInput("--subnet", fmt::format("{} has room for fewer than two hosts (a /{} or shorter is needed)",
                                               subnet.str(), subnet.max_length() - 1));
  return {subnet.host(1), subnet.host(2)};
}

ConnectResult connect_namespaces(const std::string& ns1, const std::string& ns2, const ConnectOptions& o) {
  // Validate everything before touching the kernel.
  const NetnsArg n1 = NetnsArg::parse(ns1, "NS1"), n2 = NetnsArg::parse(ns2, "NS2");
  ConnectResult r;
  r.ifname1 = o.ifname1.empty() ? default_ns_ifname(n2.short_name()) : o.ifname1;
  r.ifname2 = o.ifname2.empty() ? default_ns_ifname(n1.short_name()) : o.ifname2;
  validate_ifname(r.ifname1, "--name1");
  validate_ifname(r.ifname2, "--name2");
  if (o.subnet && (o.addr1 || o.addr2)) throw InvalidInput("--subnet", "give either --subnet or --addr1/--addr2");
  if (bool(o.addr1) != bool(o.addr2)) throw InvalidInput(o.addr1 ? "--addr2" : "--addr1", "is required with the other address");
  if (o.subnet) {
    auto [a1, a2] = connect_addresses(*o.subnet);
    r.addr1 = a1;
    r.addr2 = a2;
  } else if (o.addr1) {
    if (o.addr1->family() != o.addr2->family()) throw InvalidInput("--addr2", "is not the same IP family as --addr1");
    if (o.addr1->address() == o.addr2->address()) throw InvalidInput("--addr2", "is the same address as --addr1");
    if (!o.addr1->network().contains(o.addr2->address()))
      throw InvalidInput("--addr2", fmt::format("{} is not in the subnet of --addr1 ({})", o.addr2->str(), o.addr1->network().str()));
    r.addr1 = o.addr1;
    r.addr2 = o.addr2;
  }
  if (o.mtu) validate_mtu(*o.mtu, "--mtu", r.addr1 && r.addr1->address().is_v6());

  NsSocket a = NsSocket::of(n1.open());
  NsSocket b = NsSocket::of(n2.open());
  if (a.ns.same_as(b.ns)) throw InvalidInput("NS2", "is the namespace NS1 names (a veth pair joins two namespaces)");
  UndoLog undo;
  link::create_veth(a.rtnl, {.name = r.ifname1, .peer_name = r.ifname2, .peer_netns_fd = b.ns.fd(), .mtu = o.mtu.value_or(0), .up = true});
  undo.add(fmt::format("veth {} in '{}'", r.ifname1, ns1), [&] { link::remove(a.rtnl, r.ifname1); });
  finish_end(b, index_of(b, r.ifname2), r.ifname2, r.addr2);
  if (r.addr1) addr::add(a.rtnl, index_of(a, r.ifname1), *r.addr1, fmt::format("{} in '{}'", r.ifname1, ns1));
  undo.commit();
  return r;
}

AttachResult attach_namespace(const std::string& ns_arg, const AttachOptions& o) {
  const NetnsArg where = NetnsArg::parse(ns_arg, "NS");
  const std::string& ns = where.short_name();  // the lease owner and part of the default host name
  const bool create = o.create_ns && !where.exists();
  if (create) {
    if (!where.named() || where.text.starts_with("/"))
      throw InvalidInput("--create", fmt::format("makes a namespace by NAME; '{}' is a path or pid:N", ns_arg));
    validate_netns_name(where.name, "NS");  // what ctnet makes keeps the strict rules
  }
  validate_ifname(o.bridge, "--bridge");
  AttachResult r;
  r.ifname = o.ifname.empty() ? default_ns_ifname(o.bridge) : o.ifname;
  r.host_ifname = o.host_ifname.empty() ? default_host_ifname(ns, o.bridge) : o.host_ifname;
  validate_ifname(r.ifname, "--name");
  validate_ifname(r.host_ifname, "--host-name");
  if (o.addr && o.subnet) throw InvalidInput("--subnet", "give either --addr or --subnet");
  if (o.gateway && !o.addr && !o.subnet) throw InvalidInput("--gateway", "needs --addr or --subnet (the gateway is the subnet's first address)");
  std::optional<Prefix> subnet = o.subnet ? std::optional(o.subnet->network()) : o.addr ? std::optional(o.addr->network()) : std::nullopt;
  std::optional<Prefix> gateway = subnet && o.gateway ? std::optional(subnet->host(1)) : std::nullopt;
  if (o.addr && gateway && o.addr->address() == gateway->address())
    throw InvalidInput("--addr", fmt::format("{} is the gateway address of the bridge", o.addr->str()));
  if (o.addr && o.addr->address() == o.addr->first() && o.addr->length() < o.addr->max_length() - 1)
    throw InvalidInput("--addr", fmt::format("{} is the network address of its subnet", o.addr->str()));
  if (o.mtu) validate_mtu(*o.mtu, "--mtu", subnet && subnet->address().is_v6());

  NsSocket host = NsSocket::current();
  UndoLog ns_undo;  // outlives `target`: the namespace is removed only after our socket in it is closed
  if (create) {
    NetNs::create_named(ns);
    ns_undo.add("namespace " + ns, [&] { NetNs::remove_named(ns); });
    r.ns_created = true;
  }
  NsSocket target = NsSocket::of(where.open());
  BridgeLeases leases(o.bridge);
  auto bridge = link::find(host.rtnl, o.bridge);
  UndoLog undo;  // declared after everything its steps refer to, so it runs before they are destroyed
  if (!bridge) {
    link::create_bridge(host.rtnl, {.name = o.bridge, .mtu = o.mtu.value_or(0)});
    undo.add("bridge " + o.bridge, [&] { link::remove(host.rtnl, o.bridge); });
    bridge = link::get(host.rtnl, o.bridge);
    r.bridge_created = true;
  } else if (bridge->kind != "bridge") {
    throw Error(fmt::format("cannot attach to '{}': it is a {} link, not a bridge", o.bridge, bridge->kind.empty() ? "physical" : bridge->kind));
  } else if (!bridge->is_up()) {
    link::change(host.rtnl, bridge->index, {.up = true}, "cannot bring up bridge " + o.bridge);
  }
  if (gateway) {
    // One request whether or not the bridge already has it: EEXIST means another attach put it there.
    nl::Message m = addr::add_request(bridge->index, *gateway);
    std::string text;
    if (int err = host.rtnl.try_ack(m, &text); err && err != EEXIST)
      throw Error(fmt::format("cannot add address {} to {}", gateway->str(), o.bridge), err, text);
    else if (!err && !r.bridge_created)
      undo.add("gateway address on " + o.bridge, [&] { addr::remove(host.rtnl, bridge->index, *gateway); });
  }
  // The address: explicit, or the next free one of the subnet, leased so two attaches never share it.
  if (o.addr) {
    if (!leases.take(o.addr->address(), ns))
      throw Error(fmt::format("cannot attach '{}': address {} is already used on bridge {}", ns, o.addr->str(), o.bridge), EADDRINUSE);
    r.addr = o.addr;
  } else if (subnet) {
    std::vector<IpAddress> on_bridge;  // the gateway, or any address an admin gave the bridge
    for (auto& a : addr::list(host.rtnl, bridge->index, subnet->family())) on_bridge.push_back(a.prefix.address());
    r.addr = leases.take_next(*subnet, ns, on_bridge);
    if (!r.addr) throw Error(fmt::format("cannot attach '{}': subnet {} has no free address left", ns, subnet->str()), ENOSPC);
  }
  if (r.addr) undo.add("address lease " + r.addr->str(), [&] { leases.release(r.addr->address()); });

  uint32_t mtu = o.mtu.value_or(bridge->mtu);
  link::create_veth(host.rtnl, {.name = r.host_ifname, .peer_name = r.ifname, .peer_netns_fd = target.ns.fd(),
                                .mtu = mtu, .master = bridge->index, .up = true});
  undo.add("veth " + r.host_ifname, [&] { link::remove(host.rtnl, r.host_ifname); });
  int index = index_of(target, r.ifname);
  finish_end(target, index, r.ifname, r.addr);
  if (gateway) {
    addr::add(target.rtnl, addr::Route{.dst = addr::default_route(gateway->family()), .gateway = gateway->address(), .oif = index});
  }
  undo.commit();
  ns_undo.commit();
  return r;
}

bool detach_namespace(const std::string& ns_arg, const std::string& bridge, const std::string& ifname) {
  const NetnsArg where = NetnsArg::parse(ns_arg, "NS");
  const std::string& ns = where.short_name();
  validate_ifname(bridge, "--bridge");
  const std::string name = ifname.empty() ? default_ns_ifname(bridge) : ifname;
  validate_ifname(name, "--name");
  bool removed = false;
  BridgeLeases leases(bridge);
  if (auto a = leases.find_owner(ns)) {
    leases.release(*a);
    removed = true;
  }
  if (!where.exists()) return removed;  // the namespace took its veth end, and so the pair, with it
  NsSocket target = NsSocket::of(where.open());
  // Deleting one end of a veth deletes the pair, so the host end on the bridge goes too.
  return link::remove(target.rtnl, name) || removed;
}

BridgeLeases::BridgeLeases(const std::string& bridge) {
  // Keyed by the host namespace too: the same bridge name in two namespaces is two bridges.
  dir_ = fmt::format("{}/bridges/{}-{}", state_dir(), NetNs::current().inode(), bridge);
}

bool BridgeLeases::take(const IpAddress& a, const std::string& owner) {
  make_dirs(dir_);
  const std::string path = dir_ + "/" + a.str();
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    if (errno != EEXIST) throw_errno("cannot write lease " + path);
    char buf[256] = {};
    Fd r(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ssize_t n = r ? ::read(r.get(), buf, sizeof buf - 1) : -1;
    return n > 0 && std::string(buf, static_cast<size_t>(n)) == owner;  // re-taking our own lease is fine
  }
  if (fault::fail_write() || ::write(fd.get(), owner.data(), owner.size()) != static_cast<ssize_t>(owner.size()))
    throw_errno("cannot write lease " + path);
  return true;
}

std::optional<Prefix> BridgeLeases::take_next(const Prefix& subnet, const std::string& owner,
                                              const std::vector<IpAddress>& reserved) {
  if (auto mine = find_owner(owner)) return Prefix(*mine, subnet.length());
  int64_t count = std::min<int64_t>(subnet.host_count(), 1 << 20);
  for (int64_t n = 1; n <= count; ++n) {
    Prefix p = subnet.host(n);
    if (std::find(reserved.begin(), reserved.end(), p.address()) != reserved.end()) continue;
    if (take(p.address(), owner)) return p;
  }
  return std::nullopt;
}

void BridgeLeases::release(const IpAddress& a) {
  ::unlink((dir_ + "/" + a.str()).c_str());
  // Each rmdir only succeeds once the directory is empty: the last release leaves no trace.
  ::rmdir(dir_.c_str());
  ::rmdir(dir_.substr(0, dir_.rfind('/')).c_str());
}

std::optional<IpAddress> BridgeLeases::find_owner(const std::string& owner) const {
  DIR* d = opendir(dir_.c_str());
  if (!d) return std::nullopt;
  std::optional<IpAddress> found;
  while (dirent* e = readdir(d)) {
    auto a = IpAddress::try_parse(e->d_name);
    if (!a) continue;
    char buf[256] = {};
    Fd f(::open((dir_ + "/" + e->d_name).c_str(), O_RDONLY | O_CLOEXEC));
    ssize_t n = f ? ::read(f.get(), buf, sizeof buf - 1) : -1;
    if (n > 0 && std::string(buf, static_cast<size_t>(n)) == owner) {
      found = a;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace ctnet
