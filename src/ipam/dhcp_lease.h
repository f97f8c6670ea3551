// A DHCP client for one container interface, kept by a thread of its own: it acquires the lease
// (DISCOVER/OFFER/REQUEST/ACK), renews it at T1 (unicast to the server), rebinds at T2 (broadcast), sets the
// interface down when it expires, and releases it (DHCPRELEASE) when stopped so. Its sockets are opened inside
// the container's namespace anew for every exchange (the thread enters the namespace only to open them, through
// NsGuard): the namespace is never held open, and an interface or namespace that disappeared ends the lease
// instead of keeping it alive. Every answer is read from a packet socket bound to the interface (the kernel's UDP
// would not deliver an offer to an interface without its address); broadcasts go out through it too, while the
// unicasts to the server (renewal, release) leave through a UDP socket bound to the leased address, so that the
// kernel's routing and ARP find the server (or the relay before it) whatever its MAC is by then.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ipam/dhcp_message.h"
#include "util/fd.h"

namespace ctnet::dhcp {

using Millis = std::chrono::milliseconds;

// The daemon's settings for every lease (its command-line flags; the defaults are the reference's).
struct ClientSettings {
  Millis timeout{10000};          // how long one message waits for its answer
  Millis resend_max{62000};       // the longest wait between two attempts to acquire
  Millis resend_timeout{208000};  // acquiring gives up after this
  bool broadcast = false;         // ask servers to broadcast their answers until the lease is bound
};

using Log = std::function<void(const std::string&)>;

class LeaseKeeper {
 public:
  // `id` names the lease in log lines; `opts.mac` is filled in from the interface.
  LeaseKeeper(std::string id, std::string netns, std::string ifname, ClientOptions opts, ClientSettings s, Log log);
  ~LeaseKeeper();  // stops without releasing
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Blocks until the first lease is bound; throws Error saying why acquiring failed.
  Lease wait_bound();
  // The lease while it is held (bound, renewing or rebinding), nullopt once it has ended.
  std::optional<Lease> current() const;
  // Ends the thread; with `release`, a bound lease is released first (DHCPRELEASE to its server).
  void stop(bool release);
  // True once the lease has ended by itself (acquiring failed, it expired, the interface went away).
  bool ended() const;
  const std::string& netns() const { return netns_; }
  // The nsfs inode of the namespace the lease began in (0 until it was opened).
  uint64_t netns_inode() const { return ns_inode_; }

 private:
  struct Port;  // the interface, opened in the container namespace
  struct Stopped {};
  enum class Stop : int { no, quietly, release };

  void run();
  // Opens the interface (`bring_up`: set it up first if it is down; `leased`: the UDP socket for unicasts from
  // that address, when the interface carries it); throws Gone for a namespace or interface that no longer exists.
  Port open_port(bool bring_up, std::optional<IpAddress> leased = {});
  // Waits (a little) until the interface is running: carrier, and activated by the kernel.
  void wait_running(Port& p);
  // Sends m from src to dst: a broadcast, or a unicast without the UDP socket, as a broadcast frame.
  void send(const Port& p, const Message& m, const IpAddress& src, const IpAddress& dst);
  // Sends m, then waits for a reply to m's xid of a type in `want` (from `from_server` when given).
  std::optional<Message> exchange(const Port& p, const Message& m, const IpAddress& src, const IpAddress& dst,
                                  std::initializer_list<Type> want, std::optional<IpAddress> from_server = {});
  Message acquire(std::optional<IpAddress> hint);  // DISCOVER .. ACK, with resends; throws Error or Stopped
  void bind(const Message& ack);
  void maintain();
  void send_release();
  void set_down();
  // Sleeps until `t`; throws Stopped when stop() was called.
  void sleep_until(std::chrono::steady_clock::time_point t);
  uint32_t new_xid();

  const std::string id_, netns_, ifname_;
  ClientOptions opts_;
  const ClientSettings settings_;
  const Log log_;
  Fd wake_;  // eventfd: stop() wakes every wait
  std::atomic<Stop> stop_{Stop::no};
  // The namespace and interface the lease began on: a path or name re-used by another one is not it.
  std::atomic<uint64_t> ns_inode_{0};
  int ifindex_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool settled_ = false;     // bound, or failed to
  std::string failure_;
  std::optional<Lease> lease_;
  std::chrono::steady_clock::time_point acked_at_;

  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace ctnet::dhcp
