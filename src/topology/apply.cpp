#include "topology/apply.h"

#include <fmt/format.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <linux/if_link.h>
#include <unistd.h>

#include <thread>

#include "addr/address.h"
#include "addr/route.h"
#include "kinds/vf.h"
#include "link/bridge.h"
#include "link/link.h"
#include "link/macvlan.h"
#include "link/veth.h"
#include "link/vxlan.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "ns/sysctl.h"
#include "ops/undo.h"
#include "topology/state.h"
#include "util/error.h"

namespace ctnet::topo {

using nlohmann::json;

json to_json(const std::vector<Finding>& fs) {
  json a = json::array();
  for (auto& f : fs) {
    json o = {{"object", f.object}, {"state", f.state}};
    if (!f.detail.empty()) o["detail"] = f.detail;
    a.push_back(o);
  }
  return a;
}

namespace {

enum class Mode { plan, fresh, converge, inspect };

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : std::string(sep)) + x;
  return s;
}

// The name a macvlan/ipvlan is born under before its rename in the target namespace: derived from the lab and
// the final name so a converging run and `down` after a kill find it again.
std::string temp_name(const std::string& lab, const Endpoint& e) {
  uint32_t h = 2166136261u;
  for (char c : lab + "/" + e.ns + "/" + e.name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return fmt::format("ctt{:08x}", h);
}

constexpr size_t kFreshFindings = 64;

class Engine {
 public:
  Engine(const Topology& t, Mode mode, Record* rec, UndoLog* undo, const UpOptions* opts)
      : t_(t), mode_(mode), rec_(rec), undo_(undo), opts_(opts) {
    for (auto& n : t.namespaces) ns_by_name_[n.name] = &n;
  }

  void run() {
    total_ = t_.namespaces.size() + t_.bridges.size() + t_.links.size();
    for (auto& ns : t_.namespaces) do_namespace(ns);
    for (auto& b : t_.bridges) do_bridge(b);
    for (auto& l : t_.links) do_link(l);
    for (auto& ns : t_.namespaces) do_routes(ns);
  }

  std::vector<Finding> findings;
  size_t created = 0, present = 0, differs = 0;
  std::vector<int> new_records;  // record entries this run added (forgotten again on rollback)

 private:
  bool checking() const { return mode_ == Mode::converge || mode_ == Mode::inspect; }

  NsSocket& sock(const std::string& ns) {
    auto it = socks_.find(ns);
    if (it != socks_.end()) return *it->second;
    auto s = std::make_unique<NsSocket>(ns == kHostNs ? NsSocket::current() : NsSocket::of(NetNs::open_named(ns)));
    return *socks_.emplace(ns, std::move(s)).first->second;
  }

  // Inspect mode never opens a namespace that is not there (status must not fail on a half-removed lab).
  bool ns_missing(const std::string& ns) {
    if (ns == kHostNs) return false;
    if (mode_ == Mode::plan) return true;
    if (socks_.count(ns)) return false;
    return !NetNs::exists(ns);
  }

  int ifindex(const std::string& ns, const std::string& name) {
    auto key = std::make_pair(ns, name);
    if (auto it = index_.find(key); it != index_.end()) return it->second;
    int i = link::get(sock(ns).rtnl, name, ns).index;
    index_[key] = i;
    return i;
  }

  std::optional<link::Link> find(const std::string& ns, const std::string& name) {
    if (ns_missing(ns)) return std::nullopt;
    auto l = link::find(sock(ns).rtnl, name);
    if (l) index_[{ns, name}] = l->index;
    return l;
  }

  void note(std::string object, std::string state, std::string detail = {}) {
    if (state == "present") ++present;
    if (state == "differs") ++differs;
    if (state == "created") ++created;
    // A fresh `up` lists what it made only for small labs: no need to hold a line per object of a big one.
    if (mode_ == Mode::fresh && findings.size() >= kFreshFindings) return;
    findings.push_back({std::move(object), std::move(state), std::move(detail)});
  }

  void event(Event::Phase p, const std::string& what) {
    if (opts_ && opts_->on_event) opts_->on_event({p, done_, total_, what});
  }

  // Records the intent, makes the object, registers how to remove it, records completion.
  template <class Make>
  void create(const Object& o, const std::string& what, Make&& make, std::function<void()> remove) {
    if (mode_ == Mode::plan) {
      note(what, "planned");
      return;
    }
    int idx = -1;
    if (rec_) {
      size_t before = rec_->objects().size();
      idx = rec_->intent(o);
      if (rec_->objects().size() > before) new_records.push_back(idx);
    }
    event(Event::Phase::intent, what);
    make();
    undo_->add(what, std::move(remove));
    if (rec_) rec_->done(idx);
    ++done_;
    event(Event::Phase::done, what);
    note(what, "created");
  }

  // The checks shared by every link kind; returns what differs.
  std::vector<std::string> compare(const link::Link& l, std::string_view kind, uint32_t mtu, int master) {
    std::vector<std::string> d;
    if (!kind.empty() && l.kind != kind) d.push_back(fmt::format("is a {} link, not {}", l.kind.empty() ? "device" : l.kind, kind));
    if (!l.is_up()) d.push_back("is down");
    if (mtu && l.mtu != mtu) d.push_back(fmt::format("mtu {} (want {})", l.mtu, mtu));
    if (master >= 0 && l.master != master) d.push_back(master ? "is not a port of its bridge" : "is enslaved to a bridge");
    return d;
  }

  void verdict(const std::string& what, const std::vector<std::string>& diffs) {
    if (diffs.empty()) note(what, "present");
    else note(what, "differs", join(diffs, "; "));
  }

  const std::vector<addr::Address>& addresses_in(const std::string& ns) {
    auto it = addr_cache_.find(ns);
    if (it != addr_cache_.end()) return it->second;
    return addr_cache_[ns] = addr::list(sock(ns).rtnl);
  }

  // Addresses of one interface. `fresh`: the interface was just made, so none can be there yet.
  // Converging or inspecting a lab that is up: an existing link is compared with its spec (its addresses too)
  // and left alone; a missing one is only reported when inspecting. True when there is nothing more to do.
  bool settled(const std::string& what, const Endpoint& e, std::string_view kind, uint32_t mtu) {
    if (!checking()) return false;
    if (auto x = find(e.ns, e.name)) {
      verdict(what, compare(*x, kind, mtu, -1));
      addresses(e, e.name, false);
      return true;
    }
    if (mode_ == Mode::inspect) {
      note(what, "missing");
      return true;
    }
    return false;
  }

  void addresses(const Endpoint& e, const std::string& ifname, bool fresh) {
    for (auto& p : e.addresses) {
      std::string what = fmt::format("address {} on {}/{}", p.str(), e.ns, ifname);
      if (mode_ == Mode::plan) {
        note(what, "planned");
        continue;
      }
      if (!fresh) {
        if (ns_missing(e.ns)) {
          note(what, "missing");
          continue;
        }
        int idx = index_.count({e.ns, ifname}) ? index_[{e.ns, ifname}] : 0;
        bool have = false;
        for (auto& a : addresses_in(e.ns)) have |= a.index == idx && a.prefix == p;
        if (have) continue;  // counted with its interface
        if (mode_ == Mode::inspect || !idx) {
          note(what, "missing");
          continue;
        }
      }
      int idx = ifindex(e.ns, ifname);
      addr::add(sock(e.ns).rtnl, idx, p, ifname);
      if (!fresh) {
        std::string ns = e.ns;
        undo_->add(what, [this, ns, idx, p] { addr::remove(sock(ns).rtnl, idx, p); });
        note(what, "created");
      }
    }
  }

  void do_namespace(const Namespace& n) {
    const std::string what = "namespace " + n.name;
    if (checking() && NetNs::exists(n.name)) {
      std::vector<std::string> d;
      if (n.loopback) {
        auto lo = link::find(sock(n.name).rtnl, "lo");
        if (lo && !lo->is_up()) d.push_back("lo is down");
      }
      for (auto& [k, v] : n.sysctls) {
        auto have = read_sysctl(k, &sock(n.name).ns);
        if (have != v) d.push_back(fmt::format("sysctl {}={} (want {})", k, have.value_or("<absent>"), v));
      }
      verdict(what, d);
      return;
    }
    if (mode_ == Mode::inspect) return note(what, "missing");
    Object o{"netns", kHostNs, n.name};
    std::string name = n.name;
    create(o, what, [&] { socks_[name] = std::make_unique<NsSocket>(NsSocket::of(NetNs::create_named(name))); },
           [name] { NetNs::remove_named(name); });
    if (mode_ == Mode::plan) return;
    auto& s = sock(n.name);
    // lo is ifindex 1 in every namespace (LOOPBACK_IFINDEX, include/net/loopback.h).
    if (n.loopback) link::change(s.rtnl, 1, {.up = true}, fmt::format("cannot bring up lo in namespace '{}'", n.name));
    for (auto& [k, v] : n.sysctls) write_sysctl(k, v, &s.ns);
  }

  void do_bridge(const Bridge& b) {
    const std::string what = fmt::format("bridge {}/{}", b.ns, b.name);
    Endpoint self{b.ns, b.name, {}, b.addresses};
    if (settled(what, self, "bridge", b.mtu)) return;
    Object o{"bridge", b.ns, b.name};
    create(o, what, [&] {
      link::BridgeSpec spec{.name = b.name, .mtu = b.mtu, .mac = std::nullopt, .vlan_filtering = b.vlan_filtering, .up = true};
      link::create_bridge(sock(b.ns).rtnl, spec);
    }, [this, ns = b.ns, name = b.name] { link::remove(sock(ns).rtnl, name); });
    addresses(self, b.name, true);
  }

  void do_link(const Link& l) {
    switch (l.kind) {
      case Kind::veth: return do_veth(l);
      case Kind::macvlan:
      case Kind::ipvlan: return do_sub_interface(l);
      case Kind::host_device: return do_host_device(l);
      case Kind::vxlan: return do_vxlan(l);
      case Kind::vf: return do_vf(l);
    }
  }

  // Whether an interface should come up without an IPv6 link-local address: bridge ports (they carry no
  // addresses at all) and interfaces of namespaces the file gives no IPv6 (Namespace::ipv6_link_local).
  bool quiet(const Endpoint& e) {
    if (!ipv6_present_) return false;
    if (!e.bridge.empty()) return true;
    auto it = ns_by_name_.find(e.ns);
    return it != ns_by_name_.end() && !it->second->ipv6_link_local.value_or(true);
  }

  // Brings a link up, first telling IPv6 to generate no address on it when `no_link_local`. Two requests: the
  // kernel handles IFLA_AF_SPEC after the flags in one RTM_NEWLINK (net/core/rtnetlink.c: do_setlink), so
  // combined the link-local address would already exist; and it refuses AF_INET6 settings at creation
  // (EAFNOSUPPORT) because the device has no inet6 state yet. By name (index 0) when the index is not known.
  void bring_up(const std::string& ns, int index, const std::string& name, bool no_link_local,
                std::optional<int> master = std::nullopt) {
    auto& s = sock(ns).rtnl;
    if (no_link_local) {
      nl::Message m = link::change_request(index, index ? link::Change{} : link::Change{.name = name});
      nlattr* af = m.begin_nest(IFLA_AF_SPEC);
      nlattr* in6 = m.begin_nest(AF_INET6);
      m.put_u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
      m.end_nest(in6);
      m.end_nest(af);
      s.ack(m, fmt::format("cannot turn off IPv6 link-local addresses on {}/{}", ns, name));
    }
    link::Change c{.up = true};
    if (!index) c.name = name;
    if (master) c.master = *master;
    link::change(s, index, c, fmt::format("cannot bring up {}/{}", ns, name));
  }

  int master_of(const Endpoint& e) { return e.bridge.empty() ? 0 : ifindex(e.ns, e.bridge); }

  void do_veth(const Link& l) {
    // Created from the bridge's side when one end is a port: the port joins its bridge in the same request.
    const Endpoint* p = &l.a;
    const Endpoint* q = &l.b;
    if (p->bridge.empty() && !q->bridge.empty()) std::swap(p, q);
    const std::string what = fmt::format("veth {}/{} <-> {}/{}", p->ns, p->name, q->ns, q->name);
    if (checking()) {
      auto lp = find(p->ns, p->name);
      auto lq = find(q->ns, q->name);
      if (lp || lq) {
        std::vector<std::string> d;
        if (!lp) d.push_back(fmt::format("{}/{} is missing", p->ns, p->name));
        if (!lq) d.push_back(fmt::format("{}/{} is missing", q->ns, q->name));
        auto side = [&](const std::optional<link::Link>& x, const Endpoint& e) {
          if (!x) return;
          int master = 0;
          if (!e.bridge.empty()) master = find(e.ns, e.bridge) ? master_of(e) : -1;
          for (auto& s : compare(*x, "veth", l.mtu, master))
            d.push_back(fmt::format("{}/{} {}", e.ns, e.name, s));
        };
        side(lp, *p);
        side(lq, *q);
        verdict(what, d);
        if (lp) addresses(*p, p->name, false);
        if (lq) addresses(*q, q->name, false);
        return;
      }
      if (mode_ == Mode::inspect) return note(what, "missing");
    }
    Object o{"veth", p->ns, p->name, q->ns, q->name};
    create(o, what, [&] {
      link::VethSpec s;
      s.name = p->name;
      s.peer_name = q->name;
      if (q->ns != p->ns) s.peer_netns_fd = sock(q->ns).ns.fd();
      s.mtu = l.mtu;
      s.master = master_of(*p);
      // Created down when IPv6 must first be told to give it no link-local address (see quiet()): else
      // its DAD, MLD and router solicitations flood every port of a bridge, N^2 packets for N namespaces.
      s.up = !quiet(*p);
      link::create_veth(sock(p->ns).rtnl, s);
    }, [this, ns = p->ns, name = p->name] {
      if (!ns_missing(ns)) link::remove(sock(ns).rtnl, name);
    });
    if (mode_ == Mode::plan) {
      addresses(*p, p->name, true);
      addresses(*q, q->name, true);
      return;
    }
    if (quiet(*p)) bring_up(p->ns, p->addresses.empty() ? 0 : ifindex(p->ns, p->name), p->name, true);
    // The peer cannot be created up (the kernel answers ENOTCONN): bring it up, and into its bridge, now.
    std::optional<int> master;
    if (!q->bridge.empty()) master = master_of(*q);
    bring_up(q->ns, q->addresses.empty() ? 0 : ifindex(q->ns, q->name), q->name, quiet(*q), master);
    addresses(*p, p->name, true);
    addresses(*q, q->name, true);
  }

  void do_sub_interface(const Link& l) {
    const std::string type(to_string(l.kind));
    const std::string what = fmt::format("{} {}/{} on {}/{}", type, l.a.ns, l.a.name, l.parent.ns, l.parent.name);
    if (settled(what, l.a, type, l.mtu)) return;
    Object o{type, l.a.ns, l.a.name};
    o.tmp = temp_name(t_.name, l.a);
    create(o, what, [&] {
      link::SubInterfaceSpec s;
      s.name = o.tmp;
      s.parent = ifindex(l.parent.ns, l.parent.name);
      if (l.a.ns != l.parent.ns) s.netns_fd = sock(l.a.ns).ns.fd();
      s.mtu = l.mtu;
      auto& ps = sock(l.parent.ns).rtnl;
      if (l.kind == Kind::macvlan) link::create_macvlan(ps, s, *link::parse_macvlan_mode(l.mode));
      else link::create_ipvlan(ps, s, *link::parse_ipvlan_mode(l.mode), *link::parse_ipvlan_flag(l.flag));
    }, [this, ns = l.a.ns, tmp = o.tmp, name = l.a.name] {
      if (ns_missing(ns)) return;
      link::remove(sock(ns).rtnl, tmp);
      link::remove(sock(ns).rtnl, name);
    });
    if (mode_ == Mode::plan) return addresses(l.a, l.a.name, true);
    // Renamed only inside the target namespace, so a clash with a name in the parent's namespace cannot occur.
    auto& s = sock(l.a.ns);
    int idx = link::get(s.rtnl, o.tmp, l.a.ns).index;
    link::change(s.rtnl, idx, {.name = l.a.name}, fmt::format("cannot rename {} to {} in namespace '{}'", o.tmp, l.a.name, l.a.ns));
    index_[{l.a.ns, l.a.name}] = idx;
    bring_up(l.a.ns, idx, l.a.name, quiet(l.a));
    addresses(l.a, l.a.name, true);
  }

  void do_host_device(const Link& l) {
    const std::string what = fmt::format("host-device {} -> {}/{}", l.device, l.a.ns, l.a.name);
    if (settled(what, l.a, "", l.mtu)) return;
    Object o{"host-device", l.a.ns, l.a.name};
    o.device = l.device;
    create(o, what, [&] {
      link::Change c;
      c.netns_fd = sock(l.a.ns).ns.fd();
      if (l.a.name != l.device) c.name = l.a.name;
      link::change(sock(kHostNs).rtnl, ifindex(kHostNs, l.device), c,
                   fmt::format("cannot move {} into namespace '{}'", l.device, l.a.ns));
    }, [this, ns = l.a.ns, name = l.a.name, device = l.device] {
      if (ns_missing(ns)) return;
      if (auto x = link::find(sock(ns).rtnl, name))
        link::change(sock(ns).rtnl, x->index, {.name = device, .netns_fd = sock(kHostNs).ns.fd()},
                     fmt::format("cannot move {} back to the host", name));
    });
    if (mode_ == Mode::plan) return addresses(l.a, l.a.name, true);
    index_.erase({kHostNs, l.device});
    link::Change c{.up = true};
    if (l.mtu) c.mtu = l.mtu;
    link::change(sock(l.a.ns).rtnl, ifindex(l.a.ns, l.a.name), c, fmt::format("cannot bring up {}/{}", l.a.ns, l.a.name));
    addresses(l.a, l.a.name, true);
  }

  void do_vf(const Link& l) {
    const std::string what = fmt::format("vf of {} -> {}/{}", l.pf, l.a.ns, l.a.name);
    if (settled(what, l.a, "", l.mtu)) return;
    Object o{"vf", l.a.ns, l.a.name};
    o.device = l.pf;
    create(o, what, [&] {
      // The vf kind allocates the VF (its own record, under a lock), configures it through the PF, moves,
      // renames and addresses it, and undoes all of that itself when a step fails.
      sriov::AttachSpec spec;
      spec.netns = l.a.ns;
      spec.pf = l.pf;
      spec.vf = l.vf;
      if (!l.pci.empty()) spec.pci = l.pci;
      spec.settings.vlan = l.vlan;
      spec.settings.mac = l.mac;
      spec.name = l.a.name;
      spec.mtu = l.mtu;
      spec.addresses = l.a.addresses;
      kinds::Txn txn;
      kinds::vf::apply(txn, spec);
      txn.commit();
    }, [ns = l.a.ns, name = l.a.name] {
      kinds::Txn txn;
      kinds::vf::release(txn, ns, name);
    });
    if (mode_ == Mode::plan) return addresses(l.a, l.a.name, true);
  }

  void do_vxlan(const Link& l) {
    const std::string what = fmt::format("vxlan {}/{} (VNI {})", l.a.ns, l.a.name, l.vni);
    if (checking()) {
      if (auto x = find(l.a.ns, l.a.name)) {
        verdict(what, compare(*x, "vxlan", l.mtu, l.a.bridge.empty() ? 0 : master_of(l.a)));
        addresses(l.a, l.a.name, false);
        return;
      }
      if (mode_ == Mode::inspect) return note(what, "missing");
    }
    Object o{"vxlan", l.a.ns, l.a.name};
    create(o, what, [&] {
      link::VxlanSpec s;
      s.name = l.a.name;
      s.vni = l.vni;
      s.local = l.local;
      s.remote = l.remote;
      if (!l.underlay.empty()) s.underlay = ifindex(l.a.ns, l.underlay);
      s.port = l.port;
      s.mtu = l.mtu;
      s.master = master_of(l.a);
      s.up = true;
      link::create_vxlan(sock(l.a.ns).rtnl, s);
    }, [this, ns = l.a.ns, name = l.a.name] {
      if (!ns_missing(ns)) link::remove(sock(ns).rtnl, name);
    });
    addresses(l.a, l.a.name, true);
  }

  void do_routes(const Namespace& n) {
    for (auto& r : n.routes) {
      const std::string what = fmt::format("route {} in {}", r.str(), n.name);
      if (mode_ == Mode::plan) {
        note(what, "planned");
        continue;
      }
      if (checking()) {
        if (ns_missing(n.name)) {
          note(what, "missing");
          continue;
        }
        auto it = route_cache_.find(n.name);
        if (it == route_cache_.end()) it = route_cache_.emplace(n.name, addr::list_routes(sock(n.name).rtnl)).first;
        int oif = r.dev.empty() ? 0 : (find(n.name, r.dev) ? ifindex(n.name, r.dev) : -1);
        bool have = false;
        for (auto& x : it->second)
          have |= x.dst.network() == r.dst.network() && x.gateway == r.via && (r.dev.empty() || x.oif == oif);
        if (have) {
          note(what, "present");
          continue;
        }
        if (mode_ == Mode::inspect) {
          note(what, "missing");
          continue;
        }
      }
      addr::Route rt;
      rt.dst = r.dst;
      rt.gateway = r.via;
      if (!r.dev.empty()) rt.oif = ifindex(n.name, r.dev);
      addr::add(sock(n.name).rtnl, rt);
      if (mode_ == Mode::converge) {
        undo_->add(what, [this, ns = n.name, rt] {
          if (!ns_missing(ns)) addr::remove(sock(ns).rtnl, rt);
        });
        note(what, "created");
      }
    }
  }

  const Topology& t_;
  Mode mode_;
  Record* rec_;
  UndoLog* undo_;
  const UpOptions* opts_;
  std::map<std::string, std::unique_ptr<NsSocket>> socks_;
  std::map<std::string, const Namespace*> ns_by_name_;
  std::map<std::pair<std::string, std::string>, int> index_;
  std::map<std::string, std::vector<addr::Address>> addr_cache_;
  std::map<std::string, std::vector<addr::Route>> route_cache_;
  size_t done_ = 0, total_ = 0;
  const bool ipv6_present_ = ::access("/proc/sys/net/ipv6", F_OK) == 0;  // a kernel without IPv6 has no knobs
};

}  // namespace

