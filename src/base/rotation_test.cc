#include "base/rotation.h"

#include <gtest/gtest.h>

namespace mutual {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

const TimePoint kStart = TimePoint(std::chrono::seconds(1'800'000'000));

TEST(Rotation, RenewsAtHalfLifeMovedByAtMostTenPercent) {
  EXPECT_EQ(renewalTime(kStart, kStart + hours(1), 0.0), kStart + minutes(30));
  EXPECT_EQ(renewalTime(kStart, kStart + hours(1), 1.0), kStart + minutes(36));
  EXPECT_EQ(renewalTime(kStart, kStart + hours(1), -1.0), kStart + minutes(24));
  EXPECT_EQ(renewalTime(kStart, kStart + hours(1), 7.0), kStart + minutes(36));  // clamped
}

TEST(Rotation, ShouldRenewAfterTheRenewalTimeOrWhenExpired) {
  EXPECT_FALSE(shouldRenew(kStart + minutes(29), kStart, kStart + hours(1), 0.0));
  EXPECT_TRUE(shouldRenew(kStart + minutes(30), kStart, kStart + hours(1), 0.0));
  EXPECT_TRUE(shouldRenew(kStart + hours(2), kStart, kStart + hours(1), 1.0));
  // A degenerate certificate (not_after before not_before) is renewed at once.
  EXPECT_TRUE(shouldRenew(kStart, kStart, kStart - hours(1), 0.0));
}

TEST(Rotation, BackoffDoublesWithJitterAndCaps) {
  EXPECT_EQ(backoffDelay(0, milliseconds(100), milliseconds(10'000), 0.0), milliseconds(50));
  EXPECT_EQ(backoffDelay(0, milliseconds(100), milliseconds(10'000), 1.0), milliseconds(100));
  EXPECT_EQ(backoffDelay(3, milliseconds(100), milliseconds(10'000), 1.0), milliseconds(800));
  EXPECT_EQ(backoffDelay(20, milliseconds(100), milliseconds(10'000), 1.0), milliseconds(10'000));
  EXPECT_EQ(backoffDelay(1000, milliseconds(100), milliseconds(10'000), 0.0), milliseconds(5'000));
  for (int i = 0; i < 100; ++i) {
    double r = unitRandom();
    EXPECT_GE(r, 0.0);
    EXPECT_LT(r, 1.0);
  }
}

}  // namespace
}  // namespace mutual
