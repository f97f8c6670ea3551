#include "kinds/link_kind.h"

#include <fmt/format.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "addr/route.h"
#include "util/error.h"
#include "util/english.h"

namespace ctnet::kinds {

std::optional<link::Link> recorded_link(NsSocket& s, const Made& m, std::string_view kind, bool* replaced) {
  *replaced = false;
  const std::string tmp = m.saved.value("tmp", "");
  auto ours = [&](const link::Link& l) {
    return (l.name == m.name || (!tmp.empty() && l.name == tmp)) && (kind.empty() || l.kind == kind);
  };
  if (m.ifindex) {
    if (auto l = link::find(s.rtnl, m.ifindex); l && ours(*l)) return l;
  } else {
    // Only an intent was recorded (the run stopped before the kernel answered): look for it by its names.
    for (const std::string& n : {tmp, m.name}) {
      if (n.empty()) continue;
      if (auto l = link::find(s.rtnl, n); l && ours(*l)) return l;
    }
    return std::nullopt;
  }
  *replaced = link::find(s.rtnl, m.name).has_value();
  return std::nullopt;
}

namespace {
// The link `name` (0 when there is none) if it is of `kind`, judged by its driver's name (ETHTOOL_GDRVINFO),
// which for the kinds ctnet creates is the kind (veth, bridge, vxlan, macvlan, ipvlan, tun), except vlan's. Two ioctls on the
// rtnetlink socket (dev_ioctl answers them for any socket, in its namespace) instead of a RTM_GETLINK, for
// which the kernel fills every attribute of the link.
int index_if_kind(NsSocket& s, const std::string& name, std::string_view kind) {
  ifreq ifr{};
  if (name.empty() || name.size() >= sizeof(ifr.ifr_name)) return 0;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(s.rtnl.fd(), SIOCGIFINDEX, &ifr) != 0) return 0;
  const int index = ifr.ifr_ifindex;
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&info);
  if (::ioctl(s.rtnl.fd(), SIOCETHTOOL, &ifr) != 0) return 0;
  // The 8021q driver names itself differently (net/8021q/vlan_dev.c: vlan_ethtool_get_drvinfo).
  const std::string_view driver = kind == "vlan" ? "802.1Q VLAN Support" : kind;
  return std::string_view(info.driver) == driver ? index : 0;
}
}  // namespace

Removal remove_created_link(Txn& txn, const Made& m, std::string_view kind) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;  // the namespace took its links with it
  int index = 0;
  std::string name;
  if (m.ifindex) {
    auto l = recorded_link(*s, m, kind, &replaced);
    if (!l) return replaced ? Removal::replaced : Removal::absent;
    index = l->index;
    name = l->name;
  } else {
    // Only names are known (an intent, or a record CNI DEL rebuilt from the invocation): the link with one of
    // them and of this kind, found by ioctls (a DEL then costs the kernel one request, the delete).
    for (const std::string& n : {m.saved.value("tmp", ""), m.name})
      if (!n.empty() && (index = index_if_kind(*s, n, kind))) {
        name = n;
        break;
      }
    if (!index) return Removal::absent;
  }
  nl::Message req(RTM_DELLINK, 0);
  req.put_header<ifinfomsg>()->ifi_index = index;
  std::string text;
  int err = s->rtnl.try_ack(req, &text);
  if (err == ENODEV) return Removal::absent;
  if (err) throw Error(fmt::format("cannot delete {} {} in '{}'", kind, name, m.ns.label()), err, text);
  return Removal::removed;
}

Removal remove_link(Txn& txn, const Made& m) { return remove_created_link(txn, m, ""); }

std::vector<std::string> compare_link(const link::Link& l, std::string_view kind, uint32_t mtu, int master) {
  std::vector<std::string> d;
  if (!kind.empty() && l.kind != kind)
    d.push_back(fmt::format("is {} link, not {}", article(l.kind.empty() ? "device" : l.kind), article(kind)));
  if (!l.is_up()) d.push_back("is down");
  if (mtu && l.mtu != mtu) d.push_back(fmt::format("mtu {} (want {})", l.mtu, mtu));
  if (master >= 0 && l.master != master) d.push_back(master ? "is not a port of its bridge" : "is enslaved to a bridge");
  return d;
}

