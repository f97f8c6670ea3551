#include "ops/ping.h"

#include <fmt/format.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "ns/netns.h"
#include "util/error.h"
#include "util/fd.h"

namespace ctnet {

double PingResult::min_ms() const {
  double m = 0;
  bool any = false;
  for (auto& r : rtt_ms)
    if (r && (!any || *r < m)) m = *r, any = true;
  return m;
}
double PingResult::max_ms() const {
  double m = 0;
  for (auto& r : rtt_ms)
    if (r) m = std::max(m, *r);
  return m;
}
double PingResult::avg_ms() const {
  double s = 0;
  int n = 0;
  for (auto& r : rtt_ms)
    if (r) s += *r, ++n;
  return n ? s / n : 0;
}

namespace {
uint16_t checksum(const void* data, size_t len) {
  uint32_t sum = 0;
  auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}
}  // namespace

PingResult ping(const NetNs& ns, const IpAddress& target, const PingOptions& opts) {
  const bool v6 = target.is_v6();
  Fd sock;
  {
    NsGuard guard(ns);
    // Raw sockets need CAP_NET_RAW (we run as root); the kernel computes the ICMPv6 checksum itself.
    sock.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP));
  }
  if (!sock) throw_errno(fmt::format("cannot open an ICMP socket in namespace '{}'", ns.label()));
  if (v6) {
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    setsockopt(sock.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  }

  sockaddr_storage dst{};
  socklen_t dst_len;
  if (v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&dst);
    s6->sin6_family = AF_INET6;
    std::memcpy(&s6->sin6_addr, target.data(), 16);
    dst_len = sizeof(sockaddr_in6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&dst);
    s4->sin_family = AF_INET;
    std::memcpy(&s4->sin_addr, target.data(), 4);
    dst_len = sizeof(sockaddr_in);
  }

  const uint16_t ident = static_cast<uint16_t>(getpid() ^ reinterpret_cast<uintptr_t>(&sock));
  PingResult result;
  using clock = std::chrono::steady_clock;
  for (int seq = 1; seq <= opts.count; ++seq) {
    if (seq > 1) std::this_thread::sleep_for(opts.interval);
    uint8_t pkt[64] = {};
    // ICMP echo header layout is the same for v4 and v6 (type, code, checksum, id, sequence).
    pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    uint16_t id_be = htons(ident), seq_be = htons(static_cast<uint16_t>(seq));
    std::memcpy(pkt + 4, &id_be, 2);
    std::memcpy(pkt + 6, &seq_be, 2);
    std::memcpy(pkt + 8, "ctnet-ping", 10);
    if (!v6) {
      uint16_t c = checksum(pkt, sizeof pkt);
      std::memcpy(pkt + 2, &c, 2);
    }
    auto start = clock::now();
    ++result.sent;
    std::optional<double> rtt;
    if (::sendto(sock.get(), pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&dst), dst_len) >= 0) {
      auto deadline = start + opts.timeout;
      while (!rtt) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) break;
        pollfd p{sock.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        uint8_t buf[1500];
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        ssize_t n = ::recvfrom(sock.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n <= 0) continue;
        const uint8_t* icmp = buf;
        if (!v6) {  // raw IPv4 sockets deliver the IP header too
          size_t ihl = (buf[0] & 0x0f) * 4u;
          if (static_cast<size_t>(n) < ihl + 8) continue;
          icmp = buf + ihl;
          if (std::memcmp(&reinterpret_cast<sockaddr_in*>(&from)->sin_addr, target.data(), 4) != 0) continue;
        }
        if (icmp[0] != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY)) continue;
        if (std::memcmp(icmp + 4, &id_be, 2) != 0 || std::memcmp(icmp + 6, &seq_be, 2) != 0) continue;
        rtt = std::chrono::duration<double, std::milli>(clock::now() - start).count();
      }
    }
    if (rtt) ++result.received;
    result.rtt_ms.push_back(rtt);
  }
  return result;
}

}  // namespace ctnet
