#include "topology/check.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "ns/netns.h"
#include "ns/sysctl.h"
#include "util/error.h"

namespace ctnet::topo {

namespace {

// One interface of the lab that can hold addresses, and the L2 segment it is on.
struct Iface {
  std::string ns, name;
  std::vector<Prefix> addrs;
  std::string lower;       // macvlan/ipvlan: key of the parent
  bool isolated = false;   // macvlan private/vepa/passthru, ipvlan private/vepa: siblings cannot talk
  std::string key() const { return ns + "/" + name; }
};

class Reach {
 public:
  explicit Reach(const Topology& t) : t_(t) {
    for (auto& n : t.namespaces) ns_by_name_[n.name] = &n;
    // Segments are keys united below: an interface's untagged frames are on "ns/if", its frames tagged with VLAN v
    // on "ns/if#v". A VLAN-aware bridge has one segment per VLAN ("ns/br#v"); a plain one passes every tag along.
    std::set<uint16_t> vids;  // every VLAN ID the file names
    for (auto& l : t.links) {
      if (l.kind == Kind::vlan && l.vlan) vids.insert(*l.vlan);
      for (const Endpoint* e : {&l.a, &l.b}) {
        if (e->vlan) vids.insert(e->vlan);
        for (auto& r : e->trunk)
          for (unsigned v = r.min; v <= r.max; ++v) vids.insert(static_cast<uint16_t>(v));
      }
    }
    auto tagged = [](const std::string& key, uint16_t v) { return fmt::format("{}#{}", key, v); };
    auto both = [&](const std::string& a, const std::string& b) {
      unite(a, b);
      for (uint16_t v : vids) unite(tagged(a, v), tagged(b, v));
    };
    for (auto& b : t.bridges) {
      add({b.ns, b.name, b.addresses});
      if (b.vlan_filtering) unite(b.ns + "/" + b.name, tagged(b.ns + "/" + b.name, 1));  // the bridge's own PVID 1
    }
    auto port = [&](const Endpoint& e) {
      const Bridge* br = t.find_bridge(e.bridge);
      const std::string k = e.ns + "/" + e.name, bk = e.ns + "/" + e.bridge;
      if (!br || !br->vlan_filtering) return both(k, bk);
      if (e.vlan) unite(k, tagged(bk, e.vlan));
      else if (e.trunk.empty()) unite(k, tagged(bk, 1));  // the PVID a new port gets
      for (auto& r : e.trunk)
        for (unsigned v = r.min; v <= r.max; ++v) unite(tagged(k, static_cast<uint16_t>(v)), tagged(bk, static_cast<uint16_t>(v)));
    };
    for (auto& l : t.links) {
      Iface a{l.a.ns, l.a.name, l.a.addresses};
      if (l.kind == Kind::macvlan || l.kind == Kind::ipvlan) {
        a.lower = l.parent.ns + "/" + l.parent.name;
        a.isolated = l.kind == Kind::macvlan ? l.mode != "bridge" : l.flag != "bridge";
      }
      add(a);
      if (l.kind == Kind::veth) {
        add({l.b.ns, l.b.name, l.b.addresses});
        both(l.a.ns + "/" + l.a.name, l.b.ns + "/" + l.b.name);
        if (!l.a.bridge.empty()) port(l.a);
        if (!l.b.bridge.empty()) port(l.b);
      }
      if (l.kind == Kind::macvlan || l.kind == Kind::ipvlan) unite(a.key(), a.lower);
      if (l.kind == Kind::vlan && l.vlan) unite(a.key(), tagged(l.parent.ns + "/" + l.parent.name, *l.vlan));
      if (l.kind == Kind::vxlan && !l.a.bridge.empty()) both(a.key(), l.a.ns + "/" + l.a.bridge);
    }
    // Two VXLAN devices with one VNI and port, each pointing at the other's local address: one segment.
    for (auto& x : t.links)
      for (auto& y : t.links)
        if (&x < &y && x.kind == Kind::vxlan && y.kind == Kind::vxlan && x.vni == y.vni && x.port == y.port &&
            x.remote && y.local && *x.remote == *y.local)
          unite(x.a.ns + "/" + x.a.name, y.a.ns + "/" + y.a.name);
    for (auto& n : t.namespaces)
      for (auto& [k, v] : n.sysctls)
        if (v == "1" && (k == "net.ipv4.ip_forward" || k == "net.ipv4.conf.all.forwarding")) fwd4_.insert(n.name);
        else if (v == "1" && k == "net.ipv6.conf.all.forwarding") fwd6_.insert(n.name);
  }

