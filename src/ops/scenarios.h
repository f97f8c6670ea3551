// The seed's two scenarios as engine operations, each one validated first and applied with an undo log:
//   connect: two namespaces joined by one veth pair (scenario 1);
//   attach/detach: a namespace joined to a bridge in the host namespace (scenario 2, one namespace at a time).
// "Host" is the namespace the calling thread is in (the CLI can run in a throwaway host namespace).
// A namespace is given as NAME, /path/to/nsfile or pid:N (NetnsArg); default names and address leases use its
// /run/netns name when it has one.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  std::optional<Prefix> subnet;             // or: the next free address of this subnet
  bool gateway = false;                     // the bridge gets the subnet's first address; default route via it
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

// Removes the namespace's link to the bridge (both veth ends) and its address lease. Idempotent: returns false
// when there was nothing to remove. Works when the namespace is already gone (the lease is still released).
bool detach_namespace(const std::string& ns, const std::string& bridge, const std::string& ifname = {});

// The two ends' addresses taken from `connect --subnet` (exposed for tests).
std::pair<Prefix, Prefix> connect_addresses(const Prefix& subnet);

// Names chosen for the defaults above (exposed for tests).
std::string default_ns_ifname(const std::string& towards);
std::string default_host_ifname(const std::string& ns, const std::string& bridge);

// Address leases of `ctnet attach --subnet`: one file per address under the lease directory of a bridge
// (O_CREAT|O_EXCL makes taking an address atomic without a lock).
class BridgeLeases {
 public:
  explicit BridgeLeases(const std::string& bridge);
  // Takes a specific address for `owner`; false if someone else holds it.
  bool take(const IpAddress& a, const std::string& owner);
  // The first free host address of the subnet, skipping `reserved` (addresses of the bridge itself).
  std::optional<Prefix> take_next(const Prefix& subnet, const std::string& owner, const std::vector<IpAddress>& reserved);
  void release(const IpAddress& a);
  std::optional<IpAddress> find_owner(const std::string& owner) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace ctnet
