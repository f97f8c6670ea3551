// The address pool of a bridge for `ctnet attach` (--subnet, --addr, --gateway): host-local's allocator and lock
// (ipam/host_local.h), one network directory per bridge identity under state_dir()/bridges,
// "<host namespace>-<bridge ifindex>-<bridge name>" (the namespace by its netns cookie), so a same-named bridge
// in another namespace, or a bridge deleted and made again, is another pool.
//
// A lease is held by an attachment: the attaching namespace (id: its cookie, which the kernel never reuses while
// the machine is up, unlike the nsfs inode) and the veth end on the bridge (index and name), with the namespace's
// nsfs path and inode so that "still there" is a stat() and an ioctl, not a netlink request. The gateway's lease
// is held by ("gateway", SUBNET). Every lease taken is recorded in the transaction as kind "lease", so a failed
// attach releases exactly the leases it took, and `detach` releases through the same remove.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ipam/host_local.h"
#include "kinds/txn.h"
#include "util/ip.h"

namespace ctnet::ops {

struct BridgePool {
  ipam::HostLocalConfig config;  // data dir and network; ranges are set per request
  std::string bridge;
  kinds::NsRef host;
};
BridgePool bridge_pool(kinds::Txn& txn, NsSocket& host, int bridge_index, const std::string& bridge);

// The holder of a namespace's lease.
struct Holder {
  kinds::NsRef ns;        // spec: its nsfs path (/run/netns/NAME, /proc/PID/ns/net ...)
  int host_index = 0;     // the veth end on the bridge
  std::string host_name;
};

// Stale leases go at the next attach: the pools of this host's bridges that are gone, and the leases of `pool`
// whose namespace or veth end is gone (a leaseholder's veth exists before its lease is written, so a concurrent
// attach's lease is never taken for stale).
void drop_stale_pools(kinds::Txn& txn, NsSocket& host);
void release_stale(kinds::Txn& txn, NsSocket& host, const BridgePool& pool);

// Leases the gateway address (recorded) unless the gateway holds it already; InvalidInput naming --gateway when
// a namespace holds it.
void lease_gateway(kinds::Txn& txn, const BridgePool& pool, const Prefix& gateway);
// Leases `addr`, or else the lowest free address of `subnet` that is not `reserved` (addresses the bridge has),
// for `holder` (recorded). `who` names the namespace in errors.
Prefix lease_address(kinds::Txn& txn, const BridgePool& pool, const Holder& holder, const std::optional<Prefix>& addr,
                     const std::optional<Prefix>& subnet, const std::vector<IpAddress>& reserved, const std::string& who);

// The records of a namespace's leases in the pool whose veth end is gone (for `detach`, once it removed the
// veth): the namespace by its identity when it still exists (`ns`), else by its nsfs path.
std::vector<kinds::Made> detached_leases(NsSocket& host, const BridgePool& pool, const kinds::NsRef* ns,
                                         const std::string& path);

}  // namespace ctnet::ops
