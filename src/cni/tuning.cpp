// `tuning`, a chained plugin: per-namespace network sysctls and the container interface's MAC, MTU, promiscuous
// and all-multicast flags and transmit queue length, with the reference's keys (`sysctl`, `mac`, `mtu`,
// `promisc`, `allmulti`, `txQLen`, runtimeConfig `mac`). ADD records what it changed (kinds "sysctl" and
// "link-setting", with the old values) in a state file under `dataDir`; DEL puts those values back from it.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>

#include "cni/plugins.h"
#include "kinds/link_kind.h"
#include "kinds/sysctl.h"
#include "link/link.h"
#include "ns/sysctl.h"
#include "util/json_get.h"
#include "util/names.h"
#include "util/paths.h"

namespace ctnet::cni {
namespace {

constexpr const char* kDefaultDataDir = "/run/cni/tuning";  // the reference's

std::optional<bool> optional_bool(const nlohmann::json& c, const char* key) {
  const auto* v = member(c, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(key, "a boolean");
  return v->get<bool>();
}

class Tuning : public Plugin {
 public:
  explicit Tuning(Invocation& inv) : inv_(inv) {
    check_args(inv, {"MAC"});
    const auto& c = inv.conf;
    if (const auto* s = get_object(c, "sysctl")) {
      for (const auto& [key, value] : s->items()) {
        const std::string field = "sysctl." + key;
        if (!value.is_string()) wrong_type(field, "a string");
        // Only the network sysctls are per namespace: anything else would change the whole machine.
        std::string path;
        try {
          path = sysctl_path(key);
        } catch (const InvalidInput&) {
          bad_config(field, "not a sysctl key");
        }
        if (!path.starts_with("/proc/sys/net/")) bad_config(field, "invalid net sysctl key (only net.* is per network namespace)");
        sysctls_.emplace_back(key, value.get<std::string>());
      }
    }
    if (auto m = get_string(c, "mac")) {
      settings_.mac = MacAddress::try_parse(*m);
      if (!settings_.mac) bad_config("mac", fmt::format("'{}' is not a MAC address", *m));
    }
    if (auto m = requested_mac(inv)) settings_.mac = m;  // runtimeConfig / CNI_ARGS take precedence
    if (settings_.mac && (settings_.mac->bytes[0] & 1)) bad_config("mac", settings_.mac->str() + " is a multicast address");
    if (uint32_t mtu = mtu_key(c, "mtu")) settings_.mtu = mtu;
    settings_.promisc = optional_bool(c, "promisc");
    settings_.allmulti = optional_bool(c, "allmulti");
    if (const auto* q = member(c, "txQLen")) {
      if (!q->is_number_integer() || q->get<int64_t>() < 0 || q->get<int64_t>() > UINT32_MAX)
        bad_config("txQLen", "must be a non-negative integer");
      settings_.txqlen = q->get<uint32_t>();
    }
    data_dir_ = get_string(c, "dataDir").value_or(kDefaultDataDir);
    if (data_dir_.empty() || data_dir_.front() != '/') bad_config("dataDir", "must be an absolute path");
  }

  Result add(kinds::Txn& txn) override {
    auto prev = prev_result(inv_);
    if (!prev) bad_config("prevResult", "missing: tuning runs chained after a plugin that made the interface");
    const size_t first = txn.made().size();
    link::get(txn.open(inv_.netns).rtnl, inv_.ifname, inv_.netns);  // there, or a clear error
    for (const auto& [key, value] : sysctls_) kinds::sysctl::apply(txn, {.ns = inv_.netns, .key = key, .value = value});
    kinds::change_recorded(txn, inv_.netns, inv_.ifname, settings_);
    // What DEL puts back: the records of this ADD, in a state file that is itself a record (a failed ADD
    // removes it with the rest).
    nlohmann::json records = nlohmann::json::array();
    for (size_t i = first; i < txn.made().size(); ++i) records.push_back(kinds::to_json(txn.made()[i]));
    make_dirs(data_dir_);
    const std::string path = state_path();
    txn.done(txn.make(state_file_record(txn, path), [&] { write_file_replacing(path, records.dump() + "\n"); }));
    if (settings_.mac)
      for (auto& i : prev->interfaces)
        if (i.name == inv_.ifname && i.sandbox == inv_.netns) i.mac = settings_.mac->str();
    return *prev;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    const std::string path = state_path();
    std::ifstream f(path);
    if (!f) return {};  // nothing was changed, or DEL ran before
    auto j = nlohmann::json::parse(f, nullptr, false);
    std::vector<kinds::Made> out{state_file_record(txn, path)};  // first, so that it goes last
    if (j.is_array())
      for (const auto& r : j) out.push_back(kinds::made_from_json(r));
    // Without CNI_NETNS the container's namespace is gone, and its settings with it: only the file goes.
    if (inv_.netns.empty()) out.resize(1);
    return out;
  }

  void check(const Result&) override {
    NetNs cns = open_container_netns(inv_);
    nl::Socket cs = nl::Socket::in(cns);
    auto l = link::find(cs, inv_.ifname);
    if (!l) throw CniError(kPluginFailure, fmt::format("CHECK: interface {} does not exist in the container", inv_.ifname));
    std::vector<std::string> d = kinds::settings_differences(*l, settings_);
    for (const auto& [key, value] : sysctls_)
      if (auto have = read_sysctl(key, &cns); have != value)
        d.push_back(fmt::format("sysctl {} is {} (want {})", key, have.value_or("missing"), value));
    if (!d.empty()) throw CniError(kPluginFailure, fmt::format("CHECK: {}: {}", inv_.ifname, fmt::join(d, "; ")));
  }

  void gc(const std::set<ipam::Attachment>&) override {}
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  std::string state_path() const { return fmt::format("{}/{}-{}.json", data_dir_, inv_.container_id, inv_.ifname); }

  Invocation& inv_;
  std::vector<std::pair<std::string, std::string>> sysctls_;
  kinds::LinkSettings settings_;
  std::string data_dir_;
};

}  // namespace

std::unique_ptr<Plugin> make_tuning(Invocation& inv) { return std::make_unique<Tuning>(inv); }

}  // namespace ctnet::cni
