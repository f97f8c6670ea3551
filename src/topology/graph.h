// Pictures of a lab: Graphviz DOT, SVG (DOT laid out by graphviz's `dot` program), a terminal tree, one
// self-contained interactive HTML page, and Mermaid for Markdown.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "kinds/txn.h"

#include "topology/model.h"

namespace ctnet::topo {

std::string to_dot(const Topology& t);
std::string to_text(const Topology& t);
// Runs `dot -Tsvg` (Debian package graphviz) on to_dot(t); throws when the program is missing.
std::string to_svg(const Topology& t);

// What the kernel has for one interface of a lab that is up.
struct LiveLink {
  std::string mac;
  uint32_t mtu = 0;
  std::string state;  // up | up, no carrier | down
  int index = 0;
};
using LiveLinks = std::map<std::string, LiveLink>;  // "NAMESPACE/IFNAME" ("host/IFNAME")
// Reads every bridge and interface of the lab in its namespace (`host`: the one that played host, from the
// record). What is gone is left out. Read-only.
LiveLinks read_live(const Topology& t, const kinds::NsRef& host);

// One HTML file with everything inline (CSS, script, the SVG laid out by graphviz's `dot`; no network access):
// each namespace, bridge, interface and link is an SVG group with an id and data-type/-name/-ns; hover or
// click shows its details (with `live`: MAC, kernel MTU, state, ifindex).
std::string to_html(const Topology& t, const LiveLinks& live = {});
// A ```mermaid block (`graph LR`, a subgraph per namespace) for Markdown; names are quoted and escaped.
std::string to_mermaid(const Topology& t);

}  // namespace ctnet::topo
