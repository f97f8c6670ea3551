#include "ipam/dhcp_message.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace ctnet::dhcp {

namespace {

constexpr uint8_t kCookie[4] = {99, 130, 83, 99};
constexpr size_t kFixed = 236;      // op .. file
constexpr size_t kBootpMin = 300;   // BOOTP's minimum message, which some relays insist on

void put16(std::string& s, uint16_t v) {
  s += static_cast<char>(v >> 8);
  s += static_cast<char>(v & 0xff);
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v >> 16));
  put16(s, static_cast<uint16_t>(v & 0xffff));
}
void put_addr(std::string& s, const IpAddress& a) { s.append(reinterpret_cast<const char*>(a.data()), 4); }

uint16_t get16(std::string_view s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) << 8 | static_cast<uint8_t>(s[at + 1]));
}
uint32_t get32(std::string_view s, size_t at) { return uint32_t{get16(s, at)} << 16 | get16(s, at + 2); }
IpAddress get_addr(std::string_view s, size_t at) { return IpAddress::from_bytes(AF_INET, s.data() + at); }

std::string addr_bytes(const IpAddress& a) { return {reinterpret_cast<const char*>(a.data()), 4}; }

// The options every client message carries, after its message type.
Message client_message(const ClientOptions& c, uint32_t xid, Type type) {
  Message m;
  m.xid = xid;
  m.chaddr = c.mac;
  m.set(opt::message_type, std::string(1, static_cast<char>(type)));
  m.set(opt::client_id, c.client_id);
  if (type != Type::release) {
    if (!c.parameter_list.empty()) m.set(opt::parameter_list, std::string(c.parameter_list.begin(), c.parameter_list.end()));
    for (const auto& [code, value] : c.provide) m.set(code, value);
  } else {
    for (const auto& [code, value] : c.provide)
      if (code == opt::client_id) m.set(code, value);  // the server knows the lease by the identifier it was given
  }
  return m;
}

}  // namespace

const char* to_string(Type t) {
  switch (t) {
    case Type::discover: return "DHCPDISCOVER";
    case Type::offer: return "DHCPOFFER";
    case Type::request: return "DHCPREQUEST";
    case Type::decline: return "DHCPDECLINE";
    case Type::ack: return "DHCPACK";
    case Type::nak: return "DHCPNAK";
    case Type::release: return "DHCPRELEASE";
    case Type::inform: return "DHCPINFORM";
  }
  return "DHCP?";
}

const std::string* Message::option(uint8_t code) const {
  for (const auto& [c, v] : options)
    if (c == code) return &v;
  return nullptr;
}

void Message::set(uint8_t code, std::string value) {
  for (auto& [c, v] : options)
    if (c == code) {
      v = std::move(value);
      return;
    }
  options.emplace_back(code, std::move(value));
}

std::optional<Type> Message::type() const {
  const auto* v = option(opt::message_type);
  if (!v || v->size() != 1 || (*v)[0] < 1 || (*v)[0] > 8) return std::nullopt;
  return static_cast<Type>((*v)[0]);
}

std::vector<IpAddress> Message::addresses_option(uint8_t code) const {
  std::vector<IpAddress> out;
  const auto* v = option(code);
  if (!v || v->size() % 4) return out;
  for (size_t i = 0; i < v->size(); i += 4) out.push_back(get_addr(*v, i));
  return out;
}

