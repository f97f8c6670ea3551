// A client of etcd's v3 API (etcd 3.4), through its JSON gateway (/v3/...) over HTTP(S) with libcurl.
// libcurl.so.4 is dlopen()ed on first use, so the CNI plugins (the same binary) never load it.
//
// Why the gateway and not gRPC: the agent's traffic is a handful of small requests per change; the gateway needs
// one C library with TLS and failover built in (libcurl), no generated code and no C++ gRPC runtime in a binary that
// is also exec'd for every container. Streams (watch, lease keep-alive) are the gateway's newline-delimited JSON.
//
// Keys and values are bytes (the gateway carries them base64-encoded); int64 fields arrive as JSON strings.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace ctnet::etcd {

struct Options {
  std::vector<std::string> endpoints;    // "http://10.0.0.1:2379", "https://..." ; tried in order, failing over
  std::string ca_file, cert_file, key_file;   // TLS: the CA to trust, the client certificate and key (PEM)
  std::chrono::milliseconds timeout{3000};    // per request (connect + answer); streams: connect + first answer
  // How long watch() keeps trying to (re)open its stream, round after round over the endpoints, before it throws
  // Unavailable: etcd restarting must not end the watch.
  std::chrono::milliseconds watch_reconnect{30000};
};

// No endpoint answered (each endpoint's reason in the message). The caller decides whether to retry. A request
// whose connection broke or timed out after it was sent is retried on the next endpoint like one that never
// connected, so a put or txn may have been applied once even when an error or another endpoint's answer follows.
class Unavailable : public Error {
 public:
  using Error::Error;
};
// etcd answered with an error (its gRPC code and message), e.g. a lease that does not exist. Never retried.
class Refused : public Error {
 public:
  Refused(int code, std::string message);  // message: what was asked and etcd's text
  int code() const { return code_; }
 private:
  int code_;
};
// A watch's start revision was compacted away: read the state again and watch from the new revision.
class Compacted : public Error {
 public:
  explicit Compacted(int64_t compact_revision);
  int64_t compact_revision() const { return rev_; }
 private:
  int64_t rev_;
};

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct Range {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;   // the store's revision when read (watch from revision + 1)
};

struct Compare {
  enum class Target { version, create_revision, mod_revision, value, lease };
  enum class Op { equal, not_equal, greater, less };
  std::string key;
  Target target = Target::version;
  Op op = Op::equal;
  int64_t number = 0;     // version / revisions / lease
  std::string value;      // Target::value
};

struct Request {          // one operation of a transaction
  enum class Type { put, del, get };
  Type type = Type::get;
  std::string key, value;
  int64_t lease = 0;
  bool prefix = false;    // del/get: every key with this prefix
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<Range> gets;  // the results of the get requests of the branch that ran, in order
};

struct Event {
  enum class Type { put, del };
  Type type = Type::put;
  KeyValue kv;              // for del: key and mod_revision only
};

class Client {
 public:
  explicit Client(Options o);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Range get(const std::string& key);
  Range get_prefix(const std::string& prefix);
  int64_t put(const std::string& key, const std::string& value, int64_t lease = 0);  // the new revision
  int64_t del(const std::string& key, bool prefix = false);                             // keys deleted
  TxnResult txn(const std::vector<Compare>& compare, const std::vector<Request>& success,
                const std::vector<Request>& failure = {});

  int64_t grant(int64_t ttl_seconds);          // a new lease's ID
  // Refreshes the lease once; its TTL now. Throws Refused (code 5, NOT_FOUND) when the lease is gone.
  int64_t keep_alive(int64_t lease);
  void revoke(int64_t lease);                  // the keys attached to it go; a lease already gone is fine
  int64_t time_to_live(int64_t lease);         // remaining seconds; -1 when the lease does not exist

  // Watches every key under `prefix` from `start_revision` (0: from now), calling `on_events` with each batch of
  // events and the revision the watcher has seen everything up to (the batch's last mod_revision: a batch never
  // splits a revision); returns when `stop` becomes true (looked at every 100 ms) or on_events returns false.
  // Throws Compacted when start_revision is no longer in the store, Unavailable when the stream cannot be
  // (re)opened within Options::watch_reconnect, Refused when etcd refuses the watch. A broken stream is reopened
  // (the same endpoint first, then the next ones) from the last revision seen + 1, so no event is missed or
  // repeated. Exceptions of on_events end the watch and reach the caller.
  void watch(const std::string& prefix, int64_t start_revision,
             const std::function<bool(const std::vector<Event>&, int64_t revision)>& on_events,
             const std::atomic<bool>& stop);

  // The endpoint that answered last (for status output); the first one before any answer.
  const std::string& endpoint() const;
  // HTTP requests sent so far (every attempt, every watch stream opened): what this client costs etcd.
  uint64_t requests() const;

 private:
  struct Impl;
  Impl* impl_;
};

// The range_end that makes a range [prefix, range_end) every key starting with `prefix`: its last byte below 0xff
// incremented, what follows dropped ("a/b" -> "a/c", "a\xff" -> "b"); "\0" (every key >= prefix) when there is none,
// also for "" (every key).
std::string prefix_end(const std::string& prefix);

}  // namespace ctnet::etcd
