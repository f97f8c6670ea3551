// Test support: run a program exactly as a user or runtime would (argv, environment, stdin) and capture its
// stdout, stderr and exit code.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace ctnet::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// env entries are added to (or replace) the current environment; stdin_data is written to the child's stdin.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::string& stdin_data = {});

// build/ctnet with arguments.
RunResult ctnet(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});

// A name unique to this test process: prefix + pid (short enough for interface names when prefix is short).
std::string unique(const std::string& prefix);

}  // namespace ctnet::test
