// Verbs for the other two kinds of container network: macvlan/ipvlan sub-interfaces of a host link and SR-IOV
// virtual functions. Parsing and printing only; the work is in ops/subif and the vf kind (kinds/vf.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "kinds/link_kind.h"
#include "kinds/vf.h"
#include "link/link.h"
#include "ops/subif.h"
#include "sriov/attach.h"
#include "util/error.h"
#include "util/names.h"
#include "util/english.h"

namespace ctnet::cli {
namespace {

std::vector<Prefix> parse_prefixes(const std::vector<std::string>& v, const char* field) {
  std::vector<Prefix> out;
  for (auto& s : v) out.push_back(Prefix::parse(s, field));
  return out;
}

struct SubifArgs {
  std::string ns, parent, name = "eth0", mode, flag = "bridge", mac, gw;
  std::vector<std::string> addrs;
  std::optional<uint32_t> mtu;
  bool default_route = false;
};

void add_subif_verbs(CLI::App& app, ops::SubifKind kind) {
  const bool mv = kind == ops::SubifKind::macvlan;
  const std::string k(ops::to_string(kind));
  auto* top = app.add_subcommand(k, mv ? "macvlan sub-interfaces of a host link, handed to namespaces"
                                       : "ipvlan sub-interfaces of a host link, handed to namespaces");
  top->require_subcommand(1);

  auto a = std::make_shared<SubifArgs>();
  a->mode = mv ? "bridge" : "l2";
  auto* add = top->add_subcommand("add", fmt::format("add {} on a host link to namespace NS\n  example: ctnet {} add ns1 --parent ctv0 --addr 10.30.0.2/24", article(k), k));
  add->add_option("NS", a->ns, "target namespace (name, /path or pid:N)")->required();
  add->add_option("--parent", a->parent, "parent link on the host (never the uplink you depend on)")->required();
  add->add_option("--name", a->name, "name inside the namespace")->capture_default_str();
  if (mv) {
    add->add_option("--mode", a->mode, "bridge | private | vepa | passthru")
        ->check(CLI::IsMember({"bridge", "private", "vepa", "passthru"}))
        ->capture_default_str();
    add->add_option("--mac", a->mac, "MAC address of the child");
  } else {
    add->add_option("--mode", a->mode, "l2 | l3 | l3s")->check(CLI::IsMember({"l2", "l3", "l3s"}))->capture_default_str();
    add->add_option("--flag", a->flag, "bridge | private | vepa")
        ->check(CLI::IsMember({"bridge", "private", "vepa"}))
        ->capture_default_str();
    add->add_flag("--default-route", a->default_route, "default route through the device (l3/l3s: no gateway needed)");
  }
  add->add_option("--addr", a->addrs, "address CIDR (repeatable)");
  add->add_option("--gw", a->gw, "default gateway");
  add->add_option("--mtu", a->mtu, "MTU (default and maximum: the parent's)");
  add->callback([a, kind, k] {
    ops::SubifSpec s;
    s.kind = kind;
    s.parent = a->parent;
    s.name = a->name;
    if (kind == ops::SubifKind::macvlan) {
      s.macvlan_mode = *link::parse_macvlan_mode(a->mode);
      if (!a->mac.empty()) s.mac = MacAddress::parse(a->mac, "--mac");
    } else {
      s.ipvlan_mode = *link::parse_ipvlan_mode(a->mode);
      s.ipvlan_flag = *link::parse_ipvlan_flag(a->flag);
      s.default_route_dev = a->default_route;
    }
    s.addresses = parse_prefixes(a->addrs, "--addr");
    if (!a->gw.empty()) s.gateway = IpAddress::parse(a->gw, "--gw");
    if (a->mtu) {
      validate_mtu(*a->mtu, "--mtu");  // given as 0 it would mean "the parent's" to the engine
      s.mtu = *a->mtu;
    }
    ops::validate(s);
    auto r = ops::add_subif("", a->ns, s);
    fmt::print("{} {} in {} on {} (mode {}{}, mtu {}{})\n", k, r.name, a->ns, a->parent, a->mode,
               kind == ops::SubifKind::ipvlan ? " " + a->flag : "", r.mtu, r.mac ? ", mac " + r.mac->str() : "");
  });

  auto d = std::make_shared<SubifArgs>();
  auto* del = top->add_subcommand("del", fmt::format("remove {} from namespace NS (nothing to do is fine)\n  example: ctnet {} del ns1 --name eth0", article(k), k));
  del->add_option("NS", d->ns, "namespace (name, /path or pid:N)")->required();
  del->add_option("--name", d->name, "name inside the namespace")->capture_default_str();
  del->callback([d, kind, k] {
    bool removed = ops::remove_subif(d->ns, kind, d->name);
    fmt::print("{} {} in {}: {}\n", k, d->name, d->ns, removed ? "removed" : "absent");
  });

  auto sh = std::make_shared<SubifArgs>();
  auto routes = std::make_shared<std::vector<std::string>>();
  auto* shim = top->add_subcommand(
      "shim", fmt::format("host-side {} on PARENT so the host reaches its own {} children\n  example: ctnet {} shim --parent ctv0 --addr 10.30.0.254/32 --route 10.30.0.0/24", k, k, k));
  shim->add_option("--parent", sh->parent, "parent link")->required();
  sh->addrs.resize(1);
  shim->add_option("--addr", sh->addrs[0], "the shim's address (CIDR)")->required();
  sh->name.clear();
  shim->add_option("--name", sh->name, "name of the shim (default shim-PARENT)");
  shim->add_option("--route", *routes, "route this prefix through the shim (repeatable; e.g. the containers' range)");
  shim->callback([sh, routes, kind, k] {
    ops::ShimSpec s;
    s.kind = kind;
    s.parent = sh->parent;
    s.name = sh->name;
    s.address = Prefix::parse(sh->addrs[0], "--addr");
    s.routes = parse_prefixes(*routes, "--route");
    auto r = ops::add_shim("", s);
    fmt::print("{} shim {} on {} with {}\n", k, r.name, sh->parent, s.address.str());
  });

  auto su = std::make_shared<SubifArgs>();
  auto* unshim = top->add_subcommand("shim-del", fmt::format("remove the host-side {} shim\n  example: ctnet {} shim-del --parent ctv0", k, k));
  su->name.clear();
  unshim->add_option("--name", su->name, "name of the shim");
  unshim->add_option("--parent", su->parent, "its parent (names the default shim-PARENT)");
  unshim->callback([su, kind, k] {
    if (su->name.empty() && su->parent.empty()) throw InvalidInput("--name/--parent", "give one of them");
    std::string name = su->name.empty() ? ops::default_shim_name(su->parent) : su->name;
    bool removed = ops::remove_subif("", kind, name);
    fmt::print("{} shim {}: {}\n", k, name, removed ? "removed" : "absent");
  });
}

// ---------------- SR-IOV ----------------

std::string onoff(const std::optional<bool>& b) { return !b ? "-" : *b ? "on" : "off"; }

nlohmann::json vf_json(const sriov::Vf& v, const sriov::VfConfig* c, const sriov::Allocation* a) {
  nlohmann::json j{{"vf", v.index}, {"pci", v.pci}, {"driver", v.driver}, {"userspace", v.userspace()}};
  j["netdev"] = v.netdev ? nlohmann::json(*v.netdev) : nlohmann::json(nullptr);
  if (c) {
    j["mac"] = c->mac.str();
    j["vlan"] = c->vlan;
    j["qos"] = c->qos;
    j["vlan_proto"] = std::string(sriov::to_string(c->proto));
    j["spoofchk"] = c->spoofchk ? nlohmann::json(*c->spoofchk) : nlohmann::json(nullptr);
    j["trust"] = c->trust ? nlohmann::json(*c->trust) : nlohmann::json(nullptr);
    j["link_state"] = c->link_state ? nlohmann::json(std::string(sriov::to_string(*c->link_state))) : nlohmann::json(nullptr);
    j["min_tx_rate"] = c->min_tx_rate;
    j["max_tx_rate"] = c->max_tx_rate;
  }
  j["attached"] = a ? nlohmann::json{{"netns", a->netns}, {"name", a->name}, {"host_name", a->host_name}}
                    : nlohmann::json(nullptr);
  return j;
}

// The VF settings options shared by `attach` and `set`.
struct SettingArgs {
  std::string mac, proto, spoofchk, trust, link_state;
  int vlan = -1, qos = -1;
  int64_t min_rate = -1, max_rate = -1;

