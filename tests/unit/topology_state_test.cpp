// The state record: kinds::Made entries with identity survive a reload through the journal (intent, done with
// what the kernel answered, drop), one entry per key, a torn last journal line is ignored, a checkpoint folds the
// journal in, the host is recorded, a damaged file still yields its whole lines, version-1 records load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "topology/desired.h"
#include "topology/parse.h"
#include "topology/state.h"
#include "util/error.h"

using namespace ctnet::topo;
using ctnet::kinds::Made;
using ctnet::kinds::NsRef;
namespace fs = std::filesystem;

namespace {

Made netns(const std::string& name, uint64_t ino = 0) { return {.kind = "netns", .ns = {.spec = name, .ino = ino}, .name = name}; }
Made veth(const std::string& ns, const std::string& name) {
  return {.kind = "veth", .ns = {.spec = ns}, .name = name, .saved = {{"peer", "e0"}, {"peer_ns", {{"spec", "ttop-a"}}}}};
}

std::string slurp(const fs::path& p) {
  std::stringstream ss;
  ss << std::ifstream(p).rdbuf();
  return ss.str();
}

}  // namespace

class RecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ttop-state-" + std::to_string(getpid()));
    fs::remove_all(root_);
    setenv("CTNET_STATE_DIR", root_.c_str(), 1);
    dir_ = root_ / "labs";
  }
  void TearDown() override {
    fs::remove_all(root_);
    unsetenv("CTNET_STATE_DIR");
  }
  fs::path root_, dir_;
};

TEST_F(RecordTest, JournalReplaysIntentsCompletionsAndIdentities) {
  {
    Record r("lab1", {{"name", "lab1"}});
    r.save(false);
    size_t a = r.intent(netns("ttop-a"));
    Made made = netns("ttop-a", 4026532999);  // the kernel's answer: the identity it got
    made.ns.cookie = 77;
    r.done(a, made);
    r.intent(veth("", "v1"));  // killed before done
  }
  EXPECT_EQ(Record::list(), std::vector<std::string>{"lab1"});
  auto r = Record::load("lab1");
  ASSERT_TRUE(r);
  auto objs = r->objects();
  ASSERT_EQ(objs.size(), 2u);
  EXPECT_TRUE(objs[0]->done);
  EXPECT_EQ(objs[0]->ns.ino, 4026532999u);
  EXPECT_EQ(objs[0]->ns.cookie, 77u);
  EXPECT_FALSE(objs[1]->done);
  EXPECT_EQ(objs[1]->saved["peer"], "e0");
  EXPECT_FALSE(r->complete());
}

