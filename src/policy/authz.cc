#include "policy/authz.h"

#include <string_view>

#include "policy/peer_authn.h"

namespace mutual::policy {

namespace {

constexpr std::string_view kSpiffePrefix = "spiffe://";
constexpr std::string_view kDefaultTrustDomain = "cluster.local";

// Views, not copies: the simulator evaluates policies once per connection.
bool starMatch(std::string_view pattern, std::string_view value) {
  if (pattern == "*") return !value.empty();
  if (pattern.size() > 1 && pattern.back() == '*') {
    return value.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  if (pattern.size() > 1 && pattern.front() == '*') {
    return value.ends_with(pattern.substr(1));
  }
  return pattern == value;
}

// "ns" of a principal "td/ns/<ns>/sa/<sa>", or "".
std::string_view namespaceOf(std::string_view principal) {
  const auto pos = principal.find("/ns/");
  if (pos == std::string_view::npos) return {};
  const auto start = pos + 4;
  const auto end = principal.find('/', start);
  return principal.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                               : end - start);
}

bool anyPrincipal(const std::vector<std::string>& patterns,
                  const std::optional<std::string>& peer, const std::string& td) {
  for (const auto& p : patterns) {
    if (principalMatches(p, peer, td)) return true;
  }
  return false;
}

bool anyNamespace(const std::vector<std::string>& patterns,
                  const std::optional<std::string>& peer) {
  if (!peer) return false;
  const std::string_view ns = namespaceOf(*peer);
  if (ns.empty()) return false;
  for (const auto& p : patterns) {
    if (starMatch(p, ns)) return true;
  }
  return false;
}

bool sourceMatches(const config::AuthzSource& s, const std::optional<std::string>& peer,
                   const std::string& td) {
  if (!s.principals.empty() && !anyPrincipal(s.principals, peer, td)) return false;
  if (!s.not_principals.empty() && anyPrincipal(s.not_principals, peer, td)) return false;
  if (!s.namespaces.empty() && !anyNamespace(s.namespaces, peer)) return false;
  if (!s.not_namespaces.empty() && anyNamespace(s.not_namespaces, peer)) return false;
  return true;
}

bool operationMatches(const config::AuthzOperation& op, uint32_t port) {
  const std::string p = std::to_string(port);
  if (!op.ports.empty()) {
    bool hit = false;
    for (const auto& want : op.ports) hit = hit || want == p;
    if (!hit) return false;
  }
  for (const auto& not_port : op.not_ports) {
    if (not_port == p) return false;
  }
  return true;
}

bool ruleMatches(const config::AuthzRule& rule, uint32_t port,
                 const std::optional<std::string>& peer, const std::string& td) {
  if (!rule.from.empty()) {
    bool hit = false;
    for (const auto& s : rule.from) hit = hit || sourceMatches(s, peer, td);
    if (!hit) return false;
  }
  if (!rule.to.empty()) {
    bool hit = false;
    for (const auto& op : rule.to) hit = hit || operationMatches(op, port);
    if (!hit) return false;
  }
  return true;
}

bool policyMatches(const config::AuthorizationPolicy& p, uint32_t port,
                   const std::optional<std::string>& peer, const std::string& td) {
  for (const auto& rule : p.rules) {
    if (ruleMatches(rule, port, peer, td)) return true;
  }
  return false;
}

std::string qualified(const config::AuthorizationPolicy& p) {
  return p.meta.namespace_name + "/" + p.meta.name;
}

}  // namespace

bool principalMatches(const std::string& pattern, const std::optional<std::string>& peer_id,
                      const std::string& trust_domain) {
  if (!peer_id || peer_id->compare(0, kSpiffePrefix.size(), kSpiffePrefix) != 0) return false;
  const std::string_view principal = std::string_view(*peer_id).substr(kSpiffePrefix.size());
  if (starMatch(pattern, principal)) return true;
  // Istio expands the default trust domain in a policy to the mesh's trust domain.
  const std::string prefix = std::string(kDefaultTrustDomain) + "/";
  if (trust_domain != kDefaultTrustDomain && pattern.compare(0, prefix.size(), prefix) == 0) {
    return starMatch(trust_domain + "/" + pattern.substr(prefix.size()), principal);
  }
  return false;
}

AuthzDecision authorize(const std::vector<config::AuthorizationPolicy>& policies,
                        const config::MeshSettings& mesh, const std::string& namespace_name,
                        const config::Labels& labels, uint32_t port,
                        const std::optional<std::string>& peer_id) {
  std::vector<const config::AuthorizationPolicy*> applicable;
  for (const auto& p : policies) {
    const bool in_scope = p.meta.namespace_name == namespace_name ||
                          p.meta.namespace_name == mesh.root_namespace;
    if (!in_scope) continue;
    if (p.selector && !p.selector->empty() && !selectorMatches(*p.selector, labels)) continue;
    applicable.push_back(&p);
  }
  // Built only for a denial: the simulator calls this once per connection.
  const auto who = [&] {
    return peer_id ? *peer_id : std::string("a plaintext peer (no identity)");
  };
  for (const auto* p : applicable) {
    if (p->action == config::AuthzAction::kDeny && policyMatches(*p, port, peer_id, mesh.trust_domain)) {
      return {false, qualified(*p), "DENY policy " + qualified(*p) + " matches " + who()};
    }
  }
  const config::AuthorizationPolicy* first_allow = nullptr;
  for (const auto* p : applicable) {
    if (p->action != config::AuthzAction::kAllow) continue;
    if (first_allow == nullptr) first_allow = p;
    if (policyMatches(*p, port, peer_id, mesh.trust_domain)) return {true, qualified(*p), ""};
  }
  if (first_allow != nullptr) {
    return {false, qualified(*first_allow),
            "no ALLOW policy matches " + who() + " on port " + std::to_string(port) + " (e.g. " +
                qualified(*first_allow) + ")"};
  }
  return {};
}

}  // namespace mutual::policy
