#include "topology/parse.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "kinds/netem_options.h"
#include "kinds/qdisc.h"
#include "kinds/subif.h"
#include "link/link.h"
#include "link/macvlan.h"
#include "link/tc.h"
#include "netlink/socket.h"
#include "ns/netns.h"
#include "ns/sysctl.h"
#include "topology/process.h"
#include "sriov/device.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::topo {

const char* const kDefaultLabYaml = R"(# The seed's scenario 2: two namespaces joined through a bridge in the host namespace.
# Private addresses live only inside the lab's namespaces; the bridge itself has none.
name: seed
namespaces: [ns1, ns2]
bridges: [br0]
links:
  - endpoints: ["ns1:veth1-ns1=10.0.0.1/24", "br0:veth1"]
  - endpoints: ["ns2:veth2-ns2=10.0.0.2/24", "br0:veth2"]
)";

namespace {

int line_of(const YAML::Node& n) {
  auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::string where(const std::string& path, int line) {
  return line ? fmt::format("{} (line {})", path, line) : path;
}

[[noreturn]] void fail(const YAML::Node& n, const std::string& path, const std::string& problem) {
  throw InvalidInput(where(path, line_of(n)), problem);
}

void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<std::string_view> allowed) {
  if (!map.IsMap()) fail(map, path, "must be a mapping of keys to values");
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.Scalar();
    bool ok = false;
    for (auto a : allowed) ok |= key == a;
    if (!ok) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(it->first, path + "." + key, fmt::format("unknown key '{}' (known here: {})", key, list));
    }
  }
}

std::string scalar(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) fail(n, path, "must be a single value, not a list or mapping");
  return n.Scalar();
}

uint64_t number(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi) {
  std::string s = scalar(n, path);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) fail(n, path, fmt::format("'{}' is not a number", s));
  if (v < lo || v > hi) fail(n, path, fmt::format("{} is out of range ({}..{})", v, lo, hi));
  return v;
}

bool boolean(const YAML::Node& n, const std::string& path) {
  std::string s = scalar(n, path);
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  fail(n, path, fmt::format("'{}' is not true or false", s));
}

// Runs `check` (which throws InvalidInput naming only the field) and re-throws with the line added.
template <class F>
void at_line(const YAML::Node& n, const std::string& path, F&& check) {
  try {
    check();
  } catch (const InvalidInput& e) {
    throw InvalidInput(where(path, line_of(n)), e.problem());
  }
}

// Which list/map a pending address belongs to.
enum class Owner { bridge, link_a, link_b };

struct AddrUse {
  Owner owner;
  size_t idx;       // bridge or link index
  size_t pos;       // index in its addresses vector
  std::string pool; // non-empty: still to be drawn from this pool
  std::string field;
  int line;
};

struct Parser {
  Topology t;
  std::vector<AddrUse> uses;
  std::map<std::pair<std::string, std::string>, std::string> ifnames;  // (ns, ifname) -> where defined

  std::vector<Prefix>& addrs_of(const AddrUse& u) {
    if (u.owner == Owner::bridge) return t.bridges[u.idx].addresses;
    return u.owner == Owner::link_a ? t.links[u.idx].a.addresses : t.links[u.idx].b.addresses;
  }

  const Pool* find_pool(std::string_view n) const {
    for (auto& p : t.pools)
      if (p.name == n) return &p;
    return nullptr;
  }

  std::set<std::string, std::less<>> ns_names;                 // lookups stay O(log N) for big labs
  std::map<std::string, size_t, std::less<>> bridge_index;
  bool is_ns(std::string_view n) const { return n == kHostNs || ns_names.count(n); }
  const Bridge* bridge(std::string_view n) const {
    auto it = bridge_index.find(n);
    return it == bridge_index.end() ? nullptr : &t.bridges[it->second];
  }

  void define_ifname(const std::string& ns, const std::string& name, const YAML::Node& n, const std::string& path) {
    at_line(n, path, [&] { validate_ifname(name, path); });
    if (name == "lo") fail(n, path, fmt::format("'lo' is the loopback device of namespace '{}'; it cannot be created", ns));
    auto [it, fresh] = ifnames.emplace(std::make_pair(ns, name), where(path, line_of(n)));
    if (!fresh)
      fail(n, path, fmt::format("interface '{}' in namespace '{}' is already defined at {}", name, ns, it->second));
  }

  // One item of an address list: "10.0.0.1/24", "fd00::1/64" or the name of a pool.
  void address_item(const std::string& text, const YAML::Node& n, const std::string& path, Owner owner, size_t idx,
                    std::vector<Prefix>& out) {
    AddrUse u{owner, idx, out.size(), {}, path, line_of(n)};
    if (auto p = Prefix::try_parse(text)) {
      out.push_back(*p);
    } else if (IpAddress::try_parse(text)) {
      fail(n, path, fmt::format("address '{}' needs a prefix length (for example {}/24)", text, text));
    } else if (find_pool(text)) {
      u.pool = text;
      out.push_back(Prefix());
    } else if (text.find('/') != std::string::npos) {
      fail(n, path, fmt::format("'{}' is not a valid CIDR address", text));
    } else {
      fail(n, path, fmt::format("'{}' is neither an address with a prefix length nor a pool of this lab", text));
    }
    uses.push_back(std::move(u));
  }

  void address_list(const YAML::Node& n, const std::string& path, Owner owner, size_t idx, std::vector<Prefix>& out) {
    if (n.IsScalar()) return address_item(n.Scalar(), n, path, owner, idx, out);
    if (!n.IsSequence()) fail(n, path, "must be a list of addresses");
    for (size_t i = 0; i < n.size(); ++i)
      address_item(scalar(n[i], fmt::format("{}[{}]", path, i)), n[i], fmt::format("{}[{}]", path, i), owner, idx, out);
  }

  std::string lab_namespace(const YAML::Node& n, const std::string& path) {
    std::string ns = scalar(n, path);
    if (!is_ns(ns)) fail(n, path, fmt::format("namespace '{}' is not declared under `namespaces` (nor 'host')", ns));
    return ns;
  }

  uint32_t mtu(const YAML::Node& n, const std::string& path) {
    auto v = static_cast<int64_t>(number(n, path, 0, UINT32_MAX));
    at_line(n, path, [&] { validate_mtu(v, path); });
    return static_cast<uint32_t>(v);
  }

