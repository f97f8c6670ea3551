// Traffic control over rtnetlink: the requests for the qdiscs, classes and filters ctnet makes (tbf, htb and
// ingress qdiscs, htb classes, u32 filters that classify by address or redirect with mirred) and the parsing of
// their dumps. Rates are in bytes per second and times in psched ticks, as the kernel takes them
// (linux/pkt_sched.h); no rate tables are sent: the kernel computes its own since 3.10 (psched_ratecfg).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet::link::tc {

constexpr uint32_t handle(uint32_t major, uint32_t minor) { return (major << 16) | (minor & 0xffff); }
inline constexpr uint32_t kRoot = 0xffffffff;           // TC_H_ROOT: the egress root of a link
inline constexpr uint32_t kIngress = 0xfffffff1;        // TC_H_INGRESS: where the ingress qdisc hangs
inline constexpr uint32_t kIngressHandle = 0xffff0000;  // "ffff:", the ingress qdisc's handle
// "1:30" as tc prints a handle (hex major:minor; "ffff:" for a minor of 0).
std::string handle_str(uint32_t h);

// psched ticks per microsecond, as tc reads them from /proc/net/psched (15.625 on every kernel since 2.6.31:
// a tick is 64 ns).
double ticks_per_usec();
// The longest time the kernel keeps in a tbf's bucket: it caps the buffer at 2^32 ns (net/sched/sch_tbf.c).
inline constexpr uint64_t kMaxBufferUsec = 4294967;

struct Tbf {
  uint64_t rate = 0;    // bytes per second
  uint32_t buffer = 0;  // ticks: how long the bucket's tokens last at `rate` (the burst as a time)
  uint32_t limit = 0;   // bytes that may wait in the queue
  bool operator==(const Tbf&) const = default;
};
// What `tc qdisc add ... tbf rate RATE burst BURST latency LATENCY` sends (as the CNI reference computes it):
// buffer = BURST at RATE (capped at kMaxBufferUsec, as the kernel caps it), limit = RATE × LATENCY + BURST
// (saturating). `rate` > 0.
Tbf tbf(uint64_t rate, uint64_t burst, uint32_t latency_usec);
// The buffer (ticks) that lasts `burst` bytes at `rate`, capped like tbf's.
uint32_t buffer_ticks(uint64_t rate, uint64_t burst);

// A netem qdisc (sch_netem): what `tc qdisc add ... netem delay D J loss L% rate R corrupt C% duplicate U%
// reorder O%` sets. Probabilities are scaled as tc scales them: UINT32_MAX is 100%.
struct Netem {
  uint64_t delay_ns = 0, jitter_ns = 0;
  uint32_t loss = 0, corrupt = 0, duplicate = 0, reorder = 0;
  uint64_t rate = 0;      // bytes per second; 0: no rate limit
  uint32_t limit = 1000;  // packets that may wait (tc's default)
  bool operator==(const Netem&) const = default;
};
// tc's units: "10ms", "500us", "2s", "100ns" (a unit is required); "1%", "0.1%" (or a bare percentage);
// "10mbit", "512kbit", "1gbit", "800bit" (bits per second; returned in bytes per second). nullopt: not one.
std::optional<uint64_t> parse_time_ns(std::string_view s);
std::optional<uint32_t> parse_probability(std::string_view s);
std::optional<uint64_t> parse_rate(std::string_view s);
// The same values as text again: "10ms", "1%", "10mbit".
std::string time_str(uint64_t ns);
std::string probability_str(uint32_t p);
std::string rate_str(uint64_t bytes_per_sec);
// "delay 10ms jitter 2ms loss 1% rate 10mbit" (only what is set).
std::string describe(const Netem& n);
// What differs: "delay 10ms (want 20ms)", one line per field.
std::vector<std::string> differences(const Netem& have, const Netem& want);
// Whether the running kernel has sch_netem (loaded, built in, or a module it can load).
bool kernel_has_netem();

struct Qdisc {
  uint32_t handle = 0, parent = kRoot;
  std::string kind;                     // "tbf", "htb", "netem", "ingress" (others are only read: "noqueue" ...)
  std::optional<Tbf> tbf;               // kind tbf
  std::optional<Netem> netem;           // kind netem
  std::optional<uint32_t> htb_default;  // kind htb: the minor of the class unclassified packets go to
  bool operator==(const Qdisc&) const = default;
};

struct HtbClass {
  uint32_t id = 0, parent = 0;        // handles: "1:30" under "1:"
  uint64_t rate = 0, ceil = 0;        // bytes per second
  uint32_t buffer = 0, cbuffer = 0;   // ticks
  uint32_t quantum = 0;               // bytes per round; 0: the kernel's rate / r2q (with a warning when odd)
  bool operator==(const HtbClass&) const = default;
};

// One 32-bit word of a u32 match: (word at `offset` of the network header & mask) == value; host order.
struct U32Key {
  uint32_t value = 0, mask = 0;
  int32_t offset = 0;
  bool operator==(const U32Key&) const = default;
};
struct U32Filter {
  uint32_t parent = 0;
  uint16_t priority = 0;
  uint16_t protocol = 0;       // ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 (host order)
  std::vector<U32Key> keys;    // none: every packet matches (sent as one key 0/0, as tc does)
  uint32_t classid = 0;        // flowid: the class a match goes to (0: none)
  int redirect_to = 0;         // ifindex: action mirred egress redirect to it (0: no action)
  bool operator==(const U32Filter&) const = default;
};
// The keys matching packets whose source (`source`) or destination address is in `p` (IPv4 or IPv6; a /0
// needs none).
std::vector<U32Key> address_keys(const Prefix& p, bool source);

// Requests. Creations carry NLM_F_CREATE | NLM_F_EXCL: an existing qdisc at the place (other than the
// link's default one), class or filter is refused, never replaced.
nl::Message new_qdisc(int ifindex, const Qdisc& q);
// The same qdisc, replacing whatever qdisc is at its place (NLM_F_CREATE | NLM_F_REPLACE, as `tc qdisc replace`).
nl::Message replace_qdisc(int ifindex, const Qdisc& q);
nl::Message delete_qdisc(int ifindex, uint32_t handle, uint32_t parent);
nl::Message new_class(int ifindex, const HtbClass& c);
nl::Message new_filter(int ifindex, const U32Filter& f);

// Dumps of one link (the qdiscs, the htb classes, the u32 filters under `parent`); whatever ctnet does not
// make is returned with its kind and placement only.
std::vector<Qdisc> qdiscs(nl::Socket& s, int ifindex);
std::vector<HtbClass> classes(nl::Socket& s, int ifindex);
std::vector<U32Filter> filters(nl::Socket& s, int ifindex, uint32_t parent);
// Parsers of one dumped message (exposed for unit tests); the qdisc's or filter's ifindex goes to *ifindex.
Qdisc parse_qdisc(const nl::OwnedMessage& m, int* ifindex = nullptr);
HtbClass parse_class(const nl::OwnedMessage& m);
// nullopt for the entries that are no filter (u32's hash tables) or of another classifier.
std::optional<U32Filter> parse_filter(const nl::OwnedMessage& m);

}  // namespace ctnet::link::tc
