// Policy routing rules (RTM_NEWRULE / RTM_DELRULE / RTM_GETRULE, linux/fib_rules.h): "from SRC lookup TABLE" at
// a priority, and the routing tables a namespace uses (by a rule or a route), to pick a free one.
#pragma once
#include <linux/fib_rules.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netlink/message.h"
#include "netlink/socket.h"
#include "util/ip.h"

namespace ctnet::addr {

struct Rule {
  int family = AF_INET;
  std::optional<Prefix> src;           // FRA_SRC: "from"; unset: from all
  uint32_t table = 0;                  // FRA_TABLE: "lookup"
  std::optional<uint32_t> priority;    // FRA_PRIORITY; unset in a request: the kernel picks (see default_priority)
  uint8_t action = FR_ACT_TO_TBL;
  bool l3mdev = false;                 // FRA_L3MDEV: the VRF rule ("lookup [l3mdev-table]"); read only

  std::string str() const;             // "from 10.1.0.5 lookup 100 priority 32765"
};

nl::Message add_request(const Rule& r);
// Exactly the rule given (family, source, table, priority, action); NLM_F_EXCL: the same rule twice is EEXIST.
void add(nl::Socket& s, const Rule& r);
// Idempotent: false when no such rule exists. The kernel matches what is given, so give the priority.
bool remove(nl::Socket& s, const Rule& r);
// Every rule of `family` (AF_UNSPEC: both), in the kernel's order (by priority).
std::vector<Rule> list_rules(nl::Socket& s, int family = AF_UNSPEC);

// The priority the kernel gives a rule added without one (net/core/fib_rules.c, fib_default_rule_pref): one
// below the second rule of the family's list, so 32765 first (the defaults are 0, 32766, 32767), then 32764 ...
uint32_t default_priority(const std::vector<Rule>& rules_of_family);

// The first table number >= `from` that no rule looks up, no route of any family is in, and is not in `taken`.
uint32_t first_free_table(nl::Socket& s, uint32_t from, const std::set<uint32_t>& taken = {});

}  // namespace ctnet::addr
