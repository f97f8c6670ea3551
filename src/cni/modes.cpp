// macvlan, ipvlan and host-device: links that give the container a presence on a host link rather than a
// veth. macvlan/ipvlan children are born in the container namespace under a temporary name and renamed
// there (a clash with a host name must not fail them); host-device moves a host link in and back on DEL.
#include <dirent.h>
#include <fmt/format.h>

#include <regex>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "addr/route.h"
#include "cni/plugins.h"
#include "link/macvlan.h"
#include "util/error.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::cni {
namespace {

std::string master_or_default(nl::Socket& hs) {
  if (auto l = default_route_link(hs)) return l->name;
  bad_config("master", "missing, and there is no default route to take it from");
}

void rename_and_up(nl::Socket& cs, const std::string& from, const std::string& to) {
  auto l = link::get(cs, from);
  // One request: do_setlink() renames before it changes flags, so the link comes up under its final name.
  link::change(cs, l.index, {.up = true, .name = to}, fmt::format("cannot rename {} to {}", from, to));
}

void set_alias(nl::Socket& s, int index, const std::string& alias) {
  nl::Message m(RTM_NEWLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  m.put_str(IFLA_IFALIAS, alias);
  s.ack(m, "cannot set the interface alias");
}

void configure_addresses(nl::Socket& cs, const std::string& ifname, Result& res) {
  auto cl = link::get(cs, ifname);
  res.interfaces.push_back({ifname, cl.mac ? cl.mac->str() : "", "", cl.mtu});
  configure_container(cs, cl.index, ifname, res, false);
}

void del_in_container(Invocation& inv, Ipam& ipam) {
  DelSteps del;
  del.step([&] {
    if (inv.netns.empty()) return;
    NetNs cns = NetNs::open_path(inv.netns);
    nl::Socket cs = nl::Socket::in(cns);
    link::remove(cs, inv.ifname);
  });
  del.step([&] { ipam.del(); });
  del.finish();
}

class SubInterface : public OneInterfacePlugin {
 public:
  SubInterface(Invocation& inv, bool ipvlan) : OneInterfacePlugin(inv), ipvlan_(ipvlan) {
    check_args(inv, {"MAC", "IP", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"});
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

  Result add() override {
    if (ipvlan_ && !link::kernel_has_link_kind("ipvlan"))
      throw CniError(kPluginFailure, "ipvlan: the running kernel has no ipvlan driver (CONFIG_IPVLAN); use macvlan");
    nl::Socket hs;
    UndoLog undo;
    NetNs cns = open_container_netns(inv_);
    Result ipr = ipam_.add(undo);
    std::string master = master_.empty() ? master_or_default(hs) : master_;
    auto parent = link::get(hs, master);
    const std::string tmp = link::temporary_name("cni");
    link::SubInterfaceSpec spec{.name = tmp, .parent = parent.index, .netns_fd = cns.fd(), .mtu = mtu_, .mac = mac_};
    if (ipvlan_) link::create_ipvlan(hs, spec, ipvlan_mode_);
    else link::create_macvlan(hs, spec, macvlan_mode_);
    nl::Socket cs = nl::Socket::in(cns);
    undo.add("sub-interface in the container", [&cs, tmp, this] {
      link::remove(cs, tmp);
      link::remove(cs, inv_.ifname);
    });
    rename_and_up(cs, tmp, inv_.ifname);
    Result res;
    take_ipam_result(res, ipr, 0);
    configure_addresses(cs, inv_.ifname, res);
    res.interfaces.back().sandbox = inv_.netns;
    undo.commit();
    return res;
  }
  void del() override { del_in_container(inv_, ipam_); }

 protected:
  void check_link(nl::Socket& cs) override {
    auto l = link::find(cs, inv_.ifname);
    if (!l || l->kind != (ipvlan_ ? "ipvlan" : "macvlan"))
      throw CniError(kPluginFailure, fmt::format("CHECK: {} is not a {} link in the container", inv_.ifname, ipvlan_ ? "ipvlan" : "macvlan"));
  }

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
  explicit HostDevice(Invocation& inv) : OneInterfacePlugin(inv) {
    check_args(inv, {"IP", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"});
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

  Result add() override {
    nl::Socket hs;
    UndoLog undo;
    NetNs cns = open_container_netns(inv_);
    Result ipr = ipam_.add(undo);
    link::Link dev;
    if (device_.empty() && !sysfs_dir_.empty()) device_ = netdev_in(sysfs_dir_);
    if (!device_.empty()) {
      dev = link::get(hs, device_);
    } else {
      bool found = false;
      for (const auto& l : link::list(hs))
        if (l.mac && *l.mac == *hwaddr_) {
          dev = l;
          found = true;
          break;
        }
      if (!found) bad_config("hwaddr", fmt::format("no link has address {}", hwaddr_->str()));
    }
    // The original name travels with the link as its alias, so DEL can give it back.
    set_alias(hs, dev.index, dev.name);
    link::change(hs, dev.index, {.up = false, .name = inv_.ifname, .netns_fd = cns.fd()},
                 fmt::format("cannot move {} into the container", dev.name));
    NetNs host = NetNs::current();
    nl::Socket cs = nl::Socket::in(cns);
    std::string orig = dev.name;
    undo.add("host device " + orig, [&cs, &host, this, orig] {
      if (auto l = link::find(cs, inv_.ifname))
        link::change(cs, l->index, {.up = false, .name = orig, .netns_fd = host.fd()}, "cannot move the device back");
    });
    Result res;
    take_ipam_result(res, ipr, 0);
    configure_addresses(cs, inv_.ifname, res);
    res.interfaces.back().sandbox = inv_.netns;
    undo.commit();
    return res;
  }

  void del() override {
    DelSteps del;
    del.step([&] {
      if (inv_.netns.empty()) return;
      NetNs cns = NetNs::open_path(inv_.netns);
      NetNs host = NetNs::current();
      nl::Socket cs = nl::Socket::in(cns);
      if (auto l = link::find(cs, inv_.ifname)) {
        std::string orig = !l->alias.empty() && is_valid_ifname(l->alias) ? l->alias : device_;
        link::Change c{.up = false, .netns_fd = host.fd()};
        if (!orig.empty()) c.name = orig;
        link::change(cs, l->index, c, fmt::format("cannot move {} back to the host", inv_.ifname));
      }
    });
    del.step([&] { ipam_.del(); });
    del.finish();
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

}  // namespace

std::unique_ptr<Plugin> make_macvlan(Invocation& inv) { return std::make_unique<SubInterface>(inv, false); }
std::unique_ptr<Plugin> make_ipvlan(Invocation& inv) { return std::make_unique<SubInterface>(inv, true); }
std::unique_ptr<Plugin> make_host_device(Invocation& inv) { return std::make_unique<HostDevice>(inv); }

}  // namespace ctnet::cni
