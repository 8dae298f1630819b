#include "base/rotation.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace mutual {

TimePoint renewalTime(TimePoint not_before, TimePoint not_after, double jitter) {
  if (not_after <= not_before) return not_before;
  auto lifetime = not_after - not_before;
  jitter = std::clamp(jitter, -1.0, 1.0);
  auto offset = std::chrono::duration_cast<TimePoint::duration>(lifetime * (0.5 + 0.1 * jitter));
  return not_before + offset;
}

bool shouldRenew(TimePoint now, TimePoint not_before, TimePoint not_after, double jitter) {
  return now >= not_after || now >= renewalTime(not_before, not_after, jitter);
}

std::chrono::milliseconds backoffDelay(unsigned attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap, double unit_random) {
  double ceiling = static_cast<double>(base.count()) * std::pow(2.0, std::min(attempt, 30u));
  ceiling = std::min(ceiling, static_cast<double>(cap.count()));
  unit_random = std::clamp(unit_random, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(ceiling / 2 + ceiling / 2 * unit_random));
}

double unitRandom() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace mutual
