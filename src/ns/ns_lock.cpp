#include "ns/ns_lock.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include "ns/netns.h"
#include "util/error.h"

namespace ctnet {

NsLock::NsLock(std::string_view name, const NetNs* ns) {
  {
    std::optional<NsGuard> in;  // the socket's namespace is the one it is created in
    if (ns) in.emplace(*ns);
    fd_ = Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  }
  if (!fd_) throw_errno("cannot create the lock socket " + std::string(name));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const size_t n = std::min(name.size(), sizeof a.sun_path - 1);
  std::memcpy(a.sun_path + 1, name.data(), n);  // sun_path[0] = 0: abstract
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  for (int tries = 0; ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), len) != 0; ++tries) {
    if (errno != EADDRINUSE || tries > 20000) throw_errno("cannot take the lock " + std::string(name));
    ::usleep(500);  // another plugin holds it for a few requests
  }
}

}  // namespace ctnet
