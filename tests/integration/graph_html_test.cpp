// `ctnet graph -o html` rendered by a real browser: headless Chromium (Debian package chromium) loads the page
// inside a network namespace of its own with only a loopback that is down (so the page can fetch nothing), runs
// its scripts and dumps the DOM; every namespace, bridge, interface and link of the lab must be there with its
// id and name, and the page's own self-check (every object drawn and wired, a click shows its details) must
// pass. A screenshot is kept as build/artifacts/graph.png. A second test draws a lab that is up and finds the
// kernel's MACs on the page. Chromium runs under `unshare --pid --kill-child`: if it hangs, killing the one
// process the test started ends all of Chromium's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "link/link.h"
#include "ns/netns.h"
#include "ns/ns_socket.h"
#include "support/run.h"
#include "topology/model.h"
#include "topology/parse.h"

using namespace ctnet;
namespace fs = std::filesystem;

extern char** environ;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The lab data the page carries (its <script type="application/json">).
nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script id=\"lab-data\" type=\"application/json\">";
  size_t a = html.find(open);
  if (a == std::string::npos) return {};
  a += open.size();
  size_t b = html.find("</script>", a);
  return nlohmann::json::parse(html.substr(a, b - a));
}

// The start tag of the element with this id in a DOM dump ("" when there is none).
std::string tag_of(const std::string& dom, const std::string& id) {
  size_t p = dom.find(" id=\"" + id + "\"");
  if (p == std::string::npos) return "";
  size_t start = dom.rfind('<', p), end = dom.find('>', p);
  return dom.substr(start, end - start + 1);
}

class GraphHtml : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / (test::unique("ctlf-graph") + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!host_.empty()) {
      if (fs::exists(dir_ / "state" / "labs"))
        for (auto& e : fs::directory_iterator(dir_ / "state" / "labs"))
          if (e.path().extension() == ".json") ctnet({"down", e.path().stem().string()});
      for (auto& n : NetNs::list_named())
        if (n.starts_with(prefix_)) NetNs::remove_named(n);
    }
    fs::remove_all(dir_);
  }

  test::RunResult ctnet(const std::vector<std::string>& args) {
    std::vector<std::string> a = args;
    if (!host_.empty()) a.insert(a.begin(), {"--host-netns", host_});
    return test::ctnet(a, {{"CTNET_STATE_DIR", (dir_ / "state").string()}});
  }

  // Headless Chromium with a throwaway profile, no network, a time limit.
  test::RunResult chromium(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"unshare", "--net", "--pid", "--fork", "--kill-child", "chromium", "--headless=new",
                                  "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + (dir_ / "profile").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
      close(out[0]);
      close(err[0]);
      throw std::runtime_error("cannot run unshare/chromium");
    }
    test::Captured c = test::collect(pid, out[0], err[0], std::chrono::seconds(90));
    EXPECT_FALSE(c.hung) << "chromium did not finish in 90 s (killed)";
    return {WIFEXITED(c.wait_status) ? WEXITSTATUS(c.wait_status) : 128 + WTERMSIG(c.wait_status), c.out, c.err};
  }

  static inline int counter_ = 0;
  fs::path dir_;
  std::string host_, prefix_;
};

