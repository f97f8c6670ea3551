// The `ip` verbs against the real kernel (6.18 here: veth, bridge, macvlan, vxlan; ipvlan, vlan and dummy are
// proven by tests/kernel/suites/ip-verbs.sh): addr, route, neigh, link add KIND and link set, show --brief, the
// ping options, --version and unknown verbs. Every test makes its own namespaces (ctip<pid>...); what the kernel
// has afterwards is read back through netlink.
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <net/if.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "addr/address.h"
#include "addr/route.h"
#include "link/link.h"
#include "link/neigh.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "ns/sysctl.h"
#include "support/netns_fixture.h"

using namespace ctnet;
using namespace ctnet::test;
using nlohmann::json;

namespace {

class IpVerbs : public NetnsFixture {
 protected:
  IpVerbs() : NetnsFixture("ctip") {}

  // Two namespaces joined by a veth ctipa (in a) <-> ctipb (in b), 10.231.0.1/24 and .2/24, made by the verbs.
  void pair(const std::string& a, const std::string& b, const std::string& mtu = "1500") {
    auto r = ctnet({"link", "add", "veth", "ctipa", "--peer", "ctipb", "--peer-ns", b, "--ns", a, "--mtu", mtu});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(ctnet({"addr", "add", "10.231.0.1/24", "ctipa", "--ns", a}).exit_code, 0);
    ASSERT_EQ(ctnet({"addr", "add", "10.231.0.2/24", "ctipb", "--ns", b}).exit_code, 0);
  }

  static bool has_address(NsSocket& s, const std::string& ifname, const std::string& cidr) {
    auto l = link::find(s.rtnl, ifname);
    if (!l) return false;
    for (auto& a : addr::list(s.rtnl, l->index))
      if (a.prefix.str() == cidr) return true;
    return false;
  }

