#include "explain/explain.h"

#include <netinet/in.h>  // before any linux/ header (its struct in_addr is glibc's)
#include <arpa/inet.h>

#include <dirent.h>
#include <fmt/format.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/netfilter.h>
#include <netinet/tcp.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "explain/netfilter.h"
#include "addr/address.h"
#include "link/bridge.h"
#include "link/link.h"
#include "netlink/socket.h"
#include "nft/legacy.h"
#include "ns/ns_socket.h"
#include "ns/sysctl.h"
#include "util/error.h"
#include "util/english.h"

namespace ctnet::explain {

using nlohmann::json;

std::string_view to_string(Proto p) {
  switch (p) {
    case Proto::icmp: return "icmp";
    case Proto::tcp: return "tcp";
    case Proto::udp: return "udp";
  }
  return "?";
}

namespace {

// The packet stops: thrown where the fault is found, caught by walk().
struct Stop {
  std::string code, reason, fix;
};

struct Ns {
  NetNs ns;
  std::string label;
  std::map<int32_t, Ns*> by_nsid;  // namespaces as this one numbers them (IFLA_LINK_NETNSID)
  std::map<int32_t, std::string> nsid_names;  // ... and their names under /run/netns, once all were asked
  bool scanned = false;
  std::optional<nl::Socket> sock;  // opened on first use: a namespace only looked at costs no switch
  nl::Socket& rtnl() {
    if (!sock) sock.emplace(nl::Socket::in(ns));
    return *sock;
  }
};

// A link with what the path needs beyond link::Link: bridge port, bridge, macvlan and VXLAN attributes.
struct LinkX {
  link::Link l;
  uint8_t port_state = BR_STATE_FORWARDING;
  bool isolated = false, hairpin = false;
  bool vlan_filtering = false;
  uint32_t macvlan_mode = 0;
  uint32_t vni = 0;
  uint16_t vxport = 0;
  std::optional<IpAddress> vxlocal;
};

struct Packet {
  IpAddress src, dst;
  bool src_known = false;
  Proto proto = Proto::icmp;
  uint16_t sport = 0, dport = 0;
  uint32_t size = 0;
  bool reply = false;
};

// `ip` for the namespace ctnet runs in, `ip -n NAME` for another (remedies the user can paste).
std::string ipn(const std::string& label) { return label == "host" ? "ip" : "ip -n " + label; }

const char* nud_name(uint16_t s) {
  switch (s) {
    case NUD_INCOMPLETE: return "INCOMPLETE";
    case NUD_REACHABLE: return "REACHABLE";
    case NUD_STALE: return "STALE";
    case NUD_DELAY: return "DELAY";
    case NUD_PROBE: return "PROBE";
    case NUD_FAILED: return "FAILED";
    case NUD_NOARP: return "NOARP";
    case NUD_PERMANENT: return "PERMANENT";
  }
  return "NONE";
}

const char* stp_name(uint8_t s) {
  switch (s) {
    case BR_STATE_DISABLED: return "disabled";
    case BR_STATE_LISTENING: return "listening";
    case BR_STATE_LEARNING: return "learning";
    case BR_STATE_FORWARDING: return "forwarding";
    case BR_STATE_BLOCKING: return "blocking";
  }
  return "?";
}

uint8_t ipproto(Proto p, bool v6) {
  return p == Proto::tcp ? IPPROTO_TCP : p == Proto::udp ? IPPROTO_UDP : v6 ? int(IPPROTO_ICMPV6) : int(IPPROTO_ICMP);
}

uint32_t min_size(const Packet& p) {
  uint32_t l3 = p.dst.is_v6() ? 40 : 20;
  return l3 + (p.proto == Proto::tcp ? 20 : 8);
}

class Walker {
 public:
  explicit Walker(const Request& r) : req_(r) {}

  Result run();

 private:
  struct RouteAns {
    int error = 0;
    std::string text;
    uint8_t type = 0;
    int oif = 0;
    std::optional<IpAddress> gateway, prefsrc;
    uint32_t table = 0, mtu = 0;
  };
  struct Landing {
    Ns* ns = nullptr;
    int ifindex = 0;
    std::string ifname;
  };

  Ns& ns_of(NetNs ns, std::string label);
  Ns& adopt(const NetNs& ns);
  std::string label_of(const NetNs& ns);
  Ns* by_nsid(Ns& from, std::optional<int32_t> nsid);

  LinkX link_of(Ns& n, int index);
  RouteAns route_get(Ns& n, const Packet& p, const IpAddress& dst, int iif, bool with_src);
  std::optional<std::pair<uint16_t, std::optional<MacAddress>>> neigh_get(Ns& n, int ifindex, const IpAddress& a);
  std::optional<int> bridge_fdb(Ns& n, int bridge, const MacAddress& mac);
  std::optional<IpAddress> vxlan_fdb(Ns& n, int vx, const MacAddress& mac);
  std::vector<link::Link> bridge_ports(Ns& n, int bridge);
  void check_vlan(Ns& b, const LinkX& br, const LinkX* in, const LinkX* out);
  std::optional<int> local_dev(Ns& n, const IpAddress& a);
  bool holds(Ns& from, std::optional<int32_t> nsid, int ifindex, const IpAddress& a);
  std::string sysctl(Ns& n, const std::string& key);

  void hop(Ns& n, const std::string& dev, const std::string& step, const std::string& decision, json detail = json::object());
  [[noreturn]] void stop(Ns& n, const std::string& dev, const std::string& step, Stop s);

  void walk_l3(Ns* n, Packet p, int iif, std::string iifname, int depth);
  void egress(Ns& n, const LinkX& out, const Packet& p, const std::string& what);
  Landing l2(Ns& n, const LinkX& out, const IpAddress& nh, std::optional<MacAddress> mac, const Packet& p, int depth);
  Landing bridge_forward(Ns& b, const LinkX& br, const LinkX* in, const IpAddress& nh, std::optional<MacAddress> mac,
                         const Packet& p, int depth);
  std::optional<Landing> find_on_bridge(Ns& b, const LinkX& br, const IpAddress& nh);
  void netfilter(Ns& n, const std::string& hook, const Packet& p, const std::string& iif, const std::string& oif,
                 bool bridge_family, const char* code);
  void listener(Ns& n, const Packet& p);

