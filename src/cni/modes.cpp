// macvlan, ipvlan and host-device: links that give the container a presence on a host link rather than a
// veth. macvlan/ipvlan children are born in the container namespace under a temporary name and renamed
// there (a clash with a host name must not fail them); host-device moves a host link in and back on DEL.
#include <dirent.h>
#include <fmt/format.h>

#include <regex>

#include "cni/plugins.h"
#include "kinds/dummy.h"
#include "kinds/host_device.h"
#include "kinds/link_kind.h"
#include "kinds/subif.h"
#include "link/macvlan.h"
#include "util/error.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::cni {
namespace {

std::string master_or_default(NsSocket& host) {
  if (auto l = kinds::default_route_link(host)) return l->name;
  bad_config("master", "missing, and there is no default route to take it from");
}

class SubInterface : public OneInterfacePlugin {
 public:
  SubInterface(Invocation& inv, bool ipvlan) : OneInterfacePlugin(inv, ipvlan ? "ipvlan" : "macvlan"), ipvlan_(ipvlan) {
    check_args(inv, {"MAC", "IP"});
    master_ = get_string(inv.conf, "master").value_or("");
    if (!master_.empty()) {
      try {
        validate_ifname(master_, "master");
      } catch (const InvalidInput& e) {
        bad_config("master", e.problem());
      }
    }
    mtu_ = mtu_key(inv.conf, "mtu");
    std::string mode = get_string(inv.conf, "mode").value_or(ipvlan ? "l2" : "bridge");
    if (ipvlan) {
      auto m = link::parse_ipvlan_mode(mode);
      if (!m) bad_config("mode", fmt::format("'{}' is not an ipvlan mode (l2, l3, l3s)", mode));
      ipvlan_mode_ = *m;
    } else {
      auto m = link::parse_macvlan_mode(mode);
      if (!m) bad_config("mode", fmt::format("'{}' is not a macvlan mode (bridge, private, vepa, passthru)", mode));
      macvlan_mode_ = *m;
      if (auto mac = get_string(inv.conf, "mac")) {
        auto parsed = MacAddress::try_parse(*mac);
        if (!parsed) bad_config("mac", fmt::format("'{}' is not a MAC address", *mac));
        mac_ = parsed;
      }
      if (auto m2 = requested_mac(inv)) mac_ = m2;
    }
  }

  Result add(kinds::Txn& txn) override {
    const auto kind = ipvlan_ ? kinds::subif::Kind::ipvlan : kinds::subif::Kind::macvlan;
    if (ipvlan_) kinds::subif::require_driver(kind);
    kinds::subif::Spec spec{.kind = kind, .parent = master_.empty() ? master_or_default(txn.host()) : master_, .ns = inv_.netns,
                            .name = inv_.ifname, .macvlan_mode = macvlan_mode_, .ipvlan_mode = ipvlan_mode_, .mac = mac_, .mtu = mtu_};
    kinds::subif::validate(spec, "");
    // Refused before anything exists when the parent's MTU or MAC does not allow it (field "mtu", "mac").
    return add_interface(txn, [&] { return kinds::subif::apply(txn, spec, "").index; });
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return records_of(txn, kind_); }


 private:
  bool ipvlan_;
  std::string master_;
  uint32_t mtu_ = 0;
  link::MacvlanMode macvlan_mode_ = link::MacvlanMode::bridge;
  link::IpvlanMode ipvlan_mode_ = link::IpvlanMode::l2;
  std::optional<MacAddress> mac_;
};

class HostDevice : public OneInterfacePlugin {
 public:
  explicit HostDevice(Invocation& inv) : OneInterfacePlugin(inv, "") {
    check_args(inv, {"IP"});
    device_ = get_string(inv.conf, "device").value_or("");
    if (auto hw = get_string(inv.conf, "hwaddr")) {
      auto m = MacAddress::try_parse(*hw);
      if (!m) bad_config("hwaddr", fmt::format("'{}' is not a MAC address", *hw));
      hwaddr_ = m;
    }
    // The device can also be named by where it sits in sysfs: `kernelpath` (/sys/devices/...), `pciBusID`, or a
    // device plugin's runtimeConfig `deviceID` (a PCI address, as SR-IOV device plugins hand out).
    if (auto kp = get_string(inv.conf, "kernelpath")) {
      if (!kp->starts_with("/sys/devices/") || kp->find("..") != std::string::npos)
        bad_config("kernelpath", fmt::format("'{}' is not a device path under /sys/devices/", *kp));
      sysfs_dir_ = *kp + "/net";
    }
    std::optional<std::string> pci = get_string(inv.conf, "pciBusID");
    if (const auto* id = inv.runtime("deviceID"); id && id->is_string()) pci = id->get<std::string>();
    if (pci) {
      static const std::regex kPci("^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
      if (!std::regex_match(*pci, kPci)) bad_config("pciBusID", fmt::format("'{}' is not a PCI address (DDDD:BB:DD.F)", *pci));
      sysfs_dir_ = "/sys/bus/pci/devices/" + *pci + "/net";
    }
    if (device_.empty() && !hwaddr_ && sysfs_dir_.empty() && inv.command == Command::add)
      bad_config("device", "missing: give device, hwaddr, kernelpath or pciBusID");
    if (!device_.empty()) {
      try {
        validate_ifname(device_, "device");
      } catch (const InvalidInput& e) {
        bad_config("device", e.problem());
      }
    }
  }

  Result add(kinds::Txn& txn) override {
    NsSocket& host = txn.host();
    NsSocket& cns = open_container_netns(txn, inv_);
    Result ipr;
    if (!ipam_.needs_interface()) ipr = ipam_.add(txn);
    std::string device = device_;
    if (device.empty() && !sysfs_dir_.empty()) device = netdev_in(sysfs_dir_);
    if (device.empty()) {
      for (const auto& l : link::list(host.rtnl))
        if (l.mac && *l.mac == *hwaddr_) {
          device = l.name;
          break;
        }
      if (device.empty()) bad_config("hwaddr", fmt::format("no link has address {}", hwaddr_->str()));
    }
    // The old name travels with the device as its alias, so DEL (which has no record of it) can give it back.
    const int index = kinds::host_device::apply(txn, {.device = device, .ns = inv_.netns, .name = inv_.ifname, .alias_old_name = true});
    if (ipam_.needs_interface()) ipr = ipam_.add(txn);
    Result res;
    take_ipam_result(res, ipr, 0);
    res.interfaces.push_back({inv_.ifname, kinds::mac_of(cns, inv_.ifname).str(), inv_.netns, kinds::mtu_of(cns, inv_.ifname)});
    configure_container(txn, inv_.netns, index, inv_.ifname, res, false);
    return res;
  }

  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    // Known by its container name; its old name is the configured one or its alias, and, should the container
    // namespace be gone, it is told from a host link of that name by the alias or the configured hwaddr.
    kinds::Made dev{.kind = "host-device", .ns = container_ref(inv_), .name = inv_.ifname,
                    .saved = {{"host", kinds::to_json(txn.ref(txn.host()))}}};
    if (!device_.empty()) dev.saved["device"] = device_;
    if (hwaddr_) dev.saved["mac"] = hwaddr_->str();
    return records_with(txn, std::move(dev));
  }

