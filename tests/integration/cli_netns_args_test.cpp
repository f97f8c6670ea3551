// Namespace arguments: every verb that takes a namespace accepts a name, a path to an nsfs file and pid:N, and
// namespaces `ip netns add` made with names ctnet would not create (':' or long) can be shown, exec'd and deleted.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "addr/address.h"
#include "link/link.h"
#include "ns/ns_socket.h"
#include "support/netns_fixture.h"

using namespace ctnet;
using namespace ctnet::test;
using nlohmann::json;

namespace {

class NetnsArgs : public NetnsFixture {
 protected:
  NetnsArgs() : NetnsFixture("ta") {}
  ~NetnsArgs() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }

  // A namespace made by `ip netns add`, with a name ctnet itself would refuse to create.
  std::string ip_ns(const std::string& suffix) {
    auto n = ns_name(suffix);
    EXPECT_EQ(run({"ip", "netns", "add", n}).exit_code, 0) << n;
    return n;
  }
  // A process of ours that sits in namespace `ns` (an unnamed view of it is then pid:N).
  pid_t park_process_in(const std::string& ns) {
    int fd = ::open(NetNs::path_of(ns).c_str(), O_RDONLY | O_CLOEXEC);
    child_ = fork();
    if (child_ == 0) {
      if (setns(fd, CLONE_NEWNET) != 0) _exit(1);
      for (;;) pause();
    }
    ::close(fd);
    for (int i = 0; i < 100; ++i) {  // wait until it is inside
      struct stat a{}, b{};
      if (stat(fmt::format("/proc/{}/ns/net", child_).c_str(), &a) == 0 && stat(NetNs::path_of(ns).c_str(), &b) == 0 &&
          a.st_ino == b.st_ino)
        break;
      usleep(10000);
    }
    return child_;
  }
  static std::vector<std::string> addresses_of(const std::string& where) {
    std::vector<std::string> out;
    NsSocket s = NsSocket::open(where);
    for (auto& a : addr::list(s.rtnl))
      if (a.prefix.address().is_v4() && a.prefix.address().data()[0] != 127) out.push_back(a.prefix.str());
    return out;
  }

 private:
  pid_t child_ = -1;
};

