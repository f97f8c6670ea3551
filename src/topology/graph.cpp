#include "topology/graph.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

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
        by_ns[l.a.ns].push_back({l.a.name, l.a.bridge.empty() ? "veth" : "veth, port of " + l.a.bridge,
                                 addr_list(l.a.addresses, " "), far(l.b)});
        by_ns[l.b.ns].push_back({l.b.name, l.b.bridge.empty() ? "veth" : "veth, port of " + l.b.bridge,
                                 addr_list(l.b.addresses, " "), far(l.a)});
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
        o += fmt::format("  {} -- {} [style=dashed, label=\"{}\"];\n", node_id(l.a.ns, l.a.name),
                         node_id(l.parent.ns, l.parent.name), to_string(l.kind));
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

std::string to_svg(const Topology& t) {
  const std::string dot = to_dot(t);
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

}  // namespace ctnet::topo
