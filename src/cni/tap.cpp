// `tap`: a TAP device as the container's interface (for a VM or a userspace stack inside the container), with the
// reference's keys `mac` (or runtimeConfig `mac`), `mtu`, `multiQueue`, `owner`, `group`, `bridge` (a bridge in the
// container to enslave it to), and `ipam`. DEL deletes it; CHECK also checks it is a tap.
#include <fmt/format.h>

#include "cni/plugins.h"
#include "kinds/link_kind.h"
#include "kinds/tap.h"
#include "link/link.h"
#include "util/json_get.h"

namespace ctnet::cni {
namespace {

std::optional<uint32_t> id_key(const nlohmann::json& c, const char* key) {
  const auto* v = member(c, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > UINT32_MAX)
    bad_config(key, "must be a non-negative integer (a uid or gid)");
  return v->get<uint32_t>();
}

class Tap : public OneInterfacePlugin {
 public:
  explicit Tap(Invocation& inv) : OneInterfacePlugin(inv, "tun") {
    check_args(inv, {"MAC", "IP"});
    const auto& c = inv.conf;
    spec_.ns = inv.netns;
    spec_.name = inv.ifname;
    if (auto m = get_string(c, "mac")) {
      spec_.mac = MacAddress::try_parse(*m);
      if (!spec_.mac) bad_config("mac", fmt::format("'{}' is not a MAC address", *m));
    }
    if (auto m = requested_mac(inv)) spec_.mac = m;
    spec_.mtu = mtu_key(c, "mtu");
    spec_.multi_queue = get_bool(c, "multiQueue", false);
    spec_.owner = id_key(c, "owner");
    spec_.group = id_key(c, "group");
    spec_.master = get_string(c, "bridge").value_or("");
    if (get_string(c, "selinuxcontext")) bad_config("selinuxcontext", "SELinux labels are not supported by ctnet");
    kinds::tap::validate(spec_, "");
  }

  Result add(kinds::Txn& txn) override { return add_interface(txn, [&] { return kinds::tap::apply(txn, spec_); }); }
  std::vector<kinds::Made> del_records(kinds::Txn& txn) override { return records_of(txn, "tap"); }

 private:
  kinds::tap::Spec spec_;
};

}  // namespace

std::unique_ptr<Plugin> make_tap(Invocation& inv) { return std::make_unique<Tap>(inv); }

}  // namespace ctnet::cni
