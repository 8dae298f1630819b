#include "proxy/snapshot.h"

#include <algorithm>
#include <filesystem>

#include "policy/destination_rule.h"

namespace mutual::proxy {
namespace {

std::string resolvePath(const std::string& path, const std::string& base_dir) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

OutboundPlan planOutbound(const config::ProxyConfig& config,
                          const config::OutboundListener& listener,
                          const std::shared_ptr<const tls::Credentials>& credentials,
                          const std::string& no_svid_reason, const config::MeshConfig& policies) {
  OutboundPlan plan;
  plan.name = listener.name.empty() ? listener.listen.str() : listener.name;
  const std::string& host = listener.destination.host;
  const uint16_t port = listener.destination.port;
  std::string service_ns = serviceNamespace(host, config.mesh.domain_suffix);
  auto resolution = policy::resolveClientTls(
      policies.destination_rules, config.mesh, config.workload.namespace_name,
      config.workload.labels, host, service_ns.empty() ? config.workload.namespace_name : service_ns,
      port);
  plan.destination_rule = resolution.rule;

  config::ClientTls tls;
  if (resolution.tls) {
    tls = *resolution.tls;
  } else if (config.mesh.auto_mtls && !service_ns.empty() &&
             policy::namespaceMode(policies.peer_authentications, config.mesh.root_namespace,
                                   service_ns) != config::MtlsMode::kDisable) {
    // Auto-mTLS (istio-mtls.md §2.3): mesh services get ISTIO_MUTUAL unless their namespace
    // disables mTLS. Hosts outside the mesh's service domain stay plaintext.
    tls.mode = config::ClientTlsMode::kIstioMutual;
    plan.auto_mtls = true;
  } else {
    tls.mode = config::ClientTlsMode::kDisable;
  }
  plan.mode = std::string(policy::clientTlsModeName(tls.mode));

  switch (tls.mode) {
    case config::ClientTlsMode::kDisable:
      plan.kind = OutboundPlan::Kind::kPlaintext;
      break;
    case config::ClientTlsMode::kIstioMutual: {
      plan.kind = OutboundPlan::Kind::kMesh;
      plan.sni = tls.sni.empty() ? meshSni(host, port) : tls.sni;
      if (auto td = spiffe::TrustDomain::parse(config.trust_domain)) plan.trust_domain = *td;
      plan.allowed_ids = listener.identities;
      bool all_spiffe = true;
      for (const auto& san : tls.subject_alt_names) {
        if (auto id = spiffe::SpiffeId::parse(san)) {
          plan.allowed_ids.push_back(*id);
        } else {
          all_spiffe = false;
        }
      }
      if (!all_spiffe) {
        // A DNS name among them (Envoy matches any SAN type): the leaf's URI and DNS SANs are
        // matched against every name instead. Dropping the name would accept any server.
        for (const auto& id : plan.allowed_ids) plan.expected_sans.push_back(id.str());
        for (const auto& san : tls.subject_alt_names) {
          if (!spiffe::SpiffeId::parse(san)) plan.expected_sans.push_back(san);
        }
        plan.allowed_ids.clear();
      }
      if (!credentials) {
        plan.error = no_svid_reason;
        plan.no_svid = true;
        break;
      }
      auto context = tls::ClientContext::mesh(credentials, config.tls.session_resumption);
      if (!context) {
        plan.error = context.error().message;
        break;
      }
      plan.context = std::move(*context);
      break;
    }
    case config::ClientTlsMode::kSimple:
    case config::ClientTlsMode::kMutual: {
      plan.kind = OutboundPlan::Kind::kExternal;
      plan.sni = tls.sni.empty() ? host : tls.sni;
      plan.insecure_skip_verify = tls.insecure_skip_verify;
      if (!tls.credential_name.empty()) {
        plan.error = "DestinationRule " + resolution.rule +
                     ": credentialName is not supported by the proxy; name the files with "
                     "clientCertificate, privateKey and caCertificates";
        break;
      }
      tls::ExternalTlsSettings settings;
      settings.mutual = tls.mode == config::ClientTlsMode::kMutual;
      settings.client_certificate = resolvePath(tls.client_certificate, config.base_dir);
      settings.private_key = resolvePath(tls.private_key, config.base_dir);
      settings.ca_certificates = resolvePath(tls.ca_certificates, config.base_dir);
      settings.ca_crl = resolvePath(tls.ca_crl, config.base_dir);
      settings.subject_alt_names = tls.subject_alt_names;
      settings.insecure_skip_verify = tls.insecure_skip_verify;
      auto context = tls::ClientContext::external(settings);
      if (!context) {
        plan.error = "DestinationRule " + resolution.rule + ": " + context.error().message;
        break;
      }
      plan.context = std::move(*context);
      break;
    }
  }
  return plan;
}

}  // namespace

std::vector<std::string> filesNamedBy(const config::MeshConfig& policies,
                                      const std::string& base_dir) {
  std::vector<std::string> out;
  const auto add = [&](const std::optional<config::ClientTls>& tls) {
    if (!tls) return;
    for (const auto* path :
         {&tls->client_certificate, &tls->private_key, &tls->ca_certificates, &tls->ca_crl}) {
      if (!path->empty()) out.push_back(resolvePath(*path, base_dir));
    }
  };
  const auto addPolicy = [&](const std::optional<config::TrafficPolicy>& policy) {
    if (!policy) return;
    add(policy->tls);
    for (const auto& [port, tls] : policy->port_level) add(tls);
  };
  for (const auto& rule : policies.destination_rules) {
    addPolicy(rule.traffic_policy);
    for (const auto& subset : rule.subsets) addPolicy(subset.traffic_policy);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string serviceNamespace(const std::string& host, const std::string& domain_suffix) {
  const std::string tail = ".svc." + domain_suffix;
  if (host.size() <= tail.size() || host.compare(host.size() - tail.size(), tail.size(), tail) != 0) {
    return "";
  }
  std::string head = host.substr(0, host.size() - tail.size());  // "<name>.<ns>"
  auto dot = head.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == head.size()) return "";
  return head.substr(dot + 1);
}

std::string meshSni(const std::string& host, uint16_t port) {
  return "outbound_." + std::to_string(port) + "_._." + host;
}

std::shared_ptr<const Snapshot> buildSnapshot(const config::ProxyConfig& config,
                                              std::shared_ptr<const tls::Credentials> credentials,
                                              const config::MeshConfig& policies,
                                              uint64_t generation, std::string no_svid_reason) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = generation;
  snapshot->no_svid_reason = std::move(no_svid_reason);
  snapshot->mesh = config.mesh;
  snapshot->authorization_policies = policies.authorization_policies;
  snapshot->linkerd_servers = policies.linkerd_servers.size();
  snapshot->linkerd_authorizations = policies.linkerd_server_authorizations.size() +
                                     policies.linkerd_authorization_policies.size();
  snapshot->linkerd_authentications =
      policies.meshtls_authentications.size() + policies.network_authentications.size();
  const std::vector<config::ContainerPort> no_ports;
  const std::vector<config::ContainerPort>* ports = &no_ports;
  for (const auto& w : policies.workloads) {
    if (w.meta.namespace_name == config.workload.namespace_name &&
        w.meta.name == config.workload.name) {
      ports = &w.ports;
      break;
    }
  }
  if (credentials) {
    if (auto server = tls::ServerContext::create(credentials, config.tls.session_resumption,
                                                  config.tls.session_cache_size)) {
      snapshot->server = std::move(*server);
      snapshot->credentials = credentials;
    } else {
      snapshot->no_svid_reason = "the SVID cannot be served: " + server.error().message;
    }
  }
  for (const auto& listener : config.inbound) {
    InboundPlan plan;
    plan.name = listener.name.empty() ? listener.listen.str() : listener.name;
    plan.port = listener.port;
    plan.mode = policy::effectiveMode(policies.peer_authentications, config.mesh.root_namespace,
                                      config.workload.namespace_name, config.workload.labels,
                                      listener.port);
    plan.linkerd = policy::linkerdPortPolicy(policies, config.mesh, config.workload.namespace_name,
                                             config.workload.labels, *ports, listener.port,
                                             config.workload.linkerd_default_inbound_policy);
    snapshot->inbound.push_back(std::move(plan));
  }
  for (const auto& listener : config.outbound) {
    snapshot->outbound.push_back(planOutbound(config, listener, snapshot->credentials,
                                              snapshot->no_svid_reason, policies));
  }
  return snapshot;
}

nlohmann::json toJson(const Snapshot& snapshot) {
  nlohmann::json out;
  out["generation"] = snapshot.generation;
  out["identity"] = snapshot.credentials ? snapshot.credentials->id.str() : "";
  auto& inbound = out["inbound"] = nlohmann::json::array();
  for (const auto& plan : snapshot.inbound) {
    nlohmann::json authorizations = nlohmann::json::array();
    for (const auto& a : plan.linkerd.authorizations) authorizations.push_back(a.name);
    inbound.push_back(
        {{"listener", plan.name},
         {"port", plan.port},
         {"mode", policy::modeName(plan.mode.mode)},
         {"level", policy::levelName(plan.mode.level)},
         {"policy", plan.mode.policy},
         {"linkerd_server", plan.linkerd.server},
         {"linkerd_authorizations", authorizations},
         {"linkerd_default", plan.linkerd.fallback.name},
         {"linkerd_default_policy", config::linkerdDefaultPolicyName(plan.linkerd.fallback.policy)},
         {"linkerd_notes", plan.linkerd.notes}});
  }
  auto& outbound = out["outbound"] = nlohmann::json::array();
  for (const auto& plan : snapshot.outbound) {
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& id : plan.allowed_ids) ids.push_back(id.str());
    outbound.push_back({{"listener", plan.name},
                        {"tls_mode", plan.mode},
                        {"auto_mtls", plan.auto_mtls},
                        {"destination_rule", plan.destination_rule},
                        {"sni", plan.sni},
                        {"allowed_ids", ids},
                        {"expected_sans", plan.expected_sans},
                        {"insecure_skip_verify", plan.insecure_skip_verify},
                        {"error", plan.error}});
  }
  out["authorization_policies"] = snapshot.authorization_policies.size();
  out["linkerd_servers"] = snapshot.linkerd_servers;
  out["linkerd_authorizations"] = snapshot.linkerd_authorizations;
  out["linkerd_authentications"] = snapshot.linkerd_authentications;
  return out;
}

}  // namespace mutual::proxy
