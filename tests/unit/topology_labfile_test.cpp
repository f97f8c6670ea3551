// The lab file's conveniences: YAML merge keys (`<<: *a`), `defaults:`, `x-` anchor holders, one lab per file,
// the line numbers errors carry after all of that; the graph pages (HTML, Mermaid) and their escaping. No kernel
// access.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "topology/graph.h"
#include "topology/model.h"
#include "topology/parse.h"
#include "util/error.h"

using namespace ctnet;
using namespace ctnet::topo;

namespace {

InvalidInput error_of(const std::string& yaml) {
  try {
    parse_yaml(yaml);
  } catch (const InvalidInput& e) {
    return e;
  }
  ADD_FAILURE() << "parsed without error:\n" << yaml;
  return InvalidInput("", "");
}

// The error names `field` at `line` (0: no line) and says `text`.
void expect_error(const std::string& yaml, const std::string& field, int line, const std::string& text) {
  InvalidInput e = error_of(yaml);
  EXPECT_NE(e.field().find(field), std::string::npos) << e.what();
  if (line) {
    EXPECT_NE(e.field().find("(line " + std::to_string(line) + ")"), std::string::npos) << e.what();
  }
  EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
}

std::string sysctl(const Namespace& n, const std::string& key) {
  for (auto& [k, v] : n.sysctls)
    if (k == key) return v;
  return "";
}

}  // namespace

TEST(TopologyMergeKey, SimpleMergeGivesTheAnchorsKeys) {
  Topology t = parse_yaml(R"(
name: m
x-router: &router
  sysctls: {net.ipv4.ip_forward: 1}
  loopback: false
namespaces:
  r1: {<<: *router}
  r2:
    <<: *router
)");
  ASSERT_EQ(t.namespaces.size(), 2u);
  for (auto& n : t.namespaces) {
    EXPECT_FALSE(n.loopback) << n.name;
    EXPECT_EQ(sysctl(n, "net.ipv4.ip_forward"), "1") << n.name;
  }
}

TEST(TopologyMergeKey, ExplicitKeysWinAndEarlierMapsOfAListWin) {
  Topology t = parse_yaml(R"(
name: m
x-a: &a {mtu: 1400, vlan_filtering: true}
x-b: &b {mtu: 1300, namespace: fab}
namespaces: [fab]
bridges:
  br1: {<<: [*a, *b]}
  br2: {<<: [*b, *a]}
  br3: {<<: [*a, *b], mtu: 1200}
)");
  auto* b1 = t.find_bridge("br1");
  auto* b2 = t.find_bridge("br2");
  auto* b3 = t.find_bridge("br3");
  ASSERT_TRUE(b1 && b2 && b3);
  EXPECT_EQ(b1->mtu, 1400u);  // *a comes first
  EXPECT_EQ(b2->mtu, 1300u);  // *b comes first
  EXPECT_EQ(b3->mtu, 1200u);  // its own key wins over both
  for (auto* b : {b1, b2, b3}) {
    EXPECT_TRUE(b->vlan_filtering);
    EXPECT_EQ(b->ns, "fab");
  }
}

TEST(TopologyMergeKey, NestedMergesAndMergesInsideLists) {
  Topology t = parse_yaml(R"(
name: m
x-base: &base {loopback: false}
x-router: &router {<<: *base, sysctls: {net.ipv4.ip_forward: 1}}
x-veth: &veth {mtu: 1400}
namespaces:
  r: {<<: *router}
  a: {}
links:
  - {<<: *veth, endpoints: ["r:e0=10.0.0.1/24", "a:e0=10.0.0.2/24"]}
)");
  const Namespace* r = t.find_ns("r");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->loopback);  // from *base, through *router
  EXPECT_EQ(sysctl(*r, "net.ipv4.ip_forward"), "1");
  EXPECT_TRUE(t.find_ns("a")->loopback);
  ASSERT_EQ(t.links.size(), 1u);
  EXPECT_EQ(t.links[0].mtu, 1400u);
}

