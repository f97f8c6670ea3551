// A lock per network namespace: an abstract AF_UNIX name bound in that namespace (abstract names are per
// network namespace, unix(7)). It goes with the process that holds it, also on kill -9, so no lock file is ever
// left behind. Held by a run while it picks something shared in the namespace (nftables tables, a free routing
// table) and makes it.
#pragma once
#include <string_view>

#include "util/fd.h"

namespace ctnet {

class NetNs;

class NsLock {
 public:
  // Waits (up to about 10 s) while another process holds `name` in `ns` (nullptr: the calling thread's namespace).
  explicit NsLock(std::string_view name, const NetNs* ns = nullptr);

 private:
  Fd fd_;
};

}  // namespace ctnet
