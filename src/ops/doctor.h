// `ctnet doctor`: the settings and link states that silently break container networking, each with what to do
// about it, in a scope (the host and every named namespace, given namespaces, or a lab's). The seed's trap comes
// first: with br_netfilter loaded and bridge-nf-call-iptables=1 in the namespace that owns a bridge, frames
// crossing it traverse that namespace's FORWARD chains (nftables, and iptables-legacy when loaded), where a DROP
// policy discards them. The bridge-nf-call-* sysctls are per network namespace (since Linux 5.3,
// net/bridge/br_netfilter_hooks.c brnf_net), so they are read, and fixed, where the bridges are.
#pragma once
#include <string>
#include <vector>

namespace ctnet {

enum class Severity { ok, info, warn, fail };
std::string_view to_string(Severity s);

struct Finding {
  std::string check;     // stable id: "bridge-nf-call-iptables", "veth-down", ...
  Severity severity = Severity::ok;
  std::string message;
  std::string remedy;    // what to do, "" when nothing
  bool fixed = false;    // --fix applied the remedy
};

// A namespace the doctor looks at: its name under /run/netns ("" for the host, the namespace ctnet runs in).
struct DoctorScope {
  bool all = true;                 // the host and every named namespace (--fix then fixes the host only); else:
  bool host = true;                // the host namespace is in scope
  std::vector<std::string> names;  // these named namespaces are
};

struct DoctorOptions {
  bool fix = false;      // apply the remedies, only inside the scope (bridge-nf-call-* is per namespace)
  bool persist = false;  // also write them to /etc/sysctl.d so they survive a reboot
  std::string sysctl_d = "/etc/sysctl.d/90-ctnet.conf";
  DoctorScope scope;
};

std::vector<Finding> run_doctor(const DoctorOptions& o);
// A run fails (exit 1) only on a `fail` finding not fixed: information and warnings that break nothing do not.
bool doctor_failed(const std::vector<Finding>& findings);

}  // namespace ctnet
