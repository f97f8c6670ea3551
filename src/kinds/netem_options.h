// The text form of a netem setting, as the lab file's `impair:` and `ctnet impair --KEY` give it: one reader, so
// both take the same units (tc's) and say the same thing about a bad value.
#pragma once
#include <string>
#include <string_view>

#include "link/tc.h"

namespace ctnet::kinds::qdisc {

// The keys set_netem_option reads (`limit`, a plain count, is read by each face with its own number rules).
inline constexpr std::string_view kNetemTextKeys[] = {"delay", "jitter", "loss", "corrupt", "duplicate", "reorder", "rate"};

// Sets the field of `n` that `key` names from `text`; throws InvalidInput(field, "'x' is not a time ...").
void set_netem_option(link::tc::Netem& n, std::string_view key, const std::string& text, const std::string& field);

}  // namespace ctnet::kinds::qdisc
