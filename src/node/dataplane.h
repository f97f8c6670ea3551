// The kernel side of a node: the overlay device and, per peer, what carries traffic to its subnets.
//   vxlan:   one VXLAN device `ctnet.VNI` (learning off, the node's subnet addresses as /32 and /128), and per peer
//            a permanent FDB entry (its VTEP MAC -> its underlay address), a permanent neighbour entry (its subnet's
//            first address -> its VTEP MAC) and an onlink route (its subnet via that address);
//   host-gw: per peer a route (its subnet via its underlay address on the underlay link), refused for a peer that
//            is not on the underlay's own segment.
// Routes are tagged with ctnet's route protocol (kRouteProtocol), so reconcile touches only its own. reconcile()
// makes the kernel match the peers exactly: what no peer owns goes, what changed is replaced, what is right is
// left alone (no flap for running pods).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "node/network.h"
#include "ns/ns_socket.h"

namespace ctnet::node {

inline constexpr uint8_t kRouteProtocol = 0x63;  // 99: not in iproute2's rt_protos; `ip route show proto 99`

struct Underlay {
  std::string ifname;
  int ifindex = 0;
  IpAddress address;                        // the one peers send to (VXLAN's local address)
  std::optional<IpAddress> other_family;    // a global address of the other family on the same link, if any
  uint32_t mtu = 0;
};

struct ReconcileStats {
  int added = 0, changed = 0, removed = 0, unchanged = 0;
  std::vector<std::string> refused;  // peers that cannot be reached with this backend, and why
  bool changes() const { return added || changed || removed; }
};

class Dataplane {
 public:
  Dataplane(const NetworkConfig& net, Underlay underlay);

  // The VXLAN device (vxlan backend), made or brought to its spec; returns its MAC.
  std::optional<MacAddress> setup();
  // The node's own subnets on the overlay device (their first address), replacing older ones.
  void set_own_subnets(const std::vector<Prefix>& subnets);
  ReconcileStats reconcile(const std::vector<NodeRecord>& peers, bool dry_run = false);
  // Removes the overlay device (and with it its entries and routes) and every route of ours (leave).
  void teardown();

  std::string device() const;     // "ctnet.VNI" (vxlan), the underlay (host-gw)
  uint32_t pod_mtu() const;       // the underlay's MTU minus the encapsulation

 private:
  struct Desired;
  Desired desired(const std::vector<NodeRecord>& peers, ReconcileStats& stats);
  NetworkConfig net_;
  Underlay underlay_;
  NsSocket s_;
};

// The underlay: `ifname`, or the link the kernel would reach `towards` through; its first global address of
// the family of `towards` (or IPv4), and its first of the other family (tentative ones, still in DAD, skipped).
Underlay find_underlay(const std::string& ifname, const std::optional<IpAddress>& towards);

}  // namespace ctnet::node
