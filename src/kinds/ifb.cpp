#include "kinds/ifb.h"

#include <fmt/format.h>
#include <linux/if_link.h>

#include "kinds/link_kind.h"
#include "link/link.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::ifb {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.name, p + "name");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
}

int apply(Txn& txn, const Spec& spec) {
  validate(spec);
  NsSocket& s = txn.open(spec.ns);
  if (link::find(s.rtnl, spec.name))
    throw Error(fmt::format("a link named '{}' already exists in '{}'", spec.name, s.ns.label()), EEXIST);
  nl::Message m = link::create_request(spec.name, true, spec.mtu);
  nlattr* info = m.begin_nest(IFLA_LINKINFO);
  m.put_str(IFLA_INFO_KIND, "ifb");
  m.end_nest(info);
  const size_t i = txn.make({.kind = "ifb", .ns = txn.ref(s), .name = spec.name}, [&] {
    std::string text;
    const int err = s.rtnl.try_ack(m, &text);
    if (err == EOPNOTSUPP)
      throw Error("this kernel has no ifb driver (CONFIG_IFB): load the ifb module", err, text);
    if (err) throw Error(fmt::format("cannot create ifb {} in '{}'", spec.name, s.ns.label()), err, text);
  });
  const int index = index_of(s, spec.name);
  txn.done(i, index);
  return index;
}

Removal remove(Txn& txn, const Made& m) { return remove_created_link(txn, m, "ifb"); }

}  // namespace ctnet::kinds::ifb
