// host-local IPAM, in-process, on disk exactly as the reference plugin keeps it so a host can switch between
// the reference plugins and ctnet without losing leases:
//   DATADIR/NET/IP                 one file per lease, "CONTAINERID\r\nIFNAME"
//   DATADIR/NET/last_reserved_ip.N the last address handed out from range set N
//   DATADIR/NET/lock               flock(2)ed exclusively around every change (the reference locks the same file)
// Beside them ctnet keeps an index DATADIR/NET/.ctnet/idx-XX (attachment -> addresses, hashed into 256 files), so a release
// reads one small file instead of every lease (the reference reads them all on every ADD and DEL), and
// allocation starts after last_reserved_ip, so neither grows with the number of leases.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "util/ip.h"

namespace ctnet::ipam {

inline constexpr const char* kDefaultDataDir = "/var/lib/cni/networks";

struct Range {
  Prefix subnet;                    // network form
  IpAddress start, end;             // inclusive
  IpAddress gateway;
};
using RangeSet = std::vector<Range>;

struct RouteConfig {
  Prefix dst;
  std::optional<IpAddress> gw;
};
// The "routes" array of an IPAM configuration (host-local's and static's): [{dst, gw}].
std::vector<RouteConfig> parse_routes(const nlohmann::json& ipam);

struct HostLocalConfig {
  std::string network;              // the network's name: a directory under data_dir
  std::string data_dir = kDefaultDataDir;
  std::vector<RangeSet> range_sets;
  std::vector<RouteConfig> routes;
  std::string resolv_conf;
  // ctnet's own pools (`ctnet attach`): hand out the lowest free address (a released one again at once) instead
  // of the one after last_reserved_ip, and remove the network's directory with its last lease.
  bool lowest_free = false;
  bool remove_empty = false;
};

// Parses the "ipam" object (reference keys, including the legacy single-range form subnet/rangeStart/...).
// `runtime_ranges`: runtimeConfig.ipRanges, which replaces "ranges" when given. Throws WrongType or
// InvalidInput naming the field.
HostLocalConfig parse_config(const nlohmann::json& ipam, const std::string& network,
                             const nlohmann::json* runtime_ranges);

struct Lease {
  Prefix address;                   // the address with the subnet's prefix length
  IpAddress gateway;
};

using Attachment = std::pair<std::string, std::string>;  // container ID, interface name

// Reserves one address per range set (a requested address counts for the range set that holds it).
// Throws InvalidInput for a requested address outside every range, Conflict for one already leased (or a second
// lease for the attachment), Exhausted when a range set has no free address, IoError for the data dir.
std::vector<Lease> allocate(const HostLocalConfig& c, const std::string& id, const std::string& ifname,
                            const std::vector<IpAddress>& requested);
// Releases every address held by the attachment; idempotent (missing data dir, unknown attachment).
// Returns what it released.
std::vector<IpAddress> release(const HostLocalConfig& c, const std::string& id, const std::string& ifname);
// The addresses the attachment holds (for CHECK), without changing anything.
std::vector<IpAddress> leases_of(const HostLocalConfig& c, const std::string& id, const std::string& ifname);
// Every lease of the network (address, holder), without changing anything.
std::vector<std::pair<IpAddress, Attachment>> leases(const HostLocalConfig& c);
// Releases every lease whose attachment is not in `valid`; returns the attachments released.
std::vector<Attachment> gc(const HostLocalConfig& c, const std::set<Attachment>& valid);

// Parses a resolv.conf-style file into nameservers/domain/search/options.
struct DnsInfo {
  std::vector<std::string> nameservers, search, options;
  std::string domain;
};
DnsInfo parse_resolv_conf(const std::string& path);

}  // namespace ctnet::ipam
