// Topology files: parsing, validation errors (field and line), pools, the embedded default, reachability,
// the record's JSON round trip and the pictures. No kernel access.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "topology/check.h"
#include "topology/graph.h"
#include "topology/model.h"
#include "topology/parse.h"
#include "util/error.h"
#include "util/names.h"

using namespace ctnet;
using namespace ctnet::topo;

namespace {

std::string read(const std::string& rel) {
  std::ifstream f(std::string(CTNET_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The InvalidInput a file raises; fails the test when it parses.
InvalidInput error_of(const std::string& yaml) {
  try {
    parse_yaml(yaml);
  } catch (const InvalidInput& e) {
    return e;
  }
  ADD_FAILURE() << "parsed without error:\n" << yaml;
  return InvalidInput("", "");
}

void expect_error(const std::string& yaml, const std::string& field, int line, const std::string& text) {
  InvalidInput e = error_of(yaml);
  EXPECT_NE(e.field().find(field), std::string::npos) << e.what();
  EXPECT_NE(e.field().find("(line " + std::to_string(line) + ")"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
}

}  // namespace

TEST(TopologyParse, DefaultLabIsTheSeedBridgeExample) {
  Topology d = default_topology();
  Topology f = parse_yaml(read("examples/seed-bridge.yaml"));
  EXPECT_EQ(d.name, "seed");
  EXPECT_EQ(to_json(d), to_json(f));
  ASSERT_EQ(d.namespaces.size(), 2u);
  ASSERT_EQ(d.bridges.size(), 1u);
  EXPECT_EQ(d.bridges[0].ns, kHostNs);
  EXPECT_TRUE(d.bridges[0].addresses.empty());  // no address on the host bridge
  ASSERT_EQ(d.links.size(), 2u);
  EXPECT_EQ(d.links[0].b.bridge, "br0");
  EXPECT_EQ(d.links[0].b.name, "veth1");
  EXPECT_EQ(d.links[0].a.addresses.at(0).str(), "10.0.0.1/24");
}

TEST(TopologyParse, EveryExampleParses) {
  for (auto name : {"veth-pair", "seed-bridge", "macvlan", "routed", "vxlan", "vlan-bridge"}) {
    SCOPED_TRACE(name);
    Topology t = parse_yaml(read(std::string("examples/") + name + ".yaml"));
    EXPECT_FALSE(t.namespaces.empty());
    // The record keeps the resolved topology as JSON: it must come back the same.
    EXPECT_EQ(to_json(from_json(to_json(t))), to_json(t));
  }
}

TEST(TopologyParse, ShortAndLongFormsAgree) {
  Topology s = parse_yaml(R"(
name: x
namespaces: [a, b]
links:
  - endpoints: ["a:e0=10.0.0.1/24", "b:e0=10.0.0.2/24"]
    mtu: 1400
)");
  Topology l = parse_yaml(R"(
name: x
namespaces:
  - name: a
  - name: b
links:
  - kind: veth
    a: {namespace: a, name: e0, addresses: [10.0.0.1/24]}
    b: {namespace: b, name: e0, addresses: ["10.0.0.2/24"]}
    mtu: 1400
)");
  EXPECT_EQ(to_json(s), to_json(l));
}

TEST(TopologyParse, PoolsSkipExplicitAddressesAndRunOut) {
  Topology t = parse_yaml(R"(
name: p
pools: {lan: 10.5.0.0/29, v6: {subnet: "fd00:5::/64"}}
namespaces: [a, b, c]
bridges: [br]
links:
  - endpoints: ["a:e0=10.5.0.1/29", br]
  - endpoints: ["b:e0=lan,v6", br]
  - endpoints: ["c:e0=lan", br]
)");
  EXPECT_EQ(t.links[1].a.addresses.at(0).str(), "10.5.0.2/29");  // .1 is taken explicitly
  EXPECT_EQ(t.links[1].a.addresses.at(1).str(), "fd00:5::1/64");
  EXPECT_EQ(t.links[2].a.addresses.at(0).str(), "10.5.0.3/29");
  expect_error(R"(
name: p
pools: {tiny: 10.6.0.0/30}
namespaces: [a, b, c]
bridges: [br]
links:
  - endpoints: ["a:e0=tiny", br]
  - endpoints: ["b:e0=tiny", br]
  - endpoints: ["c:e0=tiny", br]
)", "links[2].endpoints[0]", 9, "no free address");
}

TEST(TopologyParse, DerivedPortNamesAreStableAndValid) {
  Topology t = parse_yaml(R"(
name: p
namespaces: [a-very-long-namespace-name]
bridges: [br]
links:
  - endpoints: ["a-very-long-namespace-name:eth0", br]
)");
  const std::string port = t.links[0].b.name;
  EXPECT_LE(port.size(), 15u);
  EXPECT_EQ(port, parse_yaml(R"(
name: p
namespaces: [a-very-long-namespace-name]
bridges: [br]
links:
  - endpoints: ["a-very-long-namespace-name:eth0", br]
)").links[0].b.name);
}

// Each invalid file names the field and the line, before anything touches the kernel.
TEST(TopologyParse, UnknownKind) {
  expect_error("name: x\nnamespaces: [a]\nlinks:\n  - kind: tunnel\n    endpoint: a:e0\n", "links[0].kind", 4, "unknown kind 'tunnel'");
}

TEST(TopologyParse, BadCidr) {
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=10.0.0.300/24\", \"b:e0\"]\n",
               "links[0].endpoints[0]", 4, "not a valid CIDR");
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=10.0.0.3\", \"b:e0\"]\n",
               "links[0].endpoints[0]", 4, "needs a prefix length");
}

TEST(TopologyParse, DuplicateNames) {
  expect_error("name: x\nnamespaces:\n  - a\n  - a\n", "namespaces[1]", 4, "declared twice");
  expect_error("name: x\nnamespaces: [a, b, c]\nlinks:\n  - endpoints: [a:e0, b:e0]\n  - endpoints: [a:e0, c:e0]\n",
               "links[1].endpoints[0]", 5, "already defined at links[0].endpoints[0] (line 4)");
  expect_error("name: x\nnamespaces: [a]\nbridges: [a]\n", "bridges[0]", 3, "already names a namespace");
}

TEST(TopologyParse, SixteenByteNames) {
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:sixteen-bytes-xx\", \"b:e0\"]\n",
               "links[0].endpoints[0]", 4, "is 16 bytes");
  expect_error("name: x\nbridges:\n  - name: sixteen-bytes-br\n", "bridges[0]", 3, "16 bytes");
}

TEST(TopologyParse, MtuZeroOrOutOfRangeIsInvalid) {
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [a:e0, b:e0]\n    mtu: 0\n", "links[0].mtu", 5,
               "0 is not an MTU between 68 and 65535");
  expect_error("name: x\nbridges:\n  br0: {mtu: 70000}\n", "bridges.br0.mtu", 3, "70000 is not an MTU");
  // IPv6 addresses need 1280 or more.
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=fd00::1/64\", \"b:e0=fd00::2/64\"]\n    mtu: 1000\n",
               "links[0].mtu", 4, "IPv6");
  EXPECT_NO_THROW(parse_yaml("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=10.0.0.1/24\", b:e0]\n    mtu: 1000\n"));
}

TEST(TopologyParse, MissingParent) {
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - kind: macvlan\n    endpoint: a:mv0\n    parent: b:nothere\n",
               "links[0].parent", 6, "not an interface of namespace 'b'");
}

