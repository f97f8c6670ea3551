// What the link kinds share: finding a recorded link again by identity, the generic remove of a link ctnet
// created, the comparison `inspect` makes, and bringing a link up (optionally without an IPv6 link-local).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kinds/txn.h"
#include "link/link.h"

namespace ctnet::kinds {

// The link a record names, if it is still the one that was made: same ifindex and name (or the temporary name
// it was created under), and of `kind` when given. `*replaced` is set when another link now has the name.
std::optional<link::Link> recorded_link(NsSocket& s, const Made& m, std::string_view kind, bool* replaced);

// Deletes a link this program created (veth, bridge, vxlan, macvlan, ipvlan), from its record; `kind` "" takes
// a link of any kind.
Removal remove_created_link(Txn& txn, const Made& m, std::string_view kind);
// Kind "link": a link of any kind, by identity (the CLI's `link del` of a kind no driver owns: dummy, vlan ...).
Removal remove_link(Txn& txn, const Made& m);

// Kind "link-up": a link this transaction brought up that was down (CNI loopback's `lo`). Its remove sets it down
// again; a link that was up already is not recorded, so a rollback leaves it as it was. Returns the ifindex.
int bring_up_recorded(Txn& txn, const std::string& ns, const std::string& name);
Removal remove_link_up(Txn& txn, const Made& m);

// Kind "link-setting": attributes of an existing link this transaction changed (CNI tuning), recorded with the
// values they had; its remove puts those back while the link is still the one that was changed. Only the
// attributes that differ are changed (and recorded), in one request.
struct LinkSettings {
  std::optional<uint32_t> mtu;
  std::optional<MacAddress> mac;
  std::optional<bool> promisc, allmulti;
  std::optional<uint32_t> txqlen;
};
void change_recorded(Txn& txn, const std::string& ns, const std::string& name, const LinkSettings& want);
Removal remove_link_setting(Txn& txn, const Made& m);
// The settings of `want` that `l` does not have, one text each ("mtu 1400 (want 9000)"): for CHECK.
std::vector<std::string> settings_differences(const link::Link& l, const LinkSettings& want);

// What differs between a link and its spec: kind (when given), admin state, MTU (when set), master (when >= 0).
std::vector<std::string> compare_link(const link::Link& l, std::string_view kind, uint32_t mtu, int master);

// What the repairs of the link kinds share. The link `name` as a repair finds it: nullopt when it is missing
// (the driver makes it anew); throws EEXIST when a link of another kind holds the name.
std::optional<link::Link> link_to_repair(NsSocket& s, const std::string& name, std::string_view kind);
// Brings `l` up, to `mtu` (0: as it is) and under `master` (-1: as it is), in one request if anything differs.
void repair_link(NsSocket& s, const link::Link& l, uint32_t mtu, int master);

// Brings a link up. `link_local` false: first tells IPv6 to generate no address on it, in a request of its own:
// the kernel handles IFLA_AF_SPEC after the flags in one RTM_NEWLINK (net/core/rtnetlink.c: do_setlink), so
// combined, the link-local address would already exist; at creation the device has no inet6 state yet and the
// kernel refuses AF_INET6 settings (EAFNOSUPPORT). `master` (if given) is set in the same request as `up`.
void bring_up(NsSocket& s, int index, std::string_view what, bool link_local = true, std::optional<int> master = {});

// The ifindex of a link by name through SIOCGIFINDEX (cheaper than RTM_GETLINK: the kernel fills no attributes).
int index_of(NsSocket& s, const std::string& name);
// The name of a link by ifindex through SIOCGIFNAME; nullopt when no link has that index.
std::optional<std::string> name_of(NsSocket& s, int index);

// The MAC address and the MTU of a link by name through SIOCGIFHWADDR / SIOCGIFMTU (no netlink request).
MacAddress mac_of(NsSocket& s, const std::string& name);
uint32_t mtu_of(NsSocket& s, const std::string& name);

// The link the default route leaves through (a route lookup, no dump: on a ptp host the main table holds a
// route per container), if any; `lo` does not count.
std::optional<link::Link> default_route_link(NsSocket& s);
// Its MTU, or 1500 (the kernel's default) when there is no default route: the MTU a new bridge or veth takes
// when none is given, as the CNI reference plugins choose it.
uint32_t mtu_of_default_route(NsSocket& s);

}  // namespace ctnet::kinds
