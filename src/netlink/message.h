// Netlink messages: a builder for requests (attributes and nests laid out by the kernel's NLMSG_*/NLA_* rules)
// and a parsed view of replies (attributes indexed by type). Encoding is kept apart from I/O so unit tests can
// compare the bytes of a request against what the kernel expects.
#pragma once
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ctnet::nl {

// The layout rules (include/uapi/linux/netlink.h), as libmnl spells them: everything is 4-byte aligned, the
// payload follows the 16-byte nlmsghdr, an attribute's value its 4-byte nlattr.
constexpr size_t align(size_t len) { return (len + NLMSG_ALIGNTO - 1) & ~static_cast<size_t>(NLMSG_ALIGNTO - 1); }
inline void* payload(nlmsghdr* h) { return reinterpret_cast<char*>(h) + NLMSG_HDRLEN; }
inline const void* payload(const nlmsghdr* h) { return reinterpret_cast<const char*>(h) + NLMSG_HDRLEN; }
inline size_t payload_len(const nlmsghdr* h) { return h->nlmsg_len - NLMSG_HDRLEN; }
inline uint16_t attr_type(const nlattr* a) { return a->nla_type & NLA_TYPE_MASK; }
inline const void* attr_payload(const nlattr* a) { return reinterpret_cast<const char*>(a) + NLA_HDRLEN; }
inline size_t attr_payload_len(const nlattr* a) { return a->nla_len - NLA_HDRLEN; }
// A whole attribute fits in the `len` bytes left (and its length field is sane).
inline bool attr_ok(const nlattr* a, int len) {
  return len >= static_cast<int>(sizeof(nlattr)) && a->nla_len >= sizeof(nlattr) && static_cast<int>(a->nla_len) <= len;
}
// A whole message fits in the `len` bytes left.
inline bool message_ok(const nlmsghdr* h, int len) {
  return len >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) && static_cast<int>(h->nlmsg_len) <= len;
}
inline const nlmsghdr* next_message(const nlmsghdr* h, int* len) {
  *len -= static_cast<int>(align(h->nlmsg_len));
  return reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(h) + align(h->nlmsg_len));
}

class Message {
 public:
  // type: RTM_NEWLINK etc.; flags: NLM_F_CREATE | NLM_F_EXCL ... (NLM_F_REQUEST is always set).
  Message(uint16_t type, uint16_t flags);
  // Copyable by value (encoders return one); the header always sits at the start of the buffer.

  // The family header that follows nlmsghdr (ifinfomsg, ifaddrmsg, rtmsg, genlmsghdr...), zeroed.
  template <class T>
  T* put_header() {
    return static_cast<T*>(reserve(sizeof(T)));
  }
  template <class T>
  const T* header() const {
    return static_cast<const T*>(payload(hdr()));
  }

  void put(uint16_t type, const void* data, size_t len);
  void put_u8(uint16_t type, uint8_t v) { put(type, &v, sizeof v); }
  void put_u16(uint16_t type, uint16_t v) { put(type, &v, sizeof v); }
  void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
  void put_str(uint16_t type, std::string_view s);  // NUL-terminated
  void put_flag(uint16_t type) { put(type, nullptr, 0); }
  nlattr* begin_nest(uint16_t type);
  void end_nest(nlattr* nest) { nest->nla_len = static_cast<uint16_t>(tail() - reinterpret_cast<char*>(nest)); }
  // Raw space in the message (e.g. the ifinfomsg inside VETH_INFO_PEER), zeroed.
  void* reserve(size_t len);

  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_); }
  const nlmsghdr* hdr() const { return reinterpret_cast<const nlmsghdr*>(buf_); }
  std::span<const uint8_t> bytes() const { return {reinterpret_cast<const uint8_t*>(buf_), hdr()->nlmsg_len}; }

 private:
  char* tail() { return buf_ + align(hdr()->nlmsg_len); }
  alignas(8) char buf_[4096];
};

// Attributes of one message or nest, indexed by type. Pointers refer into the message, which must outlive this.
class Attrs {
 public:
  // Attributes following a family header of `header_size` bytes in a message.
  static Attrs of_message(const nlmsghdr* h, size_t header_size);
  static Attrs of_nest(const nlattr* nest);
  // Attributes in a raw buffer (used for the extended-ACK TLVs after an nlmsgerr).
  static Attrs of_buffer(const void* data, size_t len);

  const nlattr* get(uint16_t type) const { return type < table_.size() ? table_[type] : nullptr; }
  bool has(uint16_t type) const { return get(type) != nullptr; }
  std::optional<std::string> str(uint16_t type) const;
  std::optional<uint8_t> u8(uint16_t type) const;
  std::optional<uint16_t> u16(uint16_t type) const;
  std::optional<uint32_t> u32(uint16_t type) const;
  std::optional<int32_t> s32(uint16_t type) const { auto v = u32(type); return v ? std::optional<int32_t>(int32_t(*v)) : std::nullopt; }
  std::span<const uint8_t> bytes(uint16_t type) const;
  // Every attribute of a nest in order (for lists such as IFLA_VFINFO_LIST where types repeat).
  static std::vector<const nlattr*> list(const nlattr* nest);

 private:
  void add(const nlattr* a);
  std::vector<const nlattr*> table_;
};

// A reply message owned by value (dumps are copied out of the receive buffer so it can be reused).
struct OwnedMessage {
  std::vector<char> data;
  const nlmsghdr* hdr() const { return reinterpret_cast<const nlmsghdr*>(data.data()); }
  template <class T>
  const T* header() const {
    return static_cast<const T*>(payload(hdr()));
  }
};

}  // namespace ctnet::nl
