// Typed reads of JSON configuration keys (CNI configurations, IPAM). A key of the wrong JSON type throws
// WrongType naming the key's full path ("ipam.ranges[0][1].subnet"); a value of the right type that is not
// acceptable is the caller's InvalidInput (bad_config). The CNI face reports them as codes 6 and 7.
#pragma once
#include <nlohmann/json.hpp>

#include <cctype>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ctnet {

inline std::string join_field(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

[[noreturn]] inline void wrong_type(std::string_view field, std::string_view want) {
  throw WrongType(std::string(field), want);
}

// Present and not null.
inline const nlohmann::json* member(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

inline std::optional<std::string> get_string(const nlohmann::json& obj, std::string_view key, std::string_view parent = {}) {
  const auto* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(join_field(parent, key), "a string");
  return v->get<std::string>();
}

inline bool get_bool(const nlohmann::json& obj, std::string_view key, bool dflt, std::string_view parent = {}) {
  const auto* v = member(obj, key);
  if (!v) return dflt;
  if (!v->is_boolean()) wrong_type(join_field(parent, key), "true or false");
  return v->get<bool>();
}

inline std::optional<int64_t> get_int(const nlohmann::json& obj, std::string_view key, std::string_view parent = {}) {
  const auto* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) wrong_type(join_field(parent, key), "an integer");
  return v->get<int64_t>();
}

inline const nlohmann::json* get_array(const nlohmann::json& obj, std::string_view key, std::string_view parent = {}) {
  const auto* v = member(obj, key);
  if (v && !v->is_array()) wrong_type(join_field(parent, key), "an array");
  return v;
}

inline const nlohmann::json* get_object(const nlohmann::json& obj, std::string_view key, std::string_view parent = {}) {
  const auto* v = member(obj, key);
  if (v && !v->is_object()) wrong_type(join_field(parent, key), "an object");
  return v;
}

// `obj` with each key that equals one of `names` but for case renamed to that spelling. Go's encoding/json
// matches field names case-insensitively, and runtimes written in Go send some values with Go's field names:
// containerd's go-cni passes portMappings as {"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp"}.
inline nlohmann::json go_keys(const nlohmann::json& obj, std::initializer_list<std::string_view> names) {
  if (!obj.is_object()) return obj;
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : obj.items()) {
    std::string key = k;
    for (auto n : names)
      if (lower(k) == lower(n) && !obj.contains(std::string(n))) key = n;
    out[key] = v;
  }
  return out;
}

[[noreturn]] inline void bad_config(std::string_view field, std::string_view problem) {
  throw InvalidInput(std::string(field), std::string(problem));
}

}  // namespace ctnet
