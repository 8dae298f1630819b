#pragma once

#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "config/proxy_config.h"

namespace httplib {
class Server;
}

namespace mutual::proxy {
class Proxy;
}

namespace mutual::admin {

// Serves the proxy's admin API on `address` (docs/proxy.md, "Admin API"):
//   GET  /metrics            Prometheus text format
//   GET  /ready              200 "ready" / 503 with the reason
//   GET  /certs              the SVID chain, SPIFFE ID, serial, validity, bundle roots (JSON)
//   GET  /config_dump        proxy.yaml with defaults, and the current snapshot's decisions
//   GET  /edges              recent peers with identity and whether mTLS was used (JSON)
//   GET  /logging            the current level; POST /logging?level=debug changes it
class AdminServer {
 public:
  // Binds (port 0 picks one) and starts serving on a background thread.
  static Result<std::unique_ptr<AdminServer>> start(const config::HostPort& address,
                                                     proxy::Proxy& proxy);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void stop();
  // "127.0.0.1:15000" with the bound port.
  const std::string& address() const { return address_; }

 private:
  AdminServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace mutual::admin
