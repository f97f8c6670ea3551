// The bandwidth plugin chained after ctnet's bridge (host-local IPAM), in a throwaway host namespace: the tc state
// it makes read back with `tc -j` (a tbf on the host end of the veth; an ingress qdisc there redirecting to an
// IFB named as the reference names it, with a tbf; htb classes and u32 filters with subnets), CHECK, DEL
// removing the IFB (also without the namespace), rollback of a failed ADD, bad input refused before anything,
// the reference plugin's view of the same, and the rates measured with iperf3 in both directions.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "integration/cni_harness.h"
#include "support/run.h"
#include "util/sha512.h"

namespace ctnet::test {
namespace {

using nlohmann::json;

json parse_json(const RunResult& r) {
  auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json() : j;
}

class CniBandwidth : public CniFixture {
 protected:
  CniBandwidth() { prefix_ = "bwt"; }

  static std::string ns_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }
  std::string network() const { return bridge_conf()["name"]; }
  std::string ifb(const std::string& id) const { return "bwp" + sha512_hex(network() + id).substr(0, 12); }

  json bridge(const std::string& id, const std::string& ns, const std::string& version = "1.0.0") {
    auto r = run("bridge", env("ADD", id, ns), bridge_conf(version));
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.json;
  }
  json bw(const json& prev, json keys, const std::string& version = "1.0.0") const {
    keys["cniVersion"] = version;
    keys["name"] = network();
    keys["type"] = "bandwidth";
    if (!prev.is_null()) keys["prevResult"] = prev;
    return keys;
  }
  static std::string host_veth(const json& prev) { return prev["interfaces"][1]["name"]; }

