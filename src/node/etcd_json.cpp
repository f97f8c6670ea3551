#include "node/etcd_json.h"

#include <fmt/format.h>

#include <charconv>

#include "util/base64.h"
#include "util/error.h"

namespace ctnet::etcd::wire {
namespace {

[[noreturn]] void unexpected(std::string_view what) { throw Error(fmt::format("unexpected answer from etcd: {}", what)); }

std::string b64(const std::string& s) { return base64_encode(s); }
std::string num(int64_t v) { return std::to_string(v); }  // int64 travel as JSON strings

std::string bytes_field(const json& obj, std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) unexpected(fmt::format("{} is not a string", name));
  try {
    return base64_decode(it->get_ref<const std::string&>(), name);
  } catch (const InvalidInput& e) {
    unexpected(e.what());
  }
}

const json& object_field(const json& obj, std::string_view name) {
  static const json empty = json::object();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return empty;
  if (!it->is_object()) unexpected(fmt::format("{} is not an object", name));
  return *it;
}

const json& array_field(const json& obj, std::string_view name) {
  static const json empty = json::array();
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return empty;
  if (!it->is_array()) unexpected(fmt::format("{} is not an array", name));
  return *it;
}

bool bool_field(const json& obj, std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) unexpected(fmt::format("{} is not true or false", name));
  return it->get<bool>();
}

json request_op(const Request& r) {
  const std::string range_end = r.prefix ? prefix_end(r.key) : std::string();
  switch (r.type) {
    case Request::Type::put:
      return {{"request_put", put_request(r.key, r.value, r.lease)}};
    case Request::Type::del:
      return {{"request_delete_range", delete_request(r.key, range_end)}};
    case Request::Type::get:
      break;
  }
  return {{"request_range", range_request(r.key, range_end)}};
}

json compare_op(const Compare& c) {
  static constexpr const char* kResult[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};  // Compare::Op's order
  json j = {{"key", b64(c.key)}, {"result", kResult[static_cast<int>(c.op)]}};
  switch (c.target) {
    case Compare::Target::version:
      j["target"] = "VERSION", j["version"] = num(c.number);
      break;
    case Compare::Target::create_revision:
      j["target"] = "CREATE", j["create_revision"] = num(c.number);
      break;
    case Compare::Target::mod_revision:
      j["target"] = "MOD", j["mod_revision"] = num(c.number);
      break;
    case Compare::Target::value:
      j["target"] = "VALUE", j["value"] = b64(c.value);
      break;
    case Compare::Target::lease:
      j["target"] = "LEASE", j["lease"] = num(c.number);
      break;
  }
  return j;
}

}  // namespace

json parse(std::string_view text, std::string_view what) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    unexpected(fmt::format("{} is not a JSON object: {}", what, text.substr(0, 200)));
  return j;
}

json range_request(const std::string& key, const std::string& range_end) {
  // etcd refuses an empty key; a range from "\0" is every key from the first (what etcd's own client sends).
  json j = {{"key", b64(key.empty() && !range_end.empty() ? std::string(1, '\0') : key)}};
  if (!range_end.empty()) j["range_end"] = b64(range_end);
  return j;
}

json put_request(const std::string& key, const std::string& value, int64_t lease) {
  json j = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease) j["lease"] = num(lease);
  return j;
}

json delete_request(const std::string& key, const std::string& range_end) { return range_request(key, range_end); }

json txn_request(const std::vector<Compare>& compare, const std::vector<Request>& success,
                 const std::vector<Request>& failure) {
  json j = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : compare) j["compare"].push_back(compare_op(c));
  for (const auto& r : success) j["success"].push_back(request_op(r));
  for (const auto& r : failure) j["failure"].push_back(request_op(r));
  return j;
}

json watch_request(const std::string& key, const std::string& range_end, int64_t start_revision) {
  json c = range_request(key, range_end);
  if (start_revision > 0) c["start_revision"] = num(start_revision);
  c["progress_notify"] = true;  // an idle stream still brings the revision forward (at etcd's interval)
  return {{"create_request", c}};
}

json lease_request(int64_t id) { return {{"ID", num(id)}}; }

int64_t int_field(const json& obj, std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
  }
  unexpected(fmt::format("{} is not an integer: {}", name, it->dump()));
}

int64_t header_revision(const json& response) { return int_field(object_field(response, "header"), "revision"); }

KeyValue parse_kv(const json& kv) {
  if (!kv.is_object()) unexpected("a key-value is not an object");
  return {.key = bytes_field(kv, "key"),
          .value = bytes_field(kv, "value"),
          .create_revision = int_field(kv, "create_revision"),
          .mod_revision = int_field(kv, "mod_revision"),
          .version = int_field(kv, "version"),
          .lease = int_field(kv, "lease")};
}

Range parse_range(const json& response) {
  Range r{.revision = header_revision(response)};
  for (const auto& kv : array_field(response, "kvs")) r.kvs.push_back(parse_kv(kv));
  return r;
}

TxnResult parse_txn(const json& response) {
  TxnResult t{.succeeded = bool_field(response, "succeeded"), .revision = header_revision(response)};
  for (const auto& op : array_field(response, "responses")) {
    if (!op.is_object()) unexpected("a transaction response is not an object");
    if (!op.contains("response_range")) continue;
    Range g = parse_range(object_field(op, "response_range"));
    g.revision = t.revision;  // one transaction, one revision
    t.gets.push_back(std::move(g));
  }
  return t;
}

std::optional<ErrorBody> parse_error(const json& answer) {
  auto it = answer.find("error");
  if (it == answer.end() || it->is_null()) return std::nullopt;
  ErrorBody e;
  const json& src = it->is_object() ? *it : answer;  // a stream's error object, or the unary answer itself
  const char* code = it->is_object() ? "grpc_code" : "code";
  if (src.contains(code) && src[code].is_number_integer()) e.code = src[code].get<int>();
  if (src.contains("message") && src["message"].is_string()) e.message = src["message"].get<std::string>();
  if (e.message.empty() && it->is_string()) e.message = it->get<std::string>();
  if (e.message.empty()) e.message = it->dump();
  return e;
}

WatchMessage parse_watch(std::string_view line) {
  const json j = parse(line, "a watch message");
  WatchMessage m;
  if ((m.error = parse_error(j))) return m;
  const json& r = object_field(j, "result");
  m.revision = header_revision(r);
  m.created = bool_field(r, "created");
  m.canceled = bool_field(r, "canceled");
  m.compact_revision = int_field(r, "compact_revision");
  if (auto it = r.find("cancel_reason"); it != r.end() && it->is_string()) m.cancel_reason = it->get<std::string>();
  for (const auto& ev : array_field(r, "events")) {
    if (!ev.is_object()) unexpected("a watch event is not an object");
    Event e;
    auto type = ev.find("type");  // absent: PUT (0), the default
    if (type != ev.end() && (*type == "DELETE" || *type == 1)) e.type = Event::Type::del;
    e.kv = parse_kv(object_field(ev, "kv"));
    m.events.push_back(std::move(e));
  }
  return m;
}

}  // namespace ctnet::etcd::wire
