#include "kinds/link_kind.h"

#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "util/error.h"

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

Removal remove_created_link(Txn& txn, const Made& m, std::string_view kind) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;  // the namespace took its links with it
  auto l = recorded_link(*s, m, kind, &replaced);
  if (!l) return replaced ? Removal::replaced : Removal::absent;
  nl::Message req(RTM_DELLINK, 0);
  req.put_header<ifinfomsg>()->ifi_index = l->index;
  std::string text;
  int err = s->rtnl.try_ack(req, &text);
  if (err == ENODEV) return Removal::absent;
  if (err) throw Error(fmt::format("cannot delete {} {} in '{}'", kind.empty() ? "link" : kind, l->name, m.ns.label()), err, text);
  return Removal::removed;
}

Removal remove_link(Txn& txn, const Made& m) { return remove_created_link(txn, m, ""); }

std::vector<std::string> compare_link(const link::Link& l, std::string_view kind, uint32_t mtu, int master) {
  std::vector<std::string> d;
  if (!kind.empty() && l.kind != kind)
    d.push_back(fmt::format("is a {} link, not {}", l.kind.empty() ? "device" : l.kind, kind));
  if (!l.is_up()) d.push_back("is down");
  if (mtu && l.mtu != mtu) d.push_back(fmt::format("mtu {} (want {})", l.mtu, mtu));
  if (master >= 0 && l.master != master) d.push_back(master ? "is not a port of its bridge" : "is enslaved to a bridge");
  return d;
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

std::optional<std::string> name_of(NsSocket& s, int index) {
  ifreq ifr{};
  ifr.ifr_ifindex = index;
  if (::ioctl(s.rtnl.fd(), SIOCGIFNAME, &ifr) != 0) return std::nullopt;
  return std::string(ifr.ifr_name);
}

void validate_mtu(uint32_t mtu, std::string_view field) {
  if (mtu < 68 || mtu > 65535) throw InvalidInput(std::string(field), fmt::format("{} is not an MTU between 68 and 65535", mtu));
}

}  // namespace ctnet::kinds
