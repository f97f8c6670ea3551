// Interface addresses (IPv4 and IPv6).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet::addr {

struct Address {
  int index = 0;    // interface
  Prefix prefix;    // 10.0.0.2/24
  uint8_t scope = 0;
  uint32_t flags = 0;  // IFA_F_*
};

struct AddOptions {
  // IPv6 duplicate address detection delays use of the address by about a second; addresses we assign
  // from our own allocation are unique, so DAD is off unless asked for (IFA_F_NODAD).
  bool dad = false;
  bool replace = false;  // NLM_F_REPLACE instead of NLM_F_EXCL (converging re-runs)
  // The kernel's route to the address's subnet through the interface; off (IFA_F_NOPREFIXROUTE) where the
  // subnet is reached another way (CNI ptp: through the gateway, a host route).
  bool prefix_route = true;
};

nl::Message add_request(int index, const Prefix& p, const AddOptions& o = {});
void add(nl::Socket& s, int index, const Prefix& p, std::string_view ifname, const AddOptions& o = {});
// Idempotent: false when the address was not there.
bool remove(nl::Socket& s, int index, const Prefix& p);
// Every address of one interface (index > 0) or of all (0); `family` AF_UNSPEC for both. `target_nsid`: those of
// the namespace the socket's own knows by that id (IFA_TARGET_NETNSID), with no namespace switch.
std::vector<Address> list(nl::Socket& s, int index = 0, int family = AF_UNSPEC, std::optional<int32_t> target_nsid = std::nullopt);

}  // namespace ctnet::addr
