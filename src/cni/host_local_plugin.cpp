// `host-local` run on its own (a runtime or another plugin executing it as IPAM): ADD prints the IPAM result.
#include "cni/plugins.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

class HostLocal : public Plugin {
 public:
  explicit HostLocal(Invocation& inv) : inv_(inv), ipam_(inv) {
    check_args(inv, {"IP", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"});
    const auto* ipam = get_object(inv.conf, "ipam");
    if (!ipam) bad_config("ipam", "missing");
    if (get_string(*ipam, "type", "ipam").value_or("") != "host-local")
      bad_config("ipam.type", "must be host-local when executing host-local");
  }
  Result add(kinds::Txn& txn) override { return ipam_.add(txn); }
  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return {*ipam_.record(txn)}; }
  void check(const Result& prev) override { ipam_.check(prev); }
  void gc(const std::set<ipam::Attachment>& valid) override { ipam_.gc(valid); }
  void status() override { ipam_.status(); }
  bool reports_conf_dns() const override { return false; }

 private:
  Invocation& inv_;
  Ipam ipam_;
};

}  // namespace

std::unique_ptr<Plugin> make_host_local(Invocation& inv) { return std::make_unique<HostLocal>(inv); }

}  // namespace ctnet::cni
