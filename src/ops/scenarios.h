// The seed's two scenarios as engine operations, each one validated first and applied in one transaction
// (kinds/txn.h: a failure removes what the run made, and the error says what could not be removed):
//   connect: two namespaces joined by one veth pair (scenario 1);
//   attach/detach: a namespace joined to a bridge in the host namespace (scenario 2, one namespace at a time).
// "Host" is the namespace the calling thread is in (the CLI can run in a throwaway host namespace).
// A namespace is given as NAME, /path/to/nsfile or pid:N (NetnsArg); default names use its /run/netns name when it
// has one; address leases hold it by identity (its netns cookie).
#pragma once
#include <optional>
#include <string>
#include <utility>

#include "util/ip.h"

namespace ctnet {

struct ConnectOptions {
  std::optional<Prefix> subnet;             // addresses .1 and .2 of the subnet (.0 and .1 of a /31 or /127)
  std::optional<Prefix> addr1, addr2;       // or explicit ones (both)
  std::optional<uint32_t> mtu;              // default: the kernel's
  std::string ifname1, ifname2;             // default: "veth-<other namespace>" (the link towards it), or
                                            // "ve<hash>" when that is longer than 15 bytes
};
struct ConnectResult {
  std::string ifname1, ifname2;
  std::optional<Prefix> addr1, addr2;
};
// Validates everything, then creates the pair in ns1 with the peer born in ns2, brings both up, addresses
// them. On any failure, whatever was made is removed and the error says what failed.
ConnectResult connect_namespaces(const std::string& ns1, const std::string& ns2, const ConnectOptions& o);

struct AttachOptions {
  std::string bridge;
  std::optional<Prefix> addr;               // explicit address (its subnet is the bridge's)
  std::optional<Prefix> subnet;             // or: the lowest free address of this subnet
  // Either is leased in the bridge's pool (ops/bridge_pool.h).
  bool gateway = false;                     // the bridge gets the subnet's first address (leased as the gateway's;
                                            // refused when a namespace holds it); default route via it
  std::optional<uint32_t> mtu;              // default: the bridge's MTU
  std::string ifname;                       // in the namespace; default "veth-<bridge>" (or "ve<hash>")
  std::string host_ifname;                  // default "<ns>-<bridge>" if it fits in 15 bytes, else "vh<hash>"
  bool create_ns = false;                   // create the namespace if it does not exist (removed again on failure)
};
struct AttachResult {
  std::string ifname, host_ifname;
  std::optional<Prefix> addr;
  bool bridge_created = false;
  bool ns_created = false;
};
AttachResult attach_namespace(const std::string& ns, const AttachOptions& o);

// Removes the namespace's link to the bridge (both veth ends) and its address lease, through the kinds' remove.
// Idempotent: returns false when there was nothing to remove. Works when the namespace is already gone (the
// lease is found by the namespace's path and released).
bool detach_namespace(const std::string& ns, const std::string& bridge, const std::string& ifname = {});

// The two ends' addresses taken from `connect --subnet` (exposed for tests).
std::pair<Prefix, Prefix> connect_addresses(const Prefix& subnet);

// Names chosen for the defaults above (exposed for tests).
std::string default_ns_ifname(const std::string& towards);
std::string default_host_ifname(const std::string& ns, const std::string& bridge);

}  // namespace ctnet
