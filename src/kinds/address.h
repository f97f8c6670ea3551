// Kinds "address" (an interface address), "route" (a route in a table) and "route-removed" (one taken away, to
// put back). All are recorded with the link they belong to (namespace identity, ifindex and name), so a remove
// never deletes an address or route that now belongs to another link of the same name.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "addr/address.h"
#include "addr/route.h"
#include "kinds/txn.h"

namespace ctnet::kinds::address {

struct Spec {
  std::string ns;
  std::string ifname;
  int ifindex = 0;             // saves the lookup when known
  Prefix prefix;
  bool dad = false;            // IPv6 duplicate address detection (off: our own allocation is unique)
  bool may_exist = false;      // an address that is already there is fine (and not ours to remove)
  bool prefix_route = true;    // the kernel's route to the subnet through the link (addr::AddOptions)
  // Other addresses of the link in the same subnet are removed first (CNI bridge `forceAddress`: a stale
  // gateway of an earlier configuration). What is removed is not restored by a rollback.
  bool replace_overlapping = false;
  // On a link others rely on (the gateway of a shared bridge): a rollback removes it only while the link
  // has no port, as a concurrent attachment may use it meanwhile.
  bool shared = false;
};

// An address must be a host of its subnet: not the network address or (IPv4) the broadcast address, except on
// /31 and /32 (RFC 3021) and their IPv6 equivalents.
void validate(const Spec& s, const std::string& field);
void apply(Txn& txn, const Spec& s);
bool present(Txn& txn, const Spec& s);
Removal remove(Txn& txn, const Made& m);

}  // namespace ctnet::kinds::address

namespace ctnet::kinds::route {

struct Spec {
  std::string ns;
  addr::Route route;           // route.oif is filled from `dev` when 0
  std::string dev;
  bool may_exist = false;      // EEXIST is fine: a route that is already there (e.g. a second network's default)
  // NLM_F_REPLACE: a route with the same key (addr::same_key) is overwritten; it is recorded as "route-removed"
  // first, so that a rollback deletes the new route and puts the old one back.
  bool replace = false;
};

void apply(Txn& txn, const Spec& s);
bool present(Txn& txn, const Spec& s);
// The record of an existing route on link `dev` (CNI DEL rebuilds what ADD made from the kernel's tables).
Made record(Txn& txn, NsSocket& s, const addr::Route& r, const std::string& dev);
Removal remove(Txn& txn, const Made& m);

// Kind "route-removed": a route that was there and that this transaction deleted (CNI sbr moves a link's routes to
// a table of their own). Recorded with everything the kernel matched it by (protocol, scope, source, metric);
// its remove is the undo: the route is added back while its link is still the one it was on. Deleting a route
// that is not there records nothing.
void remove_existing(Txn& txn, const Spec& s);
Removal restore(Txn& txn, const Made& m);

nlohmann::json to_json(const addr::Route& r);
addr::Route route_from_json(const nlohmann::json& j);

}  // namespace ctnet::kinds::route