TEST_F(NetnsArgs, NamesIpMadePathsAndPidsWorkInEveryVerb) {
  auto odd = ip_ns(":odd");                             // ':' is refused by ctnet's creation rules
  auto longer = ip_ns("-" + std::string(90, 'l'));     // longer than the 64 bytes ctnet creates
  auto plain = make_ns("p");
  pid_t pid = park_process_in(plain);
  const std::string by_pid = fmt::format("pid:{}", pid), odd_path = NetNs::path_of(odd);

  // show: by path and by name, and a process's namespace by pid.
  for (auto& arg : {odd_path, odd}) {
    auto r = ctnet({"show", arg, "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << arg << ": " << r.err;
    auto j = json::parse(r.out);
    ASSERT_EQ(j.size(), 1u) << r.out;
    EXPECT_EQ(j[0]["namespace"], odd);
  }
  auto shown = ctnet({"show", by_pid, "-o", "json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out)[0]["namespace"], plain) << "a named namespace is shown by its name";

  // connect a path to a pid; the default names cannot contain ':' or '/', so they are hashed.
  auto c = ctnet({"connect", odd_path, by_pid, "--subnet", "10.210.0.0/30"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(addresses_of(odd), std::vector<std::string>{"10.210.0.1/30"});
  EXPECT_EQ(addresses_of(plain), std::vector<std::string>{"10.210.0.2/30"});
  auto p = ctnet({"ping", odd, "10.210.0.2", "-c", "2"});
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  EXPECT_EQ(ctnet({"connect", odd, odd_path}).exit_code, 2) << "the same namespace twice";

  // link set/del --ns, by pid and by path.
  NsSocket ps = NsSocket::open(plain);
  std::string pend;
  for (auto& l : link::list(ps.rtnl))
    if (l.kind == "veth") pend = l.name;
  ASSERT_FALSE(pend.empty());
  auto set = ctnet({"link", "set", pend, "--ns", by_pid, "--mtu", "1400", "--name", "p0"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(link::get(ps.rtnl, "p0").mtu, 1400u);
  EXPECT_EQ(ctnet({"link", "del", "p0", "--ns", "/proc/" + std::to_string(pid) + "/ns/net"}).exit_code, 0);
  EXPECT_FALSE(link::find(ps.rtnl, "p0").has_value());

  // attach/detach with the host given by path and the namespace by pid; the lease is released by detach.
  auto host = make_ns("h");
  const std::string br = prefix() + "b";
  auto at = ctnet({"--host-netns", NetNs::path_of(host), "attach", by_pid, "--bridge", br, "--subnet", "10.211.0.0/24"});
  ASSERT_EQ(at.exit_code, 0) << at.err;
  EXPECT_EQ(addresses_of(plain), std::vector<std::string>{"10.211.0.1/24"});
  EXPECT_EQ(ctnet({"--host-netns", host, "detach", by_pid, "--bridge", br}).exit_code, 0);
  EXPECT_TRUE(addresses_of(plain).empty());
  int leases = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(state_dir())) leases += e.is_regular_file();
  EXPECT_EQ(leases, 0);

  // macvlan add/del by path.
  ASSERT_EQ(ctnet({"--host-netns", host, "macvlan", "add", odd_path, "--parent", br, "--name", "mv0"}).exit_code, 0);
  EXPECT_EQ(ctnet({"--host-netns", host, "macvlan", "del", odd_path, "--name", "mv0"}).exit_code, 0);

  // exec by path and by name, in the long-named namespace.
  for (auto& arg : {NetNs::path_of(longer), longer}) {
    auto r = ctnet({"ns", "exec", arg, "--", "cat", "/proc/net/dev"});
    EXPECT_EQ(r.exit_code, 0) << arg << ": " << r.err;
    EXPECT_EQ(r.out.find("eth0"), std::string::npos);
  }

  // Creation keeps the strict rules; deletion takes names and /run/netns paths, not processes.
  auto add = ctnet({"ns", "add", prefix() + ":new"});
  EXPECT_EQ(add.exit_code, 2);
  auto create = ctnet({"--host-netns", host, "attach", "/run/netns/" + prefix() + "new", "--create", "--bridge", br});
  EXPECT_EQ(create.exit_code, 2);
  EXPECT_NE(create.err.find("--create"), std::string::npos) << create.err;
  auto del_pid = ctnet({"ns", "del", by_pid});
  EXPECT_EQ(del_pid.exit_code, 2);
  EXPECT_NE(del_pid.err.find("NAME"), std::string::npos) << del_pid.err;
  EXPECT_EQ(ctnet({"ns", "del", odd_path}).exit_code, 0);
  EXPECT_FALSE(NetNs::exists(odd));
  EXPECT_EQ(ctnet({"ns", "del", longer}).exit_code, 0);
  EXPECT_FALSE(NetNs::exists(longer));
  EXPECT_EQ(run({"ip", "netns", "list"}).out.find(longer), std::string::npos);
}

TEST_F(NetnsArgs, BadNamespaceArgumentsAreInvalidInputNamingTheArgument) {
  auto a = make_ns("a");
  struct Case {
    std::vector<std::string> args;
    std::string field;
  };
  for (auto& c : std::vector<Case>{{{"show", "pid:x"}, "NS"},
                                   {{"ping", "a/b", "10.0.0.1"}, "NS"},
                                   {{"connect", a, "pid:"}, "NS2"},
                                   {{"link", "set", "lo", "--ns", ".."}, "--ns"},
                                   {{"link", "set", "lo", "--ns", a, "--netns", "pid:0"}, "--netns"},
                                   {{"ns", "exec", "x/y", "--", "true"}, "NS"},
                                   {{"--host-netns", "pid:-1", "show"}, "--host-netns"}}) {
    auto r = ctnet(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << r.err;
    EXPECT_NE(r.err.find(c.field + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("NAME as under /run/netns, /path/to/nsfile or pid:N"), std::string::npos) << r.err;
  }
}

}  // namespace
