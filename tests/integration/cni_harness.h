// A CNI runtime in miniature for tests: executes the plugin binary exactly as a runtime does (argv[0] is the
// plugin name, CNI_* environment, configuration on stdin, result or error on stdout, exit code), with the
// process placed in a throwaway "host" namespace the test made, so bridges and host veth ends never appear in
// the machine's own namespace. Every namespace carries the prefix tcni and is removed by the fixture.
#pragma once
#include <fstream>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "addr/address.h"
#include "addr/route.h"
#include "link/link.h"
#include "netlink/socket.h"
#include "ns/netns.h"

namespace ctnet::test {

// A whole file as text ("" when it cannot be read): lease files, rule dumps.
inline std::string read_file(const std::string& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
}

struct PluginRun {
  int exit_code = -1;
  std::string out;
  nlohmann::json json;  // stdout parsed (null if not JSON)
  int code() const { return json.is_object() ? json.value("code", 0) : 0; }
  std::string msg() const { return json.is_object() ? json.value("msg", std::string()) : std::string(); }
};

// Runs `exe` with argv[0] = name in namespace `host_ns_fd` (or the current one if -1).
inline PluginRun exec_plugin(const std::string& exe, const std::string& name, const std::map<std::string, std::string>& env,
                             const std::string& stdin_text, int host_ns_fd = -1) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return {};
  std::vector<std::string> envs;
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string argv0 = name;
  char* argv[] = {argv0.data(), nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    if (host_ns_fd >= 0 && setns(host_ns_fd, CLONE_NEWNET) != 0) _exit(126);
    dup2(in[0], 0);
    dup2(out[1], 1);
    execve(exe.c_str(), argv, envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  (void)!write(in[1], stdin_text.data(), stdin_text.size());
  close(in[1]);
  PluginRun r;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) r.out.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  // A plugin never dies of a signal here; under the sanitizer build a finding aborts it (report on stderr).
  if (WIFSIGNALED(st)) ADD_FAILURE() << name << " was killed by signal " << WTERMSIG(st);
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  if (r.json.is_discarded()) r.json = nullptr;
  return r;
}

// One test's world: a host namespace, container namespaces on demand, a data dir; all removed at the end.
// Their names start with prefix_ ("tcni"; a suite may set its own in its constructor).
class CniFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    tag_ = std::to_string(getpid()) + "-" + std::to_string(counter++);
    host_name_ = prefix_ + "-h-" + tag_;
    host_ = std::make_unique<NetNs>(NetNs::create_named(host_name_));
    data_dir_ = "/tmp/" + prefix_ + "-data-" + tag_;
  }
  void TearDown() override {
    for (const auto& n : containers_) NetNs::remove_named(n);
    host_.reset();
    NetNs::remove_named(host_name_);
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }

  // A new container namespace; returns its path (what CNI_NETNS carries).
  std::string container() {
    std::string name = prefix_ + "-c-" + tag_ + "-" + std::to_string(containers_.size());
    NetNs::create_named(name);
    containers_.push_back(name);
    return NetNs::path_of(name);
  }
  void remove_container(const std::string& path) {
    NetNs::remove_named(std::filesystem::path(path).filename().string());
  }

  std::map<std::string, std::string> env(const std::string& cmd, const std::string& id, const std::string& netns,
                                         const std::string& ifname = "eth0") const {
    return {{"CNI_COMMAND", cmd}, {"CNI_CONTAINERID", id}, {"CNI_NETNS", netns}, {"CNI_IFNAME", ifname},
            {"CNI_PATH", "/usr/lib/cni"}, {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
            {"CTNET_STATE_DIR", data_dir_ + "/ctnet-state"}};  // ctnet's own records (SR-IOV allocations) stay in the test's dir
  }
  PluginRun run(const std::string& plugin, const std::map<std::string, std::string>& e, const nlohmann::json& conf) {
    return exec_plugin(CTNET_BINARY, plugin, e, conf.dump(), host_->fd());
  }
  PluginRun run_raw(const std::string& plugin, const std::map<std::string, std::string>& e, const std::string& conf) {
    return exec_plugin(CTNET_BINARY, plugin, e, conf, host_->fd());
  }
  PluginRun run_reference(const std::string& plugin, const std::map<std::string, std::string>& e, const nlohmann::json& conf) {
    return exec_plugin("/usr/lib/cni/" + plugin, plugin, e, conf.dump(), host_->fd());
  }

  nlohmann::json bridge_conf(const std::string& version = "1.0.0", const std::string& subnet = "10.99.0.0/24") const {
    return {{"cniVersion", version},
            {"name", "tcninet"},
            {"type", "bridge"},
            {"bridge", "tcnibr0"},
            {"isGateway", true},
            {"ipam",
             {{"type", "host-local"},
              {"ranges", {{{{"subnet", subnet}}}}},
              {"routes", {{{"dst", "0.0.0.0/0"}}}},
              {"dataDir", data_dir_}}}};
  }

  nl::Socket host_socket() { return nl::Socket::in(*host_); }
  static nl::Socket socket_in(const std::string& netns_path) { return nl::Socket::in(NetNs::open_path(netns_path)); }

  // Files of the network's lease directory (names only), without the index folder.
  std::vector<std::string> lease_files(const std::string& network = "tcninet") const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(data_dir_ + "/" + network, ec))
      if (e.is_regular_file()) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> lease_ips(const std::string& network = "tcninet") const {
    std::vector<std::string> out;
    for (const auto& f : lease_files(network))
      if (f != "lock" && f.rfind("last_reserved_ip", 0) != 0) out.push_back(f);
    return out;
  }
  std::vector<std::string> host_links() {
    auto s = host_socket();
    std::vector<std::string> out;
    for (const auto& l : link::list(s))
      if (l.name != "lo") out.push_back(l.name);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string prefix_ = "tcni";
  std::string tag_, host_name_, data_dir_;
  std::unique_ptr<NetNs> host_;
  std::vector<std::string> containers_;
};

}  // namespace ctnet::test
