#include "node/agent.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "node/dataplane.h"
#include "util/error.h"
#include "util/paths.h"

namespace ctnet::node {

using nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

void log(const std::string& msg) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  char when[32];
  std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&ts.tv_sec));
  std::fprintf(stderr, "%s.%03ld ctnet node: %s\n", when, ts.tv_nsec / 1000000, msg.c_str());
  std::fflush(stderr);
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string state_dir_of(const AgentOptions& o) {
  return o.state_dir.empty() ? "/var/lib/ctnet/node/" + o.network : o.state_dir;
}

// What a node keeps between runs: its name, its subnet index and lease, the devices it made.
struct State {
  std::string node;
  int64_t index = -1;
  int64_t lease = 0;
  std::string backend, device, underlay;
  json to_json() const { return {{"node", node}, {"index", index}, {"lease", lease}, {"backend", backend}, {"device", device}, {"underlay", underlay}}; }
  static std::optional<State> load(const std::string& dir) {
    std::ifstream f(dir + "/state.json");
    if (!f) return std::nullopt;
    auto j = json::parse(f, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    State s;
    s.node = j.value("node", "");
    s.index = j.value("index", int64_t{-1});
    s.lease = j.value("lease", int64_t{0});
    s.backend = j.value("backend", "");
    s.device = j.value("device", "");
    s.underlay = j.value("underlay", "");
    return s;
  }
  void save(const std::string& dir) const { write_file_replacing(dir + "/state.json", to_json().dump() + "\n"); }
};

NetworkConfig load_config(etcd::Client& c, const std::string& network) {
  auto r = c.get(config_key(network));
  if (r.kvs.empty()) throw InvalidInput("NETWORK", fmt::format("network '{}' is not in etcd: run `ctnet node init {}` first", network, network));
  auto j = json::parse(r.kvs[0].value, nullptr, false);
  return NetworkConfig::from_json(j);
}

std::optional<IpAddress> address_in_url(const std::string& url) {
  auto start = url.find("://");
  std::string host = url.substr(start == std::string::npos ? 0 : start + 3);
  if (host.starts_with('[')) return IpAddress::try_parse(host.substr(1, host.find(']') - 1));
  return IpAddress::try_parse(host.substr(0, host.find(':')));
}

// The nodes in etcd, by subnet index: each record with its lease and the value as stored.
struct Held {
  NodeRecord record;
  int64_t lease = 0;
  std::string value;
};
using Nodes = std::map<int64_t, Held>;
Nodes read_nodes(etcd::Client& c, const std::string& network, int64_t* revision) {
  auto r = c.get_prefix(subnets_prefix(network));
  if (revision) *revision = r.revision;
  Nodes out;
  for (const auto& kv : r.kvs) {
    auto i = index_of_key(network, kv.key);
    auto rec = NodeRecord::from_json(kv.value);
    if (i && rec) out[*i] = {*rec, kv.lease, kv.value};
  }
  return out;
}

// Takes a subnet index for `self` under `lease`: the remembered one while it is free or still ours, else the
// first free one; one transaction per attempt (create_revision == 0), so two nodes never hold the same index.
int64_t acquire(etcd::Client& c, const std::string& network, const NetworkConfig& net, NodeRecord& self, int64_t lease,
                int64_t remembered) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto nodes = read_nodes(c, network, nullptr);
    std::vector<int64_t> candidates;
    if (remembered >= 0 && remembered < net.subnet_count()) candidates.push_back(remembered);
    for (const auto& [i, n] : nodes)
      if (n.record.node == self.node && i != remembered) candidates.insert(candidates.begin(), i);  // ours already
    for (int64_t i = 0; i < net.subnet_count(); ++i)
      if (!nodes.count(i)) {
        candidates.push_back(i);
        break;
      }
    bool raced = false;
    for (int64_t i : candidates) {
      auto held = nodes.find(i);
      if (held != nodes.end() && held->second.record.node != self.node) continue;
      self.subnets = net.subnets(i);
      etcd::Compare cmp{.key = subnet_key(network, i), .target = etcd::Compare::Target::create_revision, .number = 0};
      if (held != nodes.end())  // ours from an earlier run (its old lease may still live): taken over as it is
        cmp = {.key = subnet_key(network, i), .target = etcd::Compare::Target::value, .value = held->second.value};
      auto r = c.txn({cmp}, {{.type = etcd::Request::Type::put, .key = subnet_key(network, i), .value = self.to_json().dump(), .lease = lease}});
      if (r.succeeded) return i;
      raced = true;
    }
    if (!raced) throw Exhausted(fmt::format("network '{}' has no free subnet: all {} are leased", network, net.subnet_count()));
  }
  throw Exhausted(fmt::format("network '{}': could not take a subnet after 100 tries (too many nodes racing)", network));
}