  // tc and ip as an administrator would look, in the host namespace.
  json tc(std::vector<std::string> args) {
    std::vector<std::string> argv{"tc", "-n", host_name_, "-j"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_json(test::run(argv));
  }
  json root_qdisc(const std::string& dev) {
    for (const auto& q : tc({"qdisc", "show", "dev", dev}))
      if (q.value("root", false)) return q;
    return json();
  }
  bool has_ingress_qdisc(const std::string& dev) {
    for (const auto& q : tc({"qdisc", "show", "dev", dev}))
      if (q.value("kind", "") == "ingress") return true;
    return false;
  }
  // The devices the host end's ingress filters redirect to.
  std::vector<std::string> redirects(const std::string& dev) {
    std::vector<std::string> out;
    for (const auto& f : tc({"filter", "show", "dev", dev, "ingress"}))
      for (const auto& a : f.value("options", json::object()).value("actions", json::array()))
        if (a.value("kind", "") == "mirred" && a.value("mirred_action", "") == "redirect" && a.value("direction", "") == "egress")
          out.push_back(a.value("to_dev", ""));
    return out;
  }
  // handle -> (rate, ceil) in bits per second, from `tc class show` ("class htb 1:30 root prio 0 rate 8Mbit ceil
  // 16Mbit burst ..."; this tc prints classes as text even with -j).
  std::map<std::string, std::pair<uint64_t, uint64_t>> htb_classes(const std::string& dev) {
    auto bits = [](const std::string& t) {
      const size_t n = t.find_first_not_of("0123456789");
      const std::string unit = t.substr(n);
      const uint64_t scale = unit == "Kbit" ? 1000 : unit == "Mbit" ? 1000000 : unit == "Gbit" ? 1000000000 : 1;
      return std::stoull(t.substr(0, n)) * scale;
    };
    std::map<std::string, std::pair<uint64_t, uint64_t>> out;
    std::istringstream lines(test::run({"tc", "-n", host_name_, "class", "show", "dev", dev}).out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream w(line);
      std::vector<std::string> t{std::istream_iterator<std::string>(w), {}};
      if (t.size() < 3 || t[0] != "class" || t[1] != "htb") continue;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        if (t[i] == "rate") out[t[2]].first = bits(t[i + 1]);
        if (t[i] == "ceil") out[t[2]].second = bits(t[i + 1]);
      }
    }
    return out;
  }
  json link(const std::string& name) {
    auto j = parse_json(test::run({"ip", "-n", host_name_, "-d", "-j", "link", "show", name}));
    return j.is_array() && !j.empty() ? j[0] : json();
  }
  // Nothing of the plugin's on the host end (its root qdisc is the veth's default again) and no IFB.
  void expect_untouched(const std::string& veth, const std::string& id) {
    EXPECT_EQ(root_qdisc(veth).value("kind", ""), "noqueue") << root_qdisc(veth).dump();
    EXPECT_FALSE(has_ingress_qdisc(veth));
    EXPECT_TRUE(link(ifb(id)).is_null()) << "the IFB " << ifb(id) << " is there";
  }
  static void expect_tbf(const json& q, uint64_t rate_bits, uint64_t burst_bits) {
    EXPECT_EQ(q.value("kind", ""), "tbf") << q.dump();
    EXPECT_EQ(q.value("handle", ""), "1:");
    const auto o = q.value("options", json::object());
    EXPECT_EQ(o.value("rate", 0ull), rate_bits / 8) << q.dump();
    EXPECT_EQ(o.value("burst", 0ull), burst_bits / 8) << q.dump();
    EXPECT_EQ(o.value("lat", 0ull), 25000u) << "the reference's latency, 25 ms";
  }
};

const json kLimits = {{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"egressRate", 16000000}, {"egressBurst", 160000}};

TEST_F(CniBandwidth, ShapesBothDirectionsChecksAndDelRemovesTheIfb) {
  for (const std::string version : {"0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
    SCOPED_TRACE(version);
    const std::string ns = container(), id = "bw-" + version;
    const json prev = bridge(id, ns, version);
    ASSERT_TRUE(prev.is_object());
    const std::string veth = host_veth(prev), dev = ifb(id);
    auto add = run("bandwidth", env("ADD", id, ns), bw(prev, kLimits, version));
    ASSERT_EQ(add.exit_code, 0) << add.out;
    // The result is prevResult with the IFB added (no sandbox), as the reference's.
    ASSERT_EQ(add.json["interfaces"].size(), prev["interfaces"].size() + 1) << add.out;
    EXPECT_EQ(add.json["interfaces"].back()["name"], dev);
    EXPECT_FALSE(add.json["interfaces"].back().contains("sandbox"));
    EXPECT_EQ(add.json["ips"], prev["ips"]);

    expect_tbf(root_qdisc(veth), 8000000, 80000);  // to the container: on the host end
    EXPECT_TRUE(has_ingress_qdisc(veth));
    EXPECT_EQ(redirects(veth), std::vector<std::string>{dev});
    const json l = link(dev);
    ASSERT_TRUE(l.is_object());
    EXPECT_EQ(l["linkinfo"]["info_kind"], "ifb");
    EXPECT_EQ(l["mtu"], link(veth)["mtu"]) << "the IFB's MTU follows the host end";
    EXPECT_NE(l["flags"].dump().find("\"UP\""), std::string::npos);
    EXPECT_EQ(add.json["interfaces"].back()["mac"], l["address"]);
    expect_tbf(root_qdisc(dev), 16000000, 160000);  // from the container: on the IFB

    if (version >= "0.4.0") {
      EXPECT_EQ(run("bandwidth", env("CHECK", id, ns), bw(add.json, kLimits, version)).exit_code, 0);
    }
    ASSERT_EQ(run("bandwidth", env("DEL", id, ns), bw(add.json, kLimits, version)).exit_code, 0);
    EXPECT_TRUE(link(dev).is_null()) << "DEL leaves the IFB";
    EXPECT_EQ(run("bandwidth", env("DEL", id, ns), bw(add.json, kLimits, version)).exit_code, 0) << "DEL twice";
    EXPECT_EQ(run("bridge", env("DEL", id, ns), bridge_conf(version)).exit_code, 0);
    EXPECT_TRUE(link(veth).is_null());
  }
  // Before 0.3.0 a result has no interfaces to find the host end in: refused, as by the reference.
  auto old = run("bandwidth", env("ADD", "bw-old", container()), bw(json(), kLimits, "0.2.0"));
  EXPECT_EQ(old.code(), 1) << old.out;
}

TEST_F(CniBandwidth, CheckNamesWhatDiffers) {
  const std::string ns = container();
  const json prev = bridge("bw-c", ns);
  auto add = run("bandwidth", env("ADD", "bw-c", ns), bw(prev, kLimits));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  const std::string veth = host_veth(prev);
  ASSERT_EQ(test::run({"tc", "-n", host_name_, "qdisc", "replace", "dev", veth, "root", "handle", "1:", "tbf", "rate", "1mbit",
                       "burst", "10000", "latency", "25ms"}).exit_code, 0);
  auto bad = run("bandwidth", env("CHECK", "bw-c", ns), bw(add.json, kLimits));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.msg().find(veth + ": tbf rate 125000 B/s (want 1000000)"), std::string::npos) << bad.msg();
  ASSERT_EQ(test::run({"ip", "-n", host_name_, "link", "del", ifb("bw-c")}).exit_code, 0);
  bad = run("bandwidth", env("CHECK", "bw-c", ns), bw(add.json, kLimits));
  EXPECT_NE(bad.msg().find("IFB " + ifb("bw-c") + " does not exist"), std::string::npos) << bad.msg();
  EXPECT_EQ(run("bandwidth", env("DEL", "bw-c", ns), bw(add.json, kLimits)).exit_code, 0) << "the IFB is gone already";
}

TEST_F(CniBandwidth, RuntimeConfigTakesPrecedenceAndNoLimitPassesThrough) {
  const std::string ns = container();
  const json prev = bridge("bw-r", ns);
  const std::string veth = host_veth(prev);
  // runtimeConfig as containerd sends it: Go field names (go-cni's BandWidth has no json tags).
  json keys = {{"ingressRate", 8000000}, {"ingressBurst", 80000},
               {"runtimeConfig", {{"bandwidth", {{"IngressRate", 24000000}, {"IngressBurst", 240000}}}}}};
  auto add = run("bandwidth", env("ADD", "bw-r", ns), bw(prev, keys));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  expect_tbf(root_qdisc(veth), 24000000, 240000);
  EXPECT_FALSE(has_ingress_qdisc(veth)) << "no egress limit: no redirect";
  EXPECT_TRUE(link(ifb("bw-r")).is_null()) << "no egress limit: no IFB";
  EXPECT_EQ(add.json, prev) << "nothing to add to the result";
  EXPECT_EQ(run("bandwidth", env("CHECK", "bw-r", ns), bw(add.json, keys)).exit_code, 0);
  ASSERT_EQ(run("bandwidth", env("DEL", "bw-r", ns), bw(add.json, keys)).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "bw-r", ns), bridge_conf()).exit_code, 0);

  // No limit at all: prevResult comes back unchanged and nothing is made.
  const std::string ns2 = container();
  const json prev2 = bridge("bw-z", ns2);
  auto zero = run("bandwidth", env("ADD", "bw-z", ns2), bw(prev2, {{"ingressRate", 0}, {"ingressBurst", 0}}));
  ASSERT_EQ(zero.exit_code, 0) << zero.out;
  EXPECT_EQ(zero.json, prev2);
  expect_untouched(host_veth(prev2), "bw-z");
}

