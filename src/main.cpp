#include "cli/cli.h"

int main(int argc, char** argv) { return ctnet::cli::main(argc, argv); }
