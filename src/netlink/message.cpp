#include "netlink/message.h"

#include <cstring>

#include "util/error.h"

namespace ctnet::nl {

Message::Message(uint16_t type, uint16_t flags) {
  std::memset(buf_, 0, sizeof buf_);
  nlmsghdr* h = hdr();
  h->nlmsg_len = NLMSG_HDRLEN;
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
}

void Message::put(uint16_t type, const void* data, size_t len) {
  if (hdr()->nlmsg_len + NLA_HDRLEN + align(len) > sizeof buf_)
    throw Error("netlink request too large (attribute " + std::to_string(type) + ")", EMSGSIZE);
  auto* a = reinterpret_cast<nlattr*>(tail());
  a->nla_type = type;
  a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  if (len) std::memcpy(reinterpret_cast<char*>(a) + NLA_HDRLEN, data, len);  // the padding stays zero
  hdr()->nlmsg_len = static_cast<uint32_t>(align(hdr()->nlmsg_len) + align(a->nla_len));
}

void Message::put_str(uint16_t type, std::string_view s) {
  char tmp[256];
  if (s.size() >= sizeof tmp) throw Error("netlink string attribute too long", EMSGSIZE);
  std::memcpy(tmp, s.data(), s.size());
  tmp[s.size()] = 0;
  put(type, tmp, s.size() + 1);
}

nlattr* Message::begin_nest(uint16_t type) {
  if (hdr()->nlmsg_len + NLA_HDRLEN > sizeof buf_) throw Error("netlink request too large (nest " + std::to_string(type) + ")", EMSGSIZE);
  auto* n = reinterpret_cast<nlattr*>(tail());
  n->nla_type = NLA_F_NESTED | type;
  hdr()->nlmsg_len = static_cast<uint32_t>(align(hdr()->nlmsg_len) + NLA_HDRLEN);
  return n;
}

void* Message::reserve(size_t len) {
  if (hdr()->nlmsg_len + align(len) > sizeof buf_) throw Error("netlink request too large", EMSGSIZE);
  void* p = reinterpret_cast<char*>(hdr()) + hdr()->nlmsg_len;
  std::memset(p, 0, align(len));
  hdr()->nlmsg_len += static_cast<uint32_t>(align(len));
  return p;
}

void Attrs::add(const nlattr* a) {
  uint16_t t = attr_type(a);
  if (t >= table_.size()) table_.resize(t + 1, nullptr);
  table_[t] = a;
}


namespace {
// Walks the attributes in [data, data+len), stopping at the first malformed one (attr_ok checks lengths).
template <class F>
void for_each_attr(const void* data, size_t len, F&& f) {
  auto* a = static_cast<const nlattr*>(data);
  int left = static_cast<int>(len);
  while (attr_ok(a, left)) {
    f(a);
    left -= static_cast<int>(align(a->nla_len));
    a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + align(a->nla_len));
  }
}
}  // namespace

Attrs Attrs::of_message(const nlmsghdr* h, size_t header_size) {
  Attrs r;
  const char* start = static_cast<const char*>(payload(h)) + align(header_size);
  const char* end = reinterpret_cast<const char*>(h) + h->nlmsg_len;
  if (start < end) for_each_attr(start, end - start, [&](const nlattr* a) { r.add(a); });
  return r;
}

Attrs Attrs::of_nest(const nlattr* nest) {
  Attrs r;
  if (nest) for_each_attr(attr_payload(nest), attr_payload_len(nest), [&](const nlattr* a) { r.add(a); });
  return r;
}

Attrs Attrs::of_buffer(const void* data, size_t len) {
  Attrs r;
  for_each_attr(data, len, [&](const nlattr* a) { r.add(a); });
  return r;
}

std::vector<const nlattr*> Attrs::list(const nlattr* nest) {
  std::vector<const nlattr*> r;
  if (nest)
    for_each_attr(attr_payload(nest), attr_payload_len(nest), [&](const nlattr* a) { r.push_back(a); });
  return r;
}

std::optional<std::string> Attrs::str(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a) return std::nullopt;
  const char* p = static_cast<const char*>(attr_payload(a));
  size_t n = attr_payload_len(a);
  return std::string(p, strnlen(p, n));
}

std::optional<uint8_t> Attrs::u8(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a || attr_payload_len(a) < 1) return std::nullopt;
  return *static_cast<const uint8_t*>(attr_payload(a));
}

std::optional<uint16_t> Attrs::u16(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a || attr_payload_len(a) < 2) return std::nullopt;
  uint16_t v;
  std::memcpy(&v, attr_payload(a), sizeof v);
  return v;
}

std::optional<uint32_t> Attrs::u32(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a || attr_payload_len(a) < 4) return std::nullopt;
  uint32_t v;
  std::memcpy(&v, attr_payload(a), sizeof v);
  return v;
}

std::span<const uint8_t> Attrs::bytes(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a) return {};
  return {static_cast<const uint8_t*>(attr_payload(a)), attr_payload_len(a)};
}

}  // namespace ctnet::nl
