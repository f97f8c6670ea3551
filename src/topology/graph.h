// Pictures of a lab: Graphviz DOT, SVG (DOT laid out by graphviz's `dot` program), and a terminal tree.
#pragma once
#include <string>

#include "topology/model.h"

namespace ctnet::topo {

std::string to_dot(const Topology& t);
std::string to_text(const Topology& t);
// Runs `dot -Tsvg` (Debian package graphviz) on to_dot(t); throws when the program is missing.
std::string to_svg(const Topology& t);

}  // namespace ctnet::topo