TEST(TopologyParse, AddressOutsideItsSubnet) {
  expect_error(R"(name: x
namespaces: [a]
bridges:
  br: {subnet: 10.1.0.0/24}
links:
  - endpoints: ["a:e0=10.2.0.5/24", br]
)", "links[0].endpoints[0]", 6, "outside the subnet 10.1.0.0/24 of bridge 'br'");
  expect_error(R"(name: x
namespaces: [a]
links:
  - endpoints: ["a:e0=10.2.0.0/24", "a:e1=10.2.0.1/24"]
)", "links[0].endpoints[0]", 4, "network or broadcast");
}

TEST(TopologyParse, DuplicateAddress) {
  expect_error("name: x\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0=10.0.0.1/24\", \"b:e0=10.0.0.1/24\"]\n",
               "links[0].endpoints[1]", 4, "already used");
}

TEST(TopologyParse, GatewayMustBeOnASubnetOfTheNamespace) {
  expect_error(R"(name: x
namespaces:
  a:
    routes: ["default via 10.9.9.1"]
  b: {}
links:
  - endpoints: ["a:e0=10.0.0.1/24", "b:e0=10.0.0.2/24"]
)", "namespaces.a.routes[0].via", 4, "not in any subnet");
}

TEST(TopologyParse, UnknownKeysAndSysctls) {
  expect_error("name: x\nnamespaces:\n  a: {sysctls: {kernel.panic: 1}}\n", "namespaces.a.sysctls.kernel.panic", 3, "net.*");
  expect_error("name: x\nnamespace: [a]\n", "file.namespace", 2, "unknown key");
  expect_error("name: x\nnamespaces: [host]\n", "namespaces[0]", 2, "'host'");
}

