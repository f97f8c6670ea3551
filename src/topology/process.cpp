#include "topology/process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "ns/exec.h"
#include "ns/netns.h"
#include "topology/state.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/paths.h"

namespace ctnet::topo::process {

using nlohmann::json;
using namespace ns_exec;  // the launch of a program in a namespace (ns/exec.h)

namespace {

Fd open_file(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(fmt::format("cannot open {}", path));
  return Fd(fd);
}

std::string dir_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

// The last `max` bytes of a file from `offset` on.
std::string tail(const std::string& path, off_t offset, size_t max = 2048) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const off_t end = in.tellg();
  off_t from = std::max(offset, end - static_cast<off_t>(max));
  in.seekg(from);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return (from > offset ? "..." : "") + s;
}

std::string pid_path(const std::string& lab, const std::string& ns, const std::string& name) {
  return fmt::format("{}/{}/{}.pid", lab_dir(lab), ns, name);
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (auto& a : argv) s += (s.empty() ? "" : " ") + (a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'");
  return s;
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Waits until the process behind `pidfd` has ended or `ms` have passed; true when it ended.
bool wait_exit(int pidfd, pid_t pid, uint64_t start, int ms) {
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int n;
    while ((n = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    return n > 0;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (start_time(pid) == start) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Signals a process, and its process group when it leads one (setsid made each `run:` process a leader).
void signal_ours(int pidfd, pid_t pid, int sig) {
  // The group exists while its leader does, and the leader is ours (checked through the pidfd by the caller).
  if (::getpgid(pid) == pid) ::kill(-pid, sig);
  if (pidfd >= 0) ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0);
  else ::kill(pid, sig);
}

const bool kProcessKind = (kinds::define_kind("process", process::remove), true);

}  // namespace

std::string lab_dir(const std::string& lab) { return state_dir() + "/" + lab; }
std::string log_path(const std::string& lab, const std::string& ns, const std::string& name) {
  return fmt::format("{}/{}/{}.log", lab_dir(lab), ns, name);
}
std::string exec_log_path(const std::string& lab, const std::string& ns) {
  return fmt::format("{}/{}/exec.log", lab_dir(lab), ns);
}

std::optional<uint64_t> start_time(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "PID (COMM) STATE ..." — COMM may hold spaces and ')': the fields start after the last ')'.
  auto close = s.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(s.substr(close + 1));
  std::string f;
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  while (fields.size() < 20 && rest >> f) fields.push_back(f);
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return std::nullopt;
  return std::stoull(fields[19]);
}

Live live(const kinds::Made& m) {
  Live l;
  l.pid = m.saved.value("pid", 0);
  const uint64_t start = m.saved.value("start_time", uint64_t{0});
  l.running = l.pid > 0 && start && start_time(l.pid) == start;
  return l;
}

void apply(kinds::Txn& txn, const Spec& s) {
  NsSocket& sock = txn.open(s.ns);
  kinds::Made m{.kind = "process", .ns = txn.ref(sock), .name = s.name};
  const std::string log = log_path(s.lab, s.ns, s.name);
  m.saved = {{"argv", s.argv}, {"log", log}, {"stop_timeout", s.stop_timeout}, {"lab", s.lab}};
  make_dirs(dir_of(log));
  NetNs handle = NetNs::open_named(s.ns);
  Launch l = prepare(handle, s.ns, s.ns, s.argv);
  Fd in = open_file("/dev/null", O_RDONLY);
  Fd out = open_file(log, O_WRONLY | O_CREAT | O_APPEND);
  l.in_fd = in.get();
  l.out_fd = out.get();
  l.session = true;
  Pipe report, go;
  l.report_fd = report.w.get();
  l.go_fd = go.r.get();
  l.go_write_fd = go.w.get();

  pid_t pid = 0;
  uint64_t start = 0;
  size_t i = txn.make(m, [&] {
    pid_t mid = ::fork();
    if (mid < 0) throw_errno("fork");
    if (mid == 0) {
      enter(l);
      pid_t grandchild = ::fork();
      if (grandchild < 0) fail_child(l, kSession);
      if (grandchild == 0) exec_child(l);
      Report r{0, static_cast<int>(grandchild)};  // stage 0: "this is its pid"
      if (::write(l.report_fd, &r, sizeof r) < 0) {
      }
      ::_exit(0);
    }
    report.w.reset();
    go.r.reset();
    int st = 0;
    while (::waitpid(mid, &st, 0) < 0 && errno == EINTR) {
    }
    auto first = read_report(report.r.get());
    if (!first || first->stage != 0) {
      if (!first) throw Error(fmt::format("{}: the child ended before starting '{}'", s.field, s.argv[0]));
      throw InvalidInput(s.field, stage_text(*first, s.argv));
    }
    pid = first->err;
    // Waiting for `go`, it cannot have ended: its start time is read before it runs anything.
    auto t = start_time(pid);
    if (!t) throw Error(fmt::format("{}: process {} vanished before it started", s.field, pid));
    start = *t;
  });
  // Recorded before it may run: a `kill -9` of `up` from here on leaves a process that `down` finds (or, before
  // `go`, one that ends by itself on the pipe's EOF).
  kinds::Made& e = txn.entry(i);
  e.saved["pid"] = pid;
  e.saved["start_time"] = start;
  write_file_replacing(pid_path(s.lab, s.ns, s.name), to_json(e).dump() + "\n");
  txn.done(i);
  if (!send_go(go.w.get())) throw Error(fmt::format("{}: process {} was killed before it started", s.field, pid));
  go.w.reset();
  if (auto r = read_report(report.r.get())) {
    while (start_time(pid) == start) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // it _exits
    throw InvalidInput(s.field, stage_text(*r, s.argv));  // the rollback finds it ended and forgets it
  }
}

namespace {

std::optional<kinds::Made> pidfile(const Spec& s) {
  std::ifstream in(pid_path(s.lab, s.ns, s.name));
  if (!in) return std::nullopt;
  try {
    return kinds::made_from_json(json::parse(in));
  } catch (const std::exception&) {
    return std::nullopt;  // torn or edited: as if it were not there (nothing is signalled on its word)
  }
}

}  // namespace

kinds::Inspection inspect(kinds::Txn&, const Spec& s) {
  auto m = pidfile(s);
  if (!m) return kinds::Inspection::missing();
  Live l = live(*m);
  if (!l.running) return kinds::Inspection::missing();
  std::vector<std::string> diffs;
  if (m->saved.value("argv", std::vector<std::string>{}) != s.argv) diffs.push_back("runs another command");
  struct stat in_ns{}, lab_ns{};
  if (::stat(fmt::format("/proc/{}/ns/net", l.pid).c_str(), &in_ns) == 0 &&
      ::stat(NetNs::path_of(s.ns).c_str(), &lab_ns) == 0 && in_ns.st_ino != lab_ns.st_ino)
    diffs.push_back("runs in a namespace that was replaced");
  return kinds::Inspection::of(0, diffs);
}

void repair(kinds::Txn& txn, const Spec& s) {
  if (auto m = pidfile(s)) process::remove(txn, *m);
  apply(txn, s);
}

kinds::Removal remove(kinds::Txn&, const kinds::Made& m) {
  const pid_t pid = m.saved.value("pid", 0);
  const uint64_t start = m.saved.value("start_time", uint64_t{0});
  auto forget = [&] {
    // The pid file, while it still names this process (a newer start may have replaced it).
    const std::string lab = m.saved.value("lab", "");
    if (lab.empty()) return;
    const std::string path = pid_path(lab, m.ns.spec, m.name);
    std::ifstream in(path);
    try {
      if (in && json::parse(in).value("saved", json::object()).value("pid", 0) == pid) ::unlink(path.c_str());
    } catch (const std::exception&) {
    }
  };
  if (pid <= 0 || !start) {
    forget();
    return kinds::Removal::absent;  // an intent whose fork never happened
  }
  // The pidfd pins the process: once it is open and the start time still matches, every signal reaches this one.
  Fd pidfd(pidfd_open(pid));
  if (start_time(pid) != start) {
    forget();
    return kinds::Removal::absent;  // ended (or the pid is now someone else's: left alone)
  }
  const int timeout_ms = static_cast<int>(m.saved.value("stop_timeout", 5u)) * 1000;
  signal_ours(pidfd.get(), pid, SIGTERM);
  if (!wait_exit(pidfd.get(), pid, start, timeout_ms)) {
    signal_ours(pidfd.get(), pid, SIGKILL);
    if (!wait_exit(pidfd.get(), pid, start, 5000))
      throw Error(fmt::format("process {} did not end after SIGKILL", pid));
  }
  forget();
  return kinds::Removal::removed;
}

void run_exec(const std::string& lab, const std::string& ns, const std::vector<std::string>& argv,
              const std::string& field, int timeout_s) {
  const std::string log = exec_log_path(lab, ns);
  make_dirs(dir_of(log));
  Fd out = open_file(log, O_WRONLY | O_CREAT | O_APPEND);
  const std::string head = "$ " + command_line(argv) + "\n";
  if (::write(out.get(), head.data(), head.size()) < 0) throw_errno("write " + log);
  struct stat st{};
  ::fstat(out.get(), &st);
  const off_t offset = st.st_size;
  NetNs handle = NetNs::open_named(ns);
  Launch l = prepare(handle, ns, ns, argv);
  Fd in = open_file("/dev/null", O_RDONLY);
  l.in_fd = in.get();
  l.out_fd = out.get();
  l.session = true;  // its own process group: a timeout kills what it started too
  Pipe report;
  l.report_fd = report.w.get();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    enter(l);
    exec_child(l);
  }
  report.w.reset();
  auto r = read_report(report.r.get());
  Fd pidfd(pidfd_open(pid));
  int status = 0;
  bool timed_out = false;
  if (pidfd.get() >= 0 && !r) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int n;
    while ((n = ::poll(&p, 1, timeout_s * 1000)) < 0 && errno == EINTR) {
    }
    if (n == 0) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  }
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (r) throw InvalidInput(field, stage_text(*r, argv));
  std::string output = tail(log, offset);
  std::string shown = output.empty() ? " (no output)" : ":\n" + output;
  if (timed_out) throw InvalidInput(field, fmt::format("'{}' was still running after {} s (killed){}", argv[0], timeout_s, shown));
  if (WIFSIGNALED(status))
    throw InvalidInput(field, fmt::format("'{}' was killed by signal {}{}", argv[0], WTERMSIG(status), shown));
  if (WEXITSTATUS(status) != 0)
    throw InvalidInput(field, fmt::format("'{}' exited with status {}{}", argv[0], WEXITSTATUS(status), shown));
}

int run_foreground(const std::string& ns, const std::vector<std::string>& argv) {
  return ns_exec::run_foreground(NetNs::open_named(ns), ns, ns, argv);
}

std::vector<std::string> split_words(std::string_view line, const std::string& field) {
  std::vector<std::string> words;
  std::string w;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(w)), w.clear(), in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos) throw InvalidInput(field, "unterminated ' quote");
      w.append(line.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && std::string_view("\"\\$`").find(line[j + 1]) != std::string_view::npos) ++j;
        w.push_back(line[j]);
      }
      if (j >= line.size()) throw InvalidInput(field, "unterminated \" quote");
      i = j;
    } else if (c == '\\') {
      if (i + 1 < line.size()) w.push_back(line[++i]);
    } else {
      w.push_back(c);
    }
  }
  if (in_word) words.push_back(std::move(w));
  if (words.empty()) throw InvalidInput(field, "is an empty command");
  return words;
}

}  // namespace ctnet::topo::process
