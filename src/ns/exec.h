// A program in a network namespace, set up as `ip netns exec` sets it up (iproute2 lib/namespace.c: netns_switch):
// the child enters the namespace, gets a mount namespace of its own whose mounts do not reach the machine's, a
// sysfs of that network namespace on /sys, and, for a named namespace, /etc/netns/NAME/* bound over /etc/*.
// The parent prepares everything (a Launch); between fork and exec the child makes only async-signal-safe calls
// and reports a failure through a CLOEXEC pipe (a Report: which step, errno). `ctnet ns exec`, `ctnet exec` and a
// lab's `exec:` and `run:` programs all start here.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ns/netns.h"
#include "util/fd.h"

namespace ctnet::ns_exec {

enum Stage : int { kSetns = 1, kUnshare, kSlave, kSysfs, kSession, kStdio, kExec };

struct Report {
  int stage = 0;  // a Stage; 0 is free for the caller's own messages through the same pipe
  int err = 0;
};

// Everything the child needs (no allocation after fork).
struct Launch {
  int ns_fd = -1;
  std::string sysfs_source;  // the sysfs mount's source: the namespace's name, as iproute2 names it
  std::vector<std::pair<std::string, std::string>> binds;  // /etc/netns/NAME/X -> /etc/X
  std::vector<std::string> args;
  std::vector<char*> argv;
  int in_fd = -1, out_fd = -1;  // -1: inherited
  bool session = false;         // setsid (a process of its own session and group)
  int report_fd = -1;           // write end of the CLOEXEC pipe
  // `go`: the child waits for one byte before exec (the parent records its pid and start time first). EOF
  // instead means the parent died before it had recorded them: the child ends, so nothing runs unrecorded.
  int go_fd = -1;               // read end
  int go_write_fd = -1;         // the parent's end, closed in the child (else EOF never comes)
};

// `name`: the namespace's name under /run/netns, whose /etc/netns files are bound ("" for a path or pid:N: none);
// `label` names the sysfs mount. `ns` must stay open until the child has entered it.
Launch prepare(const NetNs& ns, const std::string& name, const std::string& label, const std::vector<std::string>& argv);

// The child's side.
void enter(const Launch& l);                       // namespace, mounts, stdio; every other fd close-on-exec
[[noreturn]] void exec_child(const Launch& l);     // setsid, wait for `go`, execvp
[[noreturn]] void fail_child(const Launch& l, int stage);

// The parent's side.
// The byte that lets a child waiting on `go_fd` exec; false when the child is gone (killed meanwhile).
bool send_go(int go_write_fd);
std::string stage_text(const Report& r, const std::vector<std::string>& argv);
// Reads a Report until EOF; nullopt when the child exec'd (the pipe closed without one).
std::optional<Report> read_report(int fd);
struct Pipe {
  Fd r, w;
  Pipe();  // pipe2(O_CLOEXEC)
};

// Runs the program with the caller's stdio and waits (^C is the program's meanwhile, as a shell gives it to its foreground job); returns
// its exit status, 128 + the signal that ended it, or 127 when it could not be started (the reason on stderr).
int run_foreground(const NetNs& ns, const std::string& name, const std::string& label, const std::vector<std::string>& argv);

}  // namespace ctnet::ns_exec
