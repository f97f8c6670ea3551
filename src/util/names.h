// Validation of every name (and MTU) that reaches the kernel or the file system. Each check throws InvalidInput
// naming the field, so callers validate a whole input before touching anything.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ctnet {

// Linux interface names: 1..15 bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':' or whitespace
// (see dev_valid_name() in net/core/dev.c; ':' is refused by us because it marks legacy alias labels), no '%'
// (the kernel takes "eth%d" as a template and makes eth0, eth1 ..., net/core/dev.c: dev_alloc_name), and valid
// UTF-8 (the name reaches JSON results and messages).
void validate_ifname(std::string_view name, std::string_view field);
bool is_valid_ifname(std::string_view name);

// Named network namespaces live as files under /run/netns. ctnet creates them with a single path component of
// [A-Za-z0-9._-], at most 64 bytes, not "." or "..".
void validate_netns_name(std::string_view name, std::string_view field);
// A namespace that exists already may have any name `ip netns add` accepts (ip/ipnetns.c: a basename, so no
// '/', not "." or ".."; at most NAME_MAX = 255 bytes), e.g. "tenant:blue". Used to open, show and delete.
void validate_existing_netns_name(std::string_view name, std::string_view field);

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view s);
// `s` for a message: bytes that are not UTF-8 (and control characters) written as \xNN, so an error about a
// bad name can always be printed and put into JSON.
std::string printable(std::string_view s);
// Throws InvalidInput(field) unless `s` is UTF-8.
void validate_utf8(std::string_view s, std::string_view field);

// MTUs, wherever one is given (CLI flags, topology keys, CNI configs): 68 (the IPv4 minimum, RFC 791) to 65535
// (the largest IP packet; the kernel's ETH_MAX_MTU), and at least 1280 on a link that carries IPv6 addresses
// (RFC 8200: below it the kernel takes IPv6 off the link). 0 is not an MTU: "the default" is an absent option.
inline constexpr int64_t kMinMtu = 68, kMinMtuIpv6 = 1280, kMaxMtu = 65535;
std::string mtu_problem(int64_t mtu, bool carries_ipv6 = false);  // "" when valid
void validate_mtu(int64_t mtu, std::string_view field, bool carries_ipv6 = false);

// Lab, network and container identifiers used in file names of state records and leases: the same alphabet
// as namespace names (no path traversal possible).
void validate_identifier(std::string_view value, std::string_view field, size_t max_len = 128);

}  // namespace ctnet
