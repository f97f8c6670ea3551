// The lab as the kinds layer sees it: the parsed Topology turned into one driver spec per object, in the order
// `up` makes them (namespaces, bridges and their addresses, links in file order each followed by its port VLANs,
// impairments and addresses, routes, the `run:` processes). This is the only place that knows how a topology key
// becomes a driver field; inspecting, making and repairing are the drivers' own functions.
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "kinds/address.h"
#include "kinds/bridge.h"
#include "kinds/dummy.h"
#include "kinds/host_device.h"
#include "kinds/netns.h"
#include "kinds/qdisc.h"
#include "kinds/subif.h"
#include "kinds/veth.h"
#include "kinds/vxlan.h"
#include "sriov/attach.h"
#include "topology/model.h"
#include "topology/process.h"

namespace ctnet::topo {

using Spec = std::variant<kinds::netns::Spec, kinds::bridge::Spec, kinds::veth::Spec, kinds::subif::Spec,
                          kinds::host_device::Spec, kinds::vxlan::Spec,
                          sriov::AttachSpec /* a VF; its addresses are items of their own */, kinds::address::Spec, kinds::route::Spec,
                          kinds::qdisc::Spec /* an endpoint's impairment (netem) */,
                          kinds::port::Vlans /* a bridge port's VLANs */, kinds::dummy::Spec,
                          process::Spec /* a `run:` process, after every object */>;

struct Item {
  std::string what;                     // "veth host/veth1 <-> ns1/veth1-ns1": the file's names, for reports
  std::string field;                    // "links[2]." (InvalidInput fields of the drivers)
  std::vector<std::string> namespaces;  // the lab namespaces it lives in (must be usable before it is inspected)
  Spec spec;
  int parent = -1;                      // an address's link: skipped when that one could not be made
};

// `host`: the namespace spec that plays "host" ("" = the one ctnet runs in, or a --host-netns name).
std::vector<Item> desired(const Topology& t, const std::string& host);

// The record keys of what the item makes (a record entry that no item claims is no longer in the file).
void claim(const Item& item, std::vector<std::string>& keys);

kinds::Inspection inspect(kinds::Txn& txn, const Item& item);
void apply(kinds::Txn& txn, const Item& item);
void repair(kinds::Txn& txn, const Item& item);

}  // namespace ctnet::topo
