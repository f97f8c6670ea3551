// The CNI face: the ctnet binary behaves as a CNI plugin when invoked under a plugin's name
// (bridge, ptp, host-local, macvlan, ipvlan, host-device, sriov) or as "ctnet" with CNI_COMMAND set.
#pragma once
#include <string_view>

namespace ctnet::cni {

bool is_plugin_name(std::string_view name);
// Runs one CNI operation as the spec says (environment, stdin config, stdout result); returns the exit code.
int run_plugin(std::string_view name);

}  // namespace ctnet::cni
