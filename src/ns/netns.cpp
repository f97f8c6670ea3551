#include "ns/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "util/error.h"
#include "util/fault.h"
#include "util/names.h"

namespace ctnet {

NetNs::NetNs(Fd fd, std::string label) : fd_(std::move(fd)), label_(std::move(label)) {
  struct stat st{};
  if (fstat(fd_.get(), &st) == 0) {
    inode_ = st.st_ino;
    dev_ = st.st_dev;
  }
}

NetNs NetNs::current() {
  Fd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open the current network namespace");
  return NetNs(std::move(fd), "current");
}

NetNs NetNs::open_path(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw Error(fmt::format("network namespace '{}' does not exist", path), ENOENT);
    throw_errno(fmt::format("cannot open network namespace '{}'", path));
  }
  NetNs ns(std::move(fd), path);
  // An nsfs file of another type (or a plain file left by a failed `ip netns add`) would make setns fail later
  // with a vague EINVAL; say it now.
  if (ioctl(ns.fd(), NS_GET_NSTYPE) != CLONE_NEWNET)
    throw Error(fmt::format("'{}' is not a network namespace file", path), EINVAL);
  return ns;
}

NetNs NetNs::open_named(const std::string& name) {
  validate_existing_netns_name(name, "namespace");
  Fd fd(::open(path_of(name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw Error(fmt::format("network namespace '{}' does not exist", name), ENOENT);
    throw_errno(fmt::format("cannot open network namespace '{}'", name));
  }
  return NetNs(std::move(fd), name);
}

NetNs NetNs::open_pid(pid_t pid) {
  auto path = fmt::format("/proc/{}/ns/net", pid);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("cannot open the network namespace of process {}", pid));
  return NetNs(std::move(fd), fmt::format("pid:{}", pid));
}

NetNs NetNs::open(const std::string& spec, std::string_view field) { return NetnsArg::parse(spec, field).open(); }

NetnsArg NetnsArg::parse(std::string_view text, std::string_view field) {
  NetnsArg a{.text = std::string(text)};
  std::string problem;
  if (text.starts_with("pid:")) {
    auto digits = text.substr(4);
    bool ok = !digits.empty() && digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string_view::npos;
    if (ok) a.pid = static_cast<pid_t>(std::strtol(std::string(digits).c_str(), nullptr, 10));
    if (a.pid <= 0) problem = fmt::format("'{}' is not pid:N with N a process id", text);
    a.path = fmt::format("/proc/{}/ns/net", a.pid);
  } else if (text.starts_with("/")) {
    a.path = a.text;
    std::filesystem::path p = std::filesystem::path(a.text).lexically_normal();
    if (p.parent_path() == kNetnsRunDir || p.parent_path() == "/var/run/netns") a.name = p.filename().string();
  } else {
    try {
      validate_existing_netns_name(text, field);
    } catch (const InvalidInput& e) {
      problem = e.problem();
    }
    a.name = a.text;
    a.path = NetNs::path_of(a.name);
  }
  if (!problem.empty())
    throw InvalidInput(std::string(field), problem + " (a namespace is NAME as under /run/netns, /path/to/nsfile or pid:N)");
  return a;
}

bool NetnsArg::exists() const { return ::access(path.c_str(), F_OK) == 0; }

NetNs NetnsArg::open() const {
  if (pid) return NetNs::open_pid(pid);
  if (named() && !text.starts_with("/")) return NetNs::open_named(name);
  return NetNs::open_path(path);
}

bool NetNs::exists(const std::string& name) { return ::access(path_of(name).c_str(), F_OK) == 0; }

namespace {
// /run/netns must be a shared mount point so that a namespace bound there is visible in every mount namespace
// (iproute2 ip/ipnetns.c: netns_add does the same two steps).
void prepare_run_dir() {
  if (mkdir(kNetnsRunDir, 0755) != 0 && errno != EEXIST) throw_errno(fmt::format("cannot create {}", kNetnsRunDir));
  bool bound = false;
  while (mount("", kNetnsRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) throw_errno(fmt::format("cannot make {} a shared mount", kNetnsRunDir));
    if (mount(kNetnsRunDir, kNetnsRunDir, "none", MS_BIND | MS_REC, nullptr) != 0)
      throw_errno(fmt::format("cannot bind-mount {}", kNetnsRunDir));
    bound = true;
  }
}
}  // namespace

NetNs NetNs::create_named(const std::string& name) {
  validate_netns_name(name, "namespace");
  prepare_run_dir();
  const std::string path = path_of(name);
  Fd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!file) {
    if (errno == EEXIST) throw Error(fmt::format("network namespace '{}' already exists", name), EEXIST);
    throw_errno(fmt::format("cannot create {}", path));
  }
  file.reset();
  try {
    NsGuard fresh{NsGuard::Fresh{}};
    if (fault::fail_request() || mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0)
      throw_errno(fmt::format("cannot bind the new namespace to {}", path));
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
  return open_named(name);
}

bool NetNs::remove_named(const std::string& name) {
  validate_existing_netns_name(name, "namespace");
  const std::string path = path_of(name);
  if (::access(path.c_str(), F_OK) != 0) return false;
  // MNT_DETACH: processes still inside keep the namespace alive; the name goes away now (as `ip netns del`).
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    throw_errno(fmt::format("cannot unmount {}", path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno(fmt::format("cannot remove {}", path));
  return true;
}

std::vector<std::string> NetNs::list_named() {
  std::vector<std::string> names;
  DIR* d = opendir(kNetnsRunDir);
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

NsGuard::NsGuard(const NetNs& target) : saved_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
  if (!saved_) throw_errno("cannot open the current network namespace");
  if (setns(target.fd(), CLONE_NEWNET) != 0) throw_errno(fmt::format("cannot enter network namespace '{}'", target.label()));
}

NsGuard::NsGuard(Fresh) : saved_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
  if (!saved_) throw_errno("cannot open the current network namespace");
  if (unshare(CLONE_NEWNET) != 0) throw_errno("cannot create a network namespace");
}

NsGuard::~NsGuard() {
  if (setns(saved_.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "ctnet: fatal: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
}

std::vector<NetNsUsage> list_all_netns() {
  std::map<ino_t, NetNsUsage> by_inode;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (!end || *end || pid <= 0) continue;
      struct stat st{};
      if (stat(fmt::format("/proc/{}/ns/net", pid).c_str(), &st) != 0) continue;  // exited, or a kernel thread
      auto& u = by_inode[st.st_ino];
      u.inode = st.st_ino;
      u.pids.push_back(static_cast<pid_t>(pid));
    }
    closedir(d);
  }
  for (const auto& name : NetNs::list_named()) {
    struct stat st{};
    if (stat(NetNs::path_of(name).c_str(), &st) != 0) continue;
    auto& u = by_inode[st.st_ino];
    u.inode = st.st_ino;
    u.names.push_back(name);
  }
  std::vector<NetNsUsage> out;
  for (auto& [ino, u] : by_inode) {
    std::sort(u.pids.begin(), u.pids.end());
    if (!u.pids.empty()) {
      std::ifstream f(fmt::format("/proc/{}/cmdline", u.pids.front()));
      std::string cmd((std::istreambuf_iterator<char>(f)), {});
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
      if (cmd.empty()) {
        std::ifstream c(fmt::format("/proc/{}/comm", u.pids.front()));
        std::getline(c, cmd);
        cmd = "[" + cmd + "]";
      }
      u.command = cmd;
    }
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace ctnet
