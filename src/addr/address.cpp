#include "addr/address.h"

#include <fmt/format.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "util/error.h"

namespace ctnet::addr {

nl::Message add_request(int index, const Prefix& p, const AddOptions& o) {
  nl::Message m(RTM_NEWADDR, NLM_F_CREATE | (o.replace ? NLM_F_REPLACE : NLM_F_EXCL));
  auto* ifa = m.put_header<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(p.family());
  ifa->ifa_prefixlen = static_cast<uint8_t>(p.length());
  ifa->ifa_index = static_cast<uint32_t>(index);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  m.put(IFA_LOCAL, p.address().data(), p.address().size());
  m.put(IFA_ADDRESS, p.address().data(), p.address().size());
  if (p.address().is_v4() && p.length() < 31) {
    IpAddress brd = p.last();
    m.put(IFA_BROADCAST, brd.data(), brd.size());
  }
  uint32_t flags = 0;
  if (p.address().is_v6() && !o.dad) flags |= IFA_F_NODAD;
  if (!o.prefix_route) flags |= IFA_F_NOPREFIXROUTE;
  if (flags) {
    ifa->ifa_flags = static_cast<uint8_t>(flags & 0xff);  // IFA_F_NOPREFIXROUTE exists only in IFA_FLAGS
    m.put_u32(IFA_FLAGS, flags);
  }
  return m;
}

void add(nl::Socket& s, int index, const Prefix& p, std::string_view ifname, const AddOptions& o) {
  nl::Message m = add_request(index, p, o);
  s.ack(m, fmt::format("cannot add address {} to {}", p.str(), ifname));
}

bool remove(nl::Socket& s, int index, const Prefix& p) {
  nl::Message m(RTM_DELADDR, 0);
  auto* ifa = m.put_header<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(p.family());
  ifa->ifa_prefixlen = static_cast<uint8_t>(p.length());
  ifa->ifa_index = static_cast<uint32_t>(index);
  m.put(IFA_LOCAL, p.address().data(), p.address().size());
  std::string text;
  int err = s.try_ack(m, &text);
  if (err == EADDRNOTAVAIL || err == ENODEV) return false;
  if (err) throw Error(fmt::format("cannot remove address {}", p.str()), err, text);
  return true;
}

std::vector<Address> list(nl::Socket& s, int index, int family, std::optional<int32_t> target_nsid) {
  nl::Message m(RTM_GETADDR, 0);
  auto* req = m.put_header<ifaddrmsg>();
  req->ifa_family = static_cast<uint8_t>(family);
  req->ifa_index = static_cast<uint32_t>(index);  // honoured with NETLINK_GET_STRICT_CHK
  if (target_nsid) m.put_u32(IFA_TARGET_NETNSID, static_cast<uint32_t>(*target_nsid));
  std::vector<Address> out;
  for (auto& msg : s.dump(m, "cannot list addresses")) {
    const auto* ifa = msg.header<ifaddrmsg>();
    if (index && static_cast<int>(ifa->ifa_index) != index) continue;
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(ifaddrmsg));
    auto bytes = a.bytes(IFA_LOCAL).empty() ? a.bytes(IFA_ADDRESS) : a.bytes(IFA_LOCAL);
    if (bytes.size() != (ifa->ifa_family == AF_INET ? 4u : 16u)) continue;
    Address out_a;
    out_a.index = static_cast<int>(ifa->ifa_index);
    out_a.prefix = Prefix(IpAddress::from_bytes(ifa->ifa_family, bytes.data()), ifa->ifa_prefixlen);
    out_a.scope = ifa->ifa_scope;
    out_a.flags = a.u32(IFA_FLAGS).value_or(ifa->ifa_flags);
    out.push_back(out_a);
  }
  return out;
}

}  // namespace ctnet::addr
