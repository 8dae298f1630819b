#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace mutual::crypto {

// Drains OpenSSL's thread-local error queue into one compact string ("" when empty).
std::string drainOpenSslErrors();

// An Error whose message is `what` followed by the drained OpenSSL errors, if any.
Error openSslError(Code code, std::string_view what);

}  // namespace mutual::crypto
