// `portmap`, a chained plugin: the runtime's `portMappings` (runtimeConfig) as DNAT from this host's own
// addresses to the container (nft/portmap.h), with the reference's keys: `snat` (default true), `masqAll`,
// `markMasqBit` (default 13), `externalSetMarkChain`, `conditionsV4`/`conditionsV6`, `backend`. ctnet has one
// backend, nftables through libnftables in-process; `backend: iptables` is accepted and means the same rules,
// and conditions written for iptables (`-s`, `-d`, `-i`, `-o`, `-p`, with `!`) are translated.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "addr/route.h"
#include "cni/plugins.h"
#include "kinds/sysctl.h"
#include "link/link.h"
#include "nft/portmap.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

// One iptables match (the tokens of conditionsV4/V6) as nftables.
std::string nft_conditions(const std::vector<std::string>& items, int family, const std::string& field) {
  const bool iptables = !items.empty() && (items[0].starts_with('-') || items[0].starts_with('!'));
  if (!iptables) {
    for (const auto& c : items)
      if (c.find_first_of(";\n\r#") != std::string::npos)
        bad_config(field, fmt::format("'{}': an nftables condition is one match expression (no ';', '#' or newline)", c));
    return fmt::format("{}", fmt::join(items, " "));
  }
  std::vector<std::string> tokens;
  for (const auto& c : items) {
    std::istringstream in(c);
    for (std::string t; in >> t;) tokens.push_back(t);
  }
  const char* ip = family == AF_INET ? "ip" : "ip6";
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    bool negate = tokens[i] == "!";
    if (negate && ++i == tokens.size()) bad_config(field, "'!' ends the conditions");
    const std::string& opt = tokens[i];
    if (i + 1 >= tokens.size()) bad_config(field, fmt::format("'{}' needs a value", opt));
    const std::string& value = tokens[++i];
    if (value.find_first_of(";\n\r#{}\"") != std::string::npos) bad_config(field, fmt::format("'{}' is not a value", value));
    std::string match;
    if (opt == "-s" || opt == "--source") match = fmt::format("{} saddr", ip);
    else if (opt == "-d" || opt == "--destination") match = fmt::format("{} daddr", ip);
    else if (opt == "-i" || opt == "--in-interface") match = "iifname";
    else if (opt == "-o" || opt == "--out-interface") match = "oifname";
    else if (opt == "-p" || opt == "--protocol") match = "meta l4proto";
    else bad_config(field, fmt::format("'{}': ctnet translates the iptables matches -s, -d, -i, -o and -p only", opt));
    const bool quoted = match.ends_with("ifname");
    out += fmt::format("{}{} {}{}{}{} ", out.empty() ? "" : "", match, negate ? "!= " : "", quoted ? "\"" : "", value,
                       quoted ? "\"" : "");
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::vector<std::string> string_list(const nlohmann::json& c, const char* key) {
  std::vector<std::string> out;
  const auto* a = get_array(c, key);
  if (!a) return out;
  for (size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_string()) wrong_type(fmt::format("{}[{}]", key, i), "a string");
    out.push_back((*a)[i].get<std::string>());
  }
  return out;
}

int port_of(const nlohmann::json& m, const char* key, const std::string& parent) {
  const auto v = get_int(m, key, parent);
  if (!v) bad_config(join_field(parent, key), "missing");
  if (*v < 1 || *v > 65535) bad_config(join_field(parent, key), fmt::format("{} is not a port (1..65535)", *v));
  return static_cast<int>(*v);
}

class Portmap : public Plugin {
 public:
  explicit Portmap(Invocation& inv) : inv_(inv) {
    check_args(inv, {});
    const auto& c = inv.conf;
    policy_.snat = get_bool(c, "snat", true);
    policy_.masq_all = get_bool(c, "masqAll", false);
    const auto bit = get_int(c, "markMasqBit");
    const auto external = get_string(c, "externalSetMarkChain");
    if (bit && external) bad_config("markMasqBit", "cannot be given with externalSetMarkChain");
    if (bit && (*bit < 0 || *bit > 31)) bad_config("markMasqBit", "must be between 0 and 31");
    policy_.mark = 1u << (bit ? *bit : 13);
    const auto backend = get_string(c, "backend");
    if (backend && *backend != "iptables" && *backend != "nftables")
      bad_config("backend", fmt::format("'{}' is not a backend (iptables or nftables)", *backend));
    const bool nft_backend = backend == "nftables";
    if (nft_backend && external) bad_config("externalSetMarkChain", "is an iptables option; backend is nftables");
    for (auto [key, family] : {std::pair{"conditionsV4", AF_INET}, std::pair{"conditionsV6", AF_INET6}}) {
      auto items = string_list(c, key);
      if (nft_backend && !items.empty() && (items[0].starts_with('-') || items[0].starts_with('!')))
        bad_config(key, "holds iptables conditions; backend is nftables");
      conditions_[family == AF_INET] = nft_conditions(items, family, key);
    }
    if (const auto* pm = inv.runtime("portMappings")) {
      if (!pm->is_array()) wrong_type("runtimeConfig.portMappings", "an array");
      for (size_t i = 0; i < pm->size(); ++i) mappings_.push_back(mapping((*pm)[i], fmt::format("runtimeConfig.portMappings[{}]", i)));
    }
  }

