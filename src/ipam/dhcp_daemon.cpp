#include "ipam/dhcp_daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <set>

#include "ns/netns.h"
#include "util/fd.h"
#include "util/json_get.h"
#include "util/names.h"

namespace ctnet::dhcp {

using nlohmann::json;

// ---- the lease on the wire ----------------------------------------------------------------------------------

json to_json(const Lease& l) {
  json routes = json::array();
  for (const auto& r : l.routes) {
    json o = {{"dst", r.dst.str()}};
    if (r.gw) o["gw"] = r.gw->str();
    routes.push_back(std::move(o));
  }
  json dns = json::array();
  for (const auto& d : l.dns) dns.push_back(d.str());
  json j = {{"address", l.address.str()}, {"routes", routes}, {"dns", dns}, {"domain", l.domain},
            {"server", l.server.str()}, {"t1", l.timers.t1.count()}, {"t2", l.timers.t2.count()},
            {"lease", l.timers.lease.count()}};
  if (l.gateway) j["gateway"] = l.gateway->str();
  return j;
}

Lease lease_from_json(const json& j) {
  auto addr = [](const json& v, const char* what) {
    if (!v.is_string()) throw Error(fmt::format("the DHCP daemon's lease has no valid {}", what));
    auto a = IpAddress::try_parse(v.get<std::string>());
    if (!a) throw Error(fmt::format("the DHCP daemon's lease has no valid {}", what));
    return *a;
  };
  if (!j.is_object()) throw Error("the DHCP daemon sent no lease");
  Lease l;
  auto p = Prefix::try_parse(j.value("address", ""));
  if (!p) throw Error("the DHCP daemon's lease has no valid address");
  l.address = *p;
  if (j.contains("gateway")) l.gateway = addr(j["gateway"], "gateway");
  for (const auto& r : j.value("routes", json::array())) {
    auto dst = Prefix::try_parse(r.value("dst", ""));
    if (!dst) throw Error("the DHCP daemon's lease has a route without a destination");
    LeaseRoute route{*dst, std::nullopt};
    if (r.contains("gw")) route.gw = addr(r["gw"], "route gateway");
    l.routes.push_back(route);
  }
  for (const auto& d : j.value("dns", json::array())) l.dns.push_back(addr(d, "DNS server"));
  l.domain = j.value("domain", "");
  if (j.contains("server")) l.server = addr(j["server"], "server");
  l.timers = {Seconds(j.value("t1", 0)), Seconds(j.value("t2", 0)), Seconds(j.value("lease", 0))};
  return l;
}

// ---- unix sockets ---------------------------------------------------------------------------------------------

namespace {

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), std::min(path.size(), sizeof a.sun_path - 1));
  return a;
}

// A connected socket, or an empty Fd with errno set.
Fd connect_unix(const std::string& path) {
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return s;
  sockaddr_un a = unix_address(path);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return s;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// One line (without its newline), up to 1 MiB; false on a timeout, an error or a peer that closed first.
bool read_line(int fd, std::string& line) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !line.empty() && n == 0;
    line.append(buf, static_cast<size_t>(n));
    if (auto nl = line.find('\n'); nl != std::string::npos) {
      line.resize(nl);
      return true;
    }
    if (line.size() > (1u << 20)) return false;
  }
}

void set_receive_timeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace

json call_daemon(const std::string& socket_path, const json& request) {
  Fd s = connect_unix(socket_path);
  if (!s) throw DaemonUnreachable(fmt::format("cannot reach the DHCP daemon at {}", socket_path), errno);
  // The daemon gives up acquiring after its resend timeout (208 s by default): wait somewhat longer.
  set_receive_timeout(s.get(), 300);
  if (!send_all(s.get(), request.dump() + "\n")) throw Error(fmt::format("cannot send to the DHCP daemon at {}", socket_path), errno);
  std::string line;
  errno = 0;
  if (!read_line(s.get(), line)) {
    if (errno == EAGAIN) throw Error(fmt::format("the DHCP daemon at {} did not answer within 300 s", socket_path));
    throw Error(fmt::format("the DHCP daemon at {} closed the connection without an answer", socket_path));
  }
  json reply = json::parse(line, nullptr, false);
  if (!reply.is_object()) throw Error(fmt::format("the DHCP daemon at {} sent an answer that is not a JSON object", socket_path));
  if (const auto* e = member(reply, "error")) throw Error(e->is_string() ? e->get<std::string>() : e->dump());
  return reply;
}

// ---- the daemon -----------------------------------------------------------------------------------------------