int bring_up_recorded(Txn& txn, const std::string& ns, const std::string& name) {
  NsSocket& s = txn.open(ns);
  const link::Link l = link::get(s.rtnl, name, s.ns.label());
  if (l.is_up()) return l.index;
  txn.done(txn.make({.kind = "link-up", .ns = txn.ref(s), .name = name, .ifindex = l.index},
                    [&] { link::change(s.rtnl, l.index, {.up = true}, fmt::format("cannot bring up {} in '{}'", name, s.ns.label())); }),
           l.index);
  return l.index;
}

Removal remove_link_up(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  // A record DEL rebuilt from the invocation has no ifindex: the link goes by its name.
  auto l = m.ifindex ? recorded_link(*s, m, "", &replaced) : link::find(s->rtnl, m.name);
  if (!l) return replaced ? Removal::replaced : Removal::absent;
  if (l->is_up())
    link::change(s->rtnl, l->index, {.up = false}, fmt::format("cannot set {} down in '{}'", l->name, s->ns.label()));
  return Removal::removed;
}

namespace {
bool has_flag(const link::Link& l, unsigned f) { return (l.flags & f) != 0; }

nlohmann::json settings_json(const LinkSettings& s) {
  nlohmann::json j = nlohmann::json::object();
  if (s.mtu) j["mtu"] = *s.mtu;
  if (s.mac) j["mac"] = s.mac->str();
  if (s.promisc) j["promisc"] = *s.promisc;
  if (s.allmulti) j["allmulti"] = *s.allmulti;
  if (s.txqlen) j["txqlen"] = *s.txqlen;
  return j;
}

LinkSettings settings_from_json(const nlohmann::json& j) {
  LinkSettings s;
  if (j.contains("mtu")) s.mtu = j["mtu"].get<uint32_t>();
  if (j.contains("mac")) s.mac = MacAddress::try_parse(j["mac"].get<std::string>());
  if (j.contains("promisc")) s.promisc = j["promisc"].get<bool>();
  if (j.contains("allmulti")) s.allmulti = j["allmulti"].get<bool>();
  if (j.contains("txqlen")) s.txqlen = j["txqlen"].get<uint32_t>();
  return s;
}

link::Change as_change(const LinkSettings& s) {
  return {.mtu = s.mtu, .mac = s.mac, .promisc = s.promisc, .allmulti = s.allmulti, .txqlen = s.txqlen};
}
}  // namespace

std::vector<std::string> settings_differences(const link::Link& l, const LinkSettings& w) {
  std::vector<std::string> d;
  if (w.mtu && l.mtu != *w.mtu) d.push_back(fmt::format("mtu {} (want {})", l.mtu, *w.mtu));
  if (w.mac && l.mac != w.mac) d.push_back(fmt::format("mac {} (want {})", l.mac ? l.mac->str() : "none", w.mac->str()));
  if (w.promisc && has_flag(l, IFF_PROMISC) != *w.promisc) d.push_back(fmt::format("promisc {} (want {})", !*w.promisc, *w.promisc));
  if (w.allmulti && has_flag(l, IFF_ALLMULTI) != *w.allmulti)
    d.push_back(fmt::format("allmulti {} (want {})", !*w.allmulti, *w.allmulti));
  if (w.txqlen && l.txqlen != *w.txqlen) d.push_back(fmt::format("txqueuelen {} (want {})", l.txqlen, *w.txqlen));
  return d;
}

void change_recorded(Txn& txn, const std::string& ns, const std::string& name, const LinkSettings& want) {
  NsSocket& s = txn.open(ns);
  const link::Link l = link::get(s.rtnl, name, s.ns.label());
  LinkSettings change, old;
  if (want.mtu && l.mtu != *want.mtu) change.mtu = want.mtu, old.mtu = l.mtu;
  if (want.mac && l.mac != want.mac) change.mac = want.mac, old.mac = l.mac;
  if (want.promisc && has_flag(l, IFF_PROMISC) != *want.promisc) change.promisc = want.promisc, old.promisc = !*want.promisc;
  if (want.allmulti && has_flag(l, IFF_ALLMULTI) != *want.allmulti) change.allmulti = want.allmulti, old.allmulti = !*want.allmulti;
  if (want.txqlen && l.txqlen != *want.txqlen) change.txqlen = want.txqlen, old.txqlen = l.txqlen;
  if (settings_json(change).empty()) return;
  txn.done(txn.make({.kind = "link-setting", .ns = txn.ref(s), .name = name, .ifindex = l.index,
                     .saved = {{"old", settings_json(old)}, {"new", settings_json(change)}}},
                    [&] { link::change(s.rtnl, l.index, as_change(change), fmt::format("cannot change {} in '{}'", name, s.ns.label())); }),
           l.index);
}

