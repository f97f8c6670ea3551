// Programs of a lab namespace: kind "process" (`run:`, long-running: started, recorded, restarted, stopped by
// ctnet), `exec:` commands (run once after a fresh `up`) and `ctnet exec` (a command of the user's).
//
// Every one is started the same way: fork; the child enters the namespace with setns() (a child that execs
// never comes back, so there is no thread to restore and NsGuard, which switches a thread and back, is not what
// it needs; the parent's threads never move), unshares a mount namespace and, as iproute2's `ip netns exec`
// (lib/namespace.c: netns_switch, bind_etc), makes its mounts slave, mounts a fresh sysfs on /sys (so
// /sys/class/net shows the namespace's interfaces) and bind-mounts each /etc/netns/NAME/X over /etc/X (an X
// that /etc lacks is skipped, as iproute2 does); then execvp() of the argv. No shell is involved. An execvp()
// failure reaches the parent through a CLOEXEC pipe ("cannot execute 'x': No such file or directory").
//
// A `run:` process is started through a second fork so it is no child of ctnet (nothing is left to reap), in
// a session of its own (setsid: it outlives ctnet and its terminal), stdin /dev/null, stdout and stderr appended
// to its log, STATE/labs/LAB/NS/NAME.log. Its Made entry records the namespace, the pid and the process's start
// time (field 22 of /proc/PID/stat): a process is "ours" only while that pid shows that start time, so a reused
// pid is never signalled. A copy of the entry is kept in STATE/labs/LAB/NS/NAME.pid: the process's name on the
// machine, as /run/netns/NAME is a namespace's, which `inspect` reads.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kinds/txn.h"

namespace ctnet::topo::process {

inline constexpr int kExecTimeoutSeconds = 60;  // an `exec:` command still running then is killed, `up` fails

struct Spec {
  std::string lab;
  std::string ns;                 // the lab namespace (its /run/netns name)
  std::string name;               // unique in the namespace
  std::vector<std::string> argv;
  uint32_t stop_timeout = 5;      // seconds from SIGTERM to SIGKILL
  std::string field;              // "namespaces.ns1.run[0]" for messages
};

// The lab's directory of process files (logs, pid files): STATE/labs/LAB.
std::string lab_dir(const std::string& lab);
std::string log_path(const std::string& lab, const std::string& ns, const std::string& name);
// The log of a namespace's `exec:` commands (each preceded by a "$ argv" line).
std::string exec_log_path(const std::string& lab, const std::string& ns);

// Starts it and records it in the transaction (kind "process").
void apply(kinds::Txn& txn, const Spec& s);
// present: running with its recorded start time, in the namespace, with the same argv; differs: running but
// with another argv or in a namespace that was replaced; missing: not running (died, killed, never started).
kinds::Inspection inspect(kinds::Txn& txn, const Spec& s);
// Stops the running one (if any) and starts it again.
void repair(kinds::Txn& txn, const Spec& s);
// SIGTERM to the process (and its process group) only while /proc/PID/stat still shows the recorded start time;
// SIGKILL when it has not ended after its stop_timeout. Idempotent.
kinds::Removal remove(kinds::Txn& txn, const kinds::Made& m);

// What a recorded process looks like now.
struct Live {
  pid_t pid = 0;
  bool running = false;  // the same pid with the same start time, not a zombie
};
Live live(const kinds::Made& m);

// Runs an `exec:` command in namespace `ns` of lab `lab`, output appended to exec_log_path(); throws
// InvalidInput naming `field` when it cannot start, exits non-zero or outlives `timeout_s` (with the output's
// tail).
void run_exec(const std::string& lab, const std::string& ns, const std::vector<std::string>& argv,
              const std::string& field, int timeout_s = kExecTimeoutSeconds);

// `ctnet exec`: runs argv in namespace `ns` with the terminal's stdio and returns its exit code (128 + signal
// when killed by one; 127 when it cannot be executed, with a message on stderr).
int run_foreground(const std::string& ns, const std::vector<std::string>& argv);

// Splits a command line into words as a shell would, without expanding anything: blanks separate words,
// '...' is literal, "..." keeps blanks and takes \" \\ \$ \` escapes, a backslash outside quotes escapes the next
// character. Throws InvalidInput(field) on an unterminated quote or an empty command.
std::vector<std::string> split_words(std::string_view line, const std::string& field);

// The start time of a process (field 22 of /proc/PID/stat, clock ticks since boot); nullopt when there is no
// such process or it is a zombie.
std::optional<uint64_t> start_time(pid_t pid);

}  // namespace ctnet::topo::process
