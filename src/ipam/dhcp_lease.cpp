#include "ipam/dhcp_lease.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <random>

#include "link/link.h"
#include "netlink/socket.h"
#include "ns/netns.h"
#include "util/error.h"

namespace ctnet::dhcp {

using Clock = std::chrono::steady_clock;

namespace {

const MacAddress kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const IpAddress kAny = IpAddress::v4(0);
const IpAddress kBroadcast = IpAddress::v4(0xffffffff);

// The interface or its namespace is gone: the lease cannot be kept (nor released) any more.
struct Gone : Error {
  using Error::Error;
};

std::string seconds_text(Millis d) { return fmt::format("{:g} s", static_cast<double>(d.count()) / 1000); }

}  // namespace

struct LeaseKeeper::Port {
  nl::Socket rt;  // rtnetlink in the container namespace
  Fd sock;        // packet socket (ETH_P_IP) bound to the interface
  int ifindex = 0;
  MacAddress mac;
  Fd udp;         // bound to the leased address on the interface, port 68; none without the address
};

LeaseKeeper::LeaseKeeper(std::string id, std::string netns, std::string ifname, ClientOptions opts, ClientSettings s, Log log)
    : id_(std::move(id)), netns_(std::move(netns)), ifname_(std::move(ifname)), opts_(std::move(opts)), settings_(s),
      log_(std::move(log)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_) throw_errno("cannot create an eventfd");
  thread_ = std::thread([this] { run(); });
}

LeaseKeeper::~LeaseKeeper() { stop(false); }

void LeaseKeeper::stop(bool release) {
  Stop expected = Stop::no;
  stop_.compare_exchange_strong(expected, release ? Stop::release : Stop::quietly);
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

Lease LeaseKeeper::wait_bound() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return settled_; });
  if (!failure_.empty()) throw Error(failure_);
  if (!lease_) throw Error(fmt::format("the lease of {} has ended", id_));
  return *lease_;
}

std::optional<Lease> LeaseKeeper::current() const {
  std::lock_guard lock(mu_);
  return lease_;
}

bool LeaseKeeper::ended() const {
  std::lock_guard lock(mu_);
  return settled_ && !lease_;
}

void LeaseKeeper::sleep_until(Clock::time_point t) {
  for (;;) {
    if (stop_ != Stop::no) throw Stopped{};
    const auto left = std::chrono::duration_cast<Millis>(t - Clock::now());
    if (left.count() <= 0) return;
    pollfd p{wake_.get(), POLLIN, 0};
    // poll takes an int of milliseconds: sleep a day at a time through long leases.
    ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 86400000)));
  }
}

uint32_t LeaseKeeper::new_xid() {
  static thread_local std::mt19937 rng(std::random_device{}());
  return static_cast<uint32_t>(rng());
}

