#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "config/spire_conf.h"

namespace httplib {
class Server;
}

namespace mutual::admin {

// Sets `server` up as the operational endpoints want it, and binds it to host:port (0: a free
// port): two threads (plenty for probes, scrapes and operators; cpp-httplib's default is
// eight), and address reuse only (cpp-httplib's default adds SO_REUSEPORT, with which a second
// process could bind the same port and answer half of the requests). Returns the bound port,
// or -1.
int bindOperational(httplib::Server& server, const std::string& host, int port);

// SPIRE's `health_checks` listener, for `mutual server` and `mutual agent` (docs/server.md,
// docs/agent.md): on bind_address:bind_port,
//   GET live_path   200 {"live":true} while the process runs
//   GET ready_path  200 {"ready":true}, or 503 {"ready":false,"reason":"..."}
// on its own thread, never on the caller's.
class HealthListener {
 public:
  // Fills `why` and returns false when not ready. Runs on the listener's thread.
  using ReadyCheck = std::function<bool(std::string& why)>;

  // Binds (bind_port 0 picks one; bindOperational) and starts serving. The error names the
  // health_checks block.
  static Result<std::unique_ptr<HealthListener>> start(const config::spire::HealthChecks& conf,
                                                       ReadyCheck ready);
  ~HealthListener();
  HealthListener(const HealthListener&) = delete;
  HealthListener& operator=(const HealthListener&) = delete;

  void stop();
  // "127.0.0.1:8080" with the bound port.
  const std::string& address() const { return address_; }

 private:
  HealthListener() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace mutual::admin
