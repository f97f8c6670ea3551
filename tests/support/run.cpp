#include "support/run.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace ctnet::test {

Captured collect(pid_t pid, int out_fd, int err_fd, std::chrono::milliseconds timeout) {
  Captured c;
  const auto t0 = std::chrono::steady_clock::now();
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  for (int open_fds = 2; open_fds > 0;) {
    int wait_ms = -1;
    if (timeout.count() && !c.hung)
      wait_ms = static_cast<int>(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       t0 + timeout - std::chrono::steady_clock::now()).count()));
    int ready = poll(fds, 2, wait_ms);
    if (ready == 0) {
      c.hung = true;
      kill(pid, SIGKILL);  // the child the caller started, by its pid; its pipes close as it dies
      continue;
    }
    if (ready < 0) break;
    for (auto& f : fds) {
      if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP))) continue;
      char buf[8192];
      ssize_t n = read(f.fd, buf, sizeof buf);
      if (n <= 0) {
        close(f.fd);
        f.fd = -1;
        --open_fds;
      } else {
        (&f == &fds[0] ? c.out : c.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  waitpid(pid, &c.wait_status, 0);
  c.ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& stdin_data) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);

  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> envs;
  for (auto& [k, v] : merged) envs.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argcopy = argv;
  for (auto& a : argcopy) args.push_back(a.data());
  args.push_back(nullptr);

  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  if (!stdin_data.empty()) (void)!write(in[1], stdin_data.data(), stdin_data.size());
  close(in[1]);

  Captured c = collect(pid, out[0], err[0]);
  RunResult r{.exit_code = WIFEXITED(c.wait_status) ? WEXITSTATUS(c.wait_status) : 128 + WTERMSIG(c.wait_status),
              .out = std::move(c.out), .err = std::move(c.err)};
  // Sanitizer build: a finding in any program a test runs fails the test, even where its exit code is not checked.
  if (r.err.find("SUMMARY: AddressSanitizer") != std::string::npos ||
      r.err.find("SUMMARY: UndefinedBehaviorSanitizer") != std::string::npos)
    ADD_FAILURE() << argv[0] << " reported a sanitizer finding:\n" << r.err;
  return r;
}

RunResult ctnet(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv{CTNET_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, env);
}

std::string unique(const std::string& prefix) { return prefix + std::to_string(getpid() % 100000); }

}  // namespace ctnet::test
