// `ctnet inspect LAB`: one table of what a lab is made of now, as containerlab's inspect: per namespace its
// interfaces (ifindex, MAC, MTU, state, addresses, the peer of a veth as NAMESPACE:IFNAME, the bridge a port is
// on), the lab's interfaces in the host namespace, and its processes (pid, running or dead). The lab's
// namespaces and processes come from its record, everything else from the kernel (ops/inventory.h).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctnet::topo {

struct InterfaceView {
  std::string node;    // lab namespace, or "host"
  std::string name;
  int ifindex = 0;
  std::string kind;    // veth, bridge, ... ("" for lo)
  std::string mac;
  uint32_t mtu = 0;
  std::string state;   // up, down, lowerlayerdown, unknown, ...
  std::vector<std::string> addresses;
  std::string peer;    // veth: NAMESPACE:IFNAME of the other end
  std::string bridge;  // the bridge it is a port of
};

struct ProcessView {
  std::string node, name;
  pid_t pid = 0;
  std::string state;   // running | dead
  std::vector<std::string> argv;
  std::string log;
};

struct LabView {
  std::string lab;
  std::vector<std::string> nodes;  // the lab's namespaces, in record order
  std::vector<InterfaceView> interfaces;
  std::vector<ProcessView> processes;
};

// Throws Error when the lab has no record.
LabView inspect_lab(const std::string& lab);
nlohmann::json to_json(const LabView& v);
std::string render(const LabView& v);

}  // namespace ctnet::topo
