// The `dhcp` IPAM plugin: the address comes from a DHCP server on the container's network, through ctnet's DHCP
// daemon (`ctnet cni dhcp-daemon`, src/ipam/dhcp_daemon.h), which keeps the lease for as long as the container
// lives. With the reference's keys: `daemonSocketPath`, `request` ([{option, skipDefault}]), `provide`
// ([{option, value | fromArg}]), `priority`. ADD asks the daemon for the lease (recorded as kind "dhcp-lease",
// so a failed ADD releases it), DEL releases it, CHECK asks whether the daemon still holds it.
#include <fmt/format.h>
#include <linux/rtnetlink.h>

#include "cni/plugins.h"
#include "ipam/dhcp_daemon.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

using nlohmann::json;

// The option names the reference knows (its optionNameToID); any other option is given by number.
constexpr std::pair<std::string_view, uint8_t> kOptionNames[] = {
    {"dhcp-client-identifier", dhcp::opt::client_id}, {"subnet-mask", dhcp::opt::subnet_mask},
    {"routers", dhcp::opt::router},                   {"host-name", dhcp::opt::host_name},
    {"user-class", dhcp::opt::user_class},            {"vendor-class-identifier", dhcp::opt::vendor_class},
};
// What ctnet asks every server for unless an entry of `request` says skipDefault: the reference's two (router,
// subnet mask), and what ctnet's result carries besides (DNS servers, domain, classless routes).
constexpr uint8_t kDefaultRequest[] = {dhcp::opt::router, dhcp::opt::subnet_mask, dhcp::opt::dns_servers,
                                       dhcp::opt::domain_name, dhcp::opt::classless_routes};

uint8_t option_of(const json& entry, const std::string& field) {
  const std::string f = field + ".option";
  auto name = get_string(entry, "option", field);
  if (!name || name->empty()) bad_config(f, "missing");
  for (const auto& [n, code] : kOptionNames)
    if (n == *name) return code;
  int code = 0;
  bool number = name->size() <= 3;
  for (char c : *name) {
    number = number && c >= '0' && c <= '9';
    code = code * 10 + (c - '0');
  }
  if (!number || code < 1 || code > 254) {
    std::string names;
    for (const auto& [n, c] : kOptionNames) names += (names.empty() ? "" : ", ") + std::string(n);
    bad_config(f, fmt::format("'{}' is not a DHCP option: a number 1-254 or one of {}", *name, names));
  }
  return static_cast<uint8_t>(code);
}

struct DhcpConfig {
  std::string socket = dhcp::kDefaultSocketPath;
  std::vector<uint8_t> request;
  std::vector<std::pair<uint8_t, std::string>> provide;
  uint32_t priority = 0;
};

DhcpConfig parse_dhcp(const Invocation& inv, const json& ipam) {
  DhcpConfig c;
  if (auto s = get_string(ipam, "daemonSocketPath", "ipam")) {
    if (s->empty() || s->front() != '/') bad_config("ipam.daemonSocketPath", fmt::format("'{}' is not an absolute path", *s));
    if (s->size() > dhcp::kMaxSocketPath)
      bad_config("ipam.daemonSocketPath", fmt::format("longer than a unix socket path can be ({} bytes)", dhcp::kMaxSocketPath));
    c.socket = *s;
  }
  bool skip_default = false;
  auto add_request = [&](uint8_t code) {
    if (std::find(c.request.begin(), c.request.end(), code) == c.request.end()) c.request.push_back(code);
  };
  if (const auto* list = get_array(ipam, "request", "ipam"))
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string f = fmt::format("ipam.request[{}]", i);
      const auto& e = (*list)[i];
      if (!e.is_object()) wrong_type(f, "an object");
      skip_default = get_bool(e, "skipDefault", false, f) || skip_default;
      // An entry may only say skipDefault (the reference skips one without an option).
      if (auto o = get_string(e, "option", f); o && !o->empty()) add_request(option_of(e, f));
    }
  if (!skip_default)
    for (uint8_t code : kDefaultRequest) add_request(code);
  if (const auto* list = get_array(ipam, "provide", "ipam"))
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string f = fmt::format("ipam.provide[{}]", i);
      const auto& e = (*list)[i];
      if (!e.is_object()) wrong_type(f, "an object");
      const uint8_t code = option_of(e, f);
      if (code == dhcp::opt::message_type || code == dhcp::opt::parameter_list)
        bad_config(f + ".option", fmt::format("option {} is the client's own ({})", code,
                                              code == dhcp::opt::message_type ? "the message type" : "set by `request`"));
      auto value = get_string(e, "value", f);
      auto from_arg = get_string(e, "fromArg", f);
      auto add = [&](const std::string& v, const std::string& field) {
        if (v.size() > 255) bad_config(field, fmt::format("{} bytes; an option holds at most 255", v.size()));
        c.provide.emplace_back(code, v);
      };
      if (value && !value->empty()) add(*value, f + ".value");
      // The reference's order: a value from CNI_ARGS comes after (and so replaces) the configured one.
      if (from_arg)
        if (auto v = inv.arg(*from_arg)) add(*v, "CNI_ARGS " + *from_arg);
    }
  if (auto p = get_int(ipam, "priority", "ipam")) {
    if (*p < 0 || *p > UINT32_MAX) bad_config("ipam.priority", fmt::format("{} is not a route metric", *p));
    c.priority = static_cast<uint32_t>(*p);
  }
  return c;
}

