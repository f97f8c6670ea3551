#include "ns/sysctl.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "ns/netns.h"
#include "util/error.h"
#include "util/fault.h"

namespace ctnet {

std::string sysctl_path(const std::string& key) {
  std::string k = key;
  if (k.find('/') == std::string::npos) std::replace(k.begin(), k.end(), '.', '/');
  if (k.find("..") != std::string::npos) throw InvalidInput("sysctl", fmt::format("'{}' is not a sysctl key", key));
  return "/proc/sys/" + k;
}

namespace {
Fd open_in(const std::string& path, int flags, const NetNs* ns) {
  if (!ns) return Fd(::open(path.c_str(), flags | O_CLOEXEC));
  NsGuard guard(*ns);
  return Fd(::open(path.c_str(), flags | O_CLOEXEC));
}
}  // namespace

std::optional<std::string> read_sysctl(const std::string& key, const NetNs* ns) {
  Fd fd = open_in(sysctl_path(key), O_RDONLY, ns);
  if (!fd) return std::nullopt;
  char buf[256];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n < 0) return std::nullopt;
  std::string v(buf, static_cast<size_t>(n));
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

void write_sysctl(const std::string& key, const std::string& value, const NetNs* ns) {
  const std::string where = ns ? fmt::format(" in namespace '{}'", ns->label()) : "";
  if (fault::fail_request())
    throw Error(fmt::format("cannot set sysctl {}={}{}", key, value, where), EIO, fault::request_text());
  Fd fd = open_in(sysctl_path(key), O_WRONLY, ns);
  if (!fd) throw_errno(fmt::format("cannot open sysctl {}{}", key, where));
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    throw_errno(fmt::format("cannot set sysctl {}={}{}", key, value, where));
}

}  // namespace ctnet