std::string first_found(const std::string& dirs, const std::string& name) {
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    std::string d = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!d.empty() && ::access((d + "/" + name).c_str(), X_OK) == 0) return d;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

// The runtimes' view of this node: a conflist (bridge + host-local on the node's subnets, portmap when the plugin
// is there), a loopback conf when that plugin is there, and a subnet env file like flannel's.
void write_local_config(const AgentOptions& o, const NetworkConfig& net, const NodeRecord& self, uint32_t mtu) {
  const std::string dir = state_dir_of(o);
  std::string env = fmt::format("NETWORK={}\n", net.cidrs[0].str());
  json ranges = json::array(), routes = json::array();
  for (size_t i = 0; i < self.subnets.size(); ++i) {
    const Prefix& s = self.subnets[i];
    ranges.push_back(json::array({{{"subnet", s.network().str()}}}));
    routes.push_back({{"dst", s.family() == AF_INET ? "0.0.0.0/0" : "::/0"}});
    const bool v4 = s.family() == AF_INET;
    env += fmt::format("{}SUBNET={}\n", v4 ? "" : "IPV6_", s.host(1).str());
    if (!v4) env += fmt::format("IPV6_NETWORK={}\n", net.cidrs[i].str());
  }
  env += fmt::format("MTU={}\nIPMASQ=false\n", mtu);
  write_file_replacing(dir + "/subnet.env", env);
  if (o.cni_conf_dir.empty()) return;
  json plugins = json::array({{{"type", "bridge"}, {"bridge", o.bridge}, {"isGateway", true}, {"isDefaultGateway", true},
                               {"hairpinMode", true}, {"mtu", mtu},
                               {"ipam", {{"type", "host-local"}, {"ranges", ranges}, {"routes", routes}}}}});
  if (!first_found(o.cni_bin_dir, "portmap").empty())
    plugins.push_back({{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}});
  json conf = {{"cniVersion", "1.0.0"}, {"name", o.network}, {"plugins", plugins}};
  make_dirs(o.cni_conf_dir);
  write_file_replacing(o.cni_conf_dir + "/10-ctnet-" + o.network + ".conflist", conf.dump(2) + "\n");
  if (!first_found(o.cni_bin_dir, "loopback").empty())
    write_file_replacing(o.cni_conf_dir + "/99-loopback.conf",
                         json{{"cniVersion", "1.0.0"}, {"name", "lo"}, {"type", "loopback"}}.dump(2) + "\n");
}

class Agent {
 public:
  explicit Agent(const AgentOptions& o) : o_(o), dir_(state_dir_of(o)), client_(o.etcd) {}

  int run() {
    make_dirs(dir_);
    auto remembered = State::load(dir_);
    net_ = with_retry("read the network's configuration", [&] { return load_config(client_, o_.network); });
    const auto towards = o_.etcd.endpoints.empty() ? std::nullopt : address_in_url(o_.etcd.endpoints[0]);
    underlay_ = find_underlay(o_.iface, towards);
    plane_ = std::make_unique<Dataplane>(net_, underlay_);
    self_.node = o_.node_name.empty() ? host_name() : o_.node_name;
    self_.underlay = underlay_.address;
    self_.underlay_addresses = {underlay_.address};
    if (underlay_.other_family) self_.underlay_addresses.push_back(*underlay_.other_family);
    self_.backend = net_.backend;
    self_.vtep_mac = plane_->setup();
    state_.node = self_.node;
    state_.backend = std::string(to_string(net_.backend));
    state_.device = plane_->device();
    state_.underlay = underlay_.ifname;
    take_lease(remembered ? remembered->index : -1);
    std::thread keeper([this] { keep_alive_loop(); });
    watch_loop();
    {
      std::lock_guard l(mu_);
      cv_.notify_all();
    }
    keeper.join();
    log("stopped; the kernel's state and the lease stay (`ctnet node leave` removes them)");
    return 0;
  }

