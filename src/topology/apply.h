// Topology as a diff. The file is the desired state (desired.h: one driver spec per object); each driver's
// `inspect` says what the kernel has; the difference is one action per object — create, repair or none — as
// data. `up --dry-run` prints the actions, `status` the diff, `up` applies them: a fresh lab in one transaction
// (all or nothing), a lab that is up one transaction per action, so one failed repair does not undo the others.
// Objects the record names that the file no longer has are reported, and removed with `up --prune`.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kinds/txn.h"
#include "topology/model.h"

namespace ctnet::topo {

enum class Op { create, repair, none };
std::string_view to_string(Op op);

struct Action {
  std::string object;       // "veth host/veth1 <-> ns1/veth1-ns1"
  Op op = Op::create;
  kinds::Inspection found;  // what inspect said (a lab that is not up is not inspected: all missing)
};

struct Plan {
  bool up = false;                 // the lab has a record, so its objects were inspected
  std::vector<Action> actions;     // one per object of the file, in the order `up` makes them
  std::vector<std::string> stale;  // objects the record names that the file no longer has
};
// The actions `up` would take, without changing anything (`up --dry-run`).
Plan plan(const Topology& t);

// One line of a report.
struct Finding {
  std::string object;
  std::string state;   // status: present | missing | differs | stale
                       // up: created | repaired | failed | skipped | stale | removed
  std::string detail;  // what differs, what failed
};
nlohmann::json to_json(const std::vector<Finding>& f);

// Whether each object of the lab exists and is as specified, and what the record names beyond the file.
std::vector<Finding> status(const Topology& t);

struct Event {
  enum class Phase { intent, done };
  Phase phase;
  size_t index;         // objects made (a lab that is up: looked at; down: removed or gone) so far
  size_t total;         // objects in the lab (down: in its record)
  std::string what;
};

struct UpOptions {
  std::function<void(const Event&)> on_event;  // progress; also the test hook for kill -9 at a given point
  bool prune = false;                          // remove what the record names and the file no longer has
};

struct UpResult {
  bool converged = false;  // the lab had a record already
  // Fresh: what was made (small labs only). Converged: every action taken, failed or stale object.
  std::vector<Finding> findings;
  size_t created = 0, repaired = 0, present = 0, failed = 0, stale = 0, removed = 0;
};

// Builds the lab, or converges it when its record exists. A fresh lab that fails half-way is removed again and
// the Error names the object and the kernel's reason (and whatever the rollback could not remove). Converging,
// failed actions are in the result (`failed`); the others stand.
UpResult up(const Topology& t, const UpOptions& opts = {});

struct DownOptions {
  bool force = false;  // a damaged record, or a host namespace that is not the lab's: remove what can be, and the record
  std::function<void(const Event&)> on_event;  // progress: a `done` event after each object of the record
};
struct DownResult {
  bool had_record = false;
  size_t removed = 0;
  std::vector<std::string> replaced;  // objects that are no longer the ones the lab made: left alone
  std::vector<std::string> errors;
  std::vector<std::string> damage;    // what a damaged record had lost (--force)
};
// Removes what the record lists through each kind's remove (as a rollback does), newest first; objects
// already gone are not errors. The record goes when nothing failed (always, with --force).
DownResult down(const std::string& lab, const DownOptions& opts = {});

struct LabInfo {
  std::string name;
  std::string state;    // up | incomplete | damaged
  std::string host;     // the namespace that played host
  size_t namespaces = 0, objects = 0;
  std::string problem;  // damaged: what is wrong
};
// Every lab with a record; a damaged record is listed as such, not an error.
std::vector<LabInfo> labs();

}  // namespace ctnet::topo
