#include "agent/agent.h"

#include <gtest/gtest.h>

namespace mutual::agent {
namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;

// The server refuses SignX509Svids calls of more than 1,000 SVIDs: an agent with more entries
// due at once (all of them at its first sync) must split them, never send one refused call.
TEST(CallRangesTest, SplitsDueSvidsIntoCallsTheServerAccepts) {
  EXPECT_EQ(callRanges(0, kSvidsPerCall), Ranges{});
  EXPECT_EQ(callRanges(1, 500), (Ranges{{0, 1}}));
  EXPECT_EQ(callRanges(500, 500), (Ranges{{0, 500}}));
  EXPECT_EQ(callRanges(1001, 500), (Ranges{{0, 500}, {500, 1000}, {1000, 1001}}));
  size_t covered = 0;
  for (const auto& [begin, end] : callRanges(5000, kSvidsPerCall)) {
    EXPECT_EQ(begin, covered);
    EXPECT_LE(end - begin, 1000u);
    covered = end;
  }
  EXPECT_EQ(covered, 5000u);
}

}  // namespace
}  // namespace mutual::agent
