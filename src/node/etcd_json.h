// The JSON shapes of etcd 3.4's gateway (grpc-gateway over etcdserverpb/rpc.proto, field names as in the .proto):
// bytes are base64, int64 are strings, fields at their default value (0, "", false, PUT) are left out. Kept apart
// from the transport so the unit tests can feed them etcd's own answers.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node/etcd.h"

namespace ctnet::etcd::wire {

using nlohmann::json;

// Requests. range_end "" means the key alone (prefix_end(key) for a prefix).
json range_request(const std::string& key, const std::string& range_end);
json put_request(const std::string& key, const std::string& value, int64_t lease);
json delete_request(const std::string& key, const std::string& range_end);
json txn_request(const std::vector<Compare>& compare, const std::vector<Request>& success,
                 const std::vector<Request>& failure);
json watch_request(const std::string& key, const std::string& range_end, int64_t start_revision);
json lease_request(int64_t id);  // keepalive, revoke, timetolive: {"ID": "..."}

// An int64 field (a string, or a number), 0 when absent. Throws Error when it is neither.
int64_t int_field(const json& obj, std::string_view name);
int64_t header_revision(const json& response);

KeyValue parse_kv(const json& kv);
Range parse_range(const json& response);     // RangeResponse
TxnResult parse_txn(const json& response);   // TxnResponse: the get results of the branch that ran

// The error of an answer: the unary shape {"error": "...", "code": 5, "message": "..."} or a stream's
// {"error": {"grpc_code": 14, "http_code": 503, "message": "...", "http_status": "..."}}; nullopt if none.
struct ErrorBody {
  int code = 2;  // gRPC code (2: UNKNOWN when the answer names none)
  std::string message;
};
std::optional<ErrorBody> parse_error(const json& answer);

// One line of a watch stream: {"result": WatchResponse} or a stream error.
struct WatchMessage {
  bool created = false, canceled = false;
  int64_t revision = 0;          // header.revision
  int64_t compact_revision = 0;  // set (with canceled) when the start revision was compacted
  std::string cancel_reason;
  std::vector<Event> events;
  std::optional<ErrorBody> error;
};
WatchMessage parse_watch(std::string_view line);

// Parses an answer's text; throws Error naming `what` when it is not a JSON object.
json parse(std::string_view text, std::string_view what);

}  // namespace ctnet::etcd::wire