TEST(TopologyParse, VfNeedsAPfAndTakesIndexOrPci) {
  expect_error("name: x\nnamespaces: [a]\nlinks:\n  - kind: vf\n    endpoint: a:eth0\n", "links[0]", 4, "needs `pf`");
  expect_error("name: x\nnamespaces: [a]\nlinks:\n  - kind: vf\n    pf: enp1s0\n    vf: 1\n    pci: 01:10.0\n    endpoint: a:eth0\n",
               "links[0]", 4, "not both");
  expect_error("name: x\nnamespaces: [a]\nlinks:\n  - kind: vf\n    pf: enp1s0\n    pci: nonsense\n    endpoint: a:eth0\n",
               "links[0].pci", 6, "");
  Topology t = parse_yaml("name: x\nnamespaces: [a]\nlinks:\n  - kind: vf\n    pf: enp1s0\n    pci: 01:10.2\n    vlan: 10\n"
                          "    endpoint: a:eth0=10.3.0.2/24\n");
  ASSERT_EQ(t.links.size(), 1u);
  EXPECT_EQ(t.links[0].kind, Kind::vf);
  EXPECT_EQ(t.links[0].pci, "0000:01:10.2");
  EXPECT_EQ(t.links[0].vlan, 10);
  EXPECT_EQ(t.links[0].a.name, "eth0");
  EXPECT_EQ(to_json(from_json(to_json(t))), to_json(t));
}

TEST(TopologyParse, YamlSyntaxErrorHasALine) {
  InvalidInput e = error_of("name: x\nnamespaces: [a\n  b: c\n");
  EXPECT_NE(e.field().find("line"), std::string::npos) << e.what();
}

TEST(TopologyParse, PrefixRenamesNamespacesEverywhere) {
  Topology t = parse_yaml(read("examples/routed.yaml"));
  add_prefix(t, "p1-");
  EXPECT_EQ(t.name, "p1-routed");
  EXPECT_EQ(t.namespaces[0].name, "p1-fabric");
  EXPECT_EQ(t.bridges[0].ns, "p1-fabric");
  EXPECT_EQ(t.links[0].a.ns, "p1-router");
  EXPECT_EQ(t.links[0].b.ns, "p1-fabric");
  EXPECT_EQ(t.bridges[0].name, "br-a");  // in a lab namespace: the copy's own
  EXPECT_EQ(t.links[0].b.bridge, "br-a");
}

