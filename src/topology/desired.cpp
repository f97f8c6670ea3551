#include "topology/desired.h"

#include <fmt/format.h>
#include <unistd.h>

#include <map>

#include "kinds/vf.h"
#include "link/macvlan.h"
#include "topology/state.h"
#include "util/error.h"

namespace ctnet::topo {

namespace k = ctnet::kinds;

namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};

struct Builder {
  const Topology& t;
  const std::string& host;
  std::vector<Item> items;
  std::map<std::string, const Namespace*, std::less<>> ns_by_name;
  const bool ipv6 = ::access("/proc/sys/net/ipv6", F_OK) == 0;  // a kernel without IPv6 has no knobs

  std::string ns(const std::string& n) const { return n == kHostNs ? host : n; }

  // Whether an interface comes up without an IPv6 link-local address: bridge ports (they carry no addresses at
  // all) and interfaces of namespaces the file gives no IPv6 (Namespace::ipv6_link_local). Otherwise their DAD,
  // MLD and router solicitations flood every port of a bridge: N^2 packets for N namespaces.
  bool link_local(const Endpoint& e) const {
    if (!ipv6) return true;
    if (!e.bridge.empty()) return false;
    auto it = ns_by_name.find(e.ns);
    return it == ns_by_name.end() || it->second->ipv6_link_local.value_or(true);
  }

  void add(std::string what, std::string field, std::vector<std::string> in, Spec spec, int parent = -1) {
    std::erase(in, kHostNs);
    for (auto& n : in) n = ns(n);
    items.push_back({std::move(what), std::move(field), std::move(in), std::move(spec), parent});
  }

  void addresses(const Endpoint& e, const std::string& ifname, const std::string& field) {
    const int parent = static_cast<int>(items.size()) - 1;
    for (auto& p : e.addresses)
      add(fmt::format("address {} on {}/{}", p.str(), e.ns, ifname), field, {e.ns},
          k::address::Spec{.ns = ns(e.ns), .ifname = ifname, .prefix = p}, parent);
  }