 private:
  template <class F>
  auto with_retry(const std::string& what, F f) -> decltype(f()) {
    for (int delay = 1;; delay = std::min(delay * 2, 10)) {
      try {
        return f();
      } catch (const etcd::Unavailable& e) {
        if (g_stop) throw;
        log(fmt::format("cannot {} (etcd unreachable: {}); again in {} s", what, e.what(), delay));
        health("etcd unreachable");
        for (int i = 0; i < delay * 10 && !g_stop; ++i) ::usleep(100000);
        if (g_stop) throw;
      }
    }
  }

  void take_lease(int64_t remembered) {
    std::lock_guard l(mu_);
    with_retry("lease a subnet", [&] {
      state_.lease = client_.grant(o_.ttl);
      state_.index = acquire(client_, o_.network, net_, self_, state_.lease, remembered);
      return 0;
    });
    state_.save(dir_);
    plane_->set_own_subnets(self_.subnets);
    write_local_config(o_, net_, self_, plane_->pod_mtu());
    std::string subnets;
    for (const auto& s : self_.subnets) subnets += (subnets.empty() ? "" : ", ") + s.str();
    log(fmt::format("node {} holds subnet {} ({}) with lease {:x}", self_.node, state_.index, subnets, state_.lease));
  }

  // Refreshes the lease every TTL/3; a lease that is gone (revoked, or expired while etcd was unreachable) is
  // taken again, the same subnet when it is still free. etcd being unreachable changes nothing in the kernel.
  void keep_alive_loop() {
    const auto period = std::chrono::milliseconds(std::max(1000, o_.ttl * 1000 / 3));
    std::unique_lock l(mu_);
    while (!g_stop) {
      cv_.wait_for(l, period, [] { return g_stop.load(); });
      if (g_stop) break;
      const int64_t lease = state_.lease;
      l.unlock();
      try {
        client_.keep_alive(lease);
      } catch (const etcd::Refused& e) {
        log(fmt::format("lease {:x} is gone ({}): leasing again", lease, e.what()));
        try {
          take_lease(state_.index);
        } catch (const std::exception& x) {
          log(fmt::format("cannot lease again: {}", x.what()));
        }
      } catch (const etcd::Unavailable& e) {
        log(fmt::format("cannot refresh lease {:x} (etcd unreachable: {}); the data plane stays", lease, e.what()));
        health("etcd unreachable");
      } catch (const std::exception& e) {
        log(fmt::format("lease refresh failed: {}", e.what()));
      }
      l.lock();
    }
  }

  void apply(const Nodes& nodes) {
    std::vector<NodeRecord> peers;
    for (const auto& [i, n] : nodes)
      if (n.record.node != self_.node) peers.push_back(n.record);
    auto st = plane_->reconcile(peers);
    for (const auto& r : st.refused) log("peer refused: " + r);
    if (st.changes())
      log(fmt::format("{} peers: {} added, {} changed, {} removed, {} unchanged", peers.size(), st.added, st.changed,
                      st.removed, st.unchanged));
    peers_ = peers.size();
    health("ok");
  }

