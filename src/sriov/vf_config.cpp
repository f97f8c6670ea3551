#include "sriov/vf_config.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "util/error.h"

namespace ctnet::sriov {

std::optional<VlanProto> parse_vlan_proto(std::string_view s) {
  std::string l(s);
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "802.1q") return VlanProto::dot1q;
  if (l == "802.1ad") return VlanProto::dot1ad;
  return std::nullopt;
}
std::string_view to_string(VlanProto p) { return p == VlanProto::dot1ad ? "802.1ad" : "802.1Q"; }

std::optional<LinkState> parse_link_state(std::string_view s) {
  if (s == "auto") return LinkState::auto_;
  if (s == "enable") return LinkState::enable;
  if (s == "disable") return LinkState::disable;
  return std::nullopt;
}
std::string_view to_string(LinkState s) {
  switch (s) {
    case LinkState::auto_: return "auto";
    case LinkState::enable: return "enable";
    case LinkState::disable: return "disable";
  }
  return "?";
}

bool VfSettings::empty() const {
  return !mac && !vlan && !qos && !proto && !spoofchk && !trust && !link_state && !min_tx_rate && !max_tx_rate;
}

void validate(const VfSettings& s, const std::string& p) {
  if (s.mac) {
    if (s.mac->bytes[0] & 1) throw InvalidInput(p + "mac", fmt::format("{} is a multicast address", s.mac->str()));
  }
  if (s.vlan && *s.vlan > 4094) throw InvalidInput(p + "vlan", fmt::format("{} is not in 0..4094", *s.vlan));
  if (s.qos && *s.qos > 7) throw InvalidInput(p + "qos", fmt::format("{} is not in 0..7", *s.qos));
  if ((s.qos || s.proto) && !s.vlan) throw InvalidInput(p + "qos/" + p + "proto", "only apply together with " + p + "vlan");
  if (s.vlan && *s.vlan == 0 && ((s.qos && *s.qos) || (s.proto && *s.proto != VlanProto::dot1q)))
    throw InvalidInput(p + "vlan", "vlan 0 (none) takes no qos or 802.1ad protocol");
  if (s.min_tx_rate && s.max_tx_rate && *s.max_tx_rate && *s.min_tx_rate > *s.max_tx_rate)
    throw InvalidInput(p + "min-tx-rate", fmt::format("{} is above {}max-tx-rate {}", *s.min_tx_rate, p, *s.max_tx_rate));
}

nlohmann::json to_json(const VfSettings& s) {
  nlohmann::json j = nlohmann::json::object();
  if (s.mac) j["mac"] = s.mac->str();
  if (s.vlan) j["vlan"] = *s.vlan;
  if (s.qos) j["qos"] = *s.qos;
  if (s.proto) j["proto"] = std::string(to_string(*s.proto));
  if (s.spoofchk) j["spoofchk"] = *s.spoofchk;
  if (s.trust) j["trust"] = *s.trust;
  if (s.link_state) j["link_state"] = std::string(to_string(*s.link_state));
  if (s.min_tx_rate) j["min_tx_rate"] = *s.min_tx_rate;
  if (s.max_tx_rate) j["max_tx_rate"] = *s.max_tx_rate;
  return j;
}

VfSettings settings_from_json(const nlohmann::json& j) {
  VfSettings s;
  if (j.contains("mac")) s.mac = MacAddress::parse(j["mac"].get<std::string>(), "record.mac");
  if (j.contains("vlan")) s.vlan = j["vlan"].get<uint16_t>();
  if (j.contains("qos")) s.qos = j["qos"].get<uint8_t>();
  if (j.contains("proto")) s.proto = parse_vlan_proto(j["proto"].get<std::string>());
  if (j.contains("spoofchk")) s.spoofchk = j["spoofchk"].get<bool>();
  if (j.contains("trust")) s.trust = j["trust"].get<bool>();
  if (j.contains("link_state")) s.link_state = parse_link_state(j["link_state"].get<std::string>());
  if (j.contains("min_tx_rate")) s.min_tx_rate = j["min_tx_rate"].get<uint32_t>();
  if (j.contains("max_tx_rate")) s.max_tx_rate = j["max_tx_rate"].get<uint32_t>();
  return s;
}

