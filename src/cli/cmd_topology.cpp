#include "cli/commands.h"
namespace ctnet::cli {
void add_topology_commands(CLI::App&) {}
}  // namespace ctnet::cli