  // ---- pools -----------------------------------------------------------------------------------------------
  void pools(const YAML::Node& n) {
    if (!n) return;
    if (!n.IsMap()) fail(n, "pools", "must map pool names to subnets");
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string name = it->first.Scalar();
      std::string path = "pools." + name;
      at_line(it->first, path, [&] { validate_identifier(name, path, 64); });
      const YAML::Node v = it->second;  // a copy: `it->` is a temporary proxy, a reference into it would dangle
      YAML::Node sub = v;
      if (v.IsMap()) {
        check_keys(v, path, {"subnet"});
        sub = v["subnet"];
        if (!sub) fail(v, path, "needs `subnet`");
        path += ".subnet";
      }
      Pool p{name, {}, line_of(it->first)};
      at_line(sub, path, [&] { p.subnet = Prefix::parse(scalar(sub, path), path).network(); });
      if (p.subnet.host_count() < 1) fail(sub, path, "has no host addresses");
      if (find_pool(name)) fail(it->first, path, fmt::format("pool '{}' is defined twice", name));
      t.pools.push_back(p);
    }
  }

  // ---- namespaces ------------------------------------------------------------------------------------------
  // Both `namespaces: [a, b]` and `namespaces: {a: {...}}` and `namespaces: [{name: a, ...}]`.
  template <class F>
  void named_items(const YAML::Node& n, const std::string& section, F&& each) {
    if (!n) return;
    if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) {
        std::string path = fmt::format("{}[{}]", section, i);
        const YAML::Node& item = n[i];
        if (item.IsScalar()) {
          each(item.Scalar(), YAML::Node(), item, path);
        } else if (item.IsMap()) {
          if (!item["name"]) fail(item, path, "needs `name`");
          each(scalar(item["name"], path + ".name"), item, item["name"], path);
        } else {
          fail(item, path, "must be a name or a mapping with `name`");
        }
      }
    } else if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string name = it->first.Scalar();
        std::string path = section + "." + name;
        if (!it->second.IsNull() && !it->second.IsMap()) fail(it->second, path, "must be a mapping (or empty)");
        each(name, it->second.IsMap() ? it->second : YAML::Node(), it->first, path);
      }
    } else {
      fail(n, section, "must be a list of names or a mapping from names to settings");
    }
  }

  void namespaces(const YAML::Node& n) {
    named_items(n, "namespaces", [&](const std::string& name, const YAML::Node& spec, const YAML::Node& at,
                                     const std::string& path) {
      at_line(at, path, [&] { validate_netns_name(name, path + ".name"); });
      if (name == kHostNs) fail(at, path, "'host' means the namespace ctnet runs in; a lab namespace cannot be called so");
      if (!ns_names.insert(name).second) fail(at, path, fmt::format("namespace '{}' is declared twice", name));
      Namespace ns;
      ns.name = name;
      ns.line = line_of(at);
      if (spec.IsMap()) {
        check_keys(spec, path, {"name", "loopback", "ipv6_link_local", "sysctls", "routes", "exec", "run"});
        if (spec["loopback"]) ns.loopback = boolean(spec["loopback"], path + ".loopback");
        if (spec["ipv6_link_local"]) ns.ipv6_link_local = boolean(spec["ipv6_link_local"], path + ".ipv6_link_local");
        if (auto s = spec["sysctls"]) {
          if (!s.IsMap()) fail(s, path + ".sysctls", "must map sysctl keys to values");
          for (auto it = s.begin(); it != s.end(); ++it) {
            std::string key = it->first.Scalar();
            std::string kpath = path + ".sysctls." + key;
            if (!key.starts_with("net.") && !key.starts_with("net/"))
              fail(it->first, kpath, "only net.* sysctls are per network namespace");
            at_line(it->first, kpath, [&] { sysctl_path(key); });
            ns.sysctls.emplace_back(key, scalar(it->second, kpath));
          }
        }
        programs(ns, spec, path);
      }
      t.namespaces.push_back(std::move(ns));
    });
  }

  // ---- programs of a namespace: `exec:` commands and `run:` processes ---------------------------------------
  // A command is a list (argv as it is) or a string split into words with shell-like quoting, nothing expanded.
  std::vector<std::string> command(const YAML::Node& n, const std::string& path) {
    std::vector<std::string> argv;
    if (n.IsScalar()) {
      at_line(n, path, [&] { argv = process::split_words(n.Scalar(), path); });
    } else if (n.IsSequence()) {
      if (n.size() == 0) fail(n, path, "is an empty command");
      for (size_t i = 0; i < n.size(); ++i) argv.push_back(scalar(n[i], fmt::format("{}[{}]", path, i)));
    } else {
      fail(n, path, "must be a command: a string or a list of words");
    }
    for (auto& a : argv) {
      at_line(n, path, [&] { validate_utf8(a, path); });
      if (a.find('\0') != std::string::npos) fail(n, path, "a word of the command holds a NUL byte");
    }
    if (argv[0].empty()) fail(n, path, "names no program");
    return argv;
  }

  void programs(Namespace& ns, const YAML::Node& spec, const std::string& path) {
    const std::string at = "namespaces." + ns.name;  // runtime messages name the namespace, not its position
    if (auto ex = spec["exec"]) {
      if (!ex.IsSequence()) fail(ex, path + ".exec", "must be a list of commands");
      for (size_t i = 0; i < ex.size(); ++i) {
        std::string p = fmt::format("{}.exec[{}]", path, i);
        ns.exec.push_back({command(ex[i], p), fmt::format("{}.exec[{}]", at, i)});
      }
    }
    auto ru = spec["run"];
    if (!ru) return;
    if (!ru.IsSequence()) fail(ru, path + ".run", "must be a list of processes");
    std::vector<std::string> given;  // explicit names, "" where a default is due
    for (size_t i = 0; i < ru.size(); ++i) {
      std::string p = fmt::format("{}.run[{}]", path, i);
      Process pr{.field = fmt::format("{}.run[{}]", at, i)};
      std::string name;
      const YAML::Node& item = ru[i];
      if (item.IsMap()) {
        check_keys(item, p, {"name", "command", "stop_timeout"});
        if (!item["command"]) fail(item, p, "needs `command`");
        pr.argv = command(item["command"], p + ".command");
        if (item["name"]) {
          name = scalar(item["name"], p + ".name");
          at_line(item["name"], p + ".name", [&] { validate_identifier(name, p + ".name", 64); });
          if (name == "exec") fail(item["name"], p + ".name", "'exec' names the log of the `exec:` commands; choose another name");
        }
        if (item["stop_timeout"]) pr.stop_timeout = static_cast<uint32_t>(number(item["stop_timeout"], p + ".stop_timeout", 0, 3600));
      } else {
        pr.argv = command(item, p);
      }
      given.push_back(name);
      ns.run.push_back(std::move(pr));
    }
    // Default names: the program's basename, with "-N" (its rank among them) when several share it.
    std::map<std::string, int> uses, rank;
    auto base = [](const std::string& a) { return a.substr(a.rfind('/') + 1); };
    for (size_t i = 0; i < ns.run.size(); ++i)
      if (given[i].empty()) ++uses[base(ns.run[i].argv[0])];
    std::set<std::string> names;
    for (size_t i = 0; i < ns.run.size(); ++i) {
      std::string p = fmt::format("{}.run[{}]", path, i);
      std::string& name = ns.run[i].name;
      name = given[i];
      if (name.empty()) {
        std::string b = base(ns.run[i].argv[0]);
        name = uses[b] > 1 ? fmt::format("{}-{}", b, ++rank[b]) : b;
        at_line(ru[i], p, [&] {
          try {
            validate_identifier(name, p, 64);
          } catch (const InvalidInput& e) {
            throw InvalidInput(p, fmt::format("the default name '{}' is not usable ({}); give `name`", name, e.problem()));
          }
        });
        if (name == "exec") name = "exec-1";
      }
      if (!names.insert(name).second) fail(ru[i], p, fmt::format("process name '{}' is used twice in namespace '{}'", name, ns.name));
    }
  }

  // Routes are read after the links so `dev` and `via` can be checked against the namespace's interfaces.
  void routes(const YAML::Node& n) {
    if (!n) return;
    size_t idx = 0;
    named_items(n, "namespaces", [&](const std::string&, const YAML::Node& spec, const YAML::Node&,
                                     const std::string& path) {
      Namespace& ns = t.namespaces[idx++];
      if (!spec.IsMap() || !spec["routes"]) return;
      const YAML::Node& rs = spec["routes"];
      if (!rs.IsSequence()) fail(rs, path + ".routes", "must be a list of routes");
      for (size_t i = 0; i < rs.size(); ++i) ns.routes.push_back(route(ns, rs[i], fmt::format("{}.routes[{}]", path, i)));
    });
  }

  RouteSpec route(const Namespace& ns, const YAML::Node& n, const std::string& path) {
    std::string dst, via, dev;
    if (n.IsScalar()) {
      // "default via 10.0.0.1", "10.1.0.0/24 via 10.0.0.1 dev eth0", "10.2.0.0/24 dev eth0"
      std::istringstream in(n.Scalar());
      in >> dst;
      std::string word;
      while (in >> word) {
        std::string value;
        if (!(in >> value) || (word != "via" && word != "dev"))
          fail(n, path, fmt::format("'{}' is not 'DST [via GATEWAY] [dev IFNAME]'", n.Scalar()));
        (word == "via" ? via : dev) = value;
      }
    } else {
      check_keys(n, path, {"dst", "via", "dev"});
      if (!n["dst"]) fail(n, path, "needs `dst` (a CIDR or 'default')");
      dst = scalar(n["dst"], path + ".dst");
      if (n["via"]) via = scalar(n["via"], path + ".via");
      if (n["dev"]) dev = scalar(n["dev"], path + ".dev");
    }
    RouteSpec r;
    r.line = line_of(n);
    if (!via.empty()) at_line(n, path + ".via", [&] { r.via = IpAddress::parse(via, path + ".via"); });
    if (dst == "default") {
      uint8_t zero[16] = {};
      r.dst = Prefix(IpAddress::from_bytes(r.via && r.via->is_v6() ? AF_INET6 : AF_INET, zero), 0);
    } else {
      at_line(n, path + ".dst", [&] { r.dst = Prefix::parse(dst, path + ".dst").network(); });
    }
    if (r.via && r.via->family() != r.dst.family()) fail(n, path, "`dst` and `via` are of different address families");
    if (!r.via && dev.empty()) fail(n, path, "needs `via` (a gateway) or `dev` (an interface)");
    if (!dev.empty() && !ifnames.count({ns.name, dev}))
      fail(n, path + ".dev", fmt::format("'{}' is not an interface of namespace '{}' in this lab", dev, ns.name));
    r.dev = dev;
    return r;
  }

  // ---- bridges ---------------------------------------------------------------------------------------------
  void bridges(const YAML::Node& n) {
    named_items(n, "bridges", [&](const std::string& name, const YAML::Node& spec, const YAML::Node& at,
                                  const std::string& path) {
      if (bridge(name)) fail(at, path, fmt::format("bridge '{}' is declared twice", name));
      if (ns_names.count(name)) fail(at, path, fmt::format("'{}' already names a namespace; bridges need their own names", name));
      Bridge b;
      b.name = name;
      b.line = line_of(at);
      size_t idx = t.bridges.size();
      if (spec.IsMap()) {
        check_keys(spec, path, {"name", "namespace", "mtu", "vlan_filtering", "subnet", "addresses", "external"});
        if (spec["external"]) b.external = boolean(spec["external"], path + ".external");
        if (b.external) {
          // Someone else's bridge: ctnet only attaches ports to it, so nothing of the bridge itself is set.
          for (const char* key : {"mtu", "vlan_filtering", "addresses"})
            if (spec[key]) fail(spec[key], path + "." + key, fmt::format("an external bridge is not ctnet's to change; drop `{}`", key));
          if (spec["namespace"] && scalar(spec["namespace"], path + ".namespace") != kHostNs)
            fail(spec["namespace"], path + ".namespace", "an external bridge must already exist, so it lives in 'host' (lab namespaces are made by the lab)");
        }
        if (spec["namespace"]) b.ns = lab_namespace(spec["namespace"], path + ".namespace");
        if (spec["mtu"]) b.mtu = mtu(spec["mtu"], path + ".mtu");
        if (spec["vlan_filtering"]) b.vlan_filtering = boolean(spec["vlan_filtering"], path + ".vlan_filtering");
        if (auto s = spec["subnet"]) {
          std::string v = scalar(s, path + ".subnet");
          if (const Pool* p = find_pool(v)) b.subnet = p->subnet;
          else at_line(s, path + ".subnet", [&] { b.subnet = Prefix::parse(v, path + ".subnet").network(); });
        }
        if (spec["addresses"]) address_list(spec["addresses"], path + ".addresses", Owner::bridge, idx, b.addresses);
      }
      define_ifname(b.ns, name, at, path);
      bridge_index[name] = t.bridges.size();
      t.bridges.push_back(std::move(b));
    });
  }

  // ---- links -----------------------------------------------------------------------------------------------
  // A bridge-side veth end without a name gets "<ns>-<ifname>" of the other end when that fits, else a name
  // derived from a hash of the lab and the other end (stable across runs, so converging finds it again).
  std::string port_name(const Endpoint& other, const std::string& bridge_ns) {
    std::string cand = other.ns + "-" + other.name;
    if (is_valid_ifname(cand) && !ifnames.count({bridge_ns, cand})) return cand;
    uint32_t h = 2166136261u;
    for (char c : t.name + "/" + other.ns + "/" + other.name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    return fmt::format("ctv{:08x}", h);
  }

  // "ns:ifname=addr,addr" | "host:ifname" | "bridge" | "bridge:portname"
  Endpoint endpoint_short(const YAML::Node& n, const std::string& path, bool allow_bridge) {
    std::string s = scalar(n, path);
    std::string left = s, addrs;
    if (auto eq = s.find('='); eq != std::string::npos) left = s.substr(0, eq), addrs = s.substr(eq + 1);
    std::string first = left, second;
    if (auto colon = left.find(':'); colon != std::string::npos) first = left.substr(0, colon), second = left.substr(colon + 1);
    Endpoint e;
    if (const Bridge* b = bridge(first); b && !ns_names.count(first)) {
      if (!allow_bridge) fail(n, path, fmt::format("'{}' is a bridge; this link kind needs NAMESPACE:IFNAME", first));
      e.bridge = first;
      e.ns = b->ns;
      e.name = second;  // may be empty: named once the other end is known
      if (!addrs.empty()) fail(n, path, "a bridge port carries no addresses (give them to the bridge or the other end)");
      return e;
    }
    if (!is_ns(first))
      fail(n, path, fmt::format("'{}' is neither a namespace nor a bridge of this lab (expected NAMESPACE:IFNAME{})", first,
                                allow_bridge ? " or BRIDGE[:PORT]" : ""));
    if (second.empty()) fail(n, path, fmt::format("'{}' needs an interface name: {}:IFNAME", s, first));
    e.ns = first;
    e.name = second;
    e.addresses.clear();
    if (!addrs.empty()) {
      std::stringstream in(addrs);
      std::string item;
      while (std::getline(in, item, ',')) pending_addrs.push_back(item);
    }
    return e;
  }
  std::vector<std::string> pending_addrs;  // address texts of the endpoint being parsed (short form)

  // `impair: {delay: 10ms, jitter: 2ms, loss: 1%, rate: 10mbit, corrupt: 0.1%, duplicate: 1%, reorder: 25%}`
  link::tc::Netem impairment(const YAML::Node& n, const std::string& path) {
    namespace tc = link::tc;
    check_keys(n, path, {"delay", "jitter", "loss", "rate", "corrupt", "duplicate", "reorder", "limit"});
    tc::Netem x;
    for (std::string_view key : kinds::qdisc::kNetemTextKeys) {
      const YAML::Node v = n[std::string(key)];
      if (!v) continue;
      const std::string f = path + "." + std::string(key);
      const std::string text = scalar(v, f);
      at_line(v, f, [&] { kinds::qdisc::set_netem_option(x, key, text, f); });
    }
    if (n["limit"]) x.limit = static_cast<uint32_t>(number(n["limit"], path + ".limit", 1, UINT32_MAX));
    try {
      kinds::qdisc::validate_netem(x, path + ".");
    } catch (const InvalidInput& e) {
      const std::string key = e.field().substr(std::min(e.field().size(), path.size() + 1));
      fail(n[key] ? n[key] : n, e.field(), e.problem());
    }
    return x;
  }

  // The keys only a veth end has: its own MAC, MTU, queue length and impairment.
  void end_settings(const YAML::Node& n, const std::string& path, Endpoint& e) {
    if (auto m = n["mac"]) {
      at_line(m, path + ".mac", [&] { e.mac = MacAddress::parse(scalar(m, path + ".mac"), path + ".mac"); });
      if (e.mac->bytes[0] & 1) fail(m, path + ".mac", fmt::format("{} is a multicast address", e.mac->str()));
      if (*e.mac == MacAddress{}) fail(m, path + ".mac", "00:00:00:00:00:00 is no address of an interface");
    }
    if (n["mtu"]) e.mtu = mtu(n["mtu"], path + ".mtu");
    if (n["txqueuelen"]) e.txqueuelen = static_cast<uint32_t>(number(n["txqueuelen"], path + ".txqueuelen", 0, UINT32_MAX));
    if (auto i = n["impair"]) e.impair = impairment(i, path + ".impair");
  }

  Endpoint endpoint_long(const YAML::Node& n, const std::string& path, bool allow_bridge) {
    check_keys(n, path, {"namespace", "bridge", "name", "addresses", "mac", "mtu", "txqueuelen", "impair", "vlan", "trunk"});
    if (!allow_bridge)
      for (const char* key : {"mac", "mtu", "txqueuelen", "impair", "vlan", "trunk"})
        if (n[key]) fail(n[key], path + "." + key, "is a setting of veth ends; give it to the link here");
    Endpoint e;
    if (n["bridge"]) {
      if (!allow_bridge) fail(n["bridge"], path + ".bridge", "this link kind cannot end on a bridge");
      std::string b = scalar(n["bridge"], path + ".bridge");
      const Bridge* br = bridge(b);
      if (!br) fail(n["bridge"], path + ".bridge", fmt::format("bridge '{}' is not declared under `bridges`", b));
      if (n["namespace"]) fail(n["namespace"], path + ".namespace", "a bridge port lives where its bridge is; drop `namespace`");
      if (n["addresses"]) fail(n["addresses"], path + ".addresses", "a bridge port carries no addresses");
      e.bridge = b;
      e.ns = br->ns;
    } else {
      if (!n["namespace"]) fail(n, path, allow_bridge ? "needs `namespace` or `bridge`" : "needs `namespace`");
      e.ns = lab_namespace(n["namespace"], path + ".namespace");
      if (!n["name"]) fail(n, path, "needs `name` (the interface name)");
    }
    if (n["name"]) e.name = scalar(n["name"], path + ".name");
    end_settings(n, path, e);
    port_vlans(n, path, e);
    return e;
  }

  // `vlan: 10` (an access port: untagged frames in VLAN 10) or `trunk: [10, 20, "100-200"]` (tagged VLANs) on a
  // port of a VLAN-aware bridge.
  void port_vlans(const YAML::Node& n, const std::string& path, Endpoint& e) {
    if (!n["vlan"] && !n["trunk"]) return;
    const char* key = n["vlan"] ? "vlan" : "trunk";
    if (e.bridge.empty()) fail(n[key], path + "." + key, "is a setting of bridge ports; this end is not on a bridge");
    if (n["vlan"] && n["trunk"])
      fail(n["trunk"], path + ".trunk", "give `vlan` (an access port) or `trunk` (tagged VLANs), not both");
    const Bridge* br = bridge(e.bridge);
    if (!br->vlan_filtering && !br->external)
      fail(n[key], path + "." + key,
           fmt::format("bridge '{}' is not VLAN-aware: set `vlan_filtering: true` on it (bridges.{})", br->name, br->name));
    if (auto v = n["vlan"]) e.vlan = static_cast<uint16_t>(number(v, path + ".vlan", 1, 4094));
    if (auto t = n["trunk"]) {
      const std::string f = path + ".trunk";
      if (!t.IsSequence() || t.size() == 0) fail(t, f, "must be a list of VLAN IDs or ranges, e.g. [10, 20, \"100-199\"]");
      for (size_t i = 0; i < t.size(); ++i) {
        const std::string fi = fmt::format("{}[{}]", f, i);
        const std::string text = scalar(t[i], fi);
        auto vid = [&](std::string_view part) {
          unsigned v = 0;
          auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
          if (ec != std::errc() || p != part.data() + part.size() || v < 1 || v > 4094)
            fail(t[i], fi, fmt::format("'{}' is not a VLAN ID (1-4094) or a range of them (\"100-199\")", text));
          return static_cast<uint16_t>(v);
        };
        kinds::port::VlanRange r;
        const auto dash = text.find('-');
        r.min = vid(std::string_view(text).substr(0, dash));
        r.max = dash == std::string::npos ? r.min : vid(std::string_view(text).substr(dash + 1));
        if (r.min > r.max) fail(t[i], fi, fmt::format("'{}' is not a range: the lower VLAN ID comes first", text));
        for (auto& o : e.trunk)
          if (r.min <= o.max && o.min <= r.max) fail(t[i], fi, fmt::format("'{}' overlaps another entry of the list", text));
        e.trunk.push_back(r);
      }
    }
  }

  // Reads an endpoint in either form; addresses go through address_list so pools and errors are uniform.
  Endpoint endpoint(const YAML::Node& n, const std::string& path, bool allow_bridge, Owner owner, size_t idx) {
    pending_addrs.clear();
    Endpoint e = n.IsScalar() ? endpoint_short(n, path, allow_bridge) : endpoint_long(n, path, allow_bridge);
    for (auto& text : pending_addrs) address_item(text, n, path, owner, idx, e.addresses);
    if (!n.IsScalar() && n["addresses"]) address_list(n["addresses"], path + ".addresses", owner, idx, e.addresses);
    return e;
  }

  // `endpoint: "ns:if=addr"` or `namespace:` + `name:` + `addresses:` on the link itself.
  Endpoint single_endpoint(const YAML::Node& n, const std::string& path, size_t idx, const std::string& default_name = {}) {
    if (n["endpoint"]) {
      if (n["namespace"] || n["name"] || n["addresses"])
        fail(n, path, "give either `endpoint` or `namespace`/`name`/`addresses`, not both");
      return endpoint(n["endpoint"], path + ".endpoint", false, Owner::link_a, idx);
    }
    Endpoint e;
    if (!n["namespace"]) fail(n, path, "needs `endpoint` (NAMESPACE:IFNAME) or `namespace`");
    e.ns = lab_namespace(n["namespace"], path + ".namespace");
    if (n["name"]) e.name = scalar(n["name"], path + ".name");
    else if (!default_name.empty()) e.name = default_name;
    else fail(n, path, "needs `name` (the interface name)");
    if (n["addresses"]) address_list(n["addresses"], path + ".addresses", Owner::link_a, idx, e.addresses);
    return e;
  }

  // "ns:if", "if" (host) or {namespace, name}.
  Endpoint reference(const YAML::Node& n, const std::string& path) {
    Endpoint e;
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      if (auto colon = s.find(':'); colon != std::string::npos) {
        e.ns = s.substr(0, colon);
        e.name = s.substr(colon + 1);
        if (!is_ns(e.ns)) fail(n, path, fmt::format("namespace '{}' is not declared under `namespaces` (nor 'host')", e.ns));
      } else {
        e.name = s;
      }
    } else {
      check_keys(n, path, {"namespace", "name"});
      if (n["namespace"]) e.ns = lab_namespace(n["namespace"], path + ".namespace");
      if (!n["name"]) fail(n, path, "needs `name`");
      e.name = scalar(n["name"], path + ".name");
    }
    at_line(n, path, [&] { validate_ifname(e.name, path); });
    // A parent inside a lab namespace must be made by the lab before this link; one in the host namespace may
    // also be an existing device (checked against the kernel before anything is created).
    if (e.ns != kHostNs && !ifnames.count({e.ns, e.name}))
      fail(n, path, fmt::format("'{}' is not an interface of namespace '{}' defined earlier in this lab", e.name, e.ns));
    return e;
  }

  void links(const YAML::Node& n) {
    if (!n) return;
    if (!n.IsSequence()) fail(n, "links", "must be a list of links");
    for (size_t i = 0; i < n.size(); ++i) link(n[i], fmt::format("links[{}]", i));
  }

  void link(const YAML::Node& n, const std::string& path) {
    if (!n.IsMap()) fail(n, path, "must be a mapping (`endpoints: [A, B]` or `kind: ...`)");
    size_t idx = t.links.size();
    t.links.emplace_back();
    Link l;
    l.line = line_of(n);
    l.field = path;
    std::string kind = "veth";
    if (n["kind"]) kind = scalar(n["kind"], path + ".kind");
    auto k = parse_kind(kind);
    if (!k)
      fail(n["kind"], path + ".kind",
           fmt::format("unknown kind '{}' (known: veth, macvlan, ipvlan, vlan, dummy, host-device, vxlan, vf)", kind));
    l.kind = *k;
    if (n["mtu"]) l.mtu = mtu(n["mtu"], path + ".mtu");
    switch (l.kind) {
      case Kind::veth: {
        check_keys(n, path, {"kind", "endpoints", "a", "b", "mtu", "subnet"});
        YAML::Node a, b;
        std::string pa, pb;
        if (auto eps = n["endpoints"]) {
          if (n["a"] || n["b"]) fail(n, path, "give either `endpoints` or `a`/`b`, not both");
          if (!eps.IsSequence() || eps.size() != 2) fail(eps, path + ".endpoints", "must list exactly two endpoints");
          a = eps[0], b = eps[1], pa = path + ".endpoints[0]", pb = path + ".endpoints[1]";
        } else {
          if (!n["a"] || !n["b"]) fail(n, path, "a veth needs `endpoints: [A, B]` or both `a` and `b`");
          a = n["a"], b = n["b"], pa = path + ".a", pb = path + ".b";
        }
        l.a = endpoint(a, pa, true, Owner::link_a, idx);
        l.b = endpoint(b, pb, true, Owner::link_b, idx);
        if (l.a.bridge.empty() && l.b.bridge.empty() && l.a.ns == l.b.ns && l.a.name == l.b.name)
          fail(b, pb, "both ends have the same name in the same namespace");
        if (!l.a.bridge.empty() && l.a.name.empty()) l.a.name = port_name(l.b, l.a.ns);
        if (!l.b.bridge.empty() && l.b.name.empty()) l.b.name = port_name(l.a, l.b.ns);
        define_ifname(l.a.ns, l.a.name, a, pa);
        define_ifname(l.b.ns, l.b.name, b, pb);
        if (auto s = n["subnet"]) {
          std::string v = scalar(s, path + ".subnet");
          if (const Pool* p = find_pool(v)) l.subnet = p->subnet;
          else at_line(s, path + ".subnet", [&] { l.subnet = Prefix::parse(v, path + ".subnet").network(); });
        }
        break;
      }
      case Kind::macvlan:
      case Kind::ipvlan: {
        check_keys(n, path, {"kind", "endpoint", "namespace", "name", "addresses", "parent", "mode", "flag", "mtu"});
        l.a = single_endpoint(n, path, idx);
        if (!n["parent"]) fail(n, path, fmt::format("a {} needs `parent` (the link it sits on)", kind));
        l.parent = reference(n["parent"], path + ".parent");
        if (l.kind == Kind::macvlan) {
          l.mode = n["mode"] ? scalar(n["mode"], path + ".mode") : "bridge";
          auto m = link::parse_macvlan_mode(l.mode);
          if (!m || *m == link::MacvlanMode::source)
            fail(n["mode"], path + ".mode", fmt::format("'{}' is not a macvlan mode (bridge, private, vepa, passthru)", l.mode));
          if (n["flag"]) fail(n["flag"], path + ".flag", "`flag` is for ipvlan only");
        } else {
          l.mode = n["mode"] ? scalar(n["mode"], path + ".mode") : "l2";
          if (!link::parse_ipvlan_mode(l.mode)) fail(n["mode"], path + ".mode", fmt::format("'{}' is not an ipvlan mode (l2, l3, l3s)", l.mode));
          l.flag = n["flag"] ? scalar(n["flag"], path + ".flag") : "bridge";
          if (!link::parse_ipvlan_flag(l.flag)) fail(n["flag"], path + ".flag", fmt::format("'{}' is not an ipvlan flag (bridge, private, vepa)", l.flag));
        }
        define_ifname(l.a.ns, l.a.name, n, path + ".name");
        break;
      }
      case Kind::vlan: {
        check_keys(n, path, {"kind", "endpoint", "namespace", "name", "addresses", "parent", "id", "mtu"});
        if (!n["parent"]) fail(n, path, "a vlan needs `parent` (the link whose frames it tags)");
        l.parent = reference(n["parent"], path + ".parent");
        if (!n["id"]) fail(n, path, "a vlan needs `id` (its 802.1Q VLAN ID, 1-4094)");
        l.vlan = static_cast<uint16_t>(number(n["id"], path + ".id", 1, 4094));
        // Named PARENT.ID in the parent's namespace unless the file says otherwise, as `ip link add link eth0
        // name eth0.10 type vlan id 10` users name them.
        const std::string conventional = fmt::format("{}.{}", l.parent.name, *l.vlan);
        if (n["endpoint"] || n["namespace"]) {
          l.a = single_endpoint(n, path, idx, conventional.size() <= 15 ? conventional : "");
        } else {
          l.a.ns = l.parent.ns;
          if (n["name"]) l.a.name = scalar(n["name"], path + ".name");
          else if (conventional.size() <= 15) l.a.name = conventional;
          else fail(n, path, fmt::format("needs `name`: '{}' is longer than the 15 bytes of an interface name", conventional));
          if (n["addresses"]) address_list(n["addresses"], path + ".addresses", Owner::link_a, idx, l.a.addresses);
        }
        define_ifname(l.a.ns, l.a.name, n, path + ".name");
        break;
      }
      case Kind::dummy: {
        check_keys(n, path, {"kind", "endpoint", "namespace", "name", "addresses", "mtu"});
        l.a = single_endpoint(n, path, idx);
        define_ifname(l.a.ns, l.a.name, n, path + ".name");
        break;
      }
      case Kind::host_device: {
        check_keys(n, path, {"kind", "device", "endpoint", "namespace", "name", "addresses", "mtu"});
        if (!n["device"]) fail(n, path, "a host-device needs `device` (the name of an existing link in the host namespace)");
        l.device = scalar(n["device"], path + ".device");
        at_line(n["device"], path + ".device", [&] { validate_ifname(l.device, path + ".device"); });
        if (ifnames.count({kHostNs, l.device})) fail(n["device"], path + ".device", "is made by this lab; a host-device must already exist");
        l.a = single_endpoint(n, path, idx, l.device);
        if (l.a.ns == kHostNs) fail(n, path, "a host-device moves into a lab namespace, not into 'host'");
        define_ifname(l.a.ns, l.a.name, n, path + ".name");
        break;
      }
      case Kind::vxlan: {
        check_keys(n, path, {"kind", "name", "namespace", "vni", "local", "remote", "port", "dev", "bridge", "addresses", "mtu"});
        if (!n["name"]) fail(n, path, "a vxlan needs `name`");
        l.a.name = scalar(n["name"], path + ".name");
        if (n["namespace"]) l.a.ns = lab_namespace(n["namespace"], path + ".namespace");
        if (!n["vni"]) fail(n, path, "a vxlan needs `vni` (1..16777215)");
        l.vni = static_cast<uint32_t>(number(n["vni"], path + ".vni", 1, 16777215));
        if (n["port"]) l.port = static_cast<uint16_t>(number(n["port"], path + ".port", 1, 65535));
        if (auto v = n["local"]) at_line(v, path + ".local", [&] { l.local = IpAddress::parse(scalar(v, path + ".local"), path + ".local"); });
        if (auto v = n["remote"]) at_line(v, path + ".remote", [&] { l.remote = IpAddress::parse(scalar(v, path + ".remote"), path + ".remote"); });
        if (l.local && l.remote && l.local->family() != l.remote->family())
          fail(n, path, "`local` and `remote` are of different address families");
        if (n["dev"]) {
          l.underlay = scalar(n["dev"], path + ".dev");
          Endpoint ref = reference(n["dev"], path + ".dev");
          l.underlay = ref.name;
          if (ref.ns != l.a.ns) fail(n["dev"], path + ".dev", "the underlay device must be in the vxlan's namespace");
        }
        if (auto b = n["bridge"]) {
          l.a.bridge = scalar(b, path + ".bridge");
          const Bridge* br = bridge(l.a.bridge);
          if (!br) fail(b, path + ".bridge", fmt::format("bridge '{}' is not declared under `bridges`", l.a.bridge));
          if (br->ns != l.a.ns) fail(b, path + ".bridge", fmt::format("bridge '{}' is in namespace '{}', the vxlan in '{}'", br->name, br->ns, l.a.ns));
        }
        if (n["addresses"]) address_list(n["addresses"], path + ".addresses", Owner::link_a, idx, l.a.addresses);
        define_ifname(l.a.ns, l.a.name, n["name"], path + ".name");
        break;
      }
      case Kind::vf: {
        check_keys(n, path, {"kind", "pf", "vf", "pci", "vlan", "mac", "endpoint", "namespace", "name", "addresses", "mtu"});
        if (!n["pf"]) fail(n, path, "a vf needs `pf` (the physical function's interface in the host namespace)");
        l.pf = scalar(n["pf"], path + ".pf");
        at_line(n["pf"], path + ".pf", [&] { validate_ifname(l.pf, path + ".pf"); });
        if (n["vf"] && n["pci"]) fail(n, path, "give `vf` (an index) or `pci` (an address), not both");
        if (n["vf"]) l.vf = static_cast<uint32_t>(number(n["vf"], path + ".vf", 0, 4095));
        if (n["pci"]) at_line(n["pci"], path + ".pci", [&] { l.pci = sriov::normalize_pci(scalar(n["pci"], path + ".pci"), path + ".pci"); });
        if (n["vlan"]) l.vlan = static_cast<uint16_t>(number(n["vlan"], path + ".vlan", 0, 4094));
        if (auto m = n["mac"]) at_line(m, path + ".mac", [&] { l.mac = MacAddress::parse(scalar(m, path + ".mac"), path + ".mac"); });
        l.a = single_endpoint(n, path, idx);
        if (l.a.ns == kHostNs) fail(n, path, "a vf is handed to a lab namespace, not to 'host'");
        define_ifname(l.a.ns, l.a.name, n, path + ".name");
        break;
      }
    }
    t.links[idx] = std::move(l);
  }

  // ---- whole-file checks -----------------------------------------------------------------------------------
  void draw_pools(const YAML::Node& root) {
    std::set<IpAddress> used;
    for (auto& u : uses)
      if (u.pool.empty()) used.insert(addrs_of(u)[u.pos].address());
    std::map<std::string, int64_t> next;
    for (auto& u : uses) {
      if (u.pool.empty()) continue;
      const Pool* p = find_pool(u.pool);
      int64_t& n = next[p->name];
      for (;;) {
        if (++n > p->subnet.host_count())
          throw InvalidInput(where(u.field, u.line), fmt::format("pool '{}' ({}) has no free address left", p->name, p->subnet.str()));
        Prefix cand = p->subnet.host(n);
        if (used.insert(cand.address()).second) {
          addrs_of(u)[u.pos] = cand;
          break;
        }
      }
    }
    (void)root;
  }

  void check_addresses() {
    std::map<IpAddress, std::string> seen;
    for (auto& u : uses) {
      const Prefix& p = addrs_of(u)[u.pos];
      std::string at = where(u.field, u.line);
      if (p.address().is_v4() && p.length() < 31 && (p.address() == p.first() || p.address() == p.last()))
        throw InvalidInput(at, fmt::format("{} is the network or broadcast address of its subnet", p.str()));
      if (p.address().is_v6() && p.length() < 127 && p.address() == p.first())
        throw InvalidInput(at, fmt::format("{} is the subnet-router anycast address of its subnet", p.str()));
      auto [it, fresh] = seen.emplace(p.address(), at);
      if (!fresh) throw InvalidInput(at, fmt::format("address {} is already used at {}", p.address().str(), it->second));
      // A segment with a declared subnet: the bridge's own addresses, ports' far ends, both ends of a veth.
      std::optional<Prefix> subnet;
      std::string what;
      if (u.owner == Owner::bridge) {
        subnet = t.bridges[u.idx].subnet, what = "bridge '" + t.bridges[u.idx].name + "'";
      } else {
        const Link& l = t.links[u.idx];
        const Endpoint& other = u.owner == Owner::link_a ? l.b : l.a;
        if (l.kind == Kind::veth && !other.bridge.empty()) {
          subnet = bridge(other.bridge)->subnet, what = "bridge '" + other.bridge + "'";
        } else if (l.kind == Kind::veth && l.subnet) {
          subnet = l.subnet, what = l.field;
        } else if (l.kind == Kind::vxlan && !l.a.bridge.empty()) {
          subnet = bridge(l.a.bridge)->subnet, what = "bridge '" + l.a.bridge + "'";
        }
      }
      if (subnet && subnet->family() != p.family()) subnet.reset();  // a subnet constrains its own family only
      if (subnet && !subnet->contains(p.address()))
        throw InvalidInput(at, fmt::format("{} is outside the subnet {} of {}", p.str(), subnet->str(), what));
      else if (subnet && p.length() != subnet->length())
        throw InvalidInput(at, fmt::format("{} has prefix length /{} but the subnet {} of {} is /{}", p.str(), p.length(),
                                           subnet->str(), what, subnet->length()));
    }
  }

  // An MTU below IPv6's minimum on a link or bridge the file gives IPv6 addresses (known once pools are drawn).
  void check_mtus() {
    auto v6 = [](const std::vector<Prefix>& ps) {
      return std::any_of(ps.begin(), ps.end(), [](const Prefix& p) { return p.address().is_v6(); });
    };
    for (auto& b : t.bridges)
      if (b.mtu && v6(b.addresses)) validate_mtu(b.mtu, where("bridges." + b.name + ".mtu", b.line), true);
    for (auto& l : t.links) {
      if (l.mtu && (v6(l.a.addresses) || v6(l.b.addresses))) validate_mtu(l.mtu, where(l.field + ".mtu", l.line), true);
      for (const Endpoint* e : {&l.a, &l.b})  // an end's own mtu (veth long form)
        if (e->mtu && v6(e->addresses))
          validate_mtu(e->mtu, where(fmt::format("{} ({}:{}).mtu", l.field, e->ns, e->name), l.line), true);
    }
  }

  // A namespace whose interfaces get no IPv6 address from the file gets no link-local ones either (as Docker
  // does for IPv4-only containers): otherwise every interface sends DAD, MLD and router solicitations that a
  // bridge floods to all its ports, N^2 packets for N namespaces on one bridge.
  void resolve_link_local() {
    std::set<std::string> v6;
    for (auto& b : t.bridges)
      for (auto& p : b.addresses) if (p.address().is_v6()) v6.insert(b.ns);
    for (auto& l : t.links)
      for (const Endpoint* e : {&l.a, &l.b})
        for (auto& p : e->addresses) if (p.address().is_v6()) v6.insert(e->ns);
    for (auto& n : t.namespaces)
      if (!n.ipv6_link_local) n.ipv6_link_local = v6.count(n.name) > 0;
  }

  void check_routes() {
    std::map<std::string, std::vector<Prefix>> by_ns;  // connected subnets per namespace, gathered once
    for (auto& b : t.bridges) by_ns[b.ns].insert(by_ns[b.ns].end(), b.addresses.begin(), b.addresses.end());
    for (auto& l : t.links)
      for (const Endpoint* e : {&l.a, &l.b}) by_ns[e->ns].insert(by_ns[e->ns].end(), e->addresses.begin(), e->addresses.end());
    for (auto& ns : t.namespaces) {
      const std::vector<Prefix>& connected = by_ns[ns.name];
      for (size_t i = 0; i < ns.routes.size(); ++i) {
        auto& r = ns.routes[i];
        if (!r.via) continue;
        bool ok = false;
        for (auto& c : connected) ok |= c.family() == r.via->family() && c.network().contains(*r.via);
        if (!ok)
          throw InvalidInput(where(fmt::format("namespaces.{}.routes[{}].via", ns.name, i), r.line),
                             fmt::format("gateway {} is not in any subnet of namespace '{}'", r.via->str(), ns.name));
      }
    }
  }
};

