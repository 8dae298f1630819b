#pragma once

#include <string>

#include "config/mesh.h"

// Small builders for policy tests: manifests as the config module would produce them.
namespace mutual::policy::testing {

inline config::PolicyMeta meta(std::string ns, std::string name, std::string created = "") {
  config::PolicyMeta m;
  m.name = std::move(name);
  m.namespace_name = std::move(ns);
  m.creation_timestamp = std::move(created);
  return m;
}

inline config::PeerAuthentication peerAuthn(std::string ns, std::string name, config::MtlsMode mode,
                                            std::optional<config::Labels> selector = {},
                                            std::map<uint32_t, config::MtlsMode> ports = {},
                                            std::string created = "") {
  config::PeerAuthentication p;
  p.meta = meta(std::move(ns), std::move(name), std::move(created));
  p.mode = mode;
  p.selector = std::move(selector);
  p.port_level = std::move(ports);
  return p;
}

inline config::ClientTls tls(config::ClientTlsMode mode) {
  config::ClientTls t;
  t.mode = mode;
  return t;
}

inline config::DestinationRule destinationRule(std::string ns, std::string name, std::string host,
                                               std::optional<config::ClientTls> top,
                                               std::string created = "") {
  config::DestinationRule dr;
  dr.meta = meta(std::move(ns), std::move(name), std::move(created));
  dr.host = std::move(host);
  config::TrafficPolicy tp;
  tp.tls = std::move(top);
  dr.traffic_policy = std::move(tp);
  return dr;
}

inline config::Workload workload(std::string ns, std::string name, config::Labels labels,
                                 std::string sa = "default", bool sidecar = true) {
  config::Workload w;
  w.meta = meta(std::move(ns), std::move(name));
  w.kind = "Deployment";
  w.labels = std::move(labels);
  w.service_account = std::move(sa);
  w.sidecar = sidecar;
  return w;
}

inline config::Service service(std::string ns, std::string name, config::Labels selector,
                               uint32_t port, uint32_t target_port, std::string port_name = "tcp") {
  config::Service s;
  s.meta = meta(std::move(ns), std::move(name));
  s.selector = std::move(selector);
  config::ServicePort p;
  p.name = std::move(port_name);
  p.port = port;
  p.target_port = target_port;
  s.ports.push_back(p);
  return s;
}

}  // namespace mutual::policy::testing
