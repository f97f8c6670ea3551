// `ctnet explain --probe`: one marked packet sent from SRC proves (or refutes) the walk. While it travels the
// kernel is watched two ways, both removed afterwards:
// - the skb:kfree_skb tracepoint in a tracefs instance of our own (drop reason and code location), tied to the
//   probe by its skb address as the net:net_dev_queue / netif_receive_skb events of its unique length saw it;
// - nftables trace events (NFT_MSG_TRACE, group NFNLGRP_NFTRACE) in each namespace of the path, switched on by a
//   temporary table whose one rule sets `meta nftrace` for the probe's own ICMP id or ports only.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "explain/explain.h"

namespace ctnet::explain {

struct ProbeResult {
  bool reached = false;            // a reply came back (echo reply, SYN-ACK), or UDP left without any drop seen
  std::string outcome;             // in words
  std::string code;                // the walk's code this outcome corresponds to ("" when reached or unknown)
  std::vector<std::string> drops;  // kfree_skb events of the probe: "REASON at LOCATION"
  std::vector<std::string> nft;    // nftables trace verdicts: "ns: table chain rule N: drop"
  std::vector<std::string> notes;  // what could not be watched
  bool agrees = true;
  std::string disagreement;
};

// Chooses the probe's own ICMP id / source port (so the walk evaluates exactly the probe's packet).
void prepare_probe(Request& r);
ProbeResult probe(const Request& r, const Result& walk);

nlohmann::json to_json(const ProbeResult& p);
std::string render(const ProbeResult& p);

}  // namespace ctnet::explain