 private:
  // The one network interface a sysfs device directory holds (DIR/net/NAME).
  static std::string netdev_in(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') names.emplace_back(e->d_name);
      closedir(d);
    }
    if (names.size() != 1)
      throw CniError(kInvalidConfig, fmt::format("{} holds {} network interfaces, expected one", dir, names.size()));
    return names.front();
  }

  std::string device_;
  std::string sysfs_dir_;
  std::optional<MacAddress> hwaddr_;
};

// `vlan`: an 802.1Q sub-interface of `master` (in the host, or with `linkInContainer` in the container) as the
// container's interface, with the reference's keys `vlanId`, `mtu` (not above the master's), `ipam`.
class Vlan : public OneInterfacePlugin {
 public:
  explicit Vlan(Invocation& inv) : OneInterfacePlugin(inv, "vlan") {
    check_args(inv, {"IP"});
    spec_.kind = kinds::subif::Kind::vlan;
    auto master = get_string(inv.conf, "master");
    if (!master) bad_config("master", "missing: the interface to make the VLAN on");
    spec_.parent = *master;
    const auto* id = member(inv.conf, "vlanId");
    if (!id) bad_config("vlanId", "missing");
    if (!id->is_number_integer() || id->get<int64_t>() < 1 || id->get<int64_t>() > 4094)
      bad_config("vlanId", fmt::format("{} is not a VLAN ID between 1 and 4094", id->dump()));
    spec_.vlan_id = id->get<uint16_t>();
    spec_.mtu = mtu_key(inv.conf, "mtu");
    link_in_container_ = get_bool(inv.conf, "linkInContainer", false);
    spec_.ns = inv.netns;
    spec_.name = inv.ifname;
    kinds::subif::validate(spec_, "");
  }

  Result add(kinds::Txn& txn) override {
    kinds::subif::require_driver(spec_.kind);
    if (link_in_container_) spec_.parent_ns = inv_.netns;
    return add_interface(txn, [&] { return kinds::subif::apply(txn, spec_, "").index; });
  }
  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return records_of(txn, "vlan"); }

 private:
  kinds::subif::Spec spec_;
  bool link_in_container_ = false;
};

// `dummy`: a dummy link as the container's interface (addresses and routes, no traffic), as the reference:
// `mtu`, and an `ipam`, which it requires.
class Dummy : public OneInterfacePlugin {
 public:
  explicit Dummy(Invocation& inv) : OneInterfacePlugin(inv, "dummy") {
    check_args(inv, {"IP"});
    if (!ipam_.configured()) bad_config("ipam", "missing: a dummy interface needs an IPAM configuration");
    spec_ = {.ns = inv.netns, .name = inv.ifname, .mtu = mtu_key(inv.conf, "mtu")};
    kinds::dummy::validate(spec_, "");
  }

  Result add(kinds::Txn& txn) override {
    kinds::dummy::require_driver();
    return add_interface(txn, [&] { return kinds::dummy::apply(txn, spec_); });
  }
  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return records_of(txn, "dummy"); }

 private:
  kinds::dummy::Spec spec_;
};

}  // namespace

std::unique_ptr<Plugin> make_macvlan(Invocation& inv) { return std::make_unique<SubInterface>(inv, false); }
std::unique_ptr<Plugin> make_ipvlan(Invocation& inv) { return std::make_unique<SubInterface>(inv, true); }
std::unique_ptr<Plugin> make_host_device(Invocation& inv) { return std::make_unique<HostDevice>(inv); }

std::unique_ptr<Plugin> make_vlan(Invocation& inv) { return std::make_unique<Vlan>(inv); }
std::unique_ptr<Plugin> make_dummy(Invocation& inv) { return std::make_unique<Dummy>(inv); }

}  // namespace ctnet::cni
