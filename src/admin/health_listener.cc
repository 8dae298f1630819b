#include "admin/health_listener.h"

#include <sys/socket.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "config/proxy_config.h"

namespace mutual::admin {

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
  // cpp-httplib's default options add SO_REUSEPORT, with which a second process could bind the
  // same port and answer half of the probes: address reuse only.
  server.set_socket_options([](socket_t sock) {
    int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  int port = conf.bind_port;
  if (port == 0) {
    port = server.bind_to_any_port(conf.bind_address);
  } else if (!server.bind_to_port(conf.bind_address, port)) {
    port = -1;
  }
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
