#include "link/vxlan.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

namespace ctnet::link {

nl::Message vxlan_request(const VxlanSpec& spec) {
  nl::Message m = create_request(spec.name, spec.up, spec.mtu, spec.master);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "vxlan");
  nlattr* data = m.begin_nest(IFLA_INFO_DATA);
  m.put_u32(IFLA_VXLAN_ID, spec.vni);
  if (spec.local) m.put(spec.local->is_v4() ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, spec.local->data(), spec.local->size());
  if (spec.remote)
    m.put(spec.remote->is_v4() ? IFLA_VXLAN_GROUP : IFLA_VXLAN_GROUP6, spec.remote->data(), spec.remote->size());
  if (spec.underlay) m.put_u32(IFLA_VXLAN_LINK, static_cast<uint32_t>(spec.underlay));
  if (spec.learning) m.put_u8(IFLA_VXLAN_LEARNING, *spec.learning ? 1 : 0);
  m.put_u16(IFLA_VXLAN_PORT, htons(spec.port));  // network byte order (drivers/net/vxlan: nla_get_be16)
  m.end_nest(data);
  m.end_nest(info);
  return m;
}

void create_vxlan(nl::Socket& s, const VxlanSpec& spec) {
  nl::Message m = vxlan_request(spec);
  s.ack(m, fmt::format("cannot create vxlan {} (VNI {})", spec.name, spec.vni));
}

}  // namespace ctnet::link