  const Request& req_;
  std::vector<std::unique_ptr<Ns>> spaces_;
  Result res_;
  bool returning_ = false;
  std::string prefix_;  // "reply: " on the return path, "underlay: " inside a VXLAN's underlay
  // Where the packet of this direction must end up, when known (DST given as a namespace; the source, for the
  // reply): lets a flooded bridge or a macvlan parent find the receiver without asking every namespace.
  const NetNs* target_ns_ = nullptr;
  IpAddress target_;
  Ns* delivered_ = nullptr;        // where the last walk_l3 delivered its packet
  std::optional<IpAddress> src_;  // the source address the forward path chose
};

Ns& Walker::ns_of(NetNs ns, std::string label) {
  for (auto& s : spaces_)
    if (s->ns.same_as(ns)) return *s;
  spaces_.push_back(std::make_unique<Ns>(Ns{std::move(ns), std::move(label), {}, {}, false, std::nullopt}));
  return *spaces_.back();
}

std::string Walker::label_of(const NetNs& ns) {
  if (ns.same_as(NetNs::current())) return "host";
  const std::string& l = ns.label();
  if (l.starts_with(std::string(kNetnsRunDir) + "/")) return l.substr(std::strlen(kNetnsRunDir) + 1);
  return l;
}

Ns& Walker::adopt(const NetNs& ns) {
  return ns_of(NetNs::open_path(fmt::format("/proc/self/fd/{}", ns.fd())), label_of(ns));
}

// The namespace a link's IFLA_LINK_NETNSID names. The kernel has no "open namespace by id": candidates are
// asked for their id (RTM_GETNSID with NETNSA_FD, no link dumps): the namespaces already on the path, the
// host, the hinted ones (a lab's), then every name under /run/netns, each opened once.
Ns* Walker::by_nsid(Ns& from, std::optional<int32_t> nsid) {
  if (!nsid) return &from;
  if (auto it = from.by_nsid.find(*nsid); it != from.by_nsid.end()) return it->second;
  auto try_one = [&](Ns& c) -> bool {
    if (&c == &from) return false;
    auto id = nsid_of(from.rtnl(), c.ns);
    if (id) from.by_nsid[*id] = &c;
    return id && *id == *nsid;
  };
  if (!from.scanned)
    for (auto& s : spaces_)
      if (try_one(*s)) return s.get();
  std::vector<std::string> names = req_.hint_names;
  auto candidate = [&](NetNs ns, const std::string& label) -> Ns* {
    auto id = nsid_of(from.rtnl(), ns);
    if (!id || *id != *nsid) return nullptr;
    Ns& c = ns_of(std::move(ns), label);
    from.by_nsid[*id] = &c;
    return &c;
  };
  std::set<std::string> tried;
  if (!from.scanned) {
  if (target_ns_) {  // where the packet is going: the likeliest owner of a peer on the way
    Ns& t = adopt(*target_ns_);
    if (&t != &from && try_one(t)) return &t;
  }
  if (Ns* c = candidate(NetNs::current(), "host")) return c;
  for (auto& n : names) {
    tried.insert(n);
    try {
      if (Ns* c = candidate(NetNs::open_named(n), n)) return c;
    } catch (const Error&) {
    }
  }
  }
  // Every name under /run/netns, asked once (a namespace handle opened and closed each, no socket): the ids
  // of all of them are kept, so the ports of a big bridge cost one scan, not one each.
  if (!from.scanned) {
    from.scanned = true;
    if (DIR* d = opendir(kNetnsRunDir)) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.' || tried.count(e->d_name)) continue;
        try {
          NetNs c = NetNs::open_named(e->d_name);
          if (auto id = nsid_of(from.rtnl(), c)) from.nsid_names[*id] = e->d_name;
        } catch (const Error&) {
        }
      }
      closedir(d);
    }
  }
  if (auto it = from.nsid_names.find(*nsid); it != from.nsid_names.end()) {
    Ns& c = ns_of(NetNs::open_named(it->second), it->second);
    from.by_nsid[*nsid] = &c;
    return &c;
  }
  return nullptr;
}

LinkX Walker::link_of(Ns& n, int index) {
  nl::Message m(RTM_GETLINK, NLM_F_ACK);
  m.put_header<ifinfomsg>()->ifi_index = index;
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  nl::Reply r = n.rtnl().exchange(m);
  if (r.error || r.messages.empty())
    throw Error(fmt::format("cannot read link {} in {}", index, n.label), r.error, r.kernel_text);
  LinkX x;
  x.l = link::parse(r.messages.front());
  auto a = nl::Attrs::of_message(r.messages.front().hdr(), sizeof(ifinfomsg));
  auto info = nl::Attrs::of_nest(a.get(IFLA_LINKINFO));
  auto data = nl::Attrs::of_nest(info.get(IFLA_INFO_DATA));
  auto slave = nl::Attrs::of_nest(info.get(IFLA_INFO_SLAVE_DATA));
  if (x.l.slave_kind == "bridge") {
    x.port_state = slave.u8(IFLA_BRPORT_STATE).value_or(BR_STATE_FORWARDING);
    x.isolated = slave.u8(IFLA_BRPORT_ISOLATED).value_or(0);
    x.hairpin = slave.u8(IFLA_BRPORT_MODE).value_or(0);
  }
  if (x.l.kind == "bridge") x.vlan_filtering = data.u8(IFLA_BR_VLAN_FILTERING).value_or(0);
  if (x.l.kind == "macvlan") x.macvlan_mode = data.u32(IFLA_MACVLAN_MODE).value_or(0);
  if (x.l.kind == "vxlan") {
    x.vni = data.u32(IFLA_VXLAN_ID).value_or(0);
    x.vxport = ntohs(data.u16(IFLA_VXLAN_PORT).value_or(htons(4789)));
    if (auto b = data.bytes(IFLA_VXLAN_LOCAL); b.size() == 4) x.vxlocal = IpAddress::from_bytes(AF_INET, b.data());
    if (auto b = data.bytes(IFLA_VXLAN_LOCAL6); b.size() == 16) x.vxlocal = IpAddress::from_bytes(AF_INET6, b.data());
  }
  return x;
}

