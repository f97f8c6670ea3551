// The `exec:` and `run:` keys of a lab namespace: commands as lists or shell-like strings (nothing expanded),
// process names (default and explicit), errors naming the field and line, and the record's JSON round trip.
// No kernel access.
#include <gtest/gtest.h>

#include "topology/model.h"
#include "topology/parse.h"
#include "topology/process.h"
#include "util/error.h"

using namespace ctnet;
using namespace ctnet::topo;

namespace {

using Words = std::vector<std::string>;

std::string error_of(const std::string& yaml) {
  try {
    parse_yaml(yaml);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed without error:\n" << yaml;
  return "";
}

}  // namespace

TEST(TopologyProcess, WordsSplitAsAShellWouldWithoutExpanding) {
  EXPECT_EQ(process::split_words("busybox httpd -f -p 80", "f"), (Words{"busybox", "httpd", "-f", "-p", "80"}));
  EXPECT_EQ(process::split_words("  sh   -c 'echo $HOME; ls *'  ", "f"), (Words{"sh", "-c", "echo $HOME; ls *"}));
  EXPECT_EQ(process::split_words(R"(echo "a \"b\" \$c \d" x\ y '')", "f"), (Words{"echo", R"(a "b" $c \d)", "x y", ""}));
  EXPECT_EQ(process::split_words("a'b'\"c\"d", "f"), (Words{"abcd"}));
  EXPECT_EQ(process::split_words("echo $PATH ~ `id`", "f"), (Words{"echo", "$PATH", "~", "`id`"}));
}

TEST(TopologyProcess, BadCommandLinesNameTheField) {
  for (const char* bad : {"echo 'open", "echo \"open", "", "   "}) {
    try {
      process::split_words(bad, "namespaces.a.run[0]");
      ADD_FAILURE() << "accepted: [" << bad << "]";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(e.field(), "namespaces.a.run[0]");
    }
  }
}

TEST(TopologyProcess, ExecAndRunParseWithDefaultNames) {
  Topology t = parse_yaml(R"(name: p
namespaces:
  a:
    exec:
      - ip link show
      - [sh, -c, "echo 'x y'"]
    run:
      - sleep 100
      - [/bin/sleep, "200"]
      - {name: web, command: busybox httpd -f, stop_timeout: 1}
      - busybox nc -l -p 7
)");
  const Namespace& a = t.namespaces.at(0);
  ASSERT_EQ(a.exec.size(), 2u);
  EXPECT_EQ(a.exec[0].argv, (Words{"ip", "link", "show"}));
  EXPECT_EQ(a.exec[1].argv, (Words{"sh", "-c", "echo 'x y'"}));
  EXPECT_EQ(a.exec[1].field, "namespaces.a.exec[1]");
  ASSERT_EQ(a.run.size(), 4u);
  EXPECT_EQ(a.run[0].name, "sleep-1");  // the basename is repeated: an index
  EXPECT_EQ(a.run[1].name, "sleep-2");
  EXPECT_EQ(a.run[1].argv, (Words{"/bin/sleep", "200"}));
  EXPECT_EQ(a.run[2].name, "web");
  EXPECT_EQ(a.run[2].stop_timeout, 1u);
  EXPECT_EQ(a.run[3].name, "busybox");
  EXPECT_EQ(a.run[3].stop_timeout, 5u);
  EXPECT_EQ(a.run[0].field, "namespaces.a.run[0]");

  // The record keeps them (down/status work without the file).
  Topology back = from_json(to_json(t));
  ASSERT_EQ(back.namespaces.at(0).run.size(), 4u);
  EXPECT_EQ(back.namespaces[0].run[2].name, "web");
  EXPECT_EQ(back.namespaces[0].run[2].argv, (Words{"busybox", "httpd", "-f"}));
  EXPECT_EQ(back.namespaces[0].run[2].stop_timeout, 1u);
  EXPECT_EQ(back.namespaces[0].exec.at(1).argv, a.exec[1].argv);
  EXPECT_EQ(back.namespaces[0].exec[1].field, "namespaces.a.exec[1]");
}

TEST(TopologyProcess, BadProgramsAreRejectedWithFieldAndLine) {
  struct Case {
    const char* yaml;
    const char* field;
    const char* text;
  } cases[] = {
      {"name: p\nnamespaces:\n  a: {exec: ls}\n", "namespaces.a.exec (line 3)", "must be a list of commands"},
      {"name: p\nnamespaces:\n  a: {run: [\"echo 'x\"]}\n", "namespaces.a.run[0] (line 3)", "unterminated ' quote"},
      {"name: p\nnamespaces:\n  a: {run: [[]]}\n", "namespaces.a.run[0]", "empty command"},
      {"name: p\nnamespaces:\n  a: {run: [{name: x}]}\n", "namespaces.a.run[0]", "needs `command`"},
      {"name: p\nnamespaces:\n  a: {run: [{command: ls, stop: 1}]}\n", "namespaces.a.run[0].stop", "unknown key"},
      {"name: p\nnamespaces:\n  a: {run: [{command: ls, stop_timeout: -1}]}\n", "stop_timeout", "not a number"},
      {"name: p\nnamespaces:\n  a: {run: [{command: ls, stop_timeout: 9999}]}\n", "stop_timeout", "out of range"},
      {"name: p\nnamespaces:\n  a: {run: [{command: ls, name: ../x}]}\n", "namespaces.a.run[0].name", ""},
      {"name: p\nnamespaces:\n  a: {run: [{command: ls, name: exec}]}\n", "namespaces.a.run[0].name", "'exec'"},
      {"name: p\nnamespaces:\n  a: {run: [{command: ls, name: w}, {command: ps, name: w}]}\n", "namespaces.a.run[1]",
       "used twice"},
      {"name: p\nnamespaces:\n  a: {run: [{command: [ls, {x: 1}]}]}\n", "namespaces.a.run[0].command[1]", "single value"},
      {"name: p\nnamespaces:\n  a: {run: [\"'' x\"]}\n", "namespaces.a.run[0]", "names no program"},
      {"name: p\nnamespaces:\n  a: {run: [\"/usr/bin/\"]}\n", "namespaces.a.run[0]", "give `name`"},
  };
  for (auto& c : cases) {
    std::string e = error_of(c.yaml);
    EXPECT_NE(e.find(c.field), std::string::npos) << c.yaml << " -> " << e;
    EXPECT_NE(e.find(c.text), std::string::npos) << c.yaml << " -> " << e;
  }
}
