// The transaction every face runs its kernel work in. It owns one rtnetlink socket per namespace it touches and
// records what it made as data (a `Made` entry: kind, namespace identity, name, ifindex, saved state), never as a
// closure over locals, so no entry can outlive what it refers to. If the transaction is not committed, its
// destructor removes the entries newest first through the kind's own `remove` (the same function CNI DEL,
// topology `down` and the CLI's delete verbs call), keeps going past failures, and keeps their messages.
//
// Identity: a namespace is recorded with its nsfs device+inode and its netns cookie (SO_NETNS_COOKIE, never
// reused while the machine is up; the inode is reused by the kernel), a link with its namespace, ifindex and name.
// A remove touches an object only if it is still the one that was made; otherwise it reports `replaced`.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "ns/ns_socket.h"

namespace ctnet::kinds {

// A network namespace by identity, and how to open it again.
struct NsRef {
  std::string spec;     // a name, a path or pid:N; "" = the namespace ctnet runs in (the host)
  uint64_t dev = 0, ino = 0;
  uint64_t cookie = 0;  // 0 where the kernel lacks SO_NETNS_COOKIE (before 5.14)

  bool same(const NsRef& o) const;  // the same namespace (cookie when both have one, else dev+inode)
  std::string label() const { return spec.empty() ? "host" : spec; }
};
nlohmann::json to_json(const NsRef& r);
NsRef ns_ref_from_json(const nlohmann::json& j);
// The identity of a namespace without keeping a socket in it (the cookie comes from a throwaway AF_UNIX socket,
// freed at once; a closed netlink socket would hold the namespace for another RCU grace period).
NsRef identify(const NetNs& ns, const std::string& spec);

// One object a transaction made (or was about to make: `done` false until the kernel said yes).
struct Made {
  std::string kind;      // the driver that removes it: "netns", "veth", "bridge", "macvlan", "address", ...
  NsRef ns;              // where it lives (netns: the namespace itself)
  std::string name;      // interface name (netns: the namespace name)
  int ifindex = 0;       // 0 when not known yet
  nlohmann::json saved = nlohmann::json::object();  // kind-specific: temporary name, peer, old name, prefix ...
  bool done = false;

  std::string str() const;  // "veth eth0 in ns1"
};
nlohmann::json to_json(const Made& m);
Made made_from_json(const nlohmann::json& j);

enum class Removal { removed, absent, replaced };
std::string_view to_string(Removal r);

// A state record that wants every step before it happens (the topology journal: intent first, so `down` works
// after kill -9 at any point).
class Journal {
 public:
  virtual ~Journal() = default;
  virtual void intent(size_t index, const Made& m) = 0;
  virtual void done(size_t index, const Made& m) = 0;
  virtual void discard(size_t index) = 0;  // the kernel refused: nothing was made
};

class Txn {
 public:
  Txn();
  ~Txn();  // rolls back unless committed
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // Sockets, opened once per namespace and kept for the transaction's life.
  NsSocket& host();                        // the namespace ctnet runs in (`--host-netns` makes it a named one)
  NsSocket& open(const std::string& spec); // by name, path or pid:N (throws when it does not exist)
  NsSocket& adopt(NetNs ns, const std::string& spec);  // a namespace just created or opened by the caller
  // A recorded namespace, if it still exists and is still the same one; nullptr when it is gone; `*replaced`
  // is set when the name now leads to another namespace.
  NsSocket* reopen(const NsRef& r, bool* replaced = nullptr);
  NsRef ref(NsSocket& s);                  // the identity of a socket's namespace
  // Whether `s` is the host's socket: the namespace this thread is in (it needs no switch to act there).
  bool is_host(const NsSocket& s) const;
  void forget(const NsRef& r);             // close our socket in it (a namespace is freed only when unused)

  // Recording. `intend` before the kernel call (returns the entry's index), `done` after it.
  size_t intend(Made m);
  void done(size_t index, int ifindex = 0);
  // Drops the newest entry without removing anything (the kernel refused to make it, or it was someone else's).
  void discard(size_t index);
  // intend + the kernel call that creates the object; if that call throws, the entry is discarded (nothing was
  // made, and a rollback must not remove a same-named object of someone else's). The caller then calls done().
  template <class Create>
  size_t make(Made m, Create&& create) {
    size_t i = intend(std::move(m));
    try {
      create();
    } catch (...) {
      discard(i);
      throw;
    }
    return i;
  }
  const std::vector<Made>& made() const { return made_; }
  Made& entry(size_t index) { return made_[index]; }
  void set_journal(Journal* j) { journal_ = j; }

  void commit() { committed_ = true; }
  // Removes every entry, newest first; returns one message per failure (also kept in rollback_errors()).
  std::vector<std::string> rollback() noexcept;
  const std::vector<std::string>& rollback_errors() const { return errors_; }

 private:
  NsSocket& keep(NsSocket s, const std::string& spec);
  std::vector<std::unique_ptr<NsSocket>> socks_;
  std::map<std::string, NsSocket*> by_spec_;
  std::unordered_map<const NsSocket*, std::string> spec_of_;  // the reverse of by_spec_
  std::unordered_map<const NsSocket*, NsRef> refs_;           // identities, asked once per socket
  std::vector<Made> made_;
  std::vector<std::string> errors_;
  Journal* journal_ = nullptr;
  bool committed_ = false;
};

// The remove function of a kind: idempotent, works from the record alone (also when the namespace is gone).
using RemoveFn = Removal (*)(Txn&, const Made&);
// Kinds defined above the engine (a CNI plugin's IPAM lease, a lab's process...) register theirs at start-up.
// `kind` is kept by reference: a string literal.
void define_kind(std::string_view kind, RemoveFn fn);
// Removes one recorded object through its kind's driver; throws Error on failure.
Removal remove(Txn& txn, const Made& m);

// The namespace ctnet treats as the host: "" (the one it runs in), or the name given with --host-netns, so that
// records made there name it and a later run without the option still finds it.
void set_host_netns(const std::string& spec);
const std::string& host_netns();

}  // namespace ctnet::kinds

namespace ctnet::kinds {

// What `inspect` found for a spec: present as specified, missing, or present but different (and how).
struct Inspection {
  enum class State { present, missing, differs } state = State::missing;
  std::vector<std::string> differences;  // "is down", "mtu 1400 (want 1500)", ...
  int ifindex = 0;

  static Inspection missing() { return {}; }
  static Inspection of(int ifindex, std::vector<std::string> differences) {
    return {differences.empty() ? State::present : State::differs, std::move(differences), ifindex};
  }
  bool present() const { return state != State::missing; }
  bool ok() const { return state == State::present; }
};

}  // namespace ctnet::kinds