  std::vector<Probe> probes() {
    std::vector<std::string> sources;
    for (auto& n : t_.namespaces) sources.push_back(n.name);
    bool host_has_addr = false;
    for (auto& i : ifaces_) host_has_addr |= i.ns == kHostNs && !i.addrs.empty();
    if (host_has_addr) sources.push_back(kHostNs);
    std::vector<Probe> out;
    for (auto& s : sources)
      for (auto& i : ifaces_)
        for (auto& p : i.addrs) {
          if (i.ns == s) continue;
          int hops = 0;
          const Iface* first = nullptr;
          if (!deliver(s, p.address(), 0, &hops, &first)) continue;
          // The reply must find its way back to the address the source sends from.
          const Prefix* src = nullptr;
          for (auto& a : first->addrs)
            if (a.family() == p.family()) src = &a;
          int back_hops = 0;
          const Iface* back_first = nullptr;
          if (!src || !deliver(i.ns, src->address(), 0, &back_hops, &back_first)) continue;
          out.push_back({s, i.ns, i.name, p.address(), hops > 0});
        }
    return out;
  }

 private:
  void add(Iface i) {
    parent_.emplace(i.key(), i.key());
    ifaces_.push_back(std::move(i));
  }
  std::string root(const std::string& k) {
    auto it = parent_.find(k);
    if (it == parent_.end()) return parent_[k] = k;
    if (it->second == k) return k;
    return it->second = root(it->second);
  }
  void unite(const std::string& a, const std::string& b) { parent_[root(a)] = root(b); }

  bool talk(const Iface& a, const Iface& b) {
    if (root(a.key()) != root(b.key())) return false;
    // A macvlan/ipvlan never reaches its own parent, and isolated modes keep siblings apart.
    if (a.lower == b.key() || b.lower == a.key()) return false;
    if (!a.lower.empty() && a.lower == b.lower && (a.isolated || b.isolated)) return false;
    return true;
  }

  // The interface holding `addr` that `from` reaches on its segment.
  const Iface* neighbour(const Iface& from, const IpAddress& addr) {
    index();
    auto it = owners_.find(addr);
    if (it == owners_.end()) return nullptr;
    for (size_t k : it->second)
      if (talk(from, ifaces_[k])) return &ifaces_[k];
    return nullptr;
  }

  // Address -> interfaces holding it, and namespace -> its interfaces: built once, so deciding each pair
  // does not scan the whole lab.
  void index() {
    if (indexed_) return;
    indexed_ = true;
    for (size_t k = 0; k < ifaces_.size(); ++k) {
      by_ns_[ifaces_[k].ns].push_back(k);
      for (auto& p : ifaces_[k].addrs) owners_[p.address()].push_back(k);
    }
  }