  void add_to(CLI::App* c) {
    c->add_option("--mac", mac, "MAC set through the PF");
    c->add_option("--vlan", vlan, "VLAN id 0..4094 (0: none), enforced by the PF")->check(CLI::Range(0, 4094));
    c->add_option("--qos", qos, "VLAN priority 0..7")->check(CLI::Range(0, 7));
    c->add_option("--proto", proto, "802.1Q | 802.1ad")->check(CLI::IsMember({"802.1Q", "802.1ad", "802.1q"}));
    c->add_option("--spoofchk", spoofchk, "on | off")->check(CLI::IsMember({"on", "off"}));
    c->add_option("--trust", trust, "on | off")->check(CLI::IsMember({"on", "off"}));
    c->add_option("--link-state", link_state, "auto | enable | disable")
        ->check(CLI::IsMember({"auto", "enable", "disable"}));
    c->add_option("--min-tx-rate", min_rate, "Mbit/s (0: none)")->check(CLI::NonNegativeNumber);
    c->add_option("--max-tx-rate", max_rate, "Mbit/s (0: none)")->check(CLI::NonNegativeNumber);
  }
  sriov::VfSettings settings() const {
    sriov::VfSettings v;
    if (!mac.empty()) v.mac = MacAddress::parse(mac, "--mac");
    if (vlan >= 0) v.vlan = static_cast<uint16_t>(vlan);
    if (qos >= 0) v.qos = static_cast<uint8_t>(qos);
    if (!proto.empty()) v.proto = sriov::parse_vlan_proto(proto);
    if (!spoofchk.empty()) v.spoofchk = spoofchk == "on";
    if (!trust.empty()) v.trust = trust == "on";
    if (!link_state.empty()) v.link_state = sriov::parse_link_state(link_state);
    if (min_rate >= 0) v.min_tx_rate = static_cast<uint32_t>(min_rate);
    if (max_rate >= 0) v.max_tx_rate = static_cast<uint32_t>(max_rate);
    return v;
  }
};

void add_sriov_verbs(CLI::App& app) {
  auto* top = app.add_subcommand("sriov", "SR-IOV virtual functions: list, count, hand to namespaces, take back");
  top->require_subcommand(1);
  auto paths = std::make_shared<sriov::Paths>();
  top->add_option("--state-dir", paths->state_dir, "where VF allocations are recorded")->capture_default_str();

  auto out = std::make_shared<Output>();
  auto* list = top->add_subcommand("list", "physical functions, their VFs and the VFs' settings\n  example: ctnet sriov list -o json");
  add_output_option(list, *out);
  list->callback([paths, out] {
    auto host = NsSocket::current();
    auto allocs = sriov::allocations(*paths);
    auto alloc_of = [&](const std::string& pci) -> const sriov::Allocation* {
      for (auto& a : allocs)
        if (a.pci == pci) return &a;
      return nullptr;
    };
    nlohmann::json j = nlohmann::json::array();
    std::string text;
    for (auto& pf : sriov::discover(paths->sysfs)) {
      std::vector<sriov::VfConfig> cfg;
      if (auto l = link::find(host.rtnl, pf.name)) cfg = sriov::read_all(host.rtnl, l->index);
      auto cfg_of = [&](uint32_t vf) -> const sriov::VfConfig* {
        for (auto& c : cfg)
          if (c.vf == vf) return &c;
        return nullptr;
      };
      nlohmann::json pj{{"name", pf.name},
                        {"pci", pf.pci},
                        {"driver", pf.driver},
                        {"total_vfs", pf.total_vfs >= 0 ? nlohmann::json(pf.total_vfs) : nlohmann::json(nullptr)},
                        {"num_vfs", pf.num_vfs},
                        {"vfs", nlohmann::json::array()}};
      text += fmt::format("{} pci {} driver {} vfs {}/{}\n", pf.name, pf.pci, pf.driver, pf.num_vfs,
                          pf.total_vfs >= 0 ? std::to_string(pf.total_vfs) : "?");
      auto vfs = pf.vfs;
      if (vfs.empty())  // no PCI VFs in sysfs (netdevsim): list what the PF reports
        for (auto& c : cfg) vfs.push_back({.index = c.vf});
      if (!vfs.empty())
        text += fmt::format("  {:<3} {:<13} {:<9} {:<11} {:<17} {:<14} {:<8} {:<5} {:<7} {:<9} {}\n", "VF", "PCI",
                            "DRIVER", "NETDEV", "MAC", "VLAN/QOS", "SPOOFCHK", "TRUST", "STATE", "RATE", "ATTACHED");
      for (auto& v : vfs) {
        auto* c = cfg_of(v.index);
        auto* a = alloc_of(v.pci);
        pj["vfs"].push_back(vf_json(v, c, a));
        std::string vlan = c ? (c->vlan ? fmt::format("{}/{}{}", c->vlan, c->qos,
                                                      c->proto == sriov::VlanProto::dot1ad ? " ad" : "")
                                        : "-")
                             : "?";
        text += fmt::format(
            "  {:<3} {:<13} {:<9} {:<11} {:<17} {:<14} {:<8} {:<5} {:<7} {:<9} {}\n", v.index, v.pci.empty() ? "-" : v.pci,
            v.driver.empty() ? "-" : v.driver,
            v.userspace() ? "(userspace)" : v.netdev.value_or("-"), c ? c->mac.str() : "?", vlan,
            c ? onoff(c->spoofchk) : "?", c ? onoff(c->trust) : "?",
            c && c->link_state ? std::string(sriov::to_string(*c->link_state)) : "-",
            c ? fmt::format("{}-{}", c->min_tx_rate, c->max_tx_rate) : "?",
            a ? fmt::format("{}:{}", a->netns, a->name) : "-");
      }
      j.push_back(pj);
    }
    if (out->json())
      fmt::print("{}\n", j.dump(2));
    else
      fmt::print("{}", text.empty() ? "no SR-IOV physical functions\n" : text);
  });

  auto nv = std::make_shared<std::pair<std::string, int>>();
  auto* numvfs = top->add_subcommand("numvfs", "set the number of VFs of PF (0 removes them)\n  example: ctnet sriov numvfs enp3s0f0 4");
  numvfs->add_option("PF", nv->first, "physical function (netdev)")->required();
  numvfs->add_option("N", nv->second, "VF count")->required()->check(CLI::NonNegativeNumber);
  numvfs->callback([paths, nv] {
    sriov::set_numvfs(nv->first, nv->second, *paths);
    auto pf = sriov::pf_by_name(nv->first, paths->sysfs);
    fmt::print("{}: {} of {} VFs\n", pf.name, pf.num_vfs, pf.total_vfs >= 0 ? std::to_string(pf.total_vfs) : "?");
  });

  struct AttachArgs {
    sriov::AttachSpec spec;
    int vf = -1;
    std::string pci, gw;
    std::vector<std::string> addrs;
    std::optional<uint32_t> mtu;
    SettingArgs set;
  };
  auto at = std::make_shared<AttachArgs>();
  auto* attach = top->add_subcommand("attach", "hand a VF of PF to namespace NS, configured through the PF\n  example: ctnet sriov attach ns1 --pf enp3s0f0 --vlan 100 --addr 10.40.0.2/24");
  attach->add_option("NS", at->spec.netns, "target namespace (name, /path or pid:N)")->required();
  attach->add_option("--pf", at->spec.pf, "physical function (netdev)")->required();
  attach->add_option("--vf", at->vf, "VF index (default: the first free VF)")->check(CLI::NonNegativeNumber);
  attach->add_option("--pci", at->pci, "VF PCI address instead of --vf");
  at->set.add_to(attach);
  attach->add_option("--addr", at->addrs, "address CIDR (repeatable)");
  attach->add_option("--gw", at->gw, "default gateway");
  attach->add_option("--mtu", at->mtu, "MTU of the VF netdev (put back on detach)");
  attach->add_option("--name", at->spec.name, "name inside the namespace")->capture_default_str();
  attach->callback([paths, at] {
    auto& s = at->spec;
    if (at->vf >= 0) s.vf = static_cast<uint32_t>(at->vf);
    if (!at->pci.empty()) s.pci = at->pci;
    s.settings = at->set.settings();
    s.addresses = parse_prefixes(at->addrs, "--addr");
    if (!at->gw.empty()) s.gateway = IpAddress::parse(at->gw, "--gw");
    if (at->mtu) {
      bool v6 = std::any_of(s.addresses.begin(), s.addresses.end(), [](const Prefix& p) { return p.address().is_v6(); });
      validate_mtu(*at->mtu, "--mtu", v6);  // 0 too: it is no MTU
      s.mtu = *at->mtu;
    }
    auto a = in_txn([&](kinds::Txn& txn) { return kinds::vf::apply(txn, s, *paths); });
    fmt::print("VF {} of {} ({}, was {}) attached to {} as {}\n", a.vf, a.pf, a.pci, a.host_name, a.netns, a.name);
  });

  struct SetArgs {
    std::string pf;
    int vf = 0;
    SettingArgs set;
  };
  auto st = std::make_shared<SetArgs>();
  auto* set = top->add_subcommand("set", "configure VF N of PF through the PF without moving it (e.g. a DPDK VF)\n  example: ctnet sriov set enp3s0f0 2 --trust on");
  set->add_option("PF", st->pf, "physical function (netdev)")->required();
  set->add_option("VF", st->vf, "VF index")->required()->check(CLI::NonNegativeNumber);
  st->set.add_to(set);
  set->callback([paths, st] {
    auto c = in_txn([&](kinds::Txn& txn) {
      return kinds::vf::configure(txn, st->pf, static_cast<uint32_t>(st->vf), st->set.settings(), *paths);
    });
    fmt::print("VF {} of {}: mac {}, vlan {} qos {} proto {}, spoofchk {}, trust {}, link-state {}, tx rate {}-{}\n",
               c.vf, st->pf, c.mac.str(), c.vlan, c.qos, sriov::to_string(c.proto), onoff(c.spoofchk), onoff(c.trust),
               c.link_state ? std::string(sriov::to_string(*c.link_state)) : "-", c.min_tx_rate, c.max_tx_rate);
  });

  auto dt = std::make_shared<std::pair<std::string, std::string>>();
  auto* detach = top->add_subcommand("detach", "give the VF attached as NAME in NS back to the host, settings restored\n  example: ctnet sriov detach ns1 --name eth0");
  detach->add_option("NS", dt->first, "namespace (may already be deleted)")->required();
  detach->add_option("--name", dt->second, "its name inside the namespace")->required();
  detach->callback([paths, dt] {
    kinds::Txn txn;
    bool done = kinds::vf::release(txn, dt->first, dt->second, *paths);
    fmt::print("{} in {}: {}\n", dt->second, dt->first, done ? "VF released and restored" : "no VF attached");
  });
}

}  // namespace

void add_kind_commands(CLI::App& app) {
  if (wanted("macvlan")) add_subif_verbs(app, ops::SubifKind::macvlan);
  if (wanted("ipvlan")) add_subif_verbs(app, ops::SubifKind::ipvlan);
  if (wanted("sriov")) add_sriov_verbs(app);
}

}  // namespace ctnet::cli
