#include "datastore/datastore.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "datastore/sql.h"

namespace mutual::datastore {

Result<Selector> Selector::parse(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return invalidArgument("selector \"" + std::string(text) +
                           "\" must be of the form type:value (e.g. unix:uid:1000)");
  }
  Selector s{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
  if (s.type.empty()) return invalidArgument("selector \"" + std::string(text) + "\" has no type");
  if (s.value.empty()) {
    return invalidArgument("selector \"" + std::string(text) + "\" has no value");
  }
  return s;
}

std::string newUuid() {
  std::array<unsigned char, 16> b{};
  size_t got = 0;
  while (got < b.size()) {
    ssize_t n = getrandom(b.data() + got, b.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // getrandom only fails this way on kernels older than 3.17, which Debian 12 does not run.
      throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t k = 0; k < b.size(); ++k) {
    if (k == 4 || k == 6 || k == 8 || k == 10) out.push_back('-');
    out.push_back(kHex[b[k] >> 4]);
    out.push_back(kHex[b[k] & 0x0f]);
  }
  return out;
}

namespace sql {

std::string toSqlitePlaceholders(std::string_view sql) {
  std::string out(sql);
  for (char& c : out) {
    if (c == '$') c = '?';
  }
  return out;
}

std::string placeholders(int first, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) {
    if (k > 0) out += ", ";
    out += "$" + std::to_string(first + k);
  }
  return out;
}

}  // namespace sql
}  // namespace mutual::datastore
