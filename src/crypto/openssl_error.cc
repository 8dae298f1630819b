#include "crypto/openssl_error.h"

#include <openssl/err.h>

namespace mutual::crypto {

std::string drainOpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason ? reason : buf;
  }
  return out;
}

Error openSslError(Code code, std::string_view what) {
  std::string detail = drainOpenSslErrors();
  std::string message(what);
  if (!detail.empty()) message += " (" + detail + ")";
  return Error{code, std::move(message), {}};
}

}  // namespace mutual::crypto
