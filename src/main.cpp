#include "cli/cli.h"

// Every translation unit that includes <iostream> (CLI11's, yaml-cpp's) constructs a std::ios_base::Init before
// main: the eight standard streams and the classic locale with all its facets, some 90 000 instructions and
// 200 KiB of pages on every exec. A CNI plugin prints through stdio and never uses them, so the link wraps that
// constructor into a no-op (-Wl,--wrap in CMakeLists.txt) and only the CLI runs the real one, before it starts.
extern "C" void __real__ZNSt8ios_base4InitC1Ev(void*);
extern "C" void __wrap__ZNSt8ios_base4InitC1Ev(void*) {}

int main(int argc, char** argv) {
  if (!ctnet::cli::is_plugin_invocation(argc, argv)) {
    static char init;  // std::ios_base::Init is an empty class: its constructor does not use `this`
    __real__ZNSt8ios_base4InitC1Ev(&init);
  }
  return ctnet::cli::main(argc, argv);
}
