#include "proxy/endpoints.h"

#include <gtest/gtest.h>

namespace mutual::proxy {
namespace {

using std::chrono::seconds;
using Order = std::vector<size_t>;

TEST(EndpointRotation, EachConnectionStartsOneFurther) {
  EndpointRotation rotation(3, 1);
  const auto now = EndpointRotation::Clock::time_point{} + seconds(100);
  EXPECT_EQ(rotation.order(now), (Order{1, 2, 0}));
  EXPECT_EQ(rotation.order(now), (Order{2, 0, 1}));
  EXPECT_EQ(rotation.order(now), (Order{0, 1, 2}));
}

TEST(EndpointRotation, AFailedEndpointIsDialledLastUntilItsHoldDownEnds) {
  EndpointRotation rotation(2, 0, seconds(10));
  const auto t0 = EndpointRotation::Clock::time_point{} + seconds(100);
  EXPECT_EQ(rotation.order(t0), (Order{0, 1}));
  rotation.failed(0, t0, t0);
  rotation.succeeded(1, t0);
  // Every connection of the next 10 s goes to 1 first, whichever turn it is.
  EXPECT_EQ(rotation.order(t0 + seconds(1)), (Order{1, 0}));
  EXPECT_EQ(rotation.order(t0 + seconds(2)), (Order{1, 0}));
  EXPECT_EQ(rotation.order(t0 + seconds(9)), (Order{1, 0}));
  // Then 0 takes its turns again.
  EXPECT_EQ(rotation.order(t0 + seconds(10)), (Order{0, 1}));
  EXPECT_EQ(rotation.order(t0 + seconds(10)), (Order{1, 0}));
}

TEST(EndpointRotation, AHeldDownEndpointsTurnsGoRoundTheOthers) {
  // A of [A, B, C] is down: B and C alternate (not B, B, C as if A's turn fell to B).
  EndpointRotation rotation(3, 0, seconds(10));
  const auto t0 = EndpointRotation::Clock::time_point{} + seconds(100);
  rotation.failed(0, t0, t0);
  std::vector<size_t> firsts;
  for (int i = 0; i < 6; ++i) firsts.push_back(rotation.order(t0).front());
  EXPECT_EQ(firsts, (Order{1, 2, 1, 2, 1, 2}));
}

TEST(EndpointRotation, ASuccessEndsTheHoldDown) {
  EndpointRotation rotation(2, 0, seconds(10));
  const auto t0 = EndpointRotation::Clock::time_point{} + seconds(100);
  rotation.failed(0, t0, t0);
  EXPECT_EQ(rotation.order(t0), (Order{1, 0}));
  rotation.succeeded(0, t0 + seconds(1));
  EXPECT_EQ(rotation.order(t0 + seconds(1)), (Order{0, 1}));
}

TEST(EndpointRotation, AFailureOfADialBegunBeforeASuccessIsIgnored) {
  EndpointRotation rotation(2, 0, seconds(10));
  const auto t0 = EndpointRotation::Clock::time_point{} + seconds(100);
  // Two connections dial 0 at t0 and t0+1; the later one connects at t0+2, then the earlier
  // one times out at t0+5: 0 is back, not held down.
  rotation.succeeded(0, t0 + seconds(1));
  rotation.failed(0, t0, t0 + seconds(5));
  EXPECT_EQ(rotation.order(t0 + seconds(5)), (Order{0, 1}));
  // A dial begun after the success that fails does hold it down.
  rotation.failed(0, t0 + seconds(6), t0 + seconds(7));
  EXPECT_EQ(rotation.order(t0 + seconds(7)), (Order{1, 0}));
}

TEST(EndpointRotation, AllHeldDownKeepTheirRoundRobinOrder) {
  EndpointRotation rotation(3, 0, seconds(10));
  const auto t0 = EndpointRotation::Clock::time_point{} + seconds(100);
  for (size_t e = 0; e < 3; ++e) rotation.failed(e, t0, t0);
  EXPECT_EQ(rotation.order(t0), (Order{0, 1, 2}));
  EXPECT_EQ(rotation.order(t0), (Order{1, 2, 0}));
}

TEST(EndpointRotation, NoEndpointsNoOrder) {
  EndpointRotation rotation(0, 5);
  EXPECT_TRUE(rotation.order(EndpointRotation::Clock::now()).empty());
}

}  // namespace
}  // namespace mutual::proxy
