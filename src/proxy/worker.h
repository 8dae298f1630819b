#pragma once

#include <cstddef>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "proxy/endpoints.h"
#include "proxy/snapshot.h"
#include "telemetry/metrics.h"

// Internal to the proxy module: one data-plane thread.
namespace mutual::proxy {

class Proxy;
using asio::ip::tcp;

// The addresses resolved once at start: inbound forwards and outbound endpoints.
struct Routes {
  std::vector<tcp::endpoint> inbound_forward;                // per inbound listener
  std::vector<std::vector<tcp::endpoint>> outbound_endpoints;  // per outbound listener
};

class Worker {
 public:
  Worker(Proxy& proxy, const Routes& routes, size_t index);

  // Starts the accept loops and the thread running the io_context.
  void start();
  // Closes the listeners (posted to the worker's thread).
  void stopAccepting();
  // Closes every open connection's sockets (posted), so their coroutines finish.
  void closeConnections();
  // Stops the io_context and joins the thread.
  void join();

  Proxy& proxy;
  const Routes& routes;
  const size_t index;
  asio::io_context io{1};
  telemetry::MetricsShard& metrics;
  // Worker thread only: the snapshot new connections use, swapped by posts from the control
  // thread (a plain shared_ptr: no atomics on the hot path).
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<std::unique_ptr<tcp::acceptor>> inbound_acceptors;   // per inbound listener
  std::vector<std::unique_ptr<tcp::acceptor>> outbound_acceptors;  // per outbound listener
  std::vector<EndpointRotation> endpoints;                         // per outbound listener
  std::unordered_set<tcp::socket*> live_sockets;                   // for the forced close

 private:
  std::thread thread_;
};

// The connection coroutines (connection.cc).
asio::awaitable<void> acceptLoop(Worker& worker, tcp::acceptor& acceptor, bool inbound,
                                 size_t listener);

}  // namespace mutual::proxy
