// Where ctnet keeps its records. /run is a tmpfs: kernel objects die with a reboot, so do the records that
// describe them. CTNET_STATE_DIR overrides it (tests use a temporary directory).
#pragma once
#include <string>

namespace ctnet {
std::string state_dir();
// mkdir -p with mode 0755; throws Error naming the path.
void make_dirs(const std::string& path);
// Replaces the file at `path` with `text` atomically for other processes (a temporary file, then rename(2));
// on failure the old file stays and no temporary is left. Throws IoError. A state-file write for the fault hook.
void write_file_replacing(const std::string& path, const std::string& text);
}  // namespace ctnet
