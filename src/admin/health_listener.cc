#include "admin/health_listener.h"

#include <sys/socket.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "config/proxy_config.h"

namespace mutual::admin {

int bindOperational(httplib::Server& server, const std::string& host, int port) {
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_socket_options([](socket_t sock) {
    int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  if (port == 0) return server.bind_to_any_port(host);
  return server.bind_to_port(host, port) ? port : -1;
}

Result<std::unique_ptr<HealthListener>> HealthListener::start(
    const config::spire::HealthChecks& conf, ReadyCheck ready) {
  std::unique_ptr<HealthListener> listener(new HealthListener);
  listener->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *listener->server_;
  server.Get(conf.live_path, [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"live\":true}\n", "application/json");
  });
  server.Get(conf.ready_path, [ready = std::move(ready)](const httplib::Request&,
                                                         httplib::Response& res) {
    std::string why;
    const bool is_ready = ready(why);
    nlohmann::json body = {{"ready", is_ready}};
    if (!is_ready) {
      res.status = 503;
      body["reason"] = why;
    }
    // The reason may quote a datastore's or a server's message (PostgreSQL's names hosts in
    // quotes, and may be in another encoding): JSON escaping, and bytes that are not UTF-8
    // replaced, not thrown.
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                    "application/json");
  });
  const int port = bindOperational(server, conf.bind_address, conf.bind_port);
  config::HostPort where{conf.bind_address, static_cast<uint16_t>(port < 0 ? conf.bind_port : port)};
  if (port < 0) {
    return fail(Code::kUnavailable,
                conf.location.str() + ": health_checks: cannot listen on " + where.str() + " (in use?)");
  }
  listener->address_ = where.str();
  listener->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return listener;
}

HealthListener::~HealthListener() { stop(); }

void HealthListener::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace mutual::admin
