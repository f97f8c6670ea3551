#include "topology/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
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

std::string Object::str() const {
  if (type == "netns") return "namespace " + name;
  return fmt::format("{} {}/{}", type, ns, name);
}

json to_json(const Object& o) {
  json j = {{"type", o.type}, {"ns", o.ns}, {"name", o.name}};
  if (!o.peer.empty()) j["peer"] = o.peer, j["peer_ns"] = o.peer_ns;
  if (!o.tmp.empty()) j["tmp"] = o.tmp;
  if (!o.device.empty()) j["device"] = o.device;
  if (o.done) j["done"] = true;
  return j;
}

Object object_from_json(const json& j) {
  Object o;
  o.type = j.at("type").get<std::string>();
  o.ns = j.value("ns", "");
  o.name = j.value("name", "");
  o.peer = j.value("peer", "");
  o.peer_ns = j.value("peer_ns", "");
  o.tmp = j.value("tmp", "");
  o.device = j.value("device", "");
  o.done = j.value("done", false);
  // Names come back from a file: validate them as if a user had typed them.
  validate_identifier(o.type, "state record type");
  if (o.type == "netns") validate_netns_name(o.name, "state record name");
  else validate_ifname(o.name, "state record name");
  return o;
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
}  // namespace

bool Record::exists(const std::string& lab) { return ::access(path_for(lab, ".json").c_str(), F_OK) == 0; }

std::optional<Record> Record::load(const std::string& lab) {
  const std::string path = path_for(lab, ".json");
  std::ifstream f(path);
  if (!f) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno(fmt::format("cannot read {}", path));
  }
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw Error(fmt::format("state record {} is damaged: {}", path, e.what()));
  }
  Record r(lab, j.value("spec", json::object()));
  r.complete_ = j.value("complete", false);
  for (auto& o : j.value("objects", json::array())) r.add(object_from_json(o));
  std::ifstream jf(path_for(lab, ".journal"));
  std::string line;
  while (std::getline(jf, line)) {
    json e = json::parse(line, nullptr, false);
    if (e.is_discarded()) break;  // torn last line of a killed run
    if (e.contains("intent")) {
      Object o = object_from_json(e["intent"]);
      if (r.find(o) < 0) r.add(o);
    } else if (e.contains("done")) {
      auto i = e["done"].get<size_t>();
      if (i < r.objects_.size()) r.objects_[i].done = true;
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

int Record::find(const Object& o) const {
  auto it = index_.find(key(o));
  return it == index_.end() ? -1 : it->second;
}

void Record::add(const Object& o) {
  index_[key(o)] = static_cast<int>(objects_.size());
  objects_.push_back(o);
}

void Record::save(bool complete) {
  complete_ = complete;
  make_dirs(state_dir());
  json objs = json::array();
  for (auto& o : objects_) objs.push_back(to_json(o));
  json head = {{"version", 1}, {"lab", lab_}, {"complete", complete}, {"objects", objs}};
  std::string text = head.dump(1);
  text.insert(text.size() - 1, fmt::format(",\n \"spec\": {}\n", spec_));  // the spec is kept as text
  const std::string path = path_for(lab_, ".json");
  const std::string tmp = path + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw_errno(fmt::format("cannot write {}", tmp));
    write_all(fd.get(), text + "\n", tmp);
    if (::fsync(fd.get()) != 0) throw_errno(fmt::format("cannot sync {}", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno(fmt::format("cannot replace {}", path));
  // Everything the journal said is now in NAME.json; a fresh journal continues from here.
  const std::string jpath = path_for(lab_, ".journal");
  journal_.reset(::open(jpath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  if (!journal_) throw_errno(fmt::format("cannot open {}", jpath));
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

int Record::intent(const Object& o) {
  int i = find(o);
  if (i >= 0) return i;
  add(o);
  objects_.back().done = false;
  append({{"intent", to_json(o)}});
  return static_cast<int>(objects_.size() - 1);
}

void Record::done(int index) {
  objects_[static_cast<size_t>(index)].done = true;
  append({{"done", index}});
}

void Record::forget(const std::vector<int>& indexes) {
  std::vector<bool> drop(objects_.size(), false);
  for (int i : indexes) drop[static_cast<size_t>(i)] = true;
  std::vector<Object> all = std::move(objects_);
  objects_.clear();
  index_.clear();
  for (size_t i = 0; i < all.size(); ++i)
    if (!drop[i]) add(all[i]);
  save(false);
}

void Record::erase() {
  journal_.reset();
  ::unlink(path_for(lab_, ".journal").c_str());
  if (::unlink(path_for(lab_, ".json").c_str()) != 0 && errno != ENOENT)
    throw_errno(fmt::format("cannot remove the state record of lab '{}'", lab_));
  // The lock file goes too (a lab that is down leaves nothing). A run waiting on the old lock file gets
  // it after us and finds no record, which is the state we just made.
  ::unlink(path_for(lab_, ".lock").c_str());
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
