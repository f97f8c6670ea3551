#include "cni/types.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>

#include "util/json_get.h"

namespace ctnet::cni {

bool version_supported(std::string_view v) {
  for (auto s : kSupportedVersions)
    if (s == v) return true;
  return false;
}

int compare_versions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s) {
    int n = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    s.remove_prefix(static_cast<size_t>(r.ptr - s.data()));
    if (!s.empty() && s.front() == '.') s.remove_prefix(1);
    return n;
  };
  for (int i = 0; i < 3; ++i) {
    int x = next(a), y = next(b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

nlohmann::json dns_to_json(const Dns& d) {
  nlohmann::json j = nlohmann::json::object();
  if (!d.nameservers.empty()) j["nameservers"] = d.nameservers;
  if (!d.domain.empty()) j["domain"] = d.domain;
  if (!d.search.empty()) j["search"] = d.search;
  if (!d.options.empty()) j["options"] = d.options;
  return j;
}

Dns dns_from_json(const nlohmann::json& j, std::string_view field) {
  Dns d;
  if (!j.is_object()) wrong_type(field, "an object");
  auto strings = [&](const char* key, std::vector<std::string>& out) {
    if (const auto* a = get_array(j, key, field))
      for (const auto& s : *a) {
        if (!s.is_string()) wrong_type(join_field(field, key), "an array of strings");
        out.push_back(s.get<std::string>());
      }
  };
  strings("nameservers", d.nameservers);
  strings("search", d.search);
  strings("options", d.options);
  d.domain = get_string(j, "domain", field).value_or("");
  return d;
}

std::string supported_versions_text() {
  std::string out;
  for (auto v : kSupportedVersions) out += (out.empty() ? "" : ", ") + std::string(v);
  return out;
}

namespace {
// 0.1.0 and 0.2.0 knew one address per family, with the routes of that family beside it.
nlohmann::json legacy_json(const Result& r, std::string_view version) {
  nlohmann::json j = {{"cniVersion", version}};
  for (const char* key : {"ip4", "ip6"}) {
    const bool v4 = key == std::string_view("ip4");
    for (const auto& ip : r.ips) {
      if (ip.address.address().is_v4() != v4) continue;
      nlohmann::json o = {{"ip", ip.address.str()}};
      if (ip.gateway) o["gateway"] = ip.gateway->str();
      for (const auto& rt : r.routes) {
        if (rt.dst.address().is_v4() != v4) continue;
        nlohmann::json route = {{"dst", rt.dst.network().str()}};
        if (rt.gw) route["gw"] = rt.gw->str();
        o["routes"].push_back(std::move(route));
      }
      j[key] = std::move(o);
      break;
    }
  }
  if (!j.contains("ip4") && !j.contains("ip6"))
    throw CniError(kPluginFailure, fmt::format("cannot convert the result to cniVersion {}: no IP address", version));
  j["dns"] = dns_to_json(r.dns);
  return j;
}
}  // namespace

nlohmann::json Result::to_json(std::string_view version) const {
  if (compare_versions(version, "0.3.0") < 0) return legacy_json(*this, version);
  const bool old = compare_versions(version, "1.0.0") < 0;
  const bool v11 = compare_versions(version, "1.1.0") >= 0;
  nlohmann::json j = nlohmann::json::object();
  j["cniVersion"] = version;
  if (!interfaces.empty()) {
    auto& arr = j["interfaces"] = nlohmann::json::array();
    for (const auto& i : interfaces) {
      nlohmann::json o = {{"name", i.name}};
      if (!i.mac.empty()) o["mac"] = i.mac;
      if (v11 && i.mtu) o["mtu"] = i.mtu;
      if (!i.sandbox.empty()) o["sandbox"] = i.sandbox;
      arr.push_back(std::move(o));
    }
  }
  if (!ips.empty()) {
    auto& arr = j["ips"] = nlohmann::json::array();
    for (const auto& ip : ips) {
      nlohmann::json o;
      if (old) o["version"] = ip.address.address().is_v4() ? "4" : "6";
      if (ip.interface) o["interface"] = *ip.interface;
      o["address"] = ip.address.str();
      if (ip.gateway) o["gateway"] = ip.gateway->str();
      arr.push_back(std::move(o));
    }
  }
  if (!routes.empty()) {
    auto& arr = j["routes"] = nlohmann::json::array();
    for (const auto& r : routes) {
      nlohmann::json o = {{"dst", r.dst.network().str()}};
      if (r.gw) o["gw"] = r.gw->str();
      // As the reference's types (100) write them, for 1.0.0 and 1.1.0; 0.x results have no such keys.
      if (!old && r.priority) o["priority"] = r.priority;
      if (!old && r.scope) o["scope"] = *r.scope;
      arr.push_back(std::move(o));
    }
  }
  j["dns"] = dns_to_json(dns);
  return j;
}

Result Result::from_json(const nlohmann::json& j, std::string_view field) {
  if (!j.is_object()) wrong_type(field, "an object");
  Result r;
  if (const auto* a = get_array(j, "interfaces", field)) {
    for (size_t n = 0; n < a->size(); ++n) {
      const auto& o = (*a)[n];
      std::string f = join_field(field, "interfaces[" + std::to_string(n) + "]");
      Interface i;
      i.name = get_string(o, "name", f).value_or("");
      i.mac = get_string(o, "mac", f).value_or("");
      i.sandbox = get_string(o, "sandbox", f).value_or("");
      i.mtu = static_cast<uint32_t>(get_int(o, "mtu", f).value_or(0));
      r.interfaces.push_back(std::move(i));
    }
  }
  if (const auto* a = get_array(j, "ips", field)) {
    for (size_t n = 0; n < a->size(); ++n) {
      const auto& o = (*a)[n];
      std::string f = join_field(field, "ips[" + std::to_string(n) + "]");
      IpConfig c;
      auto addr = get_string(o, "address", f);
      if (!addr) bad_config(f + ".address", "missing");
      auto p = Prefix::try_parse(*addr);
      if (!p) bad_config(f + ".address", "'" + *addr + "' is not an address with a prefix length");
      c.address = *p;
      if (auto gw = get_string(o, "gateway", f)) {
        auto g = IpAddress::try_parse(*gw);
        if (!g) bad_config(f + ".gateway", "'" + *gw + "' is not an IP address");
        c.gateway = *g;
      }
      if (auto i = get_int(o, "interface", f)) c.interface = static_cast<int>(*i);
      r.ips.push_back(std::move(c));
    }
  }
  if (const auto* a = get_array(j, "routes", field)) {
    for (size_t n = 0; n < a->size(); ++n) {
      const auto& o = (*a)[n];
      std::string f = join_field(field, "routes[" + std::to_string(n) + "]");
      RouteEntry e;
      auto dst = get_string(o, "dst", f);
      if (!dst) bad_config(f + ".dst", "missing");
      auto p = Prefix::try_parse(*dst);
      if (!p) bad_config(f + ".dst", "'" + *dst + "' is not a CIDR");
      e.dst = p->network();
      if (auto gw = get_string(o, "gw", f)) {
        auto g = IpAddress::try_parse(*gw);
        if (!g) bad_config(f + ".gw", "'" + *gw + "' is not an IP address");
        e.gw = *g;
      }
      if (auto prio = get_int(o, "priority", f)) {
        if (*prio < 0 || *prio > UINT32_MAX) bad_config(f + ".priority", fmt::format("{} is not a route metric", *prio));
        e.priority = static_cast<uint32_t>(*prio);
      }
      if (auto scope = get_int(o, "scope", f)) {
        if (*scope < 0 || *scope > 255) bad_config(f + ".scope", fmt::format("{} is not a route scope (0-255)", *scope));
        e.scope = static_cast<int>(*scope);
      }
      r.routes.push_back(std::move(e));
    }
  }
  if (const auto* d = get_object(j, "dns", field)) r.dns = dns_from_json(*d, join_field(field, "dns"));
  return r;
}

}  // namespace ctnet::cni
