#include "topology/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>

#include <filesystem>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "util/error.h"
#include "util/fault.h"
#include "util/names.h"
#include "util/paths.h"

namespace ctnet::topo {

using nlohmann::json;
using kinds::Made;

std::string object_key(std::string_view kind, std::string_view ns, std::string_view name, std::string_view extra) {
  std::string k;
  k.reserve(kind.size() + ns.size() + name.size() + extra.size() + 3);
  k.append(kind).append(1, '\0').append(ns).append(1, '\0').append(name);
  if (!extra.empty()) k.append(1, '\0').append(extra);
  return k;
}

std::string object_key(const Made& m) {
  std::string extra;
  if (m.kind == "address") extra = m.saved.value("prefix", "");
  if (m.kind == "route") {
    extra = m.saved.value("dst", "");
    if (m.saved.contains("gateway")) extra += " via " + m.saved["gateway"].get<std::string>();
  }
  return object_key(m.kind, m.ns.spec, m.name, extra);
}

std::string state_dir() { return ctnet::state_dir() + "/labs"; }

namespace {
std::string path_for(const std::string& lab, const char* ext) {
  validate_identifier(lab, "lab name", 64);
  return state_dir() + "/" + lab + ext;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  if (fault::fail_write()) throw_errno(fmt::format("cannot write {}", path));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(fmt::format("cannot write {}", path));
    }
    off += static_cast<size_t>(n);
  }
}

void check_ns_spec(const std::string& spec) {
  if (!spec.empty()) validate_netns_name(spec, "state record namespace");
}

// An entry from the file: names are validated as if a user had typed them (a record names what `down` deletes).
Made checked(const json& j) {
  Made m;
  if (j.contains("type")) {
    // A record of ctnet before identities (version 1): names only; a remove then checks no identity.
    m.kind = j.at("type").get<std::string>();
    auto spec = [](const std::string& ns) { return ns == "host" ? std::string() : ns; };
    m.ns.spec = spec(j.value("ns", ""));
    m.name = j.value("name", "");
    m.done = j.value("done", false);
    if (j.contains("peer")) m.saved["peer"] = j["peer"], m.saved["peer_ns"] = kinds::to_json(kinds::NsRef{.spec = spec(j.value("peer_ns", ""))});
    if (j.contains("tmp")) m.saved["tmp"] = j["tmp"];
    if (j.contains("device")) m.saved["device"] = j["device"], m.saved["host"] = kinds::to_json(kinds::NsRef{});
  } else {
    m = kinds::made_from_json(j);
  }
  validate_identifier(m.kind, "state record kind");
  check_ns_spec(m.ns.spec);
  if (m.kind == "netns") validate_netns_name(m.name, "state record name");
  else if (m.kind == "process") {  // topology/process.h: a file name under the lab's directory
    validate_identifier(m.name, "state record name", 64);
    validate_identifier(m.saved.value("lab", ""), "state record lab", 64);
  } else if (!m.name.empty()) validate_ifname(m.name, "state record name");
  if (auto tmp = m.saved.value("tmp", ""); !tmp.empty()) validate_ifname(tmp, "state record name");
  for (const char* k : {"peer_ns", "host"})
    if (m.saved.contains(k)) check_ns_spec(kinds::ns_ref_from_json(m.saved[k]).spec);
  return m;
}
}  // namespace

bool Record::exists(const std::string& lab) { return ::access(path_for(lab, ".json").c_str(), F_OK) == 0; }

std::optional<Record> Record::load(const std::string& lab) { return read(lab, nullptr); }

std::optional<Record> Record::salvage(const std::string& lab, std::vector<std::string>* problems) {
  return read(lab, problems);
}

