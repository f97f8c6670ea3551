// The settings of one SR-IOV virtual function as its physical function holds them, read and written through
// rtnetlink on the PF: IFLA_VFINFO_LIST in RTM_GETLINK replies (with RTEXT_FILTER_VF) and in RTM_SETLINK
// requests (net/core/rtnetlink.c: rtnl_fill_vfinfo, do_setvfinfo). The kernel applies the attributes of one
// request in a fixed order and stops at the first refusal, so every setting goes in a request of its own:
// a refusal then names exactly the setting the driver did not take.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet::sriov {

enum class VlanProto : uint16_t { dot1q = 0x8100, dot1ad = 0x88a8 };
enum class LinkState : uint32_t { auto_ = 0, enable = 1, disable = 2 };  // IFLA_VF_LINK_STATE_*

std::optional<VlanProto> parse_vlan_proto(std::string_view s);  // "802.1Q" | "802.1ad" (any case)
std::string_view to_string(VlanProto p);
std::optional<LinkState> parse_link_state(std::string_view s);  // auto | enable | disable
std::string_view to_string(LinkState s);

// What the PF reports for one VF. Optional fields are absent when the driver does not report them
// (spoofchk/trust come back as -1 from drivers without them).
struct VfConfig {
  uint32_t vf = 0;
  MacAddress mac;
  uint16_t vlan = 0;
  uint8_t qos = 0;
  VlanProto proto = VlanProto::dot1q;
  std::optional<bool> spoofchk;
  std::optional<bool> trust;
  std::optional<LinkState> link_state;
  uint32_t min_tx_rate = 0;  // Mbit/s, 0 = no limit
  uint32_t max_tx_rate = 0;
};

// The settings to apply; unset fields are left alone.
struct VfSettings {
  std::optional<MacAddress> mac;  // 00:00:00:00:00:00 clears the administrative MAC (igb, ixgbe, ice)
  std::optional<uint16_t> vlan;  // 0 = no VLAN
  std::optional<uint8_t> qos;
  std::optional<VlanProto> proto;
  std::optional<bool> spoofchk;
  std::optional<bool> trust;
  std::optional<LinkState> link_state;
  std::optional<uint32_t> min_tx_rate;
  std::optional<uint32_t> max_tx_rate;
  bool empty() const;
};

// Validates ranges (vlan 0..4094, qos 0..7, qos/proto need a vlan, min <= max), throwing InvalidInput naming
// field_prefix + "mac", "vlan", "qos", "proto", "min-tx-rate".
void validate(const VfSettings& s, const std::string& field_prefix = "--");

// Settings as records keep them: only the fields that are set ({"vlan": 10, "proto": "802.1Q", ...}).
nlohmann::json to_json(const VfSettings& s);
VfSettings settings_from_json(const nlohmann::json& j);
// The settings a VF has, as settings (every field set that the driver reports).
VfSettings as_settings(const VfConfig& c);

// What differs between the VF's settings and the ones wanted ("vlan 0 (want 10)"); fields not set are not
// compared. A zero MAC is compared too: it means "no administrative MAC".
std::vector<std::string> differences(const VfConfig& current, const VfSettings& wanted);

// One setting as a request: `what` names it for messages ("vlan 10 qos 2 proto 802.1ad").
struct VfRequest {
  std::string what;
  nl::Message msg;
};
// The requests that change `vf` of PF `pf_index` from `current` to `wanted` (rates are one kernel attribute:
// both are sent when either changes, the other taken from `current`).
std::vector<VfRequest> set_requests(int pf_index, const VfConfig& current, const VfSettings& wanted);
// The settings that bring a VF back to `saved`, for every setting `applied` touched.
VfSettings restore_settings(const VfConfig& saved, const VfSettings& applied);
// Splits settings into single-setting parts, one request each (vlan/qos/proto and the two rates stay together).
std::vector<VfSettings> split(const VfSettings& s);

// RTM_GETLINK for the PF with the VF list requested.
nl::Message get_request(int pf_index);
// Parses IFLA_VFINFO_LIST of a RTM_NEWLINK reply (exposed for unit tests).
std::vector<VfConfig> parse_vfinfo(const nl::OwnedMessage& m);

std::vector<VfConfig> read_all(nl::Socket& s, int pf_index);
VfConfig read(nl::Socket& s, int pf_index, uint32_t vf);

// Applies `wanted`, one setting per request. A refusal throws Error naming the setting, the VF, the PF and its
// driver ("driver igb refused 'link-state disable' for VF 0 of eth0"); settings applied before it are NOT
// undone here (kinds/vf.cpp records each setting as its own step, with the value to restore).
void apply(nl::Socket& s, int pf_index, const std::string& pf_name, const std::string& driver, const VfConfig& current,
           const VfSettings& wanted);

}  // namespace ctnet::sriov