TEST_F(CniBandwidth, DelWithoutTheNamespaceRemovesTheIfb) {
  const std::string ns = container();
  const json prev = bridge("bw-d", ns);
  auto add = run("bandwidth", env("ADD", "bw-d", ns), bw(prev, kLimits));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  ASSERT_TRUE(link(ifb("bw-d")).is_object());
  remove_container(ns);
  EXPECT_EQ(run("bandwidth", env("DEL", "bw-d", ns), bw(add.json, kLimits)).exit_code, 0) << "the namespace is gone";
  EXPECT_TRUE(link(ifb("bw-d")).is_null());
  const std::string ns2 = container();
  ASSERT_EQ(run("bandwidth", env("ADD", "bw-e", ns2), bw(bridge("bw-e", ns2), kLimits)).exit_code, 0);
  ASSERT_TRUE(link(ifb("bw-e")).is_object());
  EXPECT_EQ(run("bandwidth", env("DEL", "bw-e", ""), bw(json(), kLimits)).exit_code, 0) << "CNI_NETNS empty, no prevResult";
  EXPECT_TRUE(link(ifb("bw-e")).is_null());
  EXPECT_EQ(run("bandwidth", env("DEL", "never-added", ""), bw(json(), {})).exit_code, 0);
  EXPECT_EQ(run("bridge", env("DEL", "bw-d", ""), bridge_conf()).exit_code, 0);
}

