#include "link/tc.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

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

size_t nl_len(const nlattr* a) { return a->nla_len >= NLA_HDRLEN ? a->nla_len - NLA_HDRLEN : 0; }

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

namespace {

// A number and its unit ("10ms", "1.5mbit"); the unit is compared case-insensitively.
std::optional<std::pair<double, std::string>> number_unit(std::string_view s) {
  std::string text(s);
  char* end = nullptr;
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) return std::nullopt;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v) || v < 0) return std::nullopt;
  std::string unit(end);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::make_pair(v, unit);
}

std::optional<double> scale_of(const std::string& unit, std::initializer_list<std::pair<const char*, double>> table) {
  for (auto& [name, f] : table)
    if (unit == name) return f;
  return std::nullopt;
}

uint32_t to_ticks(uint64_t ns) {
  return static_cast<uint32_t>(std::min<double>(static_cast<double>(ns) / 1000.0 * ticks_per_usec(), UINT32_MAX));
}

}  // namespace

std::optional<uint64_t> parse_time_ns(std::string_view s) {
  auto nu = number_unit(s);
  if (!nu) return std::nullopt;
  auto f = scale_of(nu->second, {{"s", 1e9}, {"sec", 1e9}, {"ms", 1e6}, {"msec", 1e6}, {"us", 1e3}, {"usec", 1e3},
                                 {"ns", 1}, {"nsec", 1}});
  if (!f || nu->first * *f > 1e18) return std::nullopt;
  return static_cast<uint64_t>(std::llround(nu->first * *f));
}

std::optional<uint32_t> parse_probability(std::string_view s) {
  auto nu = number_unit(s);
  if (!nu || (nu->second != "%" && !nu->second.empty()) || nu->first > 100) return std::nullopt;
  return static_cast<uint32_t>(std::rint(nu->first / 100.0 * UINT32_MAX));  // tc's get_percent
}

