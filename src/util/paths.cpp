#include "util/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "util/error.h"
#include "util/fault.h"
#include "util/fd.h"

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

void write_file_replacing(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!f) throw IoError("cannot write " + tmp, errno);
  if (fault::fail_write() || ::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno ? errno : EIO;
    ::unlink(tmp.c_str());
    throw IoError("cannot write " + path, e);
  }
}

}  // namespace ctnet