TEST_F(CniBandwidth, AFailedAddRemovesWhatItMadeAndLeavesOthersAlone) {
  const std::string ns = container();
  const json prev = bridge("bw-f", ns);
  const std::string veth = host_veth(prev);
  // The IFB's name is taken (by a bridge): the tbf on the host end was made first, and goes again.
  ASSERT_EQ(test::run({"ip", "-n", host_name_, "link", "add", ifb("bw-f"), "type", "bridge"}).exit_code, 0);
  auto taken = run("bandwidth", env("ADD", "bw-f", ns), bw(prev, kLimits));
  EXPECT_EQ(taken.exit_code, 1) << taken.out;
  EXPECT_NE(taken.msg().find("a link named '" + ifb("bw-f") + "' already exists"), std::string::npos) << taken.msg();
  EXPECT_EQ(root_qdisc(veth).value("kind", ""), "noqueue");
  EXPECT_FALSE(has_ingress_qdisc(veth));
  EXPECT_EQ(link(ifb("bw-f")).value("linkinfo", json()).value("info_kind", ""), "bridge") << "someone else's link was touched";
  ASSERT_EQ(test::run({"ip", "-n", host_name_, "link", "del", ifb("bw-f")}).exit_code, 0);

  // Someone else's ingress qdisc on the host end: the kernel refuses a second one; the IFB and the tbf go, the
  // other qdisc stays.
  ASSERT_EQ(test::run({"tc", "-n", host_name_, "qdisc", "add", "dev", veth, "handle", "ffff:", "ingress"}).exit_code, 0);
  auto refused = run("bandwidth", env("ADD", "bw-f", ns), bw(prev, kLimits));
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.msg().find("cannot add the ingress qdisc at ingress of " + veth), std::string::npos) << refused.msg();
  EXPECT_EQ(root_qdisc(veth).value("kind", ""), "noqueue");
  EXPECT_TRUE(has_ingress_qdisc(veth)) << "the other ingress qdisc was removed";
  EXPECT_TRUE(link(ifb("bw-f")).is_null());
  EXPECT_EQ(run("bridge", env("DEL", "bw-f", ns), bridge_conf()).exit_code, 0);
}

TEST_F(CniBandwidth, BadInputIsRefusedBeforeAnything) {
  const std::string ns = container();
  const json prev = bridge("bw-b", ns);
  const std::string veth = host_veth(prev);
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"ingressRate", "8000000"}, {"ingressBurst", 80000}}, "cannot decode 'ingressRate': expected an integer"},
      {{{"ingressRate", 8e6}, {"ingressBurst", 80000}}, "cannot decode 'ingressRate': expected an integer"},
      {{{"egressRate", -1}, {"egressBurst", 80000}}, "invalid 'egressRate': must not be negative"},
      {{{"ingressBurst", 80000}}, "invalid 'ingressRate': missing: ingressBurst is set, so it must be too"},
      {{{"egressRate", 8000000}}, "invalid 'egressBurst': missing: egressRate is set, so it must be too"},
      {{{"ingressRate", 8000000}, {"ingressBurst", 8ull * UINT32_MAX}}, "invalid 'ingressBurst': cannot be more than 4GB"},
      {{{"ingressRate", 7}, {"ingressBurst", 80000}}, "invalid 'ingressRate': must be at least 8 bits per second"},
      {{{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"shapedSubnets", {"10.0.0.0/8"}}, {"unshapedSubnets", {"10.1.0.0/16"}}},
       "invalid 'unshapedSubnets': cannot be given with shapedSubnets"},
      {{{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"shapedSubnets", {"10.0.0.0/8", "10.1.0.1"}}},
       "invalid 'shapedSubnets[1]': '10.1.0.1' is not a subnet in CIDR form"},
      {{{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"unshapedSubnets", {"10.0.0.0/33"}}}, "'unshapedSubnets[0]'"},
      {{{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"shapedSubnets", {42}}}, "cannot decode 'shapedSubnets[0]': expected a string"},
      {{{"ingressRate", 8000000}, {"ingressBurst", 80000}, {"shapedSubnets", "10.0.0.0/8"}}, "cannot decode 'shapedSubnets': expected an array"},
      {{{"runtimeConfig", {{"bandwidth", {{"egressBurst", 10}}}}}}, "invalid 'runtimeConfig.bandwidth.egressRate': missing"},
      {{{"runtimeConfig", {{"bandwidth", "fast"}}}}, "cannot decode 'runtimeConfig.bandwidth': expected an object"},
  };
  for (const auto& [keys, says] : cases) {
    SCOPED_TRACE(keys.dump());
    auto r = run("bandwidth", env("ADD", "bw-b", ns), bw(prev, keys));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
    expect_untouched(veth, "bw-b");
  }
  auto no_prev = run("bandwidth", env("ADD", "bw-b", ns), bw(json(), kLimits));
  EXPECT_NE(no_prev.msg().find("'prevResult': missing"), std::string::npos) << no_prev.msg();
  // A container interface that is no veth (a macvlan network, say; a bridge here) has no host end to shape.
  const std::string ns2 = container();
  ASSERT_EQ(test::run({"ip", "-n", ns_name(ns2), "link", "add", "eth0", "type", "bridge"}).exit_code, 0);
  json fake = prev;
  fake["interfaces"][2]["sandbox"] = ns2;
  auto not_veth = run("bandwidth", env("ADD", "bw-b", ns2), bw(fake, kLimits));
  EXPECT_NE(not_veth.msg().find("container interface eth0 has no veth peer"), std::string::npos) << not_veth.msg();
  expect_untouched(veth, "bw-b");
  EXPECT_EQ(run("bridge", env("DEL", "bw-b", ns), bridge_conf()).exit_code, 0);
}