std::vector<Finding> plan(const Topology& t) {
  Engine e(t, Mode::plan, nullptr, nullptr, nullptr);
  e.run();
  return e.findings;
}

std::vector<Finding> status(const Topology& t) {
  Engine e(t, Mode::inspect, nullptr, nullptr, nullptr);
  e.run();
  return e.findings;
}

UpResult up(const Topology& t, const UpOptions& opts) {
  LabLock lock(t.name);
  auto existing = Record::load(t.name);
  UpResult result;
  result.converged = existing.has_value();
  Record rec = existing ? std::move(*existing) : Record(t.name, nlohmann::json::object());
  rec.set_spec(to_json(t));
  rec.save(false);  // the spec is on record before the first kernel object exists
  UndoLog undo;     // declared before the engine: rolled back while the engine's sockets are still open
  Engine e(t, result.converged ? Mode::converge : Mode::fresh, &rec, &undo, &opts);
  try {
    e.run();
  } catch (const std::exception& ex) {
    const size_t made = undo.size();
    undo.rollback();
    std::string msg = ex.what();
    if (undo.rollback_errors().empty()) {
      msg += made ? fmt::format(" (rolled back: removed the {} object{} this run had made)", made, made == 1 ? "" : "s")
                  : " (nothing had been made)";
      if (!result.converged) rec.erase();
      else rec.forget(e.new_records);
    } else {
      msg += "; the rollback could not remove: " + join(undo.rollback_errors(), "; ") +
             fmt::format(" (the record keeps them: `ctnet down {}` retries)", t.name);
      rec.save(false);
    }
    throw Error(msg);
  }
  undo.commit();
  rec.save(true);
  result.findings = std::move(e.findings);
  result.created = e.created;
  result.present = e.present;
  result.differs = e.differs;
  return result;
}

