// Where ctnet keeps its records. /run is a tmpfs: kernel objects die with a reboot, so do the records that
// describe them. CTNET_STATE_DIR overrides it (tests use a temporary directory).
#pragma once
#include <string>

namespace ctnet {
std::string state_dir();
// mkdir -p with mode 0755; throws Error naming the path.
void make_dirs(const std::string& path);
}  // namespace ctnet
