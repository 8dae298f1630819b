#include "ca/validity.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/time.h"

namespace mutual::ca {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kNow = fromUnix(1'780'000'000);  // 2026-05-28T...Z
constexpr auto kYear = hours(8760);

TEST(Validity, BackdateIsTenSeconds) { EXPECT_EQ(kBackdate, seconds(10)); }

struct ValidityCase {
  const char* name;
  Seconds ttl;
  TimePoint issuer_not_before;
  TimePoint issuer_not_after;
  // Expected on success.
  TimePoint not_before;
  TimePoint not_after;
  bool capped;
};

TEST(Validity, Table) {
  const std::vector<ValidityCase> cases = {
      {"backdated 10 s, full TTL", hours(1), kNow - hours(24), kNow + kYear, kNow - seconds(10),
       kNow + hours(1), false},
      {"one-second TTL", seconds(1), kNow - hours(24), kNow + kYear, kNow - seconds(10),
       kNow + seconds(1), false},
      {"backdate stops at the issuer's notBefore", hours(1), kNow - seconds(4), kNow + kYear,
       kNow - seconds(4), kNow + hours(1), false},
      {"issuer valid from exactly now", hours(1), kNow, kNow + kYear, kNow, kNow + hours(1), false},
      {"TTL ends exactly at the issuer's notAfter", hours(1), kNow - hours(24), kNow + hours(1),
       kNow - seconds(10), kNow + hours(1), false},
      {"one second too long: capped", hours(1) + seconds(1), kNow - hours(24), kNow + hours(1),
       kNow - seconds(10), kNow + hours(1), true},
      {"capped to the issuer's remaining 30 min", hours(1), kNow - hours(24), kNow + minutes(30),
       kNow - seconds(10), kNow + minutes(30), true},
      {"issuer with one second left", hours(24), kNow - hours(24), kNow + seconds(1),
       kNow - seconds(10), kNow + seconds(1), true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto v = computeValidity(kNow, c.ttl, c.issuer_not_before, c.issuer_not_after);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(formatRfc3339(v->not_before), formatRfc3339(c.not_before));
    EXPECT_EQ(formatRfc3339(v->not_after), formatRfc3339(c.not_after));
    EXPECT_EQ(v->capped, c.capped);
    EXPECT_EQ(v->note.empty(), !c.capped) << v->note;
    // Never outside the issuer's window.
    EXPECT_GE(v->not_before, c.issuer_not_before);
    EXPECT_LE(v->not_after, c.issuer_not_after);
  }
}

TEST(Validity, CapNoteSaysWhatWasAskedAndGiven) {
  const TimePoint issuer_not_after = kNow + minutes(30);
  auto v = computeValidity(kNow, hours(1), kNow - hours(1), issuer_not_after);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_TRUE(v->capped);
  EXPECT_NE(v->note.find("1h0m0s"), std::string::npos) << v->note;  // asked
  EXPECT_NE(v->note.find("30m0s"), std::string::npos) << v->note;   // given
  EXPECT_NE(v->note.find(formatRfc3339(issuer_not_after)), std::string::npos) << v->note;
}

struct FailureCase {
  const char* name;
  Seconds ttl;
  TimePoint issuer_not_before;
  TimePoint issuer_not_after;
  Code code;
  const char* reason;
  std::string message_part;
};

TEST(Validity, Failures) {
  const std::vector<FailureCase> cases = {
      {"TTL zero", seconds(0), kNow - hours(1), kNow + hours(1), Code::kInvalidArgument, "",
       "TTL must be positive"},
      {"TTL negative", seconds(-5), kNow - hours(1), kNow + hours(1), Code::kInvalidArgument, "",
       "TTL must be positive"},
      {"issuer expired an hour ago", hours(1), kNow - kYear, kNow - hours(1),
       Code::kFailedPrecondition, "issuer_expired", formatRfc3339(kNow - hours(1))},
      // At its notAfter second the issuer could only sign a zero-length validity.
      {"issuer expires this very second", hours(1), kNow - kYear, kNow, Code::kFailedPrecondition,
       "issuer_expired", formatRfc3339(kNow)},
      {"issuer not yet valid", hours(1), kNow + seconds(1), kNow + kYear, Code::kFailedPrecondition,
       "issuer_not_yet_valid", formatRfc3339(kNow + seconds(1))},
      {"issuer valid next year", hours(1), kNow + kYear, kNow + 2 * kYear,
       Code::kFailedPrecondition, "issuer_not_yet_valid", formatRfc3339(kNow + kYear)},
      // now + ttl would wrap into the past: refused, not capped to the issuer's notAfter.
      {"TTL of 1000 years", 1000 * kYear, kNow - hours(1), kNow + kYear, Code::kInvalidArgument,
       "duration_too_large", "duration too large"},
      {"TTL of 292 years", hours(2562047), kNow - hours(1), TimePoint::max(),
       Code::kInvalidArgument, "duration_too_large", "duration too large"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto v = computeValidity(kNow, c.ttl, c.issuer_not_before, c.issuer_not_after);
    ASSERT_FALSE(v) << "gave " << formatRfc3339(v->not_before) << " .. "
                    << formatRfc3339(v->not_after);
    EXPECT_EQ(v.error().code, c.code);
    EXPECT_EQ(v.error().reason, c.reason);
    EXPECT_NE(v.error().message.find(c.message_part), std::string::npos) << v.error().message;
  }
}

}  // namespace
}  // namespace mutual::ca
