#include "ca/validity.h"

#include "base/time.h"

namespace mutual::ca {

Result<Validity> computeValidity(TimePoint now, Seconds ttl, TimePoint issuer_not_before,
                                 TimePoint issuer_not_after) {
  if (ttl <= Seconds(0)) return invalidArgument("TTL must be positive");
  if (now >= issuer_not_after) {
    return fail(Code::kFailedPrecondition,
                "issuing CA expired at " + formatRfc3339(issuer_not_after) + "; rotate it first",
                "issuer_expired");
  }
  if (now < issuer_not_before) {
    return fail(Code::kFailedPrecondition,
                "issuing CA is not valid until " + formatRfc3339(issuer_not_before),
                "issuer_not_yet_valid");
  }
  Validity v;
  v.not_before = std::max(now - kBackdate, issuer_not_before);
  auto not_after = addDuration(now, ttl);
  if (!not_after) return fail(not_after.error());
  v.not_after = *not_after;
  if (v.not_after > issuer_not_after) {
    v.not_after = issuer_not_after;
    v.capped = true;
    v.note = "TTL capped: asked for " + formatDuration(ttl) + ", issued " +
             formatDuration(std::chrono::duration_cast<Seconds>(issuer_not_after - now)) +
             " because the issuing CA expires at " + formatRfc3339(issuer_not_after);
  }
  return v;
}

}  // namespace mutual::ca