TEST_F(CniBandwidth, SubnetsMakeTheReferencesHtb) {
  const std::string ns = container();
  const json prev = bridge("bw-s", ns);
  const std::string veth = host_veth(prev), dev = ifb("bw-s");
  json keys = kLimits;
  keys["shapedSubnets"] = {"10.98.0.0/16", "fd00:98::/32"};
  auto add = run("bandwidth", env("ADD", "bw-s", ns), bw(prev, keys));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  for (const auto& [d, rate, far] : {std::tuple{veth, 8000000 / 8, "src"}, std::tuple{dev, 16000000 / 8, "dst"}}) {
    SCOPED_TRACE(d);
    const json q = root_qdisc(d);
    EXPECT_EQ(q.value("kind", ""), "htb");
    EXPECT_EQ(q["options"].value("default", ""), "0x1") << "unlisted traffic is not shaped";
    const auto classes = htb_classes(d);
    ASSERT_TRUE(classes.count("1:30") && classes.count("1:1"));
    EXPECT_EQ(classes.at("1:30"), (std::pair<uint64_t, uint64_t>{rate * 8, 2 * rate * 8})) << "rate, and the reference's ceil";
    EXPECT_EQ(classes.at("1:1"), (std::pair<uint64_t, uint64_t>{800'000'000'000, 800'000'000'000}));
    // One filter per subnet into the shaped class, matching the far end's address.
    std::vector<std::string> matches;
    for (const auto& f : tc({"filter", "show", "dev", d}))
      if (f.contains("options") && f["options"].contains("match")) {
        EXPECT_EQ(f["options"].value("flowid", ""), "1:30");
        const auto& m = f["options"]["match"];
        matches.push_back(f.value("protocol", "") + " " + m.value("value", "") + "/" + m.value("mask", "") + "@" +
                          std::to_string(m.value("off", 0)));
      }
    std::sort(matches.begin(), matches.end());
    const bool src = std::string(far) == "src";
    EXPECT_EQ(matches, (std::vector<std::string>{src ? "ip a620000/ffff0000@12" : "ip a620000/ffff0000@16",
                                                 src ? "ipv6 fd000098/ffffffff@8" : "ipv6 fd000098/ffffffff@24"}));
  }
  EXPECT_EQ(run("bandwidth", env("CHECK", "bw-s", ns), bw(add.json, keys)).exit_code, 0);
  ASSERT_EQ(run("bandwidth", env("DEL", "bw-s", ns), bw(add.json, keys)).exit_code, 0);
  EXPECT_TRUE(link(dev).is_null());
  EXPECT_EQ(run("bridge", env("DEL", "bw-s", ns), bridge_conf()).exit_code, 0);

  // unshapedSubnets: the default class is the shaped one, the listed subnets go to 1:1.
  const std::string ns2 = container();
  const json prev2 = bridge("bw-u", ns2);
  keys.erase("shapedSubnets");
  keys["unshapedSubnets"] = {"10.98.0.0/16"};
  auto add2 = run("bandwidth", env("ADD", "bw-u", ns2), bw(prev2, keys));
  ASSERT_EQ(add2.exit_code, 0) << add2.out;
  EXPECT_EQ(root_qdisc(host_veth(prev2))["options"].value("default", ""), "0x30");
  EXPECT_EQ(run("bandwidth", env("CHECK", "bw-u", ns2), bw(add2.json, keys)).exit_code, 0);
  ASSERT_EQ(run("bandwidth", env("DEL", "bw-u", ns2), bw(add2.json, keys)).exit_code, 0);
}

