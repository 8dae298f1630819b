#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "admin/operational.h"
#include "base/error.h"
#include "config/spire_conf.h"

namespace mutual::admin {

// SPIRE's `health_checks` listener, for `mutual server` and `mutual agent` (docs/server.md,
// docs/agent.md): on bind_address:bind_port,
//   GET live_path   200 {"live":true} while the process runs
//   GET ready_path  200 {"ready":true}, or 503 {"ready":false,"reason":"..."}
// on its own thread, never on the caller's. At most one ReadyCheck runs at a time: a probe
// that arrives meanwhile (a datastore that hangs) gets the last answer at once, or 503 once the
// running check has taken over kSlowCheck, so /live and later probes never queue behind it.
class HealthListener {
 public:
  // Fills `why` and returns false when not ready. Runs on the listener's threads.
  using ReadyCheck = std::function<bool(std::string& why)>;
  static constexpr std::chrono::seconds kSlowCheck{2};

  // Binds (bind_port 0 picks one; "localhost" is 127.0.0.1, as for SPIRE) and starts serving.
  // The error names the health_checks block.
  static Result<std::unique_ptr<HealthListener>> start(const config::spire::HealthChecks& conf,
                                                       ReadyCheck ready);
  void stop() { server_.stop(); }
  // "127.0.0.1:8080" with the bound port.
  const std::string& address() const { return server_.address(); }

 private:
  HealthListener() = default;
  OperationalServer server_;
};

}  // namespace mutual::admin
