#include "util/names.h"

#include <fmt/format.h>

#include <cctype>

#include "util/error.h"

namespace ctnet {
namespace {
constexpr size_t kMaxIfname = 15;  // IFNAMSIZ (16) minus the terminating NUL

std::string ifname_problem(std::string_view raw) {
  if (raw.empty()) return "interface name is empty";
  const std::string name = printable(raw);
  if (!is_utf8(raw)) return fmt::format("interface name '{}' is not UTF-8", name);
  if (raw.size() > kMaxIfname)
    return fmt::format("interface name '{}' is {} bytes; the kernel allows at most {}", name, raw.size(), kMaxIfname);
  if (raw == "." || raw == "..") return fmt::format("'{}' is not a valid interface name", name);
  for (unsigned char c : raw) {
    if (c == '/' || c == ':' || std::isspace(c) || c < 0x20 || c == 0x7f)
      return fmt::format("interface name '{}' contains a forbidden character ('/', ':', whitespace or control)", name);
    if (c == '%') return fmt::format("interface name '{}' contains '%' (the kernel would take it as a name template)", name);
  }
  return {};
}

std::string identifier_problem(std::string_view raw, size_t max_len, std::string_view what) {
  if (raw.empty()) return fmt::format("{} is empty", what);
  const std::string v = printable(raw);
  if (raw.size() > max_len) return fmt::format("{} '{}' is longer than {} bytes", what, v, max_len);
  if (raw == "." || raw == "..") return fmt::format("'{}' is not a valid {}", v, what);
  for (unsigned char c : raw) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
      return fmt::format("{} '{}' may contain only letters, digits, '.', '_' and '-'", what, v);
  }
  return {};
}
}  // namespace

bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return false;  // a continuation byte, or a lead byte of an overlong or out-of-range form
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;
    i += n + 1;
  }
  return true;
}

std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    // The longest UTF-8 sequence starting here (1..4 bytes), else one byte escaped.
    size_t len = 0;
    for (size_t n = 1; n <= 4 && i + n <= s.size(); ++n)
      if (is_utf8(s.substr(i, n))) {
        len = n;
        break;
      }
    const auto c = static_cast<unsigned char>(s[i]);
    if (len == 0 || (len == 1 && (c < 0x20 || c == 0x7f))) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

void validate_utf8(std::string_view s, std::string_view field) {
  if (!is_utf8(s)) throw InvalidInput(std::string(field), fmt::format("'{}' is not UTF-8", printable(s)));
}

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
