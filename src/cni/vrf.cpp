// `vrf`, a chained plugin, with the reference's keys and behaviour (plugins/meta/vrf): `vrfname` (the VRF in the
// container, made when missing, with `table` or the first table from 1 no other VRF, rule or route uses) and
// `table` (an existing VRF must have it). The container interface is enslaved to it keeping its addresses and
// routes (kinds/vrf.h). DEL releases the interface and deletes the VRF once no interface is left in it.
#include <fmt/format.h>

#include "cni/plugins.h"
#include "kinds/vrf.h"
#include "link/link.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

class Vrf : public Plugin {
 public:
  explicit Vrf(Invocation& inv) : inv_(inv) {
    check_args(inv, {});
    if (!inv.at_least("0.3.1"))  // the reference's VersionsStartingFrom("0.3.1")
      throw CniError(kIncompatibleVersion, fmt::format("vrf needs cniVersion 0.3.1 or later (not {})", inv.version));
    const auto c = go_keys(inv.conf, {"vrfname", "table"});  // matched without regard to case, as Go does
    spec_.ns = inv.netns;
    spec_.name = get_string(c, "vrfname").value_or("");
    if (spec_.name.empty()) bad_config("vrfname", "missing: the name of the VRF to put the interface in");
    if (const auto t = get_int(c, "table")) {
      if (*t < 0 || *t > UINT32_MAX) bad_config("table", fmt::format("{} is not a routing table (1..4294967295)", *t));
      spec_.table = static_cast<uint32_t>(*t);  // 0, as in the reference, means "pick one"
    }
    kinds::vrf::validate(spec_);
  }

  Result add(kinds::Txn& txn) override {
    auto prev = prev_result(inv_);
    if (!prev) bad_config("prevResult", "missing: vrf runs chained after the plugin that made the interface");
    kinds::vrf::require_driver();
    open_container_netns(txn, inv_);
    const link::Vrf v = kinds::vrf::ensure(txn, spec_);
    kinds::vrf::enslave(txn, {.ns = inv_.netns, .name = inv_.ifname}, v);
    return *prev;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    if (inv_.netns.empty()) return {};  // the namespace is gone, and the VRF with it
    NsSocket* cs = nullptr;
    try {
      cs = &open_container_netns(txn, inv_);
    } catch (const CniError&) {
      return {};
    }
    return {kinds::vrf::record(txn, *cs, spec_.name), kinds::vrf::port_record(txn, *cs, spec_.name, inv_.ifname)};
  }

  void check(const Result&) override {
    nl::Socket cs = nl::Socket::in(open_container_netns(inv_));
    auto v = link::find(cs, spec_.name);
    if (!v || v->kind != "vrf") throw CniError(kPluginFailure, fmt::format("CHECK: VRF {} does not exist in the container", spec_.name));
    auto l = link::find(cs, inv_.ifname);
    if (!l || l->master != v->index)
      throw CniError(kPluginFailure, fmt::format("CHECK: interface {} is not in VRF {}", inv_.ifname, spec_.name));
  }

  void gc(const std::set<ipam::Attachment>&) override {}
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  Invocation& inv_;
  kinds::vrf::Spec spec_;
};

}  // namespace

std::unique_ptr<Plugin> make_vrf(Invocation& inv) { return std::make_unique<Vrf>(inv); }

}  // namespace ctnet::cni
