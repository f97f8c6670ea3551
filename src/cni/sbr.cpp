// `sbr` (source-based routing), a chained plugin, with the reference's keys and behaviour
// (plugins/meta/sbr): for each address of the container interface in prevResult, a policy rule
// "from ADDRESS lookup TABLE" (kind "rule") and the interface's routes moved from the main table into TABLE (the
// first table from 100 no rule or route uses, one per address): copied there (kind "route"), then deleted from
// the main table (kind "route-removed", which a rollback puts back). `table` given: only the rules, to that
// table (its routes are someone else's). `gateways` (one IPv4, one IPv6) replace prevResult's gateways for the
// tables' default routes; `addSourceHints` keeps the subnet routes in the main table, with the address as their
// source. DEL finds what ADD made in the kernel, as the reference does: the rules from an address of the
// interface (to `table` when given), and the routes on the interface in those rules' tables.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <linux/rtnetlink.h>

#include "addr/address.h"
#include "addr/route.h"
#include "addr/rule.h"
#include "cni/plugins.h"
#include "kinds/address.h"
#include "kinds/rule.h"
#include "link/link.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

constexpr uint32_t kFirstTable = 100;  // the reference's firstTableID

Prefix host_of(const IpAddress& a) { return Prefix(a, a.is_v4() ? 32 : 128); }

class Sbr : public Plugin {
 public:
  explicit Sbr(Invocation& inv) : inv_(inv) {
    check_args(inv, {});
    // Go's encoding/json matches keys without regard to case, as the reference reads them.
    const auto c = go_keys(inv.conf, {"table", "gateways", "addSourceHints"});
    if (const auto t = get_int(c, "table")) {
      if (*t < 1 || *t > UINT32_MAX) bad_config("table", fmt::format("{} is not a routing table (1..4294967295)", *t));
      table_ = static_cast<uint32_t>(*t);
    }
    if (const auto* g = get_array(c, "gateways")) {
      if (g->size() > 2) bad_config("gateways", "holds at most 2 addresses (one IPv4, one IPv6)");
      for (size_t i = 0; i < g->size(); ++i) {
        const std::string field = fmt::format("gateways[{}]", i);
        if (!(*g)[i].is_string()) wrong_type(field, "a string");
        const auto ip = IpAddress::try_parse((*g)[i].get<std::string>());
        if (!ip) bad_config(field, fmt::format("'{}' is not an IP address", (*g)[i].get<std::string>()));
        auto& slot = ip->is_v4() ? gateway4_ : gateway6_;
        if (slot) bad_config(field, fmt::format("a second {} gateway ({} and {}): one per family", ip->is_v4() ? "IPv4" : "IPv6", slot->str(), ip->str()));
        slot = ip;
      }
    }
    hints_ = get_bool(c, "addSourceHints", false);
  }