// ---- before the parser: one document, merge keys, `defaults` -------------------------------------------------
// These rewrite the YAML tree in place and insert the file's own nodes (never copies), so every error the
// parser raises later still carries the line where the key or value stands in the file.

// The file's one document. Several (`---`) are an error rather than silently the first; empty ones are ignored.
YAML::Node load_one_document(std::string_view text) {
  std::vector<YAML::Node> docs;
  try {
    for (auto& d : YAML::LoadAll(std::string(text)))
      if (d && !d.IsNull()) docs.push_back(d);
  } catch (const YAML::Exception& e) {
    throw InvalidInput(fmt::format("YAML (line {})", e.mark.line + 1), e.msg);
  }
  if (docs.empty()) return YAML::Node();
  if (docs.size() > 1) {
    std::string lines;
    for (size_t i = 0; i < docs.size(); ++i)
      lines += fmt::format("{}{}", i == 0 ? "" : i + 1 == docs.size() ? " and " : ", ", line_of(docs[i]));
    throw InvalidInput("file", fmt::format("the file holds {} labs (documents at lines {}); give one lab per file",
                                           docs.size(), lines));
  }
  return docs.front();
}

bool is_merge_key(const YAML::Node& key) {
  return key.IsScalar() && key.Scalar() == "<<" && key.Tag() == "?";  // plain `<<`; a quoted "<<" is a string
}

