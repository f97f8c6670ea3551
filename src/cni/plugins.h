// The plugins the ctnet binary can act as. Each one validates its whole configuration in its constructor,
// before anything touches the kernel, then performs one CNI operation.
#pragma once
#include <cerrno>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cni/framework.h"
#include "netlink/socket.h"
#include "util/error.h"

namespace ctnet::cni {

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual Result add() = 0;
  virtual void del() = 0;
  virtual void check(const Result& prev) = 0;
  virtual void gc(const std::set<ipam::Attachment>& valid) = 0;
  virtual void status() = 0;
};

// A plugin that gives the container one interface of its own (macvlan, ipvlan, host-device, sriov): CHECK, GC
// and STATUS are the same for all of them.
class OneInterfacePlugin : public Plugin {
 public:
  void check(const Result& prev) override;
  void gc(const std::set<ipam::Attachment>& valid) override { ipam_.gc(valid); }
  void status() override { ipam_.status(); }

 protected:
  explicit OneInterfacePlugin(Invocation& inv) : inv_(inv), ipam_(inv) {}
  // Plugin-specific CHECK of the container interface (e.g. its kind), before its addresses are checked.
  virtual void check_link(nl::Socket&) {}

  Invocation& inv_;
  Ipam ipam_;
};

std::unique_ptr<Plugin> make_bridge(Invocation& inv);
std::unique_ptr<Plugin> make_ptp(Invocation& inv);
std::unique_ptr<Plugin> make_host_local(Invocation& inv);
std::unique_ptr<Plugin> make_macvlan(Invocation& inv);
std::unique_ptr<Plugin> make_ipvlan(Invocation& inv);
std::unique_ptr<Plugin> make_host_device(Invocation& inv);
std::unique_ptr<Plugin> make_sriov(Invocation& inv);

// ---- helpers the plugins share -----------------------------------------------------------------------------

// Index and MAC of a link by name, through ioctls on the netlink socket (dev_ioctl answers SIOCGIFINDEX and
// SIOCGIFHWADDR for any socket, in the socket's namespace): cheaper than RTM_GETLINK, for which the kernel
// fills every attribute of the link. Throws when the link does not exist.
std::pair<int, std::string> link_index_mac(nl::Socket& s, const std::string& name);

// Copies IPAM's part of a result (addresses, routes, DNS) into `res`, the addresses attached to interface
// `iface` (an index into res.interfaces).
void take_ipam_result(Result& res, const Result& ipam_result, int iface);

// Brings the container interface up and gives it the result's addresses, then the routes (a route without a
// gateway goes via the first gateway of its family). Addresses get DAD only when `dad`.
void configure_container(nl::Socket& cs, int index, const std::string& ifname, const Result& r, bool dad);
// Throws unless the container interface carries every address of `prev` attached to it.
void check_container(nl::Socket& cs, const std::string& ifname, const Result& prev, int iface_index_in_result);
// net.ipv4.ip_forward / net.ipv6.conf.all.forwarding in the calling thread's namespace, for the families used.
void enable_forwarding(const Result& r);
// DEL of a veth-based attachment, best effort in every step: the container interface (which takes the host
// end with it; by its host name when the namespace is gone), the masquerade rules, then always the lease.
void del_veth_attachment(Invocation& inv, Ipam& ipam, bool ip_masq);

// DEL is best effort: every step runs even when an earlier one failed, so the address is always released; the
// failures are reported together at the end. A namespace that is already gone (ENOENT, or EINVAL for a path
// that is no longer a namespace) is not a failure: the kernel took the container side with it.
class DelSteps {
 public:
  template <class F>
  void step(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      if (e.errnum() != ENOENT && e.errnum() != EINVAL) errors_.push_back(e.what());
    } catch (const std::exception& e) {
      errors_.push_back(e.what());
    }
  }
  void finish() const;  // throws CniError(kPluginFailure, every failure) if any step failed

 private:
  std::vector<std::string> errors_;
};
// A config key holding an MTU (68..65535) or nothing.
uint32_t mtu_key(const nlohmann::json& conf, std::string_view key);
// prevResult, parsed (CHECK needs it; DEL may carry it).
std::optional<Result> prev_result(const Invocation& inv);

}  // namespace ctnet::cni
