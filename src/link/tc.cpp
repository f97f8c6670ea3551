#include "link/tc.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "util/error.h"

namespace ctnet::link::tc {
namespace {

tc_ratespec ratespec(uint64_t rate) {
  tc_ratespec r{};
  r.linklayer = TC_LINKLAYER_ETHERNET;
  r.rate = static_cast<uint32_t>(std::min<uint64_t>(rate, UINT32_MAX));  // the rest goes in a *_RATE64 attribute
  return r;
}

void put_u64(nl::Message& m, uint16_t type, uint64_t v) { m.put(type, &v, sizeof v); }

nl::Message request(uint16_t type, uint16_t flags, int ifindex, uint32_t handle, uint32_t parent, uint32_t info = 0) {
  nl::Message m(type, flags);
  auto* t = m.put_header<tcmsg>();
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = ifindex;
  t->tcm_handle = handle;
  t->tcm_parent = parent;
  t->tcm_info = info;
  return m;
}

template <class T>
std::optional<T> as(const nl::Attrs& a, uint16_t type) {
  auto b = a.bytes(type);
  if (b.size() < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

const tcmsg* header_of(const nl::OwnedMessage& m) {
  if (m.data.size() < NLMSG_LENGTH(sizeof(tcmsg))) throw Error("short tc message from the kernel", EPROTO);
  return m.header<tcmsg>();
}

std::vector<nl::OwnedMessage> dump(nl::Socket& s, uint16_t type, int ifindex, uint32_t parent, const char* what) {
  nl::Message m = request(type, 0, ifindex, 0, parent);
  return s.dump(m, fmt::format("cannot list the {} of link {}", what, ifindex));
}

}  // namespace

std::string handle_str(uint32_t h) {
  if (h == kRoot) return "root";
  const uint32_t minor = h & 0xffff;
  return minor ? fmt::format("{:x}:{:x}", h >> 16, minor) : fmt::format("{:x}:", h >> 16);
}

double ticks_per_usec() {
  static const double v = [] {
    // tc's reading (tc_core.c): t2us, us2t, the clock's resolution; a resolution of 1 GHz means t2us = us2t.
    unsigned t2us = 0, us2t = 0, res = 0;
    if (FILE* f = std::fopen("/proc/net/psched", "re")) {
      const int n = std::fscanf(f, "%08x%08x%08x", &t2us, &us2t, &res);
      std::fclose(f);
      if (n == 3 && us2t && res) {
        if (res == 1000000000) t2us = us2t;
        return static_cast<double>(t2us) / us2t * (res / 1e6);
      }
    }
    return 15.625;  // PSCHED_SHIFT 6 (include/net/pkt_sched.h)
  }();
  return v;
}

uint32_t buffer_ticks(uint64_t rate, uint64_t burst) {
  // Whole microseconds first, then ticks, as the reference (and tc) round.
  const double usec = std::min<double>(static_cast<double>(burst) * 1e6 / static_cast<double>(rate), kMaxBufferUsec);
  return static_cast<uint32_t>(static_cast<double>(static_cast<uint32_t>(usec)) * ticks_per_usec());
}

Tbf tbf(uint64_t rate, uint64_t burst, uint32_t latency_usec) {
  const auto queued = static_cast<uint64_t>(static_cast<double>(rate) * latency_usec / 1e6);
  const uint64_t limit = std::min<uint64_t>(queued, UINT32_MAX) + std::min<uint64_t>(burst, UINT32_MAX);
  return {.rate = rate, .buffer = buffer_ticks(rate, burst), .limit = static_cast<uint32_t>(std::min<uint64_t>(limit, UINT32_MAX))};
}

std::vector<U32Key> address_keys(const Prefix& p, bool source) {
  const Prefix net = p.network();
  const IpAddress a = net.address();
  // Offsets in the IPv4 header (saddr 12, daddr 16) and the IPv6 header (saddr 8, daddr 24).
  const int32_t base = a.is_v4() ? (source ? 12 : 16) : (source ? 8 : 24);
  std::vector<U32Key> keys;
  int left = net.length();
  for (size_t word = 0; word < a.size() / 4 && left > 0; ++word, left -= 32) {
    const uint32_t mask = left >= 32 ? 0xffffffffu : ~(0xffffffffu >> left);
    uint32_t value;
    std::memcpy(&value, a.data() + word * 4, 4);
    keys.push_back({.value = ntohl(value) & mask, .mask = mask, .offset = base + static_cast<int32_t>(word * 4)});
  }
  return keys;
}

nl::Message new_qdisc(int ifindex, const Qdisc& q) {
  nl::Message m = request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, q.handle, q.parent);
  m.put_str(TCA_KIND, q.kind);
  if (q.kind == "tbf") {
    if (!q.tbf) throw Error("a tbf qdisc needs its rate, buffer and limit", EINVAL);
    tc_tbf_qopt o{};
    o.rate = ratespec(q.tbf->rate);
    o.limit = q.tbf->limit;
    o.buffer = q.tbf->buffer;
    nlattr* opts = m.begin_nest(TCA_OPTIONS);
    m.put(TCA_TBF_PARMS, &o, sizeof o);
    if (q.tbf->rate > UINT32_MAX) put_u64(m, TCA_TBF_RATE64, q.tbf->rate);
    m.end_nest(opts);
  } else if (q.kind == "htb") {
    tc_htb_glob g{};
    g.version = TC_HTB_PROTOVER;
    g.rate2quantum = 10;  // tc's default r2q
    g.defcls = q.htb_default.value_or(0);
    nlattr* opts = m.begin_nest(TCA_OPTIONS);
    m.put(TCA_HTB_INIT, &g, sizeof g);
    m.end_nest(opts);
  }
  return m;
}

nl::Message delete_qdisc(int ifindex, uint32_t handle, uint32_t parent) {
  return request(RTM_DELQDISC, 0, ifindex, handle, parent);
}

nl::Message new_class(int ifindex, const HtbClass& c) {
  nl::Message m = request(RTM_NEWTCLASS, NLM_F_CREATE | NLM_F_EXCL, ifindex, c.id, c.parent);
  m.put_str(TCA_KIND, "htb");
  tc_htb_opt o{};
  o.rate = ratespec(c.rate);
  o.ceil = ratespec(c.ceil);
  o.buffer = c.buffer;
  o.cbuffer = c.cbuffer;
  o.quantum = c.quantum;
  nlattr* opts = m.begin_nest(TCA_OPTIONS);
  m.put(TCA_HTB_PARMS, &o, sizeof o);
  if (c.rate > UINT32_MAX) put_u64(m, TCA_HTB_RATE64, c.rate);
  if (c.ceil > UINT32_MAX) put_u64(m, TCA_HTB_CEIL64, c.ceil);
  m.end_nest(opts);
  return m;
}

nl::Message new_filter(int ifindex, const U32Filter& f) {
  nl::Message m = request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, 0, f.parent,
                          TC_H_MAKE(static_cast<uint32_t>(f.priority) << 16, htons(f.protocol)));
  m.put_str(TCA_KIND, "u32");
  nlattr* opts = m.begin_nest(TCA_OPTIONS);
  if (f.classid) m.put_u32(TCA_U32_CLASSID, f.classid);
  // A selector and its keys, in one attribute; a match of everything is one key 0/0, as tc sends it.
  std::vector<U32Key> keys = f.keys.empty() ? std::vector<U32Key>{U32Key{}} : f.keys;
  std::vector<uint8_t> sel(sizeof(tc_u32_sel) + keys.size() * sizeof(tc_u32_key));
  auto* s = reinterpret_cast<tc_u32_sel*>(sel.data());
  s->flags = TC_U32_TERMINAL;
  s->nkeys = static_cast<unsigned char>(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    tc_u32_key k{};
    k.mask = htonl(keys[i].mask);
    k.val = htonl(keys[i].value);
    k.off = keys[i].offset;
    std::memcpy(sel.data() + sizeof(tc_u32_sel) + i * sizeof k, &k, sizeof k);
  }
  m.put(TCA_U32_SEL, sel.data(), sel.size());
  if (f.redirect_to) {
    nlattr* acts = m.begin_nest(TCA_U32_ACT);
    nlattr* act = m.begin_nest(1);  // the first action of the list
    m.put_str(TCA_ACT_KIND, "mirred");
    nlattr* aopts = m.begin_nest(TCA_ACT_OPTIONS);
    tc_mirred p{};
    p.action = TC_ACT_STOLEN;  // the packet now belongs to the target's queue
    p.eaction = TCA_EGRESS_REDIR;
    p.ifindex = static_cast<uint32_t>(f.redirect_to);
    m.put(TCA_MIRRED_PARMS, &p, sizeof p);
    m.end_nest(aopts);
    m.end_nest(act);
    m.end_nest(acts);
  }
  m.end_nest(opts);
  return m;
}

Qdisc parse_qdisc(const nl::OwnedMessage& msg, int* ifindex) {
  const tcmsg* t = header_of(msg);
  if (ifindex) *ifindex = t->tcm_ifindex;
  auto a = nl::Attrs::of_message(msg.hdr(), sizeof(tcmsg));
  Qdisc q{.handle = t->tcm_handle, .parent = t->tcm_parent, .kind = a.str(TCA_KIND).value_or("")};
  auto o = nl::Attrs::of_nest(a.get(TCA_OPTIONS));
  if (q.kind == "tbf") {
    if (auto p = as<tc_tbf_qopt>(o, TCA_TBF_PARMS)) {
      q.tbf = Tbf{.rate = p->rate.rate, .buffer = p->buffer, .limit = p->limit};
      if (auto r64 = as<uint64_t>(o, TCA_TBF_RATE64)) q.tbf->rate = *r64;
    }
  } else if (q.kind == "htb") {
    if (auto g = as<tc_htb_glob>(o, TCA_HTB_INIT)) q.htb_default = g->defcls;
  }
  return q;
}

HtbClass parse_class(const nl::OwnedMessage& msg) {
  const tcmsg* t = header_of(msg);
  auto a = nl::Attrs::of_message(msg.hdr(), sizeof(tcmsg));
  HtbClass c{.id = t->tcm_handle, .parent = t->tcm_parent};
  if (a.str(TCA_KIND).value_or("") != "htb") return c;
  auto o = nl::Attrs::of_nest(a.get(TCA_OPTIONS));
  if (auto p = as<tc_htb_opt>(o, TCA_HTB_PARMS)) {
    c.rate = p->rate.rate;
    c.ceil = p->ceil.rate;
    c.buffer = p->buffer;
    c.cbuffer = p->cbuffer;
    c.quantum = p->quantum;
  }
  if (auto r = as<uint64_t>(o, TCA_HTB_RATE64)) c.rate = *r;
  if (auto r = as<uint64_t>(o, TCA_HTB_CEIL64)) c.ceil = *r;
  return c;
}

std::optional<U32Filter> parse_filter(const nl::OwnedMessage& msg) {
  const tcmsg* t = header_of(msg);
  auto a = nl::Attrs::of_message(msg.hdr(), sizeof(tcmsg));
  if (a.str(TCA_KIND).value_or("") != "u32") return std::nullopt;
  auto o = nl::Attrs::of_nest(a.get(TCA_OPTIONS));
  auto selb = o.bytes(TCA_U32_SEL);
  if (selb.size() < sizeof(tc_u32_sel)) return std::nullopt;  // a hash table, not a filter
  U32Filter f{.parent = t->tcm_parent, .priority = static_cast<uint16_t>(t->tcm_info >> 16),
              .protocol = ntohs(static_cast<uint16_t>(t->tcm_info & 0xffff)), .classid = o.u32(TCA_U32_CLASSID).value_or(0)};
  tc_u32_sel sel;
  std::memcpy(&sel, selb.data(), sizeof sel);
  for (size_t i = 0; i < sel.nkeys && sizeof(tc_u32_sel) + (i + 1) * sizeof(tc_u32_key) <= selb.size(); ++i) {
    tc_u32_key k;
    std::memcpy(&k, selb.data() + sizeof(tc_u32_sel) + i * sizeof k, sizeof k);
    if (k.mask) f.keys.push_back({.value = ntohl(k.val), .mask = ntohl(k.mask), .offset = k.off});  // 0/0 matches all
  }
  for (const nlattr* act : nl::Attrs::list(o.get(TCA_U32_ACT))) {
    auto aa = nl::Attrs::of_nest(act);
    if (aa.str(TCA_ACT_KIND).value_or("") != "mirred") continue;
    auto p = as<tc_mirred>(nl::Attrs::of_nest(aa.get(TCA_ACT_OPTIONS)), TCA_MIRRED_PARMS);
    if (p && p->eaction == TCA_EGRESS_REDIR) {
      f.redirect_to = static_cast<int>(p->ifindex);
      break;  // the first redirect takes the packet
    }
  }
  return f;
}

std::vector<Qdisc> qdiscs(nl::Socket& s, int ifindex) {
  std::vector<Qdisc> out;
  for (const auto& m : dump(s, RTM_GETQDISC, ifindex, 0, "qdiscs")) {
    int index = 0;
    Qdisc q = parse_qdisc(m, &index);
    if (index == ifindex) out.push_back(std::move(q));  // older kernels dump every link's
  }
  return out;
}

std::vector<HtbClass> classes(nl::Socket& s, int ifindex) {
  std::vector<HtbClass> out;
  for (const auto& m : dump(s, RTM_GETTCLASS, ifindex, 0, "classes")) out.push_back(parse_class(m));
  return out;
}

std::vector<U32Filter> filters(nl::Socket& s, int ifindex, uint32_t parent) {
  std::vector<U32Filter> out;
  for (const auto& m : dump(s, RTM_GETTFILTER, ifindex, parent, "filters"))
    if (auto f = parse_filter(m)) out.push_back(std::move(*f));
  return out;
}

}  // namespace ctnet::link::tc
