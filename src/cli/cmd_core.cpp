#include "cli/commands.h"
namespace ctnet::cli {
void add_core_commands(CLI::App&) {}
}  // namespace ctnet::cli
