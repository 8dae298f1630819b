#include "proxy/endpoints.h"

#include <algorithm>

namespace mutual::proxy {

EndpointRotation::EndpointRotation(size_t count, size_t start, Clock::duration hold_down)
    : next_(count == 0 ? 0 : start % count),
      hold_down_(hold_down),
      failed_until_(count),
      succeeded_from_(count) {}

std::vector<size_t> EndpointRotation::order(Clock::time_point now) {
  const size_t count = failed_until_.size();
  std::vector<size_t> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back((next_ + i) % count);
  // Held-down endpoints last, each group still in round-robin order.
  std::stable_partition(out.begin(), out.end(),
                        [&](size_t e) { return failed_until_[e] <= now; });
  if (count > 0) next_ = (out.front() + 1) % count;
  return out;
}

void EndpointRotation::failed(size_t endpoint, Clock::time_point dialled, Clock::time_point now) {
  if (dialled < succeeded_from_[endpoint]) return;
  failed_until_[endpoint] = now + hold_down_;
}

void EndpointRotation::succeeded(size_t endpoint, Clock::time_point dialled) {
  failed_until_[endpoint] = {};
  succeeded_from_[endpoint] = std::max(succeeded_from_[endpoint], dialled);
}

}  // namespace mutual::proxy