  static std::optional<addr::Route> route_to(NsSocket& s, const std::string& dst) {
    for (auto& r : addr::list_routes(s.rtnl))
      if (r.dst.network().str() == dst) return r;
    return std::nullopt;
  }
};

TEST_F(IpVerbs, AddressesAddListDelete) {
  auto a = make_ns("a"), b = make_ns("b");
  pair(a, b);
  NsSocket sa = NsSocket::open(a);
  EXPECT_TRUE(has_address(sa, "ctipa", "10.231.0.1/24"));

  auto list = ctnet({"addr", "list", "ctipa", "--ns", a, "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto j = json::parse(list.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["ifname"], "ctipa");
  bool found = false;
  for (auto& i : j[0]["addr_info"])
    if (i["local"] == "10.231.0.1") found = i["prefixlen"] == 24 && i["family"] == "inet";
  EXPECT_TRUE(found) << list.out;
  auto text = ctnet({"addr", "list", "--ns", a});
  EXPECT_NE(text.out.find("inet 10.231.0.1/24 scope global ctipa"), std::string::npos) << text.out;

  // The network and broadcast addresses of the subnet are not host addresses: refused, naming CIDR, nothing added.
  for (const char* bad : {"10.231.0.0/24", "10.231.0.255/24"}) {
    auto r = ctnet({"addr", "add", bad, "ctipa", "--ns", a});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("CIDR"), std::string::npos) << r.err;
    EXPECT_FALSE(has_address(sa, "ctipa", bad));
  }
  auto nodev = ctnet({"addr", "add", "10.231.0.5/24", "ctipz", "--ns", a});
  EXPECT_EQ(nodev.exit_code, 2);
  EXPECT_NE(nodev.err.find("DEV"), std::string::npos) << nodev.err;
  auto dup = ctnet({"addr", "add", "10.231.0.1/24", "ctipa", "--ns", a});
  EXPECT_EQ(dup.exit_code, 1) << "an address already there is the kernel's EEXIST";
  EXPECT_TRUE(has_address(sa, "ctipa", "10.231.0.1/24")) << "a refused add must not take away the existing address";

  ASSERT_EQ(ctnet({"addr", "del", "10.231.0.1/24", "ctipa", "--ns", a}).exit_code, 0);
  EXPECT_FALSE(has_address(sa, "ctipa", "10.231.0.1/24"));
  auto again = ctnet({"addr", "del", "10.231.0.1/24", "ctipa", "--ns", a});
  EXPECT_EQ(again.exit_code, 0) << "deletes are idempotent";
  EXPECT_NE(again.err.find("nothing to do"), std::string::npos);
}

TEST_F(IpVerbs, RoutesAddGetListDelete) {
  auto a = make_ns("a"), b = make_ns("b");
  pair(a, b);
  NsSocket sa = NsSocket::open(a);
  auto add = ctnet({"route", "add", "10.232.0.0/16", "--via", "10.231.0.2", "--ns", a, "--metric", "7"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto r = route_to(sa, "10.232.0.0/16");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->gateway->str(), "10.231.0.2");
  EXPECT_EQ(r->metric, 7u);

  auto get = ctnet({"route", "get", "10.232.1.1", "--ns", a, "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  auto g = json::parse(get.out);
  EXPECT_EQ(g[0]["dst"], "10.232.1.1");
  EXPECT_EQ(g[0]["gateway"], "10.231.0.2");
  EXPECT_EQ(g[0]["dev"], "ctipa");
  EXPECT_EQ(g[0]["prefsrc"], "10.231.0.1");
  auto unreachable = ctnet({"route", "get", "10.240.0.1", "--ns", a});
  EXPECT_EQ(unreachable.exit_code, 1) << "no default route in the namespace";

  auto list = ctnet({"route", "list", "--ns", a, "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  bool listed = false;
  for (auto& e : json::parse(list.out))
    if (e["dst"] == "10.232.0.0/16") listed = e["gateway"] == "10.231.0.2" && e["dev"] == "ctipa" && e["metric"] == 7;
  EXPECT_TRUE(listed) << list.out;
  auto text = ctnet({"route", "list", "--ns", a});
  EXPECT_NE(text.out.find("10.232.0.0/16 via 10.231.0.2 dev ctipa proto boot metric 7"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("10.231.0.0/24 dev ctipa proto kernel scope link src 10.231.0.1"), std::string::npos) << text.out;

  // Bad input, each naming its option, nothing added.
  struct Bad {
    std::vector<std::string> args;
    std::string field;
  };
  for (auto& bad : std::vector<Bad>{
           {{"10.233.0.0/16", "--via", "fd00::1"}, "--via"},          // an IPv6 gateway to an IPv4 network
           {{"10.233.0.1/16"}, "DST"},                                // host bits set
           {{"10.233.0.0/16"}, "--dev"},                              // neither --dev nor --via
           {{"10.233.0.0/16", "--dev", "ctipa", "--src", "fd00::1"}, "--src"},
           {{"10.233.0.0/16", "--dev", "ctipa", "--table", "0"}, "--table"},
           {{"10.233.0.0/16", "--dev", "eth%d"}, "--dev"},
       }) {
    std::vector<std::string> args{"route", "add"};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    args.insert(args.end(), {"--ns", a});
    auto res = ctnet(args);
    EXPECT_EQ(res.exit_code, 2) << res.err;
    EXPECT_NE(res.err.find(bad.field), std::string::npos) << bad.field << ": " << res.err;
  }
  EXPECT_FALSE(route_to(sa, "10.233.0.0/16"));

  ASSERT_EQ(ctnet({"route", "del", "10.232.0.0/16", "--ns", a}).exit_code, 0);
  EXPECT_FALSE(route_to(sa, "10.232.0.0/16"));
  auto again = ctnet({"route", "del", "10.232.0.0/16", "--ns", a});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("nothing to do"), std::string::npos);

  // IPv6 default route through a link-local gateway, read back with -6.
  ASSERT_EQ(ctnet({"addr", "add", "fd00:231::1/64", "ctipa", "--ns", a}).exit_code, 0);
  auto v6 = ctnet({"route", "add", "default", "--via", "fd00:231::2", "--ns", a});
  ASSERT_EQ(v6.exit_code, 0) << v6.err;
  auto l6 = ctnet({"route", "list", "-6", "--ns", a, "-o", "json"});
  EXPECT_NE(l6.out.find("\"gateway\": \"fd00:231::2\""), std::string::npos) << l6.out;
}

TEST_F(IpVerbs, NeighboursAddListDelete) {
  auto a = make_ns("a"), b = make_ns("b");
  pair(a, b);
  NsSocket sa = NsSocket::open(a);
  int index = link::find(sa.rtnl, "ctipa")->index;
  auto add = ctnet({"neigh", "add", "10.231.0.9", "--lladdr", "02:00:00:00:23:09", "--dev", "ctipa", "--ns", a});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  bool found = false;
  for (auto& n : link::list_neighbours(sa.rtnl, index, AF_INET))
    if (n.dst.str() == "10.231.0.9") found = n.lladdr && n.lladdr->str() == "02:00:00:00:23:09" && (n.state & NUD_PERMANENT);
  EXPECT_TRUE(found);

  auto list = ctnet({"neigh", "list", "--ns", a, "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  bool listed = false;
  for (auto& e : json::parse(list.out))
    if (e["dst"] == "10.231.0.9") listed = e["dev"] == "ctipa" && e["lladdr"] == "02:00:00:00:23:09" && e["state"][0] == "PERMANENT";
  EXPECT_TRUE(listed) << list.out;
  auto text = ctnet({"neigh", "list", "--ns", a});
  EXPECT_NE(text.out.find("10.231.0.9 dev ctipa lladdr 02:00:00:00:23:09 PERMANENT"), std::string::npos) << text.out;

  auto dup = ctnet({"neigh", "add", "10.231.0.9", "--lladdr", "02:00:00:00:23:10", "--dev", "ctipa", "--ns", a});
  EXPECT_EQ(dup.exit_code, 1) << "add is exclusive";
  auto badmac = ctnet({"neigh", "add", "10.231.0.8", "--lladdr", "02:00:00", "--dev", "ctipa", "--ns", a});
  EXPECT_EQ(badmac.exit_code, 2);
  EXPECT_NE(badmac.err.find("--lladdr"), std::string::npos) << badmac.err;

  ASSERT_EQ(ctnet({"neigh", "del", "10.231.0.9", "--dev", "ctipa", "--ns", a}).exit_code, 0);
  for (auto& n : link::list_neighbours(sa.rtnl, index, AF_INET)) EXPECT_NE(n.dst.str(), "10.231.0.9");
  EXPECT_EQ(ctnet({"neigh", "del", "10.231.0.9", "--dev", "ctipa", "--ns", a}).exit_code, 0) << "idempotent";
}

TEST_F(IpVerbs, LinkAddKindsThroughTheirDrivers) {
  auto a = make_ns("a"), b = make_ns("b");
  NsSocket sa = NsSocket::open(a);
  auto br = ctnet({"link", "add", "bridge", "ctipbr", "--ns", a, "-o", "json"});
  ASSERT_EQ(br.exit_code, 0) << br.err;
  auto jb = json::parse(br.out);
  auto lbr = link::find(sa.rtnl, "ctipbr");
  ASSERT_TRUE(lbr);
  EXPECT_EQ(lbr->kind, "bridge");
  EXPECT_EQ(jb["ifindex"], lbr->index);

  auto ve = ctnet({"link", "add", "veth", "ctipv1", "--peer", "ctipv2", "--peer-ns", b, "--ns", a, "--master", "ctipbr", "-o", "json"});
  ASSERT_EQ(ve.exit_code, 0) << ve.err;
  auto jv = json::parse(ve.out);
  auto v1 = link::find(sa.rtnl, "ctipv1");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->master, lbr->index);
  EXPECT_TRUE(v1->is_up());
  NsSocket sb = NsSocket::open(b);
  auto v2 = link::find(sb.rtnl, "ctipv2");
  ASSERT_TRUE(v2);
  EXPECT_EQ(jv["peer"]["ifindex"], v2->index);

  // macvlan on a veth parent in the same namespace (not a bridge port: the kernel refuses one, EBUSY).
  ASSERT_EQ(ctnet({"link", "add", "veth", "ctipp1", "--peer", "ctipp2", "--peer-ns", b, "--ns", a}).exit_code, 0);
  auto p1 = link::find(sa.rtnl, "ctipp1");
  ASSERT_TRUE(p1);
  auto mv = ctnet({"link", "add", "macvlan", "ctipmv", "--parent", "ctipp1", "--mode", "private", "--ns", a, "-o", "json"});
  ASSERT_EQ(mv.exit_code, 0) << mv.err;
  auto lmv = link::find(sa.rtnl, "ctipmv");
  ASSERT_TRUE(lmv);
  EXPECT_EQ(lmv->kind, "macvlan");
  EXPECT_EQ(lmv->parent, p1->index);
  EXPECT_EQ(json::parse(mv.out)["ifindex"], lmv->index);

  auto vx = ctnet({"link", "add", "vxlan", "ctipvx", "--vni", "4242", "--remote", "10.231.0.2", "--dstport", "4790", "--ns", a});
  ASSERT_EQ(vx.exit_code, 0) << vx.err;
  auto lvx = link::find(sa.rtnl, "ctipvx");
  ASSERT_TRUE(lvx);
  EXPECT_EQ(lvx->kind, "vxlan");
  EXPECT_NE(vx.out.find("vni 4242"), std::string::npos) << vx.out;

  auto count = [&] { return link::list(sa.rtnl).size(); };
  const size_t before = count();
  struct Bad {
    std::vector<std::string> args;
    std::string says;
  };
  for (auto& bad : std::vector<Bad>{
           {{"foo", "ctipf"}, "unknown kind 'foo' (known: bridge, dummy, ipvlan, macvlan, veth, vlan, vxlan)"},
           {{"bridge", "ctipq", "--peer", "x"}, "--peer: is not an option of a bridge link"},
           {{"ipvlan", "ctipq", "--peer", "x"}, "--peer: is not an option of an ipvlan link"},
           {{"bridge", "ctip%d"}, "NAME"},
           {{"bridge", "ctip/x"}, "NAME"},
           {{"bridge", "ctip-name-too-long"}, "NAME"},
           {{"veth", "ctipq"}, "--peer"},
           {{"veth", "ctipq", "--peer", "ctipq"}, "--peer"},
           {{"vxlan", "ctipq"}, "--vni"},
           {{"vxlan", "ctipq", "--vni", "16777216"}, "vni"},
           {{"vxlan", "ctipq", "--vni", "5", "--local", "10.0.0.1", "--remote", "fd00::1"}, "--remote"},
           {{"macvlan", "ctipq"}, "--parent"},
           {{"macvlan", "ctipq", "--parent", "ctipv1", "--mode", "wild"}, "--mode"},
           {{"vlan", "ctipq", "--parent", "ctipv1", "--id", "4095"}, "--id"},
           {{"bridge", "ctipq", "--mtu", "67"}, "--mtu"},
       }) {
    std::vector<std::string> args{"link", "add"};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    args.insert(args.end(), {"--ns", a});
    auto r = ctnet(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(bad.says), std::string::npos) << bad.says << ": " << r.err;
  }
  EXPECT_EQ(count(), before) << "bad input made a link";

  // The kernel refuses the second end (its name is taken in b): the transaction takes the first one back.
  auto taken = ctnet({"link", "add", "veth", "ctipv3", "--peer", "ctipv2", "--peer-ns", b, "--ns", a});
  EXPECT_EQ(taken.exit_code, 1) << taken.err;
  EXPECT_FALSE(link::find(sa.rtnl, "ctipv3")) << "half a veth was left behind";
  EXPECT_EQ(count(), before);

  // `link del` takes them through the same drivers.
  for (auto n : {"ctipmv", "ctipvx", "ctipv1", "ctipp1", "ctipbr"}) EXPECT_EQ(ctnet({"link", "del", n, "--ns", a}).exit_code, 0) << n;
  EXPECT_EQ(link::list(sa.rtnl).size(), 1u) << "only lo";
}

TEST_F(IpVerbs, LinkSetAliasPromiscTxqueuelen) {
  auto a = make_ns("a"), b = make_ns("b");
  pair(a, b);
  NsSocket sa = NsSocket::open(a);
  auto r = ctnet({"link", "set", "ctipa", "--ns", a, "--alias", "uplink to b", "--promisc", "on", "--txqueuelen", "321"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto l = link::find(sa.rtnl, "ctipa");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->alias, "uplink to b");
  EXPECT_TRUE(l->flags & IFF_PROMISC);
  EXPECT_EQ(l->txqlen, 321u);
  auto j = json::parse(ctnet({"addr", "list", "ctipa", "--ns", a, "-o", "json"}).out);
  EXPECT_EQ(j[0]["ifalias"], "uplink to b");
  EXPECT_EQ(j[0]["txqlen"], 321);

  ASSERT_EQ(ctnet({"link", "set", "ctipa", "--ns", a, "--promisc", "off", "--alias", ""}).exit_code, 0);
  l = link::find(sa.rtnl, "ctipa");
  EXPECT_FALSE(l->flags & IFF_PROMISC);
  EXPECT_EQ(l->alias, "");

  auto toolong = ctnet({"link", "set", "ctipa", "--ns", a, "--alias", std::string(256, 'x')});
  EXPECT_EQ(toolong.exit_code, 2);
  EXPECT_NE(toolong.err.find("--alias"), std::string::npos) << toolong.err;
  auto notutf8 = ctnet({"link", "set", "ctipa", "--ns", a, "--alias", "\xff\xfe"});
  EXPECT_EQ(notutf8.exit_code, 2);
  auto badpromisc = ctnet({"link", "set", "ctipa", "--ns", a, "--promisc", "maybe"});
  EXPECT_EQ(badpromisc.exit_code, 2);
  EXPECT_NE(badpromisc.err.find("--promisc"), std::string::npos) << badpromisc.err;
}

TEST_F(IpVerbs, ShowBriefIsOneLinePerInterface) {
  auto a = make_ns("a"), b = make_ns("b");
  pair(a, b);
  auto r = ctnet({"show", a, "--brief"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u) << r.out;  // lo and ctipa
  bool veth = false;
  for (auto& line : lines)
    if (line.starts_with("ctipa@ctipb")) veth = line.find(" UP ") != std::string::npos && line.find("10.231.0.1/24") != std::string::npos;
  EXPECT_TRUE(veth) << r.out;
  auto j = json::parse(ctnet({"show", a, "--brief", "-o", "json"}).out);
  bool found = false;
  for (auto& e : j)
    if (e["ifname"] == "ctipa") found = e["operstate"] == "UP" && e["addr_info"][0]["local"] == "10.231.0.1";
  EXPECT_TRUE(found) << j.dump();
}

TEST_F(IpVerbs, PingOptions) {
  auto a = make_ns("a"), b = make_ns("b");
  pair(a, b, "1400");
  // DF set: 1372 bytes of payload + 8 + 20 fill the MTU 1400 exactly; one more is refused with the path MTU.
  auto fits = ctnet({"ping", a, "10.231.0.2", "-c", "1", "-s", "1372", "-M", "do"});
  EXPECT_EQ(fits.exit_code, 0) << fits.out << fits.err;
  auto big = ctnet({"ping", a, "10.231.0.2", "-c", "1", "-s", "1373", "-M", "do"});
  EXPECT_EQ(big.exit_code, 1) << big.out;
  EXPECT_NE(big.out.find("path MTU 1400"), std::string::npos) << big.out;
  EXPECT_NE(big.err.find("-s 1372 fits"), std::string::npos) << big.err;
  // Without DF the kernel fragments it.
  auto frag = ctnet({"ping", a, "10.231.0.2", "-c", "1", "-s", "3000", "-M", "dont"});
  EXPECT_EQ(frag.exit_code, 0) << frag.out << frag.err;
  EXPECT_NE(frag.out.find("3008 bytes from 10.231.0.2"), std::string::npos) << frag.out;

  auto ttl = ctnet({"ping", a, "10.231.0.2", "-c", "1", "-t", "3", "-i", "0.2"});
  EXPECT_EQ(ttl.exit_code, 0) << ttl.err;
  EXPECT_NE(ttl.out.find("ttl=64"), std::string::npos) << "the reply's TTL: " << ttl.out;

  EXPECT_EQ(ctnet({"ping", a, "10.231.0.2", "-c", "1", "-I", "ctipa"}).exit_code, 0);
  EXPECT_EQ(ctnet({"ping", a, "10.231.0.2", "-c", "1", "-I", "10.231.0.1"}).exit_code, 0);
  // Bound to lo, the echo cannot reach b.
  EXPECT_EQ(ctnet({"ping", a, "10.231.0.2", "-c", "1", "-W", "0.3", "-I", "lo"}).exit_code, 1);

  // Link-local with %iface (addresses without DAD, so they are usable at once).
  ASSERT_EQ(ctnet({"addr", "add", "fe80::231:1/64", "ctipa", "--ns", a}).exit_code, 0);
  ASSERT_EQ(ctnet({"addr", "add", "fe80::231:2/64", "ctipb", "--ns", b}).exit_code, 0);
  // Three echoes, two seconds each: the first waits for neighbour discovery, slow on a loaded machine.
  auto ll = ctnet({"ping", a, "fe80::231:2%ctipa", "-c", "3", "-W", "2"});
  EXPECT_EQ(ll.exit_code, 0) << ll.out << ll.err;

  // A host that does not answer: a timeout, said as one (not an errno's text).
  auto silent = ctnet({"ping", a, "10.231.0.77", "-c", "1", "-W", "0.3"});
  EXPECT_EQ(silent.exit_code, 1);
  EXPECT_NE(silent.out.find("timeout"), std::string::npos) << silent.out;
  EXPECT_NE(silent.err.find("no reply within 0.3 s"), std::string::npos) << silent.err;
  EXPECT_EQ(silent.err.find("No route"), std::string::npos) << silent.err;

  struct Bad {
    std::vector<std::string> args;
    std::string field;
  };
  for (auto& bad : std::vector<Bad>{
           {{"10.231.0.2", "-W", "0"}, "-W"},
           {{"10.231.0.2", "-s", "65508"}, "-s"},
           {{"10.231.0.2", "-t", "0"}, "-t"},
           {{"10.231.0.2", "-i", "0.1"}, "-i"},
           {{"10.231.0.2", "-I", "10.99.0.1"}, "-I"},   // not an address of the namespace
           {{"10.231.0.2", "-I", "ctipz"}, "-I"},       // no such link
           {{"10.231.0.2", "-I", "fd00::1"}, "-I"},     // another family
           {{"10.231.0.2", "-M", "maybe"}, "-M"},
           {{"fe80::231:2"}, "ADDRESS"},                // link-local without a link
           {{"10.231.0.2%ctipa"}, "ADDRESS"},           // a scope on a global address
           {{"fe80::231:2%ctipz"}, "ADDRESS"},
       }) {
    std::vector<std::string> args{"ping", a};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    auto r = ctnet(args);
    EXPECT_EQ(r.exit_code, 2) << bad.field << ": " << r.err;
    EXPECT_NE(r.err.find(bad.field), std::string::npos) << bad.field << ": " << r.err;
  }
}

// -M do beyond the path MTU of a link further on: a router's "fragmentation needed" comes back, and the
// path MTU the kernel learnt from it is reported.
TEST_F(IpVerbs, PingDfBeyondARoutersMtu) {
  auto a = make_ns("a"), r = make_ns("r"), b = make_ns("b");
  ASSERT_EQ(ctnet({"link", "add", "veth", "ctipa", "--peer", "ctipr1", "--peer-ns", r, "--ns", a}).exit_code, 0);
  ASSERT_EQ(ctnet({"link", "add", "veth", "ctipr2", "--peer", "ctipb", "--peer-ns", b, "--ns", r, "--mtu", "1300"}).exit_code, 0);
  for (auto& [cidr, dev, ns] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"10.234.1.1/24", "ctipa", a}, {"10.234.1.2/24", "ctipr1", r}, {"10.234.2.1/24", "ctipr2", r}, {"10.234.2.2/24", "ctipb", b}})
    ASSERT_EQ(ctnet({"addr", "add", cidr, dev, "--ns", ns}).exit_code, 0) << cidr;
  ASSERT_EQ(ctnet({"route", "add", "default", "--via", "10.234.1.2", "--ns", a}).exit_code, 0);
  ASSERT_EQ(ctnet({"route", "add", "default", "--via", "10.234.2.1", "--ns", b}).exit_code, 0);
  NetNs rn = NetNs::open_named(r);
  write_sysctl("net.ipv4.ip_forward", "1", &rn);  // the router's own namespace only

  EXPECT_EQ(ctnet({"ping", a, "10.234.2.2", "-c", "1", "-s", "1272", "-M", "do"}).exit_code, 0);
  auto big = ctnet({"ping", a, "10.234.2.2", "-c", "2", "-s", "1400", "-M", "do"});
  EXPECT_EQ(big.exit_code, 1) << big.out;
  EXPECT_NE(big.out.find("path MTU 1300"), std::string::npos) << big.out;
  auto frag = ctnet({"ping", a, "10.234.2.2", "-c", "1", "-s", "1400", "-M", "dont"});
  EXPECT_EQ(frag.exit_code, 0) << frag.out << frag.err;
}

TEST_F(IpVerbs, VersionUnknownVerbAndExamples) {
  auto v = ctnet({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_TRUE(v.out.starts_with("ctnet 0.")) << v.out;
  auto u = ctnet({"frobnicate"});
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_NE(u.err.find("ctnet: unknown verb 'frobnicate' (see ctnet --help)"), std::string::npos) << u.err;

  // Every verb's help shows an example. The leaves are read from --help-all's "Subcommands:" sections.
  const std::vector<std::vector<std::string>> leaves = {
      {"addr", "add"}, {"addr", "del"}, {"addr", "list"}, {"route", "add"}, {"route", "del"}, {"route", "list"},
      {"route", "get"}, {"neigh", "list"}, {"neigh", "add"}, {"neigh", "del"}, {"link", "add"}, {"link", "set"},
      {"link", "del"}, {"ping"}, {"show"}, {"macvlan", "add"}, {"macvlan", "del"}, {"ipvlan", "add"},
      {"ipvlan", "shim"}, {"sriov", "attach"}, {"sriov", "detach"}, {"sriov", "list"}, {"sriov", "set"},
      {"sriov", "numvfs"}, {"connect"}, {"attach"}, {"detach"}, {"doctor"}, {"ns", "add"}};
  for (auto& leaf : leaves) {
    auto args = leaf;
    args.push_back("--help");
    auto h = ctnet(args);
    EXPECT_EQ(h.exit_code, 0) << leaf[0];
    EXPECT_NE(h.out.find("example: ctnet"), std::string::npos) << leaf[0] << " " << (leaf.size() > 1 ? leaf[1] : "") << ":\n" << h.out;
  }
}

}  // namespace
