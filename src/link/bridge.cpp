#include "link/bridge.h"

#include <fmt/format.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "util/error.h"

namespace ctnet::link {

nl::Message bridge_request(const BridgeSpec& spec) {
  nl::Message m = create_request(spec.name, spec.up, spec.mtu);
  MacAddress mac = spec.mac.value_or(MacAddress::derived("bridge:" + spec.name));
  m.put(IFLA_ADDRESS, mac.bytes.data(), 6);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "bridge");
  if (spec.vlan_filtering) {
    nlattr* data = m.begin_nest(IFLA_INFO_DATA);
    m.put_u8(IFLA_BR_VLAN_FILTERING, 1);
    m.end_nest(data);
  }
  m.end_nest(info);
  return m;
}

void create_bridge(nl::Socket& s, const BridgeSpec& spec) {
  nl::Message m = bridge_request(spec);
  s.ack(m, fmt::format("cannot create bridge {}", spec.name));
}

nl::Message bridge_port_request(int port_index, const BridgePortOptions& o) {
  nl::Message m(RTM_SETLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_BRIDGE;
  ifi->ifi_index = port_index;
  nlattr* prot = m.begin_nest(IFLA_PROTINFO | NLA_F_NESTED);
  if (o.hairpin) m.put_u8(IFLA_BRPORT_MODE, *o.hairpin ? 1 : 0);
  if (o.isolated) m.put_u8(IFLA_BRPORT_ISOLATED, *o.isolated ? 1 : 0);
  if (o.learning) m.put_u8(IFLA_BRPORT_LEARNING, *o.learning ? 1 : 0);
  if (o.flood) m.put_u8(IFLA_BRPORT_UNICAST_FLOOD, *o.flood ? 1 : 0);
  m.end_nest(prot);
  return m;
}

void set_bridge_port(nl::Socket& s, int port_index, const BridgePortOptions& o, std::string_view context) {
  nl::Message m = bridge_port_request(port_index, o);
  s.ack(m, context);
}

nl::Message port_vlan_request(int port_index, bool add, uint16_t vid_min, uint16_t vid_max, uint16_t flags) {
  nl::Message m(add ? RTM_SETLINK : RTM_DELLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_BRIDGE;
  ifi->ifi_index = port_index;
  nlattr* spec = m.begin_nest(IFLA_AF_SPEC);
  if (vid_min == vid_max) {
    bridge_vlan_info v{flags, vid_min};
    m.put(IFLA_BRIDGE_VLAN_INFO, &v, sizeof v);
  } else {
    bridge_vlan_info b{static_cast<uint16_t>(flags | BRIDGE_VLAN_INFO_RANGE_BEGIN), vid_min};
    bridge_vlan_info e{static_cast<uint16_t>(flags | BRIDGE_VLAN_INFO_RANGE_END), vid_max};
    m.put(IFLA_BRIDGE_VLAN_INFO, &b, sizeof b);
    m.put(IFLA_BRIDGE_VLAN_INFO, &e, sizeof e);
  }
  m.end_nest(spec);
  return m;
}

void set_port_vlan(nl::Socket& s, int port_index, bool add, uint16_t vid_min, uint16_t vid_max, uint16_t flags) {
  nl::Message m = port_vlan_request(port_index, add, vid_min, vid_max, flags);
  std::string text;
  int err = s.try_ack(m, &text);
  if (err && !(!add && (err == ENOENT || err == EINVAL)))
    throw Error(fmt::format("cannot {} VLAN {}-{} on port #{}", add ? "set" : "remove", vid_min, vid_max, port_index), err, text);
}

// The AF_BRIDGE link dump with RTEXT_FILTER_BRVLAN: the kernel has no single-link get for it (net/core/rtnetlink.c,
// rtnl_bridge_getlink is a dump only).
PortVlans port_vlans(nl::Socket& s, int port_index) {
  nl::Message m(RTM_GETLINK, 0);
  m.put_header<ifinfomsg>()->ifi_family = AF_BRIDGE;
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_BRVLAN);
  PortVlans v;
  for (auto& msg : s.dump(m, "cannot list bridge VLANs")) {
    if (msg.header<ifinfomsg>()->ifi_index != port_index) continue;
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(ifinfomsg));
    if (!a.has(IFLA_AF_SPEC)) continue;
    for (const nlattr* e : nl::Attrs::list(a.get(IFLA_AF_SPEC))) {
      if (nl::attr_type(e) != IFLA_BRIDGE_VLAN_INFO || nl::attr_payload_len(e) < sizeof(bridge_vlan_info)) continue;
      bridge_vlan_info vi;
      std::memcpy(&vi, nl::attr_payload(e), sizeof vi);
      v.vids[vi.vid] = vi.flags & BRIDGE_VLAN_INFO_UNTAGGED;
      if (vi.flags & BRIDGE_VLAN_INFO_PVID) v.pvid = vi.vid;
    }
  }
  return v;
}

std::string describe(const PortVlans& v) {
  std::string s;
  for (auto [vid, untagged] : v.vids) {
    std::string flags = v.pvid == vid ? "pvid" : "";
    if (untagged) flags += flags.empty() ? "untagged" : ", untagged";
    s += fmt::format("{}{}{}", s.empty() ? "" : ", ", vid, flags.empty() ? "" : " (" + flags + ")");
  }
  return s.empty() ? "none" : s;
}

}  // namespace ctnet::link
