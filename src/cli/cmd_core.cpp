// Core verbs: ns, connect, attach, detach, ping, show, doctor.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "addr/address.h"
#include "cli/commands.h"
#include "link/link.h"
#include "ns/exec.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "kinds/txn.h"
#include "ops/bridge_pool.h"
#include "ops/doctor.h"
#include "ops/inventory.h"
#include "ops/ping.h"
#include "ops/scenarios.h"
#include "util/error.h"
#include "util/names.h"
#include "topology/model.h"
#include "topology/state.h"
#include "util/english.h"

namespace ctnet::cli {
namespace {

using nlohmann::json;

std::optional<Prefix> parse_prefix(const std::string& text, const char* field) {
  if (text.empty()) return std::nullopt;
  return Prefix::parse(text, field);
}

// `ip netns exec` semantics (iproute2 ip/ipnetns.c netns_switch, bind_etc): run in the namespace, in a private
// mount namespace (so the caller's mounts are untouched) with /sys remounted to show the namespace's links and,
// for a named namespace, each file of /etc/netns/NAME bind-mounted over its /etc counterpart (resolv.conf ...).
// As a shell does, a command that is not found exits 127, one that cannot be run 126.
// As `ip netns exec`: its own mount namespace, the namespace's /sys and /etc/netns files (ns/exec.h).
void exec_in(const NetnsArg& where, const std::vector<std::string>& cmd) {
  std::fflush(stdout);
  const int rc = ns_exec::run_foreground(where.open(), where.name, where.short_name(), cmd);
  if (rc != 0) std::exit(rc);  // the command's own status, not ctnet's "error" code
}

void add_ns_commands(CLI::App& app) {
  auto* ns = app.add_subcommand("ns", "network namespaces (the same ones `ip netns` manages)");
  ns->require_subcommand(1);

  static std::string name;
  auto* add = ns->add_subcommand("add", "create a named namespace (as `ip netns add`)\n  example: ctnet ns add ns1");
  add->add_option("NAME", name)->required();
  add->callback([] {
    NetNs::create_named(name);
  });

  auto* del = ns->add_subcommand("del", "delete a named namespace and every link in it (idempotent)\n"
                                        "  example: ctnet ns del ns1   (or /run/netns/ns1)");
  del->alias("delete");
  del->add_option("NAME", name, "namespace name, or its path under /run/netns")->required();
  del->callback([] {
    NetnsArg a = NetnsArg::parse(name, "NAME");
    if (!a.named())
      throw InvalidInput("NAME", fmt::format("'{}' is not under {}: only a named namespace can be deleted (a process's "
                                             "namespace ends with its last process)", name, kNetnsRunDir));
    if (!NetNs::remove_named(a.name)) fmt::print(stderr, "ctnet: namespace '{}' was not there (nothing to do)\n", name);
  });

  static bool all = false;
  static Output out;
  auto* list = ns->add_subcommand("list", "list named namespaces; --all: every network namespace on the host with "
                                          "its processes (as `lsns -t net`)\n  example: ctnet ns list --all");
  list->alias("ls");
  list->add_flag("-a,--all", all, "every network namespace, named or not");
  add_output_option(list, out);
  list->callback([] {
    if (!all) {
      auto names = NetNs::list_named();
      if (out.json()) {
        std::cout << json(names).dump(2) << "\n";
      } else {
        for (auto& n : names) std::cout << n << "\n";
      }
      return;
    }
    auto usage = list_all_netns();
    if (out.json()) {
      json j = json::array();
      for (auto& u : usage)
        j.push_back({{"ns", u.inode}, {"type", "net"}, {"nprocs", u.pids.size()}, {"pid", u.pids.empty() ? 0 : u.pids.front()},
                     {"command", u.command}, {"names", u.names}});
      std::cout << j.dump(2) << "\n";
      return;
    }
    fmt::print("{:>12} {:<4} {:>6} {:>7} {:<16} {}\n", "NS", "TYPE", "NPROCS", "PID", "NAMES", "COMMAND");
    for (auto& u : usage) {
      std::string names;
      for (auto& n : u.names) names += (names.empty() ? "" : ",") + n;
      fmt::print("{:>12} {:<4} {:>6} {:>7} {:<16} {}\n", u.inode, "net", u.pids.size(),
                 u.pids.empty() ? std::string("-") : std::to_string(u.pids.front()), names.empty() ? "-" : names, u.command);
    }
  });

  static std::vector<std::string> cmd;
  auto* exec = ns->add_subcommand("exec", "run a command inside a namespace (as `ip netns exec`)\n"
                                          "  example: ctnet ns exec ns1 -- ip addr");
  exec->add_option("NS", name, "namespace name, /path/to/nsfile or pid:N")->required();
  exec->add_option("CMD", cmd, "command and arguments (after --)")->required();
  exec->callback([] { exec_in(NetnsArg::parse(name, "NS"), cmd); });
}

void add_connect(CLI::App& app) {
  static std::string ns1, ns2, subnet, addr1, addr2, name1, name2;
  static std::optional<uint32_t> mtu;
  auto* c = app.add_subcommand("connect", "seed scenario 1: join two namespaces with a veth pair, both ends up and addressed\n"
                                          "  example: ctnet connect ns1 ns2 --subnet 10.10.0.0/24");
  c->add_option("NS1", ns1, "namespace name, /path/to/nsfile or pid:N")->required();
  c->add_option("NS2", ns2, "namespace name, /path/to/nsfile or pid:N")->required();
  c->add_option("--subnet", subnet, "addresses .1 (NS1) and .2 (NS2) of this subnet (.0 and .1 of a /31)");
  c->add_option("--addr1", addr1, "address of the NS1 end (CIDR)");
  c->add_option("--addr2", addr2, "address of the NS2 end (CIDR)");
  c->add_option("--mtu", mtu, "MTU of both ends (68..65535; 1280 or more with IPv6 addresses)");
  c->add_option("--name1", name1, "interface name in NS1 (default veth-NS2, or ve<hash> if longer than 15 bytes)");
  c->add_option("--name2", name2, "interface name in NS2 (default veth-NS1, or ve<hash> if longer than 15 bytes)");
  c->callback([] {
    auto r = connect_namespaces(ns1, ns2, {.subnet = parse_prefix(subnet, "--subnet"), .addr1 = parse_prefix(addr1, "--addr1"),
                                           .addr2 = parse_prefix(addr2, "--addr2"), .mtu = mtu, .ifname1 = name1, .ifname2 = name2});
    fmt::print("{}:{} {} <-> {}:{} {}\n", ns1, r.ifname1, r.addr1 ? r.addr1->str() : "-", ns2, r.ifname2,
               r.addr2 ? r.addr2->str() : "-");
  });
}

void add_attach(CLI::App& app) {
  static std::string ns, bridge, addr, subnet, name, host_name;
  static bool gateway = false, create = false;
  static std::optional<uint32_t> mtu;
  auto* a = app.add_subcommand("attach", "seed scenario 2: join a namespace to a bridge (created and brought up if missing)\n"
                                         "  example: ctnet attach ns1 --bridge br0 --subnet 10.20.0.0/24 --gateway");
  a->add_option("NS", ns, "namespace name, /path/to/nsfile or pid:N")->required();
  a->add_option("--bridge", bridge, "bridge in the host namespace")->required();
  a->add_option("--addr", addr, "address of the namespace end (CIDR)");
  a->add_option("--subnet", subnet, "take the next free address of this subnet");
  a->add_flag("--gateway", gateway, "give the bridge the subnet's first address and route the namespace's default through it");
  a->add_option("--mtu", mtu, "MTU of the veth pair (default: the bridge's)");
  a->add_option("--name", name, "interface name in the namespace (default veth-BRIDGE)");
  a->add_option("--host-name", host_name, "name of the host end (default NS-BRIDGE, or vh<hash> if longer than 15 bytes)");
  a->add_flag("--create", create, "create the namespace first if it does not exist");
  a->callback([] {
    auto r = attach_namespace(ns, {.bridge = bridge, .addr = parse_prefix(addr, "--addr"), .subnet = parse_prefix(subnet, "--subnet"),
                                   .gateway = gateway, .mtu = mtu, .ifname = name, .host_ifname = host_name, .create_ns = create});
    fmt::print("{}:{} {} <-> {} on bridge {}{}\n", ns, r.ifname, r.addr ? r.addr->str() : "-", r.host_ifname, bridge,
               r.bridge_created ? " (created)" : "");
  });

  static std::string dname;
  auto* d = app.add_subcommand("detach", "remove a namespace's link to a bridge and release its address (idempotent)\n"
                                         "  example: ctnet detach ns1 --bridge br0");
  d->add_option("NS", ns, "namespace name, /path/to/nsfile or pid:N")->required();
  d->add_option("--bridge", bridge, "the bridge")->required();
  d->add_option("--name", dname, "interface name in the namespace (default veth-BRIDGE)");
  d->callback([] {
    if (!detach_namespace(ns, bridge, dname)) fmt::print(stderr, "ctnet: '{}' was not attached to {} (nothing to do)\n", ns, bridge);
  });
}

// Whether a link has IPv6 addresses of its own (not only the link-local ones the kernel gives it), which an MTU
// below 1280 would take away.
bool carries_ipv6(nl::Socket& s, int index) {
  for (auto& a : addr::list(s, index, AF_INET6))
    if (!(a.prefix.address().data()[0] == 0xfe && (a.prefix.address().data()[1] & 0xc0) == 0x80)) return true;
  return false;
}

// Opens a namespace by --ns (name, path or pid:N), or the host when empty.
NsSocket open_place(const std::string& ns) { return ns.empty() ? NsSocket::current() : NsSocket::open(ns, "--ns"); }

void add_link_commands(CLI::App& app) {
  auto* l = app.add_subcommand("link", "links of any kind in a namespace: change, delete (`ctnet show` lists them)");
  l->require_subcommand(1);
  static std::string ns, name, new_name, mac, master, move_to;
  static std::optional<uint32_t> mtu, txqlen;
  static std::optional<std::string> alias, promisc;
  static bool up = false, down = false, nomaster = false;

  auto* set = l->add_subcommand("set", "change a link: up/down, MTU, MAC, name, master, namespace, alias, promisc, txqueuelen\n"
                                        "  example: ctnet link set veth1 --ns ns1 --up --mtu 1400 --alias uplink --txqueuelen 500");
  set->add_option("NAME", name)->required();
  set->add_option("--ns", ns, "namespace the link is in: name, /path or pid:N (default: host)");
  set->add_flag("--up", up);
  set->add_flag("--down", down)->excludes("--up");
  set->add_option("--mtu", mtu, "68..65535 (1280 or more with IPv6 addresses)");
  set->add_option("--mac", mac);
  set->add_option("--name", new_name, "rename");
  set->add_option("--master", master, "enslave to this bridge");
  set->add_flag("--nomaster", nomaster, "release from its bridge")->excludes("--master");
  set->add_option("--netns", move_to, "move into this namespace (renamed on arrival with --name)");
  set->add_option("--alias", alias, "IFLA_IFALIAS, up to 255 bytes of UTF-8 (\"\" clears it)");
  set->add_option("--promisc", promisc, "on | off")->check(CLI::IsMember({"on", "off"}));
  set->add_option("--txqueuelen,--qlen", txqlen, "transmit queue length in packets (0..4294967295)");
  set->callback([] {
    validate_ifname(name, "NAME");
    link::Change c;
    if (up || down) c.up = up;
    if (mtu) validate_mtu(*mtu, "--mtu");
    if (!mac.empty()) c.mac = MacAddress::parse(mac, "--mac");
    if (!new_name.empty()) {
      validate_ifname(new_name, "--name");
      c.name = new_name;
    }
    if (!master.empty()) validate_ifname(master, "--master");
    if (alias) {
      validate_utf8(*alias, "--alias");
      // The kernel refuses longer aliases (IFALIASZ - 1: net/core/dev.c dev_set_alias) with a bare ERANGE.
      if (alias->size() > 255) throw InvalidInput("--alias", fmt::format("{} bytes is longer than 255", alias->size()));
      if (alias->find('\0') != std::string::npos) throw InvalidInput("--alias", "contains a NUL byte");
      c.alias = alias;
    }
    if (promisc) c.promisc = *promisc == "on";
    c.txqlen = txqlen;
    if (!master.empty() && !move_to.empty())
      throw InvalidInput("--master", "cannot be combined with --netns (the kernel moves the link first); run a second "
                                     "`link set` with --ns of the new namespace");
    std::optional<NetNs> target;
    if (!move_to.empty()) target = NetNs::open(move_to, "--netns");
    NsSocket where = open_place(ns);
    auto l = link::get(where.rtnl, name, where.ns.label());
    if (mtu) {
      validate_mtu(*mtu, "--mtu", carries_ipv6(where.rtnl, l.index));
      c.mtu = mtu;
    }
    if (!master.empty()) {
      // Checked first: the kernel releases the link from its current bridge before it tries the new master.
      auto m = link::find(where.rtnl, master);
      if (!m) throw InvalidInput("--master", fmt::format("no bridge '{}' in {}", master, ns.empty() ? "the host" : "'" + ns + "'"));
      if (m->kind != "bridge")
        throw InvalidInput("--master", fmt::format("'{}' is {} link, not a bridge", master, article(m->kind.empty() ? "physical" : m->kind)));
      c.master = m->index;
    }
    if (nomaster) c.master = 0;
    if (target) c.netns_fd = target->fd();
    link::change(where.rtnl, l.index, c,
                 master.empty() ? fmt::format("cannot change link {}", name) : fmt::format("cannot add {} to {}", name, master));
  });

  auto* del = l->add_subcommand("del", "delete a link (a veth takes its peer with it); idempotent\n"
                                        "  example: ctnet link del br0");
  del->alias("delete");
  del->add_option("NAME", name)->required();
  del->add_option("--ns", ns, "namespace the link is in: name, /path or pid:N (default: host)");
  del->callback([] {
    validate_ifname(name, "NAME");
    if (!ns.empty()) NetnsArg::parse(ns, "--ns");
    // The kinds' remove, from what the kernel shows: the same path a rollback takes.
    kinds::Txn txn;  // makes nothing: it lends the remove its socket
    NsSocket& where = txn.open(ns);
    auto l = link::find(where.rtnl, name);
    const bool driven = l && (l->kind == "veth" || l->kind == "bridge" || l->kind == "vxlan" || l->kind == "macvlan" ||
                              l->kind == "ipvlan");
    if (!l || kinds::remove(txn, {.kind = driven ? l->kind : "link", .ns = txn.ref(where), .name = name, .ifindex = l->index}) !=
                  kinds::Removal::removed) {
      fmt::print(stderr, "ctnet: link '{}' was not there (nothing to do)\n", name);
      return;
    }
    if (l->kind == "bridge") ops::drop_stale_pools(txn, where);  // its address pool goes with it
  });
}

void add_ping(CLI::App& app) {
  static std::string ns, target, source, pmtu;
  static int count = 3, size = 56;
  static std::optional<int> ttl;
  static double timeout = 1.0, interval = 0.2;
  auto* p = app.add_subcommand("ping", "ICMP echo from inside a namespace, sent by ctnet itself (options as iputils ping)\n"
                                       "  example: ctnet ping ns1 10.20.0.3 -c 3 -s 1472 -M do\n"
                                       "  example: ctnet ping ns1 fe80::1%eth0 -I eth0");
  p->add_option("NS", ns, "namespace name, /path/to/nsfile or pid:N")->required();
  p->add_option("ADDRESS", target, "IPv4 or IPv6 address; a link-local one with %IFACE (fe80::1%eth0)")->required();
  p->add_option("-c,--count", count, "echoes to send (1..10000)");
  p->add_option("-W,--timeout", timeout, "seconds to wait for each reply (more than 0)");
  p->add_option("-i,--interval", interval, "seconds between echoes (at least 0.2)");
  p->add_option("-s,--size", size, "payload bytes (0..65507 IPv4, 0..65527 IPv6); 56 by default, as ping");
  p->add_option("-M", pmtu, "do: set DF, refuse what exceeds the path MTU; dont: let the kernel fragment")
      ->check(CLI::IsMember({"do", "dont", "want"}));
  p->add_option("-I,--interface", source, "send through this link (IFACE) or from this address of the namespace (ADDR)");
  p->add_option("-t,--ttl", ttl, "IPv4 TTL / IPv6 hop limit (1..255)");
  p->callback([] {
    // Everything is checked before the first echo, each error naming its option.
    std::string addr_text = target, scope;
    if (auto pct = target.find('%'); pct != std::string::npos) {
      addr_text = target.substr(0, pct);
      scope = target.substr(pct + 1);
    }
    IpAddress a = IpAddress::parse(addr_text, "ADDRESS");
    PingOptions o{.count = count,
                  .interval = std::chrono::milliseconds(static_cast<int64_t>(interval * 1000)),
                  .timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)),
                  .size = size,
                  .ttl = ttl,
                  .pmtu = pmtu == "do" ? PmtuDisc::do_ : pmtu == "dont" ? PmtuDisc::dont : PmtuDisc::kernel_default};
    if (timeout > 0 && o.timeout.count() == 0) o.timeout = std::chrono::milliseconds(1);
    const bool link_local = a.is_v6() && a.data()[0] == 0xfe && (a.data()[1] & 0xc0) == 0x80;
    if (!scope.empty() && !link_local)
      throw InvalidInput("ADDRESS", fmt::format("'%{}' is for link-local addresses (fe80::/10), not {}", scope, a.str()));
    if (!scope.empty()) validate_ifname(scope, "ADDRESS");
    std::optional<IpAddress> src;
    if (!source.empty()) {
      if (auto sa = IpAddress::try_parse(source)) src = sa;
      else validate_ifname(source, "-I");
    }
    if (o.interval < kMinPingInterval)
      throw InvalidInput("-i", fmt::format("{:.3f} s is below the least interval, {:.1f} s", o.interval.count() / 1000.0,
                                           kMinPingInterval.count() / 1000.0));
    validate(o, a.family());
    NsSocket where = NsSocket::open(ns, "NS");
    if (!scope.empty()) {
      auto l = link::find(where.rtnl, scope);
      if (!l) throw InvalidInput("ADDRESS", fmt::format("no link '{}' in '{}' for %{}", scope, ns, scope));
      o.scope_ifindex = l->index;
    }
    if (src) {
      bool ours = false;
      for (auto& x : addr::list(where.rtnl, 0, src->family()))
        if (x.prefix.address() == *src) ours = true, o.scope_ifindex = o.scope_ifindex ? o.scope_ifindex : x.index;
      if (!ours) throw InvalidInput("-I", fmt::format("{} is not an address of namespace '{}'", src->str(), ns));
      o.source = src;
    } else if (!source.empty()) {
      if (!link::find(where.rtnl, source)) throw InvalidInput("-I", fmt::format("no link '{}' in '{}'", source, ns));
      o.bind_dev = source;
    }
    if (link_local && !o.scope_ifindex)
      throw InvalidInput("ADDRESS", fmt::format("{} is link-local: say which link with %IFACE ({}%eth0) or -I IFACE", a.str(), a.str()));
    auto r = ping(where.ns, a, o);
    const std::string shown = scope.empty() ? a.str() : a.str() + "%" + scope;
    for (size_t i = 0; i < r.echoes.size(); ++i) {
      const Echo& e = r.echoes[i];
      if (e.rtt_ms)
        fmt::print("{} bytes from {}: seq={}{} time={:.3f} ms\n", 8 + size, shown, i + 1, e.ttl ? fmt::format(" ttl={}", e.ttl) : "",
                   *e.rtt_ms);
      else if (!e.error.empty()) fmt::print("{}: seq={}: {}\n", shown, i + 1, e.error);
      else fmt::print("no reply from {}: seq={} (timeout after {} s)\n", shown, i + 1, timeout);
    }
    fmt::print("--- {} from {}: {} sent, {} received", shown, ns, r.sent, r.received);
    if (r.ok()) fmt::print(", rtt min/avg/max = {:.3f}/{:.3f}/{:.3f} ms", r.min_ms(), r.avg_ms(), r.max_ms());
    fmt::print("\n");
    if (r.ok()) return;
    // An echo the kernel refused (or an ICMP error) says why; otherwise it is a timeout, not an errno.
    for (auto& e : r.echoes)
      if (!e.error.empty()) throw Error(fmt::format("{} is unreachable from {}: {}", shown, ns, e.error));
    throw Error(fmt::format("{} is unreachable from {}: no reply within {} s to any of {}", shown, ns, timeout,
                            plural(r.sent, "echo request")));
  });
}

