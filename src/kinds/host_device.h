// Kind "host-device": an existing link of the host moved into a namespace (renamed there), and moved back on
// removal under its old name and settings. `move_back` is the one way any kind (host-device, SR-IOV VF) returns
// a device to the host: when its old name is taken there meanwhile, it comes back under a temporary name
// rather than staying stranded in the namespace.
#pragma once
#include <optional>
#include <string>

#include "kinds/txn.h"
#include "util/ip.h"

namespace ctnet::kinds::host_device {

struct Spec {
  std::string host_ns;          // "" = host
  std::string device;           // its name there
  std::string ns;               // where it goes
  std::string name;             // its name there ("" = the same)
  uint32_t mtu = 0;
  std::optional<MacAddress> mac;
  bool up = true;
  // The device carries its host name as its alias (IFLA_IFALIAS) while it is away, so a remove that has no
  // record of it (CNI DEL, which knows only the container's name for it) can still give it back.
  bool alias_old_name = false;
};

void validate(const Spec& s, const std::string& field_prefix = "");
int apply(Txn& txn, const Spec& s);  // returns the ifindex in ns
Inspection inspect(Txn& txn, const Spec& s);
void repair(Txn& txn, const Spec& s);
// `saved` needs "host" (the namespace it came from); "device" (its old name) or else its alias names it there;
// "mtu", "mac", "alias" (when recorded) are restored. A record without an ifindex (CNI DEL's) identifies the
// device by "mac" or the alias when its namespace is gone.
Removal remove(Txn& txn, const Made& m);

// Moves link `index` of namespace `from` to `host` under `old_name` (down). Returns the name it got there:
// `old_name`, or a temporary name when that is taken.
std::string move_back(NsSocket& from, int index, NsSocket& host, const std::string& old_name);

}  // namespace ctnet::kinds::host_device
