#include "ns/exec.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace ctnet::ns_exec {

// ---- the child's side: only async-signal-safe calls between fork and exec ----------------------------------

[[noreturn]] void fail_child(const Launch& l, int stage) {
  Report r{stage, errno};
  if (::write(l.report_fd, &r, sizeof r) < 0) {
  }
  ::_exit(127);
}

void enter(const Launch& l) {
  if (::setns(l.ns_fd, CLONE_NEWNET) != 0) fail_child(l, kSetns);
  if (::unshare(CLONE_NEWNS) != 0) fail_child(l, kUnshare);
  // Our mounts must not reach the machine's mount namespace (iproute2: MS_SLAVE | MS_REC on "/").
  if (::mount("", "/", "none", MS_SLAVE | MS_REC, nullptr) != 0) fail_child(l, kSlave);
  // A sysfs of this network namespace; read-only when the one it replaces was (iproute2 does the same).
  unsigned long flags = 0;
  if (::umount2("/sys", MNT_DETACH) != 0) {
    struct statvfs fs;
    if (::statvfs("/sys", &fs) == 0 && (fs.f_flag & ST_RDONLY)) flags = MS_RDONLY;
  }
  if (::mount(l.sysfs_source.c_str(), "/sys", "sysfs", flags, nullptr) != 0) fail_child(l, kSysfs);
  for (auto& [from, to] : l.binds) ::mount(from.c_str(), to.c_str(), "none", MS_BIND, nullptr);  // missing X: skip
  if (l.in_fd >= 0 && ::dup2(l.in_fd, STDIN_FILENO) < 0) fail_child(l, kStdio);
  if (l.out_fd >= 0 && (::dup2(l.out_fd, STDOUT_FILENO) < 0 || ::dup2(l.out_fd, STDERR_FILENO) < 0)) fail_child(l, kStdio);
  // Nothing of ctnet's (sockets, the caller's pipes) may live on in the program: a daemon holding the pipe of
  // whoever ran `ctnet up` would keep that reader waiting forever.
  if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
    for (int fd = 3; fd < 1024; ++fd)
      if (fd != l.report_fd && fd != l.go_fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

[[noreturn]] void exec_child(const Launch& l) {
  // Here, not in enter(): a `run:` process is the second child, and must lead its own session and group.
  if (l.session && ::setsid() < 0) fail_child(l, kSession);
  if (l.go_fd >= 0) {
    ::close(l.go_write_fd);
    char c;
    ssize_t n;
    while ((n = ::read(l.go_fd, &c, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) ::_exit(0);  // the parent died before recording us: run nothing nobody would stop
  }
  ::execvp(l.argv[0], l.argv.data());
  fail_child(l, kExec);
}

// ---- the parent's side -------------------------------------------------------------------------------------

bool send_go(int go_write_fd) {
  // Its reader may have been killed meanwhile: that EPIPE must not be our SIGPIPE.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const char go = 'g';
  ssize_t n;
  while ((n = ::write(go_write_fd, &go, 1)) < 0 && errno == EINTR) {
  }
  if (n < 0 && errno == EPIPE) {
    const timespec now{};
    ::sigtimedwait(&pipe_set, nullptr, &now);  // the SIGPIPE it left pending
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return n == 1;
}

std::string stage_text(const Report& r, const std::vector<std::string>& argv) {
  const char* e = std::strerror(r.err);
  switch (r.stage) {
    case kSetns: return fmt::format("cannot enter the network namespace: {}", e);
    case kUnshare: return fmt::format("cannot make a mount namespace: {}", e);
    case kSlave: return fmt::format("cannot make the mounts private: {}", e);
    case kSysfs: return fmt::format("cannot mount the namespace's /sys: {}", e);
    case kSession: return fmt::format("cannot start a session: {}", e);
    case kStdio: return fmt::format("cannot set up stdin/stdout: {}", e);
    case kExec: return fmt::format("cannot execute '{}': {}", argv.empty() ? "" : argv[0], e);
  }
  return "the child failed";
}

Launch prepare(const NetNs& ns, const std::string& name, const std::string& label, const std::vector<std::string>& argv) {
  Launch l;
  l.ns_fd = ns.fd();
  l.sysfs_source = label;
  if (!name.empty()) {
    const std::string etc = "/etc/netns/" + name;  // a namespace name has no '/' (validate_netns_name)
    if (DIR* d = ::opendir(etc.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        l.binds.emplace_back(etc + "/" + n, "/etc/" + n);
      }
      ::closedir(d);
    }
  }
  l.args = argv;
  for (auto& a : l.args) l.argv.push_back(a.data());
  l.argv.push_back(nullptr);
  return l;
}

std::optional<Report> read_report(int fd) {
  Report r;
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = ::read(fd, reinterpret_cast<char*>(&r) + got, sizeof r - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < sizeof r) return std::nullopt;
  return r;
}

Pipe::Pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe2");
  r = Fd(p[0]);
  w = Fd(p[1]);
}

int run_foreground(const NetNs& ns, const std::string& name, const std::string& label, const std::vector<std::string>& argv) {
  Launch l = prepare(ns, name, label, argv);
  Pipe report;
  l.report_fd = report.w.get();
  // As a shell does for its foreground job: while the command has the terminal, ^C is its, not ours.
  struct sigaction ign{}, old_int{}, old_quit{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ign, &old_int);
  ::sigaction(SIGQUIT, &ign, &old_quit);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    enter(l);
    exec_child(l);
  }
  report.w.reset();
  auto r = read_report(report.r.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  if (r) {
    fmt::print(stderr, "ctnet: {}\n", stage_text(*r, argv));
    return 127;
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace ctnet::ns_exec