  Result add(kinds::Txn& txn) override {
    auto prev = prev_result(inv_);
    if (!prev) bad_config("prevResult", "missing: sbr runs chained after the plugin that made the interface");
    const auto ips = ips_of(*prev);
    NsSocket& cs = open_container_netns(txn, inv_);
    NsLock lock = kinds::rule::lock_tables(cs);  // the tables picked stay free until our rules hold them
    const link::Link l = link::get(cs.rtnl, inv_.ifname, inv_.netns);
    if (table_) {
      for (const auto& ip : ips) rule(txn, ip, *table_);
      return *prev;
    }
    std::vector<addr::Route> routes;  // the interface's routes in the main table, before anything moved
    for (const auto& r : addr::list_routes(cs.rtnl, AF_UNSPEC, RT_TABLE_MAIN))
      if (r.oif == l.index) routes.push_back(r);
    uint32_t table = addr::first_free_table(cs.rtnl, kFirstTable);
    for (const auto& ip : ips) {
      rule(txn, ip, table);
      const IpAddress& a = ip.address.address();
      const auto& given = a.is_v4() ? gateway4_ : gateway6_;
      if (auto gw = given ? given : ip.gateway)  // a default route, since the plugin before may have put none
        route(txn, {.dst = addr::default_route(a.family()), .gateway = *gw, .oif = l.index, .table = table});
      // The interface's routes that belong to this address (its source, a gateway in its subnet, or neither
      // given), copied; each table is new, so a copy only replaces this run's own default route.
      for (addr::Route r : routes)
        if ((r.src && ip.address.contains(*r.src)) || (r.gateway && ip.address.contains(*r.gateway)) || (!r.src && !r.gateway)) {
          r.table = table;
          route(txn, r, true);
        }
      table = addr::first_free_table(cs.rtnl, table + 1);
    }
    // Out of the main table only now: a second address of the same subnet still needed them for its gateway.
    if (hints_)
      for (const auto& ip : ips) {
        // The subnet's route in the main table with the address as its source, so that traffic without a
        // chosen source still finds the subnet; the reference carries on when the kernel refuses it.
        addr::Route hint{.dst = ip.address.network(), .oif = l.index, .src = ip.address.address(), .scope = RT_SCOPE_LINK};
        try {
          route(txn, hint, true);
        } catch (const Error&) {
        }
      }
    for (const auto& r : routes)
      if (!hints_ || r.scope.value_or(RT_SCOPE_UNIVERSE) != RT_SCOPE_LINK)
        kinds::route::remove_existing(txn, {.ns = inv_.netns, .route = r, .dev = inv_.ifname});
    return *prev;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    if (inv_.netns.empty()) return {};  // the namespace is gone, and its rules and routes with it
    NsSocket* cs = nullptr;
    try {
      cs = &open_container_netns(txn, inv_);
    } catch (const CniError&) {
      return {};
    }
    const auto l = link::find(cs->rtnl, inv_.ifname);
    if (!l) return {};
    const auto addresses = addr::list(cs->rtnl, l->index);
    std::vector<kinds::Made> out;
    std::set<uint32_t> tables;
    for (const auto& r : addr::list_rules(cs->rtnl)) {
      if (!r.src || r.l3mdev || (table_ && r.table != *table_)) continue;
      bool ours = false;
      for (const auto& a : addresses) ours = ours || a.prefix.address() == r.src->address();
      if (!ours) continue;
      out.push_back(kinds::rule::record(txn, *cs, r));
      tables.insert(r.table);
    }
    // The routes ADD moved into its tables; with `table` given the table's routes were never ours.
    if (!table_)
      for (uint32_t t : tables) {
        if (t >= RT_TABLE_COMPAT && t <= RT_TABLE_LOCAL) continue;
        for (const auto& r : addr::list_routes(cs->rtnl, AF_UNSPEC, t))
          if (r.oif == l->index) out.push_back(kinds::route::record(txn, *cs, r, inv_.ifname));
      }
    return out;
  }

  void check(const Result& prev) override {
    const auto ips = ips_of(prev);
    nl::Socket cs = nl::Socket::in(open_container_netns(inv_));
    const auto rules = addr::list_rules(cs);
    std::vector<std::string> missing;
    for (const auto& ip : ips) {
      bool found = false;
      for (const auto& r : rules)
        found = found || (r.src && *r.src == host_of(ip.address.address()) && (!table_ || r.table == *table_));
      if (!found) missing.push_back(fmt::format("no rule from {}{}", ip.address.address().str(), table_ ? fmt::format(" to table {}", *table_) : ""));
    }
    if (!missing.empty()) throw CniError(kPluginFailure, fmt::format("CHECK: {}", fmt::join(missing, "; ")));
  }

  void gc(const std::set<ipam::Attachment>&) override {}
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  // prevResult's addresses of CNI_IFNAME (an address naming no interface counts, as in the reference).
  std::vector<IpConfig> ips_of(const Result& prev) const {
    std::vector<IpConfig> out;
    for (const auto& ip : prev.ips) {
      if (ip.interface && *ip.interface >= 0 && static_cast<size_t>(*ip.interface) < prev.interfaces.size() &&
          prev.interfaces[static_cast<size_t>(*ip.interface)].name != inv_.ifname)
        continue;
      out.push_back(ip);
    }
    if (out.empty()) bad_config("prevResult.ips", fmt::format("no IP address of interface {}: nothing to route by source", inv_.ifname));
    return out;
  }

  void rule(kinds::Txn& txn, const IpConfig& ip, uint32_t table) {
    const IpAddress& a = ip.address.address();
    kinds::rule::apply(txn, {.ns = inv_.netns, .rule = {.family = a.family(), .src = host_of(a), .table = table}});
  }
  void route(kinds::Txn& txn, const addr::Route& r, bool replace = false) {
    kinds::route::apply(txn, {.ns = inv_.netns, .route = r, .dev = inv_.ifname, .replace = replace});
  }

  Invocation& inv_;
  std::optional<uint32_t> table_;
  std::optional<IpAddress> gateway4_, gateway6_;
  bool hints_ = false;
};

}  // namespace

std::unique_ptr<Plugin> make_sbr(Invocation& inv) { return std::make_unique<Sbr>(inv); }

}  // namespace ctnet::cni
