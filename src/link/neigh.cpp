#include "link/neigh.h"

#include <fmt/format.h>
#include <linux/if_bridge.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "util/error.h"

namespace ctnet::link {
namespace {

nl::Message request(uint16_t type, uint16_t flags, int family, int ifindex, uint8_t ntf_flags) {
  nl::Message m(type, flags);
  auto* nd = m.put_header<ndmsg>();
  nd->ndm_family = static_cast<uint8_t>(family);
  nd->ndm_ifindex = ifindex;
  nd->ndm_state = NUD_PERMANENT;
  nd->ndm_flags = ntf_flags;
  return m;
}

bool removed(nl::Socket& s, nl::Message& m, const std::string& what) {
  std::string text;
  int err = s.try_ack(m, &text);
  if (err == ENOENT || err == ENODEV || err == ESRCH) return false;
  if (err) throw Error("cannot remove " + what, err, text);
  return true;
}

std::optional<IpAddress> address_of(std::span<const uint8_t> b) {
  if (b.size() == 4) return IpAddress::from_bytes(AF_INET, b.data());
  if (b.size() == 16) return IpAddress::from_bytes(AF_INET6, b.data());
  return std::nullopt;
}

std::optional<MacAddress> mac_of(std::span<const uint8_t> b) {
  if (b.size() != 6) return std::nullopt;
  MacAddress m;
  std::copy(b.begin(), b.end(), m.bytes.begin());
  return m;
}

}  // namespace

nl::Message neighbour_request(int ifindex, const IpAddress& dst, const MacAddress& mac) {
  nl::Message m = request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, dst.family(), ifindex, 0);
  m.put(NDA_DST, dst.data(), dst.size());
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  return m;
}

void set_neighbour(nl::Socket& s, int ifindex, const IpAddress& dst, const MacAddress& mac) {
  nl::Message m = neighbour_request(ifindex, dst, mac);
  s.ack(m, fmt::format("cannot set neighbour {} lladdr {} on #{}", dst.str(), mac.str(), ifindex));
}

nl::Message neighbour_add_request(int ifindex, const IpAddress& dst, const MacAddress& mac) {
  nl::Message m = request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, dst.family(), ifindex, 0);
  m.put(NDA_DST, dst.data(), dst.size());
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  return m;
}

void add_neighbour(nl::Socket& s, int ifindex, const IpAddress& dst, const MacAddress& mac) {
  nl::Message m = neighbour_add_request(ifindex, dst, mac);
  s.ack(m, fmt::format("cannot add neighbour {} lladdr {} on #{}", dst.str(), mac.str(), ifindex));
}

std::string_view neighbour_state_name(uint16_t state) {
  static constexpr std::pair<uint16_t, std::string_view> names[] = {
      {NUD_PERMANENT, "PERMANENT"}, {NUD_NOARP, "NOARP"},   {NUD_REACHABLE, "REACHABLE"}, {NUD_STALE, "STALE"},
      {NUD_DELAY, "DELAY"},         {NUD_PROBE, "PROBE"},   {NUD_FAILED, "FAILED"},       {NUD_INCOMPLETE, "INCOMPLETE"}};
  for (auto& [bit, name] : names)
    if (state & bit) return name;
  return "NONE";
}

bool remove_neighbour(nl::Socket& s, int ifindex, const IpAddress& dst) {
  nl::Message m = request(RTM_DELNEIGH, 0, dst.family(), ifindex, 0);
  m.put(NDA_DST, dst.data(), dst.size());
  return removed(s, m, fmt::format("neighbour {} on #{}", dst.str(), ifindex));
}

std::vector<Neighbour> list_neighbours(nl::Socket& s, int ifindex, int family) {
  nl::Message m(RTM_GETNEIGH, 0);
  // Strictly checked (NETLINK_GET_STRICT_CHK): the header's ifindex must be 0, the filter is NDA_IFINDEX
  // (net/core/neighbour.c, neigh_valid_dump_req).
  m.put_header<ndmsg>()->ndm_family = static_cast<uint8_t>(family);
  if (ifindex) m.put_u32(NDA_IFINDEX, static_cast<uint32_t>(ifindex));
  std::vector<Neighbour> out;
  for (auto& msg : s.dump(m, "cannot list neighbours")) {
    const auto* h = msg.header<ndmsg>();
    if (ifindex && h->ndm_ifindex != ifindex) continue;
    if (family != AF_UNSPEC && h->ndm_family != family) continue;
    if (h->ndm_family != AF_INET && h->ndm_family != AF_INET6) continue;  // bridge FDB entries (AF_BRIDGE)
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(ndmsg));
    auto dst = address_of(a.bytes(NDA_DST));
    if (!dst) continue;
    out.push_back({.ifindex = h->ndm_ifindex, .dst = *dst, .lladdr = mac_of(a.bytes(NDA_LLADDR)), .state = h->ndm_state});
  }
  return out;
}

nl::Message fdb_request(int ifindex, const MacAddress& mac, const IpAddress& dst) {
  // NLM_F_REPLACE: one entry per MAC, pointing at the peer's current underlay address (`bridge fdb replace`).
  nl::Message m = request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_BRIDGE, ifindex, NTF_SELF);
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  m.put(NDA_DST, dst.data(), dst.size());
  return m;
}

void set_fdb(nl::Socket& s, int ifindex, const MacAddress& mac, const IpAddress& dst) {
  nl::Message m = fdb_request(ifindex, mac, dst);
  s.ack(m, fmt::format("cannot set FDB entry {} dst {} on #{}", mac.str(), dst.str(), ifindex));
}

bool remove_fdb(nl::Socket& s, int ifindex, const MacAddress& mac, const IpAddress& dst) {
  nl::Message m = request(RTM_DELNEIGH, 0, AF_BRIDGE, ifindex, NTF_SELF);
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  m.put(NDA_DST, dst.data(), dst.size());
  return removed(s, m, fmt::format("FDB entry {} dst {} on #{}", mac.str(), dst.str(), ifindex));
}

std::vector<FdbEntry> list_fdb(nl::Socket& s, int ifindex) {
  nl::Message m(RTM_GETNEIGH, 0);
  m.put_header<ndmsg>()->ndm_family = AF_BRIDGE;
  // The bridge family filters a dump by the device's index in NDA_IFINDEX (net/core/rtnetlink.c, rtnl_fdb_dump).
  m.put_u32(NDA_IFINDEX, static_cast<uint32_t>(ifindex));
  std::vector<FdbEntry> out;
  for (auto& msg : s.dump(m, "cannot list FDB entries")) {
    const auto* h = msg.header<ndmsg>();
    if (h->ndm_ifindex != ifindex) continue;
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(ndmsg));
    auto mac = mac_of(a.bytes(NDA_LLADDR));
    if (!mac) continue;
    out.push_back({.ifindex = h->ndm_ifindex, .mac = *mac, .dst = address_of(a.bytes(NDA_DST)), .state = h->ndm_state,
                   .flags = h->ndm_flags});
  }
  return out;
}

}  // namespace ctnet::link
