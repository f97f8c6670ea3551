#include "ops/doctor.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "link/link.h"
#include "nft/legacy.h"
#include "netlink/socket.h"
#include "ns/ns_socket.h"
#include "ns/sysctl.h"
#include "ops/inventory.h"
#include "ops/subif.h"
#include "util/error.h"

namespace ctnet {

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::ok: return "ok";
    case Severity::info: return "info";
    case Severity::warn: return "warn";
    case Severity::fail: return "fail";
  }
  return "?";
}

namespace {
std::string where(const std::string& ns) { return ns.empty() ? "host" : "namespace '" + ns + "'"; }

bool in_scope(const DoctorScope& sc, const std::string& name) {
  if (sc.all) return true;
  if (name.empty()) return sc.host;
  return std::find(sc.names.begin(), sc.names.end(), name) != sc.names.end();
}

// Where --fix may act: inside an explicit scope; without one (everything is read), in the host only, so that no
// namespace is changed that was not named.
bool may_fix(const DoctorOptions& o, const std::string& name) { return o.fix && (!o.scope.all || name.empty()); }

struct ForwardChain {
  std::string family, table, name;
  bool drops = false;  // policy drop
};

// Base chains on the forward hook of one namespace, read from nf_tables over netlink (NFT_MSG_GETCHAIN dump).
// On Debian 12 `iptables` is iptables-nft, so its FORWARD chain is among them.
std::vector<ForwardChain> forward_chains(const NetNs& ns) {
  std::vector<ForwardChain> out;
  nl::Socket s = nl::Socket::in(ns, NETLINK_NETFILTER);
  nl::Message m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN, 0);
  auto* g = m.put_header<nfgenmsg>();
  g->nfgen_family = NFPROTO_UNSPEC;
  g->version = NFNETLINK_V0;
  for (auto& msg : s.dump(m, "cannot list nftables chains")) {
    const auto* gm = msg.header<nfgenmsg>();
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(nfgenmsg));
    auto hook = nl::Attrs::of_nest(a.get(NFTA_CHAIN_HOOK));
    auto hooknum = hook.u32(NFTA_HOOK_HOOKNUM);
    if (!hooknum || ntohl(*hooknum) != NF_INET_FORWARD) continue;
    if (gm->nfgen_family != NFPROTO_IPV4 && gm->nfgen_family != NFPROTO_IPV6 && gm->nfgen_family != NFPROTO_INET &&
        gm->nfgen_family != NFPROTO_BRIDGE)
      continue;
    const char* fam = gm->nfgen_family == NFPROTO_IPV4   ? "ip"
                      : gm->nfgen_family == NFPROTO_IPV6 ? "ip6"
                      : gm->nfgen_family == NFPROTO_INET ? "inet"
                                                         : "bridge";
    auto policy = a.u32(NFTA_CHAIN_POLICY);  // big-endian verdict
    out.push_back({fam, a.str(NFTA_CHAIN_TABLE).value_or("?"), a.str(NFTA_CHAIN_NAME).value_or("?"),
                   policy && ntohl(*policy) == NF_DROP});
  }
  return out;
}

