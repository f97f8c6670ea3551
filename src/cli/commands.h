// Each area of ctnet adds its verbs to the one CLI11 app here; cli.cpp only dispatches and prints errors.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace ctnet::cli {

// Options shared by verbs that print objects.
struct Output {
  std::string format = "text";  // text | json
  bool json() const { return format == "json"; }
};
// Adds "-o/--output text|json" to a verb.
void add_output_option(CLI::App* cmd, Output& out);

// The verb named on the command line ("" when none: `ctnet --help` lists them all). Registration skips every
// other verb: building all verbs' options costs CLI11 about a millisecond, paid on every start otherwise.
void set_requested_verb(std::string verb);
bool wanted(std::string_view verb);

void add_core_commands(CLI::App& app);      // ns, connect, attach, detach, ping, show, doctor (cmd_core.cpp)
void add_topology_commands(CLI::App& app);  // up, down, status, check, graph, validate, labs (cmd_topology.cpp)
void add_kind_commands(CLI::App& app);      // macvlan, ipvlan, sriov (cmd_kinds.cpp)
void add_node_commands(CLI::App& app);      // node init|run|leave|status (cmd_node.cpp)
void add_cni_commands(CLI::App& app);       // cni dhcp-daemon (cmd_cni.cpp)
void add_explain_command(CLI::App& app);    // explain (cmd_explain.cpp)

}  // namespace ctnet::cli
