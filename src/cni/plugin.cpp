// Entry point of the CNI face: reads the invocation, runs one operation, prints the result or the spec's
// error object on stdout, and returns the exit code. Nothing else in the program prints for a plugin.
#include "cni/plugin.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cni/plugins.h"
#include "util/error.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

// Every plugin the binary can act as (by argv[0], or as "ctnet" by the configuration's mode or type).
struct PluginEntry {
  std::string_view name;
  std::unique_ptr<Plugin> (*make)(Invocation&);
};
constexpr PluginEntry kPlugins[] = {
    {"bridge", make_bridge}, {"ptp", make_ptp},       {"host-local", make_host_local}, {"macvlan", make_macvlan},
    {"ipvlan", make_ipvlan}, {"host-device", make_host_device}, {"sriov", make_sriov}, {"loopback", make_loopback},
    {"tuning", make_tuning}, {"static", make_static}, {"tap", make_tap},              {"vlan", make_vlan},
    {"dummy", make_dummy},   {"portmap", make_portmap}, {"firewall", make_firewall},
    {"bandwidth", make_bandwidth}, {"sbr", make_sbr}, {"vrf", make_vrf}, {"dhcp", make_dhcp},
};

// With write(2), not stdio: the answer is one write, without stdio's buffer and its fstat of stdout.
void print_text(std::string s) {
  s += '\n';
  for (size_t done = 0; done < s.size();) {
    ssize_t n = ::write(1, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nobody to tell
    done += static_cast<size_t>(n);
  }
}

// A byte that is not UTF-8 never stops an answer (nlohmann::json would throw): it becomes U+FFFD. Input is
// checked for UTF-8 before anything is made; this is for the error that names such input.
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void print(const nlohmann::json& j) { print_text(dump(j)); }

int print_error(std::string_view version, int code, const std::string& msg, const std::string& details = {}) {
  nlohmann::json j = {{"cniVersion", version}, {"code", code}, {"msg", msg}};
  if (!details.empty()) j["details"] = details;
  print(j);
  return 1;
}

std::unique_ptr<Plugin> make(std::string_view mode, Invocation& inv) {
  for (const auto& p : kPlugins)
    if (p.name == mode) return p.make(inv);
  return nullptr;
}

std::string plugin_names() {
  std::string out;
  for (const auto& p : kPlugins) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

}  // namespace

bool is_plugin_name(std::string_view name) {
  for (const auto& p : kPlugins)
    if (p.name == name) return true;
  return false;
}

int run_plugin(std::string_view name) {
  std::string version(kLatestVersion);
  std::vector<std::string> rollback_errors;  // of a failed ADD: they go into the error's details
  try {
    define_kinds();
    Invocation inv = read_invocation();
    if (inv.command == Command::version) {
      auto j = nlohmann::json::parse(inv.stdin_text, nullptr, false);
      if (j.is_object() && j.contains("cniVersion") && j["cniVersion"].is_string() &&
          version_supported(j["cniVersion"].get<std::string>()))
        version = j["cniVersion"].get<std::string>();
      nlohmann::json out = {{"cniVersion", version}, {"supportedVersions", nlohmann::json::array()}};
      for (auto v : kSupportedVersions) out["supportedVersions"].push_back(v);
      print(out);
      return 0;
    }
    parse_config(inv);
    version = inv.version;
    // As "ctnet", the configuration picks the mode: "mode", or a plugin name in "type".
    std::string mode(name);
    std::string mode_field = "type";
    if (name == "ctnet") {
      if (auto m = get_string(inv.conf, "mode")) {
        mode = *m;
        mode_field = "mode";
      } else {
        mode = inv.type;
      }
    }
    auto plugin = make(mode, inv);
    if (!plugin)
      bad_config(mode_field, "'" + mode + "' is not a plugin ctnet provides (" + plugin_names() + ")");
    switch (inv.command) {
      case Command::add: {
        kinds::Txn txn;
        std::string out;
        try {
          Result r = plugin->add(txn);
          if (inv.dns && plugin->reports_conf_dns()) r.dns = *inv.dns;
          out = dump(r.to_json(version));  // before the commit: a result that cannot be written rolls back
        } catch (...) {
          rollback_errors = txn.rollback();
          throw;
        }
        txn.commit();
        print_text(std::move(out));
        break;
      }
      case Command::del: {
        kinds::Txn txn;
        remove_records(txn, plugin->del_records(txn));
        break;
      }
      case Command::check: {
        auto prev = prev_result(inv);
        if (!prev) bad_config("prevResult", "missing: CHECK needs the result of ADD");
        plugin->check(*prev);
        break;
      }
      case Command::gc:
        plugin->gc(valid_attachments(inv));
        break;
      case Command::status:
        plugin->status();
        break;
      case Command::version:
        break;
    }
    return 0;
  } catch (const std::exception& e) {
    auto c = as_cni_error(e);
    return print_error(version, c.code(), c.what(), with_rollback_errors(c.details(), rollback_errors));
  }
}

CniError as_cni_error(const std::exception& e) {
  if (auto* c = dynamic_cast<const CniError*>(&e)) return *c;
  if (auto* w = dynamic_cast<const WrongType*>(&e)) return {kDecodeFailure, "cannot decode '" + w->field() + "': " + w->problem()};
  if (auto* i = dynamic_cast<const InvalidInput*>(&e)) return {kInvalidConfig, "invalid '" + i->field() + "': " + i->problem()};
  if (dynamic_cast<const Conflict*>(&e)) return {kInvalidConfig, e.what()};
  if (dynamic_cast<const Exhausted*>(&e)) return {kTryAgain, e.what()};
  if (dynamic_cast<const IoError*>(&e)) return {kIoFailure, e.what()};
  // The message already carries the kernel's text; details name the errno for programs that match on it.
  if (auto* x = dynamic_cast<const Error*>(&e)) return {kPluginFailure, x->what(), x->errnum() ? errno_name(x->errnum()) : ""};
  if (dynamic_cast<const nlohmann::json::exception*>(&e))
    return {kDecodeFailure, std::string("cannot decode the configuration: ") + e.what()};
  return {kPluginFailure, e.what()};
}

}  // namespace ctnet::cni
