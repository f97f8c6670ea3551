// The CNI face: the ctnet binary behaves as a CNI plugin when invoked under a plugin's name
// (bridge, ptp, host-local, macvlan, ipvlan, host-device, sriov, loopback, tuning, static, tap, vlan, dummy, portmap,
// firewall, bandwidth, sbr, vrf, dhcp) or as "ctnet" with CNI_COMMAND set.
#pragma once
#include <exception>
#include <string_view>

#include "cni/types.h"

namespace ctnet::cni {

bool is_plugin_name(std::string_view name);
// Runs one CNI operation as the spec says (environment, stdin config, stdout result); returns the exit code.
int run_plugin(std::string_view name);

// The spec's error for whatever an operation threw: a CniError as it is; the engine's errors by kind
// (WrongType 6, InvalidInput and Conflict 7, Exhausted 11, IoError 5, any other Error 100 with the errno's
// name as details); JSON parse errors 6. The one place engine errors become CNI codes.
CniError as_cni_error(const std::exception& e);

}  // namespace ctnet::cni
