#include <cstdio>
#include <cstdlib>

#include "cli/cli.h"

// Every translation unit that includes <iostream> (CLI11's, yaml-cpp's) constructs a std::ios_base::Init before
// main: the eight standard streams and the classic locale with all its facets, some 50 000 instructions and
// 200 KiB of pages on every exec. A CNI plugin prints through stdio and never uses them, so the link wraps that
// constructor into a no-op (-Wl,--wrap in CMakeLists.txt) and only the CLI runs the real one, before it starts.
extern "C" void __real__ZNSt8ios_base4InitC1Ev(void*);
extern "C" void __wrap__ZNSt8ios_base4InitC1Ev(void*) {}

int main(int argc, char** argv) {
  if (ctnet::cli::is_plugin_invocation(argc, argv)) {
    const int rc = ctnet::cli::main(argc, argv);
    // The answer is written and every file and socket of the plugin's is closed: end without the whole
    // program's static destructors (CLI11's validators, yaml-cpp's tables), which only cost time and pages.
    // What must run at exit registers with at_quick_exit (util/fault.cpp).
    std::fflush(nullptr);
    std::quick_exit(rc);
  }
  static char init;  // std::ios_base::Init is an empty class: its constructor does not use `this`
  __real__ZNSt8ios_base4InitC1Ev(&init);
  return ctnet::cli::main(argc, argv);
}
