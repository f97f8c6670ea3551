// The bridge, ptp and host-local plugins executed as a runtime executes them, checked through netlink and on
// disk, for every cniVersion.
#include <fstream>
#include <set>
#include <thread>

#include "cni_harness.h"
#include "link/bridge.h"
#include "nft/masq.h"
#include "util/error.h"
#include "ops/ping.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

class CniBridge : public CniFixture, public ::testing::WithParamInterface<std::string> {};

TEST_P(CniBridge, AddCheckDelForEveryVersion) {
  const std::string version = GetParam();
  const std::string ns = container();
  auto conf = bridge_conf(version);
  auto add = run("bridge", env("ADD", "ctr1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const json& r = add.json;
  EXPECT_EQ(r["cniVersion"], version);
  ASSERT_EQ(r["interfaces"].size(), 3u) << add.out;
  EXPECT_EQ(r["interfaces"][0]["name"], "tcnibr0");
  EXPECT_EQ(r["interfaces"][2]["name"], "eth0");
  EXPECT_EQ(r["interfaces"][2]["sandbox"], ns);
  ASSERT_EQ(r["ips"].size(), 1u);
  EXPECT_EQ(r["ips"][0]["address"], "10.99.0.2/24");
  EXPECT_EQ(r["ips"][0]["gateway"], "10.99.0.1");
  EXPECT_EQ(r["ips"][0]["interface"], 2);
  EXPECT_EQ(r["ips"][0].contains("version"), version < "1.0.0") << add.out;

  // Kernel state: the container interface with its address and default route; the host end on the bridge.
  auto cs = socket_in(ns);
  auto eth0 = link::find(cs, "eth0");
  ASSERT_TRUE(eth0);
  EXPECT_TRUE(eth0->is_up());
  EXPECT_EQ(eth0->mac->str(), r["interfaces"][2]["mac"]);
  bool has_addr = false;
  for (const auto& a : addr::list(cs, eth0->index, AF_INET)) has_addr = has_addr || a.prefix.str() == "10.99.0.2/24";
  EXPECT_TRUE(has_addr);
  bool has_default = false;
  for (const auto& rt : addr::list_routes(cs, AF_INET))
    has_default = has_default || (rt.dst.length() == 0 && rt.gateway && rt.gateway->str() == "10.99.0.1");
  EXPECT_TRUE(has_default);
  auto hs = host_socket();
  auto br = link::find(hs, "tcnibr0");
  ASSERT_TRUE(br);
  auto hv = link::find(hs, r["interfaces"][1]["name"].get<std::string>());
  ASSERT_TRUE(hv);
  EXPECT_EQ(hv->master, br->index);
  // Lease on disk in the reference layout.
  EXPECT_EQ(read_file(data_dir_ + "/tcninet/10.99.0.2"), "ctr1\r\neth0");
  EXPECT_EQ(read_file(data_dir_ + "/tcninet/last_reserved_ip.0"), "10.99.0.2");

  if (version >= "0.4.0") {
    auto conf_check = conf;
    conf_check["prevResult"] = r;
    auto check = run("bridge", env("CHECK", "ctr1", ns), conf_check);
    EXPECT_EQ(check.exit_code, 0) << check.out;
  } else {
    auto check = run("bridge", env("CHECK", "ctr1", ns), conf);
    EXPECT_EQ(check.code(), 1) << check.out;
  }

  auto del = run("bridge", env("DEL", "ctr1", ns), conf);
  EXPECT_EQ(del.exit_code, 0) << del.out;
  EXPECT_FALSE(link::find(cs, "eth0"));
  EXPECT_FALSE(link::find(hs, r["interfaces"][1]["name"].get<std::string>()));
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  auto del2 = run("bridge", env("DEL", "ctr1", ns), conf);
  EXPECT_EQ(del2.exit_code, 0) << del2.out;
}

INSTANTIATE_TEST_SUITE_P(Versions, CniBridge, ::testing::Values("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"));

using CniPlugin = CniFixture;

TEST_F(CniPlugin, VersionListsSupportedVersions) {
  auto r = run_raw("bridge", {{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion":"0.4.0"})");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.json["cniVersion"], "0.4.0");
  EXPECT_EQ(r.json["supportedVersions"], json({"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
}

// cniVersion 0.1.0 and 0.2.0: "ip4"/"ip6" with the first address of each family and its routes, as the
// reference answers (compared with its bridge where it is installed).
TEST_F(CniPlugin, LegacyVersionsGetTheLegacyResultShape) {
  for (const char* v : {"0.1.0", "0.2.0"}) {
    SCOPED_TRACE(v);
    const std::string a = container(), b = container();
    auto conf = bridge_conf(v);
    auto ours = run("bridge", env("ADD", std::string("lg") + v, a), conf);
    ASSERT_EQ(ours.exit_code, 0) << ours.out;
    EXPECT_EQ(ours.json["cniVersion"], v);
    EXPECT_EQ(ours.json["ip4"]["gateway"], "10.99.0.1") << ours.out;
    EXPECT_EQ(ours.json["ip4"]["routes"][0]["dst"], "0.0.0.0/0") << ours.out;
    EXPECT_FALSE(ours.json.contains("ips"));
    EXPECT_FALSE(ours.json.contains("interfaces"));
    if (std::filesystem::exists("/usr/lib/cni/bridge")) {
      auto rconf = conf;
      rconf["name"] = "tcniref";
      rconf["bridge"] = "tcnibr1";
      rconf["ipam"]["ranges"][0][0]["subnet"] = "10.97.0.0/24";
      auto ref = run_reference("bridge", env("ADD", std::string("lg") + v, b), rconf);
      ASSERT_EQ(ref.exit_code, 0) << ref.out;
      std::vector<std::string> ours_keys, ref_keys;
      for (auto& [k, _] : ours.json.items()) ours_keys.push_back(k);
      for (auto& [k, _] : ref.json.items()) ref_keys.push_back(k);
      EXPECT_EQ(ours_keys, ref_keys) << ours.out << "\n" << ref.out;
      std::vector<std::string> ours_ip4, ref_ip4;
      for (auto& [k, _] : ours.json["ip4"].items()) ours_ip4.push_back(k);
      for (auto& [k, _] : ref.json["ip4"].items()) ref_ip4.push_back(k);
      EXPECT_EQ(ours_ip4, ref_ip4) << ours.out << "\n" << ref.out;
      EXPECT_EQ(run_reference("bridge", env("DEL", std::string("lg") + v, b), rconf).exit_code, 0);
    }
    EXPECT_EQ(run("bridge", env("DEL", std::string("lg") + v, a), conf).exit_code, 0);
  }
}

TEST_F(CniPlugin, TwoContainersOnOneBridgeReachEachOther) {
  const std::string a = container(), b = container();
  auto ra = run("bridge", env("ADD", "ctra", a), bridge_conf());
  auto rb = run("bridge", env("ADD", "ctrb", b), bridge_conf());
  ASSERT_EQ(ra.exit_code, 0) << ra.out;
  ASSERT_EQ(rb.exit_code, 0) << rb.out;
  auto target = Prefix::parse(rb.json["ips"][0]["address"].get<std::string>(), "ip").address();
  auto p = ping(NetNs::open_path(a), target, {.count = 5});
  EXPECT_TRUE(p.ok());
  auto gw = ping(NetNs::open_path(a), IpAddress::parse("10.99.0.1", "gw"), {.count = 5});
  EXPECT_TRUE(gw.ok());
}

TEST_F(CniPlugin, CheckFailsClearlyAfterInterfaceRemoved) {
  const std::string ns = container();
  auto conf = bridge_conf();
  auto add = run("bridge", env("ADD", "ctr1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto cs = socket_in(ns);
  link::remove(cs, "eth0");
  conf["prevResult"] = add.json;
  auto check = run("bridge", env("CHECK", "ctr1", ns), conf);
  EXPECT_NE(check.exit_code, 0);
  EXPECT_NE(check.msg().find("eth0"), std::string::npos) << check.out;
}

TEST_F(CniPlugin, DelIsIdempotentInEveryCase) {
  auto conf = bridge_conf();
  // Never added; empty CNI_NETNS; data dir missing.
  EXPECT_EQ(run("bridge", env("DEL", "never", container()), conf).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "never", ""), conf).exit_code, 0);
  // Namespace already deleted: the lease is still released.
  std::string ns = container();
  ASSERT_EQ(run("bridge", env("ADD", "gone", ns), conf).exit_code, 0);
  remove_container(ns);
  auto d = run("bridge", env("DEL", "gone", ns), conf);
  EXPECT_EQ(d.exit_code, 0) << d.out;
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  // Interface already gone.
  ns = container();
  ASSERT_EQ(run("bridge", env("ADD", "noif", ns), conf).exit_code, 0);
  auto cs = socket_in(ns);
  link::remove(cs, "eth0");
  EXPECT_EQ(run("bridge", env("DEL", "noif", ns), conf).exit_code, 0);
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  // CNI_NETNS empty after an ADD: the host end goes by its derived name, the lease is released.
  ns = container();
  auto add = run("bridge", env("ADD", "nons", ns), conf);
  ASSERT_EQ(add.exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "nons", ""), conf).exit_code, 0);
  EXPECT_FALSE(link::find(*std::make_unique<nl::Socket>(host_socket()), add.json["interfaces"][1]["name"].get<std::string>()));
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  // Data dir removed by hand.
  std::filesystem::remove_all(data_dir_);
  EXPECT_EQ(run("bridge", env("DEL", "nons", ns), conf).exit_code, 0);
}

TEST_F(CniPlugin, FailedAddRemovesEverything) {
  const std::string ns = container();
  auto conf = bridge_conf();
  // A route whose gateway is unreachable fails after the veth and the lease exist.
  conf["ipam"]["routes"] = json::array({{{"dst", "192.0.2.0/24"}, {"gw", "198.51.100.1"}}});
  auto add = run("bridge", env("ADD", "ctr1", ns), conf);
  EXPECT_NE(add.exit_code, 0);
  EXPECT_TRUE(add.json.is_object() && add.json.contains("code")) << add.out;
  auto cs = socket_in(ns);
  EXPECT_FALSE(link::find(cs, "eth0"));
  // The bridge was made by this ADD: it goes too.
  EXPECT_EQ(host_links(), std::vector<std::string>{});
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
}

TEST_F(CniPlugin, BadConfigsGiveTheirCodeAndCreateNothing) {
  const std::string ns = container();
  auto good = bridge_conf();
  struct Case {
    std::string what, conf;
    int code;
    std::string field;
  };
  auto with = [&](auto f) {
    json c = good;
    f(c);
    return c.dump();
  };
  std::vector<Case> cases = {
      {"malformed JSON", "{\"cniVersion\":", 6, ""},
      {"wrong type", with([](json& c) { c["isGateway"] = "yes"; }), 6, "isGateway"},
      {"wrong type in ipam", with([](json& c) { c["ipam"]["ranges"] = "10.0.0.0/8"; }), 6, "ipam.ranges"},
      {"unknown plugin type", with([](json& c) { c["type"] = "nosuch"; }), 7, "type"},
      {"bad CIDR", with([](json& c) { c["ipam"]["ranges"][0][0]["subnet"] = "10.99.0.0/33"; }), 7, "subnet"},
      {"range outside subnet", with([](json& c) { c["ipam"]["ranges"][0][0]["rangeStart"] = "10.98.0.5"; }), 7, "rangeStart"},
      {"missing subnet", with([](json& c) { c["ipam"]["ranges"][0][0].erase("subnet"); }), 7, "subnet"},
      {"missing name", with([](json& c) { c.erase("name"); }), 7, "name"},
      {"name with a path", with([](json& c) { c["name"] = "../etc"; }), 7, "name"},
      {"bad bridge name", with([](json& c) { c["bridge"] = "a/b"; }), 7, "bridge"},
      {"unsupported version", with([](json& c) { c["cniVersion"] = "0.5.0"; }), 1, "cniVersion"},
      {"mtu out of range", with([](json& c) { c["mtu"] = 10; }), 7, "mtu"},
      {"mtu zero", with([](json& c) { c["mtu"] = 0; }), 7, "mtu"},
  };
  for (const auto& c : cases) {
    auto r = run_raw(c.what == "unknown plugin type" ? "ctnet" : "bridge", env("ADD", "bad", ns), c.conf);
    EXPECT_EQ(r.exit_code, 1) << c.what;
    EXPECT_EQ(r.code(), c.code) << c.what << ": " << r.out;
    if (!c.field.empty()) {
      EXPECT_NE(r.msg().find(c.field), std::string::npos) << c.what << ": " << r.out;
    }
  }
  // Environment problems are code 4.
  auto e = env("ADD", "bad", ns, "eth0:1");
  EXPECT_EQ(run("bridge", e, good).code(), 4);
  e = env("ADD", "bad/../x", ns);
  EXPECT_EQ(run("bridge", e, good).code(), 4);
  e = env("ADD", "bad", ns);
  e.erase("CNI_IFNAME");
  EXPECT_EQ(run("bridge", e, good).code(), 4);
  e = env("ADD", "bad", ns);
  e["CNI_ARGS"] = "FOO=bar";
  EXPECT_EQ(run("bridge", e, good).code(), 4);
  EXPECT_EQ(run("bridge", env("ADD", "bad", "/run/netns/tcni-does-not-exist"), good).code(), 3);
  EXPECT_EQ(host_links(), std::vector<std::string>{});
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  auto cs = socket_in(ns);
  EXPECT_FALSE(link::find(cs, "eth0"));
}

TEST_F(CniPlugin, CniArgsIgnoreUnknownAndRequestedIp) {
  const std::string ns = container();
  auto e = env("ADD", "ctr1", ns);
  e["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=x;FOO=bar;IP=10.99.0.77";
  auto r = run("bridge", e, bridge_conf());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.json["ips"][0]["address"], "10.99.0.77/24");
  // runtimeConfig ips and mac.
  const std::string ns2 = container();
  auto conf = bridge_conf("1.1.0");
  conf["runtimeConfig"] = {{"ips", {"10.99.0.88/24"}}, {"mac", "02:00:00:00:00:42"}};
  auto r2 = run("bridge", env("ADD", "ctr2", ns2), conf);
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  EXPECT_EQ(r2.json["ips"][0]["address"], "10.99.0.88/24");
  auto cs = socket_in(ns2);
  EXPECT_EQ(link::find(cs, "eth0")->mac->str(), "02:00:00:00:00:42");
}

TEST_F(CniPlugin, ParallelAddsGiveUniqueAddresses) {
  constexpr int kStreams = 8, kPerStream = 8;
  // One namespace per container: two default routes in one namespace would clash.
  std::vector<std::vector<std::string>> ns(kStreams);
  for (int s = 0; s < kStreams; ++s)
    for (int i = 0; i < kPerStream; ++i) ns[s].push_back(container());
  std::vector<std::vector<PluginRun>> results(kStreams);
  std::vector<std::thread> threads;
  auto conf = bridge_conf();
  for (int s = 0; s < kStreams; ++s)
    threads.emplace_back([&, s] {
      for (int i = 0; i < kPerStream; ++i)
        results[s].push_back(run("bridge", env("ADD", "p" + std::to_string(s) + "-" + std::to_string(i), ns[s][i]), conf));
    });
  for (auto& t : threads) t.join();
  std::set<std::string> addrs;
  int failures = 0;
  for (const auto& stream : results)
    for (const auto& r : stream) {
      if (r.exit_code != 0) {
        ++failures;
        ADD_FAILURE() << r.out;
        continue;
      }
      addrs.insert(r.json["ips"][0]["address"].get<std::string>());
    }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(addrs.size(), static_cast<size_t>(kStreams * kPerStream));
  EXPECT_EQ(lease_ips().size(), static_cast<size_t>(kStreams * kPerStream));
}

TEST_F(CniPlugin, GcReleasesLeasesAndRulesOfUnlistedAttachments) {
  auto conf = bridge_conf("1.1.0");
  conf["ipMasq"] = true;
  const std::string a = container(), b = container();
  ASSERT_EQ(run("bridge", env("ADD", "keep", a), conf).exit_code, 0);
  ASSERT_EQ(run("bridge", env("ADD", "drop", b), conf).exit_code, 0);
  auto chains = [&] {
    NsGuard g(*host_);
    return nft::run("list table ip ctnet_masq");
  };
  const std::string keep_chain = nft::chain_name({"tcninet", "keep", "eth0"});
  const std::string drop_chain = nft::chain_name({"tcninet", "drop", "eth0"});
  ASSERT_NE(chains().find(drop_chain), std::string::npos);
  auto gc = conf;
  gc["cni.dev/valid-attachments"] = json::array({{{"containerID", "keep"}, {"ifname", "eth0"}}});
  auto r = run("bridge", {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/usr/lib/cni"}}, gc);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(lease_ips(), std::vector<std::string>{"10.99.0.2"});
  EXPECT_NE(chains().find(keep_chain), std::string::npos);
  EXPECT_EQ(chains().find(drop_chain), std::string::npos);
  // The draft key works too.
  auto gc2 = conf;
  gc2["cni.dev/attachments"] = json::array();
  EXPECT_EQ(run("bridge", {{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/usr/lib/cni"}}, gc2).exit_code, 0);
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
  // STATUS answers for 1.1.0 and refuses older versions.
  EXPECT_EQ(run("bridge", {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", "/usr/lib/cni"}}, conf).exit_code, 0);
  EXPECT_EQ(run("bridge", {{"CNI_COMMAND", "STATUS"}, {"CNI_PATH", "/usr/lib/cni"}}, bridge_conf("1.0.0")).code(), 1);
}

TEST_F(CniPlugin, MasqueradeRulesFollowTheContainer) {
  auto conf = bridge_conf();
  conf["ipMasq"] = true;
  const std::string ns = container();
  ASSERT_EQ(run("bridge", env("ADD", "m1", ns), conf).exit_code, 0);
  auto rules = [&] {
    NsGuard g(*host_);
    return nft::run("list table ip ctnet_masq");
  };
  auto text = rules();
  EXPECT_NE(text.find("10.99.0.2 : jump " + nft::chain_name({"tcninet", "m1", "eth0"})), std::string::npos) << text;
  EXPECT_NE(text.find("masquerade"), std::string::npos);
  // Namespace gone before DEL: the rules still go.
  remove_container(ns);
  ASSERT_EQ(run("bridge", env("DEL", "m1", ns), conf).exit_code, 0);
  // Its rules were the table's last: the table goes with them, as before the first ADD.
  EXPECT_THROW(rules(), Error);
}

TEST_F(CniPlugin, PtpGivesHostRoutes) {
  const std::string ns = container();
  json conf = {{"cniVersion", "1.0.0"}, {"name", "tcniptp"}, {"type", "ptp"},
               {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.88.0.0/24"}}}}},
                         {"routes", {{{"dst", "0.0.0.0/0"}}}}, {"dataDir", data_dir_}}}};
  auto add = run("ptp", env("ADD", "p1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  ASSERT_EQ(add.json["interfaces"].size(), 2u);
  EXPECT_EQ(add.json["ips"][0]["interface"], 1);
  auto hs = host_socket();
  auto hv = link::find(hs, add.json["interfaces"][0]["name"].get<std::string>());
  ASSERT_TRUE(hv);
  bool host_route = false;
  for (const auto& r : addr::list_routes(hs, AF_INET))
    host_route = host_route || (r.dst.str() == "10.88.0.2/32" && r.oif == hv->index);
  EXPECT_TRUE(host_route);
  auto p = ping(NetNs::open_path(ns), IpAddress::parse("10.88.0.1", "gw"), {.count = 5});
  EXPECT_TRUE(p.ok());
  auto conf_check = conf;
  conf_check["prevResult"] = add.json;
  EXPECT_EQ(run("ptp", env("CHECK", "p1", ns), conf_check).exit_code, 0);
  EXPECT_EQ(run("ptp", env("DEL", "p1", ns), conf).exit_code, 0);
  EXPECT_FALSE(link::find(hs, add.json["interfaces"][0]["name"].get<std::string>()));
  EXPECT_EQ(lease_ips("tcniptp"), std::vector<std::string>{});
}

TEST_F(CniPlugin, HostLocalAloneAndCtnetMode) {
  json conf = {{"cniVersion", "0.4.0"}, {"name", "tcnihl"}, {"type", "host-local"},
               {"ipam", {{"type", "host-local"}, {"subnet", "10.77.0.0/24"}, {"rangeStart", "10.77.0.10"},
                         {"rangeEnd", "10.77.0.11"}, {"dataDir", data_dir_}}}};
  auto a = run("host-local", env("ADD", "h1", "/x"), conf);
  ASSERT_EQ(a.exit_code, 0) << a.out;
  EXPECT_EQ(a.json["ips"][0]["address"], "10.77.0.10/24");
  EXPECT_EQ(a.json["ips"][0]["version"], "4");
  EXPECT_FALSE(a.json.contains("interfaces"));
  EXPECT_EQ(run("host-local", env("ADD", "h2", "/x"), conf).exit_code, 0);
  auto full = run("host-local", env("ADD", "h3", "/x"), conf);
  EXPECT_EQ(full.code(), 11) << full.out;
  EXPECT_EQ(run("host-local", env("DEL", "h1", "/x"), conf).exit_code, 0);
  auto again = run("host-local", env("ADD", "h3", "/x"), conf);
  EXPECT_EQ(again.json["ips"][0]["address"], "10.77.0.10/24") << again.out;
  // "ctnet" with "mode" selects the plugin.
  const std::string ns = container();
  auto br = bridge_conf();
  br["type"] = "ctnet";
  br["mode"] = "bridge";
  auto r = run("ctnet", env("ADD", "c1", ns), br);
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

}  // namespace
}  // namespace ctnet::test

namespace ctnet::test {
namespace {

using nlohmann::json;

// Runs a command inside the test's host namespace and returns its stdout (cross-checking with iproute2's view).
std::string host_command(const std::string& host_ns, const std::string& cmd) {
  std::string full = "ip netns exec " + host_ns + " " + cmd + " 2>&1";
  std::string out;
  if (FILE* p = popen(full.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

using CniBridgeKeys = CniFixture;

TEST_F(CniBridgeKeys, MacSpoofCheckRulesFollowTheContainer) {
  auto conf = bridge_conf();
  conf["macspoofchk"] = true;
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "s1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  std::string rules;
  {
    NsGuard g(*host_);
    rules = nft::run("list table bridge ctnet_macspoof");
  }
  EXPECT_NE(rules.find(add.json["interfaces"][1]["name"].get<std::string>()), std::string::npos) << rules;
  EXPECT_NE(rules.find("ether saddr != " + add.json["interfaces"][2]["mac"].get<std::string>() + " drop"), std::string::npos) << rules;
  ASSERT_EQ(run("bridge", env("DEL", "s1", ns), conf).exit_code, 0);
  NsGuard g(*host_);
  EXPECT_THROW(nft::run("list table bridge ctnet_macspoof"), Error) << "the last attachment's DEL leaves the table";
}

TEST_F(CniBridgeKeys, HairpinAndMtu) {
  auto conf = bridge_conf();
  conf["hairpinMode"] = true;
  conf["mtu"] = 1300;
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "h1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const std::string host = add.json["interfaces"][1]["name"].get<std::string>();
  auto detail = host_command(host_name_, "bridge -d link show dev " + host);
  EXPECT_NE(detail.find("hairpin on"), std::string::npos) << detail;
  auto cs = socket_in(ns);
  EXPECT_EQ(link::find(cs, "eth0")->mtu, 1300u);
  auto hs = host_socket();
  EXPECT_EQ(link::find(hs, "tcnibr0")->mtu, 1300u);
}

TEST_F(CniBridgeKeys, VlanOrAClearErrorWithoutVlanFiltering) {
  bool filtering = true;
  {
    auto hs = host_socket();
    try {
      link::create_bridge(hs, {.name = "tcniprobe", .vlan_filtering = true});
      link::remove(hs, "tcniprobe");
    } catch (const Error& e) {
      filtering = e.errnum() != EOPNOTSUPP;
    }
  }
  auto conf = bridge_conf();
  conf["vlan"] = 42;
  conf["preserveDefaultVlan"] = false;
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "v1", ns), conf);
  if (!filtering) {
    EXPECT_EQ(add.exit_code, 1);
    EXPECT_NE(add.msg().find("VLAN filtering"), std::string::npos) << add.out;
    EXPECT_EQ(host_links(), std::vector<std::string>{});
    EXPECT_EQ(lease_ips(), std::vector<std::string>{});
    return;
  }
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const std::string host = add.json["interfaces"][1]["name"].get<std::string>();
  auto vlans = host_command(host_name_, "bridge vlan show dev " + host);
  EXPECT_NE(vlans.find("42 PVID"), std::string::npos) << vlans;
}

TEST_F(CniBridgeKeys, IsDefaultGatewayAndForceAddress) {
  auto conf = bridge_conf();
  conf["isDefaultGateway"] = true;
  conf["forceAddress"] = true;
  conf["ipam"].erase("routes");
  {
    // A stale address of the same subnet on an existing bridge is replaced.
    auto hs = host_socket();
    link::BridgeSpec spec{.name = "tcnibr0"};
    link::create_bridge(hs, spec);
    addr::add(hs, link::get(hs, "tcnibr0").index, Prefix::parse("10.99.0.200/24", "x"), "tcnibr0");
  }
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "g1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(add.json["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(add.json["routes"][0]["gw"], "10.99.0.1");
  auto hs = host_socket();
  std::vector<std::string> have;
  for (const auto& a : addr::list(hs, link::get(hs, "tcnibr0").index, AF_INET)) have.push_back(a.prefix.str());
  EXPECT_EQ(have, std::vector<std::string>{"10.99.0.1/24"});
}

}  // namespace
}  // namespace ctnet::test

namespace ctnet::test {
namespace {

using nlohmann::json;
using CniDualStack = CniFixture;

TEST_F(CniDualStack, BridgeGivesOneAddressPerFamily) {
  auto conf = bridge_conf("1.0.0");
  conf["ipam"]["ranges"] = json::array({json::array({{{"subnet", "10.99.0.0/24"}}}),
                                        json::array({{{"subnet", "fd00:99::/64"}}})});
  conf["ipam"]["routes"] = json::array({{{"dst", "0.0.0.0/0"}}, {{"dst", "::/0"}}});
  const std::string ns = container();
  auto add = run("bridge", env("ADD", "ds1", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  ASSERT_EQ(add.json["ips"].size(), 2u);
  EXPECT_EQ(add.json["ips"][1]["address"], "fd00:99::2/64");
  auto cs = socket_in(ns);
  auto eth0 = link::find(cs, "eth0");
  ASSERT_TRUE(eth0);
  bool v6 = false;
  for (const auto& a : addr::list(cs, eth0->index, AF_INET6)) v6 = v6 || a.prefix.str() == "fd00:99::2/64";
  EXPECT_TRUE(v6);
  bool v6_default = false;
  for (const auto& r : addr::list_routes(cs, AF_INET6))
    v6_default = v6_default || (r.dst.length() == 0 && r.gateway && r.gateway->str() == "fd00:99::1");
  EXPECT_TRUE(v6_default);
  auto hs = host_socket();
  bool gw6 = false;
  for (const auto& a : addr::list(hs, link::get(hs, "tcnibr0").index, AF_INET6)) gw6 = gw6 || a.prefix.str() == "fd00:99::1/64";
  EXPECT_TRUE(gw6);
  EXPECT_EQ(run("bridge", env("DEL", "ds1", ns), conf).exit_code, 0);
  EXPECT_EQ(lease_ips(), std::vector<std::string>{});
}

// CHECK compares what the reference compares: the interface's MAC and sandbox, the bridge, every route, and the
// kernel side (the default route still there, eth0 up). Each difference fails with a message naming it.
TEST_F(CniPlugin, CheckFailsForEachDifferenceFromThePrevResult) {
  const std::string ns = container();
  auto conf = bridge_conf("1.0.0");
  auto add = run("bridge", env("ADD", "chk", ns), conf);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto check = [&](const std::function<void(json&)>& edit) {
    auto c = conf;
    c["prevResult"] = add.json;
    if (edit) edit(c["prevResult"]);
    return run("bridge", env("CHECK", "chk", ns), c);
  };
  ASSERT_EQ(check({}).exit_code, 0) << check({}).out;
  const std::vector<std::pair<std::function<void(json&)>, std::string>> edits = {
      {[](json& p) { p["interfaces"][2]["mac"] = "02:00:00:00:00:99"; }, "has MAC"},
      {[](json& p) { p["interfaces"][2]["sandbox"] = "/run/netns/elsewhere"; }, "the result puts eth0 in /run/netns/elsewhere"},
      {[](json& p) { p["interfaces"][0]["name"] = "otherbr"; }, "the result names bridge otherbr"},
      {[](json& p) { p["routes"].push_back({{"dst", "192.0.2.0/24"}, {"gw", "10.99.0.1"}}); }, "no route to 192.0.2.0/24 via 10.99.0.1"},
  };
  for (const auto& [edit, says] : edits) {
    SCOPED_TRACE(says);
    auto r = check(edit);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
  }
  auto s = socket_in(ns);
  addr::Route def{.dst = Prefix::parse("0.0.0.0/0", "x"), .gateway = IpAddress::parse("10.99.0.1", "x"), .oif = link::get(s, "eth0").index};
  addr::remove(s, def);
  EXPECT_NE(check({}).msg().find("no route to 0.0.0.0/0"), std::string::npos) << check({}).out;
  link::change(s, link::get(s, "eth0").index, {.up = false}, "test: eth0 down");
  EXPECT_NE(check({}).msg().find("eth0 is down"), std::string::npos) << check({}).out;
  EXPECT_EQ(run("bridge", env("DEL", "chk", ns), conf).exit_code, 0);
}

// A second network of one container (podman `network connect`, Multus): its default route is already there from
// the first one, which is not an error (the reference: "the first one wins"); DEL of the second network leaves
// the first one's route and addresses alone.
TEST_F(CniPlugin, ASecondNetworkWithItsOwnDefaultRouteIsAddedAndRemovedAlone) {
  const std::string ns = container();
  auto first = bridge_conf("1.0.0", "10.99.0.0/24");
  auto second = bridge_conf("1.0.0", "10.98.0.0/24");
  second["name"] = "tcninet2";
  second["bridge"] = "tcnibr2";
  ASSERT_EQ(run("bridge", env("ADD", "two", ns, "eth0"), first).exit_code, 0);
  auto add = run("bridge", env("ADD", "two", ns, "net1"), second);
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto default_gateways = [&] {
    auto s = socket_in(ns);
    std::vector<std::string> gws;
    for (const auto& r : addr::list_routes(s, AF_INET))
      if (r.dst.length() == 0 && r.gateway) gws.push_back(r.gateway->str());
    return gws;
  };
  EXPECT_EQ(default_gateways(), std::vector<std::string>{"10.99.0.1"}) << "the first network's default route wins";
  ASSERT_EQ(run("bridge", env("DEL", "two", ns, "net1"), second).exit_code, 0);
  EXPECT_EQ(default_gateways(), std::vector<std::string>{"10.99.0.1"}) << "DEL of the second network took the first one's route";
  auto s = socket_in(ns);
  EXPECT_TRUE(link::find(s, "eth0"));
  EXPECT_FALSE(link::find(s, "net1"));
  EXPECT_EQ(lease_ips("tcninet2"), std::vector<std::string>{});
  EXPECT_EQ(lease_ips(), std::vector<std::string>{"10.99.0.2"});
}

}  // namespace
}  // namespace ctnet::test
