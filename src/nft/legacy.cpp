#include "nft/legacy.h"

#include <netinet/in.h>  // before any linux/ header (its struct in_addr is glibc's)
#include <arpa/inet.h>

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "ns/netns.h"
#include "util/fd.h"

namespace ctnet::nft {

namespace {
// ipt_getinfo and ip6t_getinfo, ipt_get_entries and ip6t_get_entries have the same layout; only the entry
// header differs in size (ipt_ip vs ip6t_ip6), and we need from it target_offset and next_offset alone.
template <class Entry>
std::optional<LegacyChain> read_chain(int fd, int level, int opt_info, int opt_entries, unsigned hook) {
  ipt_getinfo info{};
  std::strcpy(info.name, "filter");
  socklen_t len = sizeof info;
  if (::getsockopt(fd, level, opt_info, &info, &len) != 0) return std::nullopt;  // no filter table
  if (!(info.valid_hooks & (1u << hook))) return std::nullopt;
  std::vector<char> buf(sizeof(ipt_get_entries) + info.size);
  auto* ge = reinterpret_cast<ipt_get_entries*>(buf.data());
  std::strcpy(ge->name, "filter");
  ge->size = info.size;
  len = static_cast<socklen_t>(buf.size());
  if (::getsockopt(fd, level, opt_entries, ge, &len) != 0) return std::nullopt;
  const char* base = buf.data() + sizeof(ipt_get_entries);
  LegacyChain c;
  // The chain runs from hook_entry to underflow, the policy rule (a standard target) sitting at underflow.
  for (unsigned off = info.hook_entry[hook]; off < info.underflow[hook];) {
    auto* e = reinterpret_cast<const Entry*>(base + off);
    if (e->next_offset == 0) break;
    ++c.rules;
    off += e->next_offset;
  }
  if (info.underflow[hook] + sizeof(Entry) > info.size) return c;
  auto* pol = reinterpret_cast<const Entry*>(base + info.underflow[hook]);
  auto* t = reinterpret_cast<const xt_standard_target*>(reinterpret_cast<const char*>(pol) + pol->target_offset);
  c.drops = t->verdict == -NF_DROP - 1;
  return c;
}
}  // namespace

std::optional<LegacyChain> legacy_filter_chain(const NetNs* ns, int family, unsigned hook) {
  std::optional<NsGuard> guard;
  if (ns) guard.emplace(*ns);
  // /proc/thread-self/net: this thread's namespace (/proc/self/net would show the thread group leader's).
  const char* names = family == AF_INET6 ? "/proc/thread-self/net/ip6_tables_names" : "/proc/thread-self/net/ip_tables_names";
  // Only a filter table that exists in this namespace is read. Asking for one that does not would make the
  // kernel load iptable_filter, or instantiate the table here from its template (net/netfilter/x_tables.c,
  // xt_request_find_table_lock) — with `forward=0` a reader would start dropping what it reads about. A table
  // that is not listed has no hooks: nothing of it drops.
  std::ifstream listed(names);
  std::string table;
  bool present = false;
  while (!present && std::getline(listed, table)) present = table == "filter";
  if (!present) return std::nullopt;
  Fd fd(::socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!fd) return std::nullopt;
  if (family == AF_INET6)
    return read_chain<ip6t_entry>(fd.get(), IPPROTO_IPV6, IP6T_SO_GET_INFO, IP6T_SO_GET_ENTRIES, hook);
  return read_chain<ipt_entry>(fd.get(), IPPROTO_IP, IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES, hook);
}

}  // namespace ctnet::nft
