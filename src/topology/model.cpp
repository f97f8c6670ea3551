#include "topology/model.h"

#include <fmt/format.h>

#include "util/error.h"

namespace ctnet::topo {

using nlohmann::json;

std::string_view to_string(Kind k) {
  switch (k) {
    case Kind::veth: return "veth";
    case Kind::macvlan: return "macvlan";
    case Kind::ipvlan: return "ipvlan";
    case Kind::host_device: return "host-device";
    case Kind::vxlan: return "vxlan";
    case Kind::vf: return "vf";
    case Kind::vlan: return "vlan";
    case Kind::dummy: return "dummy";
  }
  return "?";
}

std::string vlans_str(const Endpoint& e) {
  if (e.vlan) return fmt::format("access VLAN {}", e.vlan);
  std::string s;
  for (auto& r : e.trunk) s += (s.empty() ? "trunk " : ", ") + (r.min == r.max ? std::to_string(r.min) : fmt::format("{}-{}", r.min, r.max));
  return s;
}

std::optional<Kind> parse_kind(std::string_view s) {
  for (Kind k : {Kind::veth, Kind::macvlan, Kind::ipvlan, Kind::host_device, Kind::vxlan, Kind::vf, Kind::vlan, Kind::dummy})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

std::string RouteSpec::str() const {
  std::string s = dst.length() == 0 ? "default" : dst.network().str();
  if (via) s += " via " + via->str();
  if (!dev.empty()) s += " dev " + dev;
  return s;
}

const Namespace* Topology::find_ns(std::string_view n) const {
  for (auto& ns : namespaces)
    if (ns.name == n) return &ns;
  return nullptr;
}

const Bridge* Topology::find_bridge(std::string_view n) const {
  for (auto& b : bridges)
    if (b.name == n) return &b;
  return nullptr;
}

namespace {
json prefixes(const std::vector<Prefix>& v) {
  json a = json::array();
  for (auto& p : v) a.push_back(p.str());
  return a;
}
std::vector<Prefix> prefixes_from(const json& j, const char* key) {
  std::vector<Prefix> out;
  if (j.contains(key))
    for (auto& s : j.at(key)) out.push_back(Prefix::parse(s.get<std::string>(), key));
  return out;
}
json netem_json(const link::tc::Netem& n) {
  return {{"delay_ns", n.delay_ns}, {"jitter_ns", n.jitter_ns}, {"loss", n.loss},           {"corrupt", n.corrupt},
          {"duplicate", n.duplicate}, {"reorder", n.reorder},   {"rate", n.rate},           {"limit", n.limit}};
}
link::tc::Netem netem_from(const json& j) {
  link::tc::Netem n;
  n.delay_ns = j.value("delay_ns", uint64_t{0});
  n.jitter_ns = j.value("jitter_ns", uint64_t{0});
  n.loss = j.value("loss", 0u);
  n.corrupt = j.value("corrupt", 0u);
  n.duplicate = j.value("duplicate", 0u);
  n.reorder = j.value("reorder", 0u);
  n.rate = j.value("rate", uint64_t{0});
  n.limit = j.value("limit", 1000u);
  return n;
}
json endpoint_json(const Endpoint& e) {
  json j = {{"namespace", e.ns}, {"name", e.name}};
  if (!e.bridge.empty()) j["bridge"] = e.bridge;
  if (!e.addresses.empty()) j["addresses"] = prefixes(e.addresses);
  if (e.mac) j["mac"] = e.mac->str();
  if (e.mtu) j["mtu"] = e.mtu;
  if (e.txqueuelen) j["txqueuelen"] = *e.txqueuelen;
  if (e.impair) j["impair"] = netem_json(*e.impair);
  if (e.vlan) j["vlan"] = e.vlan;
  if (!e.trunk.empty()) {
    json t = json::array();
    for (auto& r : e.trunk) t.push_back({r.min, r.max});
    j["trunk"] = t;
  }
  return j;
}
Endpoint endpoint_from(const json& j) {
  Endpoint e;
  e.ns = j.value("namespace", std::string(kHostNs));
  e.name = j.value("name", "");
  e.bridge = j.value("bridge", "");
  e.addresses = prefixes_from(j, "addresses");
  if (j.contains("mac")) e.mac = MacAddress::parse(j["mac"].get<std::string>(), "mac");
  e.mtu = j.value("mtu", 0u);
  if (j.contains("txqueuelen")) e.txqueuelen = j["txqueuelen"].get<uint32_t>();
  if (j.contains("impair")) e.impair = netem_from(j["impair"]);
  e.vlan = j.value("vlan", uint16_t{0});
  for (auto& r : j.value("trunk", json::array())) e.trunk.push_back({r.at(0).get<uint16_t>(), r.at(1).get<uint16_t>()});
  return e;
}
}  // namespace

json to_json(const Topology& t) {
  json j;
  j["name"] = t.name;
  json pools = json::array();
  for (auto& p : t.pools) pools.push_back({{"name", p.name}, {"subnet", p.subnet.str()}});
  j["pools"] = pools;
  json nss = json::array();
  for (auto& n : t.namespaces) {
    json o = {{"name", n.name}, {"loopback", n.loopback}};
    if (n.ipv6_link_local) o["ipv6_link_local"] = *n.ipv6_link_local;
    json sc = json::object();
    for (auto& [k, v] : n.sysctls) sc[k] = v;
    o["sysctls"] = sc;
    json rs = json::array();
    for (auto& r : n.routes) {
      json ro = {{"dst", r.dst.str()}};
      if (r.via) ro["via"] = r.via->str();
      if (!r.dev.empty()) ro["dev"] = r.dev;
      rs.push_back(ro);
    }
    o["routes"] = rs;
    if (!n.exec.empty() || !n.run.empty()) {
      json ex = json::array(), ru = json::array();
      for (auto& c : n.exec) ex.push_back({{"argv", c.argv}, {"field", c.field}});
      for (auto& p : n.run)
        ru.push_back({{"name", p.name}, {"argv", p.argv}, {"stop_timeout", p.stop_timeout}, {"field", p.field}});
      o["exec"] = ex;
      o["run"] = ru;
    }
    nss.push_back(o);
  }
  j["namespaces"] = nss;
  json brs = json::array();
  for (auto& b : t.bridges) {
    json o = {{"name", b.name}, {"namespace", b.ns}, {"mtu", b.mtu}, {"vlan_filtering", b.vlan_filtering},
              {"addresses", prefixes(b.addresses)}};
    if (b.subnet) o["subnet"] = b.subnet->str();
    if (b.external) o["external"] = true;
    brs.push_back(o);
  }
  j["bridges"] = brs;
  json ls = json::array();
  for (auto& l : t.links) {
    json o = {{"kind", to_string(l.kind)}, {"mtu", l.mtu}, {"a", endpoint_json(l.a)}};
    switch (l.kind) {
      case Kind::veth:
        o["b"] = endpoint_json(l.b);
        if (l.subnet) o["subnet"] = l.subnet->str();
        break;
      case Kind::macvlan:
      case Kind::ipvlan:
        o["parent"] = endpoint_json(l.parent);
        o["mode"] = l.mode;
        if (!l.flag.empty()) o["flag"] = l.flag;
        break;
      case Kind::host_device: o["device"] = l.device; break;
      case Kind::vxlan:
        o["vni"] = l.vni;
        o["port"] = l.port;
        if (l.local) o["local"] = l.local->str();
        if (l.remote) o["remote"] = l.remote->str();
        if (!l.underlay.empty()) o["dev"] = l.underlay;
        break;
      case Kind::vf:
        o["pf"] = l.pf;
        if (l.vf) o["vf"] = *l.vf;
        if (!l.pci.empty()) o["pci"] = l.pci;
        if (l.vlan) o["vlan"] = *l.vlan;
        if (l.mac) o["mac"] = l.mac->str();
        break;
      case Kind::vlan:
        o["parent"] = endpoint_json(l.parent);
        o["vlan"] = l.vlan.value_or(0);
        break;
      case Kind::dummy: break;
    }
    ls.push_back(o);
  }
  j["links"] = ls;
  return j;
}

Topology from_json(const json& j) {
  Topology t;
  t.name = j.at("name").get<std::string>();
  for (auto& p : j.value("pools", json::array()))
    t.pools.push_back({p.at("name").get<std::string>(), Prefix::parse(p.at("subnet").get<std::string>(), "subnet"), 0});
  for (auto& o : j.value("namespaces", json::array())) {
    Namespace n;
    n.name = o.at("name").get<std::string>();
    n.loopback = o.value("loopback", true);
    if (o.contains("ipv6_link_local")) n.ipv6_link_local = o["ipv6_link_local"].get<bool>();
    const json sysctls = o.value("sysctls", json::object());  // items() must not outlive what it iterates
    for (auto& [k, v] : sysctls.items()) n.sysctls.emplace_back(k, v.get<std::string>());
    for (auto& r : o.value("routes", json::array())) {
      RouteSpec rs;
      rs.dst = Prefix::parse(r.at("dst").get<std::string>(), "dst");
      if (r.contains("via")) rs.via = IpAddress::parse(r.at("via").get<std::string>(), "via");
      rs.dev = r.value("dev", "");
      n.routes.push_back(rs);
    }
    for (auto& c : o.value("exec", json::array()))
      n.exec.push_back({c.at("argv").get<std::vector<std::string>>(), c.value("field", "")});
    for (auto& p : o.value("run", json::array()))
      n.run.push_back({p.at("name").get<std::string>(), p.at("argv").get<std::vector<std::string>>(),
                       p.value("stop_timeout", 5u), p.value("field", "")});
    t.namespaces.push_back(std::move(n));
  }
  for (auto& o : j.value("bridges", json::array())) {
    Bridge b;
    b.name = o.at("name").get<std::string>();
    b.ns = o.value("namespace", std::string(kHostNs));
    b.mtu = o.value("mtu", 0u);
    b.vlan_filtering = o.value("vlan_filtering", false);
    b.external = o.value("external", false);
    b.addresses = prefixes_from(o, "addresses");
    if (o.contains("subnet")) b.subnet = Prefix::parse(o.at("subnet").get<std::string>(), "subnet");
    t.bridges.push_back(std::move(b));
  }
  int i = 0;
  for (auto& o : j.value("links", json::array())) {
    Link l;
    auto k = parse_kind(o.at("kind").get<std::string>());
    if (!k) throw Error("state record: unknown link kind");
    l.kind = *k;
    l.field = fmt::format("links[{}]", i++);
    l.mtu = o.value("mtu", 0u);
    l.a = endpoint_from(o.at("a"));
    if (o.contains("b")) l.b = endpoint_from(o.at("b"));
    if (o.contains("subnet")) l.subnet = Prefix::parse(o.at("subnet").get<std::string>(), "subnet");
    if (o.contains("parent")) l.parent = endpoint_from(o.at("parent"));
    l.mode = o.value("mode", "");
    l.flag = o.value("flag", "");
    l.device = o.value("device", "");
    l.vni = o.value("vni", 0u);
    l.port = o.value("port", uint16_t{4789});
    if (o.contains("local")) l.local = IpAddress::parse(o.at("local").get<std::string>(), "local");
    if (o.contains("remote")) l.remote = IpAddress::parse(o.at("remote").get<std::string>(), "remote");
    l.underlay = o.value("dev", "");
    l.pf = o.value("pf", "");
    if (o.contains("vf")) l.vf = o["vf"].get<uint32_t>();
    l.pci = o.value("pci", "");
    if (o.contains("vlan")) l.vlan = o["vlan"].get<uint16_t>();
    if (o.contains("mac")) l.mac = MacAddress::parse(o["mac"].get<std::string>(), "mac");
    t.links.push_back(std::move(l));
  }
  return t;
}

}  // namespace ctnet::topo
