// Progress of `up` and `down`: on a terminal (a pseudo-terminal the test opens as ctnet's stderr) one
// self-overwriting line with the counts and a last line; nothing when stderr is a pipe, or with --quiet;
// --progress forces it into a pipe. The labs are real (namespaces with the test's prefix, a throwaway namespace
// playing the host, a private state directory) and are removed even when a test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <spawn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "ns/netns.h"
#include "support/run.h"

using namespace ctnet;
namespace fs = std::filesystem;

extern char** environ;

namespace {

class TopologyProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    prefix_ = test::unique("ctlf") + "p-";
    host_ = prefix_ + "host";
    state_ = fs::temp_directory_path() / (prefix_ + "state");
    fs::create_directories(state_);
    NetNs::create_named(host_);
    // 60 namespaces: above the size from which a terminal shows progress by default.
    std::string yaml = "name: big\nnamespaces: [";
    for (int i = 0; i < 60; ++i) yaml += (i ? ", " : "") + std::string("n") + std::to_string(i);
    yaml += "]\n";
    file_ = (state_ / "big.yaml").string();
    std::ofstream(file_) << yaml;
    std::ofstream(state_ / "small.yaml") << "name: small\nnamespaces: [a, b]\n";
  }

  void TearDown() override {
    if (host_.empty()) return;
    if (fs::exists(state_ / "labs"))
      for (auto& e : fs::directory_iterator(state_ / "labs"))
        if (e.path().extension() == ".json") run({"down", e.path().stem().string()}, false);
    for (auto& n : NetNs::list_named())
      if (n.starts_with(prefix_)) NetNs::remove_named(n);
    fs::remove_all(state_);
  }

  struct Out {
    int status = -1;
    std::string out, err;
  };

  // ctnet ARGS with its stderr on a pseudo-terminal (tty) or a pipe; stdout always a pipe.
  Out run(std::vector<std::string> args, bool tty) {
    std::vector<std::string> argv{CTNET_BINARY, "--host-netns", host_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::string state_env = "CTNET_STATE_DIR=" + state_.string();
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
      if (!std::string_view(*e).starts_with("CTNET_")) envp.push_back(*e);
    envp.push_back(state_env.data());
    envp.push_back(nullptr);

    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    if (tty) {
      if (openpty(&err[0], &err[1], nullptr, nullptr, nullptr) != 0) throw std::runtime_error("openpty");
      fcntl(err[0], F_SETFD, FD_CLOEXEC);
      fcntl(err[1], F_SETFD, FD_CLOEXEC);
    } else if (pipe2(err, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
      close(out[0]);
      close(err[0]);
      throw std::runtime_error("cannot run ctnet");
    }
    test::Captured c = test::collect(pid, out[0], err[0], std::chrono::seconds(120));
    EXPECT_FALSE(c.hung);
    return {WIFEXITED(c.wait_status) ? WEXITSTATUS(c.wait_status) : 128 + WTERMSIG(c.wait_status), c.out, c.err};
  }

  std::string prefix_, host_, file_;
  fs::path state_;
};

// "VERB LAB: DONE/TOTAL objects, RATE/s" lines; returns the (done, total) of each.
std::vector<std::pair<int, int>> progress_lines(const std::string& err, const std::string& verb, const std::string& lab) {
  std::vector<std::pair<int, int>> v;
  std::regex re(verb + " " + lab + R"(: (\d+)/(\d+) objects, \d+/s)");
  for (std::sregex_iterator it(err.begin(), err.end(), re), end; it != end; ++it)
    v.emplace_back(std::stoi((*it)[1]), std::stoi((*it)[2]));
  return v;
}

TEST_F(TopologyProgress, ATerminalShowsCountsOfUpAndDown) {
  const std::string lab = prefix_ + "big";
  Out up = run({"up", file_, "--prefix", prefix_}, true);
  ASSERT_EQ(up.status, 0) << up.out << up.err;
  auto lines = progress_lines(up.err, "up", lab);
  ASSERT_FALSE(lines.empty()) << up.err;
  // The last line is the whole lab, and stays (it ends with the time and a newline).
  EXPECT_EQ(lines.back().first, lines.back().second) << up.err;
  EXPECT_GE(lines.back().second, 60) << up.err;  // at least one object per namespace
  EXPECT_NE(up.err.find("\r\033[K"), std::string::npos);  // rewritten in place
  EXPECT_TRUE(std::regex_search(up.err, std::regex(R"(objects, \d+/s, [0-9.]+ s\r?\n)"))) << up.err;
  EXPECT_TRUE(NetNs::exists(prefix_ + "n59"));
  // Counts never go backwards.
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_LE(lines[i - 1].first, lines[i].first);

  Out down = run({"down", lab}, true);
  ASSERT_EQ(down.status, 0) << down.out << down.err;
  auto dl = progress_lines(down.err, "down", lab);
  ASSERT_FALSE(dl.empty()) << down.err;
  EXPECT_EQ(dl.back().first, dl.back().second) << down.err;
  EXPECT_FALSE(NetNs::exists(prefix_ + "n59"));
}

TEST_F(TopologyProgress, APipeGetsNoneAndQuietSilencesATerminal) {
  const std::string lab = prefix_ + "big";
  Out up = run({"up", file_, "--prefix", prefix_}, false);
  ASSERT_EQ(up.status, 0) << up.out << up.err;
  EXPECT_EQ(up.err, "");  // not a terminal: not a byte on stderr
  EXPECT_NE(up.out.find("is up"), std::string::npos) << up.out;
  Out down = run({"down", lab, "--quiet"}, true);
  ASSERT_EQ(down.status, 0) << down.out << down.err;
  EXPECT_TRUE(progress_lines(down.err, "down", lab).empty()) << down.err;
  EXPECT_EQ(down.err.find("objects,"), std::string::npos) << down.err;
  EXPECT_FALSE(NetNs::exists(prefix_ + "n0"));
}

TEST_F(TopologyProgress, SmallLabsAreQuietUnlessAsked) {
  const std::string small = (state_ / "small.yaml").string();
  Out up = run({"up", small, "--prefix", prefix_}, true);
  ASSERT_EQ(up.status, 0) << up.err;
  EXPECT_TRUE(progress_lines(up.err, "up", prefix_ + "small").empty()) << up.err;  // 2 namespaces: no line
  Out down = run({"down", prefix_ + "small", "--progress"}, false);  // forced, into a pipe
  ASSERT_EQ(down.status, 0) << down.err;
  auto dl = progress_lines(down.err, "down", prefix_ + "small");
  ASSERT_FALSE(dl.empty()) << down.err;
  EXPECT_EQ(dl.back().first, dl.back().second);
}

}  // namespace
