#pragma once

#include <chrono>
#include <string>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"

namespace mutual::ca {

// Clock skew allowance: notBefore is set this far in the past (as SPIRE does).
inline constexpr Seconds kBackdate{10};

struct Validity {
  TimePoint not_before;
  TimePoint not_after;
  bool capped = false;  // not_after was cut to the issuer's notAfter
  std::string note;     // when capped: what was asked and what was given, for the user
};

// The validity of a certificate asked for `ttl` at `now`, issued by a CA valid in
// [issuer_not_before, issuer_not_after]. Fails (FailedPrecondition, reason issuer_expired or
// issuer_not_yet_valid) when the issuer cannot sign at `now`, and (InvalidArgument) when ttl
// is not positive or so large that now + ttl leaves the representable range (reason
// duration_too_large; it is refused, not capped).
Result<Validity> computeValidity(TimePoint now, Seconds ttl, TimePoint issuer_not_before,
                                 TimePoint issuer_not_after);

}  // namespace mutual::ca
