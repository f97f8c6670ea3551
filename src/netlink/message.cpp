#include "netlink/message.h"

#include <cstring>

#include "util/error.h"

namespace ctnet::nl {

Message::Message(uint16_t type, uint16_t flags) {
  std::memset(buf_, 0, sizeof buf_);
  nlmsghdr* h = mnl_nlmsg_put_header(buf_);
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | flags;
}

void Message::put(uint16_t type, const void* data, size_t len) {
  if (!mnl_attr_put_check(hdr(), sizeof buf_, type, len, data))
    throw Error("netlink request too large (attribute " + std::to_string(type) + ")", EMSGSIZE);
}

void Message::put_str(uint16_t type, std::string_view s) {
  char tmp[256];
  if (s.size() >= sizeof tmp) throw Error("netlink string attribute too long", EMSGSIZE);
  std::memcpy(tmp, s.data(), s.size());
  tmp[s.size()] = 0;
  put(type, tmp, s.size() + 1);
}

nlattr* Message::begin_nest(uint16_t type) {
  nlattr* n = mnl_attr_nest_start_check(hdr(), sizeof buf_, type);
  if (!n) throw Error("netlink request too large (nest " + std::to_string(type) + ")", EMSGSIZE);
  return n;
}

void* Message::reserve(size_t len) {
  if (hdr()->nlmsg_len + MNL_ALIGN(len) > sizeof buf_) throw Error("netlink request too large", EMSGSIZE);
  void* p = reinterpret_cast<char*>(hdr()) + hdr()->nlmsg_len;
  std::memset(p, 0, MNL_ALIGN(len));
  hdr()->nlmsg_len += MNL_ALIGN(len);
  return p;
}

void Attrs::add(const nlattr* a) {
  uint16_t t = mnl_attr_get_type(a);
  if (t >= table_.size()) table_.resize(t + 1, nullptr);
  table_[t] = a;
}


namespace {
// Walks the attributes in [data, data+len), stopping at the first malformed one (mnl_attr_ok checks lengths).
template <class F>
void for_each_attr(const void* data, size_t len, F&& f) {
  auto* a = static_cast<const nlattr*>(data);
  int left = static_cast<int>(len);
  while (mnl_attr_ok(a, left)) {
    f(a);
    left -= static_cast<int>(MNL_ALIGN(a->nla_len));
    a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + MNL_ALIGN(a->nla_len));
  }
}
}  // namespace

Attrs Attrs::of_message(const nlmsghdr* h, size_t header_size) {
  Attrs r;
  const char* start = static_cast<const char*>(mnl_nlmsg_get_payload_offset(h, header_size));
  const char* end = reinterpret_cast<const char*>(h) + h->nlmsg_len;
  if (start < end) for_each_attr(start, end - start, [&](const nlattr* a) { r.add(a); });
  return r;
}

Attrs Attrs::of_nest(const nlattr* nest) {
  Attrs r;
  if (nest) for_each_attr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), [&](const nlattr* a) { r.add(a); });
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
    for_each_attr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), [&](const nlattr* a) { r.push_back(a); });
  return r;
}

std::optional<std::string> Attrs::str(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a) return std::nullopt;
  const char* p = static_cast<const char*>(mnl_attr_get_payload(a));
  size_t n = mnl_attr_get_payload_len(a);
  return std::string(p, strnlen(p, n));
}

std::optional<uint8_t> Attrs::u8(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a || mnl_attr_get_payload_len(a) < 1) return std::nullopt;
  return mnl_attr_get_u8(a);
}

std::optional<uint16_t> Attrs::u16(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a || mnl_attr_get_payload_len(a) < 2) return std::nullopt;
  return mnl_attr_get_u16(a);
}

std::optional<uint32_t> Attrs::u32(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a || mnl_attr_get_payload_len(a) < 4) return std::nullopt;
  return mnl_attr_get_u32(a);
}

std::span<const uint8_t> Attrs::bytes(uint16_t type) const {
  const nlattr* a = get(type);
  if (!a) return {};
  return {static_cast<const uint8_t*>(mnl_attr_get_payload(a)), mnl_attr_get_payload_len(a)};
}

}  // namespace ctnet::nl
