// Every kind's remove function, by the name records carry. Kinds of the faces (a CNI plugin's lease, a lab's
// process) join through define_kind() at start-up.
#include <fmt/format.h>

#include <iterator>
#include <string_view>

#include "kinds/address.h"
#include "kinds/bridge.h"
#include "kinds/dummy.h"
#include "kinds/host_device.h"
#include "kinds/ifb.h"
#include "kinds/link_kind.h"
#include "kinds/netns.h"
#include "kinds/qdisc.h"
#include "kinds/rule.h"
#include "kinds/subif.h"
#include "kinds/sysctl.h"
#include "kinds/tap.h"
#include "kinds/txn.h"
#include "kinds/veth.h"
#include "kinds/vf.h"
#include "kinds/vrf.h"
#include "kinds/vxlan.h"
#include "util/error.h"

namespace ctnet::kinds {
namespace {
struct Entry {
  std::string_view kind;
  RemoveFn fn;
};
constexpr Entry kEngineKinds[] = {
    {"netns", netns::remove},         {"veth", veth::remove},
    {"bridge", bridge::remove},       {"port", port::remove},
    {"port-vlans", port::remove_vlans},
    {"macvlan", subif::remove_macvlan}, {"ipvlan", subif::remove_ipvlan},
    {"vlan", subif::remove_vlan},
    {"vxlan", vxlan::remove},         {"host-device", host_device::remove},
    {"vf", vf::remove},               {"vf-setting", vf::remove_setting},
    {"vf-netdev", vf::remove_netdev}, {"address", address::remove},
    {"route", route::remove},         {"sysctl", sysctl::remove},
    {"vf-attachment", vf::remove_attachment},
    {"link", remove_link},            {"link-up", remove_link_up},
    {"link-setting", remove_link_setting}, {"tap", tap::remove},
    {"dummy", dummy::remove},         {"ifb", ifb::remove},
    {"qdisc", qdisc::remove},         {"rule", rule::remove},
    {"route-removed", route::restore}, {"vrf", vrf::remove},
    {"vrf-port", vrf::remove_port},
};
// The faces' kinds, defined at start-up: a handful, so a fixed table (a plugin allocates nothing for it before
// main; the lookup runs only on a rollback or a DEL).
struct FaceKinds {
  Entry entries[16];
  size_t count = 0;
};
FaceKinds& face_kinds() {
  static FaceKinds t;
  return t;
}
}  // namespace

void define_kind(std::string_view kind, RemoveFn fn) {
  FaceKinds& t = face_kinds();
  for (size_t i = 0; i < t.count; ++i)
    if (t.entries[i].kind == kind) {
      t.entries[i].fn = fn;
      return;
    }
  if (t.count == std::size(t.entries)) throw Error("internal: too many kinds defined", EINVAL);
  t.entries[t.count++] = {kind, fn};
}

Removal remove(Txn& txn, const Made& m) {
  const FaceKinds& t = face_kinds();
  for (size_t i = 0; i < t.count; ++i)
    if (t.entries[i].kind == m.kind) return t.entries[i].fn(txn, m);
  for (const auto& e : kEngineKinds)
    if (e.kind == m.kind) return e.fn(txn, m);
  throw Error(fmt::format("no driver for kind '{}' (a record of a newer ctnet?)", m.kind), EINVAL);
}

}  // namespace ctnet::kinds