TEST_F(CniBandwidth, KubeletsBurstIsCappedAsTheKernelCapsIt) {
  // kubelet passes 2^31 - 1 bits of burst with every rate; at 1 Mbit/s that is 2147 s of tokens, which the
  // kernel holds at 4.29 s. CHECK compares what the kernel keeps.
  const std::string ns = container();
  const json prev = bridge("bw-k", ns);
  const json keys = {{"runtimeConfig", {{"bandwidth", {{"ingressRate", 1000000}, {"ingressBurst", 2147483647},
                                                       {"egressRate", 1000000}, {"egressBurst", 2147483647}}}}}};
  auto add = run("bandwidth", env("ADD", "bw-k", ns), bw(prev, keys));
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(run("bandwidth", env("CHECK", "bw-k", ns), bw(add.json, keys)).exit_code, 0);
  ASSERT_EQ(run("bandwidth", env("DEL", "bw-k", ns), bw(add.json, keys)).exit_code, 0);
}

TEST_F(CniBandwidth, TheReferenceAndCtnetAgree) {
  const std::string ns = container();
  const json prev = bridge("bw-x", ns);
  const std::string veth = host_veth(prev), dev = ifb("bw-x");
  auto ours = run("bandwidth", env("ADD", "bw-x", ns), bw(prev, kLimits));
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  const json our_root = root_qdisc(veth), our_ifb = root_qdisc(dev);
  // The reference's DEL finds ctnet's IFB by the same name.
  ASSERT_EQ(run_reference("bandwidth", env("DEL", "bw-x", ns), bw(ours.json, kLimits)).exit_code, 0);
  EXPECT_TRUE(link(dev).is_null());
  ASSERT_EQ(test::run({"tc", "-n", host_name_, "qdisc", "del", "dev", veth, "root"}).exit_code, 0);
  ASSERT_EQ(test::run({"tc", "-n", host_name_, "qdisc", "del", "dev", veth, "ingress"}).exit_code, 0);

  auto ref = run_reference("bandwidth", env("ADD", "bw-x", ns), bw(prev, kLimits));
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  EXPECT_EQ(ref.json["interfaces"].back()["name"], dev) << "the same IFB name";
  EXPECT_EQ(root_qdisc(veth)["options"], our_root["options"]) << "the same token bucket";
  EXPECT_EQ(root_qdisc(dev)["options"], our_ifb["options"]);
  EXPECT_EQ(redirects(veth).size(), 2u) << "(the reference's filter has two mirred actions)";
  // ctnet's CHECK accepts the reference's qdiscs, and its DEL removes the reference's IFB.
  auto check = run("bandwidth", env("CHECK", "bw-x", ns), bw(ref.json, kLimits));
  EXPECT_EQ(check.exit_code, 0) << check.out;
  ASSERT_EQ(run("bandwidth", env("DEL", "bw-x", ns), bw(ref.json, kLimits)).exit_code, 0);
  EXPECT_TRUE(link(dev).is_null());
  EXPECT_EQ(run("bridge", env("DEL", "bw-x", ns), bridge_conf()).exit_code, 0);
}

// ---- the rate with real traffic ----------------------------------------------------------------------------

