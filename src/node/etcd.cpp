// etcd's v3 JSON gateway (3.4), the paths of etcdserverpb/rpc.proto's google.api.http options. 3.4 serves the
// lease calls under /v3/lease/ (revoke and timetolive also under their older /v3/kv/lease/ names).
#include "node/etcd.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "node/etcd_json.h"
#include "node/http.h"
#include "util/names.h"

namespace ctnet::etcd {

using nlohmann::json;
using namespace std::chrono_literals;

Refused::Refused(int code, std::string message)
    : Error(fmt::format("{} (etcd code {})", message, code)), code_(code) {}

Compacted::Compacted(int64_t compact_revision)
    : Error(fmt::format("etcd has compacted the history a watch asked for: it begins at revision {}; read the keys "
                        "again and watch from there",
                        compact_revision)),
      rev_(compact_revision) {}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

namespace {
constexpr int kNotFound = 5;      // gRPC NOT_FOUND: a lease that does not exist
constexpr int kUnavailable = 14;  // gRPC UNAVAILABLE: the member is going away (a stream's end, not a refusal)
constexpr int kUnknown = 2;       // gRPC UNKNOWN
}  // namespace

struct Client::Impl {
  Options o;
  http::Tls tls;
  std::atomic<size_t> current{0};  // the endpoint that answered last: every request starts there
  std::atomic<uint64_t> sent{0};   // HTTP requests made (each attempt, each watch stream opened)

  http::Post post(size_t i, const char* path, const json& body) const {
    return {.url = o.endpoints[i] + path, .body = body.dump(), .tls = &tls, .connect_timeout = o.timeout,
            .total_timeout = o.timeout};
  }

  // etcd's JSON answer (a stream's first message: its "result"); Refused when it carries an error.
  static json answer(const std::string& what, std::string_view text, bool stream) {
    json j = wire::parse(text, what);
    if (auto e = wire::parse_error(j)) throw Refused(e->code, what + ": " + e->message);
    if (!stream) return j;
    auto it = j.find("result");
    return it != j.end() && it->is_object() ? *it : json::object();
  }

  // One request, from the endpoint that answered last on to the next while they cannot be reached or time out.
  // `stream`: the answer is a stream (lease keep-alive); its first message is the answer, then it is closed.
  json call(const std::string& what, const char* path, const json& body, bool stream = false) {
    std::vector<std::string> reasons;
    const size_t n = o.endpoints.size(), start = current.load();
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (start + k) % n;
      http::Post p = post(i, path, body);
      std::string first;
      if (stream)
        p.on_line = [&](std::string_view line) {
          first = line;
          return false;  // one message is the answer
        };
      ++sent;
    http::Answer a = http::post(p);
      std::string failure = a.error;
      if (failure.empty() && a.status / 100 == 2) {
        if (!stream || !first.empty()) {
          current = i;
          return answer(what, stream ? first : a.body, stream);
        }
        failure = "the stream ended without an answer";
      } else if (failure.empty()) {
        auto j = json::parse(a.body, nullptr, false);
        if (j.is_object() && j.contains("error")) {
          current = i;
          answer(what, a.body, false);  // throws Refused
        }
        failure = fmt::format("HTTP {}: {}", a.status, a.body.substr(0, 200));  // not etcd speaking
      }
      reasons.push_back(o.endpoints[i] + ": " + failure);
    }
    throw Unavailable(fmt::format("{}: no etcd endpoint answered ({})", what, fmt::join(reasons, "; ")));
  }
};