  void link(const Link& l) {
    const std::string f = l.field + ".";
    switch (l.kind) {
      case Kind::veth: {
        // Made from the bridge's side when one end is a port: the port joins its bridge in the same request.
        const Endpoint* p = &l.a;
        const Endpoint* q = &l.b;
        if (p->bridge.empty() && !q->bridge.empty()) std::swap(p, q);
        // The link's mtu for both ends, an end's own for that end.
        const uint32_t mtu = p->mtu ? p->mtu : l.mtu, peer_mtu = q->mtu ? q->mtu : l.mtu;
        k::veth::Spec s{.ns = ns(p->ns), .name = p->name, .peer_ns = ns(q->ns), .peer_name = q->name, .mtu = mtu,
                        .peer_mtu = peer_mtu != mtu ? peer_mtu : 0, .mac = p->mac, .peer_mac = q->mac,
                        .txqlen = p->txqueuelen, .peer_txqlen = q->txqueuelen, .master = p->bridge,
                        .peer_master = q->bridge, .link_local = link_local(*p), .peer_link_local = link_local(*q)};
        k::veth::validate(s, f);
        add(fmt::format("veth {}/{} <-> {}/{}", p->ns, p->name, q->ns, q->name), f, {p->ns, q->ns}, s);
        const int veth = static_cast<int>(items.size()) - 1;
        for (const Endpoint* e : {p, q})
          if (e->vlan || !e->trunk.empty()) {
            k::port::Vlans v{.ns = ns(e->ns), .name = e->name, .access = e->vlan, .trunk = e->trunk};
            k::port::validate(v, f);
            add(fmt::format("VLANs of {}/{} ({})", e->ns, e->name, vlans_str(*e)), f, {e->ns}, v, veth);
          }
        for (const Endpoint* e : {p, q})
          if (e->impair)
            add(fmt::format("impairment {} on {}/{}", link::tc::describe(*e->impair), e->ns, e->name), f, {e->ns},
                k::qdisc::netem(ns(e->ns), e->name, *e->impair), veth);
        addresses(*p, p->name, f);
        for (auto& a : q->addresses)
          add(fmt::format("address {} on {}/{}", a.str(), q->ns, q->name), f, {q->ns},
              k::address::Spec{.ns = ns(q->ns), .ifname = q->name, .prefix = a}, veth);
        return;
      }
      case Kind::macvlan:
      case Kind::ipvlan: {
        k::subif::Spec s{.kind = l.kind == Kind::macvlan ? k::subif::Kind::macvlan : k::subif::Kind::ipvlan,
                         .parent_ns = ns(l.parent.ns), .parent = l.parent.name, .ns = ns(l.a.ns), .name = l.a.name,
                         .mtu = l.mtu, .link_local = link_local(l.a)};
        if (l.kind == Kind::macvlan) s.macvlan_mode = link::parse_macvlan_mode(l.mode).value_or(link::MacvlanMode::bridge);
        else {
          s.ipvlan_mode = link::parse_ipvlan_mode(l.mode).value_or(link::IpvlanMode::l2);
          s.ipvlan_flag = link::parse_ipvlan_flag(l.flag).value_or(link::IpvlanFlag::bridge);
        }
        k::subif::validate(s, f);
        add(fmt::format("{} {}/{} on {}/{}", to_string(l.kind), l.a.ns, l.a.name, l.parent.ns, l.parent.name), f,
            {l.a.ns, l.parent.ns}, s);
        return addresses(l.a, l.a.name, f);
      }
      case Kind::vlan: {
        k::subif::Spec s{.kind = k::subif::Kind::vlan, .parent_ns = ns(l.parent.ns), .parent = l.parent.name,
                         .ns = ns(l.a.ns), .name = l.a.name, .vlan_id = l.vlan.value_or(0), .mtu = l.mtu,
                         .link_local = link_local(l.a)};
        k::subif::validate(s, f);
        add(fmt::format("vlan {}/{} (ID {}) on {}/{}", l.a.ns, l.a.name, s.vlan_id, l.parent.ns, l.parent.name), f,
            {l.a.ns, l.parent.ns}, s);
        return addresses(l.a, l.a.name, f);
      }
      case Kind::dummy: {
        k::dummy::Spec s{.ns = ns(l.a.ns), .name = l.a.name, .mtu = l.mtu, .link_local = link_local(l.a)};
        k::dummy::validate(s, f);
        add(fmt::format("dummy {}/{}", l.a.ns, l.a.name), f, {l.a.ns}, s);
        return addresses(l.a, l.a.name, f);
      }
      case Kind::host_device: {
        k::host_device::Spec s{.host_ns = host, .device = l.device, .ns = ns(l.a.ns), .name = l.a.name, .mtu = l.mtu};
        k::host_device::validate(s, f);
        add(fmt::format("host-device {} -> {}/{}", l.device, l.a.ns, l.a.name), f, {l.a.ns}, s);
        return addresses(l.a, l.a.name, f);
      }
      case Kind::vxlan: {
        k::vxlan::Spec s{.ns = ns(l.a.ns), .name = l.a.name, .vni = l.vni, .local = l.local, .remote = l.remote,
                         .underlay = l.underlay, .port = l.port, .mtu = l.mtu, .master = l.a.bridge};
        k::vxlan::validate(s, f);
        add(fmt::format("vxlan {}/{} (VNI {})", l.a.ns, l.a.name, l.vni), f, {l.a.ns}, s);
        return addresses(l.a, l.a.name, f);
      }
      case Kind::vf: {
        sriov::AttachSpec s;
        s.netns = ns(l.a.ns);
        s.pf = l.pf;
        s.vf = l.vf;
        if (!l.pci.empty()) s.pci = l.pci;
        s.settings.vlan = l.vlan;
        s.settings.mac = l.mac;
        s.name = l.a.name;
        s.mtu = l.mtu;
        add(fmt::format("vf of {} -> {}/{}", l.pf, l.a.ns, l.a.name), f, {l.a.ns}, s);
        return addresses(l.a, l.a.name, f);
      }
    }
  }
};

}  // namespace