  // Reads every node, reconciles the kernel with them, then follows the changes from that revision. A compacted
  // revision means reading everything again; an unreachable etcd means waiting (the kernel keeps its state).
  void watch_loop() {
    while (!g_stop) {
      int64_t revision = 0;
      Nodes nodes;
      try {
        nodes = with_retry("read the nodes", [&] { return read_nodes(client_, o_.network, &revision); });
      } catch (const etcd::Unavailable&) {
        break;  // stopping
      }
      apply(nodes);
      if (!synced_) {
        synced_ = true;
        log(fmt::format("in sync with {} peers, {} ms after start, {} etcd requests", peers_,
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count(),
                        client_.requests()));
      }
      try {
        client_.watch(subnets_prefix(o_.network), revision + 1,
                      [&](const std::vector<etcd::Event>& events, int64_t) {
                        for (const auto& e : events) {
                          auto i = index_of_key(o_.network, e.kv.key);
                          if (!i) continue;
                          if (e.type == etcd::Event::Type::del) {
                            nodes.erase(*i);
                          } else if (auto rec = NodeRecord::from_json(e.kv.value)) {
                            nodes[*i] = {*rec, e.kv.lease, e.kv.value};
                          }
                        }
                        apply(nodes);
                        return !g_stop;
                      },
                      g_stop);
      } catch (const etcd::Compacted& e) {
        log(fmt::format("watch revision compacted ({}): reading all nodes again", e.compact_revision()));
      } catch (const etcd::Unavailable& e) {
        log(fmt::format("watch lost (etcd unreachable: {}); the data plane stays", e.what()));
        health("etcd unreachable");
        for (int i = 0; i < 20 && !g_stop; ++i) ::usleep(100000);
      }
    }
  }

  void health(const std::string& etcd_state) {
    json h = {{"node", self_.node}, {"etcd", etcd_state}, {"endpoint", client_.endpoint()}, {"lease", state_.lease},
              {"index", state_.index}, {"peers", peers_}, {"time", std::time(nullptr)}};
    try {
      write_file_replacing(dir_ + "/health.json", h.dump() + "\n");
    } catch (const std::exception&) {
    }
  }