  Result add(kinds::Txn& txn) override {
    auto prev = prev_result(inv_);
    if (!prev) bad_config("prevResult", "missing: portmap runs chained after a plugin that made the interface");
    if (mappings_.empty()) return *prev;
    for (int family : {AF_INET, AF_INET6}) {
      auto spec = spec_for(*prev, family);
      if (!spec || spec->mappings.empty()) continue;
      // The interface the host reaches the container through: hairpin traffic arrives there.
      if (auto oif = addr::lookup_oif(txn.host().rtnl, spec->container))
        if (auto l = link::find(txn.host().rtnl, *oif)) spec->host_ifname = l->name;
      txn.done(txn.make(record(txn), [&] { nft::add_portmap(*spec); }));
      // 127.0.0.0/8 may cross to that interface only with route_localnet (the reference sets it too). A
      // rollback puts it back; DEL leaves it, as other containers behind the same bridge may need it.
      if (family == AF_INET && spec->policy.snat && !spec->host_ifname.empty())
        kinds::sysctl::apply(txn, {.key = fmt::format("net/ipv4/conf/{}/route_localnet", spec->host_ifname), .value = "1"});
    }
    return *prev;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return {record(txn)}; }

  void check(const Result& prev) override {
    std::vector<std::string> d;
    for (int family : {AF_INET, AF_INET6}) {
      auto spec = spec_for(prev, family);
      if (!spec || spec->mappings.empty()) continue;
      NsSocket& host = txn_host();
      if (auto oif = addr::lookup_oif(host.rtnl, spec->container))
        if (auto l = link::find(host.rtnl, *oif)) spec->host_ifname = l->name;
      for (auto& x : nft::check_portmap(*spec)) d.push_back(std::move(x));
    }
    if (!d.empty()) throw CniError(kPluginFailure, fmt::format("CHECK: {}", fmt::join(d, "; ")));
  }

  void gc(const std::set<ipam::Attachment>& valid) override {
    nft::gc_portmap(inv_.name, valid);
  }
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  static nft::PortMapping mapping(const nlohmann::json& given, const std::string& field) {
    if (!given.is_object()) wrong_type(field, "an object");
    const auto m = go_keys(given, {"hostPort", "containerPort", "protocol", "hostIP"});
    nft::PortMapping out{.host_port = port_of(m, "hostPort", field), .container_port = port_of(m, "containerPort", field)};
    out.protocol = get_string(m, "protocol", field).value_or("tcp");
    for (auto& c : out.protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (out.protocol != "tcp" && out.protocol != "udp" && out.protocol != "sctp")
      bad_config(join_field(field, "protocol"), fmt::format("'{}' is not tcp, udp or sctp", out.protocol));
    if (auto ip = get_string(m, "hostIP", field); ip && !ip->empty()) out.host_ip = IpAddress::parse(*ip, join_field(field, "hostIP"));
    return out;
  }

  // The container's address of `family` (on CNI_IFNAME in the sandbox, as the reference picks it) and the
  // mappings that apply to it: a hostIP of the other family does not; 0.0.0.0 / :: means any address of its own.
  std::optional<nft::PortmapSpec> spec_for(const Result& prev, int family) const {
    std::optional<IpAddress> container;
    for (const auto& ip : prev.ips) {
      if (ip.address.family() != family || container) continue;
      if (ip.interface && *ip.interface >= 0 && static_cast<size_t>(*ip.interface) < prev.interfaces.size()) {
        const auto& i = prev.interfaces[static_cast<size_t>(*ip.interface)];
        if (i.name != inv_.ifname || i.sandbox.empty()) continue;
      }
      container = ip.address.address();
    }
    if (!container) return std::nullopt;
    nft::PortmapSpec s{.key = key(), .container = *container, .policy = policy_};
    s.policy.conditions = conditions_[family == AF_INET];
    for (auto m : mappings_) {
      if (m.host_ip && m.host_ip->family() != family) continue;
      if (m.host_ip && m.host_ip->is_unspecified()) m.host_ip.reset();
      // The same host port twice is one element: a second, different target would be refused by the kernel.
      bool dup = false;
      for (const auto& o : s.mappings) dup = dup || (o.host_port == m.host_port && o.protocol == m.protocol && o.host_ip == m.host_ip);
      if (!dup) s.mappings.push_back(m);
    }
    return s;
  }

  nft::MasqKey key() const { return {inv_.name, inv_.container_id, inv_.ifname}; }
  kinds::Made record(kinds::Txn& txn) const { return portmap_record(txn, key()); }
  NsSocket& txn_host() {
    if (!check_txn_) check_txn_ = std::make_unique<kinds::Txn>();
    return check_txn_->host();
  }

  Invocation& inv_;
  nft::PortmapPolicy policy_;
  std::string conditions_[2];  // [0] IPv6, [1] IPv4
  std::vector<nft::PortMapping> mappings_;
  std::unique_ptr<kinds::Txn> check_txn_;
};

}  // namespace

std::unique_ptr<Plugin> make_portmap(Invocation& inv) { return std::make_unique<Portmap>(inv); }

}  // namespace ctnet::cni
