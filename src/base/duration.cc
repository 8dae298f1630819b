#include "base/duration.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace mutual {

Result<Seconds> parseDuration(std::string_view text) {
  const std::string original(text);
  if (text.empty()) return invalidArgument("empty duration");
  if (text == "0") return Seconds(0);
  if (text.front() == '-') {
    return invalidArgument("duration \"" + original + "\" is negative");
  }
  if (text.front() == '+') text.remove_prefix(1);
  long double total = 0;
  bool any = false;
  while (!text.empty()) {
    size_t i = 0;
    bool digits = false;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      digits = digits || text[i] != '.';
      ++i;
    }
    if (!digits) {
      return invalidArgument("invalid duration \"" + original +
                             "\": expected a number such as 24h, 90m, 30s");
    }
    const std::string number(text.substr(0, i));
    if (number.find('.') != number.rfind('.')) {
      return invalidArgument("invalid duration \"" + original + "\": bad number " + number);
    }
    text.remove_prefix(i);
    size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    const std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    long double scale;
    if (unit == "h") {
      scale = 3600;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 0.001L;
    } else if (unit.empty()) {
      return invalidArgument("invalid duration \"" + original +
                             "\": missing unit (use h, m, s or ms)");
    } else {
      return invalidArgument("invalid duration \"" + original + "\": unknown unit \"" +
                             std::string(unit) + "\" (use h, m, s or ms)");
    }
    total += std::strtold(number.c_str(), nullptr) * scale;
    any = true;
  }
  if (!any) return invalidArgument("invalid duration \"" + original + "\"");
  if (total > static_cast<long double>(std::numeric_limits<int64_t>::max() / 2)) {
    return invalidArgument("duration \"" + original + "\" is too large");
  }
  return Seconds(static_cast<int64_t>(total));
}

std::string formatDuration(Seconds d) {
  int64_t s = d.count();
  std::string sign;
  if (s < 0) {
    sign = "-";
    s = -s;
  }
  const int64_t h = s / 3600;
  const int64_t m = (s % 3600) / 60;
  const int64_t sec = s % 60;
  if (h > 0) return sign + std::to_string(h) + "h" + std::to_string(m) + "m" + std::to_string(sec) + "s";
  if (m > 0) return sign + std::to_string(m) + "m" + std::to_string(sec) + "s";
  return sign + std::to_string(sec) + "s";
}

std::string formatDurationShort(Seconds d) {
  int64_t s = d.count();
  std::string sign;
  if (s < 0) {
    sign = "-";
    s = -s;
  }
  const int64_t days = s / 86400;
  const int64_t h = (s % 86400) / 3600;
  const int64_t m = (s % 3600) / 60;
  if (days >= 365) return sign + std::to_string(days / 365) + "y" + std::to_string(days % 365) + "d";
  if (days > 0) return sign + std::to_string(days) + "d" + std::to_string(h) + "h";
  if (h > 0) return sign + std::to_string(h) + "h" + std::to_string(m) + "m";
  if (m > 0) return sign + std::to_string(m) + "m";
  return sign + std::to_string(s) + "s";
}

}  // namespace mutual
