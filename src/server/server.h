#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "config/spire_conf.h"
#include "spiffe/spiffe_id.h"

// `mutual server run`: the control plane as one object. docs/server.md is the user's guide.
//
// Threads: gRPC's pool serves the Node API (TLS, bind_address:bind_port) and the Admin API
// (unix socket_path); one control thread runs an io_context whose timer ticks the CA rotator,
// renews the server's own SVID, refreshes the trust bundle file and prunes expired tokens;
// one writer thread records issued certificates in batches (IssuedRecorder).
//
// TLS rotation: the Node API's credentials come from a gRPC FileWatcherCertificateProvider over
// three files in <data_dir>/tls (server.crt, server.key, bundle.crt) that the control thread
// rewrites atomically; gRPC re-reads them every second, so a new server SVID or a new root is
// used by new handshakes without rebuilding the server or dropping connections.
namespace mutual::server {

struct ServerOptions {
  std::shared_ptr<const Clock> clock;  // the real clock when null
  Seconds tick{10};                    // the rotator's period (SPIRE: 10 s)
};

class Server {
 public:
  // Starts everything from a parsed server.conf; relative paths in it are resolved against
  // `base_dir` (the configuration file's directory). Errors name the setting and file at
  // fault: an unreadable ca_bundle_path, an unreachable database, a port in use.
  static Result<std::unique_ptr<Server>> start(config::spire::ServerConf conf,
                                               const std::filesystem::path& base_dir,
                                               ServerOptions options = {});
  // Loads `conf_path` and starts (relative paths against the file's directory).
  static Result<std::unique_ptr<Server>> startFromFile(const std::string& conf_path,
                                                       ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The Node API's address as a local client reaches it ("127.0.0.1:<port>" for a wildcard
  // bind_address), with the port actually bound (bind_port 0 picks one).
  std::string nodeAddress() const;
  int nodePort() const;
  std::string adminSocket() const;
  const spiffe::TrustDomain& trustDomain() const;
  // The directory of runtime data (resolved data_dir).
  const std::filesystem::path& dataDir() const;

  // Graceful stop: no new calls, calls in flight get `grace` to finish, then the control
  // thread stops and queued records are written. Idempotent; the destructor calls it.
  void shutdown(std::chrono::seconds grace = std::chrono::seconds(5));

  struct State;

 private:
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The server's identity on disk: <data_dir>/server_id, a UUID made on first start. Names the
// server's CA journal in a datastore that several servers share.
Result<std::string> loadOrCreateServerId(const std::filesystem::path& data_dir);

}  // namespace mutual::server
