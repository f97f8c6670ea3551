// SHA-512 (FIPS 180-4), for names other programs derive the same way: the CNI reference's bandwidth plugin
// names its IFB device "bwp" + the first hex digits of SHA-512(network name + container ID), and ctnet names
// it identically, so either plugin's DEL finds the other's device.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ctnet {

std::array<uint8_t, 64> sha512(std::string_view data);
// The digest as 128 lowercase hex digits.
std::string sha512_hex(std::string_view data);

}  // namespace ctnet
