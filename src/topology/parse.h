// Topology files: YAML in, a validated Topology out. Every error is an InvalidInput whose field names the key
// path and the line ("links[2].endpoints[0] (line 14)"), raised before anything touches the kernel.
#pragma once
#include <string>
#include <string_view>

#include "topology/model.h"

namespace ctnet::topo {

// The embedded default lab (`ctnet up` with no file): the seed's scenario 2, two namespaces on a host bridge.
extern const char* const kDefaultLabYaml;

// Parses and validates the file's own consistency (names, references, addresses, pools).
Topology parse_yaml(std::string_view text);
Topology load_file(const std::string& path);
Topology default_topology();

// Prefixes the lab name, every lab namespace name and every link and bridge the lab makes in the host namespace
// (`up --prefix`): several copies of one file side by side, as containerlab's clab-<lab>- names. Interfaces
// inside lab namespaces keep their names (their namespace is the copy's own).
void add_prefix(Topology& t, const std::string& prefix);
// PREFIX+NAME, or (when that exceeds 15 bytes) a stable short form: p<hash of PREFIX>-NAME, or ctp<hash>.
std::string prefixed_name(const std::string& prefix, const std::string& name);

// What only the running system can answer: link kinds the kernel lacks, parents and host devices that must
// already exist in the host namespace. Read-only.
void validate_against_kernel(const Topology& t);

}  // namespace ctnet::topo
