#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace mutual::proxy {

// The order in which one worker dials one outbound listener's endpoints (worker thread only:
// no locks). Round robin over connections: each new connection starts at the endpoint after
// the one the last connection started at. An endpoint that failed to connect within the last
// `hold_down` is dialled after the others, so one dead endpoint does not cost every connection
// a connect timeout (and its turns go round the others, not to its neighbour); it is tried
// again once the hold-down is over, after a success, or when every other endpoint fails too.
class EndpointRotation {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kHoldDown = std::chrono::seconds(10);

  EndpointRotation(size_t count, size_t start, Clock::duration hold_down = kHoldDown);

  // The endpoints' indices in the order a new connection dials them (each once).
  std::vector<size_t> order(Clock::time_point now);
  // A dial begun at `dialled` failed at `now`. Ignored when a dial begun later has succeeded
  // since (connections dial concurrently): the endpoint is back.
  void failed(size_t endpoint, Clock::time_point dialled, Clock::time_point now);
  void succeeded(size_t endpoint, Clock::time_point dialled);

 private:
  size_t next_;
  Clock::duration hold_down_;
  std::vector<Clock::time_point> failed_until_;   // per endpoint; past: healthy
  std::vector<Clock::time_point> succeeded_from_;  // per endpoint: start of the last good dial
};

}  // namespace mutual::proxy
