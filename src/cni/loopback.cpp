// `loopback`: brings `lo` up in the container namespace and sets it down again on DEL, as the reference plugin
// does (CNI_IFNAME is ignored: containerd's CRI plugin sends "lo"). The result names `lo` with its loopback
// addresses, or passes a prevResult through unchanged when the plugin is chained after another one.
#include <fmt/format.h>

#include "addr/address.h"
#include "cni/plugins.h"
#include "kinds/link_kind.h"
#include "link/link.h"

namespace ctnet::cni {
namespace {

bool is_loopback(const IpAddress& a) {
  if (a.is_v4()) return a.data()[0] == 127;
  return a == IpAddress::parse("::1", "address");
}

class Loopback : public Plugin {
 public:
  explicit Loopback(Invocation& inv) : inv_(inv) {
    check_args(inv, {});
  }

  Result add(kinds::Txn& txn) override {
    const int index = kinds::bring_up_recorded(txn, inv_.netns, "lo");
    std::optional<Prefix> v4, v6;
    for (const auto& a : addr::list(txn.open(inv_.netns).rtnl, index)) {
      if (!is_loopback(a.prefix.address()))
        throw CniError(kPluginFailure, fmt::format("loopback interface found with non-loopback address {}", a.prefix.str()));
      auto& first = a.prefix.address().is_v4() ? v4 : v6;
      if (!first) first = a.prefix;
    }
    if (auto prev = prev_result(inv_)) return *prev;
    Result r;
    r.interfaces.push_back({.name = "lo", .mac = "00:00:00:00:00:00", .sandbox = inv_.netns});
    for (const auto& p : {v4, v6})
      if (p) r.ips.push_back({.address = *p, .interface = 0});
    return r;
  }

  std::vector<kinds::Made> del_records(kinds::Txn&) override {
    if (inv_.netns.empty()) return {};  // the namespace is gone, and its `lo` with it
    return {{.kind = "link-up", .ns = container_ref(inv_), .name = "lo"}};
  }

  void check(const Result&) override {
    NetNs cns = open_container_netns(inv_);
    nl::Socket cs = nl::Socket::in(cns);
    auto lo = link::find(cs, "lo");
    if (!lo || !lo->is_up()) throw CniError(kPluginFailure, "loopback interface is down");
  }

  void gc(const std::set<ipam::Attachment>&) override {}  // it holds nothing outside the container
  void status() override {}
  bool reports_conf_dns() const override { return false; }

 private:
  Invocation& inv_;
};

}  // namespace

std::unique_ptr<Plugin> make_loopback(Invocation& inv) { return std::make_unique<Loopback>(inv); }

}  // namespace ctnet::cni
