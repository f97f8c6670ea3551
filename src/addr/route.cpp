#include "addr/route.h"

#include <fmt/format.h>

#include "util/error.h"

namespace ctnet::addr {

std::string Route::str() const {
  std::string s = dst.length() == 0 ? "default" : dst.network().str();
  if (gateway) s += " via " + gateway->str();
  if (oif) s += fmt::format(" dev #{}", oif);
  return s;
}

bool same_key(const Route& a, const Route& b) {
  auto metric = [](const Route& r) { return r.family() == AF_INET6 && r.metric == 0 ? 1024u : r.metric; };
  return a.family() == b.family() && a.dst.network() == b.dst.network() && metric(a) == metric(b);
}

Prefix default_route(int family) {
  uint8_t zero[16] = {};
  return Prefix(IpAddress::from_bytes(family, zero), 0);
}

Route parse_route(const nl::OwnedMessage& msg) {
  const auto* rt = msg.header<rtmsg>();
  auto a = nl::Attrs::of_message(msg.hdr(), sizeof(rtmsg));
  Route r;
  r.table = a.u32(RTA_TABLE).value_or(rt->rtm_table);
  r.type = rt->rtm_type;
  r.protocol = rt->rtm_protocol;
  r.scope = rt->rtm_scope;
  r.onlink = rt->rtm_flags & RTNH_F_ONLINK;
  size_t alen = rt->rtm_family == AF_INET ? 4 : 16;
  if (auto d = a.bytes(RTA_DST); d.size() == alen)
    r.dst = Prefix(IpAddress::from_bytes(rt->rtm_family, d.data()), rt->rtm_dst_len);
  else
    r.dst = default_route(rt->rtm_family);
  if (auto g = a.bytes(RTA_GATEWAY); g.size() == alen) r.gateway = IpAddress::from_bytes(rt->rtm_family, g.data());
  if (auto p = a.bytes(RTA_PREFSRC); p.size() == alen) r.src = IpAddress::from_bytes(rt->rtm_family, p.data());
  r.oif = static_cast<int>(a.u32(RTA_OIF).value_or(0));
  r.metric = a.u32(RTA_PRIORITY).value_or(0);
  if (const nlattr* metrics = a.get(RTA_METRICS)) r.mtu = nl::Attrs::of_nest(metrics).u32(RTAX_MTU).value_or(0);
  return r;
}

namespace {
nl::Message route_request(uint16_t type, uint16_t flags, const Route& r) {
  nl::Message m(type, flags);
  auto* rt = m.put_header<rtmsg>();
  rt->rtm_family = static_cast<uint8_t>(r.family());
  rt->rtm_dst_len = static_cast<uint8_t>(r.dst.length());
  rt->rtm_table = r.table < 256 ? static_cast<uint8_t>(r.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  rt->rtm_protocol = r.protocol;
  rt->rtm_scope = r.scope.value_or(r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  rt->rtm_type = r.type;
  if (r.onlink) rt->rtm_flags |= RTNH_F_ONLINK;
  if (r.table >= 256) m.put_u32(RTA_TABLE, r.table);
  if (r.dst.length() > 0) {
    IpAddress net = r.dst.first();
    m.put(RTA_DST, net.data(), net.size());
  }
  if (r.gateway) m.put(RTA_GATEWAY, r.gateway->data(), r.gateway->size());
  if (r.oif) m.put_u32(RTA_OIF, static_cast<uint32_t>(r.oif));
  if (r.src) m.put(RTA_PREFSRC, r.src->data(), r.src->size());
  if (r.metric) m.put_u32(RTA_PRIORITY, r.metric);
  if (r.mtu) {
    nlattr* metrics = m.begin_nest(RTA_METRICS);
    m.put_u32(RTAX_MTU, r.mtu);
    m.end_nest(metrics);
  }
  return m;
}
}  // namespace

nl::Message add_request(const Route& r, bool replace) {
  return route_request(RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), r);
}

nl::Message append_request(const Route& r) { return route_request(RTM_NEWROUTE, NLM_F_CREATE, r); }

void add(nl::Socket& s, const Route& r, bool replace) {
  nl::Message m = add_request(r, replace);
  s.ack(m, fmt::format("cannot add route {}", r.str()));
}

bool remove(nl::Socket& s, const Route& r) {
  nl::Message m = route_request(RTM_DELROUTE, 0, r);
  // For deletion the kernel matches on what is given; scope NOWHERE matches any scope.
  static_cast<rtmsg*>(nl::payload(m.hdr()))->rtm_scope = RT_SCOPE_NOWHERE;
  std::string text;
  int err = s.try_ack(m, &text);
  if (err == ESRCH || err == ENODEV || err == ENOENT) return false;
  if (err) throw Error(fmt::format("cannot remove route {}", r.str()), err, text);
  return true;
}

nl::Message get_request(const IpAddress& dst, int oif, const std::optional<IpAddress>& src) {
  nl::Message m(RTM_GETROUTE, NLM_F_ACK);
  auto* rt = m.put_header<rtmsg>();
  rt->rtm_family = static_cast<uint8_t>(dst.family());
  rt->rtm_dst_len = static_cast<uint8_t>(dst.size() * 8);
  m.put(RTA_DST, dst.data(), dst.size());
  if (src) {
    rt->rtm_src_len = static_cast<uint8_t>(src->size() * 8);
    m.put(RTA_SRC, src->data(), src->size());
  }
  if (oif) m.put_u32(RTA_OIF, static_cast<uint32_t>(oif));
  return m;
}

Route get_route(nl::Socket& s, const IpAddress& dst, int oif, const std::optional<IpAddress>& src) {
  nl::Message m = get_request(dst, oif, src);
  nl::Reply r = s.exchange(m);
  if (r.error) throw Error(fmt::format("no route to {}", dst.str()), r.error, r.kernel_text);
  if (r.messages.empty()) throw Error(fmt::format("no route to {}", dst.str()), EHOSTUNREACH);
  return parse_route(r.messages.front());
}

std::optional<int> lookup_oif(nl::Socket& s, const IpAddress& dst) {
  nl::Message m = get_request(dst);
  nl::Reply r = s.exchange(m);
  if (r.error || r.messages.empty()) return std::nullopt;
  auto a = nl::Attrs::of_message(r.messages.front().hdr(), sizeof(rtmsg));
  auto oif = a.u32(RTA_OIF);
  if (!oif) return std::nullopt;
  return static_cast<int>(*oif);
}

std::vector<Route> list_routes(nl::Socket& s, int family, uint32_t table, bool all_types) {
  nl::Message m(RTM_GETROUTE, 0);
  m.put_header<rtmsg>()->rtm_family = static_cast<uint8_t>(family);
  std::vector<Route> out;
  for (auto& msg : s.dump(m, "cannot list routes")) {
    const auto* rt = msg.header<rtmsg>();
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(rtmsg));
    uint32_t t = a.u32(RTA_TABLE).value_or(rt->rtm_table);
    if (table && t != table) continue;
    if (rt->rtm_type != RTN_UNICAST && !all_types) continue;
    out.push_back(parse_route(msg));
  }
  return out;
}

}  // namespace ctnet::addr
