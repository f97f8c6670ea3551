#include "kinds/netem_options.h"

#include <fmt/format.h>

#include "util/error.h"

namespace ctnet::kinds::qdisc {

void set_netem_option(link::tc::Netem& n, std::string_view key, const std::string& text, const std::string& field) {
  namespace tc = link::tc;
  auto read = [&]<class T>(T& out, auto parse, const char* what) {
    auto got = parse(text);
    if (!got) throw InvalidInput(field, fmt::format("'{}' is not {}", text, what));
    out = static_cast<T>(*got);
  };
  const char* percent = "a percentage from 0% to 100% (for example 1% or 0.1%)";
  if (key == "delay") read(n.delay_ns, tc::parse_time_ns, "a time with a unit (for example 10ms, 500us, 1s)");
  else if (key == "jitter") read(n.jitter_ns, tc::parse_time_ns, "a time with a unit (for example 2ms, 500us)");
  else if (key == "loss") read(n.loss, tc::parse_probability, percent);
  else if (key == "corrupt") read(n.corrupt, tc::parse_probability, percent);
  else if (key == "duplicate") read(n.duplicate, tc::parse_probability, percent);
  else if (key == "reorder") read(n.reorder, tc::parse_probability, percent);
  else if (key == "rate") {
    read(n.rate, tc::parse_rate, "a rate (for example 10mbit, 512kbit, 1gbit; bit, kbit, mbit, gbit or bps, kbps, mbps)");
    if (n.rate == 0) throw InvalidInput(field, "must be at least 8bit (one byte per second)");
  } else {
    throw InvalidInput(field, fmt::format("'{}' is not a netem setting", key));
  }
}

}  // namespace ctnet::kinds::qdisc