TEST(TopologyParse, PrefixRenamesWhatTheLabMakesInTheHost) {
  Topology t = default_topology();
  add_prefix(t, "p1-");
  EXPECT_EQ(t.bridges[0].name, "p1-br0");
  EXPECT_EQ(t.links[0].b.name, "p1-veth1");
  EXPECT_EQ(t.links[0].b.bridge, "p1-br0");
  EXPECT_EQ(t.links[0].a.name, "veth1-ns1");  // inside its (prefixed) namespace

  // Too long for 15 bytes: a stable short form, different per prefix, still valid.
  Topology a = default_topology(), b = default_topology();
  add_prefix(a, "a-rather-long-prefix-");
  add_prefix(b, "another-long-prefix-");
  EXPECT_TRUE(is_valid_ifname(a.bridges[0].name)) << a.bridges[0].name;
  EXPECT_NE(a.bridges[0].name.find("-br0"), std::string::npos) << a.bridges[0].name;
  EXPECT_NE(a.bridges[0].name, b.bridges[0].name);
  EXPECT_EQ(a.links[0].b.bridge, a.bridges[0].name);
  EXPECT_EQ(prefixed_name("a-rather-long-prefix-", "br0"), a.bridges[0].name);
  EXPECT_TRUE(is_valid_ifname(prefixed_name("a-rather-long-prefix-", "fifteen-bytes-x")));

  // A parent that is an existing host device keeps its name; one the lab makes is renamed with it.
  Topology m = parse_yaml("name: m\nnamespaces: [a]\nlinks:\n  - endpoints: [a:p0, host:up0]\n"
                          "  - kind: macvlan\n    endpoint: a:mv0\n    parent: eth0\n"
                          "  - kind: macvlan\n    endpoint: a:mv1\n    parent: up0\n");
  add_prefix(m, "p1-");
  EXPECT_EQ(m.links[0].b.name, "p1-up0");
  EXPECT_EQ(m.links[1].parent.name, "eth0");
  EXPECT_EQ(m.links[2].parent.name, "p1-up0");
}

TEST(TopologyCheck, ExpectedPairsFollowSegmentsAndRoutes) {
  // routed: a1, a2, b1 (v4 + v6) and the router's two interfaces (v4 + v6): every namespace reaches every
  // other address through the router; `fabric` has no addresses and is no source of pings that could work.
  auto routed = expected_probes(parse_yaml(read("examples/routed.yaml")));
  size_t routed_hops = 0;
  for (auto& p : routed) {
    EXPECT_NE(p.from, "fabric");
    routed_hops += p.routed;
  }
  EXPECT_EQ(routed.size(), 30u);
  // From a1 and a2: b1 and the router's far interface; from b1: a1, a2 and the router's far side; both families.
  EXPECT_EQ(routed_hops, 14u);
  EXPECT_EQ(expected_probes(parse_yaml(read("examples/veth-pair.yaml"))).size(), 2u);
  EXPECT_EQ(expected_probes(parse_yaml(read("examples/seed-bridge.yaml"))).size(), 2u);
  // macvlan: app1 <-> app2 <-> lan's gateway, all in bridge mode.
  EXPECT_EQ(expected_probes(parse_yaml(read("examples/macvlan.yaml"))).size(), 6u);
  // vxlan: the underlay pair and the two hosts across the tunnel.
  EXPECT_EQ(expected_probes(parse_yaml(read("examples/vxlan.yaml"))).size(), 4u);
}

TEST(TopologyCheck, NoForwardingNoRoutedPairs) {
  std::string y = read("examples/routed.yaml");
  auto pos = y.find("net.ipv4.ip_forward: 1");
  ASSERT_NE(pos, std::string::npos);
  y.replace(pos, 22, "net.ipv4.ip_forward: 0");
  size_t v4_routed = 0;
  for (auto& p : expected_probes(parse_yaml(y))) {
    if (!p.routed || !p.target.is_v4()) continue;
    ++v4_routed;
    EXPECT_EQ(p.to_ns, "router");  // only the router's own far address still answers
  }
  EXPECT_EQ(v4_routed, 3u);
}