DownResult down(const std::string& lab) {
  DownResult res;
  if (!Record::exists(lab)) return res;  // nothing to do, and no lock file left behind either
  LabLock lock(lab);
  auto rec = Record::load(lab);
  if (!rec) return res;
  res.had_record = true;
  const auto& objs = rec->objects();
  std::set<std::string> lab_ns;
  for (auto& o : objs)
    if (o.type == "netns") lab_ns.insert(o.name);

  std::map<std::string, std::unique_ptr<NsSocket>> socks;
  auto sock = [&](const std::string& ns) -> NsSocket* {
    if (auto it = socks.find(ns); it != socks.end()) return it->second.get();
    if (ns != kHostNs && !NetNs::exists(ns)) return nullptr;  // gone: so is everything that lived in it
    auto s = std::make_unique<NsSocket>(ns == kHostNs ? NsSocket::current() : NsSocket::of(NetNs::open_named(ns)));
    return socks.emplace(ns, std::move(s)).first->second.get();
  };
  // Host-side veth ends whose peer lives in a lab namespace: they go when that namespace is destroyed.
  // Deleting them one by one would wait for an RCU grace period each (~20 ms); the kernel tears the
  // namespaces down in one batch (net/core/net_namespace.c: cleanup_net), so we wait for that instead.
  std::vector<std::string> waiting;

  for (auto it = objs.rbegin(); it != objs.rend(); ++it) {
    const Object& o = *it;
    try {
      if (o.type == "netns") {
        if (NetNs::remove_named(o.name)) ++res.removed;
        continue;
      }
      if (o.type == "vf") {
        // Back to the host with its old name and settings, also when the namespace is already gone.
        kinds::Txn txn;
        if (kinds::vf::release(txn, o.ns, o.name)) ++res.removed;
        continue;
      }
      if (o.type == "host-device") {
        // Back to the host under its old name before its namespace goes (a physical device would otherwise
        // return on its own, but under whatever name the kernel picks).
        NsSocket* s = sock(o.ns);
        NsSocket* host = sock(kHostNs);
        if (s) {
          if (auto x = link::find(s->rtnl, o.name)) {
            link::change(s->rtnl, x->index, {.up = false, .name = o.device, .netns_fd = host->ns.fd()},
                         fmt::format("cannot move {} back to the host", o.name));
            ++res.removed;
          }
        } else if (auto x = link::find(host->rtnl, o.name); x && o.name != o.device) {
          link::change(host->rtnl, x->index, {.name = o.device}, fmt::format("cannot rename {} back to {}", o.name, o.device));
        }
        continue;
      }
      if (lab_ns.count(o.ns)) continue;  // dies with its namespace
      if (o.type == "veth" && lab_ns.count(o.peer_ns)) {
        waiting.push_back(o.name);
        continue;
      }
      NsSocket* s = sock(o.ns);
      if (!s) continue;
      if (!o.tmp.empty()) link::remove(s->rtnl, o.tmp);
      if (link::remove(s->rtnl, o.name)) ++res.removed;
    } catch (const std::exception& e) {
      res.errors.push_back(fmt::format("{}: {}", o.str(), e.what()));
    }
  }
  // Our sockets in lab namespaces would keep them alive: close them before waiting.
  for (auto it = socks.begin(); it != socks.end();) it = it->first == kHostNs ? std::next(it) : socks.erase(it);

  if (!waiting.empty()) {
    NsSocket* host = sock(kHostNs);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (auto& name : waiting) {
      try {
        while (link::find(host->rtnl, name)) {
          if (std::chrono::steady_clock::now() > deadline) {
            // Something still holds the namespace open (a process inside it): remove our end ourselves.
            link::remove(host->rtnl, name);
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        ++res.removed;
      } catch (const std::exception& e) {
        res.errors.push_back(fmt::format("veth {}: {}", name, e.what()));
      }
    }
  }
  if (res.errors.empty()) rec->erase();
  return res;
}

}  // namespace ctnet::topo
