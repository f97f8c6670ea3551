// The state record: intents and completions survive a reload, a torn last journal line is ignored, a
// checkpoint folds the journal in, forgetting drops rolled-back objects.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "topology/state.h"
#include "util/error.h"

using namespace ctnet::topo;
namespace fs = std::filesystem;

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

TEST_F(RecordTest, JournalReplaysIntentsAndCompletions) {
  {
    Record r("lab1", {{"name", "lab1"}});
    r.save(false);
    int a = r.intent({"netns", "host", "ttop-a"});
    r.done(a);
    r.intent({"veth", "host", "v1", "ttop-a", "e0"});  // killed before done
  }
  EXPECT_EQ(Record::list(), std::vector<std::string>{"lab1"});
  auto r = Record::load("lab1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->objects().size(), 2u);
  EXPECT_TRUE(r->objects()[0].done);
  EXPECT_FALSE(r->objects()[1].done);
  EXPECT_EQ(r->objects()[1].peer, "e0");
  EXPECT_FALSE(r->complete());
}

TEST_F(RecordTest, TornLastLineIsIgnored) {
  {
    Record r("lab2", {{"name", "lab2"}});
    r.save(false);
    r.intent({"netns", "host", "ttop-b"});
  }
  std::ofstream(dir_ / "lab2.journal", std::ios::app) << "{\"intent\":{\"type\":\"ne";
  auto r = Record::load("lab2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->objects().size(), 1u);
}

TEST_F(RecordTest, CheckpointFoldsJournalAndForgetDrops) {
  Record r("lab3", {{"name", "lab3"}});
  r.save(false);
  int a = r.intent({"netns", "host", "ttop-c"});
  int b = r.intent({"bridge", "host", "br0"});
  EXPECT_EQ(r.intent({"bridge", "host", "br0"}), b);  // recorded once
  r.done(a);
  r.forget({b});
  r.save(true);
  EXPECT_EQ(fs::file_size(dir_ / "lab3.journal"), 0u);
  auto back = Record::load("lab3");
  ASSERT_TRUE(back);
  ASSERT_EQ(back->objects().size(), 1u);
  EXPECT_EQ(back->objects()[0].name, "ttop-c");
  EXPECT_TRUE(back->complete());
  back->erase();
  EXPECT_FALSE(Record::exists("lab3"));
  EXPECT_FALSE(Record::load("lab3"));
}

TEST_F(RecordTest, NamesFromTheFileAreValidated) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "bad.json") << R"({"spec":{},"objects":[{"type":"netns","ns":"host","name":"../../etc"}]})";
  EXPECT_THROW(Record::load("bad"), ctnet::InvalidInput);
}
