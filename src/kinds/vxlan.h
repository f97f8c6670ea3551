// Kind "vxlan": one VXLAN tunnel endpoint (one VNI), optionally a port of a bridge in its namespace.
#pragma once
#include <optional>
#include <string>

#include "kinds/txn.h"
#include "util/ip.h"

namespace ctnet::kinds::vxlan {

struct Spec {
  std::string ns;
  std::string name;
  uint32_t vni = 0;                  // 1..16777215 (24 bits)
  std::optional<IpAddress> local, remote;
  std::string underlay;              // device in ns carrying the tunnel ("": routing decides)
  uint16_t port = 4789;
  uint32_t mtu = 0;
  std::string master;                // bridge in ns
  std::optional<bool> learning;
};

void validate(const Spec& s, const std::string& field_prefix = "");
int apply(Txn& txn, const Spec& s);  // returns the ifindex
Inspection inspect(Txn& txn, const Spec& s);
void repair(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::vxlan
