#include "addr/rule.h"

#include <fmt/format.h>
#include <linux/rtnetlink.h>

#include "addr/route.h"
#include "util/error.h"

namespace ctnet::addr {

std::string Rule::str() const {
  std::string s = "from ";
  if (!src) s += "all";
  else s += src->length() == src->max_length() ? src->address().str() : src->network().str();
  if (l3mdev) s += " lookup [l3mdev-table]";
  else s += fmt::format(" lookup {}", table);
  if (priority) s += fmt::format(" priority {}", *priority);
  return s;
}

namespace {
nl::Message rule_request(uint16_t type, uint16_t flags, const Rule& r) {
  nl::Message m(type, flags);
  auto* h = m.put_header<fib_rule_hdr>();
  h->family = static_cast<uint8_t>(r.family);
  h->action = r.action;
  // As iproute2 encodes it: a table below 256 in the header too (older kernels read only that), FRA_TABLE always.
  h->table = static_cast<uint8_t>(r.table < 256 ? r.table : uint32_t{RT_TABLE_UNSPEC});
  if (r.src) {
    h->src_len = static_cast<uint8_t>(r.src->length());
    IpAddress net = r.src->first();
    m.put(FRA_SRC, net.data(), net.size());
  }
  if (r.priority) m.put_u32(FRA_PRIORITY, *r.priority);
  if (r.table) m.put_u32(FRA_TABLE, r.table);
  return m;
}
}  // namespace

nl::Message add_request(const Rule& r) { return rule_request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, r); }

void add(nl::Socket& s, const Rule& r) {
  nl::Message m = add_request(r);
  s.ack(m, fmt::format("cannot add rule {}", r.str()));
}

bool remove(nl::Socket& s, const Rule& r) {
  nl::Message m = rule_request(RTM_DELRULE, 0, r);
  std::string text;
  int err = s.try_ack(m, &text);
  if (err == ENOENT || err == ESRCH) return false;
  if (err) throw Error(fmt::format("cannot remove rule {}", r.str()), err, text);
  return true;
}

std::vector<Rule> list_rules(nl::Socket& s, int family) {
  nl::Message m(RTM_GETRULE, 0);
  m.put_header<fib_rule_hdr>()->family = static_cast<uint8_t>(family);
  std::vector<Rule> out;
  for (auto& msg : s.dump(m, "cannot list rules")) {
    const auto* h = msg.header<fib_rule_hdr>();
    if (h->family != AF_INET && h->family != AF_INET6) continue;
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(fib_rule_hdr));
    Rule r;
    r.family = h->family;
    r.action = h->action;
    r.table = a.u32(FRA_TABLE).value_or(h->table);
    r.priority = a.u32(FRA_PRIORITY).value_or(0);
    r.l3mdev = a.u8(FRA_L3MDEV).value_or(0) != 0;
    const size_t alen = h->family == AF_INET ? 4 : 16;
    if (auto src = a.bytes(FRA_SRC); src.size() == alen) r.src = Prefix(IpAddress::from_bytes(h->family, src.data()), h->src_len);
    out.push_back(r);
  }
  return out;
}

uint32_t default_priority(const std::vector<Rule>& rules) {
  if (rules.size() < 2) return 0;
  const uint32_t second = rules[1].priority.value_or(0);
  return second ? second - 1 : 0;
}

uint32_t first_free_table(nl::Socket& s, uint32_t from, const std::set<uint32_t>& taken) {
  std::set<uint32_t> used = taken;
  for (const auto& r : list_rules(s)) used.insert(r.table);
  for (const auto& r : list_routes(s, AF_UNSPEC, 0, true)) used.insert(r.table);
  uint32_t t = from;
  while (used.count(t) || (t >= RT_TABLE_COMPAT && t <= RT_TABLE_LOCAL)) {  // 252..255 are the kernel's
    if (t == UINT32_MAX) throw Error("no free routing table", ENOSPC);
    ++t;
  }
  return t;
}

}  // namespace ctnet::addr
