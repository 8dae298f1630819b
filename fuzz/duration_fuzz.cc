// parseDuration over arbitrary bytes. Invariants: a parsed duration is never negative, and
// formatDuration's output parses back to the same number of seconds.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto d = mutual::parseDuration(text);
  if (!d) {
    FUZZ_CHECK(d.error().code == mutual::Code::kInvalidArgument);
    FUZZ_CHECK(!d.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(d->count() >= 0);
  const std::string formatted = mutual::formatDuration(*d);
  auto back = mutual::parseDuration(formatted);
  FUZZ_CHECK(back && *back == *d);
  FUZZ_CHECK(!mutual::formatDurationShort(*d).empty());
  return 0;
}
