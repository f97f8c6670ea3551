// Kind "veth": a pair whose second end is born directly in its namespace (never visible in the first one), either
// end optionally a port of a bridge in its namespace. The record names the first end.
#pragma once
#include <optional>
#include <string>

#include "kinds/txn.h"
#include "util/ip.h"

namespace ctnet::kinds::veth {

struct Spec {
  std::string ns;                // namespace of the first end (spec; "" = host)
  std::string name;
  std::string peer_ns;           // namespace of the second end
  std::string peer_name;
  uint32_t mtu = 0;              // both ends; 0: the kernel's default (or the bridge's, as callers choose)
  uint32_t peer_mtu = 0;         // the second end's, when it differs; 0: `mtu`
  std::optional<MacAddress> mac, peer_mac;
  std::optional<uint32_t> txqlen, peer_txqlen;
  std::string master;            // bridge (in ns) the first end is a port of
  std::string peer_master;       // bridge (in peer_ns) the second end is a port of
  bool up = true, peer_up = true;
  bool link_local = true, peer_link_local = true;  // IPv6 link-local addresses (see link_kind.h bring_up)
};

struct Result {
  int index = 0, peer_index = 0;
};

void validate(const Spec& s, const std::string& field_prefix = "");
Result apply(Txn& txn, const Spec& s);
Inspection inspect(Txn& txn, const Spec& s);
// Brings existing ends to the spec: up, MTU, ports of their bridges.
void repair(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::veth
