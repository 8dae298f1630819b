#include "admin/operational.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>

#include <httplib.h>

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

std::thread serveOperational(httplib::Server& server) {
  auto returned = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([&server, returned] {
    server.listen_after_bind();
    returned->store(true);
  });
  while (!server.is_running() && !returned->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return thread;
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
