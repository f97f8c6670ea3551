#include "kinds/address.h"

#include <fmt/format.h>

#include "kinds/link_kind.h"
#include "util/error.h"

namespace ctnet::kinds::address {

void validate(const Spec& s, const std::string& field) {
  const Prefix& p = s.prefix;
  if (p.length() >= p.max_length() - 1) return;  // /31, /32 (RFC 3021), /127, /128: every address is a host
  if (p.address() == p.first())
    throw InvalidInput(field, fmt::format("{} is the network address of its subnet", p.str()));
  if (p.address().is_v4() && p.address() == p.last())
    throw InvalidInput(field, fmt::format("{} is the broadcast address of its subnet", p.str()));
}

namespace {
int link_index(NsSocket& s, const Spec& spec) { return spec.ifindex ? spec.ifindex : index_of(s, spec.ifname); }

// The record's link is still the one the address was given to.
NsSocket* recorded(Txn& txn, const Made& m, bool* replaced) {
  NsSocket* s = txn.reopen(m.ns, replaced);
  if (!s) return nullptr;
  auto l = link::find(s->rtnl, m.ifindex);
  if (!l || l->name != m.name) return nullptr;  // its link is gone (and took the address with it)
  return s;
}
}  // namespace

void apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  const int index = link_index(s, spec);
  const std::string what = fmt::format("{} in '{}'", spec.ifname, s.ns.label());
  if (spec.replace_overlapping)
    for (const auto& a : addr::list(s.rtnl, index, spec.prefix.family()))
      if (a.prefix != spec.prefix && a.prefix.network().overlaps(spec.prefix.network())) addr::remove(s.rtnl, index, a.prefix);
  nl::Message m = addr::add_request(index, spec.prefix, {.dad = spec.dad, .prefix_route = spec.prefix_route});
  std::string text;
  size_t i = 0;
  int err = 0;
  nlohmann::json saved = {{"prefix", spec.prefix.str()}};
  if (spec.shared) saved["shared"] = true;
  i = txn.make({.kind = "address", .ns = txn.ref(s), .name = spec.ifname, .ifindex = index, .saved = saved},
               [&] {
                 err = s.rtnl.try_ack(m, &text);
                 if (err && !(err == EEXIST && spec.may_exist))
                   throw Error(fmt::format("cannot add address {} to {}", spec.prefix.str(), what), err, text);
               });
  if (err == EEXIST) txn.discard(i);  // it was there before: not ours
  else txn.done(i, index);
}

bool present(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  auto l = link::find(s.rtnl, spec.ifname);
  if (!l) return false;
  for (auto& a : addr::list(s.rtnl, l->index, spec.prefix.family()))
    if (a.prefix == spec.prefix) return true;
  return false;
}

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = recorded(txn, m, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  auto p = Prefix::try_parse(m.saved.value("prefix", ""));
  if (!p) throw Error(fmt::format("the record of address on {} has no prefix", m.name), EINVAL);
  if (m.saved.value("shared", false))
    for (const auto& l : link::list(s->rtnl))
      if (l.master == m.ifindex) return Removal::replaced;  // a port on it now may rely on the address
  return addr::remove(s->rtnl, m.ifindex, *p) ? Removal::removed : Removal::absent;
}

}  // namespace ctnet::kinds::address

