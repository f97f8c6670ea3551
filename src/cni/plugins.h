// The plugins the ctnet binary can act as. Each one validates its whole configuration in its constructor,
// before anything touches the kernel, then performs one CNI operation.
#pragma once
#include <cerrno>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cni/framework.h"
#include "kinds/txn.h"
#include "netlink/socket.h"
#include "util/error.h"

namespace ctnet::cni {

// Every ADD runs in one transaction (kinds/txn.h) that the entry point owns: a plugin makes its objects through
// the kinds' drivers, which record them as data; when ADD fails, the entry point rolls the transaction back and
// reports the rollback's errors with the ADD's. DEL rebuilds the records it can know from the invocation (the
// container namespace and interface name, the host veth's derived name, the IPAM and nftables keys) and
// removes them through the same remove functions.
class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual Result add(kinds::Txn& txn) = 0;
  // What DEL removes: the records of what ADD made, in ADD's order, as far as the invocation names them.
  virtual std::vector<kinds::Made> del_records(kinds::Txn& txn) = 0;
  virtual void check(const Result& prev) = 0;
  virtual void gc(const std::set<ipam::Attachment>& valid) = 0;
  virtual void status() = 0;
  // The plugins that make the interface put the network's `dns` into their result, as the reference's do; IPAM
  // and the chained meta plugins pass theirs on.
  virtual bool reports_conf_dns() const { return true; }
};

// A plugin that gives the container one interface of its own (macvlan, ipvlan, host-device, sriov): CHECK, GC
// and STATUS are the same for all of them.
class OneInterfacePlugin : public Plugin {
 public:
  void check(const Result& prev) override;
  void gc(const std::set<ipam::Attachment>& valid) override { ipam_.gc(valid); }
  void status() override { ipam_.status(); }

 protected:
  // `kind`: the container interface's link kind and record kind ("vlan", "dummy", "tun" for tap ...), which
  // CHECK requires of it; "" checks no kind.
  OneInterfacePlugin(Invocation& inv, std::string kind) : inv_(inv), ipam_(inv), kind_(std::move(kind)) {}
  // Plugin-specific CHECK of the container interface, before its addresses are checked: by default that it is
  // a link of `kind`.
  virtual void check_link(nl::Socket& cs);
  // ADD's shared part: IPAM first, then `make` (the kind's driver, which makes the container interface and
  // returns its ifindex), then the result (the interface with its MAC, sandbox and MTU) and the container's
  // addresses and routes.
  Result add_interface(kinds::Txn& txn, const std::function<int()>& make);
  // DEL's records: the lease, then `link` (the container's interface) when CNI_NETNS names its namespace.
  std::vector<kinds::Made> records_with(kinds::Txn& txn, kinds::Made link) const;
  // The same, with the interface recorded as of `record_kind` under CNI_IFNAME.
  std::vector<kinds::Made> records_of(kinds::Txn& txn, const std::string& record_kind) const;

  Invocation& inv_;
  Ipam ipam_;
  std::string kind_;
};

std::unique_ptr<Plugin> make_bridge(Invocation& inv);
std::unique_ptr<Plugin> make_ptp(Invocation& inv);
std::unique_ptr<Plugin> make_host_local(Invocation& inv);
std::unique_ptr<Plugin> make_macvlan(Invocation& inv);
std::unique_ptr<Plugin> make_ipvlan(Invocation& inv);
std::unique_ptr<Plugin> make_host_device(Invocation& inv);
std::unique_ptr<Plugin> make_sriov(Invocation& inv);
std::unique_ptr<Plugin> make_loopback(Invocation& inv);
std::unique_ptr<Plugin> make_tuning(Invocation& inv);
std::unique_ptr<Plugin> make_static(Invocation& inv);
std::unique_ptr<Plugin> make_tap(Invocation& inv);
std::unique_ptr<Plugin> make_vlan(Invocation& inv);
std::unique_ptr<Plugin> make_dummy(Invocation& inv);
std::unique_ptr<Plugin> make_portmap(Invocation& inv);
std::unique_ptr<Plugin> make_firewall(Invocation& inv);
std::unique_ptr<Plugin> make_bandwidth(Invocation& inv);
std::unique_ptr<Plugin> make_sbr(Invocation& inv);
std::unique_ptr<Plugin> make_vrf(Invocation& inv);
std::unique_ptr<Plugin> make_dhcp(Invocation& inv);

// ---- helpers the plugins share -----------------------------------------------------------------------------

// Copies IPAM's part of a result (addresses, routes, DNS) into `res`, the addresses attached to interface
// `iface` (an index into res.interfaces).
void take_ipam_result(Result& res, const Result& ipam_result, int iface);

// Gives the container interface (up already, link `index` in namespace `ns`, a spec the transaction knows) the
// result's addresses, then its routes (a route without a gateway goes via the first gateway of its family), all
// recorded. Addresses get DAD only when `dad`.
void configure_container(kinds::Txn& txn, const std::string& ns, int index, const std::string& ifname, const Result& r, bool dad);
// The result's routes on link `index` (a route without a gateway goes via the first gateway of its family); one
// that exists already is fine and not recorded.
void add_routes(kinds::Txn& txn, const std::string& ns, int index, const std::string& ifname, const Result& r);
// Throws unless the container interface (CNI_IFNAME) is up, is the interface `prev` names at that index (name,
// sandbox, MAC), carries every address of `prev` attached to it, and the container has every route of `prev`.
void check_container(nl::Socket& cs, const Invocation& inv, const Result& prev, int iface_index_in_result);
// net.ipv4.ip_forward / net.ipv6.conf.all.forwarding in the calling thread's namespace, for the families used.
void enable_forwarding(kinds::Txn& txn, const Result& r);
// The records of a veth attachment (bridge, ptp) that DEL removes: the lease, the veth by its host end (its
// name is derived from the invocation, and deleting it takes the container end with it, also when the
// container namespace is already gone), then the nftables rules.
std::vector<kinds::Made> veth_attachment_records(kinds::Txn& txn, const Invocation& inv, const Ipam& ipam, bool macspoof, bool ip_masq);
// A config key holding an MTU (68..65535) or nothing.
uint32_t mtu_key(const nlohmann::json& conf, std::string_view key);
// prevResult, parsed (CHECK needs it; DEL may carry it).
std::optional<Result> prev_result(const Invocation& inv);

}  // namespace ctnet::cni
