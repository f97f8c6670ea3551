// An IPAM plugin run on its own (a runtime or another plugin executing it as IPAM): `host-local` and `static`.
// ADD prints the IPAM result; DEL releases host-local's lease (static holds nothing).
#include "cni/plugins.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

class IpamAlone : public Plugin {
 public:
  IpamAlone(Invocation& inv, const char* type) : ipam_(inv) {
    check_args(inv, {"IP"});
    const auto* ipam = get_object(inv.conf, "ipam");
    if (!ipam) bad_config("ipam", "missing");
    if (get_string(*ipam, "type", "ipam").value_or("") != type)
      bad_config("ipam.type", std::string("must be ") + type + " when executing " + type);
  }
  Result add(kinds::Txn& txn) override { return ipam_.add(txn); }
  std::vector<kinds::Made> del_records(kinds::Txn& txn) override {
    if (auto r = ipam_.record(txn)) return {*r};
    return {};
  }
  void check(const Result& prev) override { ipam_.check(prev); }
  void gc(const std::set<ipam::Attachment>& valid) override { ipam_.gc(valid); }
  void status() override { ipam_.status(); }
  bool reports_conf_dns() const override { return false; }

 private:
  Ipam ipam_;
};

}  // namespace

std::unique_ptr<Plugin> make_host_local(Invocation& inv) { return std::make_unique<IpamAlone>(inv, "host-local"); }
std::unique_ptr<Plugin> make_static(Invocation& inv) { return std::make_unique<IpamAlone>(inv, "static"); }

}  // namespace ctnet::cni