Client::Client(Options o) : impl_(nullptr) {
  if (o.endpoints.empty()) throw InvalidInput("endpoints", "no etcd endpoint given");
  for (size_t i = 0; i < o.endpoints.size(); ++i) {
    auto& e = o.endpoints[i];
    if (!e.starts_with("http://") && !e.starts_with("https://"))
      throw InvalidInput(fmt::format("endpoints[{}]", i), fmt::format("'{}' is not an http:// or https:// URL", e));
    while (e.ends_with('/')) e.pop_back();
  }
  for (auto [field, path] : {std::pair{"ca_file", &o.ca_file}, {"cert_file", &o.cert_file}, {"key_file", &o.key_file}})
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0)
      throw InvalidInput(field, fmt::format("cannot read {}: {}", *path, std::strerror(errno)));
  if (o.timeout <= 0ms) throw InvalidInput("timeout", "must be more than 0 ms");
  impl_ = new Impl{.o = std::move(o)};
  impl_->tls = {impl_->o.ca_file, impl_->o.cert_file, impl_->o.key_file};
}

Client::~Client() { delete impl_; }

const std::string& Client::endpoint() const { return impl_->o.endpoints[impl_->current.load()]; }

uint64_t Client::requests() const { return impl_->sent.load(); }

Range Client::get(const std::string& key) {
  return wire::parse_range(impl_->call("etcd get " + printable(key), "/v3/kv/range", wire::range_request(key, "")));
}

Range Client::get_prefix(const std::string& prefix) {
  return wire::parse_range(impl_->call("etcd get of the prefix " + printable(prefix), "/v3/kv/range",
                                       wire::range_request(prefix, prefix_end(prefix))));
}

int64_t Client::put(const std::string& key, const std::string& value, int64_t lease) {
  return wire::header_revision(
      impl_->call("etcd put " + printable(key), "/v3/kv/put", wire::put_request(key, value, lease)));
}

int64_t Client::del(const std::string& key, bool prefix) {
  auto r = impl_->call(fmt::format("etcd delete {}{}", prefix ? "of the prefix " : "", printable(key)),
                       "/v3/kv/deleterange", wire::delete_request(key, prefix ? prefix_end(key) : ""));
  return wire::int_field(r, "deleted");
}

TxnResult Client::txn(const std::vector<Compare>& compare, const std::vector<Request>& success,
                      const std::vector<Request>& failure) {
  return wire::parse_txn(impl_->call("etcd transaction", "/v3/kv/txn", wire::txn_request(compare, success, failure)));
}

int64_t Client::grant(int64_t ttl_seconds) {
  auto r = impl_->call(fmt::format("etcd lease grant (TTL {} s)", ttl_seconds), "/v3/lease/grant",
                       {{"TTL", std::to_string(ttl_seconds)}});
  return wire::int_field(r, "ID");
}

int64_t Client::keep_alive(int64_t lease) {
  const std::string what = fmt::format("etcd keep-alive of lease {}", lease);
  // The gateway's keep-alive is a stream: one request in the body, its one answer read, the stream closed.
  const int64_t ttl = wire::int_field(impl_->call(what, "/v3/lease/keepalive", wire::lease_request(lease), true), "TTL");
  if (ttl <= 0) throw Refused(kNotFound, what + ": lease not found");  // etcd answers TTL 0 for a lease gone
  return ttl;
}

void Client::revoke(int64_t lease) {
  try {
    impl_->call(fmt::format("etcd revoke of lease {}", lease), "/v3/lease/revoke", wire::lease_request(lease));
  } catch (const Refused& e) {
    if (e.code() != kNotFound) throw;  // already gone: what was asked for
  }
}

int64_t Client::time_to_live(int64_t lease) {
  auto r = impl_->call(fmt::format("etcd time-to-live of lease {}", lease), "/v3/lease/timetolive",
                       wire::lease_request(lease));
  return wire::int_field(r, "TTL");  // etcd says -1 for a lease that does not exist
}

