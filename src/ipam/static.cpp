#include "ipam/static.h"

#include <fmt/format.h>

#include "util/json_get.h"

namespace ctnet::ipam {
namespace {

StaticAddress parse_address(const GivenAddress& g) {
  auto p = Prefix::try_parse(g.cidr);
  if (!p) bad_config(g.field, fmt::format("'{}' is not an address in CIDR form (10.10.0.5/24)", g.cidr));
  const bool point_to_point = p->length() >= p->max_length() - 1;  // /31, /32 (RFC 3021) and IPv6 /127, /128
  if (!point_to_point && p->address() == p->first())
    bad_config(g.field, fmt::format("{} is the network address of {}", p->address().str(), p->network().str()));
  if (!point_to_point && p->address().is_v4() && p->address() == p->last())
    bad_config(g.field, fmt::format("{} is the broadcast address of {}", p->address().str(), p->network().str()));
  return {*p, std::nullopt};
}

std::optional<IpAddress> parse_gateway(const std::string& text, const std::string& field) {
  auto ip = IpAddress::try_parse(text);
  if (!ip) bad_config(field, fmt::format("'{}' is not an IP address", text));
  return ip;
}

}  // namespace

StaticConfig parse_static(const nlohmann::json& ipam, const std::vector<GivenAddress>& appended,
                          const std::optional<std::string>& gateway, const std::vector<GivenAddress>& replacing,
                          bool one_per_family) {
  StaticConfig c;
  if (const auto* list = get_array(ipam, "addresses", "ipam")) {
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string f = fmt::format("ipam.addresses[{}]", i);
      const auto& o = (*list)[i];
      if (!o.is_object()) wrong_type(f, "an object");
      auto a = get_string(o, "address", f);
      if (!a) bad_config(f + ".address", "missing");
      StaticAddress s = parse_address({*a, f + ".address"});
      if (auto gw = get_string(o, "gateway", f)) s.gateway = parse_gateway(*gw, f + ".gateway");
      c.addresses.push_back(s);
    }
  }
  for (const auto& g : appended) c.addresses.push_back(parse_address(g));
  if (gateway) {
    // The reference sets it on every address; an IPv4 gateway means nothing to an IPv6 address, so it goes to
    // the addresses of its own family.
    auto gw = parse_gateway(*gateway, "CNI_ARGS GATEWAY");
    for (auto& a : c.addresses)
      if (a.address.family() == gw->family()) a.gateway = gw;
  }
  if (!replacing.empty()) {
    c.addresses.clear();
    for (const auto& g : replacing) c.addresses.push_back(parse_address(g));
  }
  int v4 = 0, v6 = 0;
  for (size_t i = 0; i < c.addresses.size(); ++i) {
    const auto& a = c.addresses[i];
    (a.address.address().is_v4() ? v4 : v6)++;
    if (a.gateway && a.gateway->family() != a.address.family())
      bad_config(fmt::format("ipam.addresses[{}].gateway", i),
                 fmt::format("{} is not of the family of {}", a.gateway->str(), a.address.str()));
  }
  if (one_per_family && (v4 > 1 || v6 > 1))
    bad_config("cniVersion", "versions before 0.3.0 allow one address per family");
  c.routes = parse_routes(ipam);
  return c;
}

}  // namespace ctnet::ipam