namespace ctnet::kinds::route {

using nlohmann::json;

json to_json(const addr::Route& r) {
  json j = {{"dst", r.dst.str()}, {"table", r.table}, {"metric", r.metric}, {"oif", r.oif}};
  if (r.gateway) j["gateway"] = r.gateway->str();
  if (r.src) j["src"] = r.src->str();
  if (r.scope) j["scope"] = *r.scope;
  if (r.protocol != RTPROT_BOOT) j["protocol"] = r.protocol;  // a copied kernel route keeps its own (its delete matches on it)
  if (r.mtu) j["mtu"] = r.mtu;
  return j;
}

addr::Route route_from_json(const json& j) {
  addr::Route r;
  auto dst = Prefix::try_parse(j.value("dst", ""));
  if (!dst) throw Error("a route record has no destination", EINVAL);
  r.dst = *dst;
  r.table = j.value("table", uint32_t{RT_TABLE_MAIN});
  r.metric = j.value("metric", 0u);
  r.oif = j.value("oif", 0);
  if (j.contains("gateway")) r.gateway = IpAddress::try_parse(j["gateway"].get<std::string>());
  if (j.contains("src")) r.src = IpAddress::try_parse(j["src"].get<std::string>());
  if (j.contains("scope")) r.scope = j["scope"].get<uint8_t>();
  r.protocol = j.value("protocol", uint8_t{RTPROT_BOOT});
  r.mtu = j.value("mtu", 0u);
  return r;
}

void apply(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  addr::Route r = spec.route;
  if (!r.oif && !spec.dev.empty()) r.oif = index_of(s, spec.dev);
  // The route a replace overwrites is recorded as removed first, so that a rollback puts it back.
  std::optional<size_t> overwritten;
  int overwritten_oif = 0;
  if (spec.replace)
    for (const auto& x : addr::list_routes(s.rtnl, r.family(), r.table))
      if (addr::same_key(x, r)) {
        overwritten_oif = x.oif;
        overwritten = txn.intend({.kind = "route-removed", .ns = txn.ref(s), .name = name_of(s, x.oif).value_or(""),
                                  .ifindex = x.oif, .saved = to_json(x)});
        break;
      }
  nl::Message m = addr::add_request(r, spec.replace);
  std::string text;
  int err = 0;
  size_t i = 0;
  try {
    i = txn.make({.kind = "route", .ns = txn.ref(s), .name = spec.dev, .ifindex = r.oif, .saved = to_json(r)}, [&] {
      err = s.rtnl.try_ack(m, &text);
      if (err && !(err == EEXIST && spec.may_exist))
        throw Error(fmt::format("cannot add route {} in '{}'", r.str(), s.ns.label()), err, text);
    });
  } catch (...) {
    if (overwritten) txn.discard(*overwritten);
    throw;
  }
  if (overwritten) txn.done(*overwritten, overwritten_oif);
  if (err == EEXIST) txn.discard(i);
  else txn.done(i, r.oif);
}

bool present(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  int oif = spec.route.oif;
  if (!oif && !spec.dev.empty()) {
    auto l = link::find(s.rtnl, spec.dev);
    if (!l) return false;
    oif = l->index;
  }
  for (auto& x : addr::list_routes(s.rtnl, spec.route.family(), spec.route.table))
    if (x.dst.network() == spec.route.dst.network() && x.gateway == spec.route.gateway && (!oif || x.oif == oif)) return true;
  return false;
}

Made record(Txn& txn, NsSocket& s, const addr::Route& r, const std::string& dev) {
  return {.kind = "route", .ns = txn.ref(s), .name = dev, .ifindex = r.oif, .saved = to_json(r)};
}

Removal remove(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  if (m.ifindex) {
    auto l = link::find(s->rtnl, m.ifindex);
    if (!l || (!m.name.empty() && l->name != m.name)) return Removal::absent;  // went with its link
  }
  return addr::remove(s->rtnl, route_from_json(m.saved)) ? Removal::removed : Removal::absent;
}

void remove_existing(Txn& txn, const Spec& spec) {
  NsSocket& s = txn.open(spec.ns);
  addr::Route r = spec.route;
  if (!r.oif && !spec.dev.empty()) r.oif = index_of(s, spec.dev);
  bool removed = false;
  size_t i = txn.make({.kind = "route-removed", .ns = txn.ref(s), .name = spec.dev, .ifindex = r.oif, .saved = to_json(r)},
                      [&] { removed = addr::remove(s.rtnl, r); });
  if (!removed) txn.discard(i);  // it was gone already: nothing to put back
  else txn.done(i, r.oif);
}

Removal restore(Txn& txn, const Made& m) {
  bool replaced = false;
  NsSocket* s = txn.reopen(m.ns, &replaced);
  if (!s) return replaced ? Removal::replaced : Removal::absent;
  if (m.ifindex) {
    auto l = link::find(s->rtnl, m.ifindex);
    if (!l || (!m.name.empty() && l->name != m.name)) return Removal::absent;  // its link went: nothing to put back on
  }
  const addr::Route r = route_from_json(m.saved);
  nl::Message req = addr::append_request(r);
  std::string text;
  int err = s->rtnl.try_ack(req, &text);
  if (err == EEXIST) return Removal::absent;  // back already
  if (err) throw Error(fmt::format("cannot put back route {} in '{}'", r.str(), s->ns.label()), err, text);
  return Removal::removed;
}

}  // namespace ctnet::kinds::route