json link_json(const LinkView& lv) {
  json j{{"name", lv.link.name}, {"index", lv.link.index}, {"kind", lv.link.kind.empty() ? "device" : lv.link.kind},
         {"state", lv.link.is_up() ? (lv.link.has_carrier() ? "up" : "no-carrier") : "down"}, {"mtu", lv.link.mtu}};
  if (lv.link.mac) j["mac"] = lv.link.mac->str();
  if (!lv.master_name.empty()) j["master"] = lv.master_name;
  json addrs = json::array();
  for (auto& a : lv.addresses) addrs.push_back(a.str());
  j["addresses"] = addrs;
  if (lv.peer) j["peer"] = {{"namespace", lv.peer->ns.empty() ? "host" : lv.peer->ns}, {"ifname", lv.peer->ifname},
                            {"bridge", lv.peer->bridge}};
  return j;
}

// `show --brief`: `ip -br addr` lines (name@peer, operstate, addresses), `ip -j -br addr` objects in JSON.
template <class Shown>
void print_brief(const std::vector<NsView>& spaces, Shown&& shown, bool one_ns, bool as_json) {
  json j = json::array();
  for (auto& sp : spaces) {
    const std::string where = sp.is_host() ? "host" : sp.name;
    for (auto& lv : sp.links) {
      if (!shown(sp, lv)) continue;
      const auto& l = lv.link;
      std::string state(link::operstate_name(l.operstate));
      if (as_json) {
        json addrs = json::array();
        for (auto& a : lv.addresses) addrs.push_back({{"local", a.address().str()}, {"prefixlen", a.length()}});
        j.push_back({{"namespace", where}, {"ifname", l.name}, {"operstate", state}, {"addr_info", addrs}});
        continue;
      }
      std::string addrs;
      for (auto& a : lv.addresses) addrs += a.str() + " ";
      std::string name = lv.peer ? l.name + "@" + lv.peer->ifname : l.name;
      if (one_ns) fmt::print("{:<16} {:<14} {}\n", name, state, addrs);
      else fmt::print("{:<12} {:<16} {:<14} {}\n", where, name, state, addrs);
    }
  }
  if (as_json) std::cout << j.dump(2) << "\n";
}

