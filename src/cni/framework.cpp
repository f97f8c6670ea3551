#include "cni/framework.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "util/error.h"
#include "util/fd.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::cni {

using nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

[[noreturn]] void bad_env(std::string_view var, std::string_view problem) {
  throw CniError(kInvalidEnv, fmt::format("invalid {}: {}", var, problem));
}

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::optional<std::string> Invocation::arg(std::string_view key) const {
  for (const auto& [k, v] : args)
    if (k == key) return v;
  return std::nullopt;
}

const json* Invocation::runtime(std::string_view key) const {
  if (const auto* rc = get_object(conf, "runtimeConfig"))
    if (const auto* v = member(*rc, key)) return v;
  if (const auto* a = get_object(conf, "args"))
    if (const auto* c = get_object(*a, "cni", "args"))
      if (const auto* v = member(*c, key)) return v;
  return nullptr;
}

Invocation read_invocation() {
  Invocation inv;
  std::string cmd = env("CNI_COMMAND");
  if (cmd == "ADD") inv.command = Command::add;
  else if (cmd == "DEL") inv.command = Command::del;
  else if (cmd == "CHECK") inv.command = Command::check;
  else if (cmd == "VERSION") inv.command = Command::version;
  else if (cmd == "GC") inv.command = Command::gc;
  else if (cmd == "STATUS") inv.command = Command::status;
  else if (cmd.empty()) throw CniError(kInvalidEnv, "required environment variable CNI_COMMAND is missing");
  else bad_env("CNI_COMMAND", fmt::format("'{}' is not one of ADD, DEL, CHECK, VERSION, GC, STATUS", cmd));

  // Stdin first: VERSION reads it too (the configuration's cniVersion chooses the answer's version).
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    inv.stdin_text.append(buf, static_cast<size_t>(n));
  }
  if (inv.command == Command::version) return inv;

  inv.cni_path = env("CNI_PATH");
  const bool per_container = inv.command == Command::add || inv.command == Command::del || inv.command == Command::check;
  if (!per_container) return inv;

  std::vector<std::string> missing;
  inv.container_id = env("CNI_CONTAINERID");
  inv.netns = env("CNI_NETNS");
  inv.ifname = env("CNI_IFNAME");
  if (inv.container_id.empty()) missing.push_back("CNI_CONTAINERID");
  if (inv.netns.empty() && inv.command != Command::del) missing.push_back("CNI_NETNS");
  if (inv.ifname.empty()) missing.push_back("CNI_IFNAME");
  if (inv.cni_path.empty()) missing.push_back("CNI_PATH");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw CniError(kInvalidEnv, "required environment variables missing: " + list);
  }
  try {
    validate_identifier(inv.container_id, "CNI_CONTAINERID", 255);
    validate_ifname(inv.ifname, "CNI_IFNAME");
    validate_utf8(inv.netns, "CNI_NETNS");
    validate_utf8(inv.cni_path, "CNI_PATH");
  } catch (const InvalidInput& e) {
    bad_env(e.field(), e.problem());
  }
  if (!inv.netns.empty() && inv.netns.front() != '/') bad_env("CNI_NETNS", "must be an absolute path");

  // CNI_ARGS: "K1=V1;K2=V2".
  std::string_view a = std::getenv("CNI_ARGS") ? std::getenv("CNI_ARGS") : "";
  if (!is_utf8(a)) bad_env("CNI_ARGS", fmt::format("'{}' is not UTF-8", printable(a)));
  while (!a.empty()) {
    auto semi = a.find(';');
    std::string_view pair = a.substr(0, semi);
    a = semi == std::string_view::npos ? std::string_view{} : a.substr(semi + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) bad_env("CNI_ARGS", fmt::format("'{}' is not KEY=VALUE", printable(pair)));
    inv.args.emplace_back(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
  }
  return inv;
}

