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

#include "cni/kinds.h"
#include "cni/types.h"
#include "ipam/host_local.h"
#include "ipam/static.h"
#include "kinds/txn.h"
#include "ns/netns.h"
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
  std::optional<Dns> dns;     // conf.dns: given, it is the result's DNS (as the reference's main plugins set it)

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
// CNI_ARGS keys a plugin understands besides the kubelet's K8S_POD_*; the others are an error unless
// IgnoreUnknown=1|true.
void check_args(const Invocation& inv, std::initializer_list<std::string_view> known);

// The IPAM named by conf.ipam: host-local runs in-process, any other type is executed from CNI_PATH.
class Ipam {
 public:
  explicit Ipam(const Invocation& inv);
  bool configured() const { return !type_.empty(); }
  // An IPAM plugin executed from CNI_PATH may talk on the container's interface (dhcp does): the plugins make
  // the interface first and run it then, and DEL releases it before the interface goes, as the reference
  // plugins order it. host-local and static run first, so that their failure costs no kernel work.
  bool needs_interface() const { return configured() && !host_local_ && !static_; }
  // Allocates, recorded in the transaction as kind "ipam" (a rollback releases it).
  Result add(kinds::Txn& txn);
  // The record DEL releases; none when no IPAM is configured.
  std::optional<kinds::Made> record(kinds::Txn& txn) const;
  // Throws unless the attachment still holds every address of `prev`.
  void check(const Result& prev);
  void gc(const std::set<ipam::Attachment>& valid);
  void status();

 private:
  IpamExec exec_spec() const;
  const Invocation& inv_;
  std::string type_;
  std::optional<ipam::HostLocalConfig> host_local_;
  std::optional<ipam::StaticConfig> static_;  // in-process too: nothing to allocate, record or release
  Dns static_dns_;
};

// The dhcp IPAM's keys (src/cni/dhcp.cpp), checked by the plugin that executes it before anything is made;
// throws naming the field.
void validate_dhcp_ipam(const Invocation& inv, const nlohmann::json& ipam);

// The addresses the runtime asked for, as given (CIDRs for static, plain or CIDR for host-local): CNI_ARGS IP=
// (a comma list), and runtimeConfig.ips (else args.cni.ips).
struct RequestedAddresses {
  std::vector<ipam::GivenAddress> args, runtime;
};
RequestedAddresses requested_addresses(const Invocation& inv);
// Their IP addresses, CNI_ARGS first (host-local's requests).
std::vector<IpAddress> requested_ips(const Invocation& inv);
// The MAC the runtime asked for: runtimeConfig.mac, args.cni.mac, CNI_ARGS MAC=.
std::optional<MacAddress> requested_mac(const Invocation& inv);
// GC's list of attachments still in use (cni.dev/valid-attachments, or the draft's cni.dev/attachments).
std::set<ipam::Attachment> valid_attachments(const Invocation& inv);

// The host end of the container's veth: derived from the container ID and ifname, so DEL finds it without
// asking the container namespace.
std::string host_veth_name(const Invocation& inv);
// Its MAC, derived the same way, so it is stable across an ADD after a DEL.
MacAddress host_veth_mac(const Invocation& inv);
// The container namespace; CniError code 3 when it does not exist. The second form opens it in the
// transaction, under the spec CNI_NETNS (what the drivers' specs name it by).
NetNs open_container_netns(const Invocation& inv);
NsSocket& open_container_netns(kinds::Txn& txn, const Invocation& inv);
// Where a record of something in the container namespace says it lives (DEL knows it by CNI_NETNS only).
kinds::NsRef container_ref(const Invocation& inv);


}  // namespace ctnet::cni
