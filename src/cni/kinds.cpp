#include "cni/kinds.h"

#include <fcntl.h>
#include <signal.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cni/framework.h"
#include "util/json_get.h"
#include "ipam/host_local.h"
#include "nft/firewall.h"
#include "nft/portmap.h"
#include "util/error.h"

extern char** environ;

namespace ctnet::cni {

using nlohmann::json;

// ---- ipam --------------------------------------------------------------------------------------------------

json to_json(const IpamExec& x) {
  return {{"type", x.type}, {"cni_path", x.cni_path}, {"conf", x.conf},
          {"container_id", x.container_id}, {"netns", x.netns}, {"ifname", x.ifname}};
}

IpamExec ipam_exec_from_json(const json& j) {
  return {j.value("type", ""), j.value("cni_path", ""), j.value("conf", ""),
          j.value("container_id", ""), j.value("netns", ""), j.value("ifname", "")};
}

Result exec_ipam(const IpamExec& x, std::string_view command) {
  std::string path;
  std::string_view dirs = x.cni_path;
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string candidate = std::string(dirs.substr(0, colon)) + "/" + x.type;
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    if (::access(candidate.c_str(), X_OK) == 0) {
      path = candidate;
      break;
    }
  }
  if (path.empty()) bad_config("ipam.type", fmt::format("IPAM plugin '{}' not found in CNI_PATH {}", x.type, x.cni_path));

  // The caller's environment (CNI_ARGS and the rest) with the attachment's variables from the record (those it
  // has: GC and STATUS have none, DEL may lack CNI_NETNS).
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string_view v = *e;
    bool ours = false;
    for (std::string_view k : {"CNI_COMMAND=", "CNI_CONTAINERID=", "CNI_NETNS=", "CNI_IFNAME=", "CNI_PATH="})
      ours = ours || v.starts_with(k);
    if (!ours) envs.emplace_back(v);
  }
  envs.push_back("CNI_COMMAND=" + std::string(command));
  for (auto [k, v] : {std::pair{"CNI_CONTAINERID=", &x.container_id}, std::pair{"CNI_NETNS=", &x.netns},
                      std::pair{"CNI_IFNAME=", &x.ifname}, std::pair{"CNI_PATH=", &x.cni_path}})
    if (!v->empty()) envs.push_back(k + *v);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw CniError(kIoFailure, "cannot create pipes");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw CniError(kIoFailure, "cannot create pipes");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  // A plugin that exits without reading its stdin must not kill us with SIGPIPE (the runtime gets a JSON error,
  // never a signal): ignored here, at its default again in the child.
  ::signal(SIGPIPE, SIG_IGN);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &pipe_set);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  std::string argv0 = x.type;
  char* argv[] = {argv0.data(), nullptr};
  int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    throw CniError(kIoFailure, fmt::format("cannot execute {}: {}", path, std::strerror(rc)));
  }
  // Configurations are small (well below the pipe buffer), so writing all before reading cannot deadlock.
  size_t off = 0;
  while (off < x.conf.size()) {
    ssize_t n = ::write(in[1], x.conf.data() + off, x.conf.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(in[1]);
  std::string output;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  json j = json::parse(output, nullptr, false);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (!j.is_discarded() && j.is_object() && j.contains("code"))
      throw CniError(j.value("code", kPluginFailure), fmt::format("{}: {}", x.type, j.value("msg", std::string())),
                     j.value("details", std::string()));
    throw CniError(kPluginFailure, fmt::format("IPAM plugin {} failed: {}", x.type, output));
  }
  if (command != "ADD") return {};
  if (j.is_discarded()) throw CniError(kDecodeFailure, fmt::format("cannot decode the result of IPAM plugin {}", x.type));
  return Result::from_json(j, "ipam result");
}

kinds::Made host_local_record(kinds::Txn& txn, const std::string& data_dir, const std::string& network,
                              const std::string& container_id, const std::string& ifname) {
  return {.kind = "ipam", .ns = txn.ref(txn.host()), .name = container_id + "/" + ifname,
          .saved = {{"type", "host-local"}, {"data_dir", data_dir}, {"network", network},
                    {"container_id", container_id}, {"ifname", ifname}}};
}

kinds::Made ipam_exec_record(kinds::Txn& txn, const IpamExec& x) {
  return {.kind = "ipam", .ns = txn.ref(txn.host()), .name = x.container_id + "/" + x.ifname, .saved = to_json(x)};
}