// `ip route get DST [from SRC iif DEV] ipproto P sport S dport D`: the kernel's own lookup, policy rules and
// source selection included (net/ipv4/route.c inet_rtm_getroute, net/ipv6/route.c inet6_rtm_getroute).
Walker::RouteAns Walker::route_get(Ns& n, const Packet& p, const IpAddress& dst, int iif, bool with_src) {
  nl::Message m(RTM_GETROUTE, NLM_F_ACK);
  auto* rt = m.put_header<rtmsg>();
  rt->rtm_family = static_cast<uint8_t>(dst.family());
  rt->rtm_dst_len = static_cast<uint8_t>(dst.size() * 8);
  m.put(RTA_DST, dst.data(), dst.size());
  if (with_src && p.src_known && p.src.family() == dst.family()) {
    rt->rtm_src_len = static_cast<uint8_t>(p.src.size() * 8);
    m.put(RTA_SRC, p.src.data(), p.src.size());
  }
  if (iif) m.put_u32(RTA_IIF, static_cast<uint32_t>(iif));
  m.put_u8(RTA_IP_PROTO, ipproto(p.proto, dst.is_v6()));
  if (p.proto != Proto::icmp) {
    if (p.sport) m.put_u16(RTA_SPORT, htons(p.sport));
    if (p.dport) m.put_u16(RTA_DPORT, htons(p.dport));
  }
  nl::Reply r = n.rtnl().exchange(m);
  RouteAns ans;
  ans.error = r.error;
  ans.text = r.kernel_text;
  if (r.error || r.messages.empty()) {
    if (!ans.error) ans.error = ENETUNREACH;
    return ans;
  }
  const auto* h = r.messages.front().header<rtmsg>();
  auto a = nl::Attrs::of_message(r.messages.front().hdr(), sizeof(rtmsg));
  ans.type = h->rtm_type;
  ans.oif = static_cast<int>(a.u32(RTA_OIF).value_or(0));
  ans.table = a.u32(RTA_TABLE).value_or(h->rtm_table);
  if (auto g = a.bytes(RTA_GATEWAY); g.size() == dst.size()) ans.gateway = IpAddress::from_bytes(dst.family(), g.data());
  if (auto s = a.bytes(RTA_PREFSRC); s.size() == dst.size()) ans.prefsrc = IpAddress::from_bytes(dst.family(), s.data());
  if (a.has(RTA_METRICS)) ans.mtu = nl::Attrs::of_nest(a.get(RTA_METRICS)).u32(RTAX_MTU).value_or(0);
  return ans;
}

std::optional<std::pair<uint16_t, std::optional<MacAddress>>> Walker::neigh_get(Ns& n, int ifindex, const IpAddress& a) {
  nl::Message m(RTM_GETNEIGH, NLM_F_ACK);
  auto* nd = m.put_header<ndmsg>();
  nd->ndm_family = static_cast<uint8_t>(a.family());
  nd->ndm_ifindex = ifindex;
  m.put(NDA_DST, a.data(), a.size());
  nl::Reply r = n.rtnl().exchange(m);
  if (r.error || r.messages.empty()) return std::nullopt;
  const auto* h = r.messages.front().header<ndmsg>();
  auto at = nl::Attrs::of_message(r.messages.front().hdr(), sizeof(ndmsg));
  std::optional<MacAddress> mac;
  if (auto b = at.bytes(NDA_LLADDR); b.size() == 6) {
    MacAddress x;
    std::memcpy(x.bytes.data(), b.data(), 6);
    mac = x;
  }
  return std::pair{h->ndm_state, mac};
}

// `bridge fdb get MAC br BRIDGE`: the port the bridge sends MAC to (the bridge itself for its own address).
std::optional<int> Walker::bridge_fdb(Ns& n, int bridge, const MacAddress& mac) {
  nl::Message m(RTM_GETNEIGH, NLM_F_ACK);
  auto* nd = m.put_header<ndmsg>();
  nd->ndm_family = AF_BRIDGE;
  m.put(NDA_LLADDR, mac.bytes.data(), 6);
  m.put_u32(NDA_MASTER, static_cast<uint32_t>(bridge));
  nl::Reply r = n.rtnl().exchange(m);
  if (r.error || r.messages.empty()) return std::nullopt;
  return r.messages.front().header<ndmsg>()->ndm_ifindex;
}

// `bridge fdb get MAC dev VXLAN self`: the remote VTEP; the all-zeros entry is the default destination.
std::optional<IpAddress> Walker::vxlan_fdb(Ns& n, int vx, const MacAddress& mac) {
  std::vector<MacAddress> keys{mac};
  if (mac != MacAddress{}) keys.push_back(MacAddress{});
  for (const MacAddress& key : keys) {
    nl::Message m(RTM_GETNEIGH, NLM_F_ACK);
    auto* nd = m.put_header<ndmsg>();
    nd->ndm_family = AF_BRIDGE;
    nd->ndm_ifindex = vx;
    nd->ndm_flags = NTF_SELF;
    m.put(NDA_LLADDR, key.bytes.data(), 6);
    nl::Reply r = n.rtnl().exchange(m);
    if (r.error || r.messages.empty()) continue;
    auto at = nl::Attrs::of_message(r.messages.front().hdr(), sizeof(ndmsg));
    auto b = at.bytes(NDA_DST);
    if (b.size() == 4) return IpAddress::from_bytes(AF_INET, b.data());
    if (b.size() == 16) return IpAddress::from_bytes(AF_INET6, b.data());
  }
  return std::nullopt;
}

// VLAN filtering (net/bridge/br_vlan.c): an untagged frame takes the ingress port's PVID (none: dropped), the
// egress port must be a member of that VLAN, and leave it untagged for a plain interface behind it to take it.
void Walker::check_vlan(Ns& b, const LinkX& br, const LinkX* in, const LinkX* out) {
  const LinkX& from = in ? *in : br;
  const LinkX& to = out ? *out : br;
  link::PortVlans vi = link::port_vlans(b.rtnl(), from.l.index);
  if (!vi.pvid)
    stop(b, from.l.name, "bridge",
         {"vlan", fmt::format("VLAN filtering is on in {} and {} has no PVID: its untagged frames are dropped", br.l.name, from.l.name),
          fmt::format("bridge vlan add dev {} vid VID pvid untagged{}", from.l.name, in ? "" : " self")});
  link::PortVlans vo = link::port_vlans(b.rtnl(), to.l.index);
  auto it = vo.vids.find(*vi.pvid);
  if (it == vo.vids.end())
    stop(b, to.l.name, "bridge",
         {"vlan", fmt::format("{} is not a member of VLAN {} (the PVID of {})", to.l.name, *vi.pvid, from.l.name),
          fmt::format("bridge vlan add dev {} vid {} untagged{}", to.l.name, *vi.pvid, out ? "" : " self")});
  if (!it->second)
    stop(b, to.l.name, "bridge",
         {"vlan", fmt::format("VLAN {} leaves {} tagged: the plain interface behind it drops tagged frames", *vi.pvid, to.l.name),
          fmt::format("bridge vlan add dev {} vid {} untagged{}", to.l.name, *vi.pvid, out ? "" : " self")});
  hop(b, br.l.name, "bridge", fmt::format("VLAN {}: PVID of {}, untagged on {}", *vi.pvid, from.l.name, to.l.name), {{"vlan", *vi.pvid}});
}

std::vector<link::Link> Walker::bridge_ports(Ns& n, int bridge) { return link::list_ports(n.rtnl(), bridge); }

// The device holding address `a` in the namespace, if it is local there.
std::optional<int> Walker::local_dev(Ns& n, const IpAddress& a) {
  for (const auto& x : addr::list(n.rtnl(), 0, a.family()))
    if (x.prefix.address() == a) return x.index;
  return std::nullopt;
}

