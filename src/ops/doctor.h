// `ctnet doctor`: the host settings and link states that silently break container networking, each with what
// to do about it. The seed's trap comes first: with br_netfilter loaded and bridge-nf-call-iptables=1, frames
// crossing a bridge traverse iptables' FORWARD chain, where a DROP policy discards them.
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

struct DoctorOptions {
  bool fix = false;      // apply the remedies (the sysctl ones are host-wide)
  bool persist = false;  // also write them to /etc/sysctl.d so they survive a reboot
  std::string sysctl_d = "/etc/sysctl.d/90-ctnet.conf";
};

std::vector<Finding> run_doctor(const DoctorOptions& o);

}  // namespace ctnet