namespace {

kinds::Removal remove_ipam(kinds::Txn&, const kinds::Made& m) {
  if (m.saved.value("type", "") == "host-local") {
    ipam::HostLocalConfig c;
    c.data_dir = m.saved.value("data_dir", c.data_dir);
    c.network = m.saved.value("network", "");
    if (c.network.empty()) throw Error("the record of a host-local lease names no network", EINVAL);
    bool released = !ipam::release(c, m.saved.value("container_id", ""), m.saved.value("ifname", "")).empty();
    return released ? kinds::Removal::removed : kinds::Removal::absent;
  }
  exec_ipam(ipam_exec_from_json(m.saved), "DEL");
  return kinds::Removal::removed;
}

// ---- nftables rules ------------------------------------------------------------------------------------------

json key_json(const nft::MasqKey& k) { return {{"network", k.network}, {"container_id", k.container_id}, {"ifname", k.ifname}}; }
nft::MasqKey key_from(const json& j) {
  return {j.value("network", ""), j.value("container_id", ""), j.value("ifname", "")};
}

kinds::Made rules_record(kinds::Txn& txn, const char* kind, const nft::MasqKey& key) {
  // The rules live in the host's nftables: the namespace the plugin runs in (libnftables acts there).
  return {.kind = kind, .ns = txn.ref(txn.host()), .name = key.container_id + "/" + key.ifname, .saved = key_json(key)};
}

kinds::Removal remove_masq(kinds::Txn&, const kinds::Made& m) {
  nft::remove_masq(key_from(m.saved));
  return kinds::Removal::removed;
}

kinds::Removal remove_macspoof(kinds::Txn&, const kinds::Made& m) {
  nft::remove_macspoof(key_from(m.saved));
  return kinds::Removal::removed;
}

kinds::Removal remove_portmap(kinds::Txn&, const kinds::Made& m) {
  nft::remove_portmap(key_from(m.saved));
  return kinds::Removal::removed;
}

kinds::Removal remove_firewall(kinds::Txn&, const kinds::Made& m) {
  nft::remove_firewall(key_from(m.saved));
  return kinds::Removal::removed;
}

kinds::Removal remove_state_file(kinds::Txn&, const kinds::Made& m) {
  if (::unlink(m.name.c_str()) == 0) return kinds::Removal::removed;
  if (errno == ENOENT) return kinds::Removal::absent;
  throw IoError("cannot remove " + m.name, errno);
}

}  // namespace

kinds::Made state_file_record(kinds::Txn& txn, const std::string& path) {
  return {.kind = "state-file", .ns = txn.ref(txn.host()), .name = path};
}

kinds::Made masq_record(kinds::Txn& txn, const nft::MasqKey& key) { return rules_record(txn, "nft-masq", key); }
kinds::Made macspoof_record(kinds::Txn& txn, const nft::MasqKey& key) { return rules_record(txn, "nft-macspoof", key); }
kinds::Made portmap_record(kinds::Txn& txn, const nft::MasqKey& key) { return rules_record(txn, "nft-portmap", key); }
kinds::Made firewall_record(kinds::Txn& txn, const nft::MasqKey& key) { return rules_record(txn, "nft-firewall", key); }

void add_masq(kinds::Txn& txn, const nft::MasqKey& key, const std::vector<Prefix>& addresses) {
  // Each nft run is one kernel transaction: when it throws, none of this attachment's rules exist.
  txn.done(txn.make(masq_record(txn, key), [&] { nft::add_masq(key, addresses); }));
}

void add_macspoof(kinds::Txn& txn, const nft::MasqKey& key, const std::string& host_ifname, const std::string& mac) {
  txn.done(txn.make(macspoof_record(txn, key), [&] { nft::add_macspoof(key, host_ifname, mac); }));
}

// ---- the CNI face's use of the transaction -------------------------------------------------------------------

void define_kinds() {
  kinds::define_kind("ipam", remove_ipam);
  kinds::define_kind("nft-masq", remove_masq);
  kinds::define_kind("nft-macspoof", remove_macspoof);
  kinds::define_kind("nft-portmap", remove_portmap);
  kinds::define_kind("nft-firewall", remove_firewall);
  kinds::define_kind("state-file", remove_state_file);
  kinds::define_kind("dhcp-lease", remove_dhcp_lease);
}

void remove_records(kinds::Txn& txn, std::vector<kinds::Made> records) {
  for (auto& m : records) txn.done(txn.intend(std::move(m)));
  auto errors = txn.rollback();
  if (errors.empty()) return;
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  throw CniError(kPluginFailure, all);
}

std::string with_rollback_errors(std::string details, const std::vector<std::string>& errors) {
  if (errors.empty()) return details;
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
  return details.empty() ? "rollback failed: " + all : details + "; rollback failed: " + all;
}

}  // namespace ctnet::cni
