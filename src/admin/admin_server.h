#pragma once

#include <memory>
#include <string>

#include "admin/operational.h"
#include "base/error.h"
#include "config/proxy_config.h"

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

  void stop() { server_.stop(); }
  // "127.0.0.1:15000" with the bound port.
  const std::string& address() const { return server_.address(); }

 private:
  AdminServer() = default;
  OperationalServer server_;
};

}  // namespace mutual::admin
