// The `sriov` plugin (sriov-cni's keys) on ctnet's SR-IOV engine (src/sriov): the VF named by `deviceID` (its
// PCI address, as device plugins hand it over) or by `master` + `vf` is configured through its PF, moved into
// the container and renamed; DEL gives it back to the host with its old name and settings.
#include <fmt/format.h>

#include "cni/plugins.h"
#include "kinds/link_kind.h"
#include "kinds/vf.h"
#include "sriov/attach.h"
#include "sriov/device.h"
#include "util/error.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::cni {
namespace {

// sriov-cni writes spoofchk and trust as "on"/"off"; a JSON boolean is accepted too.
std::optional<bool> on_off(const nlohmann::json& c, std::string_view key) {
  const auto* v = member(c, key);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string() && (*v == "on" || *v == "off")) return *v == "on";
  wrong_type(key, "\"on\" or \"off\"");
}

class Sriov : public OneInterfacePlugin {
 public:
  explicit Sriov(Invocation& inv) : OneInterfacePlugin(inv, "") {
    check_args(inv, {"MAC", "IP"});
    const auto& c = inv.conf;
    if (auto d = get_string(c, "deviceID")) {
      try {
        pci_ = sriov::normalize_pci(*d, "deviceID");
      } catch (const InvalidInput& e) {
        bad_config("deviceID", e.problem());
      }
    }
    master_ = get_string(c, "master").value_or("");
    if (!master_.empty()) {
      try {
        validate_ifname(master_, "master");
      } catch (const InvalidInput& e) {
        bad_config("master", e.problem());
      }
    }
    if (auto v = get_int(c, "vf")) {
      if (*v < 0) bad_config("vf", "must be a VF index (0 or more)");
      vf_ = static_cast<uint32_t>(*v);
    }
    if (inv.command == Command::add && !pci_ && master_.empty()) bad_config("deviceID", "missing: give deviceID, or master (and vf)");
    if (pci_ && vf_) bad_config("vf", "give deviceID or vf, not both");
    auto& s = settings_;
    if (auto v = get_int(c, "vlan")) {
      if (*v < 0 || *v > 4094) bad_config("vlan", fmt::format("{} is not a VLAN ID (0-4094)", *v));
      s.vlan = static_cast<uint16_t>(*v);
    }
    if (auto v = get_int(c, "vlanQoS")) {
      if (*v < 0 || *v > 7) bad_config("vlanQoS", fmt::format("{} is not a priority (0-7)", *v));
      s.qos = static_cast<uint8_t>(*v);
    }
    if (auto p = get_string(c, "vlanProto")) {
      auto pp = sriov::parse_vlan_proto(*p);
      if (!pp) bad_config("vlanProto", fmt::format("'{}' is not 802.1Q or 802.1ad", *p));
      s.proto = pp;
    }
    if (auto m = get_string(c, "mac")) {
      auto mm = MacAddress::try_parse(*m);
      if (!mm) bad_config("mac", fmt::format("'{}' is not a MAC address", *m));
      s.mac = mm;
    }
    if (auto m = requested_mac(inv)) s.mac = m;
    s.spoofchk = on_off(c, "spoofchk");
    s.trust = on_off(c, "trust");
    if (auto l = get_string(c, "link_state")) {
      auto ls = sriov::parse_link_state(*l);
      if (!ls) bad_config("link_state", fmt::format("'{}' is not auto, enable or disable", *l));
      s.link_state = ls;
    }
    for (auto [key, field] : {std::pair{"min_tx_rate", &s.min_tx_rate}, std::pair{"max_tx_rate", &s.max_tx_rate}})
      if (auto v = get_int(c, key)) {
        if (*v < 0 || *v > UINT32_MAX) bad_config(key, fmt::format("{} is not a rate in Mbit/s", *v));
        *field = static_cast<uint32_t>(*v);
      }
    try {
      sriov::validate(s);
    } catch (const InvalidInput& e) {
      bad_config(e.field(), e.problem());
    }
  }

  Result add(kinds::Txn& txn) override {
    NsSocket& cns = open_container_netns(txn, inv_);
    Result ipr;
    if (!ipam_.needs_interface()) ipr = ipam_.add(txn);
    sriov::AttachSpec spec;
    spec.netns = inv_.netns;
    spec.name = inv_.ifname;
    spec.settings = settings_;
    if (pci_) {
      spec.pci = pci_;
      auto ref = sriov::vf_by_pci(*pci_);
      auto pf = sriov::pci_netdev(ref.pf_pci);
      if (!pf) throw CniError(kPluginFailure, fmt::format("deviceID {}: its PF {} has no netdev in this namespace", *pci_, ref.pf_pci));
      spec.pf = *pf;
    } else {
      spec.pf = master_;
      spec.vf = vf_;
    }
    kinds::vf::apply(txn, spec);  // configured, moved in, renamed and up
    if (ipam_.needs_interface()) ipr = ipam_.add(txn);
    const int index = kinds::index_of(cns, inv_.ifname);
    Result res;
    res.interfaces.push_back({inv_.ifname, kinds::mac_of(cns, inv_.ifname).str(), inv_.netns, 0});
    take_ipam_result(res, ipr, 0);
    configure_container(txn, inv_.netns, index, inv_.ifname, res, false);
    return res;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    // The allocation record (keyed by namespace and name) restores the VF, also when the namespace is gone.
    return records_with(txn, {.kind = "vf-attachment", .ns = container_ref(inv_), .name = inv_.ifname});
  }

 private:
  std::optional<std::string> pci_;
  std::string master_;
  std::optional<uint32_t> vf_;
  sriov::VfSettings settings_;
};

}  // namespace

std::unique_ptr<Plugin> make_sriov(Invocation& inv) { return std::make_unique<Sriov>(inv); }

}  // namespace ctnet::cni