TEST_F(RecordTest, TornLastLineIsIgnored) {
  {
    Record r("lab2", {{"name", "lab2"}});
    r.save(false);
    r.intent(netns("ttop-b"));
  }
  std::ofstream(dir_ / "lab2.journal", std::ios::app) << "{\"intent\":{\"kind\":\"ne";
  auto r = Record::load("lab2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 1u);
}

TEST_F(RecordTest, OneEntryPerKeyDropAndCheckpoint) {
  Record r("lab3", {{"name", "lab3"}});
  r.save(false);
  size_t a = r.intent(netns("ttop-c"));
  r.done(a, netns("ttop-c", 1));
  r.intent({.kind = "bridge", .ns = {}, .name = "br0"});
  size_t b = r.intent({.kind = "bridge", .ns = {}, .name = "br0", .ifindex = 9});  // made again: replaces the old entry
  EXPECT_EQ(r.size(), 2u);
  r.intent({.kind = "address", .ns = {}, .name = "br0", .saved = {{"prefix", "10.0.0.1/24"}}});
  r.intent({.kind = "address", .ns = {}, .name = "br0", .saved = {{"prefix", "10.0.0.2/24"}}});  // another key
  EXPECT_EQ(r.size(), 4u);
  {
    auto replayed = Record::load("lab3");  // the journal says the same before any checkpoint
    ASSERT_TRUE(replayed);
    EXPECT_EQ(replayed->size(), 4u);
  }
  r.drop(b);
  r.save(true);
  EXPECT_EQ(slurp(dir_ / "lab3.journal"), "{\"checkpoint\":2}\n");  // only the number of its checkpoint
  auto back = Record::load("lab3");
  ASSERT_TRUE(back);
  auto objs = back->objects();
  ASSERT_EQ(objs.size(), 3u);
  EXPECT_EQ(objs[0]->name, "ttop-c");
  EXPECT_EQ(objs[1]->kind, "address");
  EXPECT_TRUE(back->complete());
  back->erase();
  EXPECT_FALSE(Record::exists("lab3"));
  EXPECT_FALSE(Record::load("lab3"));
}

// A kill between the rename of NAME.json and the truncation of the journal: the older journal is not read again
// (it would put back the intents of finished entries: a process without its pid, which `down` could not stop).
TEST_F(RecordTest, AJournalOlderThanItsCheckpointIsNotReadAgain) {
  Record r("lab6", {{"name", "lab6"}});
  r.save(false);
  Made p{.kind = "process", .ns = {.spec = "ttop-p"}, .name = "sleep", .saved = {{"argv", {"sleep", "1"}}, {"lab", "lab6"}}};
  size_t i = r.intent(p);
  p.saved["pid"] = 4242;
  r.done(i, p);
  const std::string old_journal = slurp(dir_ / "lab6.journal");
  r.save(true);
  std::ofstream(dir_ / "lab6.journal", std::ios::trunc) << old_journal;  // as the killed run left it
  auto back = Record::load("lab6");
  ASSERT_TRUE(back);
  auto objs = back->objects();
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_TRUE(objs[0]->done);
  EXPECT_EQ(objs[0]->saved.value("pid", 0), 4242);
}

TEST_F(RecordTest, TheHostIsRecordedWithItsIdentity) {
  {
    Record r("lab4", {{"name", "lab4"}});
    r.set_host(NsRef{.spec = "ttop-h", .dev = 4, .ino = 4026531840, .cookie = 1});
    r.save(true);
  }
  auto r = Record::load("lab4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->host().spec, "ttop-h");
  EXPECT_TRUE(r->host().same(NsRef{.spec = "x", .dev = 4, .ino = 4026531840, .cookie = 1}));
  EXPECT_EQ(r->host().label(), "ttop-h");
}

TEST_F(RecordTest, NamesFromTheFileAreValidated) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "bad.json") << R"({"spec":{},"objects":[{"type":"netns","ns":"host","name":"../../etc"}]})";
  EXPECT_THROW(Record::load("bad"), ctnet::InvalidInput);
  std::ofstream(dir_ / "bad2.json") << R"({"version":2,"objects":[{"kind":"veth","ns":{"spec":"../x"},"name":"v1"}],"spec":{}})";
  EXPECT_THROW(Record::load("bad2"), ctnet::InvalidInput);
}

TEST_F(RecordTest, ADamagedRecordKeepsItsWholeLines) {
  {
    Record r("lab5", {{"name", "lab5"}});
    r.set_host(NsRef{.spec = "ttop-h", .ino = 5});
    r.save(false);
    for (auto n : {"ttop-d1", "ttop-d2", "ttop-d3"}) r.intent(netns(n));
    r.save(true);
  }
  std::string text = slurp(dir_ / "lab5.json");
  auto cut = text.find("ttop-d3");
  ASSERT_NE(cut, std::string::npos);
  std::ofstream(dir_ / "lab5.json", std::ios::trunc) << text.substr(0, cut);  // torn in the third entry
  try {
    Record::load("lab5");
    ADD_FAILURE() << "a damaged record loaded";
  } catch (const ctnet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("down --force lab5"), std::string::npos) << e.what();
  }
  std::vector<std::string> problems;
  auto r = Record::salvage("lab5", &problems);
  ASSERT_TRUE(r);
  EXPECT_FALSE(problems.empty());
  auto objs = r->objects();
  ASSERT_EQ(objs.size(), 2u);
  EXPECT_EQ(objs[1]->name, "ttop-d2");
  EXPECT_EQ(r->host().spec, "ttop-h");
}