VfSettings as_settings(const VfConfig& c) {
  return {.mac = c.mac, .vlan = c.vlan, .qos = c.qos, .proto = c.proto, .spoofchk = c.spoofchk, .trust = c.trust,
          .link_state = c.link_state, .min_tx_rate = c.min_tx_rate, .max_tx_rate = c.max_tx_rate};
}

std::vector<std::string> differences(const VfConfig& c, const VfSettings& w) {
  std::vector<std::string> d;
  auto onoff = [](bool b) { return b ? "on" : "off"; };
  if (w.mac && *w.mac != c.mac) d.push_back(fmt::format("mac {} (want {})", c.mac.str(), w.mac->str()));
  if (w.vlan && *w.vlan != c.vlan) d.push_back(fmt::format("vlan {} (want {})", c.vlan, *w.vlan));
  if (w.qos && *w.qos != c.qos) d.push_back(fmt::format("qos {} (want {})", c.qos, *w.qos));
  if (w.proto && *w.proto != c.proto) d.push_back(fmt::format("proto {} (want {})", to_string(c.proto), to_string(*w.proto)));
  if (w.spoofchk && c.spoofchk && *w.spoofchk != *c.spoofchk)
    d.push_back(fmt::format("spoofchk {} (want {})", onoff(*c.spoofchk), onoff(*w.spoofchk)));
  if (w.trust && c.trust && *w.trust != *c.trust) d.push_back(fmt::format("trust {} (want {})", onoff(*c.trust), onoff(*w.trust)));
  if (w.link_state && c.link_state && *w.link_state != *c.link_state)
    d.push_back(fmt::format("link-state {} (want {})", to_string(*c.link_state), to_string(*w.link_state)));
  if (w.min_tx_rate && *w.min_tx_rate != c.min_tx_rate)
    d.push_back(fmt::format("min-tx-rate {} (want {})", c.min_tx_rate, *w.min_tx_rate));
  if (w.max_tx_rate && *w.max_tx_rate != c.max_tx_rate)
    d.push_back(fmt::format("max-tx-rate {} (want {})", c.max_tx_rate, *w.max_tx_rate));
  return d;
}