// Adds to `into` every key of `from` it lacks (the node itself, shared). With `deep`, a key both give as a
// mapping is merged key by key the same way; otherwise `into`'s own value wins whole.
void add_missing(YAML::Node into, const YAML::Node& from, bool deep) {
  std::map<std::string, YAML::Node> own;
  for (auto it = into.begin(); it != into.end(); ++it)
    if (it->first.IsScalar()) own.emplace(it->first.Scalar(), it->second);
  for (auto it = from.begin(); it != from.end(); ++it) {
    auto mine = own.find(it->first.Scalar());
    if (mine == own.end()) {
      into.force_insert(it->first, it->second);
      own.emplace(it->first.Scalar(), it->second);
    } else if (deep && mine->second.IsMap() && it->second.IsMap()) {
      add_missing(mine->second, it->second, true);
    }
  }
}

// YAML 1.1 merge keys (https://yaml.org/type/merge.html), which yaml-cpp 0.7 reads as an ordinary key "<<":
// `<<: *a` or `<<: [*a, *b]` gives the map every key of the merged maps that it does not set itself; of
// several maps, the earlier wins. yaml-cpp resolves the aliases themselves (`*a` is the anchor's own node).
void resolve_merge_keys(YAML::Node n, const std::string& path, int depth = 0) {
  if (depth > 64) fail(n, path, "is nested too deeply (an alias inside its own anchor?)");
  if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) resolve_merge_keys(n[i], fmt::format("{}[{}]", path, i), depth + 1);
    return;
  }
  if (!n.IsMap()) return;
  // Handles to the file's nodes, held in optionals: assigning one YAML::Node to another would rebind the node.
  std::optional<YAML::Node> merge, merge_key;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (is_merge_key(it->first)) {
      merge.emplace(it->second), merge_key.emplace(it->first);
    } else {
      resolve_merge_keys(it->second, path.empty() ? it->first.Scalar() : path + "." + it->first.Scalar(), depth + 1);
    }
  }
  if (!merge_key) return;
  const std::string mpath = path.empty() ? "<<" : path + ".<<";
  std::vector<YAML::Node> sources;
  if (merge->IsMap()) sources.push_back(*merge);
  else if (merge->IsSequence())
    for (size_t i = 0; i < merge->size(); ++i) sources.push_back((*merge)[i]);
  for (auto& s : sources) {
    if (!s.IsMap()) fail(s, mpath, "must be an alias of a mapping (`<<: *name`) or a list of them (`<<: [*a, *b]`)");
    resolve_merge_keys(s, mpath, depth + 1);
  }
  if (sources.empty()) fail(*merge, mpath, "must be an alias of a mapping (`<<: *name`) or a list of them (`<<: [*a, *b]`)");
  n.remove(*merge_key);
  for (auto& s : sources) add_missing(n, s, false);
}

