#include "util/names.h"

#include <fmt/format.h>

#include <cctype>

#include "util/error.h"

namespace ctnet {
namespace {
constexpr size_t kMaxIfname = 15;  // IFNAMSIZ (16) minus the terminating NUL

std::string ifname_problem(std::string_view name) {
  if (name.empty()) return "interface name is empty";
  if (name.size() > kMaxIfname)
    return fmt::format("interface name '{}' is {} bytes; the kernel allows at most {}", name, name.size(), kMaxIfname);
  if (name == "." || name == "..") return fmt::format("'{}' is not a valid interface name", name);
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || std::isspace(c) || c < 0x20 || c == 0x7f)
      return fmt::format("interface name '{}' contains a forbidden character ('/', ':', whitespace or control)", name);
  }
  return {};
}

std::string identifier_problem(std::string_view v, size_t max_len, std::string_view what) {
  if (v.empty()) return fmt::format("{} is empty", what);
  if (v.size() > max_len) return fmt::format("{} '{}' is longer than {} bytes", what, v, max_len);
  if (v == "." || v == "..") return fmt::format("'{}' is not a valid {}", v, what);
  for (unsigned char c : v) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
      return fmt::format("{} '{}' may contain only letters, digits, '.', '_' and '-'", what, v);
  }
  return {};
}
}  // namespace

bool is_valid_ifname(std::string_view name) { return ifname_problem(name).empty(); }

void validate_ifname(std::string_view name, std::string_view field) {
  if (auto p = ifname_problem(name); !p.empty()) throw InvalidInput(std::string(field), p);
}

void validate_netns_name(std::string_view name, std::string_view field) {
  if (auto p = identifier_problem(name, 64, "namespace name"); !p.empty()) throw InvalidInput(std::string(field), p);
}

void validate_existing_netns_name(std::string_view name, std::string_view field) {
  std::string p;
  if (name.empty()) p = "namespace name is empty";
  else if (name.size() > 255) p = fmt::format("namespace name '{}' is {} bytes; at most 255", name, name.size());
  else if (name == "." || name == "..") p = fmt::format("'{}' is not a namespace name", name);
  else if (name.find('/') != std::string_view::npos) p = fmt::format("namespace name '{}' contains '/'", name);
  else if (name.find('\0') != std::string_view::npos) p = "namespace name contains a NUL byte";
  if (!p.empty()) throw InvalidInput(std::string(field), p);
}

std::string mtu_problem(int64_t mtu, bool carries_ipv6) {
  if (mtu < kMinMtu || mtu > kMaxMtu) return fmt::format("{} is not an MTU between {} and {}", mtu, kMinMtu, kMaxMtu);
  if (carries_ipv6 && mtu < kMinMtuIpv6)
    return fmt::format("{} is below {}, the least MTU of a link with IPv6 addresses", mtu, kMinMtuIpv6);
  return {};
}

void validate_mtu(int64_t mtu, std::string_view field, bool carries_ipv6) {
  if (auto p = mtu_problem(mtu, carries_ipv6); !p.empty()) throw InvalidInput(std::string(field), p);
}

void validate_identifier(std::string_view value, std::string_view field, size_t max_len) {
  if (auto p = identifier_problem(value, max_len, "identifier"); !p.empty()) throw InvalidInput(std::string(field), p);
}

}  // namespace ctnet