// `problems` null: strict (a damaged record throws); else everything that parses is kept.
std::optional<Record> Record::read(const std::string& lab, std::vector<std::string>* problems) {
  const std::string path = path_for(lab, ".json");
  std::ifstream f(path);
  if (!f) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno(fmt::format("cannot read {}", path));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  auto damaged = [&](const std::string& what) {
    if (!problems) throw Error(fmt::format("state record {} is damaged: {} (`ctnet down --force {}` removes what it still names)", path, what, lab));
    problems->push_back(what);
  };
  Record r(lab, nullptr);
  auto entry = [&](const json& o) {
    try {
      r.add(checked(o));
    } catch (const InvalidInput&) {
      if (!problems) throw;
      problems->push_back("an entry names something no lab makes: " + o.dump());
    } catch (const std::exception& e) {
      damaged(fmt::format("entry {}: {}", o.dump(), e.what()));
    }
  };
  if (text.starts_with("{\"version\": 2")) {
    // Written one object per line (save): read line by line, so the spec stays text until someone asks for it
    // and a damaged file still yields every whole line.
    std::string_view rest = text;
    bool first = true, closed = false;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (line.ends_with(',')) line.remove_suffix(1);
      if (first) {
        first = false;
        json h = json::parse(std::string(line) + "}", nullptr, false);
        if (!h.is_object()) {
          damaged("its first line is not the header");
          continue;
        }
        r.complete_ = h.value("complete", false);
        r.checkpoint_ = h.value("checkpoint", uint64_t{0});
        if (h.contains("host")) r.host_ = kinds::ns_ref_from_json(h["host"]);
      } else if (line == "\"objects\": [" || line == "]") {
      } else if (line.starts_with("\"spec\": ")) {
        line.remove_prefix(8);
        if (json::accept(line)) r.spec_ = line;
        else damaged("the topology is cut short");
      } else if (line == "}") {
        closed = true;
      } else {
        json o = json::parse(line, nullptr, false);
        if (o.is_object()) entry(o);
        else damaged(fmt::format("a line is not a whole entry: {}", line));
      }
    }
    if (!closed) damaged("it ends early");
  } else {
    // Version 1 (one pretty-printed document) or something else.
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      damaged("not valid JSON");
    } else {
      try {
        r.spec_ = j.value("spec", json::object()).dump();
        r.complete_ = j.value("complete", false);
        if (j.contains("host")) r.host_ = kinds::ns_ref_from_json(j["host"]);
        for (auto& o : j.value("objects", json::array())) entry(o);
      } catch (const json::exception& e) {
        damaged(e.what());
      }
    }
  }
  std::ifstream jf(path_for(lab, ".journal"));
  std::string line;
  for (bool first = true; std::getline(jf, line); first = false) {
    json e = json::parse(line, nullptr, false);
    if (e.is_discarded()) break;  // torn last line of a killed run
    try {
      if (auto c = e.find("checkpoint"); c != e.end()) {
        if (first && c->get<uint64_t>() != r.checkpoint_) break;  // older than NAME.json, which holds all it says
      } else if (auto it = e.find("intent"); it != e.end()) {
        entry(*it);
      } else if (auto d = e.find("done"); d != e.end()) {
        size_t i = d->get<size_t>();
        if (i >= r.entries_.size() || !r.entries_[i]) continue;
        if (e.contains("made")) r.entries_[i] = checked(e["made"]);
        r.entries_[i]->done = true;
      } else if (auto x = e.find("drop"); x != e.end()) {
        size_t i = x->get<size_t>();
        if (i < r.entries_.size()) r.remove_entry(i);
      }
    } catch (const std::exception& ex) {
      damaged(fmt::format("journal line {}: {}", line, ex.what()));
    }
  }
  return r;
}

std::vector<std::string> Record::list() {
  std::vector<std::string> out;
  DIR* d = opendir(state_dir().c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".json") && n[0] != '.') out.push_back(n.substr(0, n.size() - 5));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<const Made*> Record::objects() const {
  std::vector<const Made*> out;
  out.reserve(live_);
  for (auto& e : entries_)
    if (e) out.push_back(&*e);
  return out;
}

size_t Record::add(Made m) {
  std::string key = object_key(m);
  if (auto it = by_key_.find(key); it != by_key_.end()) remove_entry(it->second);
  entries_.push_back(std::move(m));
  by_key_[std::move(key)] = entries_.size() - 1;
  ++live_;
  return entries_.size() - 1;
}

void Record::remove_entry(size_t i) {
  if (!entries_[i]) return;
  auto it = by_key_.find(object_key(*entries_[i]));
  if (it != by_key_.end() && it->second == i) by_key_.erase(it);
  entries_[i].reset();
  --live_;
}

