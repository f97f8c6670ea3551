// A test fixture that hands out namespace names unique to the test process and removes every namespace it
// handed out (and its private state directory) when the test ends, whether it passed or failed.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ns/netns.h"
#include "support/run.h"

namespace ctnet::test {

class NetnsFixture : public ::testing::Test {
 protected:
  // prefix: 2-4 letters identifying the suite (namespaces become PREFIX<pid><suffix>).
  explicit NetnsFixture(std::string prefix) : prefix_(unique(prefix)) {
    char tmpl[] = "/tmp/ctnet-test-XXXXXX";
    state_dir_ = mkdtemp(tmpl);
  }
  ~NetnsFixture() override {
    for (auto& n : namespaces_) {
      try {
        NetNs::remove_named(n);
      } catch (...) {
      }
    }
    std::error_code ec;
    if (state_dir_.starts_with("/tmp/ctnet-test-")) std::filesystem::remove_all(state_dir_, ec);
  }

  // A namespace name owned by this test (created by the caller or by ctnet; removed at the end).
  std::string ns_name(const std::string& suffix) {
    namespaces_.push_back(prefix_ + suffix);
    return namespaces_.back();
  }
  std::string make_ns(const std::string& suffix) {
    auto n = ns_name(suffix);
    NetNs::create_named(n);
    return n;
  }
  std::map<std::string, std::string> env() const { return {{"CTNET_STATE_DIR", state_dir_}}; }
  RunResult ctnet(const std::vector<std::string>& args) const { return test::ctnet(args, env()); }
  const std::string& prefix() const { return prefix_; }
  const std::string& state_dir() const { return state_dir_; }

 private:
  std::string prefix_;
  std::string state_dir_;
  std::vector<std::string> namespaces_;
};

}  // namespace ctnet::test
