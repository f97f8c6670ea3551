// The state record of a lab: what ctnet created, so `down` removes exactly that, with or without the file.
//
// Where: /run/ctnet/labs ($CTNET_STATE_DIR/labs when set; util/paths.h). /run is a tmpfs: the kernel objects a lab is made of
// (namespaces, links) die with a reboot, so their record must too; a record under /var/lib would outlive them
// and describe objects that no longer exist (and whose names a later boot may give to something else).
//
// Layout per lab: NAME.json (the resolved topology and the objects known at the last checkpoint, rewritten
// atomically: write to a temporary file, fsync, rename) and NAME.journal (one JSON line appended per event:
// the intent to create an object, written *before* the kernel call, then its completion). A process killed at
// any point leaves a record that lists everything that may exist; `down` deletes idempotently, so an intent
// whose object was never made costs nothing. A torn last journal line (killed mid-write) is ignored.
#pragma once
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/fd.h"

namespace ctnet::topo {

struct Object {
  std::string type;     // netns | bridge | veth | macvlan | ipvlan | vxlan | host-device
  std::string ns;       // namespace it lives in ("host" for ctnet's own)
  std::string name;     // final interface / namespace name
  std::string peer_ns;  // veth: where the other end is
  std::string peer;     // veth: the other end's name
  std::string tmp;      // macvlan/ipvlan: the temporary name it is created under (in `ns`)
  std::string device;   // host-device: the name it had in the host namespace
  bool done = false;    // the kernel call returned success

  bool same(const Object& o) const { return type == o.type && ns == o.ns && name == o.name; }
  std::string str() const;  // "veth ns1/eth0"
};
nlohmann::json to_json(const Object& o);
Object object_from_json(const nlohmann::json& j);

std::string state_dir();  // ctnet::state_dir() + "/labs"

class Record {
 public:
  // Loads NAME.json and replays NAME.journal; nullopt when the lab has no record.
  static std::optional<Record> load(const std::string& lab);
  static std::vector<std::string> list();  // names of labs with a record
  static bool exists(const std::string& lab);

  Record(std::string lab, const nlohmann::json& spec) : lab_(std::move(lab)), spec_(spec.dump()) {}
  Record(Record&&) = default;

  const std::string& lab() const { return lab_; }
  nlohmann::json spec() const { return nlohmann::json::parse(spec_); }
  void set_spec(const nlohmann::json& spec) { spec_ = spec.dump(); }
  const std::vector<Object>& objects() const { return objects_; }
  bool complete() const { return complete_; }
  int find(const Object& o) const;  // index or -1

  // Checkpoint: rewrites NAME.json atomically with everything known and empties the journal.
  void save(bool complete);
  // Journal events (appended and flushed before returning).
  int intent(const Object& o);  // returns the object's index (existing one when already recorded)
  void done(int index);
  // Drops objects (rolled back) and checkpoints.
  void forget(const std::vector<int>& indexes);
  // Deletes NAME.json, NAME.journal and NAME.lock.
  void erase();

 private:
  void append(const nlohmann::json& line);
  void add(const Object& o);
  static std::string key(const Object& o) { return o.type + '\0' + o.ns + '\0' + o.name; }
  std::string lab_;
  std::unordered_map<std::string, int> index_;  // key(o) -> position: no linear search per object
  std::string spec_;  // serialized: a JSON tree of a big lab costs megabytes, its text a fraction
  std::vector<Object> objects_;
  bool complete_ = false;
  Fd journal_;
};

// An exclusive lock on one lab (flock on NAME.lock) so two `up`/`down` runs on it never interleave.
class LabLock {
 public:
  explicit LabLock(const std::string& lab);
 private:
  Fd fd_;
};

}  // namespace ctnet::topo
