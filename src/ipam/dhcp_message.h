// DHCPv4 on the wire (RFC 2131/2132), without I/O: the BOOTP message with its options, the IPv4 + UDP headers
// around it (the client sends and receives through a packet socket: before it is bound the interface has no
// address the kernel's UDP could use), the messages a client sends in each state, what an ACK means for the
// container (address, gateway, routes, DNS) and the lease's timers (T1, T2, expiry) and resend delays.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/ip.h"

namespace ctnet::dhcp {

using Seconds = std::chrono::seconds;

// Option codes ctnet reads or writes (RFC 2132, RFC 3442).
namespace opt {
inline constexpr uint8_t pad = 0, subnet_mask = 1, router = 3, dns_servers = 6, host_name = 12, domain_name = 15,
                         static_routes = 33, requested_ip = 50, lease_time = 51, message_type = 53, server_id = 54,
                         parameter_list = 55, renewal_time = 58, rebinding_time = 59, vendor_class = 60,
                         client_id = 61, user_class = 77, classless_routes = 121, end = 255;
}

enum class Type : uint8_t { discover = 1, offer = 2, request = 3, decline = 4, ack = 5, nak = 6, release = 7, inform = 8 };
const char* to_string(Type t);

inline constexpr uint16_t kServerPort = 67, kClientPort = 68;

struct Message {
  uint8_t op = 1;  // 1 BOOTREQUEST (client), 2 BOOTREPLY (server)
  uint32_t xid = 0;
  uint16_t secs = 0;
  bool broadcast = false;  // the BROADCAST flag: answer by broadcast (a client that cannot take unicast yet)
  IpAddress ciaddr = IpAddress::v4(0), yiaddr = IpAddress::v4(0), siaddr = IpAddress::v4(0), giaddr = IpAddress::v4(0);
  MacAddress chaddr;
  std::vector<std::pair<uint8_t, std::string>> options;  // in wire order, values as bytes

  const std::string* option(uint8_t code) const;
  void set(uint8_t code, std::string value);  // replaces an option of the same code
  std::optional<Type> type() const;
  std::optional<IpAddress> address_option(uint8_t code) const;   // the first of a list of IPv4 addresses
  std::vector<IpAddress> addresses_option(uint8_t code) const;
  std::optional<uint32_t> u32_option(uint8_t code) const;
};

// The BOOTP packet: fixed header, magic cookie, options, end; padded to BOOTP's 300 bytes.
std::string encode(const Message& m);
// nullopt for anything that is not a DHCP message (short, no magic cookie, a truncated option).
std::optional<Message> decode(std::string_view packet);

// An IPv4 packet carrying one UDP datagram, and the reverse. parse_udp refuses fragments and a bad IPv4 header
// checksum; it does not check the UDP checksum: a frame from a veth peer whose sender offloaded the checksum
// reaches a packet socket before anyone filled it in.
std::string ipv4_udp(const IpAddress& src, const IpAddress& dst, uint16_t sport, uint16_t dport, std::string_view payload);
struct Datagram {
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  std::string_view payload;
};
std::optional<Datagram> parse_udp(std::string_view packet);
uint16_t checksum(std::string_view data, uint32_t sum = 0);  // the Internet checksum (RFC 1071)

// What every message of one lease carries (the reference's client identifier, the configured options).
struct ClientOptions {
  MacAddress mac;
  std::string client_id;                                  // option 61's value
  std::vector<uint8_t> parameter_list;                    // option 55 (nothing when empty)
  std::vector<std::pair<uint8_t, std::string>> provide;   // sent as given; a provided option 61 replaces the default
  bool broadcast = false;                                 // the BROADCAST flag until the lease is bound
};
// Option 61 as the reference sends it: type 0 (not a hardware address) and "CONTAINERID/NETWORK/IFNAME", cut to
// 254 bytes so that the option's value fits its one length byte.
std::string reference_client_id(std::string_view container_id, std::string_view network, std::string_view ifname);

Message discover(const ClientOptions& c, uint32_t xid, std::optional<IpAddress> hint = {});
// SELECTING: accepting `offer` (requested address and server identifier from it).
Message request_offered(const ClientOptions& c, uint32_t xid, const Message& offer);
// RENEWING (unicast to the server) and REBINDING (broadcast): ciaddr is the leased address.
Message request_extension(const ClientOptions& c, uint32_t xid, const IpAddress& leased);
Message release(const ClientOptions& c, uint32_t xid, const IpAddress& leased, const IpAddress& server);

// A route the lease gives: `gw` unset for an on-link destination (option 121's router 0.0.0.0).
struct LeaseRoute {
  Prefix dst;
  std::optional<IpAddress> gw;
  auto operator<=>(const LeaseRoute&) const = default;
};
// RFC 3442's encoding: per route, the prefix length, the significant octets of the destination, the router.
// nullopt when the value is malformed.
std::optional<std::vector<LeaseRoute>> classless_routes(std::string_view value);
// Option 33: destination and router pairs, each destination with its classful mask (as the reference reads it).
std::vector<LeaseRoute> static_routes(std::string_view value);

// RFC 2131 4.4.5: renew (T1) at half the lease, rebind (T2) at 7/8, unless the server gave T1 and T2; values
// out of order (T1 after T2, T2 after expiry) fall back to the defaults.
struct Timers {
  Seconds t1{}, t2{}, lease{};
  auto operator<=>(const Timers&) const = default;
};
inline constexpr Seconds kDefaultLease{3600};  // the reference's, for an ACK without option 51
Timers timers_of(const Message& ack);

// What an ACK means for the container.
struct Lease {
  Prefix address;                      // yiaddr with option 1's length
  std::optional<IpAddress> gateway;    // the first router of option 3
  std::vector<LeaseRoute> routes;      // option 121; without it option 33's routes and a default via the gateway
  std::vector<IpAddress> dns;          // option 6
  std::string domain;                  // option 15
  IpAddress server;                    // option 54 (siaddr when missing)
  Timers timers;
};
// Throws Error when the ACK lacks what a container needs (an address, option 1).
Lease lease_of(const Message& ack);

// The states of a bound lease as time passes since the ACK.
enum class Phase { bound, renewing, rebinding, expired };
Phase phase_at(const Timers& t, Seconds since_ack);
// When (since the ACK) to try again after an attempt at `since_ack` in RENEWING or REBINDING failed: half the time
// left until T2 (renewing) or the expiry (rebinding), but no less than a minute, and never past that boundary.
Seconds next_attempt(const Timers& t, Seconds since_ack);

// Wait before resending DISCOVER/REQUEST after the n-th failed attempt (n = 1, 2, ...), as the reference spaces
// them: 2 s four times, then 4 s doubling up to `max`; the caller adds +-1 s of jitter.
std::chrono::milliseconds resend_delay(int failures, std::chrono::milliseconds max);

}  // namespace ctnet::dhcp
