#include "cli/cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>
#include <string_view>

#include "cli/commands.h"
#include "cni/plugin.h"
#include "kinds/txn.h"
#include "ns/netns.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::cli {

namespace {
std::string requested_verb;
}
void set_requested_verb(std::string verb) { requested_verb = std::move(verb); }
bool wanted(std::string_view verb) { return requested_verb.empty() || requested_verb == verb; }

void add_output_option(CLI::App* cmd, Output& out) {
  cmd->add_option("-o,--output", out.format, "output format")->check(CLI::IsMember({"text", "json"}));
}

namespace {
std::string_view program_name(char** argv) {
  std::string_view self = argv[0];
  if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
  return self;
}
}  // namespace

namespace {
void add_all_commands(CLI::App& app) {
  add_core_commands(app);
  add_ip_commands(app);  // adds `link add` to the core's `link`
  add_topology_commands(app);
  add_kind_commands(app);
  add_node_commands(app);
  add_cni_commands(app);
  add_explain_command(app);
}
}  // namespace

bool is_plugin_invocation(int argc, char** argv) {
  std::string_view self = program_name(argv);
  return cni::is_plugin_name(self) || (self == "ctnet" && std::getenv("CNI_COMMAND") && argc == 1);
}

int main(int argc, char** argv) {
  // CNI plugins are found by file name in CNI_PATH: decide before building the CLI (every exec counts).
  if (is_plugin_invocation(argc, argv)) return cni::run_plugin(program_name(argv));

  // --host-netns NAME (before the verb) or CTNET_HOST_NETNS: treat that namespace as "the host" (where
  // bridges and host veth ends go). Tests use it to keep the machine's own namespace untouched.
  std::vector<char*> args(argv, argv + argc);
  std::string host_netns = std::getenv("CTNET_HOST_NETNS") ? std::getenv("CTNET_HOST_NETNS") : "";
  for (size_t i = 1; i < args.size() && args[i][0] == '-';) {
    std::string_view a = args[i];
    if (a == "--host-netns" && i + 1 < args.size()) {
      host_netns = args[i + 1];
      args.erase(args.begin() + i, args.begin() + i + 2);
    } else if (a.starts_with("--host-netns=")) {
      host_netns = std::string(a.substr(13));
      args.erase(args.begin() + i);
    } else {
      ++i;
    }
  }

  std::string verb;
  for (size_t i = 1; i < args.size(); ++i)
    if (args[i][0] != '-') {
      verb = args[i];
      set_requested_verb(verb);
      break;
    }

  CLI::App app{"ctnet: container networking on Linux through netlink (namespaces, veth, bridges, macvlan,\n"
               "ipvlan, SR-IOV), as a CLI, as lab topologies from a file, and as CNI plugins.",
               "ctnet"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every verb");
  app.set_version_flag("--version", std::string("ctnet ") + CTNET_VERSION);
  app.add_option("--host-netns", host_netns, "act as if this namespace (name, /path or pid:N) were the host (bridges and host ends go there)");
  add_all_commands(app);
  if (app.get_subcommands({}).empty()) {  // not a verb we know: register all, so --help lists them
    set_requested_verb("");
    add_all_commands(app);
    const auto verbs = app.get_subcommands({});
    if (!verb.empty() && std::none_of(verbs.begin(), verbs.end(), [&](const CLI::App* v) { return v->check_name(verb); })) {
      fmt::print(stderr, "ctnet: unknown verb '{}' (see ctnet --help)\n", printable(verb));
      return 2;
    }
  }
  try {
    std::optional<NsGuard> in_host;
    if (!host_netns.empty()) in_host.emplace(NetNs::open(host_netns, "--host-netns"));
    kinds::set_host_netns(host_netns);  // records made there name it
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help is a success; any usage error is exit code 2
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
