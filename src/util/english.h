// Counts and kinds in messages: "1 bridge", "2 bridges", "an ipvlan", "a veth". One place, so every message
// says it the same way.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ctnet {

// "1 bridge", "0 bridges", "3 addresses" (nouns ending in s, x, sh, ch take "es").
std::string plural(int64_t n, std::string_view noun);
// "an ipvlan", "an IPv6 address", "a veth", "a bridge": "an" before a vowel sound as the word is read
// (acronyms read letter by letter: "an SR-IOV VF", "an FDB entry"; "a unicast" reads "you").
std::string article(std::string_view noun);

}  // namespace ctnet