std::vector<Item> desired(const Topology& t, const std::string& host) {
  Builder b{t, host, {}, {}};
  for (auto& n : t.namespaces) b.ns_by_name.emplace(n.name, &n);
  b.items.reserve(t.namespaces.size() * 2 + t.bridges.size() + t.links.size() * 2);
  for (auto& n : t.namespaces)
    b.add("namespace " + n.name, fmt::format("namespaces.{}.", n.name), {},
          k::netns::Spec{.name = n.name, .loopback = n.loopback, .sysctls = n.sysctls});
  for (auto& br : t.bridges) {
    if (br.external) continue;  // someone else's: its ports are the lab's, the bridge is not
    const std::string f = fmt::format("bridges.{}.", br.name);
    k::bridge::Spec s{.ns = b.ns(br.ns), .name = br.name, .mtu = br.mtu, .vlan_filtering = br.vlan_filtering};
    k::bridge::validate(s, f);
    b.add(fmt::format("bridge {}/{}", br.ns, br.name), f, {br.ns}, s);
    b.addresses({br.ns, br.name, {}, br.addresses}, br.name, f);
  }
  for (auto& l : t.links) b.link(l);
  for (auto& n : t.namespaces)
    for (auto& r : n.routes) {
      addr::Route rt;
      rt.dst = r.dst;
      rt.gateway = r.via;
      b.add(fmt::format("route {} in {}", r.str(), n.name), fmt::format("namespaces.{}.routes.", n.name), {n.name},
            k::route::Spec{.ns = n.name, .route = rt, .dev = r.dev});
    }
  for (auto& n : t.namespaces)
    for (auto& p : n.run)
      b.add(fmt::format("process {} in {}", p.name, n.name), p.field + ".", {n.name},
            process::Spec{.lab = t.name, .ns = n.name, .name = p.name, .argv = p.argv, .stop_timeout = p.stop_timeout,
                          .field = p.field});
  return std::move(b.items);
}

void claim(const Item& item, std::vector<std::string>& keys) {
  std::visit(overloaded{
                 [&](const k::netns::Spec& s) { keys.push_back(object_key("netns", s.name, s.name)); },
                 [&](const k::bridge::Spec& s) { keys.push_back(object_key("bridge", s.ns, s.name)); },
                 [&](const k::veth::Spec& s) {
                   keys.push_back(object_key("veth", s.ns, s.name));
                   keys.push_back(object_key("veth", s.peer_ns, s.peer_name));
                 },
                 [&](const k::subif::Spec& s) { keys.push_back(object_key(k::subif::to_string(s.kind), s.ns, s.name)); },
                 [&](const k::host_device::Spec& s) { keys.push_back(object_key("host-device", s.ns, s.name)); },
                 [&](const k::vxlan::Spec& s) { keys.push_back(object_key("vxlan", s.ns, s.name)); },
                 [&](const sriov::AttachSpec& s) { keys.push_back(object_key("vf", s.netns, s.name)); },
                 [&](const k::address::Spec& s) { keys.push_back(object_key("address", s.ns, s.ifname, s.prefix.str())); },
                 [&](const k::qdisc::Spec& s) { keys.push_back(object_key("qdisc", s.ns, s.dev)); },
                 [&](const k::port::Vlans& s) { keys.push_back(object_key("port-vlans", s.ns, s.name)); },
                 [&](const k::dummy::Spec& s) { keys.push_back(object_key("dummy", s.ns, s.name)); },
                 [&](const k::route::Spec& s) {
                   std::string extra = s.route.dst.str();
                   if (s.route.gateway) extra += " via " + s.route.gateway->str();
                   keys.push_back(object_key("route", s.ns, s.dev, extra));
                 },
                 [&](const process::Spec& s) { keys.push_back(object_key("process", s.ns, s.name)); },
             },
             item.spec);
}

