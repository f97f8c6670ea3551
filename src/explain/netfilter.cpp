#include "explain/netfilter.h"

#include <netinet/in.h>  // before any linux/ header (its struct in_addr is glibc's)
#include <arpa/inet.h>

#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <map>
#include <optional>

#include "netlink/socket.h"
#include "nft/nft.h"
#include "util/error.h"

namespace ctnet::explain {

using nlohmann::json;

namespace {

// Does the namespace hold any nftables table? One small netlink dump, so namespaces without a firewall (most
// of a lab) never pay for libnftables.
bool has_tables(const NetNs& ns) {
  std::optional<nl::Socket> sock;
  try {
    sock.emplace(nl::Socket::in(ns, NETLINK_NETFILTER));
  } catch (const Error& e) {
    if (e.errnum() == EPROTONOSUPPORT) return false;  // nfnetlink not loaded: no table can exist
    throw;
  }
  nl::Socket& s = *sock;
  nl::Message m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, 0);
  auto* g = m.put_header<nfgenmsg>();
  g->nfgen_family = NFPROTO_UNSPEC;
  g->version = NFNETLINK_V0;
  return !s.dump(m, "cannot list nftables tables").empty();
}

json ruleset(const NetNs& ns) {
  NsGuard g(ns);  // libnftables acts in the calling thread's namespace
  return nft::list_json("ruleset");
}

const char* icmp_name(int type, bool v6) {
  if (v6) return type == 128 ? "echo-request" : type == 129 ? "echo-reply" : "";
  return type == 8 ? "echo-request" : type == 0 ? "echo-reply" : "";
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "ipv6-icmp";
  }
  return std::to_string(p);
}

struct Unknown {
  std::string why;
};

// A packet field as a JSON value (string or number); nullopt: the field does not exist for this packet (a
// `tcp dport` match on a UDP packet does not match).
std::optional<json> field(const json& left, const NfPacket& p) {
  const bool v6 = p.dst.is_v6();
  if (left.contains("payload")) {
    const auto& pl = left["payload"];
    std::string proto = pl.value("protocol", ""), f = pl.value("field", "");
    if (proto == "ip" || proto == "ip6") {
      if ((proto == "ip6") != v6) return std::nullopt;
      if (f == "saddr") return p.src.str();
      if (f == "daddr") return p.dst.str();
      if (f == "protocol" || f == "nexthdr") return proto_name(p.l4proto);
    } else if (proto == "tcp" || proto == "udp") {
      if (proto_name(p.l4proto) != proto) return std::nullopt;
      if (f == "dport" && p.dport) return p.dport;
      if (f == "sport" && p.sport) return p.sport;
      if (f == "sport" || f == "dport") throw Unknown{"the source port of the packet is not known"};
    } else if (proto == "icmp" || proto == "icmpv6") {
      if ((proto == "icmpv6") != v6 || (p.l4proto != IPPROTO_ICMP && p.l4proto != IPPROTO_ICMPV6)) return std::nullopt;
      if (f == "type") return std::string(icmp_name(p.icmp_type, v6));
    }
    throw Unknown{fmt::format("a match on {} {}", proto, f)};
  }
  if (left.contains("meta")) {
    std::string k = left["meta"].value("key", "");
    if (k == "l4proto") return proto_name(p.l4proto);
    if (k == "nfproto") return std::string(v6 ? "ipv6" : "ipv4");
    if (k == "iifname") return p.iif;
    if (k == "oifname") return p.oif;
    throw Unknown{"a match on meta " + k};
  }
  if (left.contains("ct")) {
    std::string k = left["ct"].value("key", "");
    if (k == "state") return std::string(p.reply ? "established" : "new");
    throw Unknown{"a match on ct " + k};
  }
  throw Unknown{"a match on " + left.dump()};
}

bool equal(const json& have, const json& want) {
  if (want.is_string() && have.is_string()) {
    auto a = IpAddress::try_parse(have.get<std::string>()), b = IpAddress::try_parse(want.get<std::string>());
    if (a && b) return *a == *b;
    // nft lists l4proto by name; a wildcard interface name ends in '*'.
    const auto& w = want.get_ref<const std::string&>();
    if (w.ends_with('*')) return have.get<std::string>().starts_with(w.substr(0, w.size() - 1));
    return have == want;
  }
  if (want.is_number() && have.is_number()) return have.get<int64_t>() == want.get<int64_t>();
  if (want.is_object() && want.contains("prefix")) {
    auto a = IpAddress::try_parse(have.is_string() ? have.get<std::string>() : "");
    auto net = Prefix::try_parse(fmt::format("{}/{}", want["prefix"].value("addr", ""), want["prefix"].value("len", 0)));
    if (!a || !net) return false;
    return a->family() == net->family() && net->contains(*a);
  }
  if (want.is_object() && want.contains("range") && have.is_number()) {
    const auto& r = want["range"];
    return r[0].is_number() && r[1].is_number() && have.get<int64_t>() >= r[0].get<int64_t>() && have.get<int64_t>() <= r[1].get<int64_t>();
  }
  if (want.is_object() && want.contains("set")) return equal(have, want["set"]);
  if (want.is_array()) {
    for (auto& w : want)
      if (equal(have, w)) return true;
    return false;
  }
  throw Unknown{"a comparison with " + want.dump()};
}

