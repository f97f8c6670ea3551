// spawn_timer: times commands the way a runtime runs them (one posix_spawn each), from inside a chosen network
// namespace, with untimed setup/cleanup commands around each timed run. Prints one JSON line of statistics.
//
//   spawn_timer [--netns NAME] [--runs N] [--setup CMD] [--cleanup CMD] [--label L] -- CMD...
//
// CMD strings are split on spaces; "{i}" is replaced by the run number. Runs in the namespace NAME (entered
// once, by this process's only thread, before anything is spawned) so children inherit it.
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

static std::vector<std::string> split(const std::string& cmd, int i) {
  std::vector<std::string> out;
  std::istringstream in(cmd);
  for (std::string w; in >> w;) {
    for (size_t p; (p = w.find("{i}")) != std::string::npos;) w.replace(p, 3, std::to_string(i));
    out.push_back(w);
  }
  return out;
}

// Runs argv; returns the exit status and the child's peak RSS in KiB.
static int spawn(const std::vector<std::string>& argv, long* maxrss_kb) {
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  if (posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) {
    std::perror(a[0]);
    std::exit(2);
  }
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char** argv) {
  std::string netns, setup, cleanup, label = "run";
  int runs = 20;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") { ++i; break; }
    if (i + 1 >= argc) { std::fprintf(stderr, "missing value for %s\n", a.c_str()); return 2; }
    if (a == "--netns") netns = argv[++i];
    else if (a == "--runs") runs = std::atoi(argv[++i]);
    else if (a == "--setup") setup = argv[++i];
    else if (a == "--cleanup") cleanup = argv[++i];
    else if (a == "--label") label = argv[++i];
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  std::string cmd;
  for (; i < argc; ++i) cmd += std::string(argv[i]) + " ";
  if (cmd.empty()) { std::fprintf(stderr, "usage: spawn_timer [--netns NAME] [--runs N] [--setup CMD] [--cleanup CMD] -- CMD...\n"); return 2; }
  if (!netns.empty()) {
    int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) { std::perror(netns.c_str()); return 2; }
    close(fd);
  }
  std::vector<double> ms;
  long peak_rss = 0;
  int failures = 0;
  for (int r = 0; r < runs; ++r) {
    if (!setup.empty() && spawn(split(setup, r), nullptr) != 0) { std::fprintf(stderr, "setup failed: %s\n", setup.c_str()); return 1; }
    auto t0 = std::chrono::steady_clock::now();
    long rss = 0;
    int rc = spawn(split(cmd, r), &rss);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    peak_rss = std::max(peak_rss, rss);
    if (rc != 0) ++failures;
    if (!cleanup.empty()) spawn(split(cleanup, r), nullptr);
  }
  std::sort(ms.begin(), ms.end());
  auto q = [&](double f) { return ms[std::min(ms.size() - 1, static_cast<size_t>(f * ms.size()))]; };
  std::printf("{\"label\":\"%s\",\"runs\":%d,\"failures\":%d,\"median_ms\":%.3f,\"p10_ms\":%.3f,\"p90_ms\":%.3f,\"peak_rss_kb\":%ld}\n",
              label.c_str(), runs, failures, q(0.5), q(0.1), q(0.9), peak_rss);
  return failures ? 1 : 0;
}