  const AgentOptions& o_;
  std::string dir_;
  etcd::Client client_;
  NetworkConfig net_;
  Underlay underlay_;
  std::unique_ptr<Dataplane> plane_;
  NodeRecord self_;
  State state_;
  size_t peers_ = 0;
  bool synced_ = false;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace

std::string init(const InitOptions& o) {
  validate_network_name(o.network);
  o.config.validate();
  etcd::Client c(o.etcd);
  const std::string key = config_key(o.network);
  const std::string value = o.config.to_json().dump();
  auto r = c.txn({{.key = key, .target = etcd::Compare::Target::create_revision, .number = 0}},
                 {{.type = etcd::Request::Type::put, .key = key, .value = value}}, {{.type = etcd::Request::Type::get, .key = key}});
  if (r.succeeded) return fmt::format("network {} initialized: {}", o.network, value);
  const std::string have = r.gets.empty() || r.gets[0].kvs.empty() ? "" : r.gets[0].kvs[0].value;
  if (json::parse(have, nullptr, false) == json::parse(value)) return fmt::format("network {} is initialized already, the same", o.network);
  if (!o.force)
    throw Conflict(fmt::format("network {} exists with another configuration ({}); --force replaces it", o.network, have));
  c.put(key, value);
  return fmt::format("network {} replaced: {}", o.network, value);
}

int run(const AgentOptions& o) {
  validate_network_name(o.network);
  if (o.ttl < 2 || o.ttl > 3600) throw InvalidInput("--ttl", "must be 2..3600 seconds");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  Agent a(o);
  return a.run();
}

std::string leave(const AgentOptions& o) {
  validate_network_name(o.network);
  const std::string dir = state_dir_of(o);
  auto st = State::load(dir);
  if (!st) return fmt::format("this node holds nothing of network {} (no {}/state.json)", o.network, dir);
  etcd::Client c(o.etcd);
  std::string out;
  if (st->lease) c.revoke(st->lease);
  // The key goes with its lease; a key of ours under another lease (an agent restarted meanwhile) goes too.
  if (st->index >= 0) {
    auto r = c.get(subnet_key(o.network, st->index));
    if (!r.kvs.empty())
      if (auto rec = NodeRecord::from_json(r.kvs[0].value); rec && rec->node == st->node) c.del(subnet_key(o.network, st->index));
  }
  out += fmt::format("released subnet {} of network {}", st->index, o.network);
  NetworkConfig net;
  net.backend = st->backend == "host-gw" ? Backend::host_gw : Backend::vxlan;
  if (net.backend == Backend::vxlan && st->device.starts_with("ctnet.")) net.vni = static_cast<uint32_t>(std::stoul(st->device.substr(6)));
  net.cidrs = {Prefix::parse("10.0.0.0/8", "cidr")};  // only the device and our routes matter here
  Underlay u;
  u.ifname = st->underlay;
  Dataplane(net, u).teardown();
  out += fmt::format("; removed {} and the routes of protocol {}", net.backend == Backend::vxlan ? st->device : "nothing", kRouteProtocol);
  for (const char* f : {"/state.json", "/health.json", "/subnet.env"}) ::unlink((dir + f).c_str());
  if (!o.cni_conf_dir.empty()) ::unlink((o.cni_conf_dir + "/10-ctnet-" + o.network + ".conflist").c_str());
  return out;
}

std::string status(const AgentOptions& o, bool as_json) {
  validate_network_name(o.network);
  etcd::Client c(o.etcd);
  auto net = load_config(c, o.network);
  auto nodes = read_nodes(c, o.network, nullptr);
  json list = json::array();
  for (const auto& [i, n] : nodes) {
    json j = n.record.to_json();
    j["index"] = i;
    j["leaseTTL"] = n.lease ? c.time_to_live(n.lease) : -1;
    list.push_back(j);
  }
  json out = {{"network", o.network}, {"config", net.to_json()}, {"nodes", list}};
  // This node: when its state dir is here, compare the kernel with etcd without changing anything.
  if (auto st = State::load(state_dir_of(o))) {
    std::vector<NodeRecord> peers;
    for (const auto& [i, n] : nodes)
      if (n.record.node != st->node) peers.push_back(n.record);
    try {
      Underlay u = find_underlay(st->underlay, std::nullopt);
      auto d = Dataplane(net, u).reconcile(peers, /*dry_run=*/true);
      out["local"] = {{"node", st->node}, {"index", st->index}, {"kernelMatches", !d.changes()},
                      {"missingOrDiffering", d.added + d.changed}, {"stale", d.removed}};
    } catch (const std::exception& e) {
      out["local"] = {{"node", st->node}, {"error", e.what()}};
    }
  }
  if (as_json) return out.dump(2);
  std::string text = fmt::format("network {}: {} backend {}, subnets /{}{}\n", o.network, net.cidrs[0].str(),
                                 to_string(net.backend), net.subnet_len,
                                 net.cidrs.size() > 1 ? fmt::format(" and {} /{}", net.cidrs[1].str(), net.subnet_len6) : "");
  text += fmt::format("{:<6} {:<20} {:<34} {:<16} {:<18} {}\n", "INDEX", "NODE", "SUBNETS", "UNDERLAY", "VTEP MAC", "LEASE TTL");
  for (const auto& j : list) {
    std::string subnets, underlay = j["underlay"].get<std::string>();
    for (const auto& s : j["subnets"]) subnets += (subnets.empty() ? "" : ",") + s.get<std::string>();
    if (j.contains("underlayAddresses")) {
      underlay.clear();
      for (const auto& u : j["underlayAddresses"]) underlay += (underlay.empty() ? "" : ",") + u.get<std::string>();
    }
    text += fmt::format("{:<6} {:<20} {:<34} {:<16} {:<18} {}s\n", j["index"].get<int64_t>(), j["node"].get<std::string>(), subnets,
                        underlay, j.value("vtepMac", "-"), j["leaseTTL"].get<int64_t>());
  }
  if (out.contains("local")) {
    const auto& l = out["local"];
    if (l.contains("error")) text += fmt::format("this node ({}): {}\n", l["node"].get<std::string>(), l["error"].get<std::string>());
    else text += fmt::format("this node ({}): kernel {}\n", l["node"].get<std::string>(),
                             l["kernelMatches"].get<bool>() ? "matches etcd" : fmt::format("differs from etcd: {} missing or differing, {} stale",
                                                                                             l["missingOrDiffering"].get<int>(), l["stale"].get<int>()));
  }
  return text;
}

}  // namespace ctnet::node