void add_show(CLI::App& app) {
  static std::string ns;
  static Output out;
  static bool all_links = false, brief = false;
  auto* s = app.add_subcommand("show", "namespaces, their links, peers (namespace and bridge of the other end), addresses\n"
                                       "  example: ctnet show ns1 -o json\n  example: ctnet show ns1 --brief   (as `ip -br addr`)");
  s->add_option("NS", ns, "only this namespace (name, /path/to/nsfile or pid:N)");
  s->add_flag("--all-links", all_links, "also host links that are not bridges or veths");
  s->add_flag("-b,--brief", brief, "one line per link: name, state, addresses (as `ip -br addr`; with a namespace column "
                                   "unless NS is given)");
  add_output_option(s, out);
  s->callback([] {
    // With NS, the inventory holds that namespace alone.
    auto spaces = take_inventory(ns.empty() ? std::nullopt : std::optional(NetNs::open(ns, "NS")));
    auto shown = [&](const NsView& sp, const LinkView& lv) {
      if (!sp.is_host()) return true;
      return all_links || lv.link.kind == "bridge" || lv.link.kind == "veth" || lv.link.kind == "macvlan" ||
             lv.link.kind == "vxlan";
    };
    if (brief) return print_brief(spaces, shown, !ns.empty(), out.json());
    if (out.json()) {
      json j = json::array();
      for (auto& sp : spaces) {
        json links = json::array();
        for (auto& lv : sp.links)
          if (shown(sp, lv)) links.push_back(link_json(lv));
        j.push_back({{"namespace", sp.is_host() ? "host" : sp.name}, {"links", links}});
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    for (auto& sp : spaces) {
      fmt::print("{}\n", sp.is_host() ? "host" : "namespace " + sp.name);
      for (auto& lv : sp.links) {
        if (!shown(sp, lv)) continue;
        const auto& l = lv.link;
        std::string addrs;
        for (auto& a : lv.addresses) addrs += " " + a.str();
        fmt::print("  {:<15} {:<8} {:<10} mtu {:<5}{}{}{}\n", l.name, l.kind.empty() ? "device" : l.kind,
                   l.is_up() ? (l.has_carrier() ? "up" : "no-carrier") : "down", l.mtu,
                   lv.master_name.empty() ? "" : " master " + lv.master_name, addrs,
                   lv.peer ? fmt::format("  <-> {}:{}{}", lv.peer->ns.empty() ? "host" : lv.peer->ns, lv.peer->ifname,
                                         lv.peer->bridge.empty() ? "" : " (bridge " + lv.peer->bridge + ")")
                           : "");
      }
    }
  });
}

void add_doctor(CLI::App& app) {
  static DoctorOptions opts;
  static Output out;
  static std::vector<std::string> spaces;
  static std::string lab;
  auto* d = app.add_subcommand("doctor", "check what breaks container networking, and say what to do\n"
                                         "  example: ctnet doctor; ctnet doctor ns1 ns2 --fix; ctnet doctor --lab seed");
  d->add_option("NS", spaces, "only these namespaces (names; `host` for the one ctnet runs in); default: the host and every named namespace");
  d->add_option("--lab", lab, "only the namespaces of this lab (and the namespace that played its host)");
  d->add_flag("--fix", opts.fix, "apply the remedies, inside the scope only");
  d->add_flag("--persist", opts.persist, "with --fix: also write the host's sysctls to /etc/sysctl.d/90-ctnet.conf");
  add_output_option(d, out);
  d->callback([] {
    if (!lab.empty() && !spaces.empty()) throw InvalidInput("--lab", "give namespaces or --lab, not both");
    if (!lab.empty()) {
      auto rec = topo::Record::load(lab);
      if (!rec) throw InvalidInput("--lab", fmt::format("lab '{}' is not up (no record in {})", lab, topo::state_dir()));
      opts.scope.all = false;
      opts.scope.host = rec->host().spec.empty();
      for (auto& n : topo::from_json(rec->spec()).namespaces) opts.scope.names.push_back(n.name);
      if (!rec->host().spec.empty()) opts.scope.names.push_back(NetnsArg::parse(rec->host().spec, "--lab").short_name());
    } else if (!spaces.empty()) {
      opts.scope.all = false;
      opts.scope.host = false;
      for (auto& sp : spaces) {
        if (sp == "host") {
          opts.scope.host = true;
          continue;
        }
        NetnsArg a = NetnsArg::parse(sp, "NS");
        if (!a.named()) throw InvalidInput("NS", fmt::format("'{}': doctor takes namespaces by name (under {})", sp, kNetnsRunDir));
        if (!a.exists()) throw InvalidInput("NS", fmt::format("namespace '{}' does not exist", sp));
        if (a.open().same_as(NetNs::current())) opts.scope.host = true;  // the one playing host (--host-netns)
        else opts.scope.names.push_back(a.name);
      }
    }
    if (opts.fix)
      fmt::print(stderr, "ctnet: note: --fix changes only the namespaces in scope{} (bridge-nf-call-* is per network namespace)\n",
                 opts.scope.all ? " — without NS or --lab, the host namespace alone" : "");
    auto findings = run_doctor(opts);
    if (out.json()) {
      json j = json::array();
      for (auto& f : findings)
        j.push_back({{"check", f.check}, {"severity", to_string(f.severity)}, {"message", f.message}, {"remedy", f.remedy}, {"fixed", f.fixed}});
      std::cout << j.dump(2) << "\n";
    }
    for (auto& f : findings) {
      if (out.json()) continue;
      fmt::print("[{:<4}] {}: {}\n", to_string(f.severity), f.check, f.message);
      if (!f.remedy.empty()) fmt::print("       {}: {}\n", f.fixed ? "fixed" : "fix", f.remedy);
    }
    if (!out.json()) fmt::print("a path that fails: `ctnet explain SRC DST` says at which hop and why\n");
    if (doctor_failed(findings)) throw Error("doctor found problems that break traffic (see above)");
  });
}

}  // namespace

void add_core_commands(CLI::App& app) {
  if (wanted("ns")) add_ns_commands(app);
  if (wanted("link")) add_link_commands(app);
  if (wanted("connect")) add_connect(app);
  if (wanted("attach") || wanted("detach")) add_attach(app);
  if (wanted("ping")) add_ping(app);
  if (wanted("show")) add_show(app);
  if (wanted("doctor")) add_doctor(app);
}

}  // namespace ctnet::cli