// Does device `ifindex` of the namespace `from` knows as `nsid` hold `a`? Asked through from's own socket
// (IFA_TARGET_NETNSID, filtered by the device under strict checking): no namespace switch, no new socket, so a
// bridge's thousand ports cost a thousand small requests.
bool Walker::holds(Ns& from, std::optional<int32_t> nsid, int ifindex, const IpAddress& a) {
  for (const auto& x : addr::list(from.rtnl(), ifindex, a.family(), nsid))
    if (x.prefix.address() == a) return true;
  return false;
}

std::string Walker::sysctl(Ns& n, const std::string& key) { return read_sysctl(key, &n.ns).value_or(""); }

void Walker::hop(Ns& n, const std::string& dev, const std::string& step, const std::string& decision, json detail) {
  if (returning_) detail["direction"] = "return";
  res_.hops.push_back({n.label, dev, step, prefix_ + decision, true, std::move(detail)});
}

void Walker::stop(Ns& n, const std::string& dev, const std::string& step, Stop s) {
  json d = json::object();
  if (returning_) d["direction"] = "return";
  res_.hops.push_back({n.label, dev, step, prefix_ + s.reason, false, d});
  throw s;
}

void Walker::netfilter(Ns& n, const std::string& hook, const Packet& p, const std::string& iif,
                       const std::string& oif, bool bridge_family, const char* code) {
  NfPacket np{p.src, p.dst, ipproto(p.proto, p.dst.is_v6()), p.sport, p.dport, -1, iif, oif, p.reply};
  if (p.proto == Proto::icmp) np.icmp_type = p.dst.is_v6() ? (p.reply ? 129 : 128) : (p.reply ? 0 : 8);
  const std::string what = bridge_family ? "bridge " + hook : hook;
  NfResult r = evaluate(n.ns, hook, np, bridge_family);
  if (r.verdict == NfVerdict::drop)
    stop(n, oif.empty() ? iif : oif, "netfilter",
         {code, fmt::format("nftables {} drops it ({})", what, r.where),
          fmt::format("accept this traffic in {} (or remove the drop)", r.where)});
  if (r.verdict == NfVerdict::unknown)
    hop(n, "", "netfilter", fmt::format("nftables {}: cannot tell ({} in {})", what, r.why, r.where),
        {{"verdict", "cannot tell"}});
  else if (r.any_chain)
    hop(n, "", "netfilter", fmt::format("nftables {} accepts it", what), {{"verdict", "accept"}});
  // The legacy tables' FORWARD chain (iptables-legacy), when that module is loaded.
  if (hook == "forward" && !bridge_family) {
    auto lc = nft::legacy_filter_chain(&n.ns, p.dst.family(), NF_INET_FORWARD);
    if (lc && lc->drops && lc->rules == 0)
      stop(n, oif, "netfilter",
           {code, "iptables-legacy filter FORWARD has policy DROP and no rules", "iptables-legacy -P FORWARD ACCEPT, or accept this traffic"});
    if (lc && lc->drops)
      hop(n, "", "netfilter", fmt::format("iptables-legacy FORWARD policy DROP with {} rules: cannot tell", lc->rules),
          {{"verdict", "cannot tell"}});
  }
}

// A socket that receives the packet in the destination namespace (sock_diag, NETLINK_SOCK_DIAG inet_diag).
void Walker::listener(Ns& n, const Packet& p) {
  if (p.proto == Proto::icmp || p.reply) return;
  nl::Socket s = nl::Socket::in(n.ns, NETLINK_SOCK_DIAG);
  bool found = false;
  std::string where;
  for (int fam : {AF_INET, AF_INET6}) {
    if (p.dst.is_v6() && fam == AF_INET) continue;
    nl::Message m(SOCK_DIAG_BY_FAMILY, 0);
    auto* q = m.put_header<inet_diag_req_v2>();
    q->sdiag_family = static_cast<uint8_t>(fam);
    q->sdiag_protocol = p.proto == Proto::tcp ? IPPROTO_TCP : IPPROTO_UDP;
    q->idiag_states = p.proto == Proto::tcp ? (1u << TCP_LISTEN) : (1u << TCP_CLOSE) | (1u << TCP_ESTABLISHED);
    for (auto& msg : s.dump(m, "cannot list sockets")) {
      const auto* d = msg.header<inet_diag_msg>();
      if (ntohs(d->id.idiag_sport) != p.dport) continue;
      auto at = nl::Attrs::of_message(msg.hdr(), sizeof(inet_diag_msg));
      IpAddress bound = IpAddress::from_bytes(fam, d->id.idiag_src);
      bool v6only = at.u8(INET_DIAG_SKV6ONLY).value_or(0);
      bool any = bound.is_unspecified();
      if (fam == AF_INET6 && p.dst.is_v4()) {  // a dual-stack :: socket takes IPv4 too
        if (!any || v6only) continue;
      } else if (!any && bound != p.dst) {
        continue;
      }
      found = true;
      where = fmt::format("{}:{}", fam == AF_INET6 ? "[" + bound.str() + "]" : bound.str(), p.dport);
    }
  }
  if (!found)
    stop(n, "", "socket",
         {"no-listener", fmt::format("no {} socket listens on port {} for {}", to_string(p.proto), p.dport, p.dst.str()),
          fmt::format("start the service in {} (listening on {} port {})", n.label, to_string(p.proto), p.dport)});
  hop(n, "", "socket", fmt::format("{} socket bound to {} receives it", to_string(p.proto), where));
}

// The checks every device a packet leaves through gets: admin state, carrier, MTU against the size (DF set,
// as `ping -M do` and TCP's path MTU discovery send; IPv6 never fragments on the way).
void Walker::egress(Ns& n, const LinkX& out, const Packet& p, const std::string& what) {
  const auto& l = out.l;
  if (!l.is_up())
    stop(n, l.name, "link", {"link-down", fmt::format("{} {} is down", what, l.name), fmt::format("{} link set {} up", ipn(n.label), l.name)});
  if (!l.has_carrier())
    stop(n, l.name, "link", {"no-carrier", fmt::format("{} {} is up but has no carrier (its peer or lower device is down)", what, l.name),
                             "bring up the other end of " + l.name});
  if (p.size > l.mtu)
    stop(n, l.name, "link", {"mtu", fmt::format("{} bytes do not fit the MTU {} of {} (DF set)", p.size, l.mtu, l.name),
                             fmt::format("send at most {} bytes, or raise the MTU of {} (and of the whole path)", l.mtu, l.name)});
}

