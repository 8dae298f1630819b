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

// Evaluates AuthorizationPolicies for a connection to workload (namespace, labels) on
// `port` from a peer with `peer_id` (nullopt for plaintext) — istio-mtls.md §6: policies of the
// workload's namespace and of the root namespace, selectors matched against the workload;
// DENY first, then ALLOW (if any ALLOW policy applies, one must match). CUSTOM and AUDIT are
// not evaluated; `when` conditions are assumed to hold.
AuthzDecision authorize(const std::vector<config::AuthorizationPolicy>& policies,
                        const config::MeshSettings& mesh, const std::string& namespace_name,
                        const config::Labels& labels, uint32_t port,
                        const std::optional<std::string>& peer_id);

}  // namespace mutual::policy
