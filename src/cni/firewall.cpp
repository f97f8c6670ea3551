// `firewall`, a chained plugin, as podman chains it after bridge and portmap: traffic from the container's
// addresses and replies to them accepted, the admin chain (`iptablesAdminChainName`, default CNI-ADMIN) for the
// user's own rules, `ingressPolicy` open (default), same-bridge or isolated, in ctnet's nftables table
// (nft/firewall.h). `backend` iptables (or nftables, or none) means these rules; `firewalld` is refused with the
// reason: ctnet does not drive firewalld's D-Bus API.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <fstream>

#include "cni/plugins.h"
#include "nft/firewall.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

// firewalld writes its pid here (firewalld(1), --nopid); a pid whose process is firewalld means it runs.
bool firewalld_running() {
  std::ifstream f("/run/firewalld.pid");
  pid_t pid = 0;
  if (!(f >> pid) || pid <= 0) return false;
  std::ifstream comm(fmt::format("/proc/{}/comm", pid));
  std::string name;
  return std::getline(comm, name) && name.starts_with("firewalld");
}

class Firewall : public Plugin {
 public:
  explicit Firewall(Invocation& inv) : inv_(inv) {
    check_args(inv, {});
    const auto& c = inv.conf;
    const std::string backend = get_string(c, "backend").value_or("");
    if (backend == "firewalld") {
      if (!firewalld_running()) bad_config("backend", "firewalld is not running (leave backend empty or set iptables)");
      bad_config("backend", "firewalld runs, but ctnet does not drive its D-Bus API: put the network's bridge in a "
                            "firewalld zone, or leave backend empty for ctnet's nftables rules");
    }
    if (!backend.empty() && backend != "iptables" && backend != "nftables")
      bad_config("backend", fmt::format("'{}' is not a backend (iptables, firewalld)", backend));
    (void)get_string(c, "firewalldZone");  // the firewalld backend's; its type is still checked
    if (auto a = get_string(c, "iptablesAdminChainName")) {
      if (a->empty() || a->size() > 28 || a->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos ||
          *a == "forward" || *a == "isolation")
        bad_config("iptablesAdminChainName", fmt::format("'{}' is not a chain name (1-28 letters, digits, '_', '-')", *a));
      admin_ = *a;
    }
    const std::string policy = get_string(c, "ingressPolicy").value_or("open");
    if (policy == "open" || policy.empty()) ingress_ = nft::IngressPolicy::open;
    else if (policy == "same-bridge") ingress_ = nft::IngressPolicy::same_bridge;
    else if (policy == "isolated") ingress_ = nft::IngressPolicy::isolated;
    else bad_config("ingressPolicy", fmt::format("'{}' is not open, same-bridge or isolated", policy));
  }

  Result add(kinds::Txn& txn) override {
    auto prev = prev_result(inv_);
    if (!prev) bad_config("prevResult", "missing: firewall runs chained after a plugin that made the interface");
    auto spec = spec_of(*prev);
    if (!spec.addresses.empty()) txn.done(txn.make(firewall_record(txn, key()), [&] { nft::add_firewall(spec); }));
    return *prev;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return {firewall_record(txn, key())}; }

  void check(const Result& prev) override {
    auto spec = spec_of(prev);
    if (spec.addresses.empty()) return;
    auto d = nft::check_firewall(spec);
    if (!d.empty()) throw CniError(kPluginFailure, fmt::format("CHECK: {}", fmt::join(d, "; ")));
  }

  void gc(const std::set<ipam::Attachment>& valid) override { nft::gc_firewall(inv_.name, valid); }
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  nft::FirewallSpec spec_of(const Result& prev) const {
    nft::FirewallSpec s{.key = key(), .ingress = ingress_, .admin_chain = admin_};
    for (const auto& ip : prev.ips) s.addresses.push_back(ip.address.address());
    if (ingress_ != nft::IngressPolicy::open) {
      // The bridge is the result's first interface, as the reference takes it.
      if (prev.interfaces.empty() || prev.interfaces[0].name.empty() || !prev.interfaces[0].sandbox.empty())
        bad_config("ingressPolicy", "needs the bridge as the first interface of prevResult (chain firewall after bridge)");
      s.bridge = prev.interfaces[0].name;
    }
    return s;
  }
  nft::MasqKey key() const { return {inv_.name, inv_.container_id, inv_.ifname}; }

  Invocation& inv_;
  nft::IngressPolicy ingress_ = nft::IngressPolicy::open;
  std::string admin_ = "CNI-ADMIN";
};

}  // namespace

std::unique_ptr<Plugin> make_firewall(Invocation& inv) { return std::make_unique<Firewall>(inv); }

}  // namespace ctnet::cni
