// Sysctls are per network namespace for net.*: the value seen through /proc/sys depends on the namespace of
// the thread that opens the file, so these open it from inside the namespace (NsGuard) and then use the fd.
#pragma once
#include <optional>
#include <string>

namespace ctnet {
class NetNs;

// key: "net.ipv4.ip_forward" or "net/ipv4/conf/veth1.10/rp_filter" (slashes keep dots in interface names).
std::string sysctl_path(const std::string& key);
std::optional<std::string> read_sysctl(const std::string& key, const NetNs* ns = nullptr);
void write_sysctl(const std::string& key, const std::string& value, const NetNs* ns = nullptr);

}  // namespace ctnet
