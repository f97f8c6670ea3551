#include "topology/graph.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include <nlohmann/json.hpp>

#include "link/link.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"

#include "util/english.h"
#include "util/error.h"
#include "util/fd.h"

extern char** environ;

namespace ctnet::topo {

namespace {

std::string addr_list(const std::vector<Prefix>& v, std::string_view sep) {
  std::string s;
  for (auto& p : v) s += std::string(sep) + p.str();
  return s;
}

std::string q(const std::string& s) {  // a DOT string literal
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string node_id(const std::string& ns, const std::string& name) { return q(ns + "/" + name); }

// Every interface the lab makes, per namespace, in file order.
struct IfaceLine {
  std::string name, kind, addrs, peer;
};

std::map<std::string, std::vector<IfaceLine>> interfaces(const Topology& t) {
  std::map<std::string, std::vector<IfaceLine>> by_ns;
  for (auto& n : t.namespaces) by_ns[n.name];
  for (auto& b : t.bridges) by_ns[b.ns].push_back({b.name, "bridge", addr_list(b.addresses, " "), ""});
  for (auto& l : t.links) {
    auto far = [](const Endpoint& e) { return e.ns + "/" + e.name; };
    switch (l.kind) {
      case Kind::veth:
        for (auto [e, other] : {std::pair{&l.a, &l.b}, std::pair{&l.b, &l.a}}) {
          std::string kind = e->bridge.empty() ? "veth" : "veth, port of " + e->bridge;
          if (auto v = vlans_str(*e); !v.empty()) kind += ", " + v;
          by_ns[e->ns].push_back({e->name, kind, addr_list(e->addresses, " "), far(*other)});
        }
        break;
      case Kind::macvlan:
      case Kind::ipvlan:
        by_ns[l.a.ns].push_back({l.a.name, fmt::format("{} {}", to_string(l.kind), l.mode), addr_list(l.a.addresses, " "),
                                 "parent " + far(l.parent)});
        break;
      case Kind::host_device:
        by_ns[l.a.ns].push_back({l.a.name, "host-device", addr_list(l.a.addresses, " "), "was host/" + l.device});
        break;
      case Kind::vxlan:
        by_ns[l.a.ns].push_back({l.a.name, fmt::format("vxlan {}", l.vni), addr_list(l.a.addresses, " "),
                                 l.remote ? "remote " + l.remote->str() : "learning"});
        break;
      case Kind::vlan:
        by_ns[l.a.ns].push_back({l.a.name, fmt::format("vlan {}", l.vlan.value_or(0)), addr_list(l.a.addresses, " "),
                                 "parent " + far(l.parent)});
        break;
      case Kind::dummy: by_ns[l.a.ns].push_back({l.a.name, "dummy", addr_list(l.a.addresses, " "), ""}); break;
      case Kind::vf:
        by_ns[l.a.ns].push_back({l.a.name, "sr-iov vf", addr_list(l.a.addresses, " "),
                                 "of " + l.pf + (l.vf ? fmt::format(" #{}", *l.vf) : l.pci.empty() ? "" : " " + l.pci)});
        break;
    }
  }
  return by_ns;
}

}  // namespace

std::string to_dot(const Topology& t) {
  std::string o = fmt::format("graph {} {{\n  graph [rankdir=LR, fontname=\"monospace\", label={}];\n"
                              "  node [fontname=\"monospace\", shape=box, style=rounded];\n",
                              q(t.name), q("lab " + t.name));
  auto by_ns = interfaces(t);
  int c = 0;
  for (auto& [ns, ifs] : by_ns) {
    o += fmt::format("  subgraph cluster_{} {{\n    label={}; style=dashed;\n", c++, q(ns == kHostNs ? "host" : "namespace " + ns));
    if (ifs.empty()) o += fmt::format("    {} [label={}, shape=point];\n", node_id(ns, "."), q(ns));
    for (auto& i : ifs) {
      std::string label = i.name + "\\n" + i.kind;
      if (!i.addrs.empty()) label += "\\n" + i.addrs.substr(1);
      o += fmt::format("    {} [label=\"{}\"{}];\n", node_id(ns, i.name), label,
                       i.kind == "bridge" ? ", shape=box3d, style=solid" : "");
    }
    o += "  }\n";
  }
  for (auto& l : t.links) {
    switch (l.kind) {
      case Kind::veth:
        o += fmt::format("  {} -- {} [label=\"veth\"];\n", node_id(l.a.ns, l.a.name), node_id(l.b.ns, l.b.name));
        if (!l.a.bridge.empty()) o += fmt::format("  {} -- {} [style=bold];\n", node_id(l.a.ns, l.a.name), node_id(l.a.ns, l.a.bridge));
        if (!l.b.bridge.empty()) o += fmt::format("  {} -- {} [style=bold];\n", node_id(l.b.ns, l.b.name), node_id(l.b.ns, l.b.bridge));
        break;
      case Kind::macvlan:
      case Kind::ipvlan:
      case Kind::vlan:
        o += fmt::format("  {} -- {} [style=dashed, label=\"{}\"];\n", node_id(l.a.ns, l.a.name),
                         node_id(l.parent.ns, l.parent.name),
                         l.kind == Kind::vlan ? fmt::format("vlan {}", l.vlan.value_or(0)) : std::string(to_string(l.kind)));
        break;
      case Kind::vxlan:
        if (!l.a.bridge.empty()) o += fmt::format("  {} -- {} [style=bold];\n", node_id(l.a.ns, l.a.name), node_id(l.a.ns, l.a.bridge));
        break;
      default: break;
    }
  }
  return o + "}\n";
}

std::string to_text(const Topology& t) {
  std::string o = "lab " + t.name + "\n";
  auto by_ns = interfaces(t);
  size_t k = 0;
  for (auto& [ns, ifs] : by_ns) {
    bool last_ns = ++k == by_ns.size();
    o += fmt::format("{} {}\n", last_ns ? "└──" : "├──", ns == kHostNs ? "host" : "namespace " + ns);
    const Namespace* n = t.find_ns(ns);
    std::vector<std::string> lines;
    for (auto& i : ifs)
      lines.push_back(fmt::format("{} ({}){}{}", i.name, i.kind, i.addrs, i.peer.empty() ? "" : " ── " + i.peer));
    if (n) {
      for (auto& [key, v] : n->sysctls) lines.push_back(fmt::format("sysctl {}={}", key, v));
      for (auto& r : n->routes) lines.push_back("route " + r.str());
    }
    for (size_t j = 0; j < lines.size(); ++j)
      o += fmt::format("{}   {} {}\n", last_ns ? " " : "│", j + 1 == lines.size() ? "└──" : "├──", lines[j]);
  }
  return o;
}

namespace {

// Runs `dot -Tsvg` on a DOT text and returns the SVG.
std::string run_dot(const std::string& dot) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw_errno("cannot create a pipe for dot");
  Fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  char arg0[] = "dot", arg1[] = "-Tsvg";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "dot", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw Error("cannot run graphviz's `dot` program (Debian package graphviz) for -o svg; -o dot works without it", rc);
  in_r.reset();
  out_w.reset();
  // dot reads all of its input before it writes, so writing first and reading after cannot deadlock.
  size_t off = 0;
  while (off < dot.size()) {
    ssize_t n = ::write(in_w.get(), dot.data() + off, dot.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    off += static_cast<size_t>(n);
  }
  in_w.reset();
  std::string svg;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    svg.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error("graphviz's `dot` failed to lay out the lab");
  return svg;
}

}  // namespace

std::string to_svg(const Topology& t) { return run_dot(to_dot(t)); }

// ---- the interactive page and Mermaid -----------------------------------------------------------------------
// Both draw one scene: the lab's namespaces (groups), its bridges and interfaces (nodes) and what joins them
// (edges: veth pairs, bridge ports, a macvlan/ipvlan and its parent, a VXLAN and its underlay). Every object has
// an id made of its type and a number (ns0, br1, if2, link3, port4: letters and digits, which neither graphviz
// escapes nor Mermaid refuses), so any valid ctnet name is safe; names travel as data.

namespace {

using Details = std::vector<std::pair<std::string, std::string>>;

struct Obj {
  std::string id, type, name, ns;  // type: namespace | bridge | interface | external | link | port
  std::string label2;              // second line of a node's label: its addresses
  Details details;
  std::vector<std::string> related;  // ids to highlight with it (a peer, a bridge, a parent)
};
struct Edge {
  Obj obj;
  std::string from, to, style;  // style: veth | port | parent | underlay
};
struct Scene {
  std::vector<Obj> groups, nodes;
  std::vector<Edge> edges;
  std::map<std::string, size_t> group_of_ns;               // namespace -> groups index
  std::map<std::string, std::string> node_of;              // "ns/name" -> node id
  std::vector<std::vector<size_t>> members;                // nodes per group
};

std::string join_addrs(const std::vector<Prefix>& v, std::string_view sep) {
  std::string s;
  for (auto& p : v) s += (s.empty() ? "" : std::string(sep)) + p.str();
  return s;
}

void add_live(Details& d, const LiveLinks& live, const std::string& ns, const std::string& name) {
  auto it = live.find(ns + "/" + name);
  if (it == live.end()) return;
  if (!it->second.mac.empty()) d.emplace_back("MAC", it->second.mac);
  d.emplace_back("MTU (kernel)", std::to_string(it->second.mtu));
  d.emplace_back("state", it->second.state);
  d.emplace_back("ifindex", std::to_string(it->second.index));
}

Scene build_scene(const Topology& t, const LiveLinks& live) {
  Scene s;
  auto group = [&](const std::string& ns) {
    if (auto it = s.group_of_ns.find(ns); it != s.group_of_ns.end()) return it->second;
    Obj g{.id = fmt::format("ns{}", s.groups.size()), .type = "namespace", .name = ns, .ns = ns};
    if (ns == kHostNs) {
      g.details = {{"kind", "host"}, {"what", "the namespace ctnet runs in (or --host-netns)"}};
    } else if (const Namespace* n = t.find_ns(ns)) {
      g.details = {{"kind", "namespace"}, {"loopback", n->loopback ? "up" : "down"}};
      if (n->ipv6_link_local) g.details.emplace_back("IPv6 link-local", *n->ipv6_link_local ? "on" : "off");
      for (auto& [k, v] : n->sysctls) g.details.emplace_back("sysctl " + k, v);
      for (auto& r : n->routes) g.details.emplace_back("route", r.str());
    }
    s.group_of_ns.emplace(ns, s.groups.size());
    s.groups.push_back(std::move(g));
    s.members.emplace_back();
    return s.groups.size() - 1;
  };
  for (auto& n : t.namespaces) group(n.name);
  auto node = [&](Obj o) {
    size_t g = group(o.ns);
    o.related.push_back(s.groups[g].id);
    s.node_of[o.ns + "/" + o.name] = o.id;
    s.members[g].push_back(s.nodes.size());
    s.nodes.push_back(std::move(o));
    return s.nodes.back().id;
  };
  auto iface = [&](const Endpoint& e, const std::string& kind, const Link& l, Details extra) {
    Obj o{.id = fmt::format("if{}", s.nodes.size()), .type = "interface", .name = e.name, .ns = e.ns};
    o.label2 = join_addrs(e.addresses, "\n");
    o.details = {{"kind", kind}, {"namespace", e.ns}};
    if (!e.addresses.empty()) o.details.emplace_back("addresses", join_addrs(e.addresses, ", "));
    if (l.mtu) o.details.emplace_back("MTU", std::to_string(l.mtu));
    if (!e.bridge.empty()) o.details.emplace_back("bridge", e.bridge);
    if (auto v = vlans_str(e); !v.empty()) o.details.emplace_back("VLAN", v);
    for (auto& x : extra) o.details.push_back(std::move(x));
    o.details.emplace_back("file", l.field + (l.line ? fmt::format(" (line {})", l.line) : ""));
    add_live(o.details, live, e.ns, e.name);
    return node(std::move(o));
  };
  auto edge = [&](const std::string& prefix, const std::string& from, const std::string& to, const std::string& style,
                  const std::string& name, Details d) {
    Edge e{.obj = {.id = fmt::format("{}{}", prefix, s.edges.size()), .type = prefix == "port" ? "port" : "link", .name = name},
           .from = from, .to = to, .style = style};
    e.obj.details = std::move(d);
    e.obj.related = {from, to};
    for (auto& n : s.nodes)
      if (n.id == from || n.id == to) n.related.push_back(n.id == from ? to : from), n.related.push_back(e.obj.id);
    s.edges.push_back(std::move(e));
  };
  for (auto& b : t.bridges) {
    Obj o{.id = fmt::format("br{}", s.nodes.size()), .type = "bridge", .name = b.name, .ns = b.ns};
    o.label2 = join_addrs(b.addresses, "\n");
    o.details = {{"kind", "bridge"}, {"namespace", b.ns}};
    if (!b.addresses.empty()) o.details.emplace_back("addresses", join_addrs(b.addresses, ", "));
    if (b.subnet) o.details.emplace_back("subnet", b.subnet->str());
    if (b.mtu) o.details.emplace_back("MTU", std::to_string(b.mtu));
    if (b.vlan_filtering) o.details.emplace_back("VLAN filtering", "on");
    o.details.emplace_back("file", fmt::format("bridges.{}{}", b.name, b.line ? fmt::format(" (line {})", b.line) : ""));
    add_live(o.details, live, b.ns, b.name);
    node(std::move(o));
  }
  auto far = [](const Endpoint& e) { return e.ns + "/" + e.name; };
  auto port_of = [&](const Endpoint& e, const std::string& id) {
    if (e.bridge.empty()) return;
    auto br = s.node_of.find(e.ns + "/" + e.bridge);
    if (br != s.node_of.end()) edge("port", id, br->second, "port", e.name + " on " + e.bridge,
                                    {{"kind", "bridge port"}, {"port", far(e)}, {"bridge", e.ns + "/" + e.bridge}});
  };
  // A parent or underlay the lab did not make: an existing link of the host, drawn once.
  auto existing = [&](const Endpoint& e) {
    if (auto it = s.node_of.find(far(e)); it != s.node_of.end()) return it->second;
    Obj o{.id = fmt::format("if{}", s.nodes.size()), .type = "external", .name = e.name, .ns = e.ns};
    o.details = {{"kind", "existing link (not made by the lab)"}, {"namespace", e.ns}};
    add_live(o.details, live, e.ns, e.name);
    return node(std::move(o));
  };
  for (size_t i = 0; i < t.links.size(); ++i) {
    const Link& l = t.links[i];
    switch (l.kind) {
      case Kind::veth: {
        std::string a = iface(l.a, "veth", l, {{"peer", far(l.b)}});
        std::string b = iface(l.b, "veth", l, {{"peer", far(l.a)}});
        Details d = {{"kind", "veth pair"}, {"ends", far(l.a) + " ⟷ " + far(l.b)}};
        if (l.mtu) d.emplace_back("MTU", std::to_string(l.mtu));
        if (l.subnet) d.emplace_back("subnet", l.subnet->str());
        d.emplace_back("file", l.field + (l.line ? fmt::format(" (line {})", l.line) : ""));
        edge("link", a, b, "veth", far(l.a) + " ⟷ " + far(l.b), d);
        port_of(l.a, a);
        port_of(l.b, b);
        break;
      }
      case Kind::macvlan:
      case Kind::ipvlan: {
        std::string k(to_string(l.kind));
        Details extra = {{"mode", l.mode}, {"parent", far(l.parent)}};
        if (l.kind == Kind::ipvlan) extra.emplace_back("flag", l.flag);
        std::string a = iface(l.a, k, l, extra);
        std::string p = existing(l.parent);
        edge("link", a, p, "parent", k + " " + far(l.a) + " on " + far(l.parent),
             {{"kind", k + " on its parent"}, {"mode", l.mode}, {"parent", far(l.parent)}});
        break;
      }
      case Kind::host_device:
        iface(l.a, "host-device", l, {{"was", "host/" + l.device}});
        break;
      case Kind::vlan: {
        const std::string k = fmt::format("vlan {}", l.vlan.value_or(0));
        std::string a = iface(l.a, "802.1Q " + k, l, {{"parent", far(l.parent)}});
        edge("link", a, existing(l.parent), "parent", k + " " + far(l.a) + " on " + far(l.parent),
             {{"kind", "802.1Q sub-interface"}, {"VLAN ID", std::to_string(l.vlan.value_or(0))}, {"parent", far(l.parent)}});
        break;
      }
      case Kind::dummy:
        iface(l.a, "dummy", l, {});
        break;
      case Kind::vxlan: {
        Details extra = {{"VNI", std::to_string(l.vni)}, {"port", std::to_string(l.port)}};
        if (l.local) extra.emplace_back("local", l.local->str());
        extra.emplace_back("remote", l.remote ? l.remote->str() : "none (learning)");
        if (!l.underlay.empty()) extra.emplace_back("underlay", l.a.ns + "/" + l.underlay);
        std::string a = iface(l.a, "vxlan", l, extra);
        port_of(l.a, a);
        if (!l.underlay.empty()) {
          Endpoint u{.ns = l.a.ns, .name = l.underlay};
          edge("link", a, existing(u), "underlay", "vxlan " + far(l.a) + " over " + far(u),
               {{"kind", "VXLAN underlay"}, {"device", far(u)}});
        }
        break;
      }
      case Kind::vf: {
        Details extra = {{"PF", "host/" + l.pf}};
        if (l.vf) extra.emplace_back("VF", std::to_string(*l.vf));
        if (!l.pci.empty()) extra.emplace_back("PCI", l.pci);
        if (l.vlan) extra.emplace_back("VLAN", std::to_string(*l.vlan));
        if (l.mac) extra.emplace_back("MAC (set)", l.mac->str());
        iface(l.a, "SR-IOV VF", l, extra);
        break;
      }
    }
  }
  for (size_t g = 0; g < s.groups.size(); ++g)
    for (size_t n : s.members[g]) s.groups[g].related.push_back(s.nodes[n].id);
  return s;
}

// Text inside XML (and graphviz's HTML-like labels) and attribute values.
std::string xml(std::string_view in) {
  std::string o;
  for (char c : in) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

// Graphviz source for the page: ids on every object, HTML-like labels (name in bold, addresses below).
std::string scene_dot(const Topology& t, const Scene& s) {
  std::string o = fmt::format(
      "graph {} {{\n  graph [rankdir=LR, bgcolor=\"transparent\", fontname=\"DejaVu Sans\", nodesep=0.25, ranksep=0.9, "
      "pad=0.2];\n  node [fontname=\"DejaVu Sans\", fontsize=11, shape=box, style=\"rounded,filled\", "
      "fillcolor=\"#ffffff\", color=\"#868e96\", margin=\"0.12,0.05\"];\n  edge [color=\"#495057\", penwidth=1.6];\n",
      q(t.name));
  auto label = [](const Obj& n) {
    std::string l = "<<b>" + xml(n.name) + "</b>";
    if (!n.label2.empty()) {
      std::string a = xml(n.label2);
      for (size_t p; (p = a.find('\n')) != std::string::npos;) a.replace(p, 1, "<br/>");
      l += "<br/><font point-size=\"9\" color=\"#495057\">" + a + "</font>";
    }
    return l + ">";
  };
  for (size_t g = 0; g < s.groups.size(); ++g) {
    const Obj& grp = s.groups[g];
    const bool host = grp.name == kHostNs;
    o += fmt::format("  subgraph cluster_{} {{\n    id=\"{}\"; label=<{}>; fontsize=12; style=\"rounded,filled\"; "
                     "fillcolor=\"{}\"; color=\"{}\"; margin=12;\n",
                     g, grp.id, host ? "<b>host</b>" : "namespace <b>" + xml(grp.name) + "</b>",
                     host ? "#fff4e6" : "#f1f3f5", host ? "#ffa94d" : "#adb5bd");
    if (s.members[g].empty()) o += fmt::format("    \"{}empty\" [label=\"(no interfaces)\", shape=plaintext, style=\"\"];\n", grp.id);
    for (size_t n : s.members[g]) {
      const Obj& nd = s.nodes[n];
      std::string style;
      if (nd.type == "bridge") style = ", fillcolor=\"#d0ebff\", color=\"#1c7ed6\", penwidth=1.5";
      if (nd.type == "external") style = ", style=\"rounded,dashed\", fillcolor=\"#f8f9fa\"";
      o += fmt::format("    \"{}\" [id=\"{}\", label={}{}];\n", nd.id, nd.id, label(nd), style);
    }
    o += "  }\n";
  }
  for (auto& e : s.edges) {
    std::string style = e.style == "port"     ? ", color=\"#1c7ed6\", penwidth=3"
                        : e.style == "parent"   ? ", style=dashed, color=\"#7048e8\""
                        : e.style == "underlay" ? ", style=dotted, color=\"#7048e8\""
                                                : "";
    o += fmt::format("  \"{}\" -- \"{}\" [id=\"{}\"{}];\n", e.from, e.to, e.obj.id, style);
  }
  return o + "}\n";
}

std::vector<const Obj*> all_objects(const Scene& s) {
  std::vector<const Obj*> v;
  for (auto& g : s.groups) v.push_back(&g);
  for (auto& n : s.nodes) v.push_back(&n);
  for (auto& e : s.edges) v.push_back(&e.obj);
  return v;
}

// dot's SVG made inline: no XML prolog, no tooltips of internal ids, and each object's group element carries
// data-type, data-name and data-ns.
std::string inline_svg(std::string svg, const Scene& s) {
  if (auto p = svg.find("<svg"); p != std::string::npos) svg.erase(0, p);
  for (size_t p; (p = svg.find("<title>")) != std::string::npos;) {
    size_t e = svg.find("</title>", p);
    if (e == std::string::npos) break;
    svg.erase(p, e + 8 - p);
  }
  for (const Obj* o : all_objects(s)) {
    std::string tag = "<g id=\"" + o->id + "\"";
    size_t p = svg.find(tag);
    if (p == std::string::npos) continue;
    svg.insert(p + tag.size(), fmt::format(" data-type=\"{}\" data-name=\"{}\" data-ns=\"{}\" tabindex=\"0\"", o->type,
                                           xml(o->name), xml(o->ns)));
  }
  return svg;
}

// JSON inside <script>: no '<', '>' or '&' can end the element or start a comment.
std::string script_json(const nlohmann::ordered_json& j) {
  std::string in = j.dump(), o;
  for (char c : in) {
    if (c == '<') o += "\\u003c";
    else if (c == '>') o += "\\u003e";
    else if (c == '&') o += "\\u0026";
    else o += c;
  }
  return o;
}

constexpr const char* kPageCss = R"CSS(
:root { --fg: #212529; --muted: #6c757d; --accent: #e8590c; --line: #dee2e6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; align-items: baseline; gap: 1em; padding: 10px 18px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; }
header .summary { color: var(--muted); }
header .legend { margin-left: auto; color: var(--muted); font-size: 12px; display: flex; gap: 14px; }
.legend i { display: inline-block; width: 22px; height: 0; vertical-align: middle; margin-right: 4px; border-top: 2px solid #495057; }
.legend i.port { border-top: 4px solid #1c7ed6; } .legend i.parent { border-top: 2px dashed #7048e8; }
main { display: flex; height: calc(100vh - 48px); }
#drawing { flex: 1; overflow: auto; padding: 12px; }
#drawing svg { width: 100%; height: auto; max-height: 100%; }
aside { width: 330px; border-left: 1px solid var(--line); padding: 14px 16px; overflow: auto; background: #fcfcfd; }
aside h2 { font-size: 16px; margin: 0 0 2px; word-break: break-all; }
aside .type { color: var(--muted); margin-bottom: 10px; }
aside table { border-collapse: collapse; width: 100%; font-size: 13px; }
aside td { border-top: 1px solid var(--line); padding: 4px 6px 4px 0; vertical-align: top; word-break: break-word; }
aside td:first-child { color: var(--muted); white-space: nowrap; width: 1%; padding-right: 12px; }
aside .hint { color: var(--muted); }
g.obj { cursor: pointer; outline: none; }
g.node.obj:hover path, g.node.obj:hover polygon { stroke: var(--accent); stroke-width: 2px; }
g.edge.obj:hover path { stroke: var(--accent); stroke-width: 4px; }
g.related path, g.related polygon { stroke: var(--accent) !important; }
g.selected.node path, g.selected.node polygon { stroke: var(--accent) !important; stroke-width: 3px; fill: #fff4e6; }
g.selected.cluster path, g.selected.cluster polygon { stroke: var(--accent) !important; stroke-width: 2.5px; }
g.selected.edge path { stroke: var(--accent) !important; stroke-width: 4px; }
)CSS";

// Hover shows an object's details, a click pins them (a click on the background, or Escape, unpins). The
// self-check at the end marks the page: data-selfcheck="ok ..." when every object is drawn and has its handlers;
// with #selfcheck in the address it also clicks the first interface and checks the panel shows it.
constexpr const char* kPageJs = R"JS(
(function () {
  const lab = JSON.parse(document.getElementById('lab-data').textContent);
  const panel = document.getElementById('details');
  const hint = panel.innerHTML;
  let pinned = null;
  function el(id) { return document.getElementById(id); }
  function mark(id, cls, on) {
    const o = lab.objects[id]; if (!o) return;
    const e = el(id); if (e) e.classList.toggle(cls, on);
    if (cls === 'selected') for (const r of o.related) { const x = el(r); if (x && lab.objects[r].type !== 'namespace') x.classList.toggle('related', on); }
  }
  function show(id) {
    const o = lab.objects[id];
    if (!o) { panel.innerHTML = hint; return; }
    panel.textContent = '';
    const h = document.createElement('h2'); h.textContent = o.name; panel.appendChild(h);
    const t = document.createElement('div'); t.className = 'type'; t.textContent = o.type + (o.ns && o.type !== 'namespace' ? ' in ' + o.ns : ''); panel.appendChild(t);
    const table = document.createElement('table');
    for (const [k, v] of o.details) {
      const tr = table.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v;
    }
    panel.appendChild(table);
  }
  function pin(id) {
    if (pinned) mark(pinned, 'selected', false);
    pinned = id;
    if (id) mark(id, 'selected', true);
    show(id);
  }
  let wired = 0; const missing = [];
  for (const id of Object.keys(lab.objects)) {
    const e = el(id);
    if (!e) { missing.push(id); continue; }
    e.classList.add('obj');
    e.addEventListener('mouseenter', () => { if (!pinned) show(id); });
    e.addEventListener('mouseleave', () => { if (!pinned) show(null); });
    e.addEventListener('click', (ev) => { ev.stopPropagation(); pin(pinned === id ? null : id); });
    e.addEventListener('focus', () => { if (!pinned) show(id); });
    wired++;
  }
  document.getElementById('drawing').addEventListener('click', () => pin(null));
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') pin(null); });
  let result = missing.length ? 'fail: not drawn: ' + missing.join(' ') : 'ok ' + wired + ' objects wired';
  if (!missing.length && location.hash === '#selfcheck') {
    const first = Object.keys(lab.objects).find((id) => lab.objects[id].type === 'interface') || Object.keys(lab.objects)[0];
    if (first) {
      el(first).dispatchEvent(new MouseEvent('click', { bubbles: true }));
      const h = panel.querySelector('h2');
      const shown = h && h.textContent === lab.objects[first].name && el(first).classList.contains('selected');
      result = shown ? result + ', a click on ' + first + ' shows its details'
                     : 'fail: a click on ' + first + ' did not show its details';
    }
  }
  document.documentElement.dataset.selfcheck = result;
})();
)JS";

}  // namespace

std::string to_html(const Topology& t, const LiveLinks& live) {
  Scene s = build_scene(t, live);
  std::string svg = inline_svg(run_dot(scene_dot(t, s)), s);
  // Ordered: the page's script meets the objects in the file's order (namespaces, bridges, interfaces, links).
  nlohmann::ordered_json objects = nlohmann::ordered_json::object();
  for (const Obj* o : all_objects(s)) {
    nlohmann::ordered_json d = nlohmann::ordered_json::array();
    for (auto& [k, v] : o->details) d.push_back({k, v});
    objects[o->id] = {{"type", o->type}, {"name", o->name}, {"ns", o->ns}, {"details", d}, {"related", o->related}};
  }
  nlohmann::ordered_json data = {{"lab", t.name}, {"live", !live.empty()}, {"objects", objects}};
  std::string summary = fmt::format("{}, {}, {}{}", plural(t.namespaces.size(), "namespace"), plural(t.bridges.size(), "bridge"),
                                    plural(t.links.size(), "link"), live.empty() ? " (from the file)" : " (up: MACs and state from the kernel)");
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>lab {}</title>\n"
      "<style>{}</style>\n</head>\n<body>\n<header><h1>lab {}</h1><span class=\"summary\">{}</span>"
      "<span class=\"legend\"><span><i></i>veth</span><span><i class=\"port\"></i>bridge port</span>"
      "<span><i class=\"parent\"></i>parent / underlay</span></span></header>\n"
      "<main>\n<div id=\"drawing\">\n{}</div>\n<aside id=\"details\"><p class=\"hint\">Hover over a namespace, bridge, "
      "interface or link for its details; click to keep them.</p></aside>\n</main>\n"
      "<script id=\"lab-data\" type=\"application/json\">{}</script>\n<script>{}</script>\n</body>\n</html>\n",
      xml(t.name), kPageCss, xml(t.name), xml(summary), svg, script_json(data), kPageJs);
}

namespace {

// A Mermaid label in double quotes: Mermaid's entity codes for what would end or reinterpret it.
std::string mermaid_text(std::string_view in) {
  std::string o;
  for (char c : in) {
    switch (c) {
      case '#': o += "#35;"; break;
      case '"': o += "#quot;"; break;
      case '<': o += "#lt;"; break;
      case '>': o += "#gt;"; break;
      case '&': o += "#amp;"; break;
      case '`': o += "#96;"; break;
      default: o += c;
    }
  }
  return o;
}

}  // namespace

std::string to_mermaid(const Topology& t) {
  Scene s = build_scene(t, {});
  std::string o = "```mermaid\ngraph LR\n";
  for (size_t g = 0; g < s.groups.size(); ++g) {
    const Obj& grp = s.groups[g];
    o += fmt::format("  subgraph {}[\"{}\"]\n", grp.id, mermaid_text(grp.name == kHostNs ? "host" : "namespace " + grp.name));
    for (size_t n : s.members[g]) {
      const Obj& nd = s.nodes[n];
      std::string label = mermaid_text(nd.name);
      if (!nd.label2.empty()) {
        std::string a = mermaid_text(nd.label2);
        for (size_t p; (p = a.find('\n')) != std::string::npos;) a.replace(p, 1, "<br/>");
        label += "<br/><small>" + a + "</small>";
      }
      o += nd.type == "bridge" ? fmt::format("    {}[[\"{}\"]]\n", nd.id, label)
                               : fmt::format("    {}[\"{}\"]\n", nd.id, label);
    }
    o += "  end\n";
  }
  for (auto& e : s.edges) {
    const char* line = e.style == "port" ? " === " : e.style == "veth" ? " --- " : " -.- ";
    o += fmt::format("  {}{}{}\n", e.from, line, e.to);
  }
  return o + "```\n";
}

LiveLinks read_live(const Topology& t, const kinds::NsRef& host) {
  LiveLinks out;
  kinds::Txn look;
  look.commit();
  std::map<std::string, std::vector<std::string>> names;  // namespace -> interfaces of the lab there
  Scene s = build_scene(t, {});
  for (auto& n : s.nodes) names[n.ns].push_back(n.name);
  for (auto& [ns, ifs] : names) {
    NsSocket* sock = nullptr;
    try {
      bool replaced = false;
      if (ns == kHostNs) sock = look.reopen(host, &replaced);
      else if (NetNs::exists(ns)) sock = &look.open(ns);
    } catch (const std::exception&) {
      sock = nullptr;  // gone or unreadable: drawn from the record alone
    }
    if (!sock) continue;
    for (auto& name : ifs) {
      auto l = link::find(sock->rtnl, name);
      if (!l) continue;
      out[ns + "/" + name] = {.mac = l->mac ? l->mac->str() : "",
                              .mtu = l->mtu,
                              .state = !l->is_up() ? "down" : l->has_carrier() ? "up" : "up, no carrier",
                              .index = l->index};
    }
  }
  return out;
}

}  // namespace ctnet::topo
