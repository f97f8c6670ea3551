#include "kinds/qdisc.h"

#include <fmt/format.h>

#include <algorithm>

#include "kinds/link_kind.h"
#include "link/link.h"
#include "util/error.h"

namespace ctnet::kinds::qdisc {

namespace tc = link::tc;

namespace {

std::string place(uint32_t parent) {
  if (parent == tc::kRoot) return "root";
  if (parent == tc::kIngress) return "ingress";
  return "parent " + tc::handle_str(parent);
}

std::string describe(const tc::U32Filter& f) {
  std::string s = fmt::format("u32 filter prio {} protocol 0x{:04x}", f.priority, f.protocol);
  for (const auto& k : f.keys) s += fmt::format(" match {:08x}/{:08x} at {}", k.value, k.mask, k.offset);
  if (f.classid) s += " flowid " + tc::handle_str(f.classid);
  if (f.redirect_to) s += fmt::format(" redirect to link {}", f.redirect_to);
  return s;
}

// The qdisc at `parent` other than the link's default one (handle 0: noqueue, pfifo_fast, mq ...).
std::optional<tc::Qdisc> at(nl::Socket& s, int ifindex, uint32_t parent) {
  for (auto& q : tc::qdiscs(s, ifindex))
    if (q.parent == parent && q.handle != 0) return q;
  return std::nullopt;
}

}  // namespace

void apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  const int index = index_of(s, spec.dev);
  const tc::Qdisc& q = spec.qdisc;
  const std::string what = fmt::format("{} qdisc at {} of {} in '{}'", q.kind, place(q.parent), spec.dev, s.ns.label());
  nl::Message m = tc::new_qdisc(index, q);
  const size_t i = txn.make({.kind = "qdisc", .ns = txn.ref(s), .name = spec.dev, .ifindex = index,
                             .saved = {{"qdisc", q.kind}, {"handle", q.handle}, {"parent", q.parent}}},
                            [&] { s.rtnl.ack(m, "cannot add the " + what); });
  txn.done(i, index);
  for (const auto& c : spec.classes) {
    nl::Message cm = tc::new_class(index, c);
    s.rtnl.ack(cm, fmt::format("cannot add htb class {} to the {}", tc::handle_str(c.id), what));
  }
  for (const auto& f : spec.filters) {
    nl::Message fm = tc::new_filter(index, f);
    s.rtnl.ack(fm, fmt::format("cannot add a {} to the {}", describe(f), what));
  }
}

