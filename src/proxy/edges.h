#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "telemetry/connection_record.h"

namespace mutual::proxy {

// Recent peers (`/edges`, like `linkerd viz edges`): one row per (direction, listener, peer
// identity or address), updated once per connection. Bounded: the oldest rows go first.
class EdgeTable {
 public:
  explicit EdgeTable(size_t capacity = 1000) : capacity_(capacity) {}
  void record(const telemetry::ConnectionRecord& record);
  nlohmann::json toJson() const;

 private:
  struct Edge {
    uint64_t connections = 0;
    uint64_t failures = 0;
    uint64_t bytes_received = 0;
    uint64_t bytes_sent = 0;
    std::string peer_address;
    std::string security;  // "mutual_tls" | "none"
    std::string last_failure;
    TimePoint last_seen;
  };
  using Key = std::tuple<std::string, std::string, std::string>;  // direction, listener, peer
  size_t capacity_;
  mutable std::mutex mu_;
  std::map<Key, Edge> edges_;
};

}  // namespace mutual::proxy
