// A snapshot of namespaces, their links and addresses, with each veth's peer resolved to the namespace and
// name of its other end (and the bridge that end is on). `ctnet show` prints it; `ctnet doctor` checks it.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "addr/address.h"
#include "link/link.h"
#include "ns/netns.h"

namespace ctnet {

struct PeerRef {
  std::string ns;       // "" for the host namespace
  std::string ifname;
  std::string bridge;   // the bridge that end is enslaved to, if any
};

struct LinkView {
  link::Link link;
  std::vector<Prefix> addresses;
  std::string master_name;
  std::optional<PeerRef> peer;
};

struct NsView {
  std::string name;     // "" for the host namespace
  bool is_host() const { return name.empty(); }
  std::vector<LinkView> links;
};

// The host namespace and every named namespace; or, given `only`, that namespace alone (found by identity, so
// a path or a process's namespace too; named after its /run/netns name if it has one, else after its label).
// Peers are resolved across all of them either way.
std::vector<NsView> take_inventory(std::optional<NetNs> only = std::nullopt);

}  // namespace ctnet
