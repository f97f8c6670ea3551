#include "util/paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include "util/error.h"

namespace ctnet {

std::string state_dir() {
  const char* env = std::getenv("CTNET_STATE_DIR");
  return env && *env ? env : "/run/ctnet";
}

void make_dirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("cannot create directory " + part);
  }
}

}  // namespace ctnet