[[noreturn]] void unreachable(const dhcp::DaemonUnreachable& e, int code) {
  throw CniError(code, fmt::format("{} (is `ctnet cni dhcp-daemon` running?)", e.what()));
}

json call(const std::string& socket, const json& request) {
  try {
    return dhcp::call_daemon(socket, request);
  } catch (const dhcp::DaemonUnreachable& e) {
    unreachable(e, kTryAgain);
  } catch (const Error& e) {
    throw CniError(kPluginFailure, e.what());
  }
}

json key_of(const std::string& container_id, const std::string& network, const std::string& ifname) {
  return {{"containerID", container_id}, {"network", network}, {"ifname", ifname}};
}

class Dhcp : public Plugin {
 public:
  explicit Dhcp(Invocation& inv) : inv_(inv) {
    const auto* ipam = get_object(inv.conf, "ipam");
    if (!ipam) bad_config("ipam", "missing");
    if (get_string(*ipam, "type", "ipam").value_or("") != "dhcp") bad_config("ipam.type", "must be dhcp when executing dhcp");
    conf_ = parse_dhcp(inv, *ipam);
  }

  Result add(kinds::Txn& txn) override {
    open_container_netns(inv_);  // code 3 when CNI_NETNS is no namespace, before the daemon is asked
    json req = key();
    req["op"] = "allocate";
    req["netns"] = inv_.netns;
    req["parameters"] = conf_.request;
    req["provide"] = json::array();
    for (const auto& [code, value] : conf_.provide) req["provide"].push_back({{"code", code}, {"value", value}});
    json reply;
    txn.done(txn.make(record(txn), [&] { reply = call(conf_.socket, req); }));
    return result_of(dhcp::lease_from_json(reply.value("lease", json())));
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return {record(txn)}; }

  void check(const Result& prev) override {
    json req = key();
    req["op"] = "check";
    json reply = call(conf_.socket, req);
    if (!reply.value("held", false))
      throw CniError(kPluginFailure, fmt::format("the DHCP daemon holds no lease for {}/{}/{}", inv_.container_id, inv_.name, inv_.ifname));
    const dhcp::Lease l = dhcp::lease_from_json(reply.value("lease", json()));
    for (const auto& ip : prev.ips)
      if (ip.address != l.address)
        throw CniError(kPluginFailure, fmt::format("the lease is for {}, not {}", l.address.str(), ip.address.str()));
  }

  void gc(const std::set<ipam::Attachment>& valid) override {
    json list = json::array();
    for (const auto& [id, ifname] : valid) list.push_back({{"containerID", id}, {"ifname", ifname}});
    try {
      dhcp::call_daemon(conf_.socket, {{"op", "gc"}, {"network", inv_.name}, {"valid", list}});
    } catch (const dhcp::DaemonUnreachable&) {
      // No daemon, no leases.
    } catch (const Error& e) {
      throw CniError(kPluginFailure, e.what());
    }
  }

  void status() override {
    try {
      dhcp::call_daemon(conf_.socket, {{"op", "status"}});
    } catch (const dhcp::DaemonUnreachable& e) {
      unreachable(e, kNotAvailable);
    } catch (const Error& e) {
      throw CniError(kNotAvailable, e.what());
    }
  }

  bool reports_conf_dns() const override { return false; }

 private:
  json key() const { return key_of(inv_.container_id, inv_.name, inv_.ifname); }

  kinds::Made record(kinds::Txn& txn) const {
    json saved = key();
    saved["socket"] = conf_.socket;
    return {.kind = "dhcp-lease", .ns = txn.ref(txn.host()), .name = inv_.container_id + "/" + inv_.ifname, .saved = saved};
  }

  Result result_of(const dhcp::Lease& l) const {
    Result r;
    r.ips.push_back({l.address, l.gateway, std::nullopt});
    for (const auto& rt : l.routes) {
      RouteEntry e{rt.dst, rt.gw, conf_.priority, std::nullopt};
      if (!rt.gw) e.scope = RT_SCOPE_LINK;  // option 121's router 0.0.0.0: on the link, as the reference installs it
      r.routes.push_back(e);
    }
    for (const auto& d : l.dns) r.dns.nameservers.push_back(d.str());
    r.dns.domain = l.domain;
    return r;
  }

  Invocation& inv_;
  DhcpConfig conf_;
};

}  // namespace

void validate_dhcp_ipam(const Invocation& inv, const json& ipam) { parse_dhcp(inv, ipam); }

kinds::Removal remove_dhcp_lease(kinds::Txn&, const kinds::Made& m) {
  json req = key_of(m.saved.value("containerID", ""), m.saved.value("network", ""), m.saved.value("ifname", ""));
  req["op"] = "release";
  try {
    json reply = dhcp::call_daemon(m.saved.value("socket", std::string(dhcp::kDefaultSocketPath)), req);
    return reply.value("released", false) ? kinds::Removal::removed : kinds::Removal::absent;
  } catch (const dhcp::DaemonUnreachable&) {
    // The daemon is gone, and every lease it kept with it: nothing to release (DEL stays idempotent).
    return kinds::Removal::absent;
  }
}

std::unique_ptr<Plugin> make_dhcp(Invocation& inv) { return std::make_unique<Dhcp>(inv); }

}  // namespace ctnet::cni
