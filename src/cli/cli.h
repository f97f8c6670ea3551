#pragma once
namespace ctnet::cli {
// A CNI plugin is wanted: invoked under a plugin's name, or as "ctnet" with CNI_COMMAND set and no arguments.
bool is_plugin_invocation(int argc, char** argv);
// The program's entry: a CNI plugin when is_plugin_invocation, else the CLI.
int main(int argc, char** argv);
}
