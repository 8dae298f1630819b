#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace mutual {

// RFC 4648 base64 with padding (PEM bodies, JWK x5c, Kubernetes Secret data).
std::string base64Encode(std::string_view data);
// Accepts padded or unpadded input and ignores ASCII whitespace (Kubernetes wraps long values).
Result<std::string> base64Decode(std::string_view text);

// RFC 4648 §5 base64url without padding (JWK key parameters).
std::string base64UrlEncode(std::string_view data);
Result<std::string> base64UrlDecode(std::string_view text);

// Appends `text` as a double-quoted JSON string (also a valid YAML double-quoted scalar):
// quotes, backslashes and control characters escaped, other bytes copied.
void appendQuoted(std::string& out, std::string_view text);

// `text` with ASCII A-Z lowered (names, hex, hosts: never locale-dependent).
std::string asciiLower(std::string_view text);

}  // namespace mutual
