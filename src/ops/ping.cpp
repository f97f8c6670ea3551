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
  for (auto& e : echoes)
    if (e.rtt_ms && (!any || *e.rtt_ms < m)) m = *e.rtt_ms, any = true;
  return m;
}
double PingResult::max_ms() const {
  double m = 0;
  for (auto& e : echoes)
    if (e.rtt_ms) m = std::max(m, *e.rtt_ms);
  return m;
}
double PingResult::avg_ms() const {
  double s = 0;
  int n = 0;
  for (auto& e : echoes)
    if (e.rtt_ms) s += *e.rtt_ms, ++n;
  return n ? s / n : 0;
}

int max_ping_size(int family) { return family == AF_INET6 ? 65535 - 8 : 65535 - 20 - 8; }

void validate(const PingOptions& o, int family) {
  if (o.count < 1 || o.count > 10000) throw InvalidInput("-c", fmt::format("{} is not a count of echoes between 1 and 10000", o.count));
  if (o.interval.count() < 0) throw InvalidInput("-i", "the interval between echoes cannot be negative");
  if (o.timeout.count() <= 0) throw InvalidInput("-W", "the time to wait for a reply must be more than 0 seconds");
  if (o.size < 0 || o.size > max_ping_size(family))
    throw InvalidInput("-s", fmt::format("{} is not a payload size between 0 and {} (the most one {} packet carries)", o.size,
                                         max_ping_size(family), family == AF_INET6 ? "IPv6" : "IPv4"));
  if (o.ttl && (*o.ttl < 1 || *o.ttl > 255))
    throw InvalidInput("-t", fmt::format("{} is not a TTL between 1 and 255 (0 would never leave the host)", *o.ttl));
  if (o.source && o.source->family() != family)
    throw InvalidInput("-I", fmt::format("{} is not an {} address like the target", o.source->str(), family == AF_INET6 ? "IPv6" : "IPv4"));
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

namespace {
void set_int(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) throw_errno(fmt::format("cannot set {} on the ICMP socket", what));
}

sockaddr_storage sockaddr_of(const IpAddress& a, int scope_ifindex, socklen_t* len) {
  sockaddr_storage ss{};
  if (a.is_v6()) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    std::memcpy(&s6->sin6_addr, a.data(), 16);
    s6->sin6_scope_id = static_cast<uint32_t>(scope_ifindex);
    *len = sizeof(sockaddr_in6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    std::memcpy(&s4->sin_addr, a.data(), 4);
    *len = sizeof(sockaddr_in);
  }
  return ss;
}

// What an echo that failed says: for EMSGSIZE the path MTU the kernel now knows (IP_MTU on a connected socket).
std::string echo_error(int fd, bool v6, int err, PingResult& r) {
  if (err == EMSGSIZE) {
    int mtu = 0;
    socklen_t len = sizeof mtu;
    if (::getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &len) == 0 && mtu > 0) {
      r.path_mtu = mtu;
      return fmt::format("too large for the path MTU {} with fragmentation off (-M do): -s {} fits", mtu,
                         mtu - (v6 ? 48 : 28));
    }
    return "too large for the path MTU with fragmentation off (-M do)";
  }
  return std::strerror(err);
}
}  // namespace

