#include "admin/health_listener.h"

#include <mutex>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "admin/operational.h"
#include "config/proxy_config.h"

namespace mutual::admin {
namespace {

// One ReadyCheck at a time (HealthListener's comment): the probe that finds none running runs
// it; the others answer from what it last found.
class SingleFlightReady {
 public:
  explicit SingleFlightReady(HealthListener::ReadyCheck check) : check_(std::move(check)) {}

  bool ready(std::string& why) {
    using Clock = std::chrono::steady_clock;
    {
      std::lock_guard lock(mu_);
      if (running_) {
        const auto waited = Clock::now() - started_;
        if (waited >= HealthListener::kSlowCheck) {
          why = "the readiness check has not answered for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(waited).count()) +
                "s" + (last_reason_.empty() ? "" : " (before: " + last_reason_ + ")");
          return false;
        }
        why = last_reason_;
        return last_ready_;
      }
      running_ = true;
      started_ = Clock::now();
    }
    std::string reason;
    const bool is_ready = check_(reason);
    std::lock_guard lock(mu_);
    running_ = false;
    last_ready_ = is_ready;
    last_reason_ = reason;
    why = std::move(reason);
    return is_ready;
  }

 private:
  const HealthListener::ReadyCheck check_;
  std::mutex mu_;
  bool running_ = false;
  std::chrono::steady_clock::time_point started_;
  bool last_ready_ = false;
  std::string last_reason_ = "not checked yet";
};

}  // namespace

Result<std::unique_ptr<HealthListener>> HealthListener::start(
    const config::spire::HealthChecks& conf, ReadyCheck ready) {
  std::unique_ptr<HealthListener> listener(new HealthListener);
  httplib::Server& server = listener->server_.http();
  server.Get(literalRoute(conf.live_path), [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"live\":true}\n", "application/json");
  });
  auto check = std::make_shared<SingleFlightReady>(std::move(ready));
  server.Get(literalRoute(conf.ready_path),
             [check](const httplib::Request&, httplib::Response& res) {
               std::string why;
               const bool is_ready = check->ready(why);
               nlohmann::json body = {{"ready", is_ready}};
               if (!is_ready) {
                 res.status = 503;
                 body["reason"] = why;
               }
               // The reason may quote a datastore's or a server's message (PostgreSQL's names
               // hosts in quotes, and may be in another encoding): JSON escaping, and bytes
               // that are not UTF-8 replaced, not thrown.
               res.set_content(
                   body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                   "application/json");
             });
  // Go's listener, SPIRE's, binds "localhost" to 127.0.0.1; getaddrinfo would often give ::1.
  const std::string host = conf.bind_address == "localhost" ? "127.0.0.1" : conf.bind_address;
  if (!listener->server_.start(host, conf.bind_port)) {
    const config::HostPort where{host, static_cast<uint16_t>(conf.bind_port)};
    return fail(Code::kUnavailable,
                conf.location.str() + ": health_checks: cannot listen on " + where.str() +
                    (conf.bind_port < 1024 ? " (in use? ports under 1024 need privileges)"
                                           : " (in use?)"));
  }
  return listener;
}

}  // namespace mutual::admin
