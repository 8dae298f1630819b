#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"

namespace mutual {

using Seconds = std::chrono::seconds;

// Parses a Go-style duration: a sequence of decimal numbers with units h, m, s, ms
// ("87600h", "1h30m", "90s", "1.5h"). A bare "0" is zero. Negative durations, unknown units,
// empty input and overflow are errors. Sub-second remainders are truncated to seconds.
Result<Seconds> parseDuration(std::string_view text);

// Formats like Go's time.Duration.String() for whole seconds: "1h0m0s", "8h0m0s", "45s".
std::string formatDuration(Seconds d);

// A short human form for tables: "3d4h", "59m", "12s", "-2h" for the past.
std::string formatDurationShort(Seconds d);

}  // namespace mutual
