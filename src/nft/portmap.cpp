#include "nft/portmap.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <map>

#include "util/error.h"

namespace ctnet::nft {
namespace {

using nlohmann::json;

// One element of one of the table's maps or sets, as listed.
struct Elem {
  std::string set;
  json key;        // as the listing gives it: what a delete passes back
  std::string key_text, value_text, comment;
};

// "tcp . 8080" from {"concat": ["tcp", 8080]}: the text the add commands write, for comparing.
std::string text_of(const json& j) {
  if (j.is_object() && j.contains("concat")) {
    std::string out;
    for (const auto& part : j["concat"]) out += (out.empty() ? "" : " . ") + text_of(part);
    return out;
  }
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

// Every element of the listed table; `others` counts those not commented `comment`.
std::vector<Elem> elements(const json& listing) {
  std::vector<Elem> out;
  for (const auto& item : listing)
    for (const char* kind : {"map", "set"}) {
      if (!item.contains(kind)) continue;
      const auto& s = item[kind];
      for (const auto& e : s.value("elem", json::array())) {
        Elem x{.set = s.value("name", "")};
        // A map element is [key, value]; a key with a comment is {"elem": {"val": key, "comment": c}}.
        const json& k = e.is_array() && e.size() == 2 ? e[0] : e;
        if (e.is_array() && e.size() == 2) x.value_text = text_of(e[1]);
        if (k.is_object() && k.contains("elem")) {
          x.key = k["elem"].value("val", json());
          x.comment = k["elem"].value("comment", "");
        } else {
          x.key = k;
        }
        x.key_text = text_of(x.key);
        out.push_back(std::move(x));
      }
    }
  return out;
}

std::string table_only(const std::string& network) {
  return "ctnet_portmap_" + network_prefix(network).substr(2, 8);
}

// The elements of one mapping: {set, key, value} in the add commands' text.
struct Wanted {
  std::string set, key, value;
};
std::vector<Wanted> wanted(const PortmapSpec& s) {
  std::vector<Wanted> out;
  for (const auto& m : s.mappings) {
    const std::string port = fmt::format("{} . {}", m.protocol, m.host_port);
    const std::string value = fmt::format("{} . {}", s.container.str(), m.container_port);
    if (m.host_ip) {
      out.push_back({"ip_ports", fmt::format("{} . {}", m.host_ip->str(), port), value});
      if (s.policy.snat && !s.host_ifname.empty())
        out.push_back({"ip_hairpin", fmt::format("{} . {} . {}", s.host_ifname, m.host_ip->str(), port), ""});
    } else {
      out.push_back({"ports", port, value});
      if (s.policy.snat && !s.host_ifname.empty())
        out.push_back({"hairpin", fmt::format("{} . {}", s.host_ifname, port), ""});
    }
  }
  return out;
}

// The table with its maps, sets and chains, as `add` commands: where they exist already they change nothing, so
// they go into every ADD's transaction (one kernel commit per ADD, and a failed ADD leaves no table behind).
std::string create_commands(const std::string& t, int family, const std::string& network) {
  const char* a = family == AF_INET ? "ipv4_addr" : "ipv6_addr";
  std::string comment = network.substr(0, 127);
  for (auto& c : comment)
    if (c == '"' || c == '\\') c = '_';  // a comment is quoted text
  return fmt::format(
      "add table {0} {{ comment \"{1}\"; }}\n"
      "add map {0} ports {{ type inet_proto . inet_service : {2} . inet_service; }}\n"
      "add map {0} ip_ports {{ type {2} . inet_proto . inet_service : {2} . inet_service; }}\n"
      "add set {0} hairpin {{ type ifname . inet_proto . inet_service; }}\n"
      "add set {0} ip_hairpin {{ type ifname . {2} . inet_proto . inet_service; }}\n"
      "add chain {0} hostports\n"
      "add chain {0} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n"
      // The output hook has no symbolic dstnat priority in nft 1.0.6; -100 is NF_IP_PRI_NAT_DST.
      "add chain {0} output {{ type nat hook output priority -100; policy accept; }}\n"
      "add chain {0} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n",
      t, comment, a);
}

// The network's rules, rewritten whole by each ADD (a fixed handful: the cost does not grow with mappings).
std::string policy_commands(const std::string& t, int family, const PortmapPolicy& p) {
  const char* ip = family == AF_INET ? "ip" : "ip6";
  const std::string mark = fmt::format("meta mark set meta mark | {:#010x}", p.mark);
  const std::string cond = p.conditions.empty() ? "" : p.conditions + " ";
  std::string c = fmt::format(
      "flush chain {0} prerouting\nadd rule {0} prerouting {1}fib daddr type local jump hostports\n"
      "flush chain {0} output\nadd rule {0} output {1}fib daddr type local jump hostports\n"
      "flush chain {0} hostports\nflush chain {0} postrouting\n",
      t, cond);
  if (p.snat) {
    if (p.masq_all) {
      c += fmt::format("add rule {0} hostports meta l4proto . th dport @ports {1}\n", t, mark);
      c += fmt::format("add rule {0} hostports {2} daddr . meta l4proto . th dport @ip_ports {1}\n", t, mark, ip);
    } else {
      c += fmt::format("add rule {0} hostports iifname . meta l4proto . th dport @hairpin {1}\n", t, mark);
      c += fmt::format("add rule {0} hostports iifname . {2} daddr . meta l4proto . th dport @ip_hairpin {1}\n", t, mark, ip);
      if (family == AF_INET) {  // 127.0.0.0/8 may leave the host only masqueraded (IPv6's ::1 never may)
        c += fmt::format("add rule {0} hostports ip saddr 127.0.0.0/8 meta l4proto . th dport @ports {1}\n", t, mark);
        c += fmt::format("add rule {0} hostports ip saddr 127.0.0.0/8 ip daddr . meta l4proto . th dport @ip_ports {1}\n", t, mark);
      }
    }
    c += fmt::format("add rule {0} postrouting meta mark & {1:#010x} == {1:#010x} masquerade\n", t, p.mark);
  }
  c += fmt::format("add rule {0} hostports dnat to {1} daddr . meta l4proto . th dport map @ip_ports\n", t, ip);
  c += fmt::format("add rule {0} hostports dnat to meta l4proto . th dport map @ports\n", t);
  return c;
}

// Deletes `ours` (listed elements) in one transaction, or the whole table when nothing else is in it.
void remove_elements(const Table& t, const std::vector<Elem>& ours, size_t others) {
  if (ours.empty()) return;
  if (others == 0) {
    delete_table(t);
    return;
  }
  const auto space = t.name.find(' ');
  json cmds = json::array();
  std::map<std::string, json> by_set;
  for (const auto& e : ours) by_set[e.set].push_back(e.key);
  for (auto& [set, keys] : by_set)
    cmds.push_back({{"delete", {{"element", {{"family", t.name.substr(0, space)}, {"table", t.name.substr(space + 1)},
                                             {"name", set}, {"elem", keys}}}}}});
  auto r = try_run(json{{"nftables", cmds}}.dump(), true);  // libnftables 1.0.6 reads JSON input in JSON mode only
  if (!r.ok) throw Error(fmt::format("cannot remove port mappings from nftables table {}: {}", t.name, r.err));
}

Table table_of(const std::string& network, int family) {
  return {portmap_table(network, family), {"prerouting", "output", "hostports", "postrouting"}};
}

}  // namespace

std::string portmap_table(const std::string& network, int family) {
  return fmt::format("{} {}", family_name(family), table_only(network));
}

void add_portmap(const PortmapSpec& s) {
  const int family = s.container.family();
  const Table t = table_of(s.key.network, family);
  const std::string comment = chain_name(s.key);
  std::string cmds = policy_commands(t.name, family, s.policy);
  for (const auto& w : wanted(s))
    cmds += w.value.empty()
                ? fmt::format("add element {} {} {{ {} comment \"{}\" }}\n", t.name, w.set, w.key, comment)
                : fmt::format("add element {} {} {{ {} comment \"{}\" : {} }}\n", t.name, w.set, w.key, comment, w.value);
  TablesLock lock;  // a DEL that finds the table unused deletes it: not between its listing and its delete
  const auto r = try_run(create_commands(t.name, family, s.key.network) + cmds);
  if (r.ok) return;
  const Error failed(fmt::format("cannot add the port mappings of {}: {}", s.key.container_id, r.err));
  // A key held by another attachment with another target: the kernel says EEXIST; say whose it is.
  if (r.err.find("File exists") == std::string::npos) throw failed;
  const auto listed = elements(list_json("table " + t.name));
  for (const auto& w : wanted(s))
    for (const auto& x : listed)
      if (x.set == w.set && x.key_text == w.key && x.comment != comment)
        throw Conflict(fmt::format("host port {} is already mapped to {} by another attachment ({})", w.key,
                                   x.value_text.empty() ? "?" : x.value_text, x.comment));
  throw failed;
}

void remove_portmap(const MasqKey& key) {
  const std::string comment = chain_name(key);
  for (int family : {AF_INET, AF_INET6}) {
    const Table t = table_of(key.network, family);
    if (!table_exists(t)) continue;
    TablesLock lock;
    std::vector<Elem> ours;
    size_t others = 0;
    for (auto& e : elements(list_json("table " + t.name))) {
      if (e.comment == comment) ours.push_back(std::move(e));
      else ++others;
    }
    remove_elements(t, ours, others);
  }
}

void gc_portmap(const std::string& network, const Attachments& valid) {
  std::set<std::string> keep;
  for (const auto& [id, ifname] : valid) keep.insert(chain_name({network, id, ifname}));
  for (int family : {AF_INET, AF_INET6}) {
    const Table t = table_of(network, family);
    if (!table_exists(t)) continue;
    TablesLock lock;
    std::vector<Elem> stale;
    size_t others = 0;
    for (auto& e : elements(list_json("table " + t.name))) {
      if (!keep.count(e.comment)) stale.push_back(std::move(e));
      else ++others;
    }
    remove_elements(t, stale, others);
  }
}

std::vector<std::string> check_portmap(const PortmapSpec& s) {
  const std::string t = portmap_table(s.key.network, s.container.family());
  const std::string comment = chain_name(s.key);
  const auto listed = elements(list_json("table " + t));
  std::vector<std::string> out;
  for (const auto& w : wanted(s)) {
    const Elem* found = nullptr;
    for (const auto& x : listed)
      if (x.set == w.set && x.key_text == w.key) found = &x;
    if (!found) out.push_back(fmt::format("{} {} is missing from {}", w.set, w.key, t));
    else if (found->comment != comment) out.push_back(fmt::format("{} {} belongs to {}", w.set, w.key, found->comment));
    else if (found->value_text != w.value) out.push_back(fmt::format("{} {} leads to {} (want {})", w.set, w.key, found->value_text, w.value));
  }
  return out;
}

}  // namespace ctnet::nft
