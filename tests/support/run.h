// Test support: run a program exactly as a user or runtime would (argv, environment, stdin) and capture its
// stdout, stderr and exit code.
#pragma once
#include <sys/types.h>

#include <chrono>
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

// What a child wrote and how it ended: reads its stdout and stderr until both close, kills it (by its pid)
// once `timeout` has passed (0: no limit), and waits for it. Closes both descriptors.
struct Captured {
  std::string out, err;
  int wait_status = 0;  // as waitpid() gives it
  bool hung = false;    // killed after the timeout
  long ms = 0;
};
Captured collect(pid_t pid, int out_fd, int err_fd, std::chrono::milliseconds timeout = {});

// build/ctnet with arguments.
RunResult ctnet(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});

// A name unique to this test process: prefix + pid (short enough for interface names when prefix is short).
std::string unique(const std::string& prefix);

}  // namespace ctnet::test
