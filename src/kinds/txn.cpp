#include "kinds/txn.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "util/error.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71  // include/uapi/asm-generic/socket.h (Linux 5.14)
#endif

namespace ctnet::kinds {

using nlohmann::json;

bool NsRef::same(const NsRef& o) const {
  if (cookie && o.cookie) return cookie == o.cookie;
  return dev == o.dev && ino == o.ino;
}

json to_json(const NsRef& r) { return {{"spec", r.spec}, {"dev", r.dev}, {"ino", r.ino}, {"cookie", r.cookie}}; }

NsRef ns_ref_from_json(const json& j) {
  return {j.value("spec", ""), j.value("dev", uint64_t{0}), j.value("ino", uint64_t{0}), j.value("cookie", uint64_t{0})};
}

std::string Made::str() const {
  if (kind == "netns") return "namespace " + name;
  return fmt::format("{} {} in {}", kind, name, ns.label());
}

json to_json(const Made& m) {
  json j = {{"kind", m.kind}, {"ns", to_json(m.ns)}, {"name", m.name}, {"ifindex", m.ifindex}, {"done", m.done}};
  if (!m.saved.empty()) j["saved"] = m.saved;
  return j;
}

Made made_from_json(const json& j) {
  Made m;
  m.kind = j.at("kind").get<std::string>();
  m.ns = ns_ref_from_json(j.at("ns"));
  m.name = j.value("name", "");
  m.ifindex = j.value("ifindex", 0);
  m.done = j.value("done", false);
  if (auto it = j.find("saved"); it != j.end()) m.saved = *it;
  return m;
}

std::string_view to_string(Removal r) {
  switch (r) {
    case Removal::removed: return "removed";
    case Removal::absent: return "absent";
    case Removal::replaced: return "replaced, left alone";
  }
  return "?";
}

namespace {
std::string& host_spec() {
  static std::string spec;
  return spec;
}

NsRef identity(NsSocket& s, const std::string& spec) {
  NsRef r;
  r.spec = spec;
  r.dev = s.ns.dev();  // NetNs read them when it opened the namespace
  r.ino = s.ns.inode();
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(s.rtnl.fd(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0) r.cookie = cookie;
  return r;
}
}  // namespace

NsRef identify(const NetNs& ns, const std::string& spec) {
  NsRef r;
  r.spec = spec;
  r.dev = ns.dev();
  r.ino = ns.inode();
  NsGuard in(ns);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0) r.cookie = cookie;
    ::close(fd);
  }
  return r;
}

void set_host_netns(const std::string& spec) { host_spec() = spec; }
const std::string& host_netns() { return host_spec(); }

Txn::Txn() = default;

Txn::~Txn() {
  if (!committed_) rollback();
}

NsSocket& Txn::keep(NsSocket s, const std::string& spec) {
  socks_.push_back(std::make_unique<NsSocket>(std::move(s)));
  by_spec_[spec] = socks_.back().get();
  spec_of_[socks_.back().get()] = spec;
  return *socks_.back();
}

NsSocket& Txn::host() {
  // The process entered --host-netns already (cli.cpp): the current namespace is the host either way.
  if (auto it = by_spec_.find(""); it != by_spec_.end()) return *it->second;
  return keep(NsSocket::current(), "");
}

NsSocket& Txn::open(const std::string& spec) {
  if (spec.empty() || spec == host_netns()) return host();
  if (auto it = by_spec_.find(spec); it != by_spec_.end()) return *it->second;
  return keep(NsSocket::open(spec), spec);
}

NsSocket& Txn::adopt(NetNs ns, const std::string& spec) {
  if (auto it = by_spec_.find(spec); it != by_spec_.end()) return *it->second;
  return keep(NsSocket::of(std::move(ns)), spec);
}

NsSocket* Txn::reopen(const NsRef& r, bool* replaced) {
  if (replaced) *replaced = false;
  NsSocket* s = nullptr;
  const std::string spec = r.spec == host_netns() ? "" : r.spec;
  try {
    s = &open(spec);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT || e.errnum() == EINVAL) return nullptr;  // gone, or a stale file: not a namespace now
    throw;
  }
  if (!r.dev && !r.ino && !r.cookie) return s;  // an intent recorded before its namespace existed
  if (!ref(*s).same(r)) {
    if (replaced) *replaced = true;
    return nullptr;
  }
  return s;
}

bool Txn::is_host(const NsSocket& s) const {
  auto it = by_spec_.find("");
  return it != by_spec_.end() && it->second == &s;
}

NsRef Txn::ref(NsSocket& s) {
  if (auto it = refs_.find(&s); it != refs_.end()) return it->second;
  auto sp = spec_of_.find(&s);
  if (sp == spec_of_.end()) return identity(s, s.ns.label());  // not one of ours
  return refs_[&s] = identity(s, sp->second.empty() ? host_netns() : sp->second);
}

void Txn::forget(const NsRef& r) {
  const std::string spec = r.spec == host_netns() ? "" : r.spec;
  auto it = by_spec_.find(spec);
  if (it == by_spec_.end()) return;
  NsSocket* p = it->second;
  by_spec_.erase(it);
  spec_of_.erase(p);
  refs_.erase(p);
  std::erase_if(socks_, [p](const auto& s) { return s.get() == p; });
}

size_t Txn::intend(Made m) {
  m.done = false;
  made_.push_back(std::move(m));
  if (journal_) journal_->intent(made_.size() - 1, made_.back());
  return made_.size() - 1;
}

void Txn::done(size_t index, int ifindex) {
  Made& m = made_[index];
  m.done = true;
  if (ifindex) m.ifindex = ifindex;
  if (journal_) journal_->done(index, m);
}

void Txn::discard(size_t index) {
  if (index + 1 != made_.size()) throw Error("internal: only the newest entry of a transaction can be discarded");
  made_.pop_back();
  if (journal_) journal_->discard(index);
}

std::vector<std::string> Txn::rollback() noexcept {
  std::vector<std::string> errors;
  while (!made_.empty()) {
    Made m = std::move(made_.back());
    made_.pop_back();
    try {
      remove(*this, m);
    } catch (const std::exception& e) {
      errors.push_back(fmt::format("cannot remove {}: {}", m.str(), e.what()));
    }
  }
  committed_ = true;
  errors_.insert(errors_.end(), errors.begin(), errors.end());
  return errors;
}

}  // namespace ctnet::kinds
