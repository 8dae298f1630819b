#include "proxy/edges.h"

#include <algorithm>

#include "base/time.h"

namespace mutual::proxy {

void EdgeTable::record(const telemetry::ConnectionRecord& record) {
  std::string address = record.direction == telemetry::Direction::kInbound
                            ? record.downstream_remote_address
                            : record.upstream_host;
  // Identified peers are one row however many addresses they use; others are keyed by IP.
  std::string peer = record.peer_principal;
  if (peer.empty()) peer = address.substr(0, address.rfind(':'));
  Key key{std::string(telemetry::directionName(record.direction)), record.listener, peer};
  std::lock_guard lock(mu_);
  if (edges_.size() >= capacity_ && edges_.find(key) == edges_.end()) {
    auto oldest = std::min_element(edges_.begin(), edges_.end(), [](const auto& a, const auto& b) {
      return a.second.last_seen < b.second.last_seen;
    });
    edges_.erase(oldest);
  }
  Edge& edge = edges_[key];
  edge.connections++;
  bool failed = !record.downstream_transport_failure_reason.empty() ||
                !record.upstream_transport_failure_reason.empty() ||
                record.authz_decision == "deny" || !record.response_flags.empty();
  if (failed) {
    edge.failures++;
    edge.last_failure = !record.downstream_transport_failure_reason.empty()
                            ? record.downstream_transport_failure_reason
                        : !record.upstream_transport_failure_reason.empty()
                            ? record.upstream_transport_failure_reason
                            : !record.connection_termination_details.empty()
                                  ? record.connection_termination_details
                                  : record.response_flags;
  }
  edge.bytes_received += record.bytes_received;
  edge.bytes_sent += record.bytes_sent;
  edge.peer_address = address;
  // A failed mTLS handshake carries the policy that applied (mutual_tls) but secured nothing:
  // the SECURED column must not show it as mTLS.
  edge.security = record.handshake.attempted && !record.handshake.ok
                      ? "none"
                      : record.connection_security_policy;
  edge.last_seen = record.start_time + std::chrono::duration_cast<std::chrono::system_clock::duration>(record.duration);
}

nlohmann::json EdgeTable::toJson() const {
  nlohmann::json rows = nlohmann::json::array();
  std::lock_guard lock(mu_);
  for (const auto& [key, edge] : edges_) {
    const auto& [direction, listener, peer] = key;
    bool identified = peer.rfind("spiffe://", 0) == 0;
    rows.push_back({{"direction", direction},
                    {"listener", listener},
                    {"peer", peer},
                    {"peer_identity", identified ? peer : ""},
                    {"peer_address", edge.peer_address},
                    {"mtls", edge.security == "mutual_tls"},
                    {"connection_security_policy", edge.security},
                    {"connections", edge.connections},
                    {"failures", edge.failures},
                    {"last_failure", edge.last_failure},
                    {"bytes_received", edge.bytes_received},
                    {"bytes_sent", edge.bytes_sent},
                    {"last_seen", formatRfc3339(edge.last_seen)}});
  }
  return rows;
}

}  // namespace mutual::proxy
