// A netlink socket bound in the network namespace of the thread that opened it. The socket keeps that
// namespace for its whole life, so work inside a container namespace needs one switch (to open the socket)
// and none afterwards. Extended ACK is on: kernel errors carry the kernel's own text.
#pragma once
#include <linux/netlink.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/message.h"
#include "util/fd.h"

namespace ctnet {
class NetNs;
}

namespace ctnet::nl {

// What the kernel answered to one request.
struct Reply {
  int error = 0;               // errno (positive), 0 on success
  std::string kernel_text;     // extended ACK message, if any
  std::vector<OwnedMessage> messages;  // data messages before the ACK / NLMSG_DONE
  bool interrupted = false;    // a dump whose table changed while it was read (NLM_F_DUMP_INTR)
};

class Socket {
 public:
  explicit Socket(int protocol = NETLINK_ROUTE);  // in the calling thread's current namespace
  // A socket living in `ns` (the thread switches in and back through NsGuard; the socket stays there).
  static Socket in(const NetNs& ns, int protocol = NETLINK_ROUTE);
  ~Socket();
  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;

  // Sends the request with NLM_F_ACK and waits for the ACK; throws Error(context, errno, kernel text).
  void ack(Message& m, std::string_view context);
  // The same, but returns the kernel's errno (0 on success) instead of throwing for kernel refusals, so
  // idempotent deletes can accept ENODEV/ENOENT/ESRCH. Extended-ACK text goes to *kernel_text.
  int try_ack(Message& m, std::string* kernel_text = nullptr);
  // A request answered by data messages (RTM_GET* on one object): returns them, throws on error.
  std::vector<OwnedMessage> query(Message& m, std::string_view context);
  // A dump (NLM_F_DUMP added). Restarts when the kernel flags the dump as interrupted (NLM_F_DUMP_INTR:
  // the table changed while it was being read), so the result is one consistent snapshot.
  std::vector<OwnedMessage> dump(Message& m, std::string_view context);

  // Sends and collects every answer without interpreting errors (the building block of the above).
  Reply exchange(Message& m);

  int fd() const;
  uint32_t next_seq() { return ++seq_; }

 private:
  Fd fd_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  bool strict_ = false;  // NETLINK_GET_STRICT_CHK set
};

// The extended-ACK message carried by an NLMSG_ERROR reply, or "" (exposed for unit tests).
std::string extack_message(const nlmsghdr* error_msg);

}  // namespace ctnet::nl