std::optional<Walker::Landing> Walker::find_on_bridge(Ns& b, const LinkX& br, const IpAddress& nh) {
  // The destination namespace given: its device holding the address, whose veth peer must be a port here.
  auto check_ns = [&](Ns& d) -> std::optional<Landing> {
    auto dev = local_dev(d, nh);
    if (!dev) return std::nullopt;
    LinkX x = link_of(d, *dev);
    return Landing{&d, *dev, x.l.name};
  };
  if (target_ns_ && nh == target_) {
    Ns& d = adopt(*target_ns_);
    if (auto l = check_ns(d)) return l;
  }
  (void)br;
  for (const auto& q : bridge_ports(b, br.l.index)) {
    if (q.kind != "veth" || !holds(b, q.link_netnsid, q.parent, nh)) continue;
    Ns* peer = by_nsid(b, q.link_netnsid);
    if (peer) return Landing{peer, q.parent, link_of(*peer, q.parent).l.name};
  }
  return std::nullopt;
}

Walker::Landing Walker::bridge_forward(Ns& b, const LinkX& br, const LinkX* in, const IpAddress& nh,
                                       std::optional<MacAddress> mac, const Packet& p, int depth) {
  if (in && in->port_state != BR_STATE_FORWARDING && in->l.is_up())
    stop(b, in->l.name, "bridge",
         {"stp-blocking", fmt::format("port {} of bridge {} is in STP state {}: frames are not forwarded", in->l.name, br.l.name, stp_name(in->port_state)),
          fmt::format("check the STP topology of {} (a loop?), or set the port's state: bridge link set dev {} state 3", br.l.name, in->l.name)});
  // The bridge's own address: the frame is for the bridge device's namespace (a gateway on the bridge).
  bool to_bridge = (mac && br.l.mac && *mac == *br.l.mac);
  if (!to_bridge && !mac) {
    RouteAns lr = route_get(b, p, nh, 0, false);
    to_bridge = !lr.error && lr.type == RTN_LOCAL;
  }
  if (to_bridge) {
    if (br.vlan_filtering) check_vlan(b, br, in, nullptr);
    hop(b, br.l.name, "bridge", fmt::format("frame for the bridge itself: up to {} in {}", br.l.name, b.label));
    if (!br.l.is_up()) stop(b, br.l.name, "link", {"link-down", "bridge " + br.l.name + " is down", fmt::format("{} link set {} up", ipn(b.label), br.l.name)});
    return {&b, br.l.index, br.l.name};
  }
  std::optional<int> port;
  std::optional<Landing> found;
  std::string how;
  if (mac) {
    port = bridge_fdb(b, br.l.index, *mac);
    if (port) how = fmt::format("FDB: {} on port", mac->str());
  }
  if (!port) {
    // No FDB entry (nothing learned yet): the bridge floods; the port that matters is the one behind which the
    // address lives (its veth peer), else a VXLAN port the flood leaves through.
    found = find_on_bridge(b, br, nh);
    if (found) {
      // Its veth peer, if that is a port of this bridge (one get, not the bridge's port list).
      LinkX d = link_of(*found->ns, found->ifindex);
      if (d.l.kind == "veth" && by_nsid(*found->ns, d.l.link_netnsid) == &b)
        if (auto x = link::find(b.rtnl(), d.l.parent); x && x->master == br.l.index && by_nsid(b, x->link_netnsid) == found->ns)
          port = x->index;
      how = "flooded (no FDB entry yet), reaches port";
    }
    if (!port)
      for (const auto& q : bridge_ports(b, br.l.index))
        if (q.kind == "vxlan" && (!in || in->l.index != q.index)) {
          port = q.index;
          how = "flooded (no FDB entry yet), through VXLAN port";
        }
    if (!port)
      stop(b, br.l.name, "bridge",
           {"neighbour-failed", fmt::format("no port of bridge {} leads to {}: nothing on this segment answers ARP/ND for it", br.l.name, nh.str()),
            fmt::format("attach the namespace holding {} to {}", nh.str(), br.l.name)});
  }
  if (*port == br.l.index) return {&b, br.l.index, br.l.name};
  LinkX out = link_of(b, *port);
  // A port that is down is also STP "disabled": the link state is the cause to name.
  if (!out.l.is_up() || !out.l.has_carrier()) egress(b, out, p, "bridge port");
  if (out.port_state != BR_STATE_FORWARDING)
    stop(b, out.l.name, "bridge",
         {"stp-blocking", fmt::format("port {} of bridge {} is in STP state {}", out.l.name, br.l.name, stp_name(out.port_state)),
          fmt::format("check the STP topology of {}, or set the port's state: bridge link set dev {} state 3", br.l.name, out.l.name)});
  if (in && in->l.index == out.l.index && !in->hairpin)
    stop(b, out.l.name, "bridge",
         {"hairpin", fmt::format("the frame would leave port {} it came in through, and hairpin mode is off", out.l.name),
          fmt::format("bridge link set dev {} hairpin on", out.l.name)});
  // The kernel's order (net/bridge/br_forward.c should_deliver): hairpin, STP state, VLAN egress, isolation.
  if (br.vlan_filtering) check_vlan(b, br, in, &out);
  if (in && in->isolated && out.isolated)
    stop(b, out.l.name, "bridge",
         {"port-isolated", fmt::format("ports {} and {} of bridge {} are both isolated: they cannot talk to each other", in->l.name, out.l.name, br.l.name),
          fmt::format("bridge link set dev {} isolated off (or {})", out.l.name, in->l.name)});
  hop(b, br.l.name, "bridge", fmt::format("{} {} (STP forwarding)", how, out.l.name), {{"port", out.l.name}});
  if (in) {
    netfilter(b, "forward", p, in->l.name, out.l.name, true, "netfilter-drop");
    // br_netfilter: bridged IP traffic also traverses the ip/ip6 FORWARD hook of the namespace that owns the
    // bridge, when bridge-nf-call-ip(6)tables is 1 there (per network namespace since Linux 5.3).
    const std::string key = p.dst.is_v6() ? "net.bridge.bridge-nf-call-ip6tables" : "net.bridge.bridge-nf-call-iptables";
    std::string v = sysctl(b, key);
    if (v == "1") {
      hop(b, br.l.name, "netfilter", fmt::format("{} = 1 in {}: bridged packets pass the FORWARD hook", key, b.label));
      netfilter(b, "forward", p, br.l.name, br.l.name, false, "bridge-netfilter-drop");
    }
  }
  egress(b, out, p, "bridge port");
  return l2(b, out, nh, mac, p, depth + 1);
}

