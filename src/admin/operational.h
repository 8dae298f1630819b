#pragma once

#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace mutual::admin {

// The operational HTTP endpoints' server (the proxy's admin API, the health listener):
// cpp-httplib on threads of its own, never on a data-plane worker or a control thread.
// cpp-httplib gives each connection a thread for as long as it is open, so a few clients that
// connect and send nothing (or a byte now and then) would hold every thread and leave probes
// and scrapes unanswered: eight threads, and a connection that sends no complete request for
// kOperationalIdleTimeoutSeconds is closed. Address reuse only (cpp-httplib's default adds
// SO_REUSEPORT, with which a second process could bind the same port and answer half of the
// requests).
inline constexpr int kOperationalThreads = 8;
inline constexpr int kOperationalIdleTimeoutSeconds = 2;

class OperationalServer {
 public:
  OperationalServer();
  ~OperationalServer();  // stops
  OperationalServer(const OperationalServer&) = delete;
  OperationalServer& operator=(const OperationalServer&) = delete;

  // Where the routes are added, before start().
  httplib::Server& http() { return *server_; }
  // Binds host:port (0: a free port) and serves; returns once the server accepts, because
  // cpp-httplib's stop() does nothing before it runs (a stop() right after start would leave
  // the thread accepting and its join hanging). False when it cannot bind.
  bool start(const std::string& host, int port);
  void stop();
  // "127.0.0.1:15000" with the bound port, once started.
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

// `path` as a cpp-httplib route that matches exactly that path: routes are regular
// expressions, and configured paths must not be read as such ("." matching anything, "/a["
// throwing).
std::string literalRoute(const std::string& path);

}  // namespace mutual::admin
