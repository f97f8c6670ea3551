#include "node/network.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include "util/error.h"
#include "util/json_get.h"

namespace ctnet::node {

using nlohmann::json;

std::string_view to_string(Backend b) { return b == Backend::vxlan ? "vxlan" : "host-gw"; }

static Backend backend_from(const std::string& s, const std::string& field) {
  if (s == "vxlan") return Backend::vxlan;
  if (s == "host-gw") return Backend::host_gw;
  throw InvalidInput(field, fmt::format("'{}' is not a backend (vxlan, host-gw)", s));
}

json NetworkConfig::to_json() const {
  json c = json::array();
  for (const auto& p : cidrs) c.push_back(p.str());
  return {{"cidrs", c}, {"subnetLen", subnet_len}, {"subnetLen6", subnet_len6}, {"backend", to_string(backend)},
          {"vni", vni}, {"port", port}};
}

NetworkConfig NetworkConfig::from_json(const json& j) {
  if (!j.is_object()) throw InvalidInput("config", "is not a JSON object");
  NetworkConfig c;
  if (const auto* a = get_array(j, "cidrs"))
    for (const auto& p : *a) {
      if (!p.is_string()) wrong_type("cidrs[]", "a string");
      c.cidrs.push_back(Prefix::parse(p.get<std::string>(), "cidrs").network());
    }
  c.subnet_len = static_cast<int>(get_int(j, "subnetLen").value_or(24));
  c.subnet_len6 = static_cast<int>(get_int(j, "subnetLen6").value_or(64));
  c.backend = backend_from(get_string(j, "backend").value_or("vxlan"), "backend");
  c.vni = static_cast<uint32_t>(get_int(j, "vni").value_or(1));
  c.port = static_cast<uint16_t>(get_int(j, "port").value_or(4789));
  c.validate();
  return c;
}

void NetworkConfig::validate() const {
  if (cidrs.empty() || cidrs.size() > 2) throw InvalidInput("--cidr", "give one CIDR, or one IPv4 and one IPv6 CIDR");
  if (cidrs.size() == 2 && cidrs[0].family() == cidrs[1].family())
    throw InvalidInput("--cidr", "two CIDRs must be of two families (one IPv4, one IPv6)");
  for (const auto& p : cidrs) {
    const int len = p.family() == AF_INET ? subnet_len : subnet_len6;
    const char* opt = p.family() == AF_INET ? "--subnet-len" : "--subnet-len6";
    const int max = p.family() == AF_INET ? 30 : 120;
    if (len <= p.length() || len > max)
      throw InvalidInput(opt, fmt::format("{} must be longer than the cluster CIDR {} and at most {}", len, p.str(), max));
  }
  if (vni < 1 || vni > 0xffffff) throw InvalidInput("--vni", fmt::format("{} is not a VNI (1-16777215)", vni));
  if (port == 0) throw InvalidInput("--port", "0 is not a UDP port");
}

int64_t NetworkConfig::subnet_count() const {
  int64_t n = 65536;
  for (const auto& p : cidrs) {
    const int bits = (p.family() == AF_INET ? subnet_len : subnet_len6) - p.length();
    n = std::min<int64_t>(n, bits >= 17 ? 65536 : (int64_t{1} << bits));
  }
  return n;
}

std::vector<Prefix> NetworkConfig::subnets(int64_t index) const {
  std::vector<Prefix> out;
  for (const auto& p : cidrs) {
    const int len = p.family() == AF_INET ? subnet_len : subnet_len6;
    // network + (index << host bits of a node subnet), on the address's bytes (IPv6 needs 128 bits).
    const IpAddress network = p.first();  // one object: begin and end must point into the same bytes
    const int size = static_cast<int>(network.size());
    std::array<uint8_t, 16> b{};
    std::copy(network.data(), network.data() + size, b.begin());
    auto add_bit = [&](int pos) {  // adds 2^pos, pos counted from the address's last bit
      unsigned inc = 1u << (pos % 8);
      for (int byte = size - 1 - pos / 8; byte >= 0 && inc; --byte) {
        const unsigned v = b[static_cast<size_t>(byte)] + inc;
        b[static_cast<size_t>(byte)] = static_cast<uint8_t>(v);
        inc = v >> 8;
      }
    };
    for (int bit = 0; bit < 63; ++bit)
      if ((index >> bit) & 1) add_bit(size * 8 - len + bit);
    out.push_back(Prefix(IpAddress::from_bytes(p.family(), b.data()), len));
  }
  return out;
}

json NodeRecord::to_json() const {
  json s = json::array();
  for (const auto& p : subnets) s.push_back(p.str());
  json j = {{"node", node}, {"subnets", s}, {"underlay", underlay.str()}, {"backend", to_string(backend)}};
  if (vtep_mac) j["vtepMac"] = vtep_mac->str();
  if (!underlay_addresses.empty()) {
    json a = json::array();
    for (const auto& u : underlay_addresses) a.push_back(u.str());
    j["underlayAddresses"] = a;
  }
  return j;
}

std::optional<IpAddress> NodeRecord::underlay_of(int family) const {
  if (underlay.family() == family) return underlay;
  for (const auto& a : underlay_addresses)
    if (a.family() == family) return a;
  return std::nullopt;
}

std::optional<NodeRecord> NodeRecord::from_json(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    NodeRecord r;
    r.node = j.value("node", "");
    for (const auto& p : j.value("subnets", json::array())) r.subnets.push_back(Prefix::parse(p.get<std::string>(), "subnets"));
    r.underlay = IpAddress::parse(j.value("underlay", ""), "underlay");
    for (const auto& a : j.value("underlayAddresses", json::array()))
      r.underlay_addresses.push_back(IpAddress::parse(a.get<std::string>(), "underlayAddresses"));
    if (j.contains("vtepMac")) r.vtep_mac = MacAddress::parse(j["vtepMac"].get<std::string>(), "vtepMac");
    r.backend = backend_from(j.value("backend", "vxlan"), "backend");
    if (r.node.empty() || r.subnets.empty()) return std::nullopt;
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string network_prefix(const std::string& network) { return "/ctnet/networks/" + network + "/"; }
std::string config_key(const std::string& network) { return network_prefix(network) + "config"; }
std::string subnets_prefix(const std::string& network) { return network_prefix(network) + "subnets/"; }
std::string subnet_key(const std::string& network, int64_t index) { return subnets_prefix(network) + std::to_string(index); }

std::optional<int64_t> index_of_key(const std::string& network, const std::string& key) {
  const std::string p = subnets_prefix(network);
  if (!key.starts_with(p)) return std::nullopt;
  const std::string rest = key.substr(p.size());
  if (rest.empty() || rest.size() > 6 || rest.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(rest);
}

void validate_network_name(const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos ||
      name.front() == '.' || name.front() == '-')
    throw InvalidInput("NETWORK", fmt::format("'{}' is not a network name (1-64 letters, digits, '_', '.', '-')", name));
}

}  // namespace ctnet::node
