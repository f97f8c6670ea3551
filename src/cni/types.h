// CNI spec types: the error object with the spec's codes, the versions ctnet speaks, and the result of ADD
// (interfaces, ips, routes, dns) with the wire format of each cniVersion.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/ip.h"

namespace ctnet::cni {

// Error codes of SPEC.md "Error" (1-99 are reserved by the spec).
enum Code : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnv = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgain = 11,
  kNotAvailable = 50,
  kLimitedConnectivity = 51,
};
// A kernel or library failure with no spec code: reported as code 100 (plugin-specific range).
inline constexpr int kPluginFailure = 100;

// An error the CNI face raises with the spec's code; the plugin reports it as the JSON error object on stdout.
// The engine below never throws it: its errors (util/error.h) get their codes at the boundary (as_cni_error).
class CniError : public Error {
 public:
  CniError(int code, std::string msg, std::string details = {})
      : Error(std::move(msg)), code_(code), details_(std::move(details)) {}
  int code() const { return code_; }
  const std::string& details() const { return details_; }

 private:
  int code_;
  std::string details_;
};

inline constexpr std::string_view kLatestVersion = "1.1.0";
inline constexpr std::string_view kSupportedVersions[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
// "0.1.0, 0.2.0, ..., 1.1.0": for messages.
std::string supported_versions_text();
bool version_supported(std::string_view v);
// <0, 0, >0 like strcmp, on dotted numbers ("0.4.0" < "1.0.0").
int compare_versions(std::string_view a, std::string_view b);

struct Interface {
  std::string name;
  std::string mac;
  std::string sandbox;  // the netns path for container interfaces, empty on the host
  uint32_t mtu = 0;     // 1.1.0 only
};

struct IpConfig {
  Prefix address;                    // 10.1.0.5/16
  std::optional<IpAddress> gateway;
  std::optional<int> interface;      // index into interfaces
};

struct RouteEntry {
  Prefix dst;                        // network form
  std::optional<IpAddress> gw;
  uint32_t priority = 0;             // the route's metric (0: the kernel's default); 1.0.0 and later
  std::optional<int> scope;          // RT_SCOPE_*: 253 (link) for an on-link route; 1.0.0 and later
};

struct Dns {
  std::vector<std::string> nameservers, search, options;
  std::string domain;
  bool empty() const { return nameservers.empty() && search.empty() && options.empty() && domain.empty(); }
};

struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<RouteEntry> routes;
  Dns dns;

  // The result in the wire format of `version` (0.1.0/0.2.0: "ip4"/"ip6" with the first address of each family
  // and its routes, as the reference converts; 0.3.x/0.4.0 carry "version" in each ip; 1.1.0 adds mtu). Throws
  // CniError when a 0.2.0 result would hold no address.
  nlohmann::json to_json(std::string_view version) const;
  // Reads a result of any supported version (prevResult, an IPAM plugin's output). `field` names it in errors.
  static Result from_json(const nlohmann::json& j, std::string_view field);
};

Dns dns_from_json(const nlohmann::json& j, std::string_view field);
nlohmann::json dns_to_json(const Dns& d);

}  // namespace ctnet::cni