TEST_F(RecordTest, VersionOneRecordsLoadWithoutIdentities) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "old.json") << R"({"version":1,"lab":"old","complete":true,"objects":[
    {"type":"netns","ns":"host","name":"ttop-o1","done":true},
    {"type":"veth","ns":"host","name":"v1","peer":"e0","peer_ns":"ttop-o1","done":true},
    {"type":"host-device","ns":"ttop-o1","name":"net1","device":"hd0","done":true}],"spec":{"name":"old"}})";
  auto r = Record::load("old");
  ASSERT_TRUE(r);
  auto objs = r->objects();
  ASSERT_EQ(objs.size(), 3u);
  EXPECT_EQ(objs[0]->kind, "netns");
  EXPECT_EQ(objs[1]->ns.spec, "");  // "host": the namespace ctnet runs in
  EXPECT_EQ(objs[1]->saved["peer_ns"]["spec"], "ttop-o1");
  EXPECT_EQ(objs[2]->saved["device"], "hd0");
  EXPECT_TRUE(objs[2]->saved.contains("host"));
  EXPECT_EQ(r->spec()["name"], "old");
}

// The file's objects claim the keys of what their drivers record, so a record entry no object claims is one
// the file no longer has.
TEST(TopologyDesired, ItemsFollowTheFileAndClaimTheirRecordKeys) {
  Topology t = default_topology();
  auto items = desired(t, "");
  std::vector<std::string> whats;
  for (auto& i : items) whats.push_back(i.what);
  EXPECT_EQ(whats, (std::vector<std::string>{"namespace ns1", "namespace ns2", "bridge host/br0",
                                             "veth host/veth1 <-> ns1/veth1-ns1", "address 10.0.0.1/24 on ns1/veth1-ns1",
                                             "veth host/veth2 <-> ns2/veth2-ns2", "address 10.0.0.2/24 on ns2/veth2-ns2"}));
  EXPECT_EQ(items[4].parent, 3);
  EXPECT_EQ(items[3].namespaces, std::vector<std::string>{"ns1"});  // the host is not a lab namespace
  auto& v = std::get<ctnet::kinds::veth::Spec>(items[3].spec);
  EXPECT_EQ(v.ns, "");
  EXPECT_EQ(v.master, "br0");
  EXPECT_EQ(v.peer_ns, "ns1");

  std::vector<std::string> keys;
  for (auto& i : items) claim(i, keys);
  auto has = [&](const Made& m) { return std::find(keys.begin(), keys.end(), object_key(m)) != keys.end(); };
  EXPECT_TRUE(has(netns("ns1")));
  EXPECT_TRUE(has({.kind = "veth", .ns = {.spec = ""}, .name = "veth1"}));
  EXPECT_TRUE(has({.kind = "veth", .ns = {.spec = "ns1"}, .name = "veth1-ns1"}));  // either end
  EXPECT_TRUE(has({.kind = "address", .ns = {.spec = "ns2"}, .name = "veth2-ns2", .saved = {{"prefix", "10.0.0.2/24"}}}));
  EXPECT_FALSE(has({.kind = "address", .ns = {.spec = "ns2"}, .name = "veth2-ns2", .saved = {{"prefix", "10.0.0.9/24"}}}));
  EXPECT_FALSE(has({.kind = "bridge", .ns = {.spec = "ttop-h"}, .name = "br0"}));  // another host

  // With --host-netns, host objects carry its name.
  auto hosted = desired(t, "ttop-h");
  EXPECT_EQ(std::get<ctnet::kinds::bridge::Spec>(hosted[2].spec).ns, "ttop-h");
}
