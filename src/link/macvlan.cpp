#include "link/macvlan.h"

#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "util/error.h"
#include "util/english.h"

namespace ctnet::link {

std::optional<MacvlanMode> parse_macvlan_mode(std::string_view s) {
  if (s == "bridge") return MacvlanMode::bridge;
  if (s == "private") return MacvlanMode::private_;
  if (s == "vepa") return MacvlanMode::vepa;
  if (s == "passthru") return MacvlanMode::passthru;
  if (s == "source") return MacvlanMode::source;
  return std::nullopt;
}

std::string_view to_string(MacvlanMode m) {
  switch (m) {
    case MacvlanMode::bridge: return "bridge";
    case MacvlanMode::private_: return "private";
    case MacvlanMode::vepa: return "vepa";
    case MacvlanMode::passthru: return "passthru";
    case MacvlanMode::source: return "source";
  }
  return "?";
}

std::optional<IpvlanMode> parse_ipvlan_mode(std::string_view s) {
  if (s == "l2") return IpvlanMode::l2;
  if (s == "l3") return IpvlanMode::l3;
  if (s == "l3s") return IpvlanMode::l3s;
  return std::nullopt;
}

std::optional<IpvlanFlag> parse_ipvlan_flag(std::string_view s) {
  if (s == "bridge") return IpvlanFlag::bridge;
  if (s == "private") return IpvlanFlag::private_;
  if (s == "vepa") return IpvlanFlag::vepa;
  return std::nullopt;
}

std::string_view to_string(IpvlanMode m) {
  switch (m) {
    case IpvlanMode::l2: return "l2";
    case IpvlanMode::l3: return "l3";
    case IpvlanMode::l3s: return "l3s";
  }
  return "?";
}

std::string_view to_string(IpvlanFlag f) {
  switch (f) {
    case IpvlanFlag::bridge: return "bridge";
    case IpvlanFlag::private_: return "private";
    case IpvlanFlag::vepa: return "vepa";
  }
  return "?";
}

namespace {
uint32_t kernel_macvlan_mode(MacvlanMode m) {
  switch (m) {
    case MacvlanMode::bridge: return MACVLAN_MODE_BRIDGE;
    case MacvlanMode::private_: return MACVLAN_MODE_PRIVATE;
    case MacvlanMode::vepa: return MACVLAN_MODE_VEPA;
    case MacvlanMode::passthru: return MACVLAN_MODE_PASSTHRU;
    case MacvlanMode::source: return MACVLAN_MODE_SOURCE;
  }
  return MACVLAN_MODE_BRIDGE;
}

nl::Message sub_interface_request(const SubInterfaceSpec& spec) {
  nl::Message m = create_request(spec.name, false, spec.mtu);
  m.put_u32(IFLA_LINK, static_cast<uint32_t>(spec.parent));
  if (spec.netns_fd) m.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(*spec.netns_fd));
  if (spec.mac) m.put(IFLA_ADDRESS, spec.mac->bytes.data(), 6);
  return m;
}
}  // namespace

nl::Message macvlan_request(const SubInterfaceSpec& spec, MacvlanMode mode) {
  nl::Message m = sub_interface_request(spec);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "macvlan");
  nlattr* data = m.begin_nest(IFLA_INFO_DATA);
  m.put_u32(IFLA_MACVLAN_MODE, kernel_macvlan_mode(mode));
  m.end_nest(data);
  m.end_nest(info);
  return m;
}

nl::Message ipvlan_request(const SubInterfaceSpec& spec, IpvlanMode mode, IpvlanFlag flag) {
  nl::Message m = sub_interface_request(spec);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "ipvlan");
  nlattr* data = m.begin_nest(IFLA_INFO_DATA);
  m.put_u16(IFLA_IPVLAN_MODE, mode == IpvlanMode::l2 ? IPVLAN_MODE_L2 : mode == IpvlanMode::l3 ? IPVLAN_MODE_L3 : IPVLAN_MODE_L3S);
  m.put_u16(IFLA_IPVLAN_FLAGS, flag == IpvlanFlag::private_ ? IPVLAN_F_PRIVATE : flag == IpvlanFlag::vepa ? IPVLAN_F_VEPA : 0);
  m.end_nest(data);
  m.end_nest(info);
  return m;
}

void create_macvlan(nl::Socket& s, const SubInterfaceSpec& spec, MacvlanMode mode) {
  nl::Message m = macvlan_request(spec, mode);
  s.ack(m, fmt::format("cannot create macvlan {}", spec.name));
}

void create_ipvlan(nl::Socket& s, const SubInterfaceSpec& spec, IpvlanMode mode, IpvlanFlag flag) {
  nl::Message m = ipvlan_request(spec, mode, flag);
  s.ack(m, fmt::format("cannot create ipvlan {}", spec.name));
}

nl::Message vlan_request(const SubInterfaceSpec& spec, uint16_t id) {
  nl::Message m = sub_interface_request(spec);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "vlan");
  nlattr* data = m.begin_nest(IFLA_INFO_DATA);
  m.put_u16(IFLA_VLAN_ID, id);
  m.end_nest(data);
  m.end_nest(info);
  return m;
}

void create_vlan(nl::Socket& s, const SubInterfaceSpec& spec, uint16_t id) {
  nl::Message m = vlan_request(spec, id);
  s.ack(m, fmt::format("cannot create vlan {} (id {})", spec.name, id));
}

bool kernel_has_link_kind(std::string_view kind) {
  // Loaded (or built in with parameters): /sys/module/<driver>; loadable: listed in modules.dep / builtin.
  std::string k(kind);
  if (::access(("/sys/module/" + k).c_str(), F_OK) == 0) return true;
  utsname u{};
  uname(&u);
  for (const char* list : {"modules.builtin", "modules.dep"}) {
    std::ifstream f(fmt::format("/lib/modules/{}/{}", u.release, list));
    std::string line;
    const std::string needle = "/" + k + ".ko";
    while (std::getline(f, line))
      if (line.find(needle) != std::string::npos) return true;
  }
  // A built-in driver without parameters has no /sys/module entry, and /lib/modules may be absent (containers).
  // Ask the kernel: a creation request without IFLA_LINK is refused by the driver itself with EINVAL
  // (macvlan_common_newlink, ipvlan_link_new) and creates nothing, while an unknown kind is refused with
  // EOPNOTSUPP "Unknown device type" (rtnl_newlink, after trying to load the module rtnl-link-KIND).
  nl::Socket s;
  nl::Message m = create_request(temporary_name("prb"));
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, kind);
  m.end_nest(info);
  int err = s.try_ack(m);
  if (err == 0) throw Error(fmt::format("the kernel created {} link without a parent while probing", article(kind)));
  return err != EOPNOTSUPP;
}

}  // namespace ctnet::link