TEST_F(GraphHtml, ChromiumRendersEveryObjectAndTheSelfCheckPasses) {
  if (::access("/usr/bin/chromium", X_OK) != 0) GTEST_SKIP() << "no chromium (scripts/install-deps.sh --test installs it)";
  const std::string file = std::string(CTNET_SOURCE_DIR) + "/examples/routed.yaml";
  auto r = ctnet({"graph", file, "-o", "html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = r.out;
  // Self-contained: nothing to load from anywhere (the SVG namespace URIs are names, not fetches).
  for (auto bad : {"<link", "src=\"http", "href=\"http", "url(http", "@import", "<iframe", "<img"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  const fs::path page = dir_ / "routed.html";
  std::ofstream(page) << html;

  auto dump = chromium({"--dump-dom", "file://" + page.string() + "#selfcheck"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const std::string& dom = dump.out;
  ASSERT_NE(dom.find("<svg"), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("data-selfcheck=\"ok "), std::string::npos)
      << dom.substr(0, dom.find("<head>") == std::string::npos ? 400 : dom.find("<head>") + 40);
  EXPECT_NE(dom.find("shows its details"), std::string::npos);

  // Every object of the page's data is an element of the drawing, with its handlers' class ...
  nlohmann::json data = page_data(html);
  ASSERT_TRUE(data.contains("objects"));
  std::multiset<std::string> names_by_type;
  for (auto& [id, o] : data["objects"].items()) {
    std::string tag = tag_of(dom, id);
    ASSERT_FALSE(tag.empty()) << id << " is not in the DOM";
    EXPECT_NE(tag.find("data-type=\"" + o["type"].get<std::string>() + "\""), std::string::npos) << tag;
    EXPECT_NE(tag.find(" obj"), std::string::npos) << tag << " has no handlers";
    names_by_type.insert(o["type"].get<std::string>() + ":" + o["name"].get<std::string>());
  }
  // ... and every namespace, bridge, interface and link of the lab is one of them.
  topo::Topology t = topo::load_file(file);
  for (auto& n : t.namespaces) EXPECT_EQ(names_by_type.count("namespace:" + n.name), 1u) << n.name;
  for (auto& b : t.bridges) EXPECT_EQ(names_by_type.count("bridge:" + b.name), 1u) << b.name;
  size_t links = 0, ports = 0;
  for (auto& l : t.links) {
    EXPECT_GE(names_by_type.count("interface:" + l.a.name), 1u) << l.a.name;
    if (l.kind == topo::Kind::veth) {
      EXPECT_GE(names_by_type.count("interface:" + l.b.name), 1u) << l.b.name;
      ++links;
      ports += !l.a.bridge.empty() + !l.b.bridge.empty();
    }
  }
  size_t drawn_links = 0, drawn_ports = 0;
  for (auto& k : names_by_type) drawn_links += k.starts_with("link:"), drawn_ports += k.starts_with("port:");
  EXPECT_EQ(drawn_links, links);
  EXPECT_EQ(drawn_ports, ports);

  // The screenshot, kept for a person to look at.
  const fs::path artifacts = fs::path(CTNET_BINARY).parent_path() / "artifacts";
  fs::create_directories(artifacts);
  const fs::path png = artifacts / "graph.png";
  fs::remove(png);
  auto shot = chromium({"--screenshot=" + png.string(), "--window-size=1200,800", "--hide-scrollbars",
                        "file://" + page.string() + "#selfcheck"});
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(fs::exists(png)) << shot.err;
  std::string bytes = slurp(png);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(bytes.size(), 20000u) << "a nearly empty picture";  // a blank 1200x800 page is a few KB
  std::cout << "screenshot of the page: " << png.string() << " (" << bytes.size() << " bytes)\n";
}

TEST_F(GraphHtml, ALabThatIsUpShowsTheKernelsMacs) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  prefix_ = test::unique("ctlf") + "g-";
  host_ = prefix_ + "host";
  NetNs::create_named(host_);
  auto up = ctnet({"up", std::string(CTNET_SOURCE_DIR) + "/examples/routed.yaml", "--prefix", prefix_});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  auto r = ctnet({"graph", prefix_ + "routed", "-o", "html"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json data = page_data(r.out);
  EXPECT_TRUE(data.value("live", false));
  // The page's MAC of router/eth-a is the kernel's.
  auto s = NsSocket::named(prefix_ + "router");
  auto l = link::find(s.rtnl, "eth-a");
  ASSERT_TRUE(l && l->mac);
  bool found = false;
  for (auto& [id, o] : data["objects"].items()) {
    if (o["name"] != "eth-a" || o["ns"] != prefix_ + "router") continue;
    for (auto& kv : o["details"]) {
      if (kv[0] == "MAC") found = kv[1] == l->mac->str();
      if (kv[0] == "state") {
        EXPECT_EQ(kv[1], "up");
      }
    }
  }
  EXPECT_TRUE(found) << "no MAC " << l->mac->str() << " for router/eth-a on the page";
  // The same lab from its file: no kernel details.
  auto f = ctnet({"graph", std::string(CTNET_SOURCE_DIR) + "/examples/routed.yaml", "-o", "html"});
  EXPECT_EQ(f.out.find("\"MAC\""), std::string::npos);
  EXPECT_EQ(ctnet({"down", prefix_ + "routed"}).exit_code, 0);
}

TEST_F(GraphHtml, MermaidQuotesEveryName) {
  auto r = ctnet({"graph", std::string(CTNET_SOURCE_DIR) + "/examples/routed.yaml", "-o", "mermaid"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("```mermaid\ngraph LR\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("subgraph ns0[\"namespace fabric\"]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[[\"br-a"), std::string::npos) << r.out;  // a bridge: a subroutine shape
}

}  // namespace