void parse_config(Invocation& inv) {
  inv.conf = json::parse(inv.stdin_text, nullptr, false);
  if (inv.conf.is_discarded()) throw CniError(kDecodeFailure, "cannot decode the network configuration on stdin: not valid JSON");
  if (!inv.conf.is_object()) throw CniError(kDecodeFailure, "cannot decode the network configuration: expected a JSON object");
  auto v = get_string(inv.conf, "cniVersion");
  if (!v) throw CniError(kIncompatibleVersion, "cniVersion is missing; this plugin supports " + supported_versions_text());
  if (!version_supported(*v))
    throw CniError(kIncompatibleVersion,
                   fmt::format("incompatible CNI versions: cniVersion {} is not one of {}", *v, supported_versions_text()));
  inv.version = *v;
  inv.type = get_string(inv.conf, "type").value_or("");
  if (const auto* d = get_object(inv.conf, "dns")) inv.dns = dns_from_json(*d, "dns");
  auto name = get_string(inv.conf, "name");
  if (!name) bad_config("name", "missing");
  try {
    // The name becomes a directory under the IPAM data dir: no path traversal.
    validate_identifier(*name, "name", 128);
  } catch (const InvalidInput& e) {
    bad_config("name", e.problem());
  }
  inv.name = *name;
  if (inv.command == Command::check && !inv.at_least("0.4.0"))
    throw CniError(kIncompatibleVersion, fmt::format("config version {} does not allow CHECK (needs 0.4.0 or later)", inv.version));
  if ((inv.command == Command::gc || inv.command == Command::status) && !inv.at_least("1.1.0"))
    throw CniError(kIncompatibleVersion, fmt::format("config version {} does not allow {} (needs 1.1.0)", inv.version,
                                                     inv.command == Command::gc ? "GC" : "STATUS"));
}

void check_args(const Invocation& inv, std::initializer_list<std::string_view> known) {
  auto ignore = inv.arg("IgnoreUnknown");
  if (ignore && (*ignore == "1" || *ignore == "true" || *ignore == "True")) return;
  const auto* ipam = member(inv.conf, "ipam");
  const bool static_ipam = ipam && ipam->is_object() && ipam->value("type", json()) == "static";
  for (const auto& [k, v] : inv.args) {
    if (k == "IgnoreUnknown" || (k == "GATEWAY" && static_ipam)) continue;  // static's own key
    // What a kubelet passes to every plugin (the reference's CommonArgs callers accept these too).
    bool ok = k == "K8S_POD_NAMESPACE" || k == "K8S_POD_NAME" || k == "K8S_POD_INFRA_CONTAINER_ID" || k == "K8S_POD_UID";
    for (auto kk : known) ok = ok || kk == k;
    if (!ok) throw CniError(kInvalidEnv, fmt::format("invalid CNI_ARGS: unknown key '{}' (set IgnoreUnknown=1 to allow it)", k));
  }
}

RequestedAddresses requested_addresses(const Invocation& inv) {
  RequestedAddresses out;
  if (auto ip = inv.arg("IP"))
    for (std::string_view s = *ip; !s.empty();) {
      auto comma = s.find(',');
      out.args.push_back({std::string(s.substr(0, comma)), "CNI_ARGS IP"});
      s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    }
  if (const auto* ips = inv.runtime("ips")) {
    if (!ips->is_array()) wrong_type("runtimeConfig.ips", "an array of strings");
    for (const auto& v : *ips) {
      if (!v.is_string()) wrong_type("runtimeConfig.ips", "an array of strings");
      out.runtime.push_back({v.get<std::string>(), "runtimeConfig.ips"});
    }
  }
  return out;
}

std::vector<IpAddress> requested_ips(const Invocation& inv) {
  const RequestedAddresses r = requested_addresses(inv);
  std::vector<IpAddress> out;
  for (const auto* list : {&r.args, &r.runtime})
    for (const auto& g : *list) {
      auto ip = IpAddress::try_parse(std::string_view(g.cidr).substr(0, g.cidr.find('/')));
      if (!ip) bad_config(g.field, fmt::format("'{}' is not an IP address", g.cidr));
      out.push_back(*ip);
    }
  return out;
}

