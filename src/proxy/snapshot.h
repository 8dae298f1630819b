#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/mesh.h"
#include "config/proxy_config.h"
#include "policy/linkerd_authz.h"
#include "policy/peer_authn.h"
#include "tls/context.h"

// What every connection of one generation sees: the TLS contexts and the policy decisions for
// each listener, computed once on the control thread whenever credentials or policies change,
// then posted to every worker. Connections keep the snapshot they started with, so a rotation
// never touches an open connection.
namespace mutual::proxy {

struct InboundPlan {
  std::string name;                   // the listener label: its name, or its listen address
  uint32_t port = 0;                  // the workload port policies name
  policy::ModeDecision mode;          // STRICT / PERMISSIVE / DISABLE and what decided it
  // The Linkerd Server of the port, its authorizations and accessPolicy, or the default policy.
  policy::LinkerdPortPolicy linkerd;
};

// How an outbound listener originates traffic (istio-mtls.md §2).
struct OutboundPlan {
  enum class Kind { kPlaintext, kMesh, kExternal };
  std::string name;
  Kind kind = Kind::kPlaintext;
  std::string mode;                 // "ISTIO_MUTUAL", "MUTUAL", "SIMPLE", "DISABLE"
  bool auto_mtls = false;           // chosen by auto-mTLS, not by a DestinationRule
  std::string destination_rule;     // "namespace/name", "" when none applied
  std::shared_ptr<tls::ClientContext> context;  // kMesh / kExternal; null: fail closed
  std::string sni;
  std::optional<spiffe::TrustDomain> trust_domain;  // kMesh: the server must be in it
  std::vector<spiffe::SpiffeId> allowed_ids;        // kMesh: when non-empty, one of these
  // kMesh, when the DestinationRule's subjectAltNames include a name that is not a SPIFFE ID:
  // the server's leaf must carry one of these as a URI or DNS SAN (allowed_ids is then empty).
  std::vector<std::string> expected_sans;
  bool insecure_skip_verify = false;
  std::string error;                // why the plan cannot carry traffic; "" when it can
  // The error is that no usable SVID is loaded (no_certificate_loaded), not the configuration
  // (a DestinationRule's unreadable files, say: tls_config_error).
  bool no_svid = false;
};

struct Snapshot {
  uint64_t generation = 0;
  std::shared_ptr<const tls::Credentials> credentials;  // null: no usable SVID
  std::shared_ptr<const tls::ServerContext> server;     // null: no usable SVID
  std::string no_svid_reason;  // why they are null: none yet, or the SVID expired
  std::vector<InboundPlan> inbound;    // in the order of config.inbound
  std::vector<OutboundPlan> outbound;  // in the order of config.outbound
  std::vector<config::AuthorizationPolicy> authorization_policies;
  config::MeshSettings mesh;
  // How many Linkerd objects the inbound plans were compiled from (for /config_dump).
  size_t linkerd_servers = 0;
  size_t linkerd_authorizations = 0;   // ServerAuthorizations and AuthorizationPolicies
  size_t linkerd_authentications = 0;  // MeshTLSAuthentications and NetworkAuthentications
};

// Builds a snapshot. `credentials` may be null (none received yet, or the SVID expired:
// `no_svid_reason` says which; inbound mTLS and ISTIO_MUTUAL plans fail closed). Each inbound plan's Linkerd policy is compiled here, with
// the container ports of the workload's Deployment / Pod when `policies` holds it (a Server
// naming its port by name needs them). Errors of one outbound plan (a DestinationRule naming
// unreadable files, say) are kept in that plan, not returned: the other listeners still work.
std::shared_ptr<const Snapshot> buildSnapshot(const config::ProxyConfig& config,
                                              std::shared_ptr<const tls::Credentials> credentials,
                                              const config::MeshConfig& policies,
                                              uint64_t generation,
                                              std::string no_svid_reason = "no SVID loaded yet");

// The files DestinationRules name for SIMPLE and MUTUAL (client certificates and keys, CAs,
// CRLs; top level, per port and per subset), resolved as buildSnapshot resolves them: the proxy
// watches them with the policies, so a rotated client certificate is picked up.
std::vector<std::string> filesNamedBy(const config::MeshConfig& policies,
                                      const std::string& base_dir);

// The namespace of a Kubernetes service host "<name>.<ns>.svc.<suffix>", "" for other hosts.
std::string serviceNamespace(const std::string& host, const std::string& domain_suffix);

// Istio's SNI for ISTIO_MUTUAL: "outbound_.<port>_.<subset>_.<host>" with "_" for no subset.
std::string meshSni(const std::string& host, uint16_t port);

nlohmann::json toJson(const Snapshot& snapshot);

}  // namespace mutual::proxy