// {name: NAME} for a bare name of a list, holding the file's own scalar (and so its line).
YAML::Node named_mapping(const YAML::Node& name) {
  YAML::Node m(YAML::NodeType::Map);
  m.force_insert(std::string("name"), name);
  return m;
}

// `defaults: {namespaces: {...}, bridges: {...}, links: {...}}`: keys every entry of that section gets unless it
// sets them itself; a mapping both give (sysctls) is merged key by key, a list or value of the entry's own
// wins whole. The per-entry parser then reads the merged keys as if each entry had them, so it checks them (a key
// an entry's kind does not take is an error there, at the line in `defaults`).
void apply_defaults(YAML::Node root) {
  const YAML::Node d = std::as_const(root)["defaults"];
  if (!d || d.IsNull()) return;
  check_keys(d, "defaults", {"namespaces", "bridges", "links"});
  for (const char* section : {"namespaces", "bridges", "links"}) {
    const std::string dpath = std::string("defaults.") + section;
    const YAML::Node def = d[section];
    if (!def || def.IsNull()) continue;
    if (!def.IsMap()) fail(def, dpath, "must be a mapping of the keys every entry gets");
    if (def["name"]) fail(def["name"], dpath + ".name", "every entry has its own name; a default cannot give one");
    const bool named = std::string_view(section) != "links";  // namespaces and bridges: the three forms
    YAML::Node items = std::as_const(root)[section];
    if (!items) continue;
    if (items.IsSequence()) {
      // A new list, so a bare name (`[ns1, ns2]`) can become {name: ns1, ...}; the name is the file's node.
      YAML::Node out(YAML::NodeType::Sequence);
      for (size_t i = 0; i < items.size(); ++i) {
        const YAML::Node item = items[i];
        // Initialised, never assigned: assigning one YAML::Node to another would rebind the file's node.
        YAML::Node entry = named && item.IsScalar() ? named_mapping(item) : item;
        if (entry.IsMap()) add_missing(entry, def, true);
        out.push_back(entry);
      }
      root[section] = out;
    } else if (items.IsMap() && named) {
      for (auto it = items.begin(); it != items.end(); ++it) {
        YAML::Node spec = it->second;
        if (spec.IsNull() || spec.IsMap()) add_missing(spec, def, true);  // `ns1:` (empty) becomes a mapping in place
      }
    }
  }
}

