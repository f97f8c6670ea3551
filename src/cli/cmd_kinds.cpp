#include "cli/commands.h"
namespace ctnet::cli {
void add_kind_commands(CLI::App&) {}
}  // namespace ctnet::cli