std::optional<MacAddress> requested_mac(const Invocation& inv) {
  std::optional<std::string> text;
  if (const auto* m = inv.runtime("mac")) {
    if (!m->is_string()) wrong_type("runtimeConfig.mac", "a string");
    text = m->get<std::string>();
  } else if (auto a = inv.arg("MAC")) {
    text = *a;
  }
  if (!text) return std::nullopt;
  auto mac = MacAddress::try_parse(*text);
  if (!mac) bad_config("runtimeConfig.mac", fmt::format("'{}' is not a MAC address", *text));
  return mac;
}

std::set<ipam::Attachment> valid_attachments(const Invocation& inv) {
  std::set<ipam::Attachment> out;
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    const auto* list = get_array(inv.conf, key);
    if (!list) continue;
    for (size_t i = 0; i < list->size(); ++i) {
      std::string f = fmt::format("{}[{}]", key, i);
      auto id = get_string((*list)[i], "containerID", f);
      auto ifname = get_string((*list)[i], "ifname", f);
      if (!id || !ifname) bad_config(f, "needs containerID and ifname");
      out.insert({*id, *ifname});
    }
  }
  return out;
}

std::string host_veth_name(const Invocation& inv) {
  uint64_t h = fnv1a(inv.container_id);
  h = fnv1a(std::string_view("\0", 1), h);
  h = fnv1a(inv.ifname, h);
  return fmt::format("veth{:08x}", static_cast<uint32_t>(h ^ (h >> 32)));
}

MacAddress host_veth_mac(const Invocation& inv) {
  return MacAddress::derived("ctnet-host/" + inv.container_id + "/" + inv.ifname);
}

NetNs open_container_netns(const Invocation& inv) {
  try {
    return NetNs::open_path(inv.netns);
  } catch (const Error& e) {
    throw CniError(kUnknownContainer, fmt::format("container namespace {} cannot be opened: {}", inv.netns, e.what()));
  }
}

NsSocket& open_container_netns(kinds::Txn& txn, const Invocation& inv) {
  NetNs ns = open_container_netns(inv);
  try {
    return txn.adopt(std::move(ns), inv.netns);
  } catch (const Error& e) {
    // A file that is no namespace (setns refuses it): the container is as unknown as a missing path.
    throw CniError(kUnknownContainer, fmt::format("container namespace {} cannot be entered: {}", inv.netns, e.what()));
  }
}

kinds::NsRef container_ref(const Invocation& inv) { return {.spec = inv.netns}; }

// ---- IPAM --------------------------------------------------------------------------------------------------

Ipam::Ipam(const Invocation& inv) : inv_(inv) {
  const auto* ipam = get_object(inv.conf, "ipam");
  if (!ipam) return;
  type_ = get_string(*ipam, "type", "ipam").value_or("");
  if (type_.empty()) {
    if (!ipam->empty()) bad_config("ipam.type", "missing");
    return;
  }
  if (type_ == "host-local") {
    const json* ranges = inv.runtime("ipRanges");
    host_local_ = ipam::parse_config(*ipam, inv.name, ranges);
  } else if (type_ == "static") {
    const RequestedAddresses given = requested_addresses(inv);
    static_ = ipam::parse_static(*ipam, given.args, inv.arg("GATEWAY"), given.runtime, !inv.at_least("0.3.0"));
    if (const auto* d = get_object(*ipam, "dns", "ipam")) static_dns_ = dns_from_json(*d, "ipam.dns");
  } else if (type_ == "dhcp") {
    validate_dhcp_ipam(inv, *ipam);  // executed once the interface exists: its keys are refused before that
  } else if (type_.find('/') != std::string::npos || type_ == "." || type_ == "..") {
    bad_config("ipam.type", fmt::format("'{}' is not a plugin name", type_));
  }
}

