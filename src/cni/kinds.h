// The CNI face's own kinds, recorded in the transaction as data like every link and address:
//   "ipam"          an IPAM allocation: host-local in-process, or an IPAM plugin executed from CNI_PATH
//   "nft-masq"      the masquerade rules of an attachment (ipMasq)
//   "nft-macspoof"  the MAC spoof check of an attachment (macspoofchk)
//   "nft-portmap"   the port mappings of an attachment (portmap)
//   "nft-firewall"  the firewall plugin's accepts of an attachment
//   "dhcp-lease"    a lease ctnet's DHCP daemon keeps for an attachment (the dhcp plugin)
// ADD records them; a rollback and DEL remove them through kinds::remove like any other record, so `saved`
// holds everything the removal needs, and DEL can rebuild the same records from the invocation alone.
#pragma once
#include <string>
#include <vector>

#include "cni/types.h"
#include "kinds/txn.h"
#include "nft/masq.h"
#include "util/ip.h"

namespace ctnet::cni {

// Registers the remove functions of these kinds (kinds::define_kind); run once at start-up.
void define_kinds();

// An IPAM plugin executed as the spec delegates: the same configuration on stdin, the same environment with
// CNI_COMMAND replaced (the attachment's variables come from here, so a record is enough to release it).
struct IpamExec {
  std::string type;          // the plugin's name, looked up in cni_path
  std::string cni_path;
  std::string conf;          // the network configuration, as the runtime gave it
  std::string container_id, netns, ifname;
};
nlohmann::json to_json(const IpamExec& x);
IpamExec ipam_exec_from_json(const nlohmann::json& j);
// Runs it with CNI_COMMAND=`command`; the parsed result for ADD. Its JSON error becomes a CniError.
Result exec_ipam(const IpamExec& x, std::string_view command);
// The record of an allocation: host-local by its network directory, an exec'd plugin by its invocation.
kinds::Made host_local_record(kinds::Txn& txn, const std::string& data_dir, const std::string& network,
                              const std::string& container_id, const std::string& ifname);
kinds::Made ipam_exec_record(kinds::Txn& txn, const IpamExec& x);

// The nftables rules of an attachment: recorded ("nft-masq", "nft-macspoof"), then added.
void add_masq(kinds::Txn& txn, const nft::MasqKey& key, const std::vector<Prefix>& addresses);
void add_macspoof(kinds::Txn& txn, const nft::MasqKey& key, const std::string& host_ifname, const std::string& mac);
// The records DEL rebuilds.
kinds::Made masq_record(kinds::Txn& txn, const nft::MasqKey& key);
// Kind "state-file": a file a plugin keeps what its DEL needs in (tuning's old values); its remove deletes it.
kinds::Made state_file_record(kinds::Txn& txn, const std::string& path);
kinds::Made macspoof_record(kinds::Txn& txn, const nft::MasqKey& key);
// Kind "nft-portmap": the port mappings of an attachment (both families), removed by its key alone.
kinds::Made portmap_record(kinds::Txn& txn, const nft::MasqKey& key);
// Kind "nft-firewall": the firewall plugin's set elements of an attachment, removed by its key alone.
kinds::Made firewall_record(kinds::Txn& txn, const nft::MasqKey& key);

// Kind "dhcp-lease" (src/cni/dhcp.cpp): its remove asks the daemon to release the lease; a daemon that is gone
// holds none.
kinds::Removal remove_dhcp_lease(kinds::Txn& txn, const kinds::Made& m);

// DEL: removes `records` (what ADD made, in ADD's order, as DEL can rebuild it from the invocation) newest
// first through the kinds' remove, exactly as a rollback does: best effort, every step runs, and the failures
// are reported together (CniError). A namespace that is already gone is no failure: the kernel took the
// container's side with it.
void remove_records(kinds::Txn& txn, std::vector<kinds::Made> records);

// The rollback errors of a failed ADD appended to a CNI error's details.
std::string with_rollback_errors(std::string details, const std::vector<std::string>& errors);

}  // namespace ctnet::cni
