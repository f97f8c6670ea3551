#include "link/vrf.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

namespace ctnet::link {

nl::Message vrf_request(std::string_view name, uint32_t table) {
  nl::Message m = create_request(name);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "vrf");
  nlattr* data = m.begin_nest(IFLA_INFO_DATA);
  m.put_u32(IFLA_VRF_TABLE, table);
  m.end_nest(data);
  m.end_nest(info);
  return m;
}

std::vector<Vrf> list_vrfs(nl::Socket& s) {
  nl::Message m(RTM_GETLINK, 0);
  m.put_header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  std::vector<Vrf> out;
  for (auto& msg : s.dump(m, "cannot list links")) {
    auto a = nl::Attrs::of_message(msg.hdr(), sizeof(ifinfomsg));
    auto info = nl::Attrs::of_nest(a.get(IFLA_LINKINFO));
    if (info.str(IFLA_INFO_KIND) != "vrf") continue;
    auto data = nl::Attrs::of_nest(info.get(IFLA_INFO_DATA));
    out.push_back({msg.header<ifinfomsg>()->ifi_index, a.str(IFLA_IFNAME).value_or(""), data.u32(IFLA_VRF_TABLE).value_or(0)});
  }
  return out;
}

}  // namespace ctnet::link
