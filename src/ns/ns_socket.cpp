#include "ns/ns_socket.h"

#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace ctnet {

std::optional<int32_t> nsid_of(nl::Socket& s, const NetNs& other) {
  nl::Message m(RTM_GETNSID, NLM_F_ACK);
  m.put_header<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  m.put_u32(NETNSA_FD, static_cast<uint32_t>(other.fd()));
  nl::Reply r = s.exchange(m);
  if (r.error || r.messages.empty()) return std::nullopt;
  auto id = nl::Attrs::of_message(r.messages.front().hdr(), sizeof(rtgenmsg)).s32(NETNSA_NSID);
  if (!id || *id < 0) return std::nullopt;
  return id;
}

}  // namespace ctnet