// Everything the file may hold beyond the lab itself, resolved into the lab's own keys.
void prepare(YAML::Node root) {
  resolve_merge_keys(root, "");
  // Top-level keys starting with `x-` hold anchors only (as in Compose files): their aliases are resolved.
  std::vector<YAML::Node> extensions;
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it->first.IsScalar() && it->first.Scalar().starts_with("x-")) extensions.push_back(it->first);
  for (auto& k : extensions) root.remove(k);
  apply_defaults(root);
}

}  // namespace

Topology parse_yaml(std::string_view text) {
  YAML::Node root = load_one_document(text);
  if (!root.IsMap()) fail(root, "file", "must be a mapping with `name`, `namespaces`, `bridges`, `links`");
  prepare(root);
  check_keys(root, "file", {"name", "pools", "defaults", "namespaces", "bridges", "links"});
  Parser p;
  if (!root["name"]) fail(root, "name", "the lab needs a `name`");
  p.t.name = scalar(root["name"], "name");
  at_line(root["name"], "name", [&] { validate_identifier(p.t.name, "name", 64); });
  p.pools(root["pools"]);
  p.namespaces(root["namespaces"]);
  p.bridges(root["bridges"]);
  p.links(root["links"]);
  p.draw_pools(root);
  p.check_addresses();
  p.check_mtus();
  p.routes(root["namespaces"]);
  p.check_routes();
  p.resolve_link_local();
  return std::move(p.t);
}