IpamExec Ipam::exec_spec() const {
  return {type_, inv_.cni_path, inv_.stdin_text, inv_.container_id, inv_.netns, inv_.ifname};
}

std::optional<kinds::Made> Ipam::record(kinds::Txn& txn) const {
  if (type_.empty() || static_) return std::nullopt;
  if (host_local_) return host_local_record(txn, host_local_->data_dir, host_local_->network, inv_.container_id, inv_.ifname);
  return ipam_exec_record(txn, exec_spec());
}

Result Ipam::add(kinds::Txn& txn) {
  if (type_.empty()) return {};
  Result r;
  if (static_) {
    for (const auto& a : static_->addresses) r.ips.push_back({a.address, a.gateway, std::nullopt});
    for (const auto& rt : static_->routes) r.routes.push_back({rt.dst, rt.gw});
    r.dns = static_dns_;
    return r;
  }
  if (!host_local_) {
    txn.done(txn.make(*record(txn), [&] { r = exec_ipam(exec_spec(), "ADD"); }));
    return r;
  }
  std::vector<ipam::Lease> leases;
  txn.done(txn.make(*record(txn), [&] {
    leases = ipam::allocate(*host_local_, inv_.container_id, inv_.ifname, requested_ips(inv_));
  }));
  for (const auto& l : leases) r.ips.push_back({l.address, l.gateway, std::nullopt});
  for (const auto& rt : host_local_->routes) r.routes.push_back({rt.dst, rt.gw});
  if (!host_local_->resolv_conf.empty()) {
    auto d = ipam::parse_resolv_conf(host_local_->resolv_conf);
    r.dns = {d.nameservers, d.search, d.options, d.domain};
  }
  return r;
}

void Ipam::check(const Result& prev) {
  if (type_.empty()) return;
  if (static_) {
    for (const auto& ip : prev.ips) {
      bool found = false;
      for (const auto& a : static_->addresses) found = found || a.address.address() == ip.address.address();
      if (!found) throw CniError(kPluginFailure, fmt::format("static: {} is not a configured address", ip.address.str()));
    }
    return;
  }
  if (!host_local_) {
    exec_ipam(exec_spec(), "CHECK");
    return;
  }
  auto held = ipam::leases_of(*host_local_, inv_.container_id, inv_.ifname);
  for (const auto& ip : prev.ips) {
    bool found = false;
    for (const auto& h : held) found = found || h == ip.address.address();
    if (!found)
      throw CniError(kPluginFailure, fmt::format("host-local: {} holds no lease for {}", inv_.container_id, ip.address.address().str()));
  }
}

void Ipam::gc(const std::set<ipam::Attachment>& valid) {
  if (type_.empty() || static_) return;
  if (!host_local_) {
    exec_ipam(exec_spec(), "GC");
    return;
  }
  ipam::gc(*host_local_, valid);
}

void Ipam::status() {
  if (type_.empty() || static_) return;
  if (!host_local_) {
    exec_ipam(exec_spec(), "STATUS");
    return;
  }
  // The data dir must be usable for ADDs to succeed: made if missing (as the reference's disk store makes it),
  // and written to, through an unnamed O_TMPFILE that leaves nothing behind (as root, access(W_OK) says yes to
  // almost anything).
  const std::string& dir = host_local_->data_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CniError(kNotAvailable, fmt::format("host-local data dir {} cannot be created: {}", dir, ec.message()));
  Fd probe(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
  if (!probe && errno != EOPNOTSUPP)
    throw CniError(kNotAvailable, fmt::format("host-local data dir {} is not writable: {}", dir, std::strerror(errno)));
  if (!probe && ::access(dir.c_str(), W_OK) != 0)  // a file system without O_TMPFILE
    throw CniError(kNotAvailable, fmt::format("host-local data dir {} is not writable: {}", dir, std::strerror(errno)));
}

}  // namespace ctnet::cni
