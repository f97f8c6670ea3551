#pragma once
namespace ctnet::cli {
// The program's entry: a CNI plugin when invoked under a plugin's name or with CNI_COMMAND set, else the CLI.
int main(int argc, char** argv);
}
