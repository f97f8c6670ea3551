#include "cli/cli.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "cli/commands.h"
#include "cni/plugin.h"
#include "util/error.h"

namespace ctnet::cli {

void add_output_option(CLI::App* cmd, Output& out) {
  cmd->add_option("-o,--output", out.format, "output format")->check(CLI::IsMember({"text", "json"}));
}

int main(int argc, char** argv) {
  std::string_view self = argv[0];
  if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
  // CNI plugins are found by file name in CNI_PATH: decide before building the CLI (every exec counts).
  if (cni::is_plugin_name(self) || (self == "ctnet" && std::getenv("CNI_COMMAND") && argc == 1))
    return cni::run_plugin(self);

  CLI::App app{"ctnet: container networking on Linux through netlink (namespaces, veth, bridges, macvlan,\n"
               "ipvlan, SR-IOV), as a CLI, as lab topologies from a file, and as CNI plugins.",
               "ctnet"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every verb");
  add_core_commands(app);
  add_topology_commands(app);
  add_kind_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const InvalidInput& e) {
    fmt::print(stderr, "ctnet: invalid input: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ctnet: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace ctnet::cli
