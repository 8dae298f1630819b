#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "config/proxy_config.h"
#include "proxy/edges.h"
#include "proxy/snapshot.h"
#include "telemetry/access_log.h"
#include "telemetry/metrics.h"
#include "tls/credentials.h"

namespace mutual::proxy {

class Worker;
struct Routes;

// The sidecar proxy for one workload (`mutual proxy run`): N data-plane workers, each with its
// own io_context and SO_REUSEPORT listeners, and one control thread that watches the
// credential and policy files and publishes a new Snapshot to every worker when they change.
//
// Inbound connections are handled by the effective PeerAuthentication mode of their port,
// authorized by the peer's SPIFFE ID, then forwarded to the application; outbound connections
// are originated per DestinationRule / auto-mTLS. Every connection ends in one
// telemetry::ConnectionRecord: one access-log line and the metrics.
class Proxy {
 public:
  // Reads the policies and (when present) the credentials, and binds every listener, so that
  // a port in use or an unreadable policy file is reported before anything runs. Missing or
  // invalid credentials are not an error: the proxy starts not ready and fails closed until
  // valid ones appear.
  static Result<std::unique_ptr<Proxy>> create(config::ProxyConfig config);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Starts the workers and the control thread.
  void start();
  // Stops accepting (ready turns false), lets open connections finish for up to the drain
  // timeout, then closes what is left and joins every thread. Idempotent.
  void shutdown();

  // Listeners are up, an SVID is loaded and still valid, and the proxy is not draining.
  bool ready() const { return notReadyReason().empty(); }
  // Why the proxy is not ready ("no SVID loaded yet: <last refusal>", "the SVID expired at
  // <time>", "draining"); "" when it is.
  std::string notReadyReason() const;
  // Admin views; callable from any thread.
  nlohmann::json certs() const;
  nlohmann::json configDump() const;
  nlohmann::json edges() const;
  std::string metricsText() const;
  // The addresses listeners are bound to (port 0 resolved), in config order.
  std::vector<std::string> inboundAddresses() const;
  std::vector<std::string> outboundAddresses() const;
  const config::ProxyConfig& config() const { return config_; }

  // The identity seam: whatever delivers SVIDs (files, the Workload API) calls these from any
  // thread. A failure keeps the current credentials and is reported in /certs and the metrics.
  void setCredentials(std::shared_ptr<const tls::Credentials> credentials);
  void credentialsFailed(const std::string& why);
  // The two above as a sink for a feed (the Workload API's); the proxy must outlive it.
  tls::CredentialSink credentialSink();

  // For the workers.
  telemetry::Metrics& metrics() { return *metrics_; }
  telemetry::AccessLog* accessLog() { return access_log_.get(); }
  EdgeTable& edgeTable() { return edges_; }
  uint64_t nextConnectionId() { return next_connection_id_.fetch_add(1, std::memory_order_relaxed); }
  // Counts a connection in; false when max_connections are already open.
  bool admit();
  void release();

 private:
  explicit Proxy(config::ProxyConfig config);
  Result<void> bind();
  void controlLoop();
  void pollFiles();
  Result<void> reloadPolicies();
  void reloadCredentialFiles();
  void publish();  // builds a snapshot from the current state and posts it to every worker
  // Notices the SVID's expiry (and its replacement) and publishes a snapshot without it.
  void checkExpiry();
  std::string expiredReason() const;  // "the SVID expired at <time>"; needs mu_ and credentials_

  config::ProxyConfig config_;
  std::unique_ptr<telemetry::Metrics> metrics_;
  std::unique_ptr<telemetry::AccessLog> access_log_;
  EdgeTable edges_;
  std::unique_ptr<Routes> routes_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<uint32_t> active_connections_{0};
  std::atomic<bool> draining_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};

  // Control state (guarded by mu_).
  mutable std::mutex mu_;
  std::shared_ptr<const tls::Credentials> credentials_;
  config::MeshConfig policies_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint64_t generation_ = 0;
  std::string credentials_error_;    // the last refusal, "" after a successful load
  // credentials_ expired and nothing replaced them: snapshots carry none (fail closed).
  bool credentials_expired_ = false;
  std::string policies_error_;
  uint64_t rotations_ = 0;
  std::string file_signature_;       // credential files, to notice changes
  std::string policy_signature_;     // policy files and tls_files_
  std::vector<std::string> tls_files_;  // named by the DestinationRules loaded (filesNamedBy)

  std::thread control_thread_;
  std::mutex control_mu_;
  std::condition_variable control_cv_;
  bool control_stop_ = false;
};

}  // namespace mutual::proxy