std::vector<std::string> differences(nl::Socket& s, int ifindex, const Spec& spec) {
  const tc::Qdisc& want = spec.qdisc;
  auto have = at(s, ifindex, want.parent);
  if (!have) return {fmt::format("no {} qdisc at {}", want.kind, place(want.parent))};
  if (have->kind != want.kind) return {fmt::format("the qdisc at {} is {} (want {})", place(want.parent), have->kind, want.kind)};
  std::vector<std::string> d;
  if (have->handle != want.handle)
    d.push_back(fmt::format("{} handle {} (want {})", want.kind, tc::handle_str(have->handle), tc::handle_str(want.handle)));
  if (want.tbf && have->tbf) {
    if (have->tbf->rate != want.tbf->rate) d.push_back(fmt::format("tbf rate {} B/s (want {})", have->tbf->rate, want.tbf->rate));
    if (have->tbf->buffer != want.tbf->buffer)
      d.push_back(fmt::format("tbf buffer {} ticks (want {})", have->tbf->buffer, want.tbf->buffer));
    if (have->tbf->limit != want.tbf->limit) d.push_back(fmt::format("tbf limit {} B (want {})", have->tbf->limit, want.tbf->limit));
  }
  if (want.netem && have->netem)
    for (auto& x : tc::differences(*have->netem, *want.netem)) d.push_back(x);
  if (want.htb_default && have->htb_default != want.htb_default)
    d.push_back(fmt::format("htb default class {:x} (want {:x})", have->htb_default.value_or(0), *want.htb_default));
  if (!spec.classes.empty()) {
    const auto cs = tc::classes(s, ifindex);
    for (const auto& c : spec.classes) {
      auto it = std::find_if(cs.begin(), cs.end(), [&](const tc::HtbClass& h) { return h.id == c.id; });
      if (it == cs.end()) d.push_back("no htb class " + tc::handle_str(c.id));
      else if (it->rate != c.rate || it->ceil != c.ceil || it->buffer != c.buffer || it->cbuffer != c.cbuffer)
        d.push_back(fmt::format("htb class {} has rate {} ceil {} B/s, buffer {} cbuffer {} ticks (want {} {} B/s, {} {})",
                                tc::handle_str(c.id), it->rate, it->ceil, it->buffer, it->cbuffer, c.rate, c.ceil, c.buffer, c.cbuffer));
    }
  }
  if (!spec.filters.empty()) {
    const auto fs = tc::filters(s, ifindex, want.handle);
    for (const auto& f : spec.filters) {
      // What the filter does; a flowid the spec does not ask for is no difference (the reference's redirect
      // filter carries 1:1, which an ingress qdisc ignores).
      auto same = [&](const tc::U32Filter& h) {
        return h.priority == f.priority && h.protocol == f.protocol && h.keys == f.keys && h.redirect_to == f.redirect_to &&
               (!f.classid || h.classid == f.classid);
      };
      if (std::none_of(fs.begin(), fs.end(), same)) d.push_back("no " + describe(f));
    }
  }
  return d;
}

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  // The link, if it is still the one the qdisc was added to; a link that is gone took its qdiscs along.
  std::optional<link::Link> l = m.ifindex ? recorded_link(*s, m, "", &replaced) : link::find(s->rtnl, m.name);
  if (!l) return Removal::absent;
  const uint32_t parent = m.saved.value("parent", tc::kRoot);
  const uint32_t handle = m.saved.value("handle", 0u);
  const std::string kind = m.saved.value("qdisc", "");
  auto q = at(s->rtnl, l->index, parent);
  if (!q) return Removal::absent;
  if (q->kind != kind || q->handle != handle) return Removal::replaced;
  nl::Message req = tc::delete_qdisc(l->index, handle, parent);
  std::string text;
  const int err = s->rtnl.try_ack(req, &text);
  if (err == ENOENT || err == EINVAL) return Removal::absent;  // gone meanwhile (EINVAL: another handle there now)
  if (err) throw Error(fmt::format("cannot delete the {} qdisc at {} of {} in '{}'", kind, place(parent), l->name, m.ns.label()), err, text);
  return Removal::removed;
}

void validate_netem(const tc::Netem& n, const std::string& p) {
  if (n == tc::Netem{})
    throw InvalidInput(p.empty() ? "impair" : p.substr(0, p.size() - 1),
                       "sets nothing (give delay, jitter, loss, rate, corrupt, duplicate or reorder)");
  if (n.delay_ns > 60'000'000'000ull)
    throw InvalidInput(p + "delay", fmt::format("{} is more than the 60s a lab link may wait", tc::time_str(n.delay_ns)));
  if (n.jitter_ns && !n.delay_ns) throw InvalidInput(p + "jitter", "needs `delay` (jitter varies the delay)");
  if (n.jitter_ns > n.delay_ns)
    throw InvalidInput(p + "jitter", fmt::format("{} is more than the delay {}: netem would clamp negative delays to 0 "
                                                 "and reorder packets (use `reorder` for that)",
                                                 tc::time_str(n.jitter_ns), tc::time_str(n.delay_ns)));
  if (n.reorder && !n.delay_ns)
    throw InvalidInput(p + "reorder", "needs `delay` (reordered packets skip the delay the others wait)");
  if (n.limit == 0) throw InvalidInput(p + "limit", "must be at least 1 packet");
}

Spec netem(std::string ns, std::string dev, const tc::Netem& n) {
  return Spec{.ns = std::move(ns), .dev = std::move(dev),
              .qdisc = {.handle = kNetemHandle, .parent = tc::kRoot, .kind = "netem", .netem = n}, .classes = {}, .filters = {}};
}

Inspection inspect(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto l = link::find(s.rtnl, spec.dev);
  if (!l || !at(s.rtnl, l->index, spec.qdisc.parent)) return Inspection::missing();
  return Inspection::of(l->index, differences(s.rtnl, l->index, spec));
}

void repair(Txn& txn, const Spec& spec) {
  if (!inspect(txn, spec).present()) return apply(txn, spec);
  replace(txn, spec);
}

void replace(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  const int index = index_of(s, spec.dev);
  nl::Message m = tc::replace_qdisc(index, spec.qdisc);
  s.rtnl.ack(m, fmt::format("cannot change the {} qdisc at {} of {} in '{}'", spec.qdisc.kind, place(spec.qdisc.parent),
                            spec.dev, s.ns.label()));
}

}  // namespace ctnet::kinds::qdisc
