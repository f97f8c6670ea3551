// Netlink messages: a builder for requests (attributes and nests laid out by libmnl) and a parsed view of
// replies (attributes indexed by type). Encoding is kept apart from I/O so unit tests can compare the bytes
// of a request against what the kernel expects.
#pragma once
#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ctnet::nl {

class Message {
 public:
  // type: RTM_NEWLINK etc.; flags: NLM_F_CREATE | NLM_F_EXCL ... (NLM_F_REQUEST is always set).
  Message(uint16_t type, uint16_t flags);
  // Copyable by value (encoders return one); the header always sits at the start of the buffer.

  // The family header that follows nlmsghdr (ifinfomsg, ifaddrmsg, rtmsg, genlmsghdr...), zeroed.
  template <class T>
  T* put_header() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(hdr(), sizeof(T)));
  }
  template <class T>
  const T* header() const {
    return static_cast<const T*>(mnl_nlmsg_get_payload(hdr()));
  }

  void put(uint16_t type, const void* data, size_t len);
  void put_u8(uint16_t type, uint8_t v) { put(type, &v, sizeof v); }
  void put_u16(uint16_t type, uint16_t v) { put(type, &v, sizeof v); }
  void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
  void put_str(uint16_t type, std::string_view s);  // NUL-terminated
  void put_flag(uint16_t type) { put(type, nullptr, 0); }
  nlattr* begin_nest(uint16_t type);
  void end_nest(nlattr* nest) { mnl_attr_nest_end(hdr(), nest); }
  // Raw space in the message (e.g. the ifinfomsg inside VETH_INFO_PEER), zeroed.
  void* reserve(size_t len);

  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_); }
  const nlmsghdr* hdr() const { return reinterpret_cast<const nlmsghdr*>(buf_); }
  std::span<const uint8_t> bytes() const { return {reinterpret_cast<const uint8_t*>(buf_), hdr()->nlmsg_len}; }

 private:
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
    return static_cast<const T*>(mnl_nlmsg_get_payload(hdr()));
  }
};

}  // namespace ctnet::nl