Walker::Landing Walker::l2(Ns& n, const LinkX& out, const IpAddress& nh, std::optional<MacAddress> mac, const Packet& p, int depth) {
  if (depth > 24) throw Error("the path is longer than ctnet follows (a loop?)");
  const auto& k = out.l.kind;
  if (k == "veth") {
    Ns* peer_ns = by_nsid(n, out.l.link_netnsid);
    if (!peer_ns)
      stop(n, out.l.name, "veth", {"unknown", fmt::format("the peer of {} lives in a namespace ctnet cannot open (nsid {})", out.l.name, out.l.link_netnsid.value_or(-1)),
                                   "name the namespace (ip netns attach) so it can be followed"});
    LinkX peer = link_of(*peer_ns, out.l.parent);
    hop(n, out.l.name, "veth", fmt::format("veth peer {} in {}", peer.l.name, peer_ns->label), {{"peer", peer.l.name}, {"peer_ns", peer_ns->label}});
    if (!peer.l.is_up())
      stop(*peer_ns, peer.l.name, "link", {"link-down", fmt::format("veth {} is down", peer.l.name), fmt::format("{} link set {} up", ipn(peer_ns->label), peer.l.name)});
    if (peer.l.slave_kind == "bridge") {
      LinkX br = link_of(*peer_ns, peer.l.master);
      return bridge_forward(*peer_ns, br, &peer, nh, mac, p, depth + 1);
    }
    if (p.size > peer.l.mtu)
      stop(*peer_ns, peer.l.name, "link", {"mtu", fmt::format("{} bytes exceed the MTU {} of the receiving end {}", p.size, peer.l.mtu, peer.l.name),
                                            "give both ends of the veth the same MTU"});
    return {peer_ns, peer.l.index, peer.l.name};
  }
  if (k == "bridge") return bridge_forward(n, out, nullptr, nh, mac, p, depth + 1);
  if (k == "macvlan") {
    Ns* pns = by_nsid(n, out.l.link_netnsid);
    if (!pns) stop(n, out.l.name, "macvlan", {"unknown", "the parent of " + out.l.name + " lives in a namespace ctnet cannot open", ""});
    LinkX parent = link_of(*pns, out.l.parent);
    const char* modes[] = {"?", "private", "vepa", "?", "bridge", "?", "?", "?", "passthru"};
    std::string mode = out.macvlan_mode < 9 ? modes[out.macvlan_mode] : "source";
    hop(n, out.l.name, "macvlan", fmt::format("macvlan ({} mode) on {} in {}", mode, parent.l.name, pns->label));
    // The parent's own namespace: frames from a child never loop back to the parent (drivers/net/macvlan.c).
    if (auto r = route_get(*pns, p, nh, 0, false); !r.error && r.type == RTN_LOCAL)
      stop(n, out.l.name, "macvlan",
           {"macvlan-host", fmt::format("{} is local to {} ({}'s namespace): a macvlan child cannot reach its parent's host", nh.str(), pns->label, parent.l.name),
            fmt::format("add a host-side macvlan: ctnet macvlan shim --parent {} --addr CIDR", parent.l.name)});
    // A sibling on the same parent: switched inside the driver only when both are in bridge mode.
    if (target_ns_ && nh == target_) {
      Ns& d = adopt(*target_ns_);
      if (auto dev = local_dev(d, nh)) {
        LinkX x = link_of(d, *dev);
        if (x.l.kind == "macvlan" && by_nsid(d, x.l.link_netnsid) == pns && x.l.parent == parent.l.index) {
          if (out.macvlan_mode != MACVLAN_MODE_BRIDGE || x.macvlan_mode != MACVLAN_MODE_BRIDGE)
            stop(n, out.l.name, "macvlan",
                 {"macvlan-mode", fmt::format("{} and {} share parent {}, but only two bridge-mode children are switched to each other", out.l.name, x.l.name, parent.l.name),
                  "use mode bridge for both (vepa needs a hairpinning switch; private never allows it)"});
          if (!x.l.is_up()) stop(d, x.l.name, "link", {"link-down", "macvlan " + x.l.name + " is down", fmt::format("{} link set {} up", ipn(d.label), x.l.name)});
          hop(*pns, parent.l.name, "macvlan", fmt::format("switched to sibling {} in {}", x.l.name, d.label));
          return {&d, x.l.index, x.l.name};
        }
      }
    }
    egress(*pns, parent, p, "macvlan parent");
    return l2(*pns, parent, nh, mac, p, depth + 1);
  }
  if (k == "vxlan") {
    const MacAddress key = mac.value_or(MacAddress{});  // unknown: flooded to the default (all-zeros) entry
    auto remote = vxlan_fdb(n, out.l.index, key);
    if (!remote)
      stop(n, out.l.name, "vxlan",
           {"vxlan-no-fdb", fmt::format("no FDB entry on {} for {} (nor a default one): the frame has no remote VTEP", out.l.name, key.str()),
            fmt::format("bridge fdb append {} dev {} dst REMOTE_VTEP", key.str(), out.l.name)});
    hop(n, out.l.name, "vxlan", fmt::format("VNI {}: FDB {} -> VTEP {}", out.vni, key.str(), remote->str()), {{"vtep", remote->str()}});
    // The encapsulated packet: UDP to the VTEP, walked like any other.
    Packet u;
    u.dst = *remote;
    u.proto = Proto::udp;
    u.dport = out.vxport;
    u.size = p.size + (remote->is_v6() ? 70 : 50);
    if (out.vxlocal) u.src = *out.vxlocal, u.src_known = true;
    std::string saved = prefix_;
    prefix_ += "underlay: ";
    size_t before = res_.hops.size();
    walk_l3(&n, u, 0, "", depth + 1);
    prefix_ = saved;
    (void)before;
    Ns* r = delivered_;  // the VTEP's namespace
    nl::Message m(RTM_GETLINK, 0);
    m.put_header<ifinfomsg>()->ifi_family = AF_UNSPEC;
    m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    for (auto& msg : r->rtnl().dump(m, "cannot list links")) {
      auto l = link::parse(msg);
      if (l.kind != "vxlan") continue;
      LinkX x = link_of(*r, l.index);
      if (x.vni != out.vni || x.vxport != out.vxport) continue;
      hop(*r, x.l.name, "vxlan", fmt::format("decapsulated on {} (VNI {})", x.l.name, x.vni));
      if (!x.l.is_up()) stop(*r, x.l.name, "link", {"link-down", "vxlan " + x.l.name + " is down", fmt::format("{} link set {} up", ipn(r->label), x.l.name)});
      if (x.l.slave_kind == "bridge") return bridge_forward(*r, link_of(*r, x.l.master), &x, nh, mac, p, depth + 1);
      return {r, x.l.index, x.l.name};
    }
    stop(*r, "", "vxlan", {"unknown", fmt::format("no VXLAN device with VNI {} port {} in {}", out.vni, out.vxport, r->label), "create the remote VTEP's device"});
  }
  stop(n, out.l.name, "link", {"unknown", fmt::format("cannot follow a frame out of {} ({} device)", out.l.name, k.empty() ? "physical" : k),
                               "check the far end by hand"});
}

