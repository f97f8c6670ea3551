#include "ops/scenarios.h"

#include <fmt/format.h>

#include <cerrno>
#include <optional>

#include "addr/address.h"
#include "addr/route.h"
#include "kinds/address.h"
#include "kinds/bridge.h"
#include "kinds/link_kind.h"
#include "kinds/netns.h"
#include "kinds/txn.h"
#include "kinds/veth.h"
#include "link/link.h"
#include "ns/ns_socket.h"
#include "ops/bridge_pool.h"
#include "ops/rollback.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet {

namespace {
uint32_t fnv32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

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

  kinds::Txn txn;
  try {
    NsSocket& a = txn.open(ns1);
    NsSocket& b = txn.open(ns2);
    if (&a == &b || a.ns.same_as(b.ns)) throw InvalidInput("NS2", "is the namespace NS1 names (a veth pair joins two namespaces)");
    auto v = kinds::veth::apply(txn, {.ns = ns1, .name = r.ifname1, .peer_ns = ns2, .peer_name = r.ifname2, .mtu = o.mtu.value_or(0)});
    if (r.addr2) kinds::address::apply(txn, {.ns = ns2, .ifname = r.ifname2, .ifindex = v.peer_index, .prefix = *r.addr2});
    if (r.addr1) kinds::address::apply(txn, {.ns = ns1, .ifname = r.ifname1, .ifindex = v.index, .prefix = *r.addr1});
  } catch (...) {
    ops::rollback_and_rethrow(txn);
  }
  txn.commit();
  return r;
}

AttachResult attach_namespace(const std::string& ns_arg, const AttachOptions& o) {
  const NetnsArg where = NetnsArg::parse(ns_arg, "NS");
  const std::string& ns = where.short_name();  // part of the default host name
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
  if (o.addr) kinds::address::validate({.prefix = *o.addr}, "--addr");
  if (o.mtu) validate_mtu(*o.mtu, "--mtu", subnet && subnet->address().is_v6());

  // The order matters to the pool: a namespace's lease is written only once its veth end is on the bridge, so
  // that another attach never takes a lease being made for stale.
  kinds::Txn txn;
  try {
    NsSocket& host = txn.host();
    if (create) {
      kinds::netns::apply(txn, {.name = ns, .loopback = false});  // as `ns add`: lo stays as the kernel made it
      r.ns_created = true;
    }
    NsSocket& target = txn.open(ns_arg);
    auto br = kinds::bridge::ensure(txn, {.name = o.bridge, .mtu = o.mtu.value_or(0), .shared = true}, "--bridge");
    r.bridge_created = br.created;
    ops::BridgePool pool = ops::bridge_pool(txn, host, br.link.index, o.bridge);
    ops::drop_stale_pools(txn, host);
    ops::release_stale(txn, host, pool);
    if (gateway) {
      ops::lease_gateway(txn, pool, *gateway);
      // Whether or not the bridge has it already: another attach (or an admin) put it there, not ours to remove.
      kinds::address::apply(txn, {.ifname = o.bridge, .ifindex = br.link.index, .prefix = *gateway, .may_exist = true});
    }
    auto v = kinds::veth::apply(txn, {.name = r.host_ifname, .peer_ns = ns_arg, .peer_name = r.ifname,
                                      .mtu = o.mtu.value_or(br.link.mtu), .master = o.bridge});
    if (subnet) {
      std::vector<IpAddress> on_bridge;  // the gateway, or any address an admin gave the bridge
      if (!o.addr)
        for (auto& a : addr::list(host.rtnl, br.link.index, subnet->family())) on_bridge.push_back(a.prefix.address());
      kinds::NsRef ns_ref = txn.ref(target);
      ns_ref.spec = where.path;  // how the pool looks for it later
      r.addr = ops::lease_address(txn, pool, {.ns = ns_ref, .host_index = v.index, .host_name = r.host_ifname}, o.addr,
                                  subnet, on_bridge, ns);
      kinds::address::apply(txn, {.ns = ns_arg, .ifname = r.ifname, .ifindex = v.peer_index, .prefix = *r.addr});
    }
    if (gateway) {
      kinds::route::apply(txn, {.ns = ns_arg, .route = {.dst = addr::default_route(gateway->family()), .gateway = gateway->address(),
                                                       .oif = v.peer_index}});
    }
  } catch (...) {
    ops::rollback_and_rethrow(txn);
  }
  txn.commit();
  return r;
}

bool detach_namespace(const std::string& ns_arg, const std::string& bridge, const std::string& ifname) {
  const NetnsArg where = NetnsArg::parse(ns_arg, "NS");
  validate_ifname(bridge, "--bridge");
  const std::string name = ifname.empty() ? default_ns_ifname(bridge) : ifname;
  validate_ifname(name, "--name");
  kinds::Txn txn;  // makes nothing: it lends the removes its sockets
  NsSocket& host = txn.host();
  bool removed = false;
  std::optional<kinds::NsRef> ns_ref;
  if (NsSocket* target = where.exists() ? txn.reopen({.spec = ns_arg}) : nullptr) {
    ns_ref = txn.ref(*target);
    // Deleting one end of a veth deletes the pair, so the host end on the bridge goes too.
    if (auto l = link::find(target->rtnl, name))
      removed = kinds::remove(txn, {.kind = "veth", .ns = *ns_ref, .name = name, .ifindex = l->index}) == kinds::Removal::removed;
  }
  // The lease, from the pool's records (a pool whose bridge is gone goes at the next attach on this host).
  int bridge_index = 0;
  try {
    bridge_index = kinds::index_of(host, bridge);
  } catch (const Error&) {  // no such bridge (any more): no pool to look in
  }
  if (bridge_index) {
    ops::BridgePool pool = ops::bridge_pool(txn, host, bridge_index, bridge);
    for (const auto& m : ops::detached_leases(host, pool, ns_ref ? &*ns_ref : nullptr, where.path))
      removed |= kinds::remove(txn, m) == kinds::Removal::removed;
  }
  txn.commit();
  return removed;
}

}  // namespace ctnet