namespace {

struct Attachment {
  std::string container_id, network, ifname;
  auto operator<=>(const Attachment&) const = default;
};

std::string text(const json& r, const char* key) {
  auto v = get_string(r, key);
  if (!v || v->empty()) throw InvalidInput(key, "missing");
  return *v;
}

Attachment attachment_of(const json& r) {
  Attachment a{text(r, "containerID"), text(r, "network"), text(r, "ifname")};
  validate_ifname(a.ifname, "ifname");
  return a;
}

uint8_t option_code(const json& v, const std::string& field) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 254)
    throw InvalidInput(field, "expected an option code 1-254");
  return static_cast<uint8_t>(v.get<int64_t>());
}

class Server {
 public:
  explicit Server(const DaemonOptions& o) : o_(o) {}

  json handle(const json& r) {
    try {
      const std::string op = text(r, "op");
      if (op == "allocate") return allocate(r);
      if (op == "release") return release(r);
      if (op == "check") return check(r);
      if (op == "gc") return gc(r);
      if (op == "status") return json::object();
      throw InvalidInput("op", fmt::format("'{}' is not one of allocate, release, check, gc, status", op));
    } catch (const std::exception& e) {
      return {{"error", e.what()}};
    }
  }

  // Ends every lease's thread without releasing it, and refuses new ones.
  void shutdown() {
    std::map<Attachment, std::shared_ptr<LeaseKeeper>> all;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      all.swap(leases_);
    }
    for (auto& [a, k] : all) k->stop(false);
  }

 private:
  json allocate(const json& r) {
    const Attachment a = attachment_of(r);
    const std::string netns = text(r, "netns");
    if (netns.front() != '/') throw InvalidInput("netns", "must be an absolute path");
    ClientOptions c;
    c.client_id = reference_client_id(a.container_id, a.network, a.ifname);
    c.broadcast = o_.client.broadcast;
    if (const auto* p = get_array(r, "parameters"))
      for (size_t i = 0; i < p->size(); ++i) c.parameter_list.push_back(option_code((*p)[i], fmt::format("parameters[{}]", i)));
    if (const auto* p = get_array(r, "provide"))
      for (size_t i = 0; i < p->size(); ++i) {
        const std::string f = fmt::format("provide[{}]", i);
        const auto& o = (*p)[i];
        auto value = get_string(o, "value", f);
        if (!value || value->size() > 255) throw InvalidInput(f + ".value", "expected a string of up to 255 bytes");
        c.provide.emplace_back(option_code(o.value("code", json()), f + ".code"), *value);
      }

    uint64_t inode = 0;  // a namespace made anew at the same path is another container
    try {
      inode = NetNs::open_path(netns).inode();
    } catch (const Error& e) {
      throw Error(fmt::format("container namespace {} cannot be opened: {}", netns, e.what()));
    }
    std::shared_ptr<LeaseKeeper> k, replaced;
    {
      std::lock_guard lock(mu_);
      if (stopping_) throw Error("the DHCP daemon is stopping");
      auto it = leases_.find(a);
      if (it != leases_.end() && it->second->netns() == netns && !it->second->ended() &&
          (it->second->netns_inode() == inode || it->second->netns_inode() == 0)) {
        k = it->second;  // ADD again: the lease it holds
      } else {
        if (it != leases_.end()) replaced = std::move(it->second);
        k = std::make_shared<LeaseKeeper>(name(a), netns, a.ifname, c, o_.client, o_.log);
        leases_[a] = k;
      }
    }
    if (replaced) replaced->stop(true);  // the same attachment in another namespace: that container is gone (or the lease ended)
    try {
      return {{"lease", to_json(k->wait_bound())}};
    } catch (const Error&) {
      std::lock_guard lock(mu_);
      if (auto it = leases_.find(a); it != leases_.end() && it->second == k) leases_.erase(it);
      throw;
    }
  }

  json release(const json& r) {
    const Attachment a = attachment_of(r);
    std::shared_ptr<LeaseKeeper> k;
    {
      std::lock_guard lock(mu_);
      auto it = leases_.find(a);
      if (it == leases_.end()) return {{"released", false}};
      k = std::move(it->second);
      leases_.erase(it);
    }
    const bool held = k->current().has_value();
    k->stop(true);
    return {{"released", held}};
  }

  json check(const json& r) {
    const Attachment a = attachment_of(r);
    std::shared_ptr<LeaseKeeper> k;
    {
      std::lock_guard lock(mu_);
      if (auto it = leases_.find(a); it != leases_.end()) k = it->second;
    }
    auto l = k ? k->current() : std::nullopt;
    if (!l) return {{"held", false}};
    return {{"held", true}, {"lease", to_json(*l)}};
  }

  json gc(const json& r) {
    const std::string network = text(r, "network");
    std::set<std::pair<std::string, std::string>> valid;
    if (const auto* v = get_array(r, "valid"))
      for (const auto& o : *v) valid.insert({o.value("containerID", ""), o.value("ifname", "")});
    std::vector<std::shared_ptr<LeaseKeeper>> gone;
    {
      std::lock_guard lock(mu_);
      for (auto it = leases_.begin(); it != leases_.end();) {
        if (it->first.network == network && !valid.contains({it->first.container_id, it->first.ifname})) {
          gone.push_back(std::move(it->second));
          it = leases_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& k : gone) k->stop(true);
    return {{"released", gone.size()}};
  }

  static std::string name(const Attachment& a) { return a.container_id + "/" + a.network + "/" + a.ifname; }

  const DaemonOptions& o_;
  std::mutex mu_;
  std::map<Attachment, std::shared_ptr<LeaseKeeper>> leases_;
  bool stopping_ = false;
};

void serve(Server& server, Fd conn) {
  set_receive_timeout(conn.get(), 10);
  std::string line;
  json reply;
  if (!read_line(conn.get(), line)) return;
  json req = json::parse(line, nullptr, false);
  reply = req.is_object() ? server.handle(req) : json{{"error", "the request is not a JSON object"}};
  send_all(conn.get(), reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

// Makes each missing directory of `dir` with mode 0700, as the reference does.
void make_dirs(const std::filesystem::path& dir) {
  if (dir.empty() || std::filesystem::exists(dir)) return;
  make_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw IoError("cannot create " + dir.string(), errno);
}

// The listening socket: systemd's (socket activation), or one made at `path`. `owned`: ours to remove at exit.
Fd listen_on(const std::string& path, bool& owned) {
  const char* fds = std::getenv("LISTEN_FDS");
  const char* pid = std::getenv("LISTEN_PID");
  if (fds && pid && std::atoi(pid) == ::getpid()) {
    if (std::atoi(fds) != 1) throw Error(fmt::format("socket activation passed {} sockets; the daemon serves one", fds));
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_PID");
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    owned = false;
    return Fd(3);
  }
  if (path.empty() || path.front() != '/') throw InvalidInput("--socket", fmt::format("'{}' is not an absolute path", path));
  if (path.size() > kMaxSocketPath)
    throw InvalidInput("--socket", fmt::format("'{}' is longer than a unix socket path can be ({} bytes)", path, kMaxSocketPath));
  make_dirs(std::filesystem::path(path).parent_path());
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw Error(fmt::format("{} exists and is not a socket", path));
    if (connect_unix(path)) throw Error(fmt::format("another DHCP daemon is listening on {}", path));
    ::unlink(path.c_str());  // a socket left by a daemon that was killed
  }
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("cannot create a unix socket");
  sockaddr_un a = unix_address(path);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw_errno("cannot bind " + path);
  owned = true;
  // Only root may talk to it: the daemon enters whatever namespace a request names.
  ::chmod(path.c_str(), 0600);
  if (::listen(s.get(), 64) != 0) throw_errno("cannot listen on " + path);
  return s;
}

}  // namespace

void run_daemon(const DaemonOptions& options) {
  DaemonOptions o = options;
  if (!o.log) o.log = [](const std::string&) {};
  // SIGTERM and SIGINT arrive through a signalfd; every thread made from here on has them blocked.
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  Fd sig(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (!sig) throw_errno("cannot create a signalfd");

  bool owned = false;
  Fd listener = listen_on(o.socket_path, owned);
  if (!o.pidfile.empty()) {
    const std::string pid = std::to_string(::getpid()) + "\n";
    Fd f(::open(o.pidfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!f || ::write(f.get(), pid.data(), pid.size()) != static_cast<ssize_t>(pid.size()))
      throw IoError("cannot write the pid file " + o.pidfile, errno);
  }
  o.log(fmt::format("serving the dhcp IPAM plugin on {}", owned ? o.socket_path : "the socket systemd passed"));

  Server server(o);
  std::mutex mu;
  std::condition_variable idle;
  int active = 0;
  for (;;) {
    pollfd fds[2] = {{listener.get(), POLLIN, 0}, {sig.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot wait for requests");
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info{};
      (void)!::read(sig.get(), &info, sizeof info);  // consumed: it must not strike once the mask is restored
      o.log(fmt::format("{} received", strsignal(static_cast<int>(info.ssi_signo))));
      break;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    int c = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) o.log(fmt::format("accept: {}", std::strerror(errno)));
      continue;
    }
    {
      std::lock_guard lock(mu);
      ++active;
    }
    // A connection of its own thread: acquiring a lease can take the resend timeout, and must not hold up others.
    std::thread([&server, &mu, &idle, &active, c] {
      serve(server, Fd(c));
      std::lock_guard lock(mu);
      --active;
      idle.notify_all();
    }).detach();
  }

  o.log("stopping; the leases stay with their DHCP servers until they expire");
  listener.reset();
  if (owned) ::unlink(o.socket_path.c_str());
  if (!o.pidfile.empty()) ::unlink(o.pidfile.c_str());
  server.shutdown();
  std::unique_lock lock(mu);
  idle.wait(lock, [&] { return active == 0; });
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

}  // namespace ctnet::dhcp