void Record::save(bool complete) {
  complete_ = complete;
  make_dirs(state_dir());
  // One object per line, so a damaged file still names what it can; the spec is kept as text.
  const uint64_t checkpoint = checkpoint_ + 1;
  std::string text = fmt::format("{{\"version\": 2, \"lab\": {}, \"complete\": {}, \"checkpoint\": {}, \"host\": {},\n\"objects\": [",
                                 json(lab_).dump(), complete, checkpoint, kinds::to_json(host_).dump());
  // Compact: positions change, and the journal that named them starts over below.
  std::vector<std::optional<Made>> live;
  live.reserve(live_);
  by_key_.clear();
  for (auto& e : entries_) {
    if (!e) continue;
    text += live.empty() ? "\n" : ",\n";
    text += kinds::to_json(*e).dump();
    by_key_[object_key(*e)] = live.size();
    live.push_back(std::move(e));
  }
  entries_ = std::move(live);
  text += fmt::format("\n],\n\"spec\": {}\n}}\n", spec_);
  const std::string path = path_for(lab_, ".json");
  const std::string tmp = path + ".tmp";
  try {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw_errno(fmt::format("cannot write {}", tmp));
    write_all(fd.get(), text, tmp);
    if (::fsync(fd.get()) != 0) throw_errno(fmt::format("cannot sync {}", tmp));
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(fmt::format("cannot replace {}", path));
  } catch (...) {
    ::unlink(tmp.c_str());  // the last complete record stays as it was
    throw;
  }
  checkpoint_ = checkpoint;
  // Everything the journal said is now in NAME.json; a fresh journal continues from here, named by its checkpoint.
  const std::string jpath = path_for(lab_, ".journal");
  journal_.reset(::open(jpath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  if (!journal_) throw_errno(fmt::format("cannot open {}", jpath));
  write_all(journal_.get(), fmt::format("{{\"checkpoint\":{}}}\n", checkpoint_), "journal");
}

void Record::append(const json& line) {
  if (!journal_) save(complete_);
  // One write() per line on an O_APPEND file: a kill leaves whole lines or one torn last line, never a mix.
  // No fdatasync per line: a written line is in the kernel's page cache the moment write() returns, so it
  // survives kill -9 of this process; only a machine crash could lose it, and a crash (reboot) also removes
  // every namespace and link the record lists. (On a disk-backed /run a sync per line cost ~1.6 ms, more than
  // the kernel work of the object it records.)
  write_all(journal_.get(), line.dump() + "\n", "journal");
}

size_t Record::intent(const Made& m) {
  if (!journal_) save(complete_);  // before add: a checkpoint renumbers entries
  size_t i = add(m);
  entries_[i]->done = false;
  append({{"intent", kinds::to_json(*entries_[i])}});
  return i;
}

void Record::done(size_t i, const Made& m) {
  if (!entries_[i]) return;
  entries_[i] = m;
  entries_[i]->done = true;
  append({{"done", i}, {"made", kinds::to_json(m)}});
}

void Record::drop(size_t i) {
  if (i >= entries_.size() || !entries_[i]) return;
  remove_entry(i);
  append({{"drop", i}});
}

void Record::forget(const Made& m) {
  if (auto it = by_key_.find(object_key(m)); it != by_key_.end()) drop(it->second);
}

void Record::erase() {
  journal_.reset();
  ::unlink(path_for(lab_, ".journal").c_str());
  ::unlink(path_for(lab_, ".json.tmp").c_str());  // of a save a kill interrupted
  if (::unlink(path_for(lab_, ".json").c_str()) != 0 && errno != ENOENT)
    throw_errno(fmt::format("cannot remove the state record of lab '{}'", lab_));
  // The lock file goes too (a lab that is down leaves nothing). A run waiting on the old lock file gets
  // it after us and finds no record, which is the state we just made.
  ::unlink(path_for(lab_, ".lock").c_str());
  // The directory of its processes' logs and pid files (topology/process.h), if it had any.
  std::error_code ec;
  std::filesystem::remove_all(state_dir() + "/" + lab_, ec);
}

void Record::clear_unborn(const std::string& lab) {
  const std::string lock = path_for(lab, ".lock");
  Fd fd(::open(lock.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd || flock(fd.get(), LOCK_EX | LOCK_NB) != 0 || exists(lab)) return;  // none, or a run works on the lab
  ::unlink(path_for(lab, ".json.tmp").c_str());
  ::unlink(lock.c_str());  // as erase() does
}

void RecordJournal::intent(size_t i, const Made& m) {
  if (index_.size() <= i) index_.resize(i + 1);
  index_[i] = rec_.intent(m);
  if (hook_) hook_(Phase::intent, m);
}

void RecordJournal::done(size_t i, const Made& m) {
  rec_.done(index_[i], m);
  if (hook_) hook_(Phase::done, m);
}

void RecordJournal::discard(size_t i) { rec_.drop(index_[i]); }

void RecordJournal::drop_all() {
  for (size_t i : index_) rec_.drop(i);
  index_.clear();
}

LabLock::LabLock(const std::string& lab) {
  make_dirs(state_dir());
  const std::string path = path_for(lab, ".lock");
  fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_) throw_errno(fmt::format("cannot open {}", path));
  if (flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw_errno(fmt::format("cannot lock {}", path));
    // Another ctnet works on this lab; wait for it rather than interleave.
    if (flock(fd_.get(), LOCK_EX) != 0) throw_errno(fmt::format("cannot lock {}", path));
  }
}

}  // namespace ctnet::topo
