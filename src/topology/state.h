// The state record of a lab: what ctnet made, as the kinds layer's `Made` entries (kind, namespace identity,
// name, ifindex, saved state), so `down` removes exactly that — and only while it is still the object the lab
// made — with or without the file.
//
// Where: /run/ctnet/labs ($CTNET_STATE_DIR/labs when set; util/paths.h). /run is a tmpfs: the kernel objects a
// lab is made of (namespaces, links) die with a reboot, so their record must too; a record under /var/lib would
// outlive them and describe objects that no longer exist (and whose names a later boot may give to something else).
//
// Layout per lab: NAME.json (the namespace that played host, the objects known at the last checkpoint one per
// line, and the resolved topology; rewritten atomically: temporary file, fsync, rename) and NAME.journal (one
// JSON line per event of a transaction, through kinds::Journal: the intent to make an object, written *before*
// the kernel call, then its completion, or its discard when the kernel refused). A process killed at any point
// leaves a record that lists everything that may exist; removal is idempotent, so an intent whose object was
// never made costs nothing. A torn last journal line (killed mid-write) is ignored; a damaged NAME.json still
// yields the object lines that parse (`down --force`). Each checkpoint has a number, in NAME.json's header and
// on the first line of the journal it starts: a kill between the rename of NAME.json and the truncation of the
// journal leaves an older journal, whose events the new NAME.json already holds, and reading it again would
// replace finished entries with their intents (a process without its pid).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "kinds/txn.h"
#include "util/fd.h"

namespace ctnet::topo {

std::string state_dir();  // ctnet::state_dir() + "/labs"

// What identifies an object across runs: kind, namespace spec, name (+ the prefix of an address, the
// destination and gateway of a route). A record holds one entry per key; the lab's desired objects claim keys.
std::string object_key(std::string_view kind, std::string_view ns, std::string_view name, std::string_view extra = {});
std::string object_key(const kinds::Made& m);

class Record {
 public:
  // Loads NAME.json and replays NAME.journal; nullopt when the lab has no record; throws Error when it is
  // damaged (or InvalidInput when it names something no lab could have made).
  static std::optional<Record> load(const std::string& lab);
  // As load, but keeps whatever parses of a damaged record; `problems` says what was lost.
  static std::optional<Record> salvage(const std::string& lab, std::vector<std::string>* problems);
  static std::vector<std::string> list();  // names of labs with a record
  static bool exists(const std::string& lab);
  // What a run killed before its record's first save left (the lock file, a NAME.json.tmp), removed unless some
  // run holds the lock. Nothing of the lab was made then: every object is recorded before it is made.
  static void clear_unborn(const std::string& lab);

  Record(std::string lab, const nlohmann::json& spec) : lab_(std::move(lab)), spec_(spec.dump()) {}
  Record(Record&&) = default;
  Record& operator=(Record&&) = default;

  const std::string& lab() const { return lab_; }
  nlohmann::json spec() const { return nlohmann::json::parse(spec_); }
  void set_spec(const nlohmann::json& spec) { spec_ = spec.dump(); }
  // The namespace that played "host" (spec "" = the one ctnet ran in, or the --host-netns name), by identity.
  const kinds::NsRef& host() const { return host_; }
  void set_host(const kinds::NsRef& h) { host_ = h; }
  bool complete() const { return complete_; }

  // The live entries, oldest first (valid until the record changes).
  std::vector<const kinds::Made*> objects() const;
  size_t size() const { return live_; }

  // Checkpoint: rewrites NAME.json atomically with everything known and empties the journal.
  void save(bool complete);
  // Journal events (appended before returning). `intent` returns the entry's index; an older entry of the same
  // key is dropped (the object it named is gone: we are making it again).
  size_t intent(const kinds::Made& m);
  void done(size_t index, const kinds::Made& m);
  void drop(size_t index);
  void forget(const kinds::Made& m);  // drops the entry with m's key
  // Deletes NAME.json, NAME.journal and NAME.lock.
  void erase();

 private:
  static std::optional<Record> read(const std::string& lab, std::vector<std::string>* problems);
  void append(const nlohmann::json& line);
  size_t add(kinds::Made m);
  void remove_entry(size_t index);
  std::string lab_;
  kinds::NsRef host_;
  std::string spec_;  // serialized: a JSON tree of a big lab costs megabytes, its text a fraction
  std::vector<std::optional<kinds::Made>> entries_;  // dropped ones stay as holes until the next checkpoint,
                                                     // so journal lines keep naming entries by position
  std::unordered_map<std::string, size_t> by_key_;
  size_t live_ = 0;
  bool complete_ = false;
  uint64_t checkpoint_ = 0;  // the number of the last NAME.json written (0: none, or a ctnet that numbered none)
  Fd journal_;
};

// A transaction's journal into a lab record: every entry is on record before its kernel call. `on_event` sees
// each intent and completion (progress; the kill -9 test hook).
class RecordJournal : public kinds::Journal {
 public:
  enum class Phase { intent, done };
  using Hook = std::function<void(Phase, const kinds::Made&)>;
  RecordJournal(Record& r, Hook hook = {}) : rec_(r), hook_(std::move(hook)) {}
  void intent(size_t i, const kinds::Made& m) override;
  void done(size_t i, const kinds::Made& m) override;
  void discard(size_t i) override;
  // The record entries this transaction made (dropped again after a clean rollback).
  void drop_all();

 private:
  Record& rec_;
  Hook hook_;
  std::vector<size_t> index_;  // transaction index -> record index
};

// An exclusive lock on one lab (flock on NAME.lock) so two `up`/`down` runs on it never interleave.
class LabLock {
 public:
  explicit LabLock(const std::string& lab);
 private:
  Fd fd_;
};

}  // namespace ctnet::topo