TEST(TopologyMergeKey, AQuotedKeyIsNotAMergeAndBadMergesAreErrors) {
  expect_error("name: m\nnamespaces:\n  a: {\"<<\": 1}\n", "namespaces.a.<<", 3, "unknown key '<<'");
  expect_error("name: m\nnamespaces:\n  a:\n    <<: 5\n", "namespaces.a.<<", 4, "alias of a mapping");
  expect_error("name: m\nnamespaces:\n  a:\n    <<: [{loopback: false}, 7]\n", "namespaces.a.<<", 4, "alias of a mapping");
  // An alias inside its own anchor is a loop yaml-cpp accepts: refused, not followed forever.
  expect_error("name: m\nx-loop: &l [*l]\nnamespaces: [a]\n", "x-loop", 0, "nested too deeply");
}

TEST(TopologyMergeKey, ErrorsPointAtTheLinesInTheFile) {
  // A bad value that came through the merge: the line of the anchor's value.
  expect_error(R"(name: m
x-bad: &bad
  mtu: 40
namespaces: [a, b]
links:
  - <<: *bad
    endpoints: ["a:e0", "b:e0"]
)",
               "links[0].mtu", 3, "68");
  // A bad value of the entry itself, after a merge: its own line.
  expect_error(R"(name: m
x-ok: &ok {mtu: 1400}
namespaces: [a, b]
links:
  - <<: *ok
    endpoints: ["a:e0", "b:e0=10.0.0.300/24"]
)",
               "links[0].endpoints[1]", 6, "10.0.0.300/24");
  // An unknown key brought in by a merge: named where it is used, at the anchor's line.
  expect_error(R"(name: m
x-typo: &typo
  sysctl: {net.ipv4.ip_forward: 1}
namespaces:
  a: {<<: *typo}
)",
               "namespaces.a.sysctl", 3, "unknown key 'sysctl'");
}

TEST(TopologyDefaults, ListFormAndMapFormNamespacesGetThem) {
  Topology t = parse_yaml(R"(
name: d
defaults:
  namespaces:
    loopback: false
    sysctls: {net.ipv4.ip_forward: 1, net.ipv6.conf.all.forwarding: 1}
namespaces: [a, b]
)");
  ASSERT_EQ(t.namespaces.size(), 2u);
  for (auto& n : t.namespaces) {
    EXPECT_FALSE(n.loopback) << n.name;
    EXPECT_EQ(sysctl(n, "net.ipv4.ip_forward"), "1") << n.name;
  }
  EXPECT_EQ(t.namespaces[0].name, "a");
  EXPECT_EQ(t.namespaces[0].line, 7);  // the bare name's own line
  Topology m = parse_yaml(R"(
name: d
defaults:
  namespaces: {loopback: false}
namespaces:
  a:
  b: {}
  c: {loopback: true}
  d: ~
)");
  ASSERT_EQ(m.namespaces.size(), 4u);
  EXPECT_FALSE(m.find_ns("a")->loopback);
  EXPECT_FALSE(m.find_ns("b")->loopback);
  EXPECT_TRUE(m.find_ns("c")->loopback);  // its own key wins
  EXPECT_FALSE(m.find_ns("d")->loopback);
  Topology l = parse_yaml("name: d\ndefaults: {namespaces: {loopback: false}}\nnamespaces: [a, {name: b, loopback: true}]\n");
  EXPECT_FALSE(l.find_ns("a")->loopback);
  EXPECT_TRUE(l.find_ns("b")->loopback);
}

