// Validation of every name that reaches the kernel or the file system. Each check throws InvalidInput naming
// the field, so callers validate a whole input before touching anything.
#pragma once
#include <string_view>

namespace ctnet {

// Linux interface names: 1..15 bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':' or whitespace
// (see dev_valid_name() in net/core/dev.c; ':' is refused by us because it marks legacy alias labels).
void validate_ifname(std::string_view name, std::string_view field);
bool is_valid_ifname(std::string_view name);

// Named network namespaces live as files under /run/netns. ctnet creates them with a single path component of
// [A-Za-z0-9._-], at most 64 bytes, not "." or "..".
void validate_netns_name(std::string_view name, std::string_view field);
// A namespace that exists already may have any name `ip netns add` accepts (ip/ipnetns.c: a basename, so no
// '/', not "." or ".."; at most NAME_MAX = 255 bytes), e.g. "tenant:blue". Used to open, show and delete.
void validate_existing_netns_name(std::string_view name, std::string_view field);

// Lab, network and container identifiers used in file names of state records and leases: the same alphabet
// as namespace names (no path traversal possible).
void validate_identifier(std::string_view value, std::string_view field, size_t max_len = 128);

}  // namespace ctnet
