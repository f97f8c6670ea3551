// The CNI invocation: environment, stdin configuration and the pieces every plugin shares (IPAM in-process
// or exec'd, the container namespace, the host veth name). Everything is validated before the kernel is
// touched; problems are CniErrors naming the field.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cni/types.h"
#include "ipam/host_local.h"
#include "link/link.h"
#include "netlink/socket.h"
#include "ns/netns.h"
#include "ops/undo.h"
#include "util/ip.h"

namespace ctnet::cni {

enum class Command { add, del, check, version, gc, status };

struct Invocation {
  Command command = Command::version;
  std::string container_id;   // CNI_CONTAINERID
  std::string netns;          // CNI_NETNS (may be empty on DEL)
  std::string ifname;         // CNI_IFNAME
  std::string cni_path;       // CNI_PATH
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS
  std::string stdin_text;
  nlohmann::json conf;        // the network configuration
  std::string version;        // conf.cniVersion
  std::string name;           // conf.name
  std::string type;           // conf.type

  // The CNI_ARGS value of `key`, if given.
  std::optional<std::string> arg(std::string_view key) const;
  // runtimeConfig.<key>, falling back to args.cni.<key> (the older convention).
  const nlohmann::json* runtime(std::string_view key) const;
  bool at_least(std::string_view v) const { return compare_versions(version, v) >= 0; }
};

// Reads CNI_COMMAND and the variables the command needs, and stdin (not yet parsed).
Invocation read_invocation();
// Parses stdin as the network configuration and checks cniVersion, name and type.
void parse_config(Invocation& inv);
// CNI_ARGS keys a plugin understands; the others are an error unless IgnoreUnknown=1|true.
void check_args(const Invocation& inv, std::initializer_list<std::string_view> known);

// The IPAM named by conf.ipam: host-local runs in-process, any other type is executed from CNI_PATH.
class Ipam {
 public:
  explicit Ipam(const Invocation& inv);
  bool configured() const { return !type_.empty(); }
  // Allocates; the undo log releases it again if the ADD fails later.
  Result add(UndoLog& undo);
  void del();
  // Throws unless the attachment still holds every address of `prev`.
  void check(const Result& prev);
  void gc(const std::set<ipam::Attachment>& valid);
  void status();

 private:
  Result exec(std::string_view command);
  const Invocation& inv_;
  std::string type_;
  std::optional<ipam::HostLocalConfig> host_local_;
};

// The addresses the runtime asked for: CNI_ARGS IP=, runtimeConfig.ips, args.cni.ips.
std::vector<IpAddress> requested_ips(const Invocation& inv);
// The MAC the runtime asked for: runtimeConfig.mac, args.cni.mac, CNI_ARGS MAC=.
std::optional<MacAddress> requested_mac(const Invocation& inv);
// GC's list of attachments still in use (cni.dev/valid-attachments, or the draft's cni.dev/attachments).
std::set<ipam::Attachment> valid_attachments(const Invocation& inv);

// The host end of the container's veth: derived from the container ID and ifname, so DEL finds it without
// asking the container namespace.
std::string host_veth_name(const Invocation& inv);
// The container namespace; CniError code 3 when it does not exist.
NetNs open_container_netns(const Invocation& inv);
// The interface the default route leaves through (a route lookup, no dump), if any.
std::optional<link::Link> default_route_link(nl::Socket& host);
// The MTU of the interface the default route leaves through (1500 when there is none), for `mtu` defaults.
uint32_t mtu_of_default_route(nl::Socket& host);

// A kernel or library failure with no spec code: reported as code 100 (plugin-specific range).
inline constexpr int kPluginFailure = 100;

}  // namespace ctnet::cni
