// Network namespaces: named ones exactly as `ip netns` keeps them (a bind mount of the namespace's nsfs file
// under /run/netns, on a shared mount so other mount namespaces see it), plus namespaces of processes and
// arbitrary paths. Switching a thread's namespace happens only through NsGuard.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "util/fd.h"

namespace ctnet {

inline constexpr const char* kNetnsRunDir = "/run/netns";

class NetNs {
 public:
  static NetNs current();                          // the calling thread's namespace
  static NetNs open_path(const std::string& path);  // any nsfs file: /proc/PID/ns/net, /run/netns/X ...
  static NetNs open_named(const std::string& name);  // any name `ip netns` made (validate_existing_netns_name)
  static NetNs open_pid(pid_t pid);
  // "NAME", "/path/to/nsfile" or "pid:1234" (NetnsArg); `field` names the argument in errors.
  static NetNs open(const std::string& spec, std::string_view field = "namespace");

  // `ip netns add NAME` (ctnet's strict name rules, validate_netns_name); throws if it exists.
  // `remove_named` is `ip netns del` of any existing name, returns false if it was absent.
  static NetNs create_named(const std::string& name);
  static bool remove_named(const std::string& name);
  static bool exists(const std::string& name);
  static std::vector<std::string> list_named();
  static std::string path_of(const std::string& name) { return std::string(kNetnsRunDir) + "/" + name; }

  int fd() const { return fd_.get(); }
  const std::string& label() const { return label_; }  // the name or path it was opened by, for messages
  ino_t inode() const { return inode_; }
  dev_t dev() const { return dev_; }
  bool same_as(const NetNs& o) const { return inode_ == o.inode_ && dev_ == o.dev_; }

 private:
  NetNs(Fd fd, std::string label);
  Fd fd_;
  std::string label_;
  ino_t inode_ = 0;
  dev_t dev_ = 0;
};

// A namespace as a user names it wherever ctnet takes one (CLI arguments, --host-netns): "NAME" (a file under
// /run/netns: any name `ip netns` accepts, also one ctnet would not create), "/path/to/nsfile" (/proc/PID/ns/net,
// /run/netns/NAME, a runtime's bind mount) or "pid:N". The one parser of that syntax. "pid:" always means a
// process, so a namespace named "pid:..." is reached by its path.
struct NetnsArg {
  std::string text;  // as given (messages, and the key of default names and address leases when unnamed)
  std::string name;  // its name under /run/netns (the NAME form, or a path directly in /run/netns); "" otherwise
  std::string path;  // the nsfs file it denotes
  pid_t pid = 0;     // the pid:N form

  static NetnsArg parse(std::string_view text, std::string_view field);  // throws InvalidInput naming field
  bool named() const { return !name.empty(); }
  const std::string& short_name() const { return named() ? name : text; }
  bool exists() const;
  NetNs open() const;
};

// Moves the calling thread into a namespace and back when the guard ends, on every path (return, throw).
// If the kernel ever refused the switch back, carrying on would run later work in the wrong namespace, so
// the process aborts instead (the reference plugins discard such a thread; a C++ thread cannot be discarded).
class NsGuard {
 public:
  explicit NsGuard(const NetNs& target);
  // Moves the thread into a brand-new, empty namespace (unshare); used to create named namespaces.
  struct Fresh {};
  explicit NsGuard(Fresh);
  ~NsGuard();
  NsGuard(const NsGuard&) = delete;
  NsGuard& operator=(const NsGuard&) = delete;

 private:
  Fd saved_;
};

// One network namespace on the host, as `lsns -t net` shows it.
struct NetNsUsage {
  ino_t inode = 0;
  std::vector<pid_t> pids;          // processes whose namespace it is
  std::string command;              // command line of the lowest pid
  std::vector<std::string> names;   // names under /run/netns bound to it
};
std::vector<NetNsUsage> list_all_netns();

}  // namespace ctnet