kinds::Inspection inspect(kinds::Txn& txn, const Item& item) {
  auto found = [](bool yes) { return yes ? k::Inspection::of(0, {}) : k::Inspection::missing(); };
  return std::visit(overloaded{
                        [&](const k::netns::Spec& s) { return k::netns::inspect(txn, s); },
                        [&](const k::bridge::Spec& s) { return k::bridge::inspect(txn, s); },
                        [&](const k::veth::Spec& s) { return k::veth::inspect(txn, s); },
                        [&](const k::subif::Spec& s) { return k::subif::inspect(txn, s); },
                        [&](const k::host_device::Spec& s) { return k::host_device::inspect(txn, s); },
                        [&](const k::vxlan::Spec& s) { return k::vxlan::inspect(txn, s); },
                        [&](const sriov::AttachSpec& s) { return k::vf::inspect(txn, s); },
                        [&](const k::address::Spec& s) { return found(k::address::present(txn, s)); },
                        [&](const k::route::Spec& s) { return found(k::route::present(txn, s)); },
                        [&](const k::qdisc::Spec& s) { return k::qdisc::inspect(txn, s); },
                        [&](const k::port::Vlans& s) { return k::port::inspect(txn, s); },
                        [&](const k::dummy::Spec& s) { return k::dummy::inspect(txn, s); },
                        [&](const process::Spec& s) { return process::inspect(txn, s); },
                    },
                    item.spec);
}

void apply(kinds::Txn& txn, const Item& item) {
  std::visit(overloaded{
                 [&](const k::netns::Spec& s) { k::netns::apply(txn, s); },
                 [&](const k::bridge::Spec& s) { k::bridge::apply(txn, s); },
                 [&](const k::veth::Spec& s) { k::veth::apply(txn, s); },
                 [&](const k::subif::Spec& s) { k::subif::apply(txn, s, item.field); },
                 [&](const k::host_device::Spec& s) { k::host_device::apply(txn, s); },
                 [&](const k::vxlan::Spec& s) { k::vxlan::apply(txn, s); },
                 [&](const sriov::AttachSpec& s) { k::vf::apply(txn, s); },
                 [&](const k::address::Spec& s) { k::address::apply(txn, s); },
                 [&](const k::route::Spec& s) { k::route::apply(txn, s); },
                 [&](const k::qdisc::Spec& s) { k::qdisc::apply(txn, s); },
                 [&](const k::port::Vlans& s) { k::port::apply(txn, s); },
                 [&](const k::dummy::Spec& s) { k::dummy::apply(txn, s); },
                 [&](const process::Spec& s) { process::apply(txn, s); },
             },
             item.spec);
}

void repair(kinds::Txn& txn, const Item& item) {
  std::visit(overloaded{
                 [&](const k::netns::Spec& s) { k::netns::repair(txn, s); },
                 [&](const k::bridge::Spec& s) { k::bridge::repair(txn, s); },
                 [&](const k::veth::Spec& s) { k::veth::repair(txn, s); },
                 [&](const k::subif::Spec& s) { k::subif::repair(txn, s); },
                 [&](const k::host_device::Spec& s) { k::host_device::repair(txn, s); },
                 [&](const k::vxlan::Spec& s) { k::vxlan::repair(txn, s); },
                 [&](const sriov::AttachSpec& s) { k::vf::repair(txn, s); },
                 [&](const k::address::Spec& s) { k::address::apply(txn, s); },
                 [&](const k::route::Spec& s) { k::route::apply(txn, s); },
                 [&](const k::qdisc::Spec& s) { k::qdisc::repair(txn, s); },
                 [&](const k::port::Vlans& s) { k::port::repair(txn, s); },
                 [&](const k::dummy::Spec& s) { k::dummy::repair(txn, s); },
                 [&](const process::Spec& s) { process::repair(txn, s); },
             },
             item.spec);
}

}  // namespace ctnet::topo