void Walker::walk_l3(Ns* n, Packet p, int iif, std::string iifname, int depth) {
  for (int hops = 0;; ++hops) {
    if (hops > 32 || depth > 24) throw Error("the path is longer than ctnet follows (a routing loop?)");
    if (!returning_ && prefix_.empty()) res_.path_ns.push_back(n->label);
    const bool v6 = p.dst.is_v6();
    RouteAns local = route_get(*n, p, p.dst, 0, false);
    const bool is_local = !local.error && local.type == RTN_LOCAL;
    if (iif) {
      // Arrived from iifname. Reverse-path filter (IPv4): the route back to the source must exist (loose) and
      // leave through the interface it came in (strict); the kernel uses the larger of all and the device.
      if (!v6) {
        int rp = std::max(std::atoi(sysctl(*n, "net/ipv4/conf/all/rp_filter").c_str()),
                          std::atoi(sysctl(*n, "net/ipv4/conf/" + iifname + "/rp_filter").c_str()));
        if (rp) {
          Packet back = p;
          back.dst = p.src;
          back.src = p.dst;
          RouteAns b = route_get(*n, back, p.src, 0, false);
          bool fails = b.error || (rp == 1 && b.oif != iif);
          if (fails)
            stop(*n, iifname, "forward",
                 {"rp-filter",
                  b.error ? fmt::format("rp_filter {} on {}: no route back to the source {}", rp, iifname, p.src.str())
                          : fmt::format("rp_filter 1 (strict) on {}: the route back to {} leaves through another interface", iifname, p.src.str()),
                  fmt::format("add the return route to {} via {}, or set net.ipv4.conf.{}.rp_filter=2 (loose) in {}", p.src.str(), iifname, iifname, n->label)});
          hop(*n, iifname, "forward", fmt::format("rp_filter {}: route back to {} is fine", rp, p.src.str()));
        }
      }
      if (is_local) {
        netfilter(*n, "input", p, iifname, "", false, "netfilter-drop");
        break;
      }
      if (p.dst == req_.dst && req_.dst_ns && n->ns.same_as(*req_.dst_ns) && !returning_ && prefix_.empty())
        stop(*n, iifname, "local", {"not-local", fmt::format("{} is not local in {}", p.dst.str(), n->label), "assign the address in " + n->label});
      std::string fwd = v6 ? sysctl(*n, "net/ipv6/conf/all/forwarding") : sysctl(*n, "net/ipv4/conf/" + iifname + "/forwarding");
      if (fwd != "1")
        stop(*n, iifname, "forward",
             {"forwarding-off", fmt::format("{} is not local in {} and forwarding is off on {}", p.dst.str(), n->label, iifname),
              fmt::format("set {} = 1 in {}", v6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.conf." + iifname + ".forwarding (or net.ipv4.ip_forward)", n->label)});
    }
    if (is_local && !iif) {
      hop(*n, "lo", "route", fmt::format("{} is local in {}", p.dst.str(), n->label));
      netfilter(*n, "output", p, "", "lo", false, "netfilter-drop");
      break;
    }
    RouteAns r = route_get(*n, p, p.dst, iif, iif != 0);
    if (r.error || (r.type != RTN_UNICAST && r.type != RTN_LOCAL)) {
      std::string why = r.error ? std::strerror(r.error) : fmt::format("route type {}", r.type == RTN_UNREACHABLE ? "unreachable" : r.type == RTN_BLACKHOLE ? "blackhole" : r.type == RTN_PROHIBIT ? "prohibit" : std::to_string(r.type));
      if (!r.text.empty()) why += " (" + r.text + ")";
      stop(*n, iifname, "route",
           {"no-route", fmt::format("no route to {} in {}: {}", p.dst.str(), n->label, why),
            fmt::format("{} route add {} via GATEWAY (or a default route)", ipn(n->label), p.dst.str())});
    }
    if (!p.src_known && r.prefsrc) p.src = *r.prefsrc, p.src_known = true;
    if (!returning_ && prefix_.empty() && !src_ && p.src_known) src_ = p.src;
    if (!p.size) p.size = min_size(p);
    LinkX out = link_of(*n, r.oif);
    json d{{"oif", out.l.name}, {"table", r.table}};
    if (r.gateway) d["via"] = r.gateway->str();
    if (p.src_known) d["src"] = p.src.str();
    hop(*n, out.l.name, "route",
        fmt::format("{}{} dev {}{} table {}", p.dst.str(), r.gateway ? " via " + r.gateway->str() : "", out.l.name,
                    p.src_known ? " src " + p.src.str() : "", r.table == RT_TABLE_MAIN ? "main" : std::to_string(r.table)),
        d);
    if (iif) netfilter(*n, "forward", p, iifname, out.l.name, false, "netfilter-drop");
    else netfilter(*n, "output", p, "", out.l.name, false, "netfilter-drop");
    egress(*n, out, p, "egress");
    if (r.mtu && p.size > r.mtu)
      stop(*n, out.l.name, "route", {"mtu", fmt::format("{} bytes exceed the route's MTU {}", p.size, r.mtu), "lower the size or raise the route's mtu"});
    const IpAddress nh = r.gateway.value_or(p.dst);
    std::optional<MacAddress> mac;
    if (out.l.kind == "vxlan" || !(out.l.flags & IFF_NOARP)) {
      auto ne = neigh_get(*n, out.l.index, nh);
      if (ne && ne->first == NUD_FAILED)
        stop(*n, out.l.name, "neighbour",
             {"neighbour-failed", fmt::format("neighbour {} on {} is FAILED: nobody answered ARP/ND", nh.str(), out.l.name),
              fmt::format("check that {} is up and on the segment of {} ({} neigh flush dev {} to retry)", nh.str(), out.l.name, ipn(n->label), out.l.name)});
      if (ne && ne->second) mac = ne->second;
      hop(*n, out.l.name, "neighbour",
          ne ? fmt::format("{} is {}{}", nh.str(), ne->second ? ne->second->str() + " " : "", nud_name(ne->first))
             : fmt::format("no neighbour entry for {} yet (resolved by the first packet)", nh.str()),
          {{"state", ne ? nud_name(ne->first) : "NONE"}, {"nexthop", nh.str()}, {"ifindex", out.l.index}});
    }
    // Towards a macvlan child of the very device we leave through: the parent never delivers to its children.
    if (target_ns_ && nh == target_) {
      Ns& dn = adopt(*target_ns_);
      if (auto dev = local_dev(dn, nh)) {
        LinkX x = link_of(dn, *dev);
        if (x.l.kind == "macvlan" && x.l.parent == out.l.index && by_nsid(dn, x.l.link_netnsid) == n)
          stop(*n, out.l.name, "macvlan",
               {"macvlan-host", fmt::format("{} is on macvlan {} whose parent is {}: a parent never delivers to its own macvlan children", nh.str(), x.l.name, out.l.name),
                fmt::format("add a host-side macvlan: ctnet macvlan shim --parent {} --addr CIDR", out.l.name)});
      }
    }
    Landing land = l2(*n, out, nh, mac, p, depth);
    // The frame arrives at L3 in land.ns: ARP/ND for the next hop must be answered there.
    if (nh != p.dst || !r.gateway) {
      RouteAns there = route_get(*land.ns, p, nh, 0, false);
      if (there.error || there.type != RTN_LOCAL) {
        if (nh == p.dst && req_.dst_ns && !land.ns->ns.same_as(*req_.dst_ns) && !returning_)
          stop(*land.ns, land.ifname, "local", {"not-local", fmt::format("{} is not local in {}, where the frame lands", p.dst.str(), land.ns->label),
                                               "assign the address in the namespace that should hold it"});
        // Assigned but not usable: IPv6 keeps an address tentative (no local route) during DAD and while its
        // link has no carrier (net/ipv6/addrconf.c addrconf_link_ready).
        if (local_dev(*land.ns, nh))
          stop(*land.ns, land.ifname, "local", {"not-local", fmt::format("{} is assigned in {} but not usable yet (tentative: duplicate address detection, or its link has no carrier)", nh.str(), land.ns->label),
                                               "wait for DAD to finish (or add the address with nodad), and check the link's carrier"});
        if (nh == p.dst && !returning_ && prefix_.empty())
          stop(*land.ns, land.ifname, "local", {"not-local", fmt::format("{} is not local in {} (on the segment of {}), and nothing there answers ARP/ND for it", p.dst.str(), land.ns->label, out.l.name),
                                               "assign the address, or route it elsewhere"});
        stop(*land.ns, land.ifname, "neighbour",
             {"neighbour-failed", fmt::format("next hop {} is not an address of {}: ARP/ND for it is unanswered", nh.str(), land.ns->label),
              "fix the gateway of the route, or assign it"});
      }
    } else {
      RouteAns there = route_get(*land.ns, p, nh, 0, false);
      if (there.error || there.type != RTN_LOCAL)
        stop(*land.ns, land.ifname, "neighbour",
             {"neighbour-failed", fmt::format("gateway {} is not an address of {}: ARP/ND for it is unanswered", nh.str(), land.ns->label),
              "fix the gateway of the route, or assign it"});
    }
    n = land.ns;
    iif = land.ifindex;
    iifname = land.ifname;
  }
  // Delivered locally in n.
  if (req_.dst_ns && !returning_ && prefix_.empty() && !n->ns.same_as(*req_.dst_ns))
    stop(*n, "", "local", {"not-local", fmt::format("{} is delivered in {}, not in the namespace asked for", p.dst.str(), n->label),
                           "the address is assigned twice, or in the wrong namespace"});
  hop(*n, iifname, "local", fmt::format("{} is local: delivered in {}", p.dst.str(), n->label));
  delivered_ = n;
  if (prefix_.empty() && !returning_) listener(*n, p);
}

Result Walker::run() {
  Ns& src = ns_of(NetNs::open_path(fmt::format("/proc/self/fd/{}", req_.src.fd())), req_.src_label);
  Packet p;
  p.dst = req_.dst;
  p.proto = req_.proto;
  p.dport = req_.port;
  p.sport = req_.sport;
  p.size = req_.size;
  if (p.size && p.size < min_size(p))
    throw InvalidInput("--size", fmt::format("{} are fewer than the headers of {} packet ({})", plural(p.size, "byte"), article(to_string(p.proto)), min_size(p)));
  if (req_.dst_ns) target_ns_ = &*req_.dst_ns, target_ = req_.dst;
  try {
    walk_l3(&src, p, 0, "", 0);
    if (req_.return_path) {
      // The reply: from where it was delivered back to the source, as established traffic.
      Ns* at = delivered_;
      if (at && src_ && !at->ns.same_as(src.ns)) {
        Packet back;
        back.dst = *src_;
        back.src = req_.dst;
        back.src_known = true;
        back.proto = p.proto;
        back.sport = p.dport;
        back.dport = p.sport;
        back.reply = true;
        returning_ = true;
        prefix_ = "reply: ";
        target_ns_ = &req_.src;
        target_ = back.dst;
        walk_l3(at, back, 0, "", 0);
        returning_ = false;
        prefix_.clear();
      }
    }
    res_.reaches = true;
  } catch (const Stop& s) {
    res_.reaches = false;
    res_.code = s.code;
    res_.reason = s.reason;
    res_.fix = s.fix;
    res_.stop = static_cast<int>(res_.hops.size()) - 1;
  }
  res_.source = src_;
  for (auto& s : spaces_) {
    res_.spaces.push_back(std::make_shared<NetNs>(NetNs::open_path(fmt::format("/proc/self/fd/{}", s->ns.fd()))));
    res_.space_labels.push_back(s->label);
  }
  return res_;
}

}  // namespace

Result walk(const Request& r) { return Walker(r).run(); }

std::string verdict_line(const Result& r, const IpAddress& dst) {
  if (r.reaches) return "reaches " + dst.str();
  const Hop& h = r.hops.at(static_cast<size_t>(r.stop));
  return fmt::format("stops at {}{}: {} — fix: {}", h.ns, h.dev.empty() ? "" : "/" + h.dev, r.reason, r.fix);
}

std::string render(const Result& r, const IpAddress& dst) {
  std::string out;
  size_t nsw = 4, devw = 3;
  for (auto& h : r.hops) nsw = std::max(nsw, h.ns.size()), devw = std::max(devw, h.dev.size());
  int i = 0;
  for (auto& h : r.hops)
    out += fmt::format("{:>3}  {:<{}}  {:<{}}  {:<10} {}\n", ++i, h.ns, nsw, h.dev.empty() ? "-" : h.dev, devw, h.step, h.decision);
  out += verdict_line(r, dst) + "\n";
  return out;
}

json to_json(const Result& r) {
  auto hop_json = [](const Hop& h) {
    json j{{"namespace", h.ns}, {"device", h.dev}, {"step", h.step}, {"decision", h.decision}, {"ok", h.ok}};
    if (!h.detail.empty()) j["detail"] = h.detail;
    return j;
  };
  json hops = json::array();
  for (auto& h : r.hops) hops.push_back(hop_json(h));
  json j{{"verdict", r.reaches ? "reaches" : "stops"}, {"hops", hops}};
  j["reason"] = r.reaches ? json(nullptr) : json(r.code);
  j["hop"] = r.reaches ? json(nullptr) : hop_json(r.hops.at(static_cast<size_t>(r.stop)));
  j["fix"] = r.reaches ? json(nullptr) : json(r.fix);
  if (!r.reaches) j["message"] = r.reason;
  return j;
}

}  // namespace ctnet::explain
