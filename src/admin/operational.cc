#include "admin/operational.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>

#include <httplib.h>

#include "config/proxy_config.h"

namespace mutual::admin {

OperationalServer::OperationalServer() : server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(kOperationalThreads); };
  server_->set_read_timeout(kOperationalIdleTimeoutSeconds, 0);
  server_->set_write_timeout(kOperationalIdleTimeoutSeconds, 0);
  server_->set_keep_alive_timeout(kOperationalIdleTimeoutSeconds);
  server_->set_socket_options([](socket_t sock) {
    int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
}

OperationalServer::~OperationalServer() { stop(); }

bool OperationalServer::start(const std::string& host, int port) {
  httplib::Server& server = *server_;
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) return false;
  address_ = config::HostPort{host, static_cast<uint16_t>(port)}.str();
  auto returned = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([&server, returned] {
    server.listen_after_bind();
    returned->store(true);
  });
  while (!server.is_running() && !returned->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void OperationalServer::stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string literalRoute(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace mutual::admin
