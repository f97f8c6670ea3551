// ctnet's DHCP daemon (`ctnet cni dhcp-daemon`) and the way the `dhcp` IPAM plugin talks to it. A plugin process
// lives for one CNI call, a lease for as long as the container: the daemon keeps one LeaseKeeper per attachment
// (container ID, network, interface), as the reference's daemon does.
//
// Protocol: a unix stream socket; per connection one request and one answer, each a JSON object on one line.
//   {"op":"allocate", "containerID", "network", "ifname", "netns", "parameters":[1,3,...], "provide":[{"code","value"}]}
//        -> {"lease": LEASE}   (the lease already held for that attachment in that namespace, or a new one)
//   {"op":"release", "containerID", "network", "ifname"}  -> {"released": true|false}
//   {"op":"check", "containerID", "network", "ifname"}    -> {"held": true, "lease": LEASE} or {"held": false}
//   {"op":"gc", "network", "valid":[{"containerID","ifname"}]}  -> {"released": N}   (every other lease of the network)
//   {"op":"status"}                                         -> {}
//   any failure                                             -> {"error": "why"}
// LEASE: {"address":"10.1.0.5/24", "gateway", "routes":[{"dst","gw"}], "dns":[...], "domain", "server",
//         "t1", "t2", "lease"} (seconds).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "ipam/dhcp_lease.h"
#include "util/error.h"

namespace ctnet::dhcp {

inline constexpr const char* kDefaultSocketPath = "/run/cni/dhcp.sock";  // the reference's

struct DaemonOptions {
  std::string socket_path = kDefaultSocketPath;
  std::string pidfile;  // written with the daemon's pid when set
  ClientSettings client;
  Log log;              // one line per event; called from any thread
};

// Serves until SIGTERM or SIGINT, then removes its socket and pid file. Leases are not released then (the
// containers keep their addresses; the reference's daemon exits the same way). With systemd socket activation
// (LISTEN_FDS=1) it serves the socket it was given. Throws Error when the socket cannot be set up, InvalidInput
// ("--socket") for a path a unix socket cannot have.
void run_daemon(const DaemonOptions& o);

// Nothing listens at the socket path (connect failed: ENOENT, ECONNREFUSED ...).
class DaemonUnreachable : public Error {
 public:
  using Error::Error;
};
// Sends one request and returns the answer; throws DaemonUnreachable, or Error for a failed exchange or an
// answer that carries "error".
nlohmann::json call_daemon(const std::string& socket_path, const nlohmann::json& request);

// The longest path a unix socket address holds.
inline constexpr size_t kMaxSocketPath = 107;

nlohmann::json to_json(const Lease& l);
Lease lease_from_json(const nlohmann::json& j);

}  // namespace ctnet::dhcp
