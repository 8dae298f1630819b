#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/mesh.h"

namespace mutual::policy {

// Whether a request may reach a workload, and which policy said so.
struct AuthzDecision {
  bool allowed = true;
  std::string policy;  // "namespace/name" of the deciding policy, "" when none applies
  std::string reason;  // for a denial: which policy and why; for an audit: what it would deny
  bool audit = false;  // allowed only because the deciding policy audits (Linkerd's audit)
};

// Matches one Istio principal pattern ("cluster.local/ns/foo/sa/bar", "prefix*", "*suffix",
// "*") against a peer SPIFFE ID ("spiffe://td/ns/foo/sa/bar"). A pattern in trust domain
// "cluster.local" also matches `trust_domain` (Istio's alias expansion). `*` matches any
// authenticated peer; nothing matches a peer without identity.
bool principalMatches(const std::string& pattern, const std::optional<std::string>& peer_id,
                      const std::string& trust_domain);

// The connection being authorized.
struct AuthzConnection {
  std::optional<std::string> peer_id;  // its verified SPIFFE ID; nullopt for plaintext
  // The peer's address and the one it connected to. nullopt: unknown, as for the offline
  // simulator (`mutual check tls`), when conditions on them are assumed to hold.
  std::optional<config::IpAddress> source;
  std::optional<config::IpAddress> destination;
};

// Evaluates AuthorizationPolicies for a connection to workload (namespace, labels) on `port`
// — istio-mtls.md §6: policies of the workload's namespace and of the root namespace,
// selectors matched against the workload; CUSTOM, then DENY, then ALLOW (if any ALLOW policy
// applies, one must match). A matching CUSTOM policy denies: its external authorizer cannot be
// asked (mutual has none), and failing open would let its traffic through unchecked. AUDIT
// policies only log in Istio and decide nothing. `when` keys evaluated: source.ip, remote.ip,
// destination.ip, destination.port, source.principal, source.namespace; any other key (the
// request.* ones, connection.sni, ...) is treated as HTTP-only (see AuthzSource).
AuthzDecision authorize(const std::vector<config::AuthorizationPolicy>& policies,
                        const config::MeshSettings& mesh, const std::string& namespace_name,
                        const config::Labels& labels, uint32_t port,
                        const AuthzConnection& connection);

// The same with the addresses unknown (the offline simulator).
AuthzDecision authorize(const std::vector<config::AuthorizationPolicy>& policies,
                        const config::MeshSettings& mesh, const std::string& namespace_name,
                        const config::Labels& labels, uint32_t port,
                        const std::optional<std::string>& peer_id);

}  // namespace mutual::policy
