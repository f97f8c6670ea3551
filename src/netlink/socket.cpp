#include "netlink/socket.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ns/netns.h"
#include "util/error.h"
#include "util/fault.h"

namespace ctnet::nl {

Socket::Socket(int protocol) : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol)) {
  if (!fd_) throw_errno("cannot open netlink socket");
  // Bound with port id 0: the kernel picks one, which getsockname tells.
  sockaddr_nl addr{.nl_family = AF_NETLINK};
  socklen_t len = sizeof addr;
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw_errno("cannot bind netlink socket");
  if (len != sizeof addr || addr.nl_family != AF_NETLINK) throw Error("cannot bind netlink socket", EINVAL);
  portid_ = addr.nl_pid;
  int one = 1;
  // Extended ACK (Linux 4.12+): errors carry a human-readable reason. Capped ACKs: the kernel does not echo
  // our whole request back inside each error. Both are best effort on older kernels.
  ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
}

Socket Socket::in(const NetNs& ns, int protocol) {
  NsGuard guard(ns);
  return Socket(protocol);
}

Socket::~Socket() = default;
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;

int Socket::fd() const { return fd_.get(); }

std::string extack_message(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  auto* err = static_cast<const nlmsgerr*>(payload(h));
  size_t offset = sizeof(nlmsgerr);
  // Without NLM_F_CAPPED the kernel echoed the whole request after the nlmsgerr; the TLVs follow it.
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  const size_t len = payload_len(h);
  if (offset >= len) return {};
  auto tlvs = Attrs::of_buffer(reinterpret_cast<const char*>(err) + offset, len - offset);
  return tlvs.str(NLMSGERR_ATTR_MSG).value_or("");
}

Reply Socket::exchange(Message& m) {
  nlmsghdr* req = m.hdr();
  req->nlmsg_seq = next_seq();
  req->nlmsg_pid = 0;
  const bool is_dump = req->nlmsg_flags & NLM_F_DUMP;
  if (fault::fail_request()) return {.error = EIO, .kernel_text = fault::request_text()};  // tests only
  sockaddr_nl kernel{.nl_family = AF_NETLINK};
  if (::sendto(fd_.get(), req, req->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw_errno("cannot send netlink request");

  Reply reply;
  // One receive buffer per thread, on the heap: a zeroed thread_local array would be cleared (all its pages
  // touched) by ld.so at every start; malloc'd, only the pages a reply fills are ever touched.
  static constexpr size_t kBufSize = 32768;  // MNL_SOCKET_DUMP_SIZE
  static thread_local std::unique_ptr<char[]> heap_buf;
  if (!heap_buf) heap_buf.reset(new char[kBufSize]);
  char* buf = heap_buf.get();
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buf, kBufSize};
    msghdr msg{.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = ::recvmsg(fd_.get(), &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read netlink reply");
    }
    if (msg.msg_flags & MSG_TRUNC) throw Error("cannot read netlink reply: larger than the buffer", ENOSPC);
    auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    int len = static_cast<int>(n);
    for (; message_ok(h, len); h = next_message(h, &len)) {
      // Messages for another request (a late answer to an abandoned one) are not ours to read.
      if (h->nlmsg_seq != req->nlmsg_seq || (h->nlmsg_pid && h->nlmsg_pid != portid_)) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<const nlmsgerr*>(payload(h));
        reply.error = -err->error;
        reply.kernel_text = extack_message(h);
        return reply;
      }
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) reply.interrupted = true;
      if (h->nlmsg_type == NLMSG_DONE) {
        // A dump the kernel refused ends with NLMSG_DONE carrying the error (netlink_dump_done), not NLMSG_ERROR.
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          const int err = *static_cast<const int*>(payload(h));
          if (err < 0) {
            reply.error = -err;
            const size_t len = payload_len(h);
            if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && len > sizeof(int))  // the extended ACK follows the error
              reply.kernel_text = Attrs::of_buffer(static_cast<const char*>(payload(h)) + sizeof(int), len - sizeof(int))
                                      .str(NLMSGERR_ATTR_MSG).value_or("");
          }
        }
        return reply;
      }
      OwnedMessage owned;
      owned.data.assign(reinterpret_cast<const char*>(h), reinterpret_cast<const char*>(h) + h->nlmsg_len);
      reply.messages.push_back(std::move(owned));
      if (!is_dump && !(req->nlmsg_flags & NLM_F_ACK)) return reply;
    }
  }
}

int Socket::try_ack(Message& m, std::string* kernel_text) {
  m.hdr()->nlmsg_flags |= NLM_F_ACK;
  Reply r = exchange(m);
  if (kernel_text) *kernel_text = r.kernel_text;
  return r.error;
}

void Socket::ack(Message& m, std::string_view context) {
  std::string text;
  if (int err = try_ack(m, &text)) throw Error(std::string(context), err, text);
}

std::vector<OwnedMessage> Socket::query(Message& m, std::string_view context) {
  m.hdr()->nlmsg_flags |= NLM_F_ACK;
  Reply r = exchange(m);
  if (r.error) throw Error(std::string(context), r.error, r.kernel_text);
  return std::move(r.messages);
}

std::vector<OwnedMessage> Socket::dump(Message& m, std::string_view context) {
  if (!strict_) {
    // Strict checking makes the kernel honour filters in dump requests instead of ignoring them (best effort on
    // older kernels); set before the first dump only, as a plugin's ADD dumps nothing.
    int one = 1;
    ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    strict_ = true;
  }
  m.hdr()->nlmsg_flags |= NLM_F_DUMP;
  for (int attempt = 0;; ++attempt) {
    Reply r = exchange(m);
    if (r.error) throw Error(std::string(context), r.error, r.kernel_text);
    if (!r.interrupted) return std::move(r.messages);
    if (attempt == 9) throw Error(std::string(context) + ": the table kept changing while it was read", EAGAIN);
  }
}

}  // namespace ctnet::nl