  bool forwards(const std::string& ns, int family) {
    if (ns == kHostNs) {
      auto v = read_sysctl(family == AF_INET ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding");
      return v == "1";
    }
    return family == AF_INET ? fwd4_.count(ns) > 0 : fwd6_.count(ns) > 0;
  }

  bool deliver(const std::string& ns, const IpAddress& dst, int depth, int* hops, const Iface** first) {
    if (depth > 8) return false;
    index();
    const std::vector<size_t>& mine = by_ns_[ns];
    // A router's own addresses are reached without forwarding further.
    if (depth > 0)
      for (size_t k : mine)
        for (auto& p : ifaces_[k].addrs)
          if (p.address() == dst) return true;
    // Connected subnets first (they are the most specific routes a namespace has).
    for (size_t k : mine) {
      const Iface& i = ifaces_[k];
      for (auto& p : i.addrs) {
        if (p.family() != dst.family() || !p.network().contains(dst)) continue;
        if (p.address() == dst) return false;  // own address: not a probe
        if (depth == 0) *first = &i;
        return neighbour(i, dst) != nullptr;
      }
    }
    auto nit = ns_by_name_.find(ns);
    if (nit == ns_by_name_.end()) return false;
    const Namespace* n = nit->second;
    const RouteSpec* best = nullptr;
    for (auto& r : n->routes)
      if (r.dst.family() == dst.family() && r.dst.network().contains(dst) && (!best || r.dst.length() > best->dst.length()))
        best = &r;
    if (!best) return false;
    for (size_t k : mine) {
      const Iface& i = ifaces_[k];
      if (!best->dev.empty() && i.name != best->dev) continue;
      if (!best->via) {
        if (depth == 0) *first = &i;
        return neighbour(i, dst) != nullptr;
      }
      for (auto& p : i.addrs) {
        if (p.family() != best->via->family() || !p.network().contains(*best->via)) continue;
        const Iface* gw = neighbour(i, *best->via);
        if (!gw) return false;
        bool router_owns = false;  // the router's own addresses answer without forwarding
        for (size_t j : by_ns_[gw->ns])
          for (auto& q : ifaces_[j].addrs) router_owns |= q.address() == dst;
        if (!router_owns && !forwards(gw->ns, dst.family())) return false;
        if (depth == 0) *first = &i;
        ++*hops;
        const Iface* ignored = nullptr;
        return deliver(gw->ns, dst, depth + 1, hops, &ignored);
      }
    }
    return false;
  }

  const Topology& t_;
  std::vector<Iface> ifaces_;
  std::map<std::string, std::string> parent_;
  std::set<std::string> fwd4_, fwd6_;
  bool indexed_ = false;
  std::map<std::string, const Namespace*> ns_by_name_;
  std::map<IpAddress, std::vector<size_t>> owners_;
  std::map<std::string, std::vector<size_t>> by_ns_;
};

}  // namespace

std::vector<Probe> expected_probes(const Topology& t) { return Reach(t).probes(); }

bool CheckReport::ok() const {
  return std::all_of(results.begin(), results.end(), [](auto& r) { return r.ok(); });
}

CheckReport run_check(const Topology& t, const CheckOptions& o) {
  CheckReport rep;
  auto probes = expected_probes(t);
  rep.expected = probes.size();
  // Every pair leaves an ARP/ND entry at both ends, and the neighbour table is one for all namespaces
  // (net/core/neighbour.c: gc_thresh3, default 1024, entries younger than 5 s cannot be collected): a full
  // matrix of 100 namespaces on one segment (9900 pairs) overflows it and the pings themselves fail. Beyond
  // a quarter of the limit an evenly spread sample is pinged instead (--all insists on every pair).
  size_t limit = 256;
  if (auto v = read_sysctl("net.ipv4.neigh.default.gc_thresh3"); v && std::atol(v->c_str()) >= 16)
    limit = static_cast<size_t>(std::atol(v->c_str())) / 4;
  if (!o.all && probes.size() > limit) {
    std::vector<Probe> sample;
    for (size_t k = 0; k < limit; ++k) sample.push_back(probes[k * probes.size() / limit]);
    rep.sample_reason = fmt::format(
        "pinged an evenly spread sample of {} of the {} expected paths: the kernel's neighbour table, shared by "
        "all namespaces, holds {} entries (net.ipv4.neigh.default.gc_thresh3); --all pings every pair",
        limit, probes.size(), limit * 4);
    probes = std::move(sample);
  }
  rep.results.resize(probes.size());
  std::map<std::string, std::shared_ptr<NetNs>> handles;
  std::map<std::string, std::string> open_errors;
  for (auto& p : probes) {
    if (handles.count(p.from) || open_errors.count(p.from)) continue;
    try {
      handles[p.from] = std::make_shared<NetNs>(p.from == kHostNs ? NetNs::current() : NetNs::open_named(p.from));
    } catch (const std::exception& e) {
      open_errors[p.from] = e.what();
    }
  }
  std::atomic<size_t> next{0};
  PingOptions po;
  // A big lab has N^2 pairs: one echo each (the first one also proves ARP/ND) and more threads.
  const bool big = probes.size() > 200;
  po.count = big ? std::min(o.count, 1) : o.count;
  po.interval = std::chrono::milliseconds(100);
  po.timeout = std::chrono::milliseconds(o.timeout_ms);
  auto work = [&] {
    for (size_t i; (i = next++) < probes.size();) {
      auto& r = rep.results[i];
      r.probe = probes[i];
      if (auto e = open_errors.find(r.probe.from); e != open_errors.end()) {
        r.error = e->second;
        continue;
      }
      try {
        r.ping = ping(*handles.at(r.probe.from), r.probe.target, po);
      } catch (const std::exception& e) {
        r.error = e.what();
      }
    }
  };
  std::vector<std::thread> pool;
  unsigned n = std::min<unsigned>(std::max(o.threads, 1u), static_cast<unsigned>(probes.size()));
  for (unsigned i = 0; i < n; ++i) pool.emplace_back(work);
  for (auto& th : pool) th.join();

  if (!rep.ok()) {
    // A bridged path that fails most often fails in br_netfilter: bridged frames then traverse iptables'
    // FORWARD chain, and a DROP policy there (Docker sets one) drops them.
    std::set<std::string> bridge_ns;
    for (auto& b : t.bridges) bridge_ns.insert(b.ns);
    for (auto& ns : bridge_ns) {
      std::unique_ptr<NetNs> h;
      try {
        h = std::make_unique<NetNs>(ns == kHostNs ? NetNs::current() : NetNs::open_named(ns));
      } catch (const std::exception&) {
        continue;
      }
      for (const char* key : {"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"})
        if (read_sysctl(key, h.get()) == "1")
          rep.hints.push_back(fmt::format(
              "{}=1 in namespace '{}': bridged traffic passes through the iptables FORWARD chain; a DROP policy "
              "there blocks the lab's bridge (see `ctnet doctor`; set {}=0 or allow the bridge in FORWARD)",
              key, ns, key));
    }
    rep.hints.push_back("`ctnet status " + t.name + "` shows which objects are missing or differ");
  }
  return rep;
}

std::string render_check(const CheckReport& r) {
  std::vector<std::string> rows, cols;
  std::map<std::pair<std::string, std::string>, const ProbeResult*> cell;
  for (auto& x : r.results) {
    std::string col = fmt::format("{}/{} {}", x.probe.to_ns, x.probe.to_if, x.probe.target.str());
    if (std::find(rows.begin(), rows.end(), x.probe.from) == rows.end()) rows.push_back(x.probe.from);
    if (std::find(cols.begin(), cols.end(), col) == cols.end()) cols.push_back(col);
    cell[{x.probe.from, col}] = &x;
  }
  std::sort(cols.begin(), cols.end());
  auto text = [](const ProbeResult* p) -> std::string {
    if (!p) return "-";
    if (!p->ok()) return "FAIL";
    return fmt::format("{:.3f}ms", p->ping.avg_ms());
  };
  std::string out;
  size_t failed = 0;
  for (auto& x : r.results) failed += !x.ok();
  if (r.results.empty()) return "no pairs of namespaces are expected to reach each other\n";
  if (cols.size() <= 12 && rows.size() <= 40) {
    // Transposed when there are many targets would be unreadable; columns are targets, one line per column key.
    size_t w = 9;  // "from \\ to"
    for (auto& row : rows) w = std::max(w, row.size());
    out += fmt::format("{:<{}}", "from \\ to", w + 2);
    for (size_t c = 0; c < cols.size(); ++c) out += fmt::format("  [{}]{:<9}", c + 1, "");
    out += "\n";
    for (auto& row : rows) {
      out += fmt::format("{:<{}}", row, w + 2);
      for (auto& col : cols) out += fmt::format("  {:<12}", text(cell[{row, col}]));
      out += "\n";
    }
    for (size_t c = 0; c < cols.size(); ++c) out += fmt::format("[{}] {}\n", c + 1, cols[c]);
  } else {
    for (auto& x : r.results)
      if (!x.ok())
        out += fmt::format("FAIL {} -> {} ({}/{}){}\n", x.probe.from, x.probe.target.str(), x.probe.to_ns, x.probe.to_if,
                           x.error.empty() ? "" : ": " + x.error);
  }
  for (auto& x : r.results)
    if (!x.error.empty() && cols.size() <= 12) out += fmt::format("{} -> {}: {}\n", x.probe.from, x.probe.target.str(), x.error);
  out += fmt::format("{} of {} {}paths answered{}\n", r.results.size() - failed, r.results.size(),
                     r.sample_reason.empty() ? "expected " : "sampled ", failed ? fmt::format(", {} failed", failed) : "");
  if (!r.sample_reason.empty()) out += "note: " + r.sample_reason + "\n";
  for (auto& h : r.hints) out += "hint: " + h + "\n";
  return out;
}

nlohmann::json to_json(const CheckReport& r) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& x : r.results) {
    nlohmann::json o = {{"from", x.probe.from}, {"to", x.probe.target.str()}, {"to_namespace", x.probe.to_ns},
                        {"to_interface", x.probe.to_if}, {"routed", x.probe.routed}, {"ok", x.ok()},
                        {"sent", x.ping.sent}, {"received", x.ping.received}};
    if (x.ping.received) o["rtt_ms"] = x.ping.avg_ms();
    if (!x.error.empty()) o["error"] = x.error;
    a.push_back(o);
  }
  nlohmann::json j = {{"ok", r.ok()}, {"expected", r.expected}, {"results", a}, {"hints", r.hints}};
  if (!r.sample_reason.empty()) j["sampled"] = r.sample_reason;
  return j;
}

}  // namespace ctnet::topo