TEST(TopologyDefaults, SysctlsMergeKeyByKeyRoutesAreReplacedWhole) {
  Topology t = parse_yaml(R"(
name: d
defaults:
  namespaces:
    sysctls: {net.ipv4.ip_forward: 1, net.ipv4.conf.all.rp_filter: 2}
    routes: ["default via 10.0.0.1"]
namespaces:
  gw: {routes: []}
  a: {sysctls: {net.ipv4.ip_forward: 0}}
  b: {routes: ["10.9.0.0/24 via 10.0.0.1"]}
links:
  - endpoints: ["gw:e0=10.0.0.1/24", "a:e0=10.0.0.2/24"]
  - endpoints: ["gw:e1=10.0.0.3/24", "b:e0=10.0.0.4/24"]
)");
  const Namespace* a = t.find_ns("a");
  const Namespace* b = t.find_ns("b");
  const Namespace* gw = t.find_ns("gw");
  EXPECT_EQ(sysctl(*a, "net.ipv4.ip_forward"), "0");        // its own value
  EXPECT_EQ(sysctl(*a, "net.ipv4.conf.all.rp_filter"), "2");  // the default's other key joins it
  ASSERT_EQ(a->routes.size(), 1u);
  EXPECT_EQ(a->routes[0].str(), "default via 10.0.0.1");
  ASSERT_EQ(b->routes.size(), 1u);  // its own list, not both
  EXPECT_EQ(b->routes[0].str(), "10.9.0.0/24 via 10.0.0.1");
  EXPECT_TRUE(gw->routes.empty());
}

TEST(TopologyDefaults, LinksAndBridgesGetThemAndTheirOwnKeysWin) {
  Topology t = parse_yaml(R"(
name: d
defaults:
  links: {mtu: 9000}
  bridges: {namespace: fab, mtu: 9000}
namespaces: [fab, a, b]
bridges: [br0, {name: br1, mtu: 1500}]
links:
  - endpoints: ["a:e0", "br0"]
  - endpoints: ["b:e0", "br1"]
    mtu: 1500
)");
  ASSERT_EQ(t.links.size(), 2u);
  EXPECT_EQ(t.links[0].mtu, 9000u);
  EXPECT_EQ(t.links[1].mtu, 1500u);
  EXPECT_EQ(t.find_bridge("br0")->ns, "fab");
  EXPECT_EQ(t.find_bridge("br0")->mtu, 9000u);
  EXPECT_EQ(t.find_bridge("br1")->ns, "fab");
  EXPECT_EQ(t.find_bridge("br1")->mtu, 1500u);
}

TEST(TopologyDefaults, BadDefaultsAreErrorsNamingTheField) {
  expect_error("name: d\ndefaults:\n  namespace: {loopback: false}\nnamespaces: [a]\n", "defaults.namespace", 3,
               "unknown key 'namespace'");
  expect_error("name: d\ndefaults:\n  links: [mtu]\n", "defaults.links", 3, "must be a mapping");
  expect_error("name: d\ndefaults:\n  namespaces: {name: x}\nnamespaces: [a]\n", "defaults.namespaces.name", 3,
               "own name");
  // A key no namespace takes: named at the entry that got it, at the line in `defaults`.
  expect_error("name: d\ndefaults:\n  namespaces:\n    loopbak: false\nnamespaces: [a]\n", "namespaces[0].loopbak", 4,
               "unknown key 'loopbak'");
  // A bad value in the defaults: the default's line.
  expect_error("name: d\ndefaults:\n  links:\n    mtu: 20\nnamespaces: [a, b]\nlinks:\n  - endpoints: [\"a:e0\", \"b:e0\"]\n",
               "links[0].mtu", 4, "68");
}

TEST(TopologyDefaults, DefaultsCanUseMergeKeysToo) {
  Topology t = parse_yaml(R"(
name: d
x-jumbo: &jumbo {mtu: 9000}
defaults:
  links: {<<: *jumbo}
namespaces: [a, b]
links:
  - endpoints: ["a:e0", "b:e0"]
)");
  EXPECT_EQ(t.links.at(0).mtu, 9000u);
}

