// Kind "qdisc": a queueing discipline ctnet added to a link (CNI bandwidth: a tbf or an htb at the root of the
// host end of a container's veth or of an IFB, the ingress qdisc of the host end), together with the htb
// classes and u32 filters that hang from it: they live and die with it, so the qdisc is the one record.
// Recorded with its link's identity (namespace, ifindex, name) and its own place (parent, handle, kind); its
// remove deletes it only while that link still has a qdisc of that kind and handle there ("replaced"
// otherwise), and a link that is gone took its qdiscs along.
#pragma once
#include <string>
#include <vector>

#include "kinds/txn.h"
#include "link/tc.h"

namespace ctnet::kinds::qdisc {

struct Spec {
  std::string ns;
  std::string dev;                          // the link
  link::tc::Qdisc qdisc;                    // kind "tbf", "htb", "netem" or "ingress", its handle, parent, options
  std::vector<link::tc::HtbClass> classes;  // made after the qdisc, in order
  std::vector<link::tc::U32Filter> filters; // then these
};

// Adds the qdisc (refused when the place holds one already, other than the link's default), then its classes
// and filters; one record, done once the qdisc exists, so a failure of a class or filter removes it again.
void apply(Txn& txn, const Spec& s);
// What differs between the link's qdisc at the spec's place (and its classes and filters) and the spec:
// "tbf rate 125000 B/s (want 250000)", "no qdisc at root" ...; empty when all is as specified.
std::vector<std::string> differences(nl::Socket& s, int ifindex, const Spec& spec);
Removal remove(Txn& txn, const Made& m);

// netem settings that make sense together (InvalidInput naming `field_prefix` + the key): something is set,
// delay <= 60s, jitter and reorder need a delay, jitter <= delay (netem clamps a negative delay to 0, which
// reorders packets), rate >= 8bit.
void validate_netem(const link::tc::Netem& n, const std::string& field_prefix);
// The handle of the netem qdisc a lab puts at the root of an endpoint ("1:"): fixed, so the record matches it.
inline constexpr uint32_t kNetemHandle = 0x10000;
// A lab's impairment of one link: the root netem qdisc (a Spec of kind netem, no classes or filters).
Spec netem(std::string ns, std::string dev, const link::tc::Netem& n);
// missing: no such link, or no qdisc (other than the default) at the spec's place; else the differences.
Inspection inspect(Txn& txn, const Spec& s);
// Missing: apply; there: replace (the record's entry names the same kind and handle).
void repair(Txn& txn, const Spec& s);
// Changes the root netem of a link that has one (an entry of this record) in place: `tc qdisc replace`.
void replace(Txn& txn, const Spec& s);

}  // namespace ctnet::kinds::qdisc