// One namespace in scope that holds a bridge: its bridge-nf-call-* sysctls (per namespace on this kernel) and
// the FORWARD chains bridged frames then traverse: nftables' and, when its module is loaded, iptables-legacy's.
void check_bridge_netfilter_in(const DoctorOptions& o, const std::string& name, const NetNs& ns,
                               std::vector<Finding>& out, std::vector<std::string>& persist) {
  const std::string w = where(name);
  std::vector<ForwardChain> dropping;
  try {
    for (auto& c : forward_chains(ns))
      if (c.drops) dropping.push_back(c);
  } catch (const Error& e) {
    out.push_back({"forward-policy", Severity::info, fmt::format("cannot read the nftables forward chains in {}: {}", w, e.what()), ""});
  }
  for (int fam : {AF_INET, AF_INET6}) {
    auto lc = nft::legacy_filter_chain(&ns, fam, NF_INET_FORWARD);
    if (lc && lc->drops) dropping.push_back({fam == AF_INET ? "ip" : "ip6", "filter (iptables-legacy)", "FORWARD", true});
  }
  for (auto& c : dropping)
    out.push_back({"forward-policy", Severity::info,
                   fmt::format("chain {} {} {} in {} drops forwarded packets by default (policy drop)", c.family, c.table, c.name, w),
                   "routed container traffic needs an accept rule there; `ctnet explain SRC DST` shows which path it stops"});
  for (const char* table : {"iptables", "ip6tables", "arptables"}) {
    const std::string key = fmt::format("net.bridge.bridge-nf-call-{}", table);
    auto v = read_sysctl(key, &ns);
    if (!v) continue;
    Finding f{fmt::format("bridge-nf-call-{}", table), Severity::ok, fmt::format("{} = {} in {}", key, *v, w), ""};
    if (*v == "1") {
      f.severity = Severity::warn;
      f.message = fmt::format(
          "{} = 1 in {}: {} crossing its bridges go through {}' FORWARD chain there; a DROP policy or rule (Docker "
          "installs one) silently breaks bridged containers",
          key, w, std::string_view(table) == "arptables" ? "ARP packets" : "frames", table);
      f.remedy = fmt::format("set {} = 0 in {} (the setting is per network namespace: only this one's bridges are affected)", key, w);
      // With a dropping FORWARD chain of the same family the trap is not a risk but a certainty.
      std::string fam = std::string_view(table) == "ip6tables" ? "ip6" : "ip";
      for (auto& c : dropping)
        if (std::string_view(table) != "arptables" && (c.family == fam || c.family == "inet")) {
          f.severity = Severity::fail;
          f.message += fmt::format(" — and chain {} {} {} has policy drop: bridged traffic between containers IS "
                                   "being dropped unless a rule accepts it",
                                   c.family, c.table, c.name);
        }
      if (may_fix(o, name)) {
        write_sysctl(key, "0", &ns);
        f.fixed = true;
        // Only the machine's own namespace is configured by /etc/sysctl.d at boot.
        if (name.empty()) persist.push_back(key + " = 0");
      }
    }
    out.push_back(f);
  }
}

void check_forwarding(std::vector<Finding>& out) {
  auto fwd = read_sysctl("net.ipv4.ip_forward");
  if (fwd == "0")
    out.push_back({"ip_forward", Severity::info,
                   "net.ipv4.ip_forward = 0: namespaces on one bridge reach each other, but traffic routed through "
                   "this namespace (a gateway, NAT to the outside) is not forwarded",
                   "set net.ipv4.ip_forward = 1 where this namespace must route"});
  else if (fwd)
    out.push_back({"ip_forward", Severity::ok, "net.ipv4.ip_forward = 1", ""});
  auto rp = read_sysctl("net.ipv4.conf.all.rp_filter");
  if (rp == "1")
    out.push_back({"rp_filter", Severity::info,
                   "net.ipv4.conf.all.rp_filter = 1 (strict): replies that arrive on another interface than the "
                   "route back would use are dropped (asymmetric routes between containers)",
                   "use loose mode (2) on the interfaces that see asymmetric traffic"});
}

