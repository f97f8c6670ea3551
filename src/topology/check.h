// `ctnet check`: which addresses each namespace should reach according to the topology (same L2 segment, or
// through declared routes and forwarding namespaces), then ICMP echo for every such pair, run concurrently.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ops/ping.h"
#include "topology/model.h"

namespace ctnet::topo {

struct Probe {
  std::string from;     // source namespace ("host" possible when the host holds a lab address)
  std::string to_ns;    // namespace holding the target
  std::string to_if;
  IpAddress target;
  bool routed = false;  // through at least one router namespace
};

// Pure: derived from the topology alone (unit-tested).
std::vector<Probe> expected_probes(const Topology& t);

struct ProbeResult {
  Probe probe;
  PingResult ping;
  std::string error;  // the namespace could not be entered, ...
  bool ok() const { return error.empty() && ping.ok(); }
};

struct CheckReport {
  std::vector<ProbeResult> results;
  size_t expected = 0;             // pairs the topology says are reachable; > results.size() when sampled
  std::string sample_reason;       // why only a sample was pinged
  std::vector<std::string> hints;  // why bridged paths may fail (from the host's configuration)
  bool ok() const;
};

struct CheckOptions {
  int count = 2;
  int timeout_ms = 1000;
  unsigned threads = 16;
  bool all = false;  // every pair even when their neighbour entries exceed the kernel's table (see run_check)
};
CheckReport run_check(const Topology& t, const CheckOptions& o = {});

// A matrix (rows: source namespaces, columns: target addresses) with round-trip times; a list for big labs.
std::string render_check(const CheckReport& r);
nlohmann::json to_json(const CheckReport& r);

}  // namespace ctnet::topo