std::optional<IpAddress> Message::address_option(uint8_t code) const {
  auto all = addresses_option(code);
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::optional<uint32_t> Message::u32_option(uint8_t code) const {
  const auto* v = option(code);
  if (!v || v->size() != 4) return std::nullopt;
  return get32(*v, 0);
}

std::string encode(const Message& m) {
  std::string s;
  s.reserve(kBootpMin + 64);
  s += static_cast<char>(m.op);
  s += static_cast<char>(1);  // htype: Ethernet
  s += static_cast<char>(6);  // hlen
  s += static_cast<char>(0);  // hops
  put32(s, m.xid);
  put16(s, m.secs);
  put16(s, m.broadcast ? 0x8000 : 0);
  for (const auto* a : {&m.ciaddr, &m.yiaddr, &m.siaddr, &m.giaddr}) put_addr(s, *a);
  s.append(reinterpret_cast<const char*>(m.chaddr.bytes.data()), 6);
  s.append(10 + 64 + 128, '\0');  // chaddr padding, sname, file
  s.append(reinterpret_cast<const char*>(kCookie), 4);
  for (const auto& [code, value] : m.options) {
    // A value longer than one option holds is split over several of the same code (RFC 3396).
    size_t off = 0;
    do {
      const size_t n = std::min<size_t>(255, value.size() - off);
      s += static_cast<char>(code);
      s += static_cast<char>(n);
      s.append(value, off, n);
      off += n;
    } while (off < value.size());
  }
  s += static_cast<char>(opt::end);
  if (s.size() < kBootpMin) s.append(kBootpMin - s.size(), '\0');
  return s;
}

std::optional<Message> decode(std::string_view p) {
  if (p.size() < kFixed + 4 || std::memcmp(p.data() + kFixed, kCookie, 4) != 0) return std::nullopt;
  if (p[1] != 1 || p[2] != 6) return std::nullopt;  // not Ethernet
  Message m;
  m.op = static_cast<uint8_t>(p[0]);
  m.xid = get32(p, 4);
  m.secs = get16(p, 8);
  m.broadcast = get16(p, 10) & 0x8000;
  m.ciaddr = get_addr(p, 12);
  m.yiaddr = get_addr(p, 16);
  m.siaddr = get_addr(p, 20);
  m.giaddr = get_addr(p, 24);
  std::memcpy(m.chaddr.bytes.data(), p.data() + 28, 6);
  for (size_t i = kFixed + 4; i < p.size();) {
    const uint8_t code = static_cast<uint8_t>(p[i]);
    if (code == opt::end) break;
    if (code == opt::pad) {
      ++i;
      continue;
    }
    if (i + 2 > p.size()) return std::nullopt;
    const size_t n = static_cast<uint8_t>(p[i + 1]);
    if (i + 2 + n > p.size()) return std::nullopt;
    std::string_view value = p.substr(i + 2, n);
    // Several options of one code are one value (RFC 3396).
    bool joined = false;
    for (auto& [c, v] : m.options)
      if (c == code) {
        v.append(value);
        joined = true;
      }
    if (!joined) m.options.emplace_back(code, std::string(value));
    i += 2 + n;
  }
  return m;
}

uint16_t checksum(std::string_view data, uint32_t sum) {
  for (size_t i = 0; i + 1 < data.size(); i += 2) sum += get16(data, i);
  if (data.size() % 2) sum += static_cast<uint32_t>(static_cast<uint8_t>(data.back())) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::string ipv4_udp(const IpAddress& src, const IpAddress& dst, uint16_t sport, uint16_t dport, std::string_view payload) {
  const uint16_t udp_len = static_cast<uint16_t>(8 + payload.size());
  std::string ip;
  ip += static_cast<char>(0x45);  // version 4, 5 words of header
  ip += static_cast<char>(0x10);  // TOS low delay, as DHCP clients send it
  put16(ip, static_cast<uint16_t>(20 + udp_len));
  put16(ip, 0);  // identification
  put16(ip, 0);  // no fragmentation flags
  ip += static_cast<char>(64);    // TTL
  ip += static_cast<char>(17);    // UDP
  put16(ip, 0);                   // header checksum, below
  put_addr(ip, src);
  put_addr(ip, dst);
  const uint16_t hsum = checksum(ip);
  ip[10] = static_cast<char>(hsum >> 8);
  ip[11] = static_cast<char>(hsum & 0xff);

  std::string udp;
  put16(udp, sport);
  put16(udp, dport);
  put16(udp, udp_len);
  put16(udp, 0);
  udp.append(payload);
  // The pseudo header: addresses, protocol, UDP length.
  std::string pseudo = addr_bytes(src) + addr_bytes(dst);
  pseudo += '\0';
  pseudo += static_cast<char>(17);
  put16(pseudo, udp_len);
  uint32_t partial = 0;
  for (size_t i = 0; i < pseudo.size(); i += 2) partial += get16(pseudo, i);
  uint16_t usum = checksum(udp, partial);
  if (usum == 0) usum = 0xffff;  // 0 would mean "no checksum"
  udp[6] = static_cast<char>(usum >> 8);
  udp[7] = static_cast<char>(usum & 0xff);
  return ip + udp;
}

std::optional<Datagram> parse_udp(std::string_view p) {
  if (p.size() < 20 || (static_cast<uint8_t>(p[0]) >> 4) != 4) return std::nullopt;
  const size_t ihl = (static_cast<uint8_t>(p[0]) & 0x0f) * 4u;
  if (ihl < 20 || p.size() < ihl + 8) return std::nullopt;
  const size_t total = get16(p, 2);
  if (total < ihl + 8 || total > p.size()) return std::nullopt;
  if (get16(p, 6) & 0x3fff) return std::nullopt;  // a fragment (MF or an offset)
  if (static_cast<uint8_t>(p[9]) != 17) return std::nullopt;
  if (checksum(p.substr(0, ihl)) != 0) return std::nullopt;
  const size_t ulen = get16(p, ihl + 4);
  if (ulen < 8 || ihl + ulen > total) return std::nullopt;
  return Datagram{get_addr(p, 12), get_addr(p, 16), get16(p, ihl), get16(p, ihl + 2), p.substr(ihl + 8, ulen - 8)};
}

std::string reference_client_id(std::string_view container_id, std::string_view network, std::string_view ifname) {
  std::string id = std::string(container_id) + "/" + std::string(network) + "/" + std::string(ifname);
  if (id.size() > 254) id.resize(254);
  return std::string(1, '\0') + id;
}

Message discover(const ClientOptions& c, uint32_t xid, std::optional<IpAddress> hint) {
  Message m = client_message(c, xid, Type::discover);
  m.broadcast = c.broadcast;
  if (hint) m.set(opt::requested_ip, addr_bytes(*hint));
  return m;
}

Message request_offered(const ClientOptions& c, uint32_t xid, const Message& offer) {
  Message m = client_message(c, xid, Type::request);
  m.broadcast = c.broadcast;
  m.set(opt::requested_ip, addr_bytes(offer.yiaddr));
  if (const auto* id = offer.option(opt::server_id)) m.set(opt::server_id, *id);
  return m;
}

Message request_extension(const ClientOptions& c, uint32_t xid, const IpAddress& leased) {
  Message m = client_message(c, xid, Type::request);
  m.ciaddr = leased;
  return m;
}

Message release(const ClientOptions& c, uint32_t xid, const IpAddress& leased, const IpAddress& server) {
  Message m = client_message(c, xid, Type::release);
  m.ciaddr = leased;
  m.set(opt::server_id, addr_bytes(server));
  return m;
}

std::optional<std::vector<LeaseRoute>> classless_routes(std::string_view v) {
  std::vector<LeaseRoute> out;
  for (size_t i = 0; i < v.size();) {
    const int len = static_cast<uint8_t>(v[i]);
    if (len > 32) return std::nullopt;
    const size_t octets = static_cast<size_t>(len + 7) / 8;
    if (i + 1 + octets + 4 > v.size()) return std::nullopt;
    uint8_t dst[4] = {0, 0, 0, 0};
    std::memcpy(dst, v.data() + i + 1, octets);
    const IpAddress router = get_addr(v, i + 1 + octets);
    LeaseRoute r{Prefix(IpAddress::from_bytes(AF_INET, dst), len).network(), std::nullopt};
    if (!router.is_unspecified()) r.gw = router;
    out.push_back(r);
    i += 1 + octets + 4;
  }
  return out;
}

std::vector<LeaseRoute> static_routes(std::string_view v) {
  std::vector<LeaseRoute> out;
  for (size_t i = 0; i + 8 <= v.size(); i += 8) {
    const IpAddress dst = get_addr(v, i);
    const uint8_t first = dst.data()[0];
    const int len = first < 128 ? 8 : first < 192 ? 16 : 24;  // classful: A, B, C
    out.push_back({Prefix(dst, len).network(), get_addr(v, i + 4)});
  }
  return out;
}

Timers timers_of(const Message& ack) {
  Timers t;
  t.lease = Seconds(ack.u32_option(opt::lease_time).value_or(static_cast<uint32_t>(kDefaultLease.count())));
  const Seconds t1_default = t.lease / 2, t2_default = t.lease * 7 / 8;
  t.t2 = Seconds(ack.u32_option(opt::rebinding_time).value_or(static_cast<uint32_t>(t2_default.count())));
  if (t.t2 > t.lease) t.t2 = t2_default;
  t.t1 = Seconds(ack.u32_option(opt::renewal_time).value_or(static_cast<uint32_t>(t1_default.count())));
  if (t.t1 > t.t2) t.t1 = std::min(t1_default, t.t2);
  return t;
}

Lease lease_of(const Message& ack) {
  Lease l;
  if (ack.yiaddr.is_unspecified()) throw Error("the DHCPACK gives no address (yiaddr 0.0.0.0)");
  const auto mask = ack.u32_option(opt::subnet_mask);
  if (!mask) throw Error("the DHCPACK carries no subnet mask (option 1)");
  const int len = __builtin_popcount(*mask);
  if (len < 32 && (*mask << len) != 0) throw Error("the DHCPACK's subnet mask (option 1) is not contiguous");
  l.address = Prefix(ack.yiaddr, len);
  l.gateway = ack.address_option(opt::router);
  std::optional<std::vector<LeaseRoute>> classless;
  if (const auto* v = ack.option(opt::classless_routes)) classless = classless_routes(*v);
  if (classless && !classless->empty()) {
    // RFC 3442: with classless routes, the client ignores option 33 and the router option for routing.
    l.routes = *classless;
  } else {
    if (const auto* v = ack.option(opt::static_routes)) l.routes = static_routes(*v);
    if (l.gateway) l.routes.push_back({Prefix(IpAddress::v4(0), 0), l.gateway});
  }
  l.dns = ack.addresses_option(opt::dns_servers);
  if (const auto* d = ack.option(opt::domain_name)) {
    l.domain = *d;
    while (!l.domain.empty() && l.domain.back() == '\0') l.domain.pop_back();  // some servers count a NUL
  }
  l.server = ack.address_option(opt::server_id).value_or(ack.siaddr);
  l.timers = timers_of(ack);
  return l;
}

Phase phase_at(const Timers& t, Seconds since) {
  if (since >= t.lease) return Phase::expired;
  if (since >= t.t2) return Phase::rebinding;
  if (since >= t.t1) return Phase::renewing;
  return Phase::bound;
}

Seconds next_attempt(const Timers& t, Seconds since) {
  const Phase p = phase_at(t, since);
  if (p == Phase::bound) return t.t1;
  if (p == Phase::expired) return since;
  const Seconds boundary = p == Phase::renewing ? t.t2 : t.lease;
  const Seconds left = boundary - since;
  const Seconds wait = std::max(left / 2, std::min(Seconds(60), left));
  return since + wait;
}

std::chrono::milliseconds resend_delay(int failures, std::chrono::milliseconds max) {
  using std::chrono::milliseconds;
  if (failures <= 4) return std::min(milliseconds(2000), max);
  milliseconds d(4000);
  for (int i = 5; i < failures && d < max; ++i) d *= 2;
  return std::min(d, max);
}

}  // namespace ctnet::dhcp
