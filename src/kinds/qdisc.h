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
  link::tc::Qdisc qdisc;                    // kind "tbf", "htb" or "ingress", its handle, parent and options
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

}  // namespace ctnet::kinds::qdisc