Removal remove_link_setting(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  auto l = recorded_link(*s, m, "", &replaced);
  if (!l) return replaced ? Removal::replaced : Removal::absent;
  link::change(s->rtnl, l->index, as_change(settings_from_json(m.saved.value("old", nlohmann::json::object()))),
               fmt::format("cannot restore the settings of {} in '{}'", l->name, s->ns.label()));
  return Removal::removed;
}

std::optional<link::Link> link_to_repair(NsSocket& s, const std::string& name, std::string_view kind) {
  auto l = link::find(s.rtnl, name);
  if (l && l->kind != kind)
    throw Error(fmt::format("cannot repair {} {} in '{}': it is {} link", kind, name, s.ns.label(),
                            article(l->kind.empty() ? "device" : l->kind)),
                EEXIST);
  return l;
}

void repair_link(NsSocket& s, const link::Link& l, uint32_t mtu, int master) {
  link::Change c;
  if (!l.is_up()) c.up = true;
  if (mtu && l.mtu != mtu) c.mtu = mtu;
  if (master >= 0 && l.master != master) c.master = master;
  if (c.up || c.mtu || c.master)
    link::change(s.rtnl, l.index, c, fmt::format("cannot repair {} {} in '{}'", l.kind, l.name, s.ns.label()));
}

void bring_up(NsSocket& s, int index, std::string_view what, bool link_local, std::optional<int> master) {
  if (!link_local) {
    nl::Message m = link::change_request(index, {});
    nlattr* af = m.begin_nest(IFLA_AF_SPEC);
    nlattr* in6 = m.begin_nest(AF_INET6);
    m.put_u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
    m.end_nest(in6);
    m.end_nest(af);
    s.rtnl.ack(m, fmt::format("cannot turn off IPv6 link-local addresses on {}", what));
  }
  link::Change c{.up = true};
  if (master) c.master = *master;
  link::change(s.rtnl, index, c, fmt::format("cannot bring up {}", what));
}

int index_of(NsSocket& s, const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof(ifr.ifr_name) - 1));
  // dev_ioctl answers SIOCGIFINDEX for any socket, in the socket's namespace.
  if (::ioctl(s.rtnl.fd(), SIOCGIFINDEX, &ifr) != 0)
    throw_errno(fmt::format("link '{}' does not exist in namespace '{}'", name, s.ns.label()));
  return ifr.ifr_ifindex;
}

MacAddress mac_of(NsSocket& s, const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof(ifr.ifr_name) - 1));
  if (::ioctl(s.rtnl.fd(), SIOCGIFHWADDR, &ifr) != 0)
    throw_errno(fmt::format("cannot read the MAC address of '{}' in namespace '{}'", name, s.ns.label()));
  MacAddress mac;
  std::memcpy(mac.bytes.data(), ifr.ifr_hwaddr.sa_data, mac.bytes.size());
  return mac;
}

uint32_t mtu_of(NsSocket& s, const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof(ifr.ifr_name) - 1));
  if (::ioctl(s.rtnl.fd(), SIOCGIFMTU, &ifr) != 0)
    throw_errno(fmt::format("cannot read the MTU of '{}' in namespace '{}'", name, s.ns.label()));
  return static_cast<uint32_t>(ifr.ifr_mtu);
}

std::optional<link::Link> default_route_link(NsSocket& s) {
  // An address no host routes specially (TEST-NET-3), so the lookup resolves through the default route.
  auto oif = addr::lookup_oif(s.rtnl, *IpAddress::try_parse("203.0.113.1"));
  if (!oif) return std::nullopt;
  auto l = link::find(s.rtnl, *oif);
  if (!l || l->name == "lo") return std::nullopt;
  return l;
}

uint32_t mtu_of_default_route(NsSocket& s) {
  auto l = default_route_link(s);
  return l && l->mtu ? l->mtu : 1500;
}

std::optional<std::string> name_of(NsSocket& s, int index) {
  ifreq ifr{};
  ifr.ifr_ifindex = index;
  if (::ioctl(s.rtnl.fd(), SIOCGIFNAME, &ifr) != 0) return std::nullopt;
  return std::string(ifr.ifr_name);
}

}  // namespace ctnet::kinds