void check_links(const DoctorOptions& o, std::vector<Finding>& out, std::vector<std::string>& persist) {
  auto spaces = take_inventory();
  // L2 segments: a bridge with its ports, each veth with its peer (union-find over "ns/ifname").
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> root = [&](const std::string& k) -> std::string {
    auto it = parent.find(k);
    if (it == parent.end() || it->second == k) return k;
    return it->second = root(it->second);
  };
  auto join = [&](const std::string& a, const std::string& b) { parent[root(a)] = root(b); };
  auto key = [](const std::string& ns, const std::string& ifname) { return ns + "/" + ifname; };
  for (auto& sp : spaces)
    for (auto& lv : sp.links) {
      if (!lv.master_name.empty()) join(key(sp.name, lv.link.name), key(sp.name, lv.master_name));
      if (lv.peer) join(key(sp.name, lv.link.name), key(lv.peer->ns, lv.peer->ifname));
    }
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> holders;  // (segment, address) -> where
  bool bridged_checked_host = false;
  for (auto& sp : spaces) {
    if (!in_scope(o.scope, sp.name)) continue;
    std::map<int, std::vector<const LinkView*>> ports;
    for (auto& lv : sp.links)
      if (lv.link.master) ports[lv.link.master].push_back(&lv);
    bool has_bridge = false;
    for (auto& lv : sp.links) {
      const auto& l = lv.link;
      if (l.kind == "bridge") {
        has_bridge = true;
        auto& p = ports[l.index];
        if (p.empty())
          out.push_back({"bridge-no-ports", Severity::warn,
                         fmt::format("bridge {} in {} has no ports: nothing is joined through it", l.name, where(sp.name)),
                         "attach a namespace (ctnet attach NS --bridge " + l.name + ") or delete the bridge"});
        for (auto* port : p)
          if (port->link.mtu != l.mtu)
            out.push_back({"mtu-mismatch", Severity::warn,
                           fmt::format("bridge {} (MTU {}) has port {} with MTU {} in {}: larger frames are dropped "
                                       "silently",
                                       l.name, l.mtu, port->link.name, port->link.mtu, where(sp.name)),
                           "give the bridge and all its ports (and the container ends) the same MTU"});
      }
      if (l.kind == "veth" && !l.is_up()) {
        Finding f{"veth-down", Severity::warn,
                  fmt::format("veth {} in {} is down{}", l.name, where(sp.name),
                              lv.peer ? fmt::format(" (its peer is {} in {})", lv.peer->ifname, where(lv.peer->ns)) : ""),
                  "bring it up (new links start down)"};
        if (may_fix(o, sp.name)) {
          NsSocket s = sp.name.empty() ? NsSocket::current() : NsSocket::named(sp.name);
          link::change(s.rtnl, l.index, {.up = true}, "cannot bring up " + l.name);
          f.fixed = true;
        }
        out.push_back(f);
      }
      for (auto& a : lv.addresses) {
        const auto& ip = a.address();
        if (l.name == "lo" || (ip.is_v4() && ip.data()[0] == 127)) continue;
        if (ip.is_v6() && ip.data()[0] == 0xfe && (ip.data()[1] & 0xc0) == 0x80) continue;  // link-local
        holders[{root(key(sp.name, l.name)), ip.str()}].push_back(fmt::format("{} in {}", l.name, where(sp.name)));
      }
    }
    if (has_bridge) {
      if (::access("/proc/sys/net/bridge", F_OK) != 0) {
        if (!bridged_checked_host)
          out.push_back({"br_netfilter", Severity::ok, "br_netfilter is not loaded: bridged frames do not pass through iptables", ""});
        bridged_checked_host = true;
        continue;
      }
      NetNs ns = sp.name.empty() ? NetNs::current() : NetNs::open_named(sp.name);
      check_bridge_netfilter_in(o, sp.name, ns, out, persist);
    }
  }
  for (auto& [k, who] : holders)
    if (who.size() > 1) {
      std::string list;
      for (auto& w : who) list += (list.empty() ? "" : ", ") + w;
      out.push_back({"duplicate-address", Severity::fail,
                     fmt::format("address {} is assigned {} times on one L2 segment: {}", k.second, who.size(), list),
                     "give each interface its own address (ARP answers will flip between them)"});
    }
}
// A macvlan child cannot talk to its own parent: frames from the parent never loop back into its children
// (drivers/net/macvlan.c). The usual fix is a host-side macvlan ("shim") on the same parent.
void check_macvlan(std::vector<Finding>& out) {
  NsSocket host = NsSocket::current();
  for (auto& p : ops::macvlan_parents(host)) {
    if (p.host_reaches_children()) continue;
    std::string kids;
    for (auto& c : p.children) kids += (kids.empty() ? "" : ", ") + c;
    out.push_back({"macvlan-host-unreachable", Severity::info,
                   fmt::format("the host cannot reach the macvlan children of {} ({}) through {} itself", p.parent, kids, p.parent),
                   fmt::format("add a host-side macvlan: ctnet macvlan shim --parent {} --addr CIDR", p.parent)});
  }
}
}  // namespace

std::vector<Finding> run_doctor(const DoctorOptions& o) {
  std::vector<Finding> out;
  std::vector<std::string> persist;
  if (o.scope.host) check_forwarding(out);
  check_links(o, out, persist);
  if (o.scope.host) check_macvlan(out);
  if (o.fix && o.persist && !persist.empty()) {
    std::ofstream f(o.sysctl_d);
    f << "# written by `ctnet doctor --fix --persist`\n";
    for (auto& line : persist) f << line << "\n";
    if (!f) throw Error("cannot write " + o.sysctl_d, errno);
    out.push_back({"persist", Severity::info, "wrote " + o.sysctl_d,
                   "note: net.bridge.* keys apply only once br_netfilter is loaded; list br_netfilter in "
                   "/etc/modules-load.d so the file takes effect at boot"});
  }
  return out;
}

bool doctor_failed(const std::vector<Finding>& findings) {
  for (auto& f : findings)
    if (f.severity == Severity::fail && !f.fixed) return true;
  return false;
}

}  // namespace ctnet
