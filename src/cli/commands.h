// Each area of ctnet adds its verbs to the one CLI11 app here; cli.cpp only dispatches and prints errors.
#pragma once
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>

#include "kinds/txn.h"
#include "util/error.h"

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

// Runs `step` in a transaction and commits it. When it fails, the rollback runs at once, and what it could not
// remove is added to the error.
template <class Step>
auto in_txn(Step&& step) {
  kinds::Txn txn;
  try {
    auto r = step(txn);
    txn.commit();
    return r;
  } catch (const InvalidInput&) {
    throw;  // refused before anything was made
  } catch (const std::exception& e) {
    auto errors = txn.rollback();
    if (errors.empty()) throw;
    throw Error(fmt::format("{}; the rollback could not remove: {}", e.what(), fmt::join(errors, "; ")));
  }
}

void add_core_commands(CLI::App& app);      // ns, connect, attach, detach, ping, show, doctor (cmd_core.cpp)
void add_topology_commands(CLI::App& app);  // up, down, status, check, graph, validate, labs (cmd_topology.cpp)
void add_kind_commands(CLI::App& app);      // macvlan, ipvlan, sriov (cmd_kinds.cpp)
void add_node_commands(CLI::App& app);      // node init|run|leave|status (cmd_node.cpp)
void add_cni_commands(CLI::App& app);       // cni dhcp-daemon (cmd_cni.cpp)
void add_explain_command(CLI::App& app);    // explain (cmd_explain.cpp)
void add_ip_commands(CLI::App& app);        // addr, route, neigh, link add KIND (cmd_ip.cpp; after the core verbs)

}  // namespace ctnet::cli
