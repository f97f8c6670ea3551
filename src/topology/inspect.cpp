#include "topology/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "ops/inventory.h"
#include "topology/process.h"
#include "topology/state.h"
#include "util/error.h"

namespace ctnet::topo {

using nlohmann::json;

namespace {

std::string oper_state(uint8_t s) {
  static const char* const names[] = {"unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"};
  return s < std::size(names) ? names[s] : fmt::format("state {}", s);
}

// Kinds of record entries that are no interface.
bool not_a_link(const std::string& kind) {
  return kind == "netns" || kind == "address" || kind == "route" || kind == "process" || kind == "sysctl" ||
         kind.starts_with("vf-setting");
}

}  // namespace

LabView inspect_lab(const std::string& lab) {
  auto rec = Record::load(lab);
  if (!rec) throw Error(fmt::format("lab '{}' is not up (no record in {})", lab, state_dir()));
  LabView v{.lab = lab};
  const std::string host = rec->host().spec;  // "" or a --host-netns name
  std::set<std::string> nodes;
  std::set<std::pair<std::string, std::string>> host_links;  // (ns spec, name) of the lab's links outside its namespaces
  for (auto* m : rec->objects()) {
    if (m->kind == "netns") {
      v.nodes.push_back(m->name);
      nodes.insert(m->name);
    } else if (m->kind == "process") {
      process::Live l = process::live(*m);
      v.processes.push_back({m->ns.spec, m->name, l.pid, l.running ? "running" : "dead",
                             m->saved.value("argv", std::vector<std::string>{}), m->saved.value("log", "")});
    } else if (!not_a_link(m->kind) && !m->name.empty()) {
      host_links.insert({m->ns.spec, m->name});
      if (m->saved.contains("peer") && m->saved.contains("peer_ns"))
        host_links.insert({kinds::ns_ref_from_json(m->saved["peer_ns"]).spec, m->saved["peer"].get<std::string>()});
    }
  }
  // Namespace names as the table shows them: the lab's host is "host".
  auto node_of = [&](const std::string& ns) { return ns == host ? std::string("host") : ns.empty() ? "(ctnet's)" : ns; };
  for (auto& view : take_inventory()) {
    const std::string& ns = view.name;  // "" = the namespace ctnet runs in
    const bool lab_ns = nodes.count(ns) > 0;
    if (!lab_ns && ns != host) continue;
    for (auto& lv : view.links) {
      if (!lab_ns && !host_links.count({ns, lv.link.name})) continue;
      InterfaceView i{.node = node_of(ns), .name = lv.link.name, .ifindex = lv.link.index, .kind = lv.link.kind,
                      .mac = lv.link.mac ? lv.link.mac->str() : "", .mtu = lv.link.mtu,
                      .state = oper_state(lv.link.operstate), .bridge = lv.master_name};
      for (auto& a : lv.addresses) i.addresses.push_back(a.str());
      if (lv.peer) i.peer = node_of(lv.peer->ns) + ":" + lv.peer->ifname;
      v.interfaces.push_back(std::move(i));
    }
  }
  // Record order for nodes (host first), kernel order (ifindex) inside each.
  std::map<std::string, size_t> rank{{"host", 0}};
  for (size_t i = 0; i < v.nodes.size(); ++i) rank.emplace(v.nodes[i], i + 1);
  std::stable_sort(v.interfaces.begin(), v.interfaces.end(), [&](const InterfaceView& a, const InterfaceView& b) {
    return rank[a.node] < rank[b.node];
  });
  return v;
}

json to_json(const LabView& v) {
  json nodes = json::array();
  for (auto& n : v.nodes) nodes.push_back(n);
  json ifs = json::array();
  for (auto& i : v.interfaces) {
    json o = {{"node", i.node}, {"name", i.name}, {"ifindex", i.ifindex}, {"kind", i.kind}, {"mac", i.mac},
              {"mtu", i.mtu}, {"state", i.state}, {"addresses", i.addresses}};
    if (!i.peer.empty()) o["peer"] = i.peer;
    if (!i.bridge.empty()) o["bridge"] = i.bridge;
    ifs.push_back(o);
  }
  json ps = json::array();
  for (auto& p : v.processes)
    ps.push_back({{"node", p.node}, {"name", p.name}, {"pid", p.pid}, {"state", p.state}, {"argv", p.argv}, {"log", p.log}});
  return {{"lab", v.lab}, {"nodes", nodes}, {"interfaces", ifs}, {"processes", ps}};
}

std::string render(const LabView& v) {
  auto join = [](const std::vector<std::string>& xs, const char* sep) {
    std::string s;
    for (auto& x : xs) s += (s.empty() ? "" : sep) + x;
    return s;
  };
  std::string out = fmt::format("lab {}: {} nodes, {} interfaces, {} processes\n", v.lab, v.nodes.size(),
                                v.interfaces.size(), v.processes.size());
  out += fmt::format("{:<16} {:<15} {:>7} {:<8} {:<17} {:>5} {:<8} {:<24} {}\n", "NODE", "INTERFACE", "IFINDEX", "KIND",
                     "MAC", "MTU", "STATE", "ADDRESSES", "PEER / BRIDGE");
  for (auto& i : v.interfaces) {
    std::string to = i.peer;
    if (!i.bridge.empty()) to += (to.empty() ? "" : ", ") + std::string("bridge ") + i.bridge;
    out += fmt::format("{:<16} {:<15} {:>7} {:<8} {:<17} {:>5} {:<8} {:<24} {}\n", i.node, i.name, i.ifindex,
                       i.kind.empty() ? "-" : i.kind, i.mac.empty() ? "-" : i.mac, i.mtu, i.state,
                       i.addresses.empty() ? "-" : join(i.addresses, ","), to.empty() ? "-" : to);
  }
  if (!v.processes.empty()) {
    out += fmt::format("\n{:<16} {:<16} {:>8} {:<8} {}\n", "NODE", "PROCESS", "PID", "STATE", "COMMAND");
    for (auto& p : v.processes) {
      std::vector<std::string> words;  // quoted where a word holds blanks, so the line reads as the command
      for (auto& a : p.argv) words.push_back(a.find_first_of(" \t") == std::string::npos ? a : "'" + a + "'");
      out += fmt::format("{:<16} {:<16} {:>8} {:<8} {}\n", p.node, p.name, p.pid, p.state, join(words, " "));
    }
  }
  return out;
}

}  // namespace ctnet::topo
