#include "util/ip.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "util/error.h"

namespace ctnet {

IpAddress IpAddress::v4(uint32_t host_order) {
  uint32_t be = htonl(host_order);
  return from_bytes(AF_INET, &be);
}

IpAddress IpAddress::from_bytes(int family, const void* bytes) {
  IpAddress a;
  a.family_ = family;
  std::memcpy(a.bytes_.data(), bytes, family == AF_INET ? 4 : 16);
  return a;
}

std::optional<IpAddress> IpAddress::try_parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = AF_INET6;
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::parse(std::string_view text, std::string_view field) {
  if (auto a = try_parse(text)) return *a;
  throw InvalidInput(std::string(field), fmt::format("'{}' is not an IPv4 or IPv6 address", text));
}

std::string IpAddress::str() const {
  if (!family_) return "<none>";
  char buf[INET6_ADDRSTRLEN];
  if (family_ == AF_INET) {  // by hand: inet_ntop formats through sprintf, a large part of libc to page in
    char* p = buf;
    for (size_t i = 0; i < 4; ++i) {
      if (i) *p++ = '.';
      p = std::to_chars(p, buf + sizeof buf, bytes_[i]).ptr;
    }
    return std::string(buf, p);
  }
  inet_ntop(family_, bytes_.data(), buf, sizeof buf);
  return buf;
}

bool IpAddress::is_unspecified() const {
  for (size_t i = 0; i < size(); ++i)
    if (bytes_[i]) return false;
  return true;
}

IpAddress IpAddress::plus(int64_t n) const {
  IpAddress r = *this;
  // Big-endian add of a signed 64-bit value over 4 or 16 bytes.
  int i = static_cast<int>(size()) - 1;
  __int128 carry = n;
  while (i >= 0 && carry != 0) {
    __int128 v = r.bytes_[i] + carry;
    r.bytes_[i] = static_cast<uint8_t>(v & 0xff);
    carry = (v - (v & 0xff)) / 256;  // floor division keeps borrows right for negatives
    --i;
  }
  return r;
}

int64_t IpAddress::minus(const IpAddress& other) const {
  __int128 a = 0, b = 0;
  size_t start = size() == 16 ? 8 : 0;  // low 64 bits suffice for the ranges we count in
  for (size_t i = start; i < size(); ++i) {
    a = a * 256 + bytes_[i];
    b = b * 256 + other.bytes_[i];
  }
  return static_cast<int64_t>(a - b);
}

Prefix::Prefix(IpAddress addr, int len) : addr_(addr), len_(len) {}

std::optional<Prefix> Prefix::try_parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = IpAddress::try_parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  auto lentext = text.substr(slash + 1);
  int len = -1;
  auto [p, ec] = std::from_chars(lentext.data(), lentext.data() + lentext.size(), len);
  if (ec != std::errc() || p != lentext.data() + lentext.size() || lentext.empty()) return std::nullopt;
  if (len < 0 || len > (addr->is_v4() ? 32 : 128)) return std::nullopt;
  return Prefix(*addr, len);
}

Prefix Prefix::parse(std::string_view text, std::string_view field) {
  if (auto p = try_parse(text)) return *p;
  throw InvalidInput(std::string(field),
                     fmt::format("'{}' is not a CIDR (expected ADDRESS/LENGTH, e.g. 10.0.0.1/24 or fd00::1/64)", text));
}

std::string Prefix::str() const { return addr_.str() + "/" + std::to_string(len_); }

Prefix Prefix::network() const {
  uint8_t b[16];
  std::memcpy(b, addr_.data(), addr_.size());
  for (int i = 0; i < static_cast<int>(addr_.size()); ++i) {
    int bits = len_ - i * 8;
    if (bits >= 8) continue;
    b[i] &= bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
  }
  return Prefix(IpAddress::from_bytes(addr_.family(), b), len_);
}

IpAddress Prefix::first() const { return network().address(); }

IpAddress Prefix::last() const {
  uint8_t b[16];
  std::memcpy(b, first().data(), addr_.size());
  for (int i = 0; i < static_cast<int>(addr_.size()); ++i) {
    int bits = len_ - i * 8;
    if (bits >= 8) continue;
    b[i] |= bits <= 0 ? 0xff : static_cast<uint8_t>(0xff >> bits);
  }
  return IpAddress::from_bytes(addr_.family(), b);
}

bool Prefix::contains(const IpAddress& a) const {
  return a.family() == family() && Prefix(a, len_).network().address() == first();
}

bool Prefix::contains(const Prefix& p) const { return p.length() >= len_ && contains(p.address()); }

bool Prefix::overlaps(const Prefix& p) const { return contains(p.first()) || p.contains(first()); }

Prefix Prefix::host(int64_t n) const { return Prefix(first().plus(n), len_); }

int64_t Prefix::host_count() const {
  int host_bits = max_length() - len_;
  if (host_bits >= 62) return int64_t(1) << 62;
  int64_t n = int64_t(1) << host_bits;
  if (addr_.is_v4()) return host_bits >= 2 ? n - 2 : n;  // /31 and /32 have no network/broadcast (RFC 3021)
  return n - 1;                                          // v6: skip the subnet-router anycast address
}

std::optional<MacAddress> MacAddress::try_parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress m;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    auto part = text.substr(i * 3, 2);
    auto [p, ec] = std::from_chars(part.data(), part.data() + 2, m.bytes[i], 16);
    if (ec != std::errc() || p != part.data() + 2) return std::nullopt;
  }
  return m;
}

MacAddress MacAddress::parse(std::string_view text, std::string_view field) {
  if (auto m = try_parse(text)) return *m;
  throw InvalidInput(std::string(field), fmt::format("'{}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)", text));
}

MacAddress MacAddress::derived(std::string_view seed) {
  // FNV-1a over the seed; the first byte is made locally administered (bit 1) and unicast (bit 0 clear).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : seed) h = (h ^ c) * 1099511628211ull;
  MacAddress m;
  for (int i = 0; i < 6; ++i) m.bytes[i] = static_cast<uint8_t>(h >> (i * 8));
  m.bytes[0] = static_cast<uint8_t>((m.bytes[0] & 0xfc) | 0x02);
  return m;
}

std::string MacAddress::str() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                     bytes[5]);
}

}  // namespace ctnet
