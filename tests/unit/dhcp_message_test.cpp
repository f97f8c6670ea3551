// DHCP on the wire without a network: the client's messages byte by byte, replies decoded, what an ACK means
// for the container (address, gateway, routes of options 121 / 33 / 3, DNS), the lease's timers and resend
// delays, and the IPv4/UDP framing the packet socket needs.
#include <gtest/gtest.h>

#include "ipam/dhcp_daemon.h"
#include "ipam/dhcp_message.h"
#include "util/error.h"

using namespace ctnet;
using namespace ctnet::dhcp;

namespace {

IpAddress ip(const char* s) { return *IpAddress::try_parse(s); }
std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}
std::string addr(const char* s) { return {reinterpret_cast<const char*>(ip(s).data()), 4}; }
std::string u32(uint32_t v) { return bytes({int(v >> 24), int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)}); }

ClientOptions client() {
  ClientOptions c;
  c.mac = *MacAddress::try_parse("02:00:00:00:00:07");
  c.client_id = reference_client_id("c1", "net", "eth0");
  c.parameter_list = {3, 1, 6};
  return c;
}

// A server's ACK as dnsmasq sends one (options in its order).
Message ack_with(std::vector<std::pair<uint8_t, std::string>> options) {
  Message m;
  m.op = 2;
  m.xid = 0x01020304;
  m.yiaddr = ip("10.77.0.50");
  m.siaddr = ip("10.77.0.1");
  m.chaddr = client().mac;
  m.options = {{opt::message_type, bytes({5})}, {opt::server_id, addr("10.77.0.1")}};
  for (auto& o : options) m.options.push_back(std::move(o));
  return m;
}

