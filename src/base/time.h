#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"

namespace mutual {

// Seconds since the Unix epoch, truncated.
int64_t toUnix(TimePoint t);
// Saturates at TimePoint::max()/min() (years 2262 and 1677) beyond TimePoint's range: a
// certificate valid until 9999-12-31 reads as valid until 2262-04-11.
TimePoint fromUnix(int64_t seconds);

// t + d for a certificate's notAfter. InvalidArgument "duration too large" (reason
// duration_too_large) when the sum would pass the latest time mutual represents (TimePoint's
// limit, 2262-04-11T23:47:16Z, well before X.509's 9999-12-31T23:59:59Z) instead of wrapping
// into the past. `d` must not be negative.
Result<TimePoint> addDuration(TimePoint t, Seconds d);

// "2026-11-28T18:00:00Z" (UTC, whole seconds).
std::string formatRfc3339(TimePoint t);

// Accepts RFC 3339 ("2026-11-28T18:00:00Z", "…+02:00", fractional seconds ignored) or a plain
// integer of Unix seconds.
Result<TimePoint> parseTime(std::string_view text);

}  // namespace mutual