Topology load_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw_errno(fmt::format("cannot read {}", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_yaml(ss.str());
}

Topology default_topology() { return parse_yaml(kDefaultLabYaml); }

std::string prefixed_name(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (std::string cand = prefix + name; is_valid_ifname(cand)) return cand;
  auto fnv = [](std::string_view s) {
    uint32_t h = 2166136261u;
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
    return h;
  };
  // Too long for 15 bytes: a short tag of the prefix keeps the name readable; a name too long for that too is
  // hashed together with the prefix (as derived port names are).
  if (name.size() <= 7) return fmt::format("p{:06x}-{}", fnv(prefix) & 0xffffff, name);
  return fmt::format("ctp{:08x}", fnv(prefix + "/" + name));
}

void add_prefix(Topology& t, const std::string& prefix) {
  if (prefix.empty()) return;
  t.name = prefix + t.name;
  validate_identifier(t.name, "--prefix: lab name", 64);
  // What the lab makes in the host namespace, where a second copy of the lab makes the same names. Existing
  // host devices it only uses (a parent, an underlay, a host-device, a PF) keep theirs.
  std::set<std::string> host_made;
  for (auto& b : t.bridges)
    if (b.ns == kHostNs && !b.external) host_made.insert(b.name);
  for (auto& l : t.links) {
    if (l.a.ns == kHostNs && l.kind != Kind::host_device && l.kind != Kind::vf) host_made.insert(l.a.name);
    if (l.kind == Kind::veth && l.b.ns == kHostNs) host_made.insert(l.b.name);
  }
  auto host_name = [&](const std::string& ns, std::string& name) {
    if (ns == kHostNs && host_made.count(name)) name = prefixed_name(prefix, name);
  };
  auto lab_ns = [&](std::string& ns) {
    if (ns != kHostNs) ns = prefix + ns;
  };
  for (auto& n : t.namespaces) {
    lab_ns(n.name);
    validate_netns_name(n.name, "--prefix: namespace " + n.name);
  }
  for (auto& b : t.bridges) host_name(b.ns, b.name), lab_ns(b.ns);
  for (auto& l : t.links) {
    if (l.kind == Kind::vxlan) host_name(l.a.ns, l.underlay);
    for (Endpoint* e : {&l.a, &l.b, &l.parent}) {
      host_name(e->ns, e->name);
      host_name(e->ns, e->bridge);
      lab_ns(e->ns);
    }
  }
}

void validate_against_kernel(const Topology& t) {
  std::optional<nl::Socket> host;
  auto host_has = [&](const std::string& name) {
    if (!host) host.emplace();
    return link::find(*host, name).has_value();
  };
  std::set<std::string> lab_host_links;
  for (auto& b : t.bridges) {
    if (!b.external) {
      if (b.ns == kHostNs) lab_host_links.insert(b.name);
      continue;
    }
    if (!host) host.emplace();
    auto l = link::find(*host, b.name);
    const std::string f = where("bridges." + b.name + ".external", b.line);
    if (!l) throw InvalidInput(f, fmt::format("bridge '{}' does not exist in the host namespace (an external bridge is not made by ctnet)", b.name));
    if (l->kind != "bridge")
      throw InvalidInput(f, fmt::format("'{}' in the host namespace is a {} link, not a bridge", b.name, l->kind.empty() ? "device" : l->kind));
  }
  const bool netem = link::tc::kernel_has_netem();
  for (auto& l : t.links)
    for (auto [e, i] : {std::pair{&l.a, 0}, std::pair{&l.b, 1}})
      if (e->impair && !netem)
        throw InvalidInput(where(fmt::format("{}.endpoints[{}].impair", l.field, i), l.line),
                           "this kernel has no netem (sch_netem: no /sys/module/sch_netem and no sch_netem.ko); "
                           "impairments need a kernel built with CONFIG_NET_SCH_NETEM");
  for (auto& l : t.links) {
    // Only ipvlan is asked about: kernels commonly lack it, and a built-in driver without module parameters
    // (macvlan here) has no /sys/module entry, so the probe could refuse a kind the kernel does have.
    if (l.kind == Kind::ipvlan && !link::kernel_has_link_kind("ipvlan"))
      throw InvalidInput(where(l.field + ".kind", l.line),
                         "this kernel has no ipvlan driver (no /sys/module/ipvlan and no ipvlan.ko); use macvlan, "
                         "or a kernel built with CONFIG_IPVLAN");
    if (l.kind == Kind::vlan && !kinds::subif::kernel_has_driver(kinds::subif::Kind::vlan))
      throw InvalidInput(where(l.field + ".kind", l.line),
                         "this kernel has no 802.1Q VLAN driver (no /sys/module/8021q and no 8021q.ko); "
                         "a kernel built with CONFIG_VLAN_8021Q has it");
    if (l.kind == Kind::dummy && !link::kernel_has_link_kind("dummy"))
      throw InvalidInput(where(l.field + ".kind", l.line),
                         "this kernel has no dummy driver (no /sys/module/dummy and no dummy.ko); "
                         "a kernel built with CONFIG_DUMMY has it");
    if ((l.kind == Kind::macvlan || l.kind == Kind::ipvlan || l.kind == Kind::vlan) && l.parent.ns == kHostNs &&
        !lab_host_links.count(l.parent.name) && !host_has(l.parent.name))
      throw InvalidInput(where(l.field + ".parent", l.line), fmt::format("parent link '{}' does not exist in the host namespace", l.parent.name));
    if (l.kind == Kind::vxlan && !l.underlay.empty() && l.a.ns == kHostNs && !lab_host_links.count(l.underlay) &&
        !host_has(l.underlay))
      throw InvalidInput(where(l.field + ".dev", l.line), fmt::format("underlay link '{}' does not exist in the host namespace", l.underlay));
    if (l.kind == Kind::vf) {
      try {
        sriov::pf_by_name(l.pf);
      } catch (const std::exception& e) {
        // Converging: the lab's VF is already in its namespace; the PF must still be there.
        throw InvalidInput(where(l.field + ".pf", l.line), e.what());
      }
    }
    if (l.kind == Kind::host_device && !host_has(l.device)) {
      // After `up`, the device lives in the lab namespace: that is not an error for a converging run.
      if (!NetNs::exists(l.a.ns))
        throw InvalidInput(where(l.field + ".device", l.line), fmt::format("link '{}' does not exist in the host namespace", l.device));
    }
    auto add_lab = [&](const Endpoint& e) {
      if (e.ns == kHostNs) lab_host_links.insert(e.name);
    };
    add_lab(l.a);
    if (l.kind == Kind::veth) add_lab(l.b);
  }
}

}  // namespace ctnet::topo