TEST(TopologyFile, SeveralDocumentsAreAnError) {
  InvalidInput e = error_of("name: one\nnamespaces: [a]\n---\nname: two\nnamespaces: [b]\n");
  EXPECT_EQ(e.field(), "file");
  EXPECT_NE(std::string(e.what()).find("the file holds 2 labs (documents at lines 1 and 4); give one lab per file"),
            std::string::npos)
      << e.what();
  InvalidInput three = error_of("name: a\n---\nname: b\n---\nname: c\n");
  EXPECT_NE(std::string(three.what()).find("3 labs (documents at lines 1, 3 and 5)"), std::string::npos) << three.what();
  // A leading `---` and a trailing empty document are still one lab.
  EXPECT_EQ(parse_yaml("---\nname: one\nnamespaces: [a]\n---\n").name, "one");
}

TEST(TopologyFile, ExtensionKeysHoldAnchorsOnly) {
  Topology t = parse_yaml("name: x\nx-anything: {whatever: [1, 2]}\nnamespaces: [a]\n");
  EXPECT_EQ(t.namespaces.size(), 1u);
  expect_error("name: x\ny-anything: 1\n", "file.y-anything", 2, "unknown key");
}

TEST(TopologyFile, DefaultsAndMergesSurviveTheRecord) {
  // What the record keeps is the resolved topology: the same as if every key had been written out.
  Topology d = parse_yaml(R"(
name: r
defaults: {namespaces: {loopback: false}, links: {mtu: 1400}}
namespaces: [a, b]
links:
  - endpoints: ["a:e0=10.0.0.1/24", "b:e0=10.0.0.2/24"]
)");
  Topology w = parse_yaml(R"(
name: r
namespaces: {a: {loopback: false}, b: {loopback: false}}
links:
  - endpoints: ["a:e0=10.0.0.1/24", "b:e0=10.0.0.2/24"]
    mtu: 1400
)");
  EXPECT_EQ(to_json(d), to_json(w));
}

TEST(TopologyGraphPages, MermaidEscapesEveryCharacterANameMayHold) {
  // An interface name may hold what Mermaid or HTML would read as syntax (ctnet refuses only / : % whitespace).
  Topology t = parse_yaml(R"(
name: esc
namespaces: [a, b]
links:
  - endpoints: ["a:q\"<&#`x=10.0.0.1/24", "b:e0=10.0.0.2/24"]
)");
  std::string m = to_mermaid(t);
  EXPECT_EQ(m.rfind("```mermaid\ngraph LR\n", 0), 0u) << m;
  EXPECT_NE(m.find("[\"q#quot;#lt;#amp;#35;#96;x<br/>"), std::string::npos) << m;
  EXPECT_EQ(m.find("q\""), std::string::npos) << m;
  EXPECT_NE(m.find("subgraph ns0[\"namespace a\"]"), std::string::npos) << m;
  EXPECT_NE(m.find(" --- "), std::string::npos) << m;  // the veth
  EXPECT_EQ(m.substr(m.size() - 4), "```\n");
}

TEST(TopologyGraphPages, HtmlCarriesEveryObjectWithEscapedNames) {
  if (::access("/usr/bin/dot", X_OK) != 0) GTEST_SKIP() << "no graphviz";
  Topology t = parse_yaml(R"(
name: esc
namespaces: [a, b]
bridges: [{name: br0, namespace: a}]
links:
  - endpoints: ["a:q\"<&x", "b:e0=10.0.0.2/24"]
  - endpoints: ["b:e1", "br0"]
)");
  std::string h = to_html(t);
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(h.find("data-name=\"q&quot;&lt;&amp;x\""), std::string::npos);
  EXPECT_EQ(h.find("q\"<&x"), std::string::npos);  // never raw, not even in the script's JSON
  EXPECT_NE(h.find("q\\\"\\u003c\\u0026x"), std::string::npos);
  for (auto id : {"ns0", "ns1", "br0", "if1", "if2", "link0", "port2"})
    EXPECT_NE(h.find(std::string("<g id=\"") + id + "\" data-type="), std::string::npos) << id;
  EXPECT_EQ(h.find("<?xml"), std::string::npos);
  EXPECT_EQ(h.find("<title>lab esc</title>"), h.find("<title>"));  // dot's tooltips are gone
}
