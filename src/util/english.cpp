#include "util/english.h"

#include <fmt/format.h>

#include <cctype>

namespace ctnet {

std::string plural(int64_t n, std::string_view noun) {
  if (n == 1) return fmt::format("1 {}", noun);
  auto ends = [&](std::string_view s) { return noun.ends_with(s); };
  const bool es = ends("s") || ends("x") || ends("sh") || ends("ch");
  return fmt::format("{} {}{}", n, noun, es ? "es" : "s");
}

std::string article(std::string_view noun) {
  if (noun.empty()) return "a";
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  const char c = noun[0];
  // A leading run of capitals (or a capital before a digit/dash) is read letter by letter: A, E, F, H, I, L, M,
  // N, O, R, S, X sound as a vowel ("an FDB", "an SR-IOV", "an MTU").
  const bool acronym = std::isupper(static_cast<unsigned char>(c)) && noun.size() > 1 &&
                       !std::islower(static_cast<unsigned char>(noun[1]));
  bool vowel;
  if (acronym) {
    vowel = std::string_view("AEFHILMNORSX").find(c) != std::string_view::npos;
  } else {
    vowel = std::string_view("aeio").find(lower(c)) != std::string_view::npos;
    if (lower(c) == 'u') vowel = !(noun.size() > 2 && lower(noun[1]) == 'n' && lower(noun[2]) == 'i');  // "a unicast"
  }
  return fmt::format("{} {}", vowel ? "an" : "a", noun);
}

}  // namespace ctnet
