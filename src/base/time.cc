#include "base/time.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace mutual {

int64_t toUnix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint fromUnix(int64_t seconds) {
  // TimePoint counts nanoseconds in 64 bits, about 292 years either side of 1970, while
  // certificates say 9999-12-31 for "never expires" (RFC 5280 §4.1.2.5): saturate instead of
  // overflowing (which is undefined behaviour and gave dates in the past).
  constexpr int64_t kMax =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::max().time_since_epoch()).count();
  constexpr int64_t kMin =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::min().time_since_epoch()).count();
  if (seconds >= kMax) return TimePoint::max();
  if (seconds <= kMin) return TimePoint::min();
  return TimePoint(std::chrono::seconds(seconds));
}

Result<TimePoint> addDuration(TimePoint t, Seconds d) {
  // Whole seconds below TimePoint::max(), and never past 9999-12-31T23:59:59Z (RFC 5280's
  // GeneralizedTime limit) should TimePoint ever be wider.
  constexpr int64_t kLatest = std::min<int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::max().time_since_epoch())
          .count(),
      253402300799);
  const int64_t start = toUnix(t);
  if (d.count() > kLatest - start) {
    return fail(Code::kInvalidArgument,
                "duration too large: " + formatDuration(d) + " from " + formatRfc3339(t) +
                    " ends after " + formatRfc3339(fromUnix(kLatest)) +
                    ", the latest expiry mutual can represent",
                "duration_too_large");
  }
  return t + d;
}

std::string formatRfc3339(TimePoint t) {
  const time_t secs = static_cast<time_t>(toUnix(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

bool readInt(std::string_view s, size_t pos, size_t len, int& out) {
  if (pos + len > s.size()) return false;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  auto r = std::from_chars(s.data() + pos, s.data() + pos + len, out);
  return r.ec == std::errc();
}

}  // namespace

Result<TimePoint> parseTime(std::string_view text) {
  const std::string original(text);
  if (text.empty()) return invalidArgument("empty time");
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    int64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc()) return invalidArgument("time \"" + original + "\" is out of range");
    return fromUnix(v);
  }
  const auto bad = [&] {
    return invalidArgument("invalid time \"" + original +
                           "\": use RFC 3339 (2026-11-28T18:00:00Z) or Unix seconds");
  };
  int year, mon, day, hour, min, sec;
  if (!readInt(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
      !readInt(text, 5, 2, mon) || text[7] != '-' || !readInt(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !readInt(text, 11, 2, hour) ||
      text[13] != ':' || !readInt(text, 14, 2, min) || text[16] != ':' ||
      !readInt(text, 17, 2, sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return bad();
  }
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
  }
  int64_t offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (!readInt(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !readInt(text, pos + 4, 2, om)) {
      return bad();
    }
    offset = (oh * 3600 + om * 60) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const int64_t utc = static_cast<int64_t>(timegm(&tm)) - offset;
  return fromUnix(utc);
}

}  // namespace mutual
