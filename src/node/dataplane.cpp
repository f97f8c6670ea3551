#include "node/dataplane.h"

#include <fmt/format.h>
#include <linux/if_addr.h>
#include <sys/socket.h>

#include <set>

#include "addr/address.h"
#include "addr/route.h"
#include "kinds/txn.h"
#include "kinds/vxlan.h"
#include "link/link.h"
#include "link/neigh.h"
#include "util/error.h"

namespace ctnet::node {

namespace {
// The neighbour a peer's subnet is reached through: its first address (the peer's VTEP holds it as /32, /128).
IpAddress gateway_of(const Prefix& subnet) { return subnet.first(); }
Prefix host_prefix(const IpAddress& a) { return Prefix(a, a.is_v4() ? 32 : 128); }

bool same_route(const addr::Route& a, const addr::Route& b) {
  return a.dst.network() == b.dst.network() && a.gateway == b.gateway && a.oif == b.oif && a.onlink == b.onlink;
}

// A socket big enough for the dumps of hundreds of peers' entries (flannel's #958: replies overflowing the
// default buffer lost routes). SO_RCVBUFFORCE needs CAP_NET_ADMIN, which the agent has.
void enlarge(nl::Socket& s) {
  int size = 8 << 20;
  if (::setsockopt(s.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}
}  // namespace

struct Dataplane::Desired {
  std::map<MacAddress, IpAddress> fdb;                   // VTEP MAC -> underlay
  std::map<IpAddress, MacAddress> neighbours;            // subnet gateway -> VTEP MAC
  std::vector<addr::Route> routes;
};

Dataplane::Dataplane(const NetworkConfig& net, Underlay underlay)
    : net_(net), underlay_(std::move(underlay)), s_(NsSocket::of(NetNs::current())) {
  enlarge(s_.rtnl);
}

std::string Dataplane::device() const {
  return net_.backend == Backend::vxlan ? fmt::format("ctnet.{}", net_.vni) : underlay_.ifname;
}

uint32_t Dataplane::pod_mtu() const {
  if (net_.backend == Backend::host_gw) return underlay_.mtu;
  return underlay_.mtu - (underlay_.address.is_v4() ? 50 : 70);  // outer IP + UDP + VXLAN + inner Ethernet
}

std::optional<MacAddress> Dataplane::setup() {
  if (net_.backend != Backend::vxlan) return std::nullopt;
  kinds::vxlan::Spec spec{.name = device(), .vni = net_.vni, .local = underlay_.address, .underlay = underlay_.ifname,
                          .port = net_.port, .mtu = pod_mtu(), .learning = false};
  kinds::vxlan::validate(spec);
  kinds::Txn txn;
  auto l = link::find(s_.rtnl, spec.name);
  if (l && l->kind != "vxlan") throw Conflict(fmt::format("{} exists and is not a VXLAN device ({})", spec.name, l->kind));
  if (!l) {
    kinds::vxlan::apply(txn, spec);
  } else {
    // A device of an earlier run stays (its MAC, which peers know, with it) when it is ours in all that counts.
    auto ins = kinds::vxlan::inspect(txn, spec);
    if (!ins.ok()) kinds::vxlan::repair(txn, spec);
  }
  txn.commit();
  auto now = link::find(s_.rtnl, spec.name);
  if (!now || !now->mac) throw Error(fmt::format("cannot read the MAC of {}", spec.name));
  return now->mac;
}

void Dataplane::set_own_subnets(const std::vector<Prefix>& subnets) {
  if (net_.backend != Backend::vxlan) return;
  auto l = link::find(s_.rtnl, device());
  if (!l) return;
  std::set<Prefix> want;
  for (const auto& s : subnets) want.insert(host_prefix(gateway_of(s)));
  for (const auto& a : addr::list(s_.rtnl, l->index)) {
    if (a.prefix.address().is_v6() && a.scope == RT_SCOPE_LINK) continue;
    if (!want.erase(a.prefix)) addr::remove(s_.rtnl, l->index, a.prefix);
  }
  for (const auto& p : want) addr::add(s_.rtnl, l->index, p, device(), {.dad = false, .prefix_route = false});
}

Dataplane::Desired Dataplane::desired(const std::vector<NodeRecord>& peers, ReconcileStats& stats) {
  Desired d;
  const int vx = net_.backend == Backend::vxlan ? link::get(s_.rtnl, device()).index : 0;
  std::vector<addr::Address> connected;
  if (net_.backend == Backend::host_gw) connected = addr::list(s_.rtnl, underlay_.ifindex, AF_UNSPEC);
  for (const auto& p : peers) {
    if (net_.backend == Backend::vxlan && p.underlay.family() != underlay_.address.family()) {
      stats.refused.push_back(fmt::format("{}: its underlay {} is not of this node's family", p.node, p.underlay.str()));
      continue;
    }
    if (net_.backend == Backend::vxlan) {
      if (!p.vtep_mac) {
        stats.refused.push_back(fmt::format("{}: publishes no VTEP MAC", p.node));
        continue;
      }
      d.fdb[*p.vtep_mac] = p.underlay;
      for (const auto& s : p.subnets) {
        d.neighbours[gateway_of(s)] = *p.vtep_mac;
        d.routes.push_back({.dst = s.network(), .gateway = gateway_of(s), .oif = vx, .protocol = kRouteProtocol, .onlink = true});
      }
    } else {
      // Each subnet via the peer's underlay address of its family, which must be on one of our connected subnets.
      for (const auto& s : p.subnets) {
        const auto hop = p.underlay_of(s.family());
        if (!hop) {
          stats.refused.push_back(fmt::format("{}: publishes no underlay address of {}'s family for host-gw", p.node, s.str()));
          continue;
        }
        bool on_segment = false;
        for (const auto& a : connected) on_segment = on_segment || a.prefix.contains(*hop);
        if (!on_segment) {
          stats.refused.push_back(fmt::format("{}: host-gw needs peers on the same L2 segment; {} is not on {}'s subnet",
                                              p.node, hop->str(), underlay_.ifname));
          continue;
        }
        d.routes.push_back({.dst = s.network(), .gateway = *hop, .oif = underlay_.ifindex, .protocol = kRouteProtocol});
      }
    }
  }
  return d;
}

ReconcileStats Dataplane::reconcile(const std::vector<NodeRecord>& peers, bool dry_run) {
  ReconcileStats st;
  Desired d = desired(peers, st);
  auto count = [&](bool present, bool same) { (present ? (same ? st.unchanged : st.changed) : st.added)++; };

  if (net_.backend == Backend::vxlan) {
    const int vx = link::get(s_.rtnl, device()).index;
    // FDB: one permanent entry per peer MAC (entries the kernel adds itself, such as the device's own, are not ours).
    std::map<MacAddress, IpAddress> have_fdb;
    for (const auto& e : link::list_fdb(s_.rtnl, vx))
      if (e.dst && (e.state & NUD_PERMANENT)) {
        if (d.fdb.count(e.mac)) have_fdb[e.mac] = *e.dst;
        else if (++st.removed; !dry_run) link::remove_fdb(s_.rtnl, vx, e.mac, *e.dst);
      }
    for (const auto& [mac, dst] : d.fdb) {
      auto it = have_fdb.find(mac);
      const bool same = it != have_fdb.end() && it->second == dst;
      count(it != have_fdb.end(), same);
      if (!same && !dry_run) link::set_fdb(s_.rtnl, vx, mac, dst);
    }
    // Neighbours: the peers' gateways, permanent.
    std::map<IpAddress, MacAddress> have_nb;
    for (int family : {AF_INET, AF_INET6})
      for (const auto& n : link::list_neighbours(s_.rtnl, vx, family)) {
        if (!(n.state & NUD_PERMANENT)) continue;
        if (d.neighbours.count(n.dst) && n.lladdr) have_nb[n.dst] = *n.lladdr;
        else if (++st.removed; !dry_run) link::remove_neighbour(s_.rtnl, vx, n.dst);
      }
    for (const auto& [ip, mac] : d.neighbours) {
      auto it = have_nb.find(ip);
      const bool same = it != have_nb.end() && it->second == mac;
      count(it != have_nb.end(), same);
      if (!same && !dry_run) link::set_neighbour(s_.rtnl, vx, ip, mac);
    }
  }
  // Routes of ours, in every family.
  std::vector<addr::Route> have;
  for (const auto& r : addr::list_routes(s_.rtnl))
    if (r.protocol == kRouteProtocol) have.push_back(r);
  for (const auto& r : have) {
    bool wanted = false;
    for (const auto& w : d.routes) wanted = wanted || w.dst.network() == r.dst.network();
    if (!wanted && ++st.removed && !dry_run) addr::remove(s_.rtnl, r);
  }
  for (const auto& w : d.routes) {
    const addr::Route* h = nullptr;
    for (const auto& r : have)
      if (r.dst.network() == w.dst.network()) h = &r;
    const bool same = h && same_route(*h, w);
    count(h != nullptr, same);
    if (!same && !dry_run) addr::add(s_.rtnl, w, /*replace=*/true);
  }
  return st;
}

void Dataplane::teardown() {
  for (const auto& r : addr::list_routes(s_.rtnl))
    if (r.protocol == kRouteProtocol) addr::remove(s_.rtnl, r);
  if (net_.backend == Backend::vxlan) link::remove(s_.rtnl, device());
}

Underlay find_underlay(const std::string& ifname, const std::optional<IpAddress>& towards) {
  nl::Socket s;
  Underlay u;
  if (!ifname.empty()) {
    auto l = link::find(s, ifname);
    if (!l) throw InvalidInput("--iface", fmt::format("no link {} in this namespace", ifname));
    u.ifname = l->name;
    u.ifindex = l->index;
    u.mtu = l->mtu;
  } else {
    auto oif = towards ? addr::lookup_oif(s, *towards) : std::nullopt;
    if (!oif) throw InvalidInput("--iface", "cannot tell the underlay link (no route to etcd's address): give --iface");
    auto l = link::find(s, *oif);
    if (!l) throw Error("the underlay link went away");
    u.ifname = l->name;
    u.ifindex = l->index;
    u.mtu = l->mtu;
  }
  const int family = towards ? towards->family() : AF_INET;
  std::vector<IpAddress> found;  // the first usable address of each family, `family` first
  for (int f : {family, family == AF_INET ? AF_INET6 : AF_INET})
    for (const auto& a : addr::list(s, u.ifindex, f))
      if (a.scope == RT_SCOPE_UNIVERSE && !(a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))) {
        found.push_back(a.prefix.address());
        break;
      }
  if (found.empty()) throw InvalidInput("--iface", fmt::format("{} has no global address to carry the overlay", u.ifname));
  u.address = found[0];
  if (found.size() > 1) u.other_family = found[1];
  return u;
}

}  // namespace ctnet::node
