// The `ip` verbs: addr, route, neigh (list, add, del; route get) and `link add KIND`, each with --ns and -o json.
// Parsing, validation of what only the CLI knows, and printing (text close to `ip`, JSON close to `ip -j`); the
// kernel work is in src/addr, src/link and the kinds' drivers (link add runs in a kinds::Txn, so a failure
// leaves nothing made).
#include <fmt/format.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "addr/address.h"
#include "addr/route.h"
#include "cli/commands.h"
#include "kinds/address.h"
#include "kinds/bridge.h"
#include "kinds/dummy.h"
#include "kinds/link_kind.h"
#include "kinds/subif.h"
#include "kinds/txn.h"
#include "kinds/veth.h"
#include "kinds/vxlan.h"
#include "link/link.h"
#include "link/neigh.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "util/english.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::cli {
namespace {

using nlohmann::json;

// --ns NS (name, /path or pid:N), or the host when empty.
NsSocket place(const std::string& ns) { return ns.empty() ? NsSocket::current() : NsSocket::open(ns, "--ns"); }
std::string label(const std::string& ns) { return ns.empty() ? "the host" : "'" + ns + "'"; }

// -4 / -6 as `ip` takes them.
struct Family {
  bool v4 = false, v6 = false;
  int value() const { return v4 ? AF_INET : v6 ? AF_INET6 : AF_UNSPEC; }
};
void add_family_flags(CLI::App* cmd, Family& f) {
  cmd->add_flag("-4", f.v4, "IPv4 only");
  cmd->add_flag("-6", f.v6, "IPv6 only")->excludes("-4");
}

std::string family_name(int family) { return family == AF_INET6 ? "inet6" : "inet"; }
std::string ip_version(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

int link_index(NsSocket& s, const std::string& dev, const std::string& ns, const char* field) {
  auto l = link::find(s.rtnl, dev);
  if (!l) throw InvalidInput(field, fmt::format("no link '{}' in {}", dev, label(ns)));
  return l->index;
}

// ifindex -> name, from one dump (a listing names many links).
std::map<int, std::string> link_names(NsSocket& s) {
  std::map<int, std::string> names;
  for (auto& l : link::list(s.rtnl)) names[l.index] = l.name;
  return names;
}

std::string scope_name(uint8_t scope) {
  switch (scope) {
    case RT_SCOPE_UNIVERSE: return "global";
    case RT_SCOPE_SITE: return "site";
    case RT_SCOPE_LINK: return "link";
    case RT_SCOPE_HOST: return "host";
    case RT_SCOPE_NOWHERE: return "nowhere";
    default: return std::to_string(scope);
  }
}

std::string protocol_name(uint8_t p) {
  switch (p) {
    case RTPROT_KERNEL: return "kernel";
    case RTPROT_BOOT: return "boot";
    case RTPROT_STATIC: return "static";
    case RTPROT_DHCP: return "dhcp";
    case RTPROT_RA: return "ra";
    default: return std::to_string(p);
  }
}

std::string route_type_name(uint8_t t) {
  switch (t) {
    case RTN_UNICAST: return "unicast";
    case RTN_LOCAL: return "local";
    case RTN_BROADCAST: return "broadcast";
    case RTN_MULTICAST: return "multicast";
    case RTN_BLACKHOLE: return "blackhole";
    case RTN_UNREACHABLE: return "unreachable";
    case RTN_PROHIBIT: return "prohibit";
    default: return std::to_string(t);
  }
}

// The flags `ip link` shows between < and >.
std::vector<std::string> link_flags(const link::Link& l) {
  std::vector<std::string> f;
  static constexpr std::pair<unsigned, const char*> bits[] = {
      {IFF_LOOPBACK, "LOOPBACK"}, {IFF_BROADCAST, "BROADCAST"}, {IFF_POINTOPOINT, "POINTOPOINT"}, {IFF_MULTICAST, "MULTICAST"},
      {IFF_NOARP, "NOARP"},       {IFF_PROMISC, "PROMISC"},     {IFF_ALLMULTI, "ALLMULTI"},       {IFF_UP, "UP"},
      {0x10000, "LOWER_UP"}};  // IFF_LOWER_UP: linux/if.h clashes with net/if.h
  for (auto& [bit, name] : bits)
    if (l.flags & bit) f.push_back(name);
  return f;
}

// ---------------- addr ----------------

void add_addr_commands(CLI::App& app) {
  auto* top = app.add_subcommand("addr", "interface addresses (as `ip addr`): add, del, list");
  top->alias("address");
  top->require_subcommand(1);

  struct Args {
    std::string cidr, dev, ns;
    Family family;
    Output out;
  };
  auto a = std::make_shared<Args>();

  auto* add = top->add_subcommand("add", "add an address to a link (a host address of its subnet)\n"
                                         "  example: ctnet addr add 10.0.0.1/24 eth0 --ns ns1");
  add->add_option("CIDR", a->cidr, "address/prefix length (10.0.0.1/24, fd00::1/64)")->required();
  add->add_option("DEV,--dev", a->dev, "the link")->required();
  add->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  add->callback([a] {
    kinds::address::Spec spec{.ns = a->ns, .ifname = a->dev, .prefix = Prefix::parse(a->cidr, "CIDR")};
    validate_ifname(a->dev, "DEV");
    kinds::address::validate(spec, "CIDR");  // network and broadcast addresses are refused
    in_txn([&](kinds::Txn& txn) {
      NsSocket& s = txn.open(a->ns);
      spec.ifindex = link_index(s, a->dev, a->ns, "DEV");
      kinds::address::apply(txn, spec);
      return 0;
    });
  });

  auto* del = top->add_subcommand("del", "remove an address from a link (idempotent)\n"
                                         "  example: ctnet addr del 10.0.0.1/24 eth0 --ns ns1");
  del->alias("delete");
  del->add_option("CIDR", a->cidr, "address/prefix length")->required();
  del->add_option("DEV,--dev", a->dev, "the link")->required();
  del->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  del->callback([a] {
    Prefix p = Prefix::parse(a->cidr, "CIDR");
    validate_ifname(a->dev, "DEV");
    NsSocket s = place(a->ns);
    if (!addr::remove(s.rtnl, link_index(s, a->dev, a->ns, "DEV"), p))
      fmt::print(stderr, "ctnet: {} was not on {} (nothing to do)\n", p.str(), a->dev);
  });

  auto* list = top->add_subcommand("list", "the links of a namespace with their addresses (as `ip addr show`)\n"
                                           "  example: ctnet addr list --ns ns1 -4 -o json");
  list->alias("show")->alias("ls");
  list->add_option("DEV,--dev", a->dev, "only this link");
  list->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  add_family_flags(list, a->family);
  add_output_option(list, a->out);
  list->callback([a] {
    if (!a->dev.empty()) validate_ifname(a->dev, "DEV");
    NsSocket s = place(a->ns);
    std::vector<link::Link> links;
    if (!a->dev.empty()) links.push_back(link::get(s.rtnl, a->dev, a->ns));
    else links = link::list(s.rtnl);
    auto addrs = addr::list(s.rtnl, a->dev.empty() ? 0 : links.front().index, a->family.value());
    json j = json::array();
    for (auto& l : links) {
      json info = json::array();
      std::string lines;
      for (auto& x : addrs) {
        if (x.index != l.index) continue;
        info.push_back({{"family", family_name(x.prefix.family())}, {"local", x.prefix.address().str()},
                        {"prefixlen", x.prefix.length()}, {"scope", scope_name(x.scope)}});
        lines += fmt::format("    {} {} scope {}{}\n", family_name(x.prefix.family()), x.prefix.str(), scope_name(x.scope),
                             x.prefix.family() == AF_INET ? " " + l.name : "");
      }
      if (a->out.json()) {
        json e{{"ifindex", l.index}, {"ifname", l.name}, {"flags", link_flags(l)}, {"mtu", l.mtu},
               {"operstate", std::string(link::operstate_name(l.operstate))}, {"txqlen", l.txqlen}, {"addr_info", info}};
        if (l.mac) e["address"] = l.mac->str();
        if (!l.kind.empty()) e["kind"] = l.kind;
        if (!l.alias.empty()) e["ifalias"] = l.alias;
        j.push_back(e);
        continue;
      }
      std::string flags;
      for (auto& f : link_flags(l)) flags += (flags.empty() ? "" : ",") + f;
      fmt::print("{}: {}: <{}> mtu {} state {} qlen {}\n", l.index, l.name, flags, l.mtu, link::operstate_name(l.operstate), l.txqlen);
      if (l.mac) fmt::print("    link/ether {}{}\n", l.mac->str(), l.kind.empty() ? "" : " (" + l.kind + ")");
      if (!l.alias.empty()) fmt::print("    alias {}\n", l.alias);
      fmt::print("{}", lines);
    }
    if (a->out.json()) std::cout << j.dump(2) << "\n";
  });
}

// ---------------- route ----------------

json route_json(const addr::Route& r, const std::map<int, std::string>& names, bool host_dst) {
  json j{{"dst", r.dst.length() == 0 && !host_dst ? "default" : host_dst ? r.dst.address().str() : r.dst.network().str()}};
  if (r.type != RTN_UNICAST) j["type"] = route_type_name(r.type);
  if (r.gateway) j["gateway"] = r.gateway->str();
  if (r.oif) j["dev"] = names.contains(r.oif) ? names.at(r.oif) : std::to_string(r.oif);
  j["protocol"] = protocol_name(r.protocol);
  if (r.scope) j["scope"] = scope_name(*r.scope);
  if (r.src) j["prefsrc"] = r.src->str();
  if (r.metric) j["metric"] = r.metric;
  if (r.table != RT_TABLE_MAIN) j["table"] = r.table == RT_TABLE_LOCAL ? json("local") : json(r.table);
  if (r.mtu) j["metrics"] = json::array({json{{"mtu", r.mtu}}});
  if (r.onlink) j["flags"] = json::array({"onlink"});
  return j;
}

// `ip route` order: type (when not unicast), dst, via, dev, proto, scope, src, metric.
std::string route_text(const json& j) {
  std::string s = j.contains("type") ? j["type"].get<std::string>() + " " : "";
  s += j["dst"].get<std::string>();
  if (j.contains("gateway")) s += " via " + j["gateway"].get<std::string>();
  if (j.contains("dev")) s += " dev " + j["dev"].get<std::string>();
  if (j.contains("table")) s += " table " + j["table"].dump();
  s += " proto " + j["protocol"].get<std::string>();
  if (j.contains("scope") && j["scope"] != "global") s += " scope " + j["scope"].get<std::string>();
  if (j.contains("prefsrc")) s += " src " + j["prefsrc"].get<std::string>();
  if (j.contains("metric")) s += " metric " + j["metric"].dump();
  if (j.contains("metrics")) s += " mtu " + j["metrics"][0]["mtu"].dump();
  if (j.contains("flags")) s += " onlink";
  return s;
}

// "main", "local", "default" or 1..2^32-1 (0 is "unspecified" to the kernel; `all` only for list).
uint32_t parse_table(const std::string& t, const char* field) {
  if (t == "main") return RT_TABLE_MAIN;
  if (t == "local") return RT_TABLE_LOCAL;
  if (t == "default") return RT_TABLE_DEFAULT;
  try {
    size_t used = 0;
    unsigned long long n = std::stoull(t, &used);
    if (used == t.size() && n >= 1 && n <= 0xffffffffull && t[0] != '-') return static_cast<uint32_t>(n);
  } catch (const std::exception&) {
  }
  throw InvalidInput(field, fmt::format("'{}' is not a table (main, local, default or 1..4294967295)", printable(t)));
}

// DST as `ip route` takes it: "default" or a network (host bits clear); a bare address is a host route.
Prefix parse_destination(const std::string& text, int family_hint) {
  if (text == "default") return addr::default_route(family_hint == AF_INET6 ? AF_INET6 : AF_INET);
  if (text.find('/') == std::string::npos) {
    IpAddress a = IpAddress::parse(text, "DST");
    return Prefix(a, a.is_v4() ? 32 : 128);
  }
  Prefix p = Prefix::parse(text, "DST");
  if (p != p.network())
    throw InvalidInput("DST", fmt::format("{} has host bits set: the network is {}", p.str(), p.network().str()));
  return p;
}

struct RouteArgs {
  std::string dst, via, dev, ns, src, table = "main";
  std::optional<uint32_t> metric, mtu;
  bool onlink = false;
  Family family;
  Output out;
};

// The whole route from the options, checked before the kernel sees it.
addr::Route route_of(const RouteArgs& a, bool for_add) {
  std::optional<IpAddress> gw;
  if (!a.via.empty()) gw = IpAddress::parse(a.via, "--via");
  addr::Route r;
  r.dst = parse_destination(a.dst, gw ? gw->family() : a.family.value());
  if (gw && gw->family() != r.family())
    throw InvalidInput("--via", fmt::format("{} is an {} gateway for an {} destination ({})", gw->str(), ip_version(gw->family()),
                                            ip_version(r.family()), r.dst.str()));
  if (gw && gw->is_unspecified()) throw InvalidInput("--via", fmt::format("{} is not a gateway", gw->str()));
  r.gateway = gw;
  if (!a.src.empty()) {
    IpAddress src = IpAddress::parse(a.src, "--src");
    if (src.family() != r.family())
      throw InvalidInput("--src", fmt::format("{} is an {} address for an {} route", src.str(), ip_version(src.family()), ip_version(r.family())));
    r.src = src;
  }
  if (!a.dev.empty()) validate_ifname(a.dev, "--dev");
  if (for_add && a.dev.empty() && !gw) throw InvalidInput("--dev", "a route needs --dev, --via or both");
  if (a.onlink && !gw) throw InvalidInput("--onlink", "is about a gateway: give --via");
  r.table = parse_table(a.table, "--table");
  r.metric = a.metric.value_or(0);
  if (a.mtu) validate_mtu(*a.mtu, "--mtu");
  r.mtu = a.mtu.value_or(0);
  r.onlink = a.onlink;
  return r;
}

void add_route_options(CLI::App* c, RouteArgs& a) {
  c->add_option("--via", a.via, "gateway (of the destination's family)");
  c->add_option("--dev", a.dev, "output link");
  c->add_option("--ns", a.ns, "namespace: name, /path or pid:N (default: host)");
  c->add_option("--metric", a.metric, "priority (lower wins); IPv6 takes 0 as 1024");
  c->add_option("--table", a.table, "main (default), local, default or 1..4294967295");
}

void add_route_commands(CLI::App& app) {
  auto* top = app.add_subcommand("route", "routes (as `ip route`): add, del, list, get");
  top->require_subcommand(1);
  auto a = std::make_shared<RouteArgs>();

  auto* add = top->add_subcommand("add", "add a route (NLM_F_EXCL: one with the same destination and metric is refused)\n"
                                         "  example: ctnet route add default --via 10.0.0.1 --ns ns1\n"
                                         "  example: ctnet route add 10.9.0.0/16 --dev eth0 --src 10.0.0.2 --ns ns1");
  add->add_option("DST", a->dst, "default, a network (10.9.0.0/16) or a host address")->required();
  add_route_options(add, *a);
  add->add_option("--src", a->src, "preferred source address");
  add->add_option("--mtu", a->mtu, "path MTU of the route (68..65535)");
  add->add_flag("--onlink", a->onlink, "the gateway is on the link even without a route to it");
  add->callback([a] {
    addr::Route r = route_of(*a, true);
    in_txn([&](kinds::Txn& txn) {
      NsSocket& s = txn.open(a->ns);
      if (!a->dev.empty()) r.oif = link_index(s, a->dev, a->ns, "--dev");
      kinds::route::apply(txn, {.ns = a->ns, .route = r, .dev = a->dev});
      return 0;
    });
  });

  auto* del = top->add_subcommand("del", "remove a route (idempotent); what is given must match\n"
                                         "  example: ctnet route del 10.9.0.0/16 --ns ns1");
  del->alias("delete");
  del->add_option("DST", a->dst, "default, a network or a host address")->required();
  add_route_options(del, *a);
  del->callback([a] {
    addr::Route r = route_of(*a, false);
    NsSocket s = place(a->ns);
    if (!a->dev.empty()) r.oif = link_index(s, a->dev, a->ns, "--dev");
    if (!addr::remove(s.rtnl, r)) fmt::print(stderr, "ctnet: no route {} in {} (nothing to do)\n", a->dst, label(a->ns));
  });

  auto* list = top->add_subcommand("list", "the routes of a table (main by default; --table all: every table)\n"
                                           "  example: ctnet route list --ns ns1 -6 -o json");
  list->alias("show")->alias("ls");
  list->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  list->add_option("--table", a->table, "main (default), local, default, all or a number");
  list->add_option("--dev", a->dev, "only routes through this link");
  add_family_flags(list, a->family);
  add_output_option(list, a->out);
  list->callback([a] {
    uint32_t table = a->table == "all" ? 0 : parse_table(a->table, "--table");
    if (!a->dev.empty()) validate_ifname(a->dev, "--dev");
    NsSocket s = place(a->ns);
    int oif = a->dev.empty() ? 0 : link_index(s, a->dev, a->ns, "--dev");
    auto names = link_names(s);
    json j = json::array();
    // -4 by default, as `ip route`; both families with neither flag would mix them (`ip route` shows IPv4 only).
    int family = a->family.v6 ? AF_INET6 : AF_INET;
    for (auto& r : addr::list_routes(s.rtnl, family, table, table != RT_TABLE_MAIN))
      if (!oif || r.oif == oif) j.push_back(route_json(r, names, false));
    if (a->out.json()) std::cout << j.dump(2) << "\n";
    else
      for (auto& r : j) fmt::print("{}\n", route_text(r));
  });

  auto g = std::make_shared<RouteArgs>();
  auto* get = top->add_subcommand("get", "the route the kernel would take to an address (RTM_GETROUTE, no dump)\n"
                                         "  example: ctnet route get 10.9.1.1 --ns ns1 -o json");
  get->add_option("ADDRESS", g->dst, "destination address")->required();
  get->add_option("--ns", g->ns, "namespace: name, /path or pid:N (default: host)");
  get->add_option("--from", g->src, "as if sent from this source address");
  get->add_option("--oif", g->dev, "as if sent through this link");
  add_output_option(get, g->out);
  get->callback([g] {
    IpAddress dst = IpAddress::parse(g->dst, "ADDRESS");
    std::optional<IpAddress> src;
    if (!g->src.empty()) {
      src = IpAddress::parse(g->src, "--from");
      if (src->family() != dst.family())
        throw InvalidInput("--from", fmt::format("{} is an {} address, ADDRESS an {} one", src->str(), ip_version(src->family()),
                                                 ip_version(dst.family())));
    }
    if (!g->dev.empty()) validate_ifname(g->dev, "--oif");
    NsSocket s = place(g->ns);
    int oif = g->dev.empty() ? 0 : link_index(s, g->dev, g->ns, "--oif");
    json j = route_json(addr::get_route(s.rtnl, dst, oif, src), link_names(s), true);
    j.erase("protocol");  // a resolved route has none of its own (the kernel answers "unspec")
    if (g->out.json()) std::cout << json::array({j}).dump(2) << "\n";
    else {
      std::string t = j.contains("type") ? j["type"].get<std::string>() + " " : "";
      t += j["dst"].get<std::string>();
      if (j.contains("gateway")) t += " via " + j["gateway"].get<std::string>();
      if (j.contains("dev")) t += " dev " + j["dev"].get<std::string>();
      if (j.contains("prefsrc")) t += " src " + j["prefsrc"].get<std::string>();
      fmt::print("{}\n", t);
    }
  });
}

// ---------------- neigh ----------------

void add_neigh_commands(CLI::App& app) {
  auto* top = app.add_subcommand("neigh", "neighbour (ARP / NDP) entries (as `ip neigh`): list, add, del");
  top->alias("neighbour")->alias("neighbor");
  top->require_subcommand(1);
  struct Args {
    std::string addr, lladdr, dev, ns;
    Family family;
    Output out;
  };
  auto a = std::make_shared<Args>();

  auto* list = top->add_subcommand("list", "the neighbour entries of a namespace\n  example: ctnet neigh list --ns ns1 -o json");
  list->alias("show")->alias("ls");
  list->add_option("--dev", a->dev, "only this link");
  list->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  add_family_flags(list, a->family);
  add_output_option(list, a->out);
  list->callback([a] {
    if (!a->dev.empty()) validate_ifname(a->dev, "--dev");
    NsSocket s = place(a->ns);
    int index = a->dev.empty() ? 0 : link_index(s, a->dev, a->ns, "--dev");
    auto names = link_names(s);
    json j = json::array();
    for (auto& n : link::list_neighbours(s.rtnl, index, a->family.value())) {
      json e{{"dst", n.dst.str()}, {"dev", names.contains(n.ifindex) ? names[n.ifindex] : std::to_string(n.ifindex)}};
      if (n.lladdr) e["lladdr"] = n.lladdr->str();
      e["state"] = json::array({std::string(link::neighbour_state_name(n.state))});
      if (a->out.json()) j.push_back(e);
      else
        fmt::print("{} dev {}{} {}\n", n.dst.str(), e["dev"].get<std::string>(), n.lladdr ? " lladdr " + n.lladdr->str() : "",
                   link::neighbour_state_name(n.state));
    }
    if (a->out.json()) std::cout << j.dump(2) << "\n";
  });

  auto* add = top->add_subcommand("add", "add a permanent entry (one for the address on the link already is refused)\n"
                                         "  example: ctnet neigh add 10.0.0.2 --lladdr 02:00:00:00:00:02 --dev eth0 --ns ns1");
  add->add_option("ADDRESS", a->addr, "IPv4 or IPv6 address")->required();
  add->add_option("--lladdr", a->lladdr, "MAC address")->required();
  add->add_option("--dev", a->dev, "the link")->required();
  add->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  add->callback([a] {
    IpAddress dst = IpAddress::parse(a->addr, "ADDRESS");
    if (dst.is_unspecified()) throw InvalidInput("ADDRESS", fmt::format("{} is not a neighbour's address", dst.str()));
    MacAddress mac = MacAddress::parse(a->lladdr, "--lladdr");
    validate_ifname(a->dev, "--dev");
    NsSocket s = place(a->ns);
    link::add_neighbour(s.rtnl, link_index(s, a->dev, a->ns, "--dev"), dst, mac);
  });

  auto* del = top->add_subcommand("del", "remove an entry (idempotent)\n  example: ctnet neigh del 10.0.0.2 --dev eth0 --ns ns1");
  del->alias("delete");
  del->add_option("ADDRESS", a->addr, "IPv4 or IPv6 address")->required();
  del->add_option("--dev", a->dev, "the link")->required();
  del->add_option("--ns", a->ns, "namespace: name, /path or pid:N (default: host)");
  del->callback([a] {
    IpAddress dst = IpAddress::parse(a->addr, "ADDRESS");
    validate_ifname(a->dev, "--dev");
    NsSocket s = place(a->ns);
    if (!link::remove_neighbour(s.rtnl, link_index(s, a->dev, a->ns, "--dev"), dst))
      fmt::print(stderr, "ctnet: no neighbour {} on {} (nothing to do)\n", dst.str(), a->dev);
  });
}

// ---------------- link add KIND ----------------

constexpr std::string_view kLinkKinds[] = {"bridge", "dummy", "ipvlan", "macvlan", "veth", "vlan", "vxlan"};

struct LinkAddArgs {
  std::string kind, name, ns, peer, peer_ns, parent, parent_ns, mode, flag, mac, master, local, remote, dev;
  std::optional<uint32_t> mtu, vni, id;
  std::optional<uint16_t> dstport;
  bool vlan_filtering = false;
  Output out;
};

// Every option given that `kind` has no use for, refused by name.
void refuse_foreign_options(CLI::App* cmd, const std::string& kind) {
  static const std::map<std::string, std::vector<std::string>> uses = {
      {"veth", {"--peer", "--peer-ns", "--master", "--mac"}},
      {"bridge", {"--mac", "--vlan-filtering"}},
      {"dummy", {}},
      {"macvlan", {"--parent", "--parent-ns", "--mode", "--mac"}},
      {"ipvlan", {"--parent", "--parent-ns", "--mode", "--flag"}},
      {"vlan", {"--parent", "--parent-ns", "--id"}},
      {"vxlan", {"--vni", "--local", "--remote", "--dev", "--dstport", "--master"}},
  };
  static const std::vector<std::string> kind_options = {"--peer", "--peer-ns", "--parent", "--parent-ns", "--mode",
                                                        "--flag", "--mac", "--master", "--vlan-filtering", "--vni",
                                                        "--local", "--remote", "--dev", "--dstport", "--id"};
  const auto& mine = uses.at(kind);
  for (auto& o : kind_options)
    if (cmd->count(o) && std::find(mine.begin(), mine.end(), o) == mine.end())
      throw InvalidInput(o, fmt::format("is not an option of {} link", article(kind)));
}

void add_link_add(CLI::App& app) {
  CLI::App* l = app.get_subcommand("link");
  auto a = std::make_shared<LinkAddArgs>();
  auto* add = l->add_subcommand("add", "create a link of KIND through its driver (veth, bridge, macvlan, ipvlan, vlan, vxlan, dummy), up\n"
                                       "  example: ctnet link add veth ve-a --peer ve-b --peer-ns ns2 --ns ns1\n"
                                       "  example: ctnet link add macvlan mv0 --parent eth1 --mode bridge --ns ns1 -o json\n"
                                       "  example: ctnet link add vxlan vx42 --vni 42 --remote 10.0.0.2 --dev eth0");
  add->add_option("KIND", a->kind, "veth | bridge | macvlan | ipvlan | vlan | vxlan | dummy")->required();
  add->add_option("NAME", a->name, "the new link's name")->required();
  add->add_option("--ns", a->ns, "namespace it is made in: name, /path or pid:N (default: host)");
  add->add_option("--mtu", a->mtu, "68..65535 (default: the kernel's, or the parent's for sub-interfaces)");
  add->add_option("--peer", a->peer, "veth: the other end's name");
  add->add_option("--peer-ns", a->peer_ns, "veth: the other end's namespace (default: --ns)");
  add->add_option("--master", a->master, "veth, vxlan: a bridge in --ns to make it a port of");
  add->add_option("--mac", a->mac, "veth, bridge, macvlan: its MAC address");
  add->add_flag("--vlan-filtering", a->vlan_filtering, "bridge: VLAN-aware");
  add->add_option("--parent", a->parent, "macvlan, ipvlan, vlan: the parent link");
  add->add_option("--parent-ns", a->parent_ns, "macvlan, ipvlan, vlan: the parent's namespace (default: --ns)");
  add->add_option("--mode", a->mode, "macvlan: bridge|private|vepa|passthru (bridge); ipvlan: l2|l3|l3s (l2)");
  add->add_option("--flag", a->flag, "ipvlan: bridge|private|vepa (bridge)");
  add->add_option("--id", a->id, "vlan: the VLAN ID, 1..4094");
  add->add_option("--vni", a->vni, "vxlan: 1..16777215");
  add->add_option("--local", a->local, "vxlan: the local tunnel address");
  add->add_option("--remote", a->remote, "vxlan: the remote tunnel address (none: learn, FDB entries)");
  add->add_option("--dev", a->dev, "vxlan: the underlay link");
  add->add_option("--dstport", a->dstport, "vxlan: UDP port (4789)");
  add_output_option(add, a->out);
  add->callback([a, add] {
    const std::string& k = a->kind;
    if (std::find(std::begin(kLinkKinds), std::end(kLinkKinds), k) == std::end(kLinkKinds)) {
      std::string known;
      for (auto n : kLinkKinds) known += (known.empty() ? "" : ", ") + std::string(n);
      throw InvalidInput("KIND", fmt::format("unknown kind '{}' (known: {})", printable(k), known));
    }
    refuse_foreign_options(add, k);
    validate_ifname(a->name, "NAME");
    if (a->mtu) validate_mtu(*a->mtu, "--mtu");
    const uint32_t mtu = a->mtu.value_or(0);
    std::optional<MacAddress> mac;
    if (!a->mac.empty()) mac = MacAddress::parse(a->mac, "--mac");
    if (!a->ns.empty()) NetnsArg::parse(a->ns, "--ns");
    json result{{"kind", k}, {"ifname", a->name}, {"namespace", a->ns.empty() ? "host" : a->ns}};
    std::string text;

    if (k == "veth") {
      if (a->peer.empty()) throw InvalidInput("--peer", "a veth needs the other end's name");
      validate_ifname(a->peer, "--peer");
      if (!a->master.empty()) validate_ifname(a->master, "--master");
      kinds::veth::Spec s{.ns = a->ns, .name = a->name, .peer_ns = a->peer_ns.empty() ? a->ns : a->peer_ns, .peer_name = a->peer,
                          .mtu = mtu, .mac = mac, .master = a->master};
      if (s.ns == s.peer_ns && s.name == s.peer_name) throw InvalidInput("--peer", "the two ends of a veth need different names in one namespace");
      kinds::veth::validate(s, "--");
      auto r = in_txn([&](kinds::Txn& txn) { return kinds::veth::apply(txn, s); });
      result["ifindex"] = r.index;
      result["peer"] = {{"ifname", a->peer}, {"ifindex", r.peer_index}, {"namespace", s.peer_ns.empty() ? "host" : s.peer_ns}};
      text = fmt::format("veth {} (index {}) in {} <-> {} (index {}) in {}", a->name, r.index, label(a->ns), a->peer, r.peer_index,
                         label(s.peer_ns));
    } else if (k == "bridge") {
      kinds::bridge::Spec s{.ns = a->ns, .name = a->name, .mtu = mtu, .mac = mac, .vlan_filtering = a->vlan_filtering};
      kinds::bridge::validate(s, "--");
      auto l = in_txn([&](kinds::Txn& txn) { return kinds::bridge::apply(txn, s); });
      result["ifindex"] = l.index;
      text = fmt::format("bridge {} (index {}) in {}", a->name, l.index, label(a->ns));
    } else if (k == "dummy") {
      kinds::dummy::Spec s{.ns = a->ns, .name = a->name, .mtu = mtu};
      kinds::dummy::validate(s, "--");
      kinds::dummy::require_driver();
      int index = in_txn([&](kinds::Txn& txn) { return kinds::dummy::apply(txn, s); });
      result["ifindex"] = index;
      text = fmt::format("dummy {} (index {}) in {}", a->name, index, label(a->ns));
    } else if (k == "macvlan" || k == "ipvlan" || k == "vlan") {
      using kinds::subif::Kind;
      if (a->parent.empty()) throw InvalidInput("--parent", fmt::format("{} needs a parent link", article(k)));
      validate_ifname(a->parent, "--parent");
      kinds::subif::Spec s{.kind = k == "macvlan" ? Kind::macvlan : k == "ipvlan" ? Kind::ipvlan : Kind::vlan,
                           .parent_ns = a->parent_ns.empty() ? a->ns : a->parent_ns, .parent = a->parent, .ns = a->ns,
                           .name = a->name, .mac = mac, .mtu = mtu};
      if (k == "macvlan" && !a->mode.empty()) {
        auto m = link::parse_macvlan_mode(a->mode);
        if (!m) throw InvalidInput("--mode", fmt::format("'{}' is not a macvlan mode (bridge, private, vepa, passthru)", printable(a->mode)));
        s.macvlan_mode = *m;
      }
      if (k == "ipvlan" && !a->mode.empty()) {
        auto m = link::parse_ipvlan_mode(a->mode);
        if (!m) throw InvalidInput("--mode", fmt::format("'{}' is not an ipvlan mode (l2, l3, l3s)", printable(a->mode)));
        s.ipvlan_mode = *m;
      }
      if (k == "ipvlan" && !a->flag.empty()) {
        auto f = link::parse_ipvlan_flag(a->flag);
        if (!f) throw InvalidInput("--flag", fmt::format("'{}' is not an ipvlan flag (bridge, private, vepa)", printable(a->flag)));
        s.ipvlan_flag = *f;
      }
      if (k == "vlan") {
        if (!a->id || *a->id < 1 || *a->id > 4094) throw InvalidInput("--id", "a vlan needs a VLAN ID between 1 and 4094");
        s.vlan_id = static_cast<uint16_t>(*a->id);
      }
      kinds::subif::validate(s, "--");
      kinds::subif::require_driver(s.kind);
      auto r = in_txn([&](kinds::Txn& txn) { return kinds::subif::apply(txn, s, "--"); });
      result["ifindex"] = r.index;
      result["link"] = a->parent;
      result["mtu"] = r.mtu;
      if (r.mac) result["address"] = r.mac->str();
      text = fmt::format("{} {} (index {}) in {} on {}{}, mtu {}", k, a->name, r.index, label(a->ns), a->parent,
                         s.parent_ns != s.ns ? " in " + label(s.parent_ns) : "", r.mtu);
    } else {  // vxlan
      if (!a->vni) throw InvalidInput("--vni", "a vxlan needs a VNI (1..16777215)");
      kinds::vxlan::Spec s{.ns = a->ns, .name = a->name, .vni = *a->vni, .underlay = a->dev, .mtu = mtu, .master = a->master};
      if (!a->local.empty()) s.local = IpAddress::parse(a->local, "--local");
      if (!a->remote.empty()) s.remote = IpAddress::parse(a->remote, "--remote");
      if (s.local && s.remote && s.local->family() != s.remote->family())
        throw InvalidInput("--remote", fmt::format("{} is an {} address, --local an {} one", s.remote->str(),
                                                   ip_version(s.remote->family()), ip_version(s.local->family())));
      if (a->dstport) {
        if (*a->dstport == 0) throw InvalidInput("--dstport", "0 is not a UDP port");
        s.port = *a->dstport;
      }
      if (!a->dev.empty()) validate_ifname(a->dev, "--dev");
      if (!a->master.empty()) validate_ifname(a->master, "--master");
      kinds::vxlan::validate(s, "--");
      int index = in_txn([&](kinds::Txn& txn) { return kinds::vxlan::apply(txn, s); });
      result["ifindex"] = index;
      result["vni"] = s.vni;
      text = fmt::format("vxlan {} (index {}, vni {}) in {}", a->name, index, s.vni, label(a->ns));
    }
    if (a->out.json()) std::cout << result.dump(2) << "\n";
    else fmt::print("{}\n", text);
  });
}

}  // namespace

void add_ip_commands(CLI::App& app) {
  if (wanted("addr") || wanted("address")) add_addr_commands(app);
  if (wanted("route")) add_route_commands(app);
  if (wanted("neigh") || wanted("neighbour") || wanted("neighbor")) add_neigh_commands(app);
  if (wanted("link")) add_link_add(app);  // beside `link set|del` (cmd_core.cpp), which made the verb
}

}  // namespace ctnet::cli