bool matches(const json& m, const NfPacket& p) {
  auto have = field(m["left"], p);
  if (!have) return false;
  const json& right = m["right"];
  if (right.is_string() && right.get<std::string>().starts_with("@")) throw Unknown{"a lookup in set " + right.get<std::string>()};
  std::string op = m.value("op", "==");
  bool eq = equal(*have, right);
  if (op == "==" || op == "in") return eq;
  if (op == "!=") return !eq;
  throw Unknown{"the operator " + op};
}

struct Table {
  std::map<std::string, std::vector<json>> rules;  // chain -> rules in order
};

struct Eval {
  std::string verdict;  // "" (continue), accept, drop, return
  json rule;
};

Eval run_chain(const std::map<std::string, Table>& tables, const std::string& tkey, const std::string& chain,
               const NfPacket& p, int depth) {
  if (depth > 16) throw Unknown{"jumps nested too deep"};
  const auto& t = tables.at(tkey);
  auto it = t.rules.find(chain);
  if (it == t.rules.end()) return {};
  for (const auto& r : it->second) {
    bool all = true;
    for (const auto& e : r.value("expr", json::array())) {
      if (e.contains("match")) {
        if (!matches(e["match"], p)) {
          all = false;
          break;
        }
        continue;
      }
      if (e.contains("counter") || e.contains("log") || e.contains("limit") || e.contains("comment")) continue;
      if (e.contains("mangle") && e["mangle"].dump().find("nftrace") != std::string::npos) continue;
      if (e.contains("accept")) return {"accept", r};
      if (e.contains("drop") || e.contains("reject")) return {"drop", r};
      if (e.contains("return")) return {"return", r};
      if (e.contains("jump") || e.contains("goto")) {
        bool go = e.contains("goto");
        auto sub = run_chain(tables, tkey, e[go ? "goto" : "jump"].value("target", ""), p, depth + 1);
        if (sub.verdict == "accept" || sub.verdict == "drop") return sub;
        if (go) return {"return", r};
        break;  // the jump returned: the next rule
      }
      throw Unknown{fmt::format("rule handle {} in {} ({})", r.value("handle", 0), chain, e.begin().key())};
    }
    (void)all;
  }
  return {};
}

}  // namespace

NfResult evaluate(const NetNs& ns, const std::string& hook, const NfPacket& p, bool bridge) {
  NfResult res;
  if (!has_tables(ns)) return res;
  json set = ruleset(ns);
  struct Base {
    int prio;
    std::string tkey, name, policy;
  };
  std::vector<Base> bases;
  std::map<std::string, Table> tables;
  const std::string fam = p.dst.is_v6() ? "ip6" : "ip";
  for (const auto& o : set) {
    if (o.contains("chain")) {
      const auto& c = o["chain"];
      std::string f = c.value("family", "");
      bool ours = bridge ? f == "bridge" : (f == fam || f == "inet");
      if (!ours) continue;
      std::string key = f + " " + c.value("table", "");
      tables[key];
      if (c.value("hook", "") == hook && c.value("type", "filter") == "filter")
        bases.push_back({c.value("prio", 0), key, c.value("name", ""), c.value("policy", "accept")});
    } else if (o.contains("rule")) {
      const auto& r = o["rule"];
      std::string key = r.value("family", "") + " " + r.value("table", "");
      if (tables.count(key)) tables[key].rules[r.value("chain", "")].push_back(r);
    }
  }
  std::stable_sort(bases.begin(), bases.end(), [](auto& a, auto& b) { return a.prio < b.prio; });
  for (const auto& b : bases) {
    res.any_chain = true;
    try {
      Eval e = run_chain(tables, b.tkey, b.name, p, 0);
      if (e.verdict == "drop") {
        res.verdict = NfVerdict::drop;
        res.where = fmt::format("{} {} rule handle {}", b.tkey, b.name, e.rule.value("handle", 0));
        return res;
      }
      if (e.verdict != "accept" && b.policy == "drop") {
        res.verdict = NfVerdict::drop;
        res.where = fmt::format("{} {} policy drop", b.tkey, b.name);
        return res;
      }
    } catch (const Unknown& u) {
      res.verdict = NfVerdict::unknown;
      res.where = fmt::format("{} {}", b.tkey, b.name);
      res.why = u.why;
      return res;
    } catch (const json::exception& e) {
      res.verdict = NfVerdict::unknown;
      res.where = fmt::format("{} {}", b.tkey, b.name);
      res.why = std::string("a rule ctnet cannot read: ") + e.what();
      return res;
    }
  }
  return res;
}

}  // namespace ctnet::explain