std::optional<uint64_t> parse_rate(std::string_view s) {
  auto nu = number_unit(s);
  if (!nu) return std::nullopt;
  // tc's get_rate64: SI prefixes on bits, "bps" on bytes.
  auto f = scale_of(nu->second, {{"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12},
                                 {"bps", 8}, {"kbps", 8e3}, {"mbps", 8e6}, {"gbps", 8e9}});
  if (!f || nu->first * *f / 8 > 1.8e19) return std::nullopt;
  return static_cast<uint64_t>(std::llround(nu->first * *f / 8));
}

std::string time_str(uint64_t ns) {
  if (ns && ns % 1000000000 == 0) return fmt::format("{}s", ns / 1000000000);
  if (ns >= 1000000) return fmt::format("{:g}ms", static_cast<double>(ns) / 1e6);
  if (ns && ns % 1000 == 0) return fmt::format("{}us", ns / 1000);
  return fmt::format("{}ns", ns);
}

std::string probability_str(uint32_t p) { return fmt::format("{:.4g}%", static_cast<double>(p) / UINT32_MAX * 100.0); }

std::string rate_str(uint64_t bytes_per_sec) {
  const uint64_t bits = bytes_per_sec * 8;
  for (auto [unit, f] : {std::pair{"gbit", 1000000000ull}, {"mbit", 1000000ull}, {"kbit", 1000ull}})
    if (bits >= f && bits % f == 0) return fmt::format("{}{}", bits / f, unit);
  return fmt::format("{}bit", bits);
}

namespace {
// One line per field that is set (or differs), in tc's order.
template <class F>
void each_field(const Netem& a, const Netem& b, F&& f) {
  f("delay", a.delay_ns != b.delay_ns, time_str(a.delay_ns), time_str(b.delay_ns), a.delay_ns || b.delay_ns);
  f("jitter", a.jitter_ns != b.jitter_ns, time_str(a.jitter_ns), time_str(b.jitter_ns), a.jitter_ns || b.jitter_ns);
  f("loss", a.loss != b.loss, probability_str(a.loss), probability_str(b.loss), a.loss || b.loss);
  f("rate", a.rate != b.rate, rate_str(a.rate), rate_str(b.rate), a.rate || b.rate);
  f("corrupt", a.corrupt != b.corrupt, probability_str(a.corrupt), probability_str(b.corrupt), a.corrupt || b.corrupt);
  f("duplicate", a.duplicate != b.duplicate, probability_str(a.duplicate), probability_str(b.duplicate), a.duplicate || b.duplicate);
  f("reorder", a.reorder != b.reorder, probability_str(a.reorder), probability_str(b.reorder), a.reorder || b.reorder);
  f("limit", a.limit != b.limit, std::to_string(a.limit), std::to_string(b.limit), a.limit != 1000 || b.limit != 1000);
}
}  // namespace

std::string describe(const Netem& n) {
  std::string s;
  each_field(n, n, [&](const char* name, bool, const std::string& v, const std::string&, bool set) {
    if (set) s += fmt::format("{}{} {}", s.empty() ? "" : " ", name, v);
  });
  return s.empty() ? "no impairment" : s;
}

std::vector<std::string> differences(const Netem& have, const Netem& want) {
  std::vector<std::string> d;
  each_field(have, want, [&](const char* name, bool differs, const std::string& h, const std::string& w, bool) {
    if (differs) d.push_back(fmt::format("{} {} (want {})", name, h, w));
  });
  return d;
}

bool kernel_has_netem() {
  if (::access("/sys/module/sch_netem", F_OK) == 0) return true;
  utsname u{};
  ::uname(&u);
  for (const char* list : {"modules.builtin", "modules.dep"}) {
    std::ifstream f(fmt::format("/lib/modules/{}/{}", u.release, list));
    std::string line;
    while (std::getline(f, line))
      if (line.find("/sch_netem.ko") != std::string::npos) return true;
  }
  return false;
}

namespace {

// netem's TCA_OPTIONS is no nest: a struct tc_netem_qopt, then attributes (sch_netem.c parse_attr; tc's
// q_netem.c). The latency and jitter go in the struct in ticks too, for kernels before 4.15 (no *64).
void put_netem(nl::Message& m, const Netem& n) {
  tc_netem_qopt o{};
  o.latency = to_ticks(n.delay_ns);
  o.jitter = to_ticks(n.jitter_ns);
  o.limit = n.limit;
  o.loss = n.loss;
  o.duplicate = n.duplicate;
  o.gap = n.reorder ? 1 : 0;  // as tc: reordering sends every other packet at once, with probability `reorder`
  nlattr* opts = m.begin_nest(TCA_OPTIONS);
  opts->nla_type = TCA_OPTIONS;  // without NLA_F_NESTED, as tc sends it
  std::memcpy(m.reserve(sizeof o), &o, sizeof o);
  if (n.reorder) {
    tc_netem_reorder r{.probability = n.reorder, .correlation = 0};
    m.put(TCA_NETEM_REORDER, &r, sizeof r);
  }
  if (n.delay_ns) put_u64(m, TCA_NETEM_LATENCY64, n.delay_ns);
  if (n.jitter_ns) put_u64(m, TCA_NETEM_JITTER64, n.jitter_ns);
  if (n.corrupt) {
    tc_netem_corrupt c{.probability = n.corrupt, .correlation = 0};
    m.put(TCA_NETEM_CORRUPT, &c, sizeof c);
  }
  if (n.rate) {
    tc_netem_rate r{};
    r.rate = n.rate >= (1ull << 32) ? UINT32_MAX : static_cast<uint32_t>(n.rate);
    if (n.rate >= (1ull << 32)) put_u64(m, TCA_NETEM_RATE64, n.rate);
    m.put(TCA_NETEM_RATE, &r, sizeof r);
  }
  m.end_nest(opts);
}

Netem parse_netem(const nlattr* opts) {
  Netem n;
  if (!opts || nl_len(opts) < sizeof(tc_netem_qopt)) return n;
  const auto* data = reinterpret_cast<const uint8_t*>(opts) + NLA_HDRLEN;
  tc_netem_qopt o;
  std::memcpy(&o, data, sizeof o);
  n.limit = o.limit, n.loss = o.loss, n.duplicate = o.duplicate;
  n.delay_ns = static_cast<uint64_t>(static_cast<double>(o.latency) / ticks_per_usec() * 1000.0);
  n.jitter_ns = static_cast<uint64_t>(static_cast<double>(o.jitter) / ticks_per_usec() * 1000.0);
  const size_t skip = NLA_ALIGN(sizeof o);
  if (nl_len(opts) <= skip) return n;
  auto a = nl::Attrs::of_buffer(data + skip, nl_len(opts) - skip);
  if (auto v = as<int64_t>(a, TCA_NETEM_LATENCY64)) n.delay_ns = static_cast<uint64_t>(std::max<int64_t>(*v, 0));
  if (auto v = as<int64_t>(a, TCA_NETEM_JITTER64)) n.jitter_ns = static_cast<uint64_t>(std::max<int64_t>(*v, 0));
  if (auto r = as<tc_netem_reorder>(a, TCA_NETEM_REORDER)) n.reorder = r->probability;
  if (auto c = as<tc_netem_corrupt>(a, TCA_NETEM_CORRUPT)) n.corrupt = c->probability;
  if (auto r = as<tc_netem_rate>(a, TCA_NETEM_RATE)) n.rate = r->rate;
  if (auto r = as<uint64_t>(a, TCA_NETEM_RATE64)) n.rate = *r;
  return n;
}

void put_options(nl::Message& m, const Qdisc& q) {
  if (q.kind == "netem") {
    if (!q.netem) throw Error("a netem qdisc needs its settings", EINVAL);
    put_netem(m, *q.netem);
  } else if (q.kind == "tbf") {
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
}

}  // namespace

nl::Message new_qdisc(int ifindex, const Qdisc& q) {
  nl::Message m = request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, q.handle, q.parent);
  m.put_str(TCA_KIND, q.kind);
  put_options(m, q);
  return m;
}

nl::Message replace_qdisc(int ifindex, const Qdisc& q) {
  nl::Message m = request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex, q.handle, q.parent);
  m.put_str(TCA_KIND, q.kind);
  put_options(m, q);
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
  } else if (q.kind == "netem") {
    q.netem = parse_netem(a.get(TCA_OPTIONS));
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