void Client::watch(const std::string& prefix, int64_t start_revision,
                   const std::function<bool(const std::vector<Event>&, int64_t revision)>& on_events,
                   const std::atomic<bool>& stop) {
  Impl& m = *impl_;
  const std::string what = "etcd watch of the prefix " + printable(prefix);
  const std::string range_end = prefix_end(prefix);
  const size_t n = m.o.endpoints.size();
  int64_t next = start_revision;                  // the first revision not delivered yet (<= 0: from now)
  std::vector<std::string> reasons(n);            // each endpoint's last failure since the stream was lost
  auto lost = std::chrono::steady_clock::now();   // since when no stream has been open
  auto pause = 100ms;                             // between rounds over the endpoints, doubling up to 1 s
  size_t failures = 0;                            // attempts since the stream was lost
  auto sleep = [&](std::chrono::milliseconds d) {
    for (auto t = 0ms; t < d && !stop; t += 100ms) std::this_thread::sleep_for(100ms);
  };

  for (size_t i = m.current.load(); !stop;) {
    bool created = false, finished = false;
    std::string stream_error;
    http::Post p = m.post(i, "/v3/watch", wire::watch_request(prefix, range_end, next));
    p.total_timeout = 0ms;               // a stream: no end
    p.first_byte_timeout = m.o.timeout;  // ... but the answer to the create request comes at once
    p.stop = &stop;
    p.on_line = [&](std::string_view line) {
      wire::WatchMessage w = wire::parse_watch(line);
      if (w.error) {
        if (w.error->code != kUnavailable) throw Refused(w.error->code, what + ": " + w.error->message);
        stream_error = w.error->message;  // the member is going away: reopen
        return false;
      }
      if (w.compact_revision > 0) throw Compacted(w.compact_revision);
      if (w.canceled) throw Refused(kUnknown, what + ": etcd canceled it: " + w.cancel_reason);
      if (w.created) {
        created = true;
        m.current = i;
        if (next <= 0) next = w.revision + 1;  // "from now": events after the revision it was created at
        return true;
      }
      if (w.events.empty()) {  // a progress notification: nothing up to its revision is left to come
        next = std::max(next, w.revision + 1);
        return true;
      }
      std::vector<Event> fresh;
      for (auto& e : w.events)
        if (e.kv.mod_revision >= next) fresh.push_back(std::move(e));  // never an event twice
      if (fresh.empty()) return true;
      const int64_t seen = fresh.back().kv.mod_revision;
      next = seen + 1;
      finished = !on_events(fresh, seen);
      return !finished;
    };
    ++m.sent;
    http::Answer a = http::post(p);
    if (finished || stop) return;
    if (created) {  // it was open and broke (etcd stopped, a connection lost): reopen here first, then elsewhere
      lost = std::chrono::steady_clock::now();
      failures = 0;
      pause = 100ms;
      std::ranges::fill(reasons, std::string());
      reasons[i] = "the stream broke: " + (!a.error.empty() ? a.error : !stream_error.empty() ? stream_error : "it ended");
      sleep(100ms);  // a member that breaks each stream at once must not make this a busy loop
      continue;
    }
    std::string failure = !a.error.empty() ? a.error : stream_error;
    if (failure.empty() && a.status / 100 != 2) {
      auto j = json::parse(a.body, nullptr, false);
      if (j.is_object() && j.contains("error")) Impl::answer(what, a.body, false);  // throws Refused
      failure = fmt::format("HTTP {}: {}", a.status, a.body.substr(0, 200));
    }
    reasons[i] = failure.empty() ? "the stream ended before the watch was created" : failure;
    if (std::chrono::steady_clock::now() - lost >= m.o.watch_reconnect) {
      std::vector<std::string> named;
      for (size_t k = 0; k < n; ++k)
        if (!reasons[k].empty()) named.push_back(m.o.endpoints[k] + ": " + reasons[k]);
      throw Unavailable(fmt::format("{}: no etcd endpoint accepted the stream for {} ms ({})", what,
                                    m.o.watch_reconnect.count(), fmt::join(named, "; ")));
    }
    i = (i + 1) % n;
    if (++failures % n == 0) {  // a whole round failed: wait a little before the next
      sleep(pause);
      pause = std::min<std::chrono::milliseconds>(pause * 2, 1000ms);
    }
  }
}

}  // namespace ctnet::etcd