// An iperf3 server in the host namespace, listening on `addr`; killed by its pid when the test is done.
class IperfServer {
 public:
  IperfServer(int host_ns_fd, const std::string& addr, int port) : port_(port) {
    pid_ = fork();
    if (pid_ == 0) {
      if (setns(host_ns_fd, CLONE_NEWNET) != 0) _exit(126);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 1);
      dup2(null, 2);
      execlp("iperf3", "iperf3", "-s", "-B", addr.c_str(), "-p", std::to_string(port).c_str(), nullptr);
      _exit(127);
    }
  }
  ~IperfServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Until the socket listens: the server's own /proc/PID/net/tcp shows its namespace's sockets.
  bool wait_listening() const {
    char port[8];
    snprintf(port, sizeof port, ":%04X", port_);
    for (int i = 0; i < 100; ++i) {
      std::ifstream f("/proc/" + std::to_string(pid_) + "/net/tcp");
      for (std::string line; std::getline(f, line);)
        if (line.find(port) != std::string::npos && line.find(" 0A ") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  int port_;
};

class CniBandwidthRate : public CniBandwidth {
 protected:
  // Mbit/s the receiving end counted: iperf3 for `seconds` after a first second it leaves out (TCP's ramp).
  double measure(const std::string& container_ns, const std::string& server, bool to_container, int seconds = 4) {
    std::vector<std::string> argv{"ip", "netns", "exec", ns_name(container_ns), "iperf3", "-c", server, "-p", "5301",
                                  "-t", std::to_string(seconds), "-O", "1", "-J"};
    if (to_container) argv.push_back("-R");
    auto r = test::run(argv);
    json j = parse_json(r);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    if (!j.is_object() || !j.contains("end")) return 0;
    return j["end"]["sum_received"].value("bits_per_second", 0.0) / 1e6;
  }
  static void expect_within(double measured, double want, const std::string& what) {
    std::cout << "[bandwidth] " << what << ": " << measured << " Mbit/s (configured " << want << ")\n";
    EXPECT_GE(measured, want * 0.9) << what;
    EXPECT_LE(measured, want * 1.1) << what;
  }
};

TEST_F(CniBandwidthRate, IperfMeasuresTheConfiguredRatesBothWays) {
  const std::string ns = container();
  const json prev = bridge("bw-p", ns);
  const std::string gw = prev["ips"][0]["gateway"];  // the bridge's address: the host side
  // Different rates each way, so a swapped direction shows. Bursts of 10 ms at the rate.
  const json keys = {{"ingressRate", 12000000}, {"ingressBurst", 120000}, {"egressRate", 24000000}, {"egressBurst", 240000}};
  ASSERT_EQ(run("bandwidth", env("ADD", "bw-p", ns), bw(prev, keys)).exit_code, 0);
  IperfServer server(host_->fd(), gw, 5301);
  ASSERT_TRUE(server.wait_listening());
  expect_within(measure(ns, gw, true), 12, "tbf, host -> container (ingressRate 12 Mbit/s)");
  expect_within(measure(ns, gw, false), 24, "tbf via IFB, container -> host (egressRate 24 Mbit/s)");
}

TEST_F(CniBandwidthRate, IperfShowsShapedAndUnshapedSubnets) {
  const std::string ns = container();
  const json prev = bridge("bw-q", ns);
  const std::string gw = prev["ips"][0]["gateway"];
  const std::string host_subnet = bridge_conf()["ipam"]["ranges"][0][0]["subnet"];
  json keys = {{"ingressRate", 16000000}, {"ingressBurst", 160000}, {"egressRate", 32000000}, {"egressBurst", 320000},
               {"shapedSubnets", {host_subnet}}};
  ASSERT_EQ(run("bandwidth", env("ADD", "bw-q", ns), bw(prev, keys)).exit_code, 0);
  {
    IperfServer server(host_->fd(), gw, 5301);
    ASSERT_TRUE(server.wait_listening());
    expect_within(measure(ns, gw, true), 16, "htb 1:30, host -> container (shaped subnet, 16 Mbit/s)");
    expect_within(measure(ns, gw, false), 32, "htb 1:30 via IFB, container -> host (shaped subnet, 32 Mbit/s)");
  }
  ASSERT_EQ(run("bandwidth", env("DEL", "bw-q", ns), bw(prev, keys)).exit_code, 0);
  ASSERT_EQ(test::run({"tc", "-n", host_name_, "qdisc", "del", "dev", host_veth(prev), "root"}).exit_code, 0);
  ASSERT_EQ(test::run({"tc", "-n", host_name_, "qdisc", "del", "dev", host_veth(prev), "ingress"}).exit_code, 0);
  keys.erase("shapedSubnets");
  keys["unshapedSubnets"] = {host_subnet};
  ASSERT_EQ(run("bandwidth", env("ADD", "bw-q", ns), bw(prev, keys)).exit_code, 0);
  IperfServer server(host_->fd(), gw, 5301);
  ASSERT_TRUE(server.wait_listening());
  const double in = measure(ns, gw, true, 2), out = measure(ns, gw, false, 2);
  std::cout << "[bandwidth] unshaped subnet: host -> container " << in << " Mbit/s, container -> host " << out
            << " Mbit/s (the limits are 16 and 32)\n";
  EXPECT_GT(in, 16 * 3) << "traffic from an unshaped subnet is not limited";
  EXPECT_GT(out, 32 * 3) << "traffic to an unshaped subnet is not limited";
}

}  // namespace
}  // namespace ctnet::test
