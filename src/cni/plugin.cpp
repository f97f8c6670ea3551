#include "cni/plugin.h"

#include <cstdio>

namespace ctnet::cni {
bool is_plugin_name(std::string_view) { return false; }
int run_plugin(std::string_view) {
  std::fputs("{\"cniVersion\":\"1.1.0\",\"code\":4,\"msg\":\"CNI support is not built yet\"}\n", stdout);
  return 1;
}
}  // namespace ctnet::cni
