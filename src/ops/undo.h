// The undo log of one operation: every object created is recorded with the action that removes it. If the
// operation does not reach commit(), the destructor removes everything in reverse order, best effort: it keeps
// going past failures and keeps their messages, so one stuck object does not strand the others.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace ctnet {

class UndoLog {
 public:
  UndoLog() = default;
  UndoLog(const UndoLog&) = delete;
  UndoLog& operator=(const UndoLog&) = delete;
  ~UndoLog() {
    if (!committed_) rollback();
  }

  // what: "veth veth1 in host" (for messages); undo: removes it (may throw; must be idempotent).
  void add(std::string what, std::function<void()> undo) { steps_.push_back({std::move(what), std::move(undo)}); }
  void commit() { committed_ = true; }
  void rollback() noexcept {
    while (!steps_.empty()) {
      auto step = std::move(steps_.back());
      steps_.pop_back();
      try {
        step.undo();
      } catch (const std::exception& e) {
        errors_.push_back("cannot remove " + step.what + ": " + e.what());
      }
    }
    committed_ = true;
  }
  size_t size() const { return steps_.size(); }
  const std::vector<std::string>& rollback_errors() const { return errors_; }

 private:
  struct Step {
    std::string what;
    std::function<void()> undo;
  };
  std::vector<Step> steps_;
  std::vector<std::string> errors_;
  bool committed_ = false;
};

}  // namespace ctnet
