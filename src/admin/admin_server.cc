#include "admin/admin_server.h"

#include <httplib.h>

#include "admin/operational.h"
#include "proxy/proxy.h"
#include "telemetry/logging.h"

namespace mutual::admin {
namespace {

void json(httplib::Response& response, const nlohmann::json& body) {
  response.set_content(body.dump(2) + "\n", "application/json");
}

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::start(const config::HostPort& address,
                                                         proxy::Proxy& proxy) {
  std::unique_ptr<AdminServer> admin(new AdminServer());
  auto& server = admin->server_.http();

  server.Get("/metrics", [&proxy](const httplib::Request&, httplib::Response& response) {
    response.set_content(proxy.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/ready", [&proxy](const httplib::Request&, httplib::Response& response) {
    const std::string why = proxy.notReadyReason();
    if (why.empty()) {
      response.set_content("ready\n", "text/plain");
      return;
    }
    response.status = 503;
    response.set_content("not ready: " + why + "\n", "text/plain");
  });
  server.Get("/certs", [&proxy](const httplib::Request&, httplib::Response& response) {
    json(response, proxy.certs());
  });
  server.Get("/config_dump", [&proxy](const httplib::Request&, httplib::Response& response) {
    json(response, proxy.configDump());
  });
  server.Get("/edges", [&proxy](const httplib::Request&, httplib::Response& response) {
    json(response, proxy.edges());
  });
  server.Get("/logging", [](const httplib::Request& request, httplib::Response& response) {
    if (request.has_param("level")) {
      // A GET must not change state, and answering it with the unchanged level would look
      // like success.
      response.status = 405;
      response.set_header("Allow", "POST");
      response.set_content("the level is changed with POST /logging?level=LEVEL\n", "text/plain");
      return;
    }
    json(response, {{"level", std::string(telemetry::logLevel())}});
  });
  // Operators type `curl -X POST host:port/logging?level=debug` (Envoy's admin habit): no body
  // and no Content-Length. httplib answers such a POST with 400 before any plain handler runs,
  // because it wants to read a body; a content-reader handler decides itself, so it reads (and
  // ignores) a body only when one is declared.
  server.Post("/logging", [](const httplib::Request& request, httplib::Response& response,
                             const httplib::ContentReader& content_reader) {
    if (request.has_header("Content-Length") || request.has_header("Transfer-Encoding")) {
      content_reader([](const char*, size_t) { return true; });
    }
    if (!request.has_param("level")) {
      response.status = 400;
      response.set_content("missing ?level=\n", "text/plain");
      return;
    }
    if (auto set = telemetry::setLevel(request.get_param_value("level")); !set) {
      response.status = 400;
      response.set_content(set.error().message + "\n", "text/plain");
      return;
    }
    json(response, {{"level", std::string(telemetry::logLevel())}});
  });

  if (!admin->server_.start(address.host, address.port)) {
    return fail(Code::kUnavailable, "admin " + address.str() + ": cannot bind (in use?)");
  }
  return admin;
}

}  // namespace mutual::admin
