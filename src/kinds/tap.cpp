#include "kinds/tap.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include "kinds/link_kind.h"
#include "link/link.h"
#include "ns/netns.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/fd.h"
#include "util/names.h"

namespace ctnet::kinds::tap {

void validate(const Spec& s, const std::string& p) {
  validate_ifname(s.name, p + "name");
  if (s.mac && (s.mac->bytes[0] & 1)) throw InvalidInput(p + "mac", s.mac->str() + " is a multicast address");
  if (s.mtu) validate_mtu(s.mtu, p + "mtu");
  if (!s.master.empty()) validate_ifname(s.master, p + "bridge");
}

namespace {
void make_tap(NsSocket& s, const Spec& spec) {
  const std::string what = fmt::format("cannot create tap {} in '{}'", spec.name, s.ns.label());
  if (fault::fail_request()) throw Error(what, EIO, fault::request_text());
  Fd tun;
  {
    NsGuard in(s.ns);  // the device is born in the namespace /dev/net/tun was opened in
    tun.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  }
  if (!tun) throw_errno(what + ": /dev/net/tun");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, spec.name.data(), spec.name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (spec.multi_queue ? IFF_MULTI_QUEUE : 0);
  if (::ioctl(tun.get(), TUNSETIFF, &ifr) != 0) throw_errno(what);
  if (spec.owner && ::ioctl(tun.get(), TUNSETOWNER, static_cast<unsigned long>(*spec.owner)) != 0)
    throw_errno(fmt::format("cannot set the owner of tap {}", spec.name));
  if (spec.group && ::ioctl(tun.get(), TUNSETGROUP, static_cast<unsigned long>(*spec.group)) != 0)
    throw_errno(fmt::format("cannot set the group of tap {}", spec.name));
  if (::ioctl(tun.get(), TUNSETPERSIST, 1) != 0) throw_errno(fmt::format("cannot make tap {} persistent", spec.name));
}
}  // namespace

int apply(Txn& txn, const Spec& spec) {
  validate(spec);
  NsSocket& s = txn.open(spec.ns);
  if (link::find(s.rtnl, spec.name))
    throw Error(fmt::format("a link named '{}' already exists in '{}'", spec.name, s.ns.label()), EEXIST);
  const int master = spec.master.empty() ? 0 : index_of(s, spec.master);
  // Until TUNSETPERSIST, the device lives only as long as the file: a failure before it leaves nothing.
  const size_t i = txn.make({.kind = "tap", .ns = txn.ref(s), .name = spec.name}, [&] { make_tap(s, spec); });
  const int index = index_of(s, spec.name);
  txn.done(i, index);
  link::Change c{.mtu = spec.mtu ? std::optional(spec.mtu) : std::nullopt, .mac = spec.mac};
  if (master) c.master = master;
  if (c.mtu || c.mac || c.master) link::change(s.rtnl, index, c, fmt::format("cannot configure tap {} in '{}'", spec.name, s.ns.label()));
  bring_up(s, index, spec.name);
  return index;
}

Removal remove(Txn& txn, const Made& m) { return remove_created_link(txn, m, "tun"); }

}  // namespace ctnet::kinds::tap