PingResult ping(const NetNs& ns, const IpAddress& target, const PingOptions& opts) {
  const bool v6 = target.is_v6();
  validate(opts, target.family());
  Fd sock;
  {
    NsGuard guard(ns);
    // Raw sockets need CAP_NET_RAW (we run as root); the kernel computes the ICMPv6 checksum itself.
    sock.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP}));
  }
  if (!sock) throw_errno(fmt::format("cannot open an ICMP socket in namespace '{}'", ns.label()));
  const int fd = sock.get();
  if (v6) {
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  }
  // The socket's namespace, not the thread's, resolves the name (net/core/sock.c: sock_bindtoindex).
  if (!opts.bind_dev.empty() &&
      ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, opts.bind_dev.c_str(), static_cast<socklen_t>(opts.bind_dev.size())) != 0)
    throw_errno(fmt::format("-I {}: cannot bind the ICMP socket to the link", opts.bind_dev));
  if (opts.source) {
    socklen_t len;
    sockaddr_storage src = sockaddr_of(*opts.source, opts.source->is_v6() ? opts.scope_ifindex : 0, &len);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), len) != 0) throw_errno(fmt::format("-I {}: cannot send from it", opts.source->str()));
  }
  if (opts.ttl) set_int(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, *opts.ttl, "the TTL (-t)");
  if (opts.pmtu != PmtuDisc::kernel_default) {
    const bool df = opts.pmtu == PmtuDisc::do_;
    if (v6) set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, df ? IPV6_PMTUDISC_DO : IPV6_PMTUDISC_DONT, "-M");
    else set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT, "-M");
  }
  // Connected: the kernel hands this socket the ICMP errors about its packets (a router's "fragmentation
  // needed", "host unreachable") as a socket error (net/ipv4/raw.c raw_err: only connected sockets or
  // IP_RECVERR), and IP_MTU then tells the path MTU.
  socklen_t dst_len;
  sockaddr_storage dst = sockaddr_of(target, opts.scope_ifindex, &dst_len);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), dst_len) != 0) throw_errno(fmt::format("cannot send to {}", target.str()));

  const uint16_t ident = static_cast<uint16_t>(getpid() ^ reinterpret_cast<uintptr_t>(&sock));
  PingResult result;
  using clock = std::chrono::steady_clock;
  std::vector<uint8_t> pkt(8 + static_cast<size_t>(opts.size));
  std::vector<uint8_t> buf(65536 + 64);
  for (size_t i = 8; i < pkt.size(); ++i) pkt[i] = static_cast<uint8_t>(i);  // as iputils fills its payload
  for (int seq = 1; seq <= opts.count; ++seq) {
    if (seq > 1) std::this_thread::sleep_for(opts.interval);
    // ICMP echo header layout is the same for v4 and v6 (type, code, checksum, id, sequence).
    pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    pkt[2] = pkt[3] = 0;
    uint16_t id_be = htons(ident), seq_be = htons(static_cast<uint16_t>(seq));
    std::memcpy(pkt.data() + 4, &id_be, 2);
    std::memcpy(pkt.data() + 6, &seq_be, 2);
    if (!v6) {
      uint16_t c = checksum(pkt.data(), pkt.size());
      std::memcpy(pkt.data() + 2, &c, 2);
    }
    auto start = clock::now();
    ++result.sent;
    Echo echo;
    if (::send(fd, pkt.data(), pkt.size(), 0) < 0) {
      echo.error = echo_error(fd, v6, errno, result);
    } else {
      auto deadline = start + opts.timeout;
      while (!echo.rtt_ms && echo.error.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) {  // an ICMP error about our echo (connected socket: sk_err)
          if (errno != EINTR && errno != EAGAIN) echo.error = echo_error(fd, v6, errno, result);
          continue;
        }
        const uint8_t* icmp = buf.data();
        if (!v6) {  // raw IPv4 sockets deliver the IP header too
          size_t ihl = (buf[0] & 0x0f) * 4u;
          if (static_cast<size_t>(n) < ihl + 8) continue;
          icmp = buf.data() + ihl;
          echo.ttl = buf[8];
        } else if (n < 8) {
          continue;
        }
        if (icmp[0] != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY)) continue;
        if (std::memcmp(icmp + 4, &id_be, 2) != 0 || std::memcmp(icmp + 6, &seq_be, 2) != 0) continue;
        echo.rtt_ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
      }
    }
    if (echo.rtt_ms) ++result.received;
    result.echoes.push_back(std::move(echo));
  }
  return result;
}

}  // namespace ctnet