namespace {
nl::Message set_base(int pf_index, nlattr** list, nlattr** info) {
  nl::Message m(RTM_SETLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = pf_index;
  *list = m.begin_nest(IFLA_VFINFO_LIST);
  *info = m.begin_nest(IFLA_VF_INFO);
  return m;
}

template <class T>
VfRequest one(int pf_index, uint16_t type, const T& payload, std::string what) {
  nlattr *list, *info;
  nl::Message m = set_base(pf_index, &list, &info);
  m.put(type, &payload, sizeof payload);
  m.end_nest(info);
  m.end_nest(list);
  return {std::move(what), m};
}
}  // namespace

std::vector<VfRequest> set_requests(int pf_index, const VfConfig& cur, const VfSettings& w) {
  std::vector<VfRequest> out;
  const uint32_t vf = cur.vf;
  if (w.mac) {
    ifla_vf_mac p{};
    p.vf = vf;
    std::memcpy(p.mac, w.mac->bytes.data(), 6);
    out.push_back(one(pf_index, IFLA_VF_MAC, p, "mac " + w.mac->str()));
  }
  if (w.vlan || w.qos || w.proto) {
    // IFLA_VF_VLAN_LIST carries the protocol (IFLA_VF_VLAN cannot); the kernel uses its first entry.
    ifla_vf_vlan_info p{};
    p.vf = vf;
    p.vlan = w.vlan.value_or(cur.vlan);
    p.qos = w.qos.value_or(p.vlan ? cur.qos : 0);
    VlanProto proto = w.proto.value_or(VlanProto::dot1q);
    p.vlan_proto = htons(static_cast<uint16_t>(proto));
    nlattr *list, *info;
    nl::Message m = set_base(pf_index, &list, &info);
    nlattr* vl = m.begin_nest(IFLA_VF_VLAN_LIST);
    m.put(IFLA_VF_VLAN_INFO, &p, sizeof p);
    m.end_nest(vl);
    m.end_nest(info);
    m.end_nest(list);
    out.push_back({fmt::format("vlan {} qos {} proto {}", p.vlan, p.qos, to_string(proto)), m});
  }
  if (w.spoofchk) {
    ifla_vf_spoofchk p{vf, *w.spoofchk ? 1u : 0u};
    out.push_back(one(pf_index, IFLA_VF_SPOOFCHK, p, fmt::format("spoofchk {}", *w.spoofchk ? "on" : "off")));
  }
  if (w.trust) {
    ifla_vf_trust p{vf, *w.trust ? 1u : 0u};
    out.push_back(one(pf_index, IFLA_VF_TRUST, p, fmt::format("trust {}", *w.trust ? "on" : "off")));
  }
  if (w.link_state) {
    ifla_vf_link_state p{vf, static_cast<uint32_t>(*w.link_state)};
    out.push_back(one(pf_index, IFLA_VF_LINK_STATE, p, fmt::format("link-state {}", to_string(*w.link_state))));
  }
  if (w.min_tx_rate || w.max_tx_rate) {
    ifla_vf_rate p{vf, w.min_tx_rate.value_or(cur.min_tx_rate), w.max_tx_rate.value_or(cur.max_tx_rate)};
    std::string what;
    if (w.min_tx_rate) what = fmt::format("min-tx-rate {}", p.min_tx_rate);
    if (w.max_tx_rate) what += fmt::format("{}max-tx-rate {}", what.empty() ? "" : " ", p.max_tx_rate);
    out.push_back(one(pf_index, IFLA_VF_RATE, p, what));
  }
  return out;
}

VfSettings restore_settings(const VfConfig& saved, const VfSettings& applied) {
  VfSettings r;
  if (applied.mac) r.mac = saved.mac;
  if (applied.vlan || applied.qos || applied.proto) {
    r.vlan = saved.vlan;
    r.qos = saved.qos;
    r.proto = saved.proto;
  }
  if (applied.spoofchk && saved.spoofchk) r.spoofchk = saved.spoofchk;
  if (applied.trust && saved.trust) r.trust = saved.trust;
  if (applied.link_state && saved.link_state) r.link_state = saved.link_state;
  if (applied.min_tx_rate || applied.max_tx_rate) {
    r.min_tx_rate = saved.min_tx_rate;
    r.max_tx_rate = saved.max_tx_rate;
  }
  return r;
}

std::vector<VfSettings> split(const VfSettings& s) {
  std::vector<VfSettings> out;
  if (s.mac) out.push_back({.mac = s.mac});
  if (s.vlan || s.qos || s.proto) out.push_back({.vlan = s.vlan, .qos = s.qos, .proto = s.proto});
  if (s.spoofchk) out.push_back({.spoofchk = s.spoofchk});
  if (s.trust) out.push_back({.trust = s.trust});
  if (s.link_state) out.push_back({.link_state = s.link_state});
  if (s.min_tx_rate || s.max_tx_rate) out.push_back({.min_tx_rate = s.min_tx_rate, .max_tx_rate = s.max_tx_rate});
  return out;
}

nl::Message get_request(int pf_index) {
  nl::Message m(RTM_GETLINK, 0);
  auto* ifi = m.put_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = pf_index;
  m.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
  return m;
}

namespace {
template <class T>
std::optional<T> payload(const nl::Attrs& a, uint16_t type) {
  auto b = a.bytes(type);
  if (b.size() < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}
// Drivers without the feature leave the kernel's preset -1 (rtnl_fill_vfinfo).
std::optional<bool> tristate(uint32_t v) {
  if (v == static_cast<uint32_t>(-1)) return std::nullopt;
  return v != 0;
}
}  // namespace

std::vector<VfConfig> parse_vfinfo(const nl::OwnedMessage& m) {
  auto a = nl::Attrs::of_message(m.hdr(), sizeof(ifinfomsg));
  std::vector<VfConfig> out;
  const nlattr* list = a.get(IFLA_VFINFO_LIST);
  if (!list) return out;
  for (const nlattr* info : nl::Attrs::list(list)) {
    if (nl::attr_type(info) != IFLA_VF_INFO) continue;
    auto v = nl::Attrs::of_nest(info);
    VfConfig c;
    if (auto p = payload<ifla_vf_mac>(v, IFLA_VF_MAC)) {
      c.vf = p->vf;
      std::memcpy(c.mac.bytes.data(), p->mac, 6);
    }
    if (auto p = payload<ifla_vf_vlan>(v, IFLA_VF_VLAN)) {
      c.vlan = static_cast<uint16_t>(p->vlan);
      c.qos = static_cast<uint8_t>(p->qos);
    }
    if (const nlattr* vl = v.get(IFLA_VF_VLAN_LIST)) {
      for (const nlattr* e : nl::Attrs::list(vl)) {
        if (nl::attr_type(e) != IFLA_VF_VLAN_INFO || nl::attr_payload_len(e) < sizeof(ifla_vf_vlan_info)) continue;
        ifla_vf_vlan_info i;
        std::memcpy(&i, nl::attr_payload(e), sizeof i);
        c.vlan = static_cast<uint16_t>(i.vlan);
        c.qos = static_cast<uint8_t>(i.qos);
        c.proto = ntohs(i.vlan_proto) == 0x88a8 ? VlanProto::dot1ad : VlanProto::dot1q;
        break;
      }
    }
    if (auto p = payload<ifla_vf_spoofchk>(v, IFLA_VF_SPOOFCHK)) c.spoofchk = tristate(p->setting);
    if (auto p = payload<ifla_vf_trust>(v, IFLA_VF_TRUST)) c.trust = tristate(p->setting);
    if (auto p = payload<ifla_vf_link_state>(v, IFLA_VF_LINK_STATE))
      if (p->link_state <= 2) c.link_state = static_cast<LinkState>(p->link_state);
    if (auto p = payload<ifla_vf_rate>(v, IFLA_VF_RATE)) {
      c.min_tx_rate = p->min_tx_rate;
      c.max_tx_rate = p->max_tx_rate;
    }
    out.push_back(c);
  }
  return out;
}

std::vector<VfConfig> read_all(nl::Socket& s, int pf_index) {
  nl::Message m = get_request(pf_index);
  auto replies = s.query(m, fmt::format("cannot read the VF settings of link {}", pf_index));
  if (replies.empty()) return {};
  return parse_vfinfo(replies.front());
}

VfConfig read(nl::Socket& s, int pf_index, uint32_t vf) {
  for (auto& c : read_all(s, pf_index))
    if (c.vf == vf) return c;
  throw Error(fmt::format("the PF (link {}) reports no settings for VF {}", pf_index, vf), ENOENT);
}

void apply(nl::Socket& s, int pf_index, const std::string& pf_name, const std::string& driver, const VfConfig& current,
           const VfSettings& wanted) {
  for (auto& r : set_requests(pf_index, current, wanted)) {
    std::string text;
    int err = s.try_ack(r.msg, &text);
    if (err == EOPNOTSUPP || err == EPROTONOSUPPORT || err == EINVAL)
      throw Error(fmt::format("driver {} refused '{}' for VF {} of {}", driver.empty() ? "(none)" : driver, r.what,
                              current.vf, pf_name),
                  err, text);
    if (err)
      throw Error(fmt::format("cannot set '{}' for VF {} of {} (driver {})", r.what, current.vf, pf_name, driver), err,
                  text);
  }
}

}  // namespace ctnet::sriov
