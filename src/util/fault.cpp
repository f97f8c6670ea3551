#include "util/fault.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace ctnet::fault {
namespace {

struct State {
  long request_at = 0, write_at = 0;  // 0: no fault
  const char* count_path = nullptr;
  std::atomic<long> requests{0}, writes{0};

  State() {
    request_at = number("CTNET_FAULT_REQUEST");
    write_at = number("CTNET_FAULT_WRITE");
    const char* p = std::getenv("CTNET_FAULT_COUNT");
    if (p && *p) {
      count_path = p;
      std::atexit(write_count);
      std::at_quick_exit(write_count);  // how a CNI plugin ends (src/main.cpp)
    }
  }
  static long number(const char* var) {
    const char* v = std::getenv(var);
    return v && *v ? std::strtol(v, nullptr, 10) : 0;
  }
  static void write_count();
};

State& state() {
  static State& s = *new State;  // never destroyed: write_count runs at exit
  return s;
}

void State::write_count() {
  State& s = state();
  if (FILE* f = std::fopen(s.count_path, "w")) {
    std::fprintf(f, "requests %ld\nwrites %ld\n", s.requests.load(), s.writes.load());
    std::fclose(f);
  }
}

// A process that does no request and no write still reports its zero count.
[[maybe_unused]] const bool init = (state(), true);

}  // namespace

bool fail_request() {
  State& s = state();
  if (s.requests.fetch_add(1, std::memory_order_relaxed) + 1 != s.request_at) return false;
  errno = EIO;
  return true;
}

bool fail_write() {
  State& s = state();
  if (s.writes.fetch_add(1, std::memory_order_relaxed) + 1 != s.write_at) return false;
  errno = EIO;
  return true;
}

std::string request_text() { return "injected fault (CTNET_FAULT_REQUEST=" + std::to_string(state().request_at) + ")"; }

}  // namespace ctnet::fault