TEST(DhcpMessage, DiscoverIsTheBootpLayoutWithTheReferencesClientId) {
  ClientOptions c = client();
  c.broadcast = true;
  const std::string p = encode(discover(c, 0xdeadbeef));
  ASSERT_EQ(p.size(), 300u) << "padded to BOOTP's minimum";
  EXPECT_EQ(p.substr(0, 4), bytes({1, 1, 6, 0}));  // BOOTREQUEST, Ethernet, 6 byte address, no hops
  EXPECT_EQ(p.substr(4, 4), bytes({0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(p.substr(8, 4), bytes({0, 0, 0x80, 0})) << "secs 0, the BROADCAST flag";
  EXPECT_EQ(p.substr(12, 16), std::string(16, '\0')) << "no addresses yet";
  EXPECT_EQ(p.substr(28, 6), bytes({2, 0, 0, 0, 0, 7}));
  EXPECT_EQ(p.substr(236, 4), bytes({99, 130, 83, 99})) << "the magic cookie";
  const std::string id = std::string(1, '\0') + "c1/net/eth0";
  const std::string want = bytes({53, 1, 1}) + bytes({61, static_cast<int>(id.size())}) + id + bytes({55, 3, 3, 1, 6, 255});
  EXPECT_EQ(p.substr(240, want.size()), want);
  EXPECT_EQ(p.substr(240 + want.size()), std::string(300 - 240 - want.size(), '\0'));

  c.broadcast = false;
  EXPECT_EQ(encode(discover(c, 1)).substr(10, 2), bytes({0, 0}));
}

TEST(DhcpMessage, ClientIdIsCutToWhatOneOptionHolds) {
  EXPECT_EQ(reference_client_id("abc", "mynet", "eth0"), std::string(1, '\0') + "abc/mynet/eth0");
  const std::string long_id = reference_client_id(std::string(300, 'x'), "n", "eth0");
  EXPECT_EQ(long_id.size(), 255u);
  EXPECT_EQ(long_id.substr(1), std::string(254, 'x'));
}

TEST(DhcpMessage, EachStateSendsWhatRfc2131Asks) {
  ClientOptions c = client();
  c.provide = {{opt::host_name, "web-1"}};
  Message offer = ack_with({});
  offer.set(opt::message_type, bytes({2}));

  Message sel = request_offered(c, 7, offer);
  EXPECT_EQ(sel.type(), Type::request);
  EXPECT_EQ(sel.ciaddr, IpAddress::v4(0));
  EXPECT_EQ(sel.address_option(opt::requested_ip), ip("10.77.0.50"));
  EXPECT_EQ(sel.address_option(opt::server_id), ip("10.77.0.1"));
  ASSERT_NE(sel.option(opt::host_name), nullptr);
  EXPECT_EQ(*sel.option(opt::host_name), "web-1");

  Message ext = request_extension(c, 8, ip("10.77.0.50"));
  EXPECT_EQ(ext.ciaddr, ip("10.77.0.50"));
  EXPECT_EQ(ext.option(opt::requested_ip), nullptr) << "RENEWING/REBINDING: no requested address";
  EXPECT_EQ(ext.option(opt::server_id), nullptr);

  Message rel = release(c, 9, ip("10.77.0.50"), ip("10.77.0.1"));
  EXPECT_EQ(rel.type(), Type::release);
  EXPECT_EQ(rel.ciaddr, ip("10.77.0.50"));
  EXPECT_EQ(rel.address_option(opt::server_id), ip("10.77.0.1"));
  EXPECT_EQ(rel.option(opt::parameter_list), nullptr) << "a release asks for nothing";
  EXPECT_EQ(*rel.option(opt::client_id), c.client_id);

  // A provided client identifier replaces the default one, in every message.
  c.provide = {{opt::client_id, "mine"}};
  EXPECT_EQ(*discover(c, 1).option(opt::client_id), "mine");
  EXPECT_EQ(*release(c, 1, ip("10.77.0.50"), ip("10.77.0.1")).option(opt::client_id), "mine");
  EXPECT_EQ(discover(c, 1, ip("10.77.0.50")).address_option(opt::requested_ip), ip("10.77.0.50")) << "a hint";
}

TEST(DhcpMessage, DecodeReadsWhatEncodeWrote) {
  Message m = ack_with({{opt::subnet_mask, u32(0xffffff00)}, {opt::domain_name, "dht.test"}});
  m.secs = 3;
  m.broadcast = true;
  m.giaddr = ip("10.77.0.254");
  auto d = decode(encode(m));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->op, 2);
  EXPECT_EQ(d->xid, 0x01020304u);
  EXPECT_EQ(d->secs, 3);
  EXPECT_TRUE(d->broadcast);
  EXPECT_EQ(d->yiaddr, ip("10.77.0.50"));
  EXPECT_EQ(d->siaddr, ip("10.77.0.1"));
  EXPECT_EQ(d->giaddr, ip("10.77.0.254"));
  EXPECT_EQ(d->chaddr, m.chaddr);
  EXPECT_EQ(d->type(), Type::ack);
  EXPECT_EQ(d->options, m.options);
}

TEST(DhcpMessage, LongOptionsAreSplitAndJoined) {
  Message m = ack_with({{opt::classless_routes, std::string(300, '\x01')}});
  const std::string p = encode(m);
  auto d = decode(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d->option(opt::classless_routes), std::string(300, '\x01')) << "RFC 3396: one value again";
}

TEST(DhcpMessage, DecodeRefusesWhatIsNoDhcpMessage) {
  const std::string good = encode(ack_with({{opt::subnet_mask, u32(0xffffff00)}}));
  EXPECT_FALSE(decode(good.substr(0, 239)));
  std::string no_cookie = good;
  no_cookie[236] = 0;
  EXPECT_FALSE(decode(no_cookie));
  // An option whose length runs past the end.
  std::string truncated = good.substr(0, 240) + bytes({53, 1, 5, 3, 4, 10, 0});
  EXPECT_FALSE(decode(truncated));
}

TEST(DhcpLease, AnAckGivesAddressGatewayDefaultRouteAndDns) {
  Message ack = ack_with({{opt::subnet_mask, u32(0xffffff00)},
                          {opt::router, addr("10.77.0.1") + addr("10.77.0.2")},
                          {opt::dns_servers, addr("10.77.0.53") + addr("10.77.0.54")},
                          {opt::domain_name, std::string("dht.test") + '\0'},
                          {opt::lease_time, u32(120)}});
  Lease l = lease_of(ack);
  EXPECT_EQ(l.address.str(), "10.77.0.50/24");
  EXPECT_EQ(l.gateway, ip("10.77.0.1")) << "the first router";
  ASSERT_EQ(l.routes.size(), 1u);
  EXPECT_EQ(l.routes[0].dst.str(), "0.0.0.0/0");
  EXPECT_EQ(l.routes[0].gw, ip("10.77.0.1"));
  EXPECT_EQ(l.dns, (std::vector<IpAddress>{ip("10.77.0.53"), ip("10.77.0.54")}));
  EXPECT_EQ(l.domain, "dht.test") << "a trailing NUL is not part of the name";
  EXPECT_EQ(l.server, ip("10.77.0.1"));
  EXPECT_EQ(l.timers, (Timers{Seconds(60), Seconds(105), Seconds(120)}));
}

TEST(DhcpLease, ClasslessRoutesReplaceStaticRoutesAndTheRouter) {
  // RFC 3442's examples: 0 -> default; 8 + one octet; 24 + three; an on-link route (router 0.0.0.0).
  const std::string routes = bytes({0}) + addr("10.77.0.1") + bytes({8, 10}) + addr("10.77.0.9") +
                             bytes({24, 192, 168, 5}) + addr("0.0.0.0") + bytes({25, 172, 16, 3, 128}) + addr("10.77.0.8");
  auto parsed = classless_routes(routes);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[0], (LeaseRoute{*Prefix::try_parse("0.0.0.0/0"), ip("10.77.0.1")}));
  EXPECT_EQ((*parsed)[1], (LeaseRoute{*Prefix::try_parse("10.0.0.0/8"), ip("10.77.0.9")}));
  EXPECT_EQ((*parsed)[2], (LeaseRoute{*Prefix::try_parse("192.168.5.0/24"), std::nullopt}));
  EXPECT_EQ((*parsed)[3], (LeaseRoute{*Prefix::try_parse("172.16.3.128/25"), ip("10.77.0.8")}));

  Lease l = lease_of(ack_with({{opt::subnet_mask, u32(0xffffff00)}, {opt::router, addr("10.77.0.1")},
                               {opt::static_routes, addr("10.9.0.0") + addr("10.77.0.7")},
                               {opt::classless_routes, bytes({8, 10}) + addr("10.77.0.9")}}));
  EXPECT_EQ(l.routes, (std::vector<LeaseRoute>{{*Prefix::try_parse("10.0.0.0/8"), ip("10.77.0.9")}}))
      << "with option 121 neither option 33 nor the router make routes";
  EXPECT_EQ(l.gateway, ip("10.77.0.1")) << "the gateway is still the router";

  EXPECT_FALSE(classless_routes(bytes({33}) + addr("1.2.3.4") + addr("10.0.0.1"))) << "prefix length 33";
  EXPECT_FALSE(classless_routes(bytes({24, 10, 1}))) << "truncated";
}

TEST(DhcpLease, StaticRoutesAreClassfulAndComeBeforeTheDefault) {
  Lease l = lease_of(ack_with({{opt::subnet_mask, u32(0xffff0000)}, {opt::router, addr("10.77.0.1")},
                               {opt::static_routes, addr("10.9.0.0") + addr("10.77.0.7") + addr("172.20.0.0") + addr("10.77.0.8") +
                                                        addr("192.168.3.0") + addr("10.77.0.9")}}));
  EXPECT_EQ(l.address.str(), "10.77.0.50/16");
  ASSERT_EQ(l.routes.size(), 4u);
  EXPECT_EQ(l.routes[0].dst.str(), "10.0.0.0/8");
  EXPECT_EQ(l.routes[1].dst.str(), "172.20.0.0/16");
  EXPECT_EQ(l.routes[2].dst.str(), "192.168.3.0/24");
  EXPECT_EQ(l.routes[3].dst.str(), "0.0.0.0/0");
  EXPECT_TRUE(lease_of(ack_with({{opt::subnet_mask, u32(0xffffff00)}})).routes.empty()) << "no router, no route";
}

TEST(DhcpLease, AnAckWithoutWhatTheContainerNeedsIsAnError) {
  EXPECT_THROW(lease_of(ack_with({})), Error) << "no subnet mask (the reference refuses it too)";
  EXPECT_THROW(lease_of(ack_with({{opt::subnet_mask, u32(0xff00ff00)}})), Error) << "not contiguous";
  Message no_addr = ack_with({{opt::subnet_mask, u32(0xffffff00)}});
  no_addr.yiaddr = IpAddress::v4(0);
  EXPECT_THROW(lease_of(no_addr), Error);
}

TEST(DhcpLease, TimersFollowRfc2131AndTheServer) {
  EXPECT_EQ(timers_of(ack_with({})), (Timers{Seconds(1800), Seconds(3150), Seconds(3600)})) << "no option 51: an hour";
  EXPECT_EQ(timers_of(ack_with({{opt::lease_time, u32(600)}, {opt::renewal_time, u32(10)}, {opt::rebinding_time, u32(20)}})),
            (Timers{Seconds(10), Seconds(20), Seconds(600)}));
  EXPECT_EQ(timers_of(ack_with({{opt::lease_time, u32(600)}, {opt::renewal_time, u32(500)}, {opt::rebinding_time, u32(400)}})),
            (Timers{Seconds(300), Seconds(400), Seconds(600)}))
      << "T1 after T2: the default T1";
  EXPECT_EQ(timers_of(ack_with({{opt::lease_time, u32(600)}, {opt::rebinding_time, u32(900)}})),
            (Timers{Seconds(300), Seconds(525), Seconds(600)}))
      << "T2 after the expiry: the default T2";
}

TEST(DhcpLease, RenewAtT1RebindAtT2RetryHalfwayAndExpire) {
  const Timers t{Seconds(1800), Seconds(3150), Seconds(3600)};
  EXPECT_EQ(phase_at(t, Seconds(0)), Phase::bound);
  EXPECT_EQ(phase_at(t, Seconds(1799)), Phase::bound);
  EXPECT_EQ(phase_at(t, Seconds(1800)), Phase::renewing);
  EXPECT_EQ(phase_at(t, Seconds(3150)), Phase::rebinding);
  EXPECT_EQ(phase_at(t, Seconds(3600)), Phase::expired);
  EXPECT_EQ(next_attempt(t, Seconds(10)), Seconds(1800)) << "bound: wait for T1";
  EXPECT_EQ(next_attempt(t, Seconds(1800)), Seconds(1800 + 675)) << "renewing: half the time left until T2";
  EXPECT_EQ(next_attempt(t, Seconds(3100)), Seconds(3150)) << "no less than a minute, but never past T2";
  EXPECT_EQ(next_attempt(t, Seconds(3150)), Seconds(3150 + 225)) << "rebinding: half the time left";
  EXPECT_EQ(next_attempt(t, Seconds(3590)), Seconds(3600)) << "then the expiry";
  // dnsmasq's shortest lease (2 minutes): renew at 60 s; a failed renewal waits until T2.
  const Timers shortest{Seconds(60), Seconds(105), Seconds(120)};
  EXPECT_EQ(next_attempt(shortest, Seconds(60)), Seconds(105));
  EXPECT_EQ(next_attempt(shortest, Seconds(106)), Seconds(120));
}

TEST(DhcpLease, ResendsAreSpacedAsTheReferencesAre) {
  using std::chrono::milliseconds;
  const milliseconds max(62000);
  for (int n = 1; n <= 4; ++n) EXPECT_EQ(resend_delay(n, max), milliseconds(2000)) << n;
  EXPECT_EQ(resend_delay(5, max), milliseconds(4000));
  EXPECT_EQ(resend_delay(6, max), milliseconds(8000));
  EXPECT_EQ(resend_delay(8, max), milliseconds(32000));
  EXPECT_EQ(resend_delay(9, max), max);
  EXPECT_EQ(resend_delay(30, max), max);
  EXPECT_EQ(resend_delay(1, milliseconds(500)), milliseconds(500)) << "never above the maximum";
}

TEST(DhcpFraming, Ipv4UdpHeadersAndChecksums) {
  const std::string payload = encode(discover(client(), 42));
  const std::string p = ipv4_udp(IpAddress::v4(0), ip("255.255.255.255"), 68, 67, payload);
  ASSERT_EQ(p.size(), 20 + 8 + payload.size());
  EXPECT_EQ(static_cast<uint8_t>(p[0]), 0x45);
  EXPECT_EQ(static_cast<uint8_t>(p[9]), 17);
  EXPECT_EQ(checksum(p.substr(0, 20)), 0) << "the header checksum is right";
  // The UDP checksum over the pseudo header comes out as 0 too.
  std::string pseudo = addr("0.0.0.0") + addr("255.255.255.255") + bytes({0, 17}) + p.substr(24, 2);
  uint32_t partial = 0;
  for (size_t i = 0; i < pseudo.size(); i += 2) partial += (static_cast<uint8_t>(pseudo[i]) << 8) | static_cast<uint8_t>(pseudo[i + 1]);
  EXPECT_EQ(checksum(p.substr(20), partial), 0);

  auto d = parse_udp(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->src, IpAddress::v4(0));
  EXPECT_EQ(d->dst, ip("255.255.255.255"));
  EXPECT_EQ(d->sport, 68);
  EXPECT_EQ(d->dport, 67);
  EXPECT_EQ(d->payload, payload);

  std::string bad_sum = p;
  bad_sum[8] = 1;  // TTL changed, checksum not
  EXPECT_FALSE(parse_udp(bad_sum));
  std::string fragment = ipv4_udp(ip("10.0.0.1"), ip("10.0.0.2"), 67, 68, "x");
  fragment[6] = 0x20;  // more fragments
  EXPECT_FALSE(parse_udp(fragment));
  EXPECT_FALSE(parse_udp(p.substr(0, 27)));
  // Ethernet pads short frames: bytes after the IP packet's total length are not payload.
  const std::string frame = ipv4_udp(ip("10.0.0.1"), ip("10.0.0.2"), 67, 68, "abc") + std::string(20, '\0');
  auto padded = parse_udp(frame);  // its payload is a view into `frame`
  ASSERT_TRUE(padded);
  EXPECT_EQ(padded->payload, "abc");
}

TEST(DhcpDaemonProtocol, LeaseRoundTripsThroughJson) {
  Lease l = lease_of(ack_with({{opt::subnet_mask, u32(0xffffff00)}, {opt::router, addr("10.77.0.1")},
                               {opt::dns_servers, addr("10.77.0.53")}, {opt::domain_name, "dht.test"},
                               {opt::classless_routes, bytes({0}) + addr("10.77.0.1") + bytes({16, 10, 5}) + addr("0.0.0.0")}}));
  Lease back = lease_from_json(to_json(l));
  EXPECT_EQ(back.address, l.address);
  EXPECT_EQ(back.gateway, l.gateway);
  EXPECT_EQ(back.routes, l.routes);
  EXPECT_EQ(back.dns, l.dns);
  EXPECT_EQ(back.domain, l.domain);
  EXPECT_EQ(back.server, l.server);
  EXPECT_EQ(back.timers, l.timers);
  EXPECT_THROW(lease_from_json(nlohmann::json{{"address", "nope"}}), Error);
}

}  // namespace