TEST(TopologyCheck, PrivateMacvlanSiblingsAreNotExpectedToTalk) {
  std::string y = read("examples/macvlan.yaml");
  for (size_t pos; (pos = y.find("mode: bridge")) != std::string::npos;) y.replace(pos, 12, "mode: private");
  auto probes = expected_probes(parse_yaml(y));
  for (auto& p : probes) EXPECT_FALSE(p.from.starts_with("app") && p.to_ns.starts_with("app")) << p.from << " -> " << p.to_ns;
  EXPECT_EQ(probes.size(), 4u);  // each app <-> the gateway
}

TEST(TopologyGraph, DotAndTextNameEveryInterface) {
  Topology t = parse_yaml(read("examples/routed.yaml"));
  std::string dot = to_dot(t), text = to_text(t);
  EXPECT_EQ(dot.rfind("graph \"routed\" {", 0), 0u);
  for (auto name : {"br-a", "eth-a", "r-b", "10.1.0.1/24"}) {
    EXPECT_NE(dot.find(name), std::string::npos) << name;
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  EXPECT_NE(text.find("route default via 10.1.0.1"), std::string::npos);
}

TEST(TopologyParse, LinkLocalOnlyWhereTheFileUsesIpv6) {
  Topology seed = default_topology();
  EXPECT_FALSE(seed.namespaces[0].ipv6_link_local.value());
  Topology routed = parse_yaml(read("examples/routed.yaml"));
  EXPECT_TRUE(routed.find_ns("a1")->ipv6_link_local.value());
  EXPECT_FALSE(routed.find_ns("fabric")->ipv6_link_local.value());
  Topology forced = parse_yaml("name: x\nnamespaces:\n  a: {ipv6_link_local: true}\n");
  EXPECT_TRUE(forced.namespaces[0].ipv6_link_local.value());
}

TEST(TopologySchema, IsJsonAndKnowsEveryKindAndKey) {
  auto schema = nlohmann::json::parse(read("schema/topology.schema.json"));
  auto& defs = schema.at("$defs");
  for (auto kind : {"veth", "macvlan", "ipvlan", "vlan", "dummy", "host-device", "vxlan", "vf"})
    EXPECT_NE(defs.at("link").dump().find(std::string("\"") + kind + "\""), std::string::npos) << kind;
  for (auto key : {"loopback", "ipv6_link_local", "sysctls", "routes"}) EXPECT_TRUE(defs.at("namespace").at("properties").contains(key)) << key;
  for (auto key : {"namespace", "mtu", "vlan_filtering", "subnet", "addresses"}) EXPECT_TRUE(defs.at("bridge").at("properties").contains(key)) << key;
  for (auto key : {"name", "pools", "namespaces", "bridges", "links"}) EXPECT_TRUE(schema.at("properties").contains(key)) << key;
}

TEST(TopologyParse, VlanAwareBridgePortsVlanAndDummyLinks) {
  Topology t = parse_yaml(read("examples/vlan-bridge.yaml"));
  ASSERT_EQ(t.links.size(), 8u);
  EXPECT_EQ(t.links[0].a.bridge, "vbr0");
  EXPECT_EQ(t.links[0].a.vlan, 10);
  EXPECT_EQ(t.links[2].a.vlan, 20);
  ASSERT_EQ(t.links[4].a.trunk.size(), 2u);
  EXPECT_EQ(t.links[4].a.trunk[1].min, 20);
  EXPECT_EQ(vlans_str(t.links[4].a), "trunk 10, 20");
  // A vlan without namespace or name lives beside its parent, named PARENT.ID.
  EXPECT_EQ(t.links[5].kind, Kind::vlan);
  EXPECT_EQ(t.links[5].a.ns, "router");
  EXPECT_EQ(t.links[5].a.name, "trunk.10");
  EXPECT_EQ(t.links[5].vlan, 10);
  EXPECT_EQ(t.links[6].a.ns, "edge");
  EXPECT_EQ(t.links[6].parent.ns, "router");
  EXPECT_EQ(t.links[7].kind, Kind::dummy);
  EXPECT_EQ(t.links[7].a.addresses.at(0).str(), "10.91.0.1/32");
  EXPECT_EQ(to_json(from_json(to_json(t))), to_json(t));
  // Ranges are kept as ranges.
  Topology r = parse_yaml("name: x\nnamespaces: [a]\nbridges: [{name: b0, vlan_filtering: true}]\nlinks:\n"
                          "  - {a: {bridge: b0, trunk: [5, \"100-199\"]}, b: \"a:e0\"}\n");
  EXPECT_EQ(vlans_str(r.links[0].a), "trunk 5, 100-199");
}

TEST(TopologyParse, VlanMistakesNameTheField) {
  const std::string head = "name: x\nnamespaces: [a]\nbridges: [{name: b0, vlan_filtering: true}, {name: b1}]\nlinks:\n";
  expect_error(head + "  - {a: {bridge: b1, vlan: 10}, b: \"a:e0\"}\n", "links[0].a.vlan", 5, "not VLAN-aware");
  expect_error(head + "  - {a: {bridge: b0, vlan: 10, trunk: [20]}, b: \"a:e0\"}\n", "links[0].a.trunk", 5, "not both");
  expect_error(head + "  - {a: {bridge: b0, vlan: 4095}, b: \"a:e0\"}\n", "links[0].a.vlan", 5, "out of range");
  expect_error(head + "  - {a: {bridge: b0, trunk: [10, \"5-12\"]}, b: \"a:e0\"}\n", "links[0].a.trunk[1]", 5, "overlaps");
  expect_error(head + "  - {a: {bridge: b0, trunk: [\"20-10\"]}, b: \"a:e0\"}\n", "links[0].a.trunk[0]", 5, "lower VLAN ID comes first");
  expect_error(head + "  - {a: {bridge: b0, trunk: [\"ten\"]}, b: \"a:e0\"}\n", "links[0].a.trunk[0]", 5, "not a VLAN ID");
  expect_error(head + "  - {a: {bridge: b0, trunk: []}, b: \"a:e0\"}\n", "links[0].a.trunk", 5, "must be a list");
  expect_error(head + "  - {a: {namespace: a, name: e1, vlan: 10}, b: \"a:e0\"}\n", "links[0].a.vlan", 5, "not on a bridge");
  expect_error(head + "  - {a: \"a:e0\", b: \"a:e1\"}\n  - {kind: vlan, parent: \"a:e0\"}\n", "links[1]", 6, "needs `id`");
  expect_error(head + "  - {a: \"a:e0\", b: \"a:e1\"}\n  - {kind: vlan, parent: \"a:e0\", id: 0}\n", "links[1].id", 6, "out of range");
  expect_error(head + "  - {kind: vlan, parent: \"a:e9\", id: 5}\n", "links[0].parent", 5, "not an interface of namespace 'a'");
  expect_error(head + "  - {a: \"a:e0\", b: \"a:e1\"}\n  - {kind: vlan, parent: \"a:e0\", id: 5, name: e1}\n", "links[1].name", 6,
               "");
  expect_error(head + "  - {kind: dummy, namespace: a}\n", "links[0]", 5, "needs `name`");
}

TEST(TopologyCheck, VlansAreSegmentsOfTheirOwn) {
  auto probes = expected_probes(parse_yaml(read("examples/vlan-bridge.yaml")));
  auto red = [](const std::string& ns) { return ns.starts_with("red") || ns == "router"; };
  auto blue = [](const std::string& ns) { return ns.starts_with("blue") || ns == "edge"; };
  for (auto& p : probes) EXPECT_TRUE((red(p.from) && red(p.to_ns)) || (blue(p.from) && blue(p.to_ns))) << p.from << " -> " << p.to_ns;
  // red1, red2: each other, trunk.10 and the dummy's service address; router: red1, red2; blue1, blue2: each
  // other and v20 in edge; edge: blue1, blue2.
  EXPECT_EQ(probes.size(), 14u);
}
