#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"

namespace mutual {

// Seconds since the Unix epoch, truncated.
int64_t toUnix(TimePoint t);
// Saturates at TimePoint::max()/min() (years 2262 and 1677) beyond TimePoint's range: a
// certificate valid until 9999-12-31 reads as valid until 2262-04-11.
TimePoint fromUnix(int64_t seconds);

// "2026-11-28T18:00:00Z" (UTC, whole seconds).
std::string formatRfc3339(TimePoint t);

// Accepts RFC 3339 ("2026-11-28T18:00:00Z", "…+02:00", fractional seconds ignored) or a plain
// integer of Unix seconds.
Result<TimePoint> parseTime(std::string_view text);

}  // namespace mutual
