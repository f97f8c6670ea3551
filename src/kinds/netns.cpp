#include "kinds/netns.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "kinds/link_kind.h"
#include "ns/sysctl.h"
#include "util/error.h"
#include "util/names.h"

namespace ctnet::kinds::netns {

// lo is ifindex 1 in every namespace (LOOPBACK_IFINDEX, include/net/net_namespace.h).
constexpr int kLoopbackIndex = 1;

void validate(const Spec& s, const std::string& field) { validate_netns_name(s.name, field); }

bool is_stale(const std::string& name) {
  if (!NetNs::exists(name)) return false;
  try {
    NetNs::open_path(NetNs::path_of(name));
    return false;
  } catch (const Error& e) {
    return e.errnum() == EINVAL;
  }
}

namespace {
void configure(NsSocket& s, const Spec& spec) {
  if (spec.loopback)
    link::change(s.rtnl, kLoopbackIndex, {.up = true}, fmt::format("cannot bring up lo in namespace '{}'", spec.name));
  for (auto& [k, v] : spec.sysctls) write_sysctl(k, v, &s.ns);
}
}  // namespace

NsSocket& apply(Txn& txn, const Spec& spec) {
  if (is_stale(spec.name)) NetNs::remove_named(spec.name);
  NsSocket* created = nullptr;
  size_t i = txn.make({.kind = "netns", .ns = {.spec = spec.name}, .name = spec.name},
                      [&] { created = &txn.adopt(NetNs::create_named(spec.name), spec.name); });
  NsSocket& s = *created;
  txn.entry(i).ns = txn.ref(s);
  txn.done(i);
  configure(s, spec);
  return s;
}

Inspection inspect(Txn& txn, const Spec& spec) {
  if (!NetNs::exists(spec.name)) return Inspection::missing();
  if (is_stale(spec.name)) return Inspection::of(0, {fmt::format("{} is a stale file, not a namespace", NetNs::path_of(spec.name))});
  NsSocket& s = txn.open(spec.name);
  std::vector<std::string> d;
  if (spec.loopback) {
    auto lo = link::find(s.rtnl, kLoopbackIndex);
    if (lo && !lo->is_up()) d.push_back("lo is down");
  }
  for (auto& [k, v] : spec.sysctls) {
    auto have = read_sysctl(k, &s.ns);
    if (have != v) d.push_back(fmt::format("sysctl {}={} (want {})", k, have.value_or("<absent>"), v));
  }
  return Inspection::of(0, std::move(d));
}

void repair(Txn& txn, const Spec& spec) {
  if (is_stale(spec.name) || !NetNs::exists(spec.name)) {
    apply(txn, spec);
    return;
  }
  configure(txn.open(spec.name), spec);
}

Removal remove(Txn& txn, const Made& m) {
  {
    // Checked without a netlink socket in it: `down` removes namespaces in a row so that the kernel tears them
    // down in one batch, and a closed netlink socket would hold each one for another RCU grace period.
    std::optional<NetNs> ns;
    try {
      ns.emplace(NetNs::open_path(NetNs::path_of(m.name)));
    } catch (const Error& e) {
      if (e.errnum() == ENOENT) return Removal::absent;
      if (e.errnum() != EINVAL) throw;
      NetNs::remove_named(m.name);  // a stale file, no namespace behind it
      return Removal::absent;
    }
    const bool recorded = m.ns.dev || m.ns.ino || m.ns.cookie;  // else only the intent was recorded
    if (recorded && !identify(*ns, m.name).same(m.ns)) return Removal::replaced;
  }
  txn.forget(m.ns);  // our socket would keep the namespace alive after its name is gone
  return NetNs::remove_named(m.name) ? Removal::removed : Removal::absent;
}

}  // namespace ctnet::kinds::netns
