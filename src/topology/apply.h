// Building, converging, inspecting and removing a lab. One engine walks the topology in a fixed order
// (namespaces, bridges, links in file order, routes) and, per object, either creates it (a fresh `up`), checks
// and creates only what is missing (`up` on a lab that is up), or only checks (`status`).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "topology/model.h"

namespace ctnet::topo {

// One line of the plan / of a status report.
struct Finding {
  std::string object;   // "namespace ns1", "veth ns1/eth0", "address 10.0.0.1/24 on ns1/eth0", "route ..."
  std::string state;    // planned | created | present | missing | differs
  std::string detail;   // what differs, or what was created
};
nlohmann::json to_json(const std::vector<Finding>& f);

struct Event {
  enum class Phase { intent, done };
  Phase phase;
  size_t index;         // objects handled so far (1-based for `done`)
  size_t total;         // objects in the plan
  std::string what;
};

struct UpOptions {
  std::function<void(const Event&)> on_event;  // progress; also the test hook for kill -9 at a given point
};

struct UpResult {
  bool converged = false;  // the lab had a record already
  std::vector<Finding> findings;
  size_t created = 0, present = 0, differs = 0;
};

// The plan as it would be applied, without touching anything (`up --dry-run`).
std::vector<Finding> plan(const Topology& t);

// Builds the lab, or converges it when its record exists. On failure, removes what this run created and
// throws an Error naming the object and the kernel's reason (plus anything the rollback could not remove).
UpResult up(const Topology& t, const UpOptions& opts = {});

// Whether each object of the lab exists and is as specified (read-only).
std::vector<Finding> status(const Topology& t);

struct DownResult {
  bool had_record = false;
  size_t removed = 0;
  std::vector<std::string> errors;
};
// Removes exactly what the record lists, newest first; missing objects are not errors.
DownResult down(const std::string& lab);

}  // namespace ctnet::topo
