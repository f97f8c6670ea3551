// Base64 (RFC 4648, the standard alphabet with '=' padding): etcd's JSON gateway carries keys and values so.
#pragma once
#include <string>
#include <string_view>

namespace ctnet {

std::string base64_encode(std::string_view bytes);
// Throws InvalidInput(field, ...) for text that is not padded standard base64.
std::string base64_decode(std::string_view text, std::string_view field = "base64");

}  // namespace ctnet
