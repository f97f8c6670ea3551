// IPv4/IPv6 addresses, prefixes (CIDR) and MAC addresses: parsing with field-naming errors, printing, and the
// address arithmetic that allocation needs (n-th host of a subnet, next address, containment).
#pragma once
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ctnet {

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress v4(uint32_t host_order);
  static IpAddress from_bytes(int family, const void* bytes);  // network order, 4 or 16 bytes
  static std::optional<IpAddress> try_parse(std::string_view text);
  static IpAddress parse(std::string_view text, std::string_view field);  // throws InvalidInput

  int family() const { return family_; }
  bool is_v4() const { return family_ == AF_INET; }
  bool is_v6() const { return family_ == AF_INET6; }
  size_t size() const { return is_v4() ? 4 : 16; }  // bytes on the wire
  const uint8_t* data() const { return bytes_.data(); }
  std::string str() const;
  bool is_unspecified() const;

  // Address + n (n may be negative); wraps within the family's space.
  IpAddress plus(int64_t n) const;
  // this - other as a signed count (only meaningful within one /64 or smaller).
  int64_t minus(const IpAddress& other) const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  int family_ = 0;
  std::array<uint8_t, 16> bytes_{};
};

// An address with a prefix length: "10.0.0.1/24". The address part keeps its host bits (it is an interface
// address); network() clears them.
class Prefix {
 public:
  Prefix() = default;
  Prefix(IpAddress addr, int len);
  static std::optional<Prefix> try_parse(std::string_view text);
  static Prefix parse(std::string_view text, std::string_view field);  // throws InvalidInput

  const IpAddress& address() const { return addr_; }
  int length() const { return len_; }
  int family() const { return addr_.family(); }
  int max_length() const { return addr_.is_v4() ? 32 : 128; }
  std::string str() const;

  Prefix network() const;                   // host bits cleared
  IpAddress first() const;                  // the network address
  IpAddress last() const;                   // broadcast (v4) / last address
  bool contains(const IpAddress& a) const;
  bool contains(const Prefix& p) const;     // p lies wholly inside
  bool overlaps(const Prefix& p) const;
  // The n-th address of the network (n = 1 is the first host), as an interface address with this length.
  Prefix host(int64_t n) const;
  // Number of host addresses usable by interfaces (excludes network and v4 broadcast); capped at 2^62.
  int64_t host_count() const;

  auto operator<=>(const Prefix&) const = default;

 private:
  IpAddress addr_;
  int len_ = 0;
};

struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  static std::optional<MacAddress> try_parse(std::string_view text);
  static MacAddress parse(std::string_view text, std::string_view field);
  // A locally administered unicast address derived from a seed (stable across runs for the same seed).
  static MacAddress derived(std::string_view seed);
  std::string str() const;
  auto operator<=>(const MacAddress&) const = default;
};

}  // namespace ctnet
