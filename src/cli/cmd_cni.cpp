// Services for ctnet's CNI plugins: `ctnet cni dhcp-daemon`, the daemon the dhcp IPAM plugin asks for leases.
// Parsing and printing only; the daemon is ipam/dhcp_daemon.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

#include "cli/commands.h"
#include "ipam/dhcp_daemon.h"
#include "util/error.h"

namespace ctnet::cli {
namespace {

// A duration as Go writes them and the reference's flags take them ("10s", "1m30s", "500ms", "2h"); a plain
// number is seconds.
dhcp::Millis parse_duration(const std::string& text, const char* field) {
  using namespace std::chrono;
  auto bad = [&] { return InvalidInput(field, fmt::format("'{}' is not a duration (10s, 500ms, 1m30s)", text)); };
  if (text.empty()) throw bad();
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    if (text.size() > 9) throw bad();
    return seconds(std::stoll(text));
  }
  double total_ms = 0;
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i || j - i > 12) throw bad();
    const double n = std::stod(text.substr(i, j - i));
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string unit = text.substr(j, k - j);
    const double scale = unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : -1;
    if (scale < 0) throw bad();
    total_ms += n * scale;
    i = k;
  }
  if (total_ms < 1 || total_ms > 1e10) throw bad();
  return dhcp::Millis(static_cast<int64_t>(total_ms));
}

struct DaemonArgs {
  std::string socket = dhcp::kDefaultSocketPath, pidfile, timeout = "10s", resend_max = "62s", resend_timeout = "208s";
  bool broadcast = false;
};

}  // namespace

void add_cni_commands(CLI::App& app) {
  if (!wanted("cni")) return;
  auto* top = app.add_subcommand("cni", "services for ctnet's CNI plugins");
  top->require_subcommand(1);

  auto a = std::make_shared<DaemonArgs>();
  auto* d = top->add_subcommand(
      "dhcp-daemon",
      "serve the dhcp IPAM plugin: acquire, renew and release DHCP leases inside the containers' namespaces\n"
      "  example: ctnet cni dhcp-daemon --socket /run/cni/dhcp.sock --timeout 5s");
  d->add_option("--socket", a->socket, "unix socket the plugin connects to (the IPAM key daemonSocketPath)")->capture_default_str();
  d->add_option("--pidfile", a->pidfile, "write the daemon's pid to this file");
  d->add_flag("--broadcast", a->broadcast, "ask DHCP servers to broadcast their answers (the BROADCAST flag)");
  d->add_option("--timeout", a->timeout, "how long one DHCP message waits for its answer")->capture_default_str();
  d->add_option("--resend-max", a->resend_max, "the longest wait between two attempts to acquire a lease")->capture_default_str();
  d->add_option("--resend-timeout", a->resend_timeout, "give up acquiring a lease after this long")->capture_default_str();
  d->callback([a] {
    dhcp::DaemonOptions o;
    o.socket_path = a->socket;
    o.pidfile = a->pidfile;
    o.client.broadcast = a->broadcast;
    o.client.timeout = parse_duration(a->timeout, "--timeout");
    o.client.resend_max = parse_duration(a->resend_max, "--resend-max");
    o.client.resend_timeout = parse_duration(a->resend_timeout, "--resend-timeout");
    auto mu = std::make_shared<std::mutex>();
    o.log = [mu](const std::string& line) {
      const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
      std::lock_guard lock(*mu);
      fmt::print(stderr, "{:%Y-%m-%d %H:%M:%S} {}\n", now, line);
      std::fflush(stderr);
    };
    dhcp::run_daemon(o);
  });
}

}  // namespace ctnet::cli
