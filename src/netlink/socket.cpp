#include "netlink/socket.h"

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ns/netns.h"
#include "util/error.h"
#include "util/fault.h"

namespace ctnet::nl {

Socket::Socket(int protocol) : sock_(mnl_socket_open2(protocol, SOCK_CLOEXEC), mnl_socket_close) {
  if (!sock_) throw_errno("cannot open netlink socket");
  if (mnl_socket_bind(sock_.get(), 0, MNL_SOCKET_AUTOPID) < 0) throw_errno("cannot bind netlink socket");
  portid_ = mnl_socket_get_portid(sock_.get());
  int one = 1;
  // Extended ACK (Linux 4.12+): errors carry a human-readable reason. Capped ACKs: the kernel does not echo
  // our whole request back inside each error. Both are best effort on older kernels.
  mnl_socket_setsockopt(sock_.get(), NETLINK_EXT_ACK, &one, sizeof one);
  mnl_socket_setsockopt(sock_.get(), NETLINK_CAP_ACK, &one, sizeof one);
  // Strict checking makes the kernel honour filters in dump requests instead of ignoring them.
  mnl_socket_setsockopt(sock_.get(), NETLINK_GET_STRICT_CHK, &one, sizeof one);
}

Socket Socket::in(const NetNs& ns, int protocol) {
  NsGuard guard(ns);
  return Socket(protocol);
}

Socket::~Socket() = default;
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;

int Socket::fd() const { return mnl_socket_get_fd(sock_.get()); }

std::string extack_message(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
  size_t offset = sizeof(nlmsgerr);
  // Without NLM_F_CAPPED the kernel echoed the whole request after the nlmsgerr; the TLVs follow it.
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  size_t payload = mnl_nlmsg_get_payload_len(h);
  if (offset >= payload) return {};
  auto tlvs = Attrs::of_buffer(reinterpret_cast<const char*>(err) + offset, payload - offset);
  return tlvs.str(NLMSGERR_ATTR_MSG).value_or("");
}

Reply Socket::exchange(Message& m) {
  nlmsghdr* req = m.hdr();
  req->nlmsg_seq = next_seq();
  req->nlmsg_pid = 0;
  const bool is_dump = req->nlmsg_flags & NLM_F_DUMP;
  if (fault::fail_request()) return {.error = EIO, .kernel_text = fault::request_text()};  // tests only
  if (mnl_socket_sendto(sock_.get(), req, req->nlmsg_len) < 0) throw_errno("cannot send netlink request");

  Reply reply;
  // One receive buffer per thread, on the heap: a zeroed thread_local array would be cleared (all its pages
  // touched) by ld.so at every start; malloc'd, only the pages a reply fills are ever touched.
  static constexpr size_t kBufSize = 32768;  // MNL_SOCKET_DUMP_SIZE
  static thread_local std::unique_ptr<char[]> heap_buf;
  if (!heap_buf) heap_buf.reset(new char[kBufSize]);
  char* buf = heap_buf.get();
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf, kBufSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read netlink reply");
    }
    auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    int len = static_cast<int>(n);
    for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
      // Messages for another request (a late answer to an abandoned one) are not ours to read.
      if (h->nlmsg_seq != req->nlmsg_seq || (h->nlmsg_pid && h->nlmsg_pid != portid_)) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
        reply.error = -err->error;
        reply.kernel_text = extack_message(h);
        return reply;
      }
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) reply.interrupted = true;
      if (h->nlmsg_type == NLMSG_DONE) return reply;
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
  m.hdr()->nlmsg_flags |= NLM_F_DUMP;
  for (int attempt = 0;; ++attempt) {
    Reply r = exchange(m);
    if (r.error) throw Error(std::string(context), r.error, r.kernel_text);
    if (!r.interrupted) return std::move(r.messages);
    if (attempt == 9) throw Error(std::string(context) + ": the table kept changing while it was read", EAGAIN);
  }
}

}  // namespace ctnet::nl