LeaseKeeper::Port LeaseKeeper::open_port(bool bring_up, std::optional<IpAddress> leased) {
  NetNs ns = [&] {
    try {
      return NetNs::open_path(netns_);
    } catch (const Error& e) {
      throw Gone(fmt::format("the container namespace is gone: {}", e.what()));
    }
  }();
  if (ns_inode_ && ns.inode() != ns_inode_) throw Gone(fmt::format("{} is no longer the namespace the lease began in", netns_));
  ns_inode_ = ns.inode();
  NsGuard in(ns);  // the sockets below are made inside the container's namespace, and stay there
  nl::Socket rt;
  auto l = link::find(rt, ifname_);
  if (!l) throw Gone(fmt::format("interface {} does not exist in {}", ifname_, netns_));
  if (ifindex_ && l->index != ifindex_) throw Gone(fmt::format("interface {} in {} is not the one the lease began on", ifname_, netns_));
  ifindex_ = l->index;
  if (!l->mac) throw Error(fmt::format("interface {} in {} has no MAC address", ifname_, netns_));
  // As the reference: an interface that is down is brought up to ask for its lease.
  if (bring_up && !l->is_up()) link::change(rt, l->index, {.up = true}, fmt::format("cannot set {} up", ifname_));
  Port p{std::move(rt), Fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), l->index, *l->mac, Fd()};
  if (!p.sock) throw_errno("cannot open a packet socket");
  // Protocol 0 at creation and ETH_P_IP at bind: no frame of another interface is queued in between.
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_protocol = htons(ETH_P_IP);
  a.sll_ifindex = l->index;
  if (::bind(p.sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw_errno(fmt::format("cannot bind a packet socket to {}", ifname_));
  if (leased) {
    Fd u(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_port = htons(kClientPort);
    std::memcpy(&from.sin_addr, leased->data(), 4);
    // Fails (EADDRNOTAVAIL) when the interface does not carry the address: then send() falls back to a frame.
    if (u && ::setsockopt(u.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        ::setsockopt(u.get(), SOL_SOCKET, SO_BINDTODEVICE, ifname_.data(), static_cast<socklen_t>(ifname_.size())) == 0 &&
        ::bind(u.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) == 0)
      p.udp = std::move(u);
  }
  return p;
}

namespace {

}  // namespace

void LeaseKeeper::send(const Port& p, const Message& m, const IpAddress& src, const IpAddress& dst) {
  const std::string payload = encode(m);
  const auto type = m.type();
  const std::string what = fmt::format("cannot send {} on {}", type ? to_string(*type) : "a DHCP message", ifname_);
  if (dst != kBroadcast && p.udp) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kServerPort);
    std::memcpy(&to.sin_addr, dst.data(), 4);
    if (::sendto(p.udp.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      throw_errno(what);
    return;
  }
  const std::string packet = ipv4_udp(src, dst, kClientPort, kServerPort, payload);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_IP);
  to.sll_ifindex = p.ifindex;
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, kBroadcastMac.bytes.data(), 6);
  if (::sendto(p.sock.get(), packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    throw_errno(what);
}

std::optional<Message> LeaseKeeper::exchange(const Port& p, const Message& m, const IpAddress& src, const IpAddress& dst,
                                             std::initializer_list<Type> want, std::optional<IpAddress> from_server) {
  send(p, m, src, dst);
  const auto deadline = Clock::now() + settings_.timeout;
  char buf[4096];
  for (;;) {
    if (stop_ != Stop::no) throw Stopped{};
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd fds[2] = {{p.sock.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count() + 1)) < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot wait for a DHCP answer");
    }
    if (!(fds[0].revents & (POLLIN | POLLERR))) continue;
    sockaddr_ll from{};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(p.sock.get(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno(fmt::format("cannot receive on {}", ifname_));
    }
    if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own message
    auto d = parse_udp(std::string_view(buf, static_cast<size_t>(n)));
    if (!d || d->dport != kClientPort) continue;
    auto r = decode(d->payload);
    if (!r || r->op != 2 || r->xid != m.xid || r->chaddr != p.mac) continue;
    auto type = r->type();
    bool wanted = false;
    for (Type t : want) wanted = wanted || type == t;
    if (!wanted) continue;
    if (from_server && r->address_option(opt::server_id) != *from_server) continue;  // another server's answer
    return r;
  }
}

void LeaseKeeper::wait_running(Port& p) {
  // A link that has just come up drops what it is given until the kernel's linkwatch has activated it (up to a
  // second later; IFF_RUNNING is set then): a DISCOVER sent before would be lost and cost a resend.
  const auto until = Clock::now() + std::min(settings_.timeout, Millis(2000));
  for (;;) {
    auto l = link::find(p.rt, p.ifindex);
    if (!l || (l->flags & IFF_RUNNING) || Clock::now() >= until) return;
    sleep_until(Clock::now() + Millis(50));
  }
}

Message LeaseKeeper::acquire(std::optional<IpAddress> hint) {
  const auto start = Clock::now();
  const auto deadline = start + settings_.resend_timeout;
  Port p = open_port(true);
  opts_.mac = p.mac;
  wait_running(p);
  static thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> jitter(-1000, 1000);
  for (int failures = 1;; ++failures) {
    const uint32_t xid = new_xid();
    const auto secs = static_cast<uint16_t>(std::chrono::duration_cast<Seconds>(Clock::now() - start).count());
    Message d = discover(opts_, xid, hint);
    d.secs = secs;
    std::string why;
    if (auto offer = exchange(p, d, kAny, kBroadcast, {Type::offer}); !offer) {
      why = fmt::format("no DHCPOFFER within {}", seconds_text(settings_.timeout));
    } else {
      Message r = request_offered(opts_, xid, *offer);
      r.secs = secs;
      const auto server = offer->address_option(opt::server_id);
      auto ack = exchange(p, r, kAny, kBroadcast, {Type::ack, Type::nak}, server);
      if (!ack) {
        why = fmt::format("no DHCPACK from {} within {}", server ? server->str() : "the server", seconds_text(settings_.timeout));
      } else if (ack->type() == Type::nak) {
        const auto* text = ack->option(56);  // the server's message, if any
        why = fmt::format("DHCPNAK from {}{}", server ? server->str() : "the server", text ? ": " + *text : "");
      } else {
        return *ack;
      }
    }
    const auto now = Clock::now();
    if (now >= deadline)
      throw Error(fmt::format("no DHCP lease for {} in {} after {} attempts in {}: {}", ifname_, netns_, failures,
                              seconds_text(std::chrono::duration_cast<Millis>(now - start)), why));
    const Millis wait = std::max(Millis(0), resend_delay(failures, settings_.resend_max) + Millis(jitter(rng)));
    log_(fmt::format("{}: {}; trying again in {}", id_, why, seconds_text(wait)));
    sleep_until(std::min(now + wait, deadline));
  }
}

void LeaseKeeper::bind(const Message& ack) {
  std::lock_guard lock(mu_);
  Lease l;
  try {
    l = lease_of(ack);
  } catch (const Error&) {
    // An extension that restates less than the first ACK (no mask): the lease goes on as it was, with new timers.
    if (!lease_) throw;
    l = *lease_;
    l.timers = timers_of(ack);
  }
  if (lease_ && lease_->address != l.address)
    log_(fmt::format("{}: the server now leases {} (the container was given {})", id_, l.address.str(), lease_->address.str()));
  lease_ = l;
  acked_at_ = Clock::now();
  settled_ = true;
  cv_.notify_all();
}

void LeaseKeeper::maintain() {
  for (;;) {
    Lease l;
    Clock::time_point acked;
    {
      std::lock_guard lock(mu_);
      l = *lease_;
      acked = acked_at_;
    }
    auto next = acked + l.timers.t1;
    for (;;) {
      sleep_until(next);
      const auto since = std::chrono::duration_cast<Seconds>(Clock::now() - acked);
      const Phase phase = phase_at(l.timers, since);
      if (phase == Phase::bound) continue;
      if (phase == Phase::expired) {
        log_(fmt::format("{}: the lease of {} expired: setting {} down", id_, l.address.str(), ifname_));
        set_down();
        return;
      }
      const bool renewing = phase == Phase::renewing;
      std::optional<Message> reply;
      try {
        Port p = open_port(false, l.address.address());
        Message req = request_extension(opts_, new_xid(), l.address.address());
        // RENEWING asks the server that granted the lease, REBINDING any server.
        reply = exchange(p, req, l.address.address(), renewing ? l.server : kBroadcast, {Type::ack, Type::nak});
      } catch (const Gone& e) {
        log_(fmt::format("{}: {}: no longer keeping the lease of {}", id_, e.what(), l.address.str()));
        return;
      } catch (const Stopped&) {
        throw;
      } catch (const std::exception& e) {
        log_(fmt::format("{}: {}", id_, e.what()));  // the interface is down, say: try again later
      }
      if (reply && reply->type() == Type::ack) {
        bind(*reply);
        const auto t = current()->timers;
        log_(fmt::format("{}: {} {} for {} s (renew in {} s)", id_, renewing ? "renewed" : "rebound", l.address.str(),
                         t.lease.count(), t.t1.count()));
        break;
      }
      if (reply) {
        // The server will not extend it: the address must not be used any longer. Ask anew (the same address
        // if it can be had); without a lease the interface goes down.
        log_(fmt::format("{}: DHCPNAK for {}: acquiring anew", id_, l.address.str()));
        try {
          Message ack = acquire(l.address.address());
          bind(ack);
          log_(fmt::format("{}: leased {} again", id_, current()->address.str()));
          break;
        } catch (const Error& e) {
          log_(fmt::format("{}: {}: setting {} down", id_, e.what(), ifname_));
          set_down();
          return;
        }
      }
      next = acked + next_attempt(l.timers, std::chrono::duration_cast<Seconds>(Clock::now() - acked));
      log_(fmt::format("{}: no answer to {} {}; next attempt in {} s", id_, renewing ? "renewing" : "rebinding",
                       l.address.str(), std::chrono::duration_cast<Seconds>(next - Clock::now()).count()));
    }
  }
}

void LeaseKeeper::send_release() {
  const auto l = current();
  if (!l) return;
  try {
    Port p = open_port(false, l->address.address());
    send(p, release(opts_, new_xid(), l->address.address(), l->server), l->address.address(), l->server);
    log_(fmt::format("{}: released {} to {}", id_, l->address.str(), l->server.str()));
  } catch (const std::exception& e) {
    log_(fmt::format("{}: cannot release {}: {}", id_, l->address.str(), e.what()));
  }
}

void LeaseKeeper::set_down() {
  try {
    NetNs ns = NetNs::open_path(netns_);
    if (ns.inode() != ns_inode_) return;
    NsGuard in(ns);
    nl::Socket rt;
    if (auto l = link::find(rt, ifname_)) link::change(rt, l->index, {.up = false}, fmt::format("cannot set {} down", ifname_));
  } catch (const std::exception& e) {
    log_(fmt::format("{}: {}", id_, e.what()));
  }
}

void LeaseKeeper::run() {
  try {
    Message ack = acquire(std::nullopt);
    bind(ack);
    const auto l = *current();
    log_(fmt::format("{}: leased {} from {} for {} s (renew in {} s)", id_, l.address.str(), l.server.str(),
                     l.timers.lease.count(), l.timers.t1.count()));
  } catch (const Stopped&) {
    std::lock_guard lock(mu_);
    settled_ = true;
    failure_ = "the daemon stopped before a lease was bound";
    cv_.notify_all();
    return;
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    settled_ = true;
    failure_ = e.what();
    cv_.notify_all();
    return;
  }
  try {
    maintain();
  } catch (const Stopped&) {
    if (stop_ == Stop::release) send_release();
  } catch (const std::exception& e) {
    log_(fmt::format("{}: {}", id_, e.what()));
  }
  std::lock_guard lock(mu_);
  lease_.reset();
}

}  // namespace ctnet::dhcp
