// `ctnet explain SRC DST`: the path walk (explain/explain.h) and, with --probe, its proof (explain/probe.h).
// Here only the arguments: SRC/DST as namespaces (NAME, /path, pid:N) or LAB/NODE, DST also an address.
#include <fmt/format.h>

#include <linux/rtnetlink.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "addr/address.h"
#include "cli/commands.h"
#include "explain/explain.h"
#include "explain/probe.h"
#include "ns/ns_socket.h"
#include "topology/model.h"
#include "topology/state.h"
#include "util/error.h"

namespace ctnet::cli {

namespace {

struct Place {
  NetNs ns;
  std::string label;
  std::vector<std::string> lab_names;  // the lab's namespaces, when named as LAB/NODE
};

// "LAB/NODE" of a lab that is up (its record), else a namespace argument (NetnsArg: NAME, /path, pid:N).
Place resolve(const std::string& spec, const char* field) {
  auto slash = spec.find('/');
  if (slash != std::string::npos && slash > 0 && slash + 1 < spec.size() && spec.find('/', slash + 1) == std::string::npos &&
      !spec.starts_with("pid:")) {
    std::string lab = spec.substr(0, slash), node = spec.substr(slash + 1);
    if (topo::Record::exists(lab)) {
      auto rec = topo::Record::load(lab);
      topo::Topology t = topo::from_json(rec->spec());
      std::vector<std::string> names;
      for (auto& n : t.namespaces) names.push_back(n.name);
      if (node == topo::kHostNs) {
        const std::string& h = rec->host().spec;
        return {h.empty() ? NetNs::current() : NetNs::open(h, field), spec, names};
      }
      const topo::Namespace* ns = t.find_ns(node);
      if (!ns)
        for (auto& n : t.namespaces)
          if (n.name.ends_with("-" + node)) ns = &n;  // a lab brought up with --prefix
      if (!ns) throw InvalidInput(field, fmt::format("lab '{}' has no namespace '{}'", lab, node));
      return {NetNs::open_named(ns->name), spec, names};
    }
  }
  if (spec == topo::kHostNs && !NetNs::exists(spec)) return {NetNs::current(), spec, {}};  // the one ctnet runs in
  NetnsArg a = NetnsArg::parse(spec, field);
  if (!a.exists()) throw InvalidInput(field, fmt::format("namespace '{}' does not exist", spec));
  return {a.open(), a.short_name(), {}};
}

// The first address of a namespace: global IPv4 first, else a global IPv6 one (no loopback, no link-local).
IpAddress first_address(const NetNs& ns, const std::string& spec, const char* field) {
  NsSocket s = NsSocket::of(NetNs::open_path(fmt::format("/proc/self/fd/{}", ns.fd())));
  std::optional<IpAddress> v6;
  for (auto& a : addr::list(s.rtnl)) {
    const IpAddress& ip = a.prefix.address();
    if (a.scope >= RT_SCOPE_LINK) continue;  // host (127/8, ::1) and link-local
    if (ip.is_v4()) return ip;
    if (!v6) v6 = ip;
  }
  if (v6) return *v6;
  throw InvalidInput(field, fmt::format("namespace '{}' has no global address to aim at (give an address)", spec));
}

}  // namespace

void add_explain_command(CLI::App& app) {
  if (!wanted("explain")) return;
  struct Args {
    std::string src, dst, proto = "icmp";
    int port = 0, size = 0;
    bool probe = false;
    Output out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "explain", "the path a packet takes from SRC to DST, hop by hop with the kernel's own decisions, and where it stops\n"
                 "  example: ctnet explain ns1 10.0.2.3 --proto tcp --port 80; ctnet explain lab/a lab/b --probe");
  cmd->add_option("SRC", a->src, "namespace (name, /path, pid:N, `host`) or LAB/NODE")->required();
  cmd->add_option("DST", a->dst, "address, or namespace / LAB/NODE (its first address)")->required();
  cmd->add_option("--proto", a->proto, "icmp | tcp | udp")->check(CLI::IsMember({"icmp", "tcp", "udp"}));
  cmd->add_option("--port", a->port, "destination port (tcp, udp)")->check(CLI::Range(1, 65535));
  cmd->add_option("--size", a->size, "packet size in bytes (IP header included), sent with DF")->check(CLI::Range(1, 65535));
  cmd->add_flag("--probe", a->probe, "send one marked probe and watch the kernel drop or deliver it (tracefs, nftrace)");
  add_output_option(cmd, a->out);
  cmd->callback([a] {
    explain::Request r{.src = NetNs::current()};
    Place src = resolve(a->src, "SRC");
    r.src = std::move(src.ns);
    r.src_label = src.label;
    r.hint_names = src.lab_names;
    if (auto ip = IpAddress::try_parse(a->dst)) {
      r.dst = *ip;
    } else {
      Place d = resolve(a->dst, "DST");
      r.dst = first_address(d.ns, a->dst, "DST");
      r.dst_ns = std::move(d.ns);
      for (auto& n : d.lab_names) r.hint_names.push_back(n);
    }
    r.proto = a->proto == "tcp" ? explain::Proto::tcp : a->proto == "udp" ? explain::Proto::udp : explain::Proto::icmp;
    if (r.proto != explain::Proto::icmp && !a->port) throw InvalidInput("--port", "--proto " + a->proto + " needs a destination port");
    if (r.proto == explain::Proto::icmp && a->port) throw InvalidInput("--port", "ICMP has no ports (use --proto tcp|udp)");
    r.port = static_cast<uint16_t>(a->port);
    r.size = static_cast<uint32_t>(a->size);
    std::optional<explain::ProbeResult> pr;
    explain::Result res;
    if (a->probe) {
      explain::prepare_probe(r);  // the probe's own ports / echo id, so the walk evaluates the very packet
      res = explain::walk(r);
      pr = explain::probe(r, res);
    } else {
      res = explain::walk(r);
    }
    if (a->out.json()) {
      nlohmann::json j = explain::to_json(res);
      j["source"] = r.src_label;
      j["destination"] = r.dst.str();
      if (pr) j["probe"] = explain::to_json(*pr);
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << explain::render(res, r.dst);
      if (pr) std::cout << explain::render(*pr);
    }
    if (!res.reaches) throw Error(fmt::format("{} does not reach {}", r.src_label, r.dst.str()));
  });
}

}  // namespace ctnet::cli
