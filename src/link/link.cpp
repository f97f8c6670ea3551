#include "link/link.h"

#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "util/error.h"

namespace ctnet::link {

Link parse(const nl::OwnedMessage& m) {
  const auto* ifi = m.header<ifinfomsg>();
  auto a = nl::Attrs::of_message(m.hdr(), sizeof(ifinfomsg));
  Link l;
  l.index = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  l.name = a.str(IFLA_IFNAME).value_or("");
  l.mtu = a.u32(IFLA_MTU).value_or(0);
  l.txqlen = a.u32(IFLA_TXQLEN).value_or(0);
  l.master = static_cast<int>(a.u32(IFLA_MASTER).value_or(0));
  l.parent = static_cast<int>(a.u32(IFLA_LINK).value_or(0));
  l.link_netnsid = a.s32(IFLA_LINK_NETNSID);
  l.operstate = a.u8(IFLA_OPERSTATE).value_or(0);
  l.alias = a.str(IFLA_IFALIAS).value_or("");
  if (auto mac = a.bytes(IFLA_ADDRESS); mac.size() == 6) {
    MacAddress m6;
    std::memcpy(m6.bytes.data(), mac.data(), 6);
    l.mac = m6;
  }
  auto info = nl::Attrs::of_nest(a.get(IFLA_LINKINFO));
  l.kind = info.str(IFLA_INFO_KIND).value_or("");
  l.slave_kind = info.str(IFLA_INFO_SLAVE_KIND).value_or("");
  return l;
}

namespace {
nl::Message get_request(std::string_view name, int index) {
  nl::Message m(RTM_GETLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  if (!name.empty()) m.put_str(IFLA_IFNAME, name);
  // Skip VF statistics and other per-link extras we do not read (smaller replies).
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return m;
}

std::optional<Link> find_one(nl::Socket& s, nl::Message m) {
  std::string text;
  m.hdr()->nlmsg_flags |= NLM_F_ACK;
  nl::Reply r = s.exchange(m);
  if (r.error == ENODEV) return std::nullopt;
  if (r.error) throw Error("cannot read link", r.error, r.kernel_text);
  if (r.messages.empty()) return std::nullopt;
  return parse(r.messages.front());
}
}  // namespace

std::string_view operstate_name(uint8_t operstate) {
  // Indexed by IF_OPER_* (linux/if.h: RFC 2863 ifOperStatus), as iproute2 ip/ipaddress.c oper_states.
  static constexpr std::string_view names[] = {"UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"};
  return operstate < std::size(names) ? names[operstate] : "UNKNOWN";
}

std::optional<Link> find(nl::Socket& s, std::string_view name) { return find_one(s, get_request(name, 0)); }
std::optional<Link> find(nl::Socket& s, int index) { return find_one(s, get_request({}, index)); }

Link get(nl::Socket& s, std::string_view name, std::string_view ns_label) {
  if (auto l = find(s, name)) return *l;
  if (ns_label.empty()) throw Error(fmt::format("link '{}' does not exist", name), ENODEV);
  throw Error(fmt::format("link '{}' does not exist in namespace '{}'", name, ns_label), ENODEV);
}

std::vector<Link> list(nl::Socket& s) {
  nl::Message m(RTM_GETLINK, 0);
  m.put_header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  std::vector<Link> out;
  for (auto& msg : s.dump(m, "cannot list links")) out.push_back(parse(msg));
  return out;
}

std::vector<Link> list_ports(nl::Socket& s, int master) {
  nl::Message m(RTM_GETLINK, 0);
  m.put_header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  m.put_u32(IFLA_MASTER, static_cast<uint32_t>(master));
  std::vector<Link> out;
  for (auto& msg : s.dump(m, "cannot list a master's ports"))
    if (auto l = parse(msg); l.master == master) out.push_back(std::move(l));
  return out;
}

nl::Message change_request(int index, const Change& c) {
  nl::Message m(RTM_NEWLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  if (c.up) {
    ifi->ifi_change |= IFF_UP;
    ifi->ifi_flags |= *c.up ? IFF_UP : 0;
  }
  if (c.promisc) {
    ifi->ifi_change |= IFF_PROMISC;
    ifi->ifi_flags |= *c.promisc ? IFF_PROMISC : 0;
  }
  if (c.allmulti) {
    ifi->ifi_change |= IFF_ALLMULTI;
    ifi->ifi_flags |= *c.allmulti ? IFF_ALLMULTI : 0;
  }
  if (c.txqlen) m.put_u32(IFLA_TXQLEN, *c.txqlen);
  if (c.alias) m.put_str(IFLA_IFALIAS, *c.alias);
  if (c.name) m.put_str(IFLA_IFNAME, *c.name);
  if (c.mtu) m.put_u32(IFLA_MTU, *c.mtu);
  if (c.mac) m.put(IFLA_ADDRESS, c.mac->bytes.data(), 6);
  if (c.master) m.put_u32(IFLA_MASTER, static_cast<uint32_t>(*c.master));
  if (c.netns_fd) m.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(*c.netns_fd));
  return m;
}

void change(nl::Socket& s, int index, const Change& c, std::string_view context) {
  nl::Message m = change_request(index, c);
  s.ack(m, context);
}

nl::Message create_request(std::string_view name, bool up, uint32_t mtu, int master) {
  nl::Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  if (up) {
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
  }
  m.put_str(IFLA_IFNAME, name);
  if (mtu) m.put_u32(IFLA_MTU, mtu);
  if (master) m.put_u32(IFLA_MASTER, static_cast<uint32_t>(master));
  return m;
}

bool remove(nl::Socket& s, std::string_view name) {
  nl::Message m(RTM_DELLINK, 0);
  m.put_header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.put_str(IFLA_IFNAME, name);
  std::string text;
  int err = s.try_ack(m, &text);
  if (err == ENODEV) return false;
  if (err) throw Error(fmt::format("cannot delete link '{}'", name), err, text);
  return true;
}

std::string temporary_name(std::string_view prefix) {
  // Unique per process and call: a pid and counter in hex fit the 15-byte limit with a short prefix.
  static std::atomic<unsigned> counter{0};
  auto n = fmt::format("{}{:x}{:x}", prefix.substr(0, 4), static_cast<unsigned>(getpid()) & 0xfffff, counter++ & 0xfff);
  return n.substr(0, 15);
}

}  // namespace ctnet::link
