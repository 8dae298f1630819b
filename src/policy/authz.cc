#include "policy/authz.h"

#include <algorithm>
#include <string_view>

#include "policy/peer_authn.h"
#include "spiffe/spiffe_id.h"

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

// Whether `address` is in one of `networks`; an unknown address (offline) is assumed to be.
bool inAny(const std::vector<config::IpNetwork>& networks,
           const std::optional<config::IpAddress>& address) {
  if (!address) return true;
  for (const auto& n : networks) {
    if (n.contains(*address)) return true;
  }
  return false;
}

bool addressesMatch(const std::vector<config::IpNetwork>& in,
                    const std::vector<config::IpNetwork>& not_in,
                    const std::optional<config::IpAddress>& address) {
  if (!in.empty() && !inAny(in, address)) return false;
  if (!not_in.empty() && address && inAny(not_in, address)) return false;
  return true;
}

bool anyTrustDomain(const std::vector<std::string>& names, const std::optional<std::string>& peer) {
  if (!peer) return false;
  auto id = spiffe::SpiffeId::parse(*peer);
  if (!id) return false;
  for (const auto& name : names) {
    if (starMatch(name, id->trustDomain().name())) return true;
  }
  return false;
}

// `allow`: the policy's action is ALLOW (HTTP-only fields then never match; for DENY and
// CUSTOM they are ignored).
bool sourceMatches(const config::AuthzSource& s, const AuthzConnection& c, const std::string& td,
                   bool allow) {
  if (s.http_only && allow) return false;
  const auto& peer = c.peer_id;
  if (!s.principals.empty() && !anyPrincipal(s.principals, peer, td)) return false;
  if (!s.not_principals.empty() && anyPrincipal(s.not_principals, peer, td)) return false;
  if (!s.namespaces.empty() && !anyNamespace(s.namespaces, peer)) return false;
  if (!s.not_namespaces.empty() && anyNamespace(s.not_namespaces, peer)) return false;
  if (!s.trust_domains.empty() && !anyTrustDomain(s.trust_domains, peer)) return false;
  if (!s.not_trust_domains.empty() && anyTrustDomain(s.not_trust_domains, peer)) return false;
  return addressesMatch(s.ip_blocks, s.not_ip_blocks, c.source) &&
         addressesMatch(s.remote_ip_blocks, s.not_remote_ip_blocks, c.source);
}

bool operationMatches(const config::AuthzOperation& op, uint32_t port, bool allow) {
  if (op.http_only && allow) return false;
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

std::vector<config::IpNetwork> networksOf(const std::vector<std::string>& values) {
  std::vector<config::IpNetwork> out;
  for (const auto& v : values) {
    if (auto n = config::IpNetwork::parse(v)) out.push_back(std::move(*n));
  }
  return out;
}

bool conditionHolds(const config::AuthzCondition& cond, const AuthzConnection& c, uint32_t port,
                    const std::string& td, bool allow) {
  // Each test: does the connection's value match one of `values`?
  const auto holds = [&](auto&& matches) {
    if (!cond.values.empty() && !matches(cond.values)) return false;
    return cond.not_values.empty() || !matches(cond.not_values);
  };
  const auto address = [&](const std::optional<config::IpAddress>& ip) {
    if (!ip) return true;  // unknown (offline): assumed to hold
    return holds([&](const std::vector<std::string>& v) { return inAny(networksOf(v), ip); });
  };
  if (cond.key == "source.ip" || cond.key == "remote.ip") return address(c.source);
  if (cond.key == "destination.ip") return address(c.destination);
  if (cond.key == "destination.port") {
    const std::string p = std::to_string(port);
    return holds([&](const std::vector<std::string>& v) {
      return std::find(v.begin(), v.end(), p) != v.end();
    });
  }
  if (cond.key == "source.principal") {
    return holds([&](const std::vector<std::string>& v) { return anyPrincipal(v, c.peer_id, td); });
  }
  if (cond.key == "source.namespace") {
    return holds([&](const std::vector<std::string>& v) { return anyNamespace(v, c.peer_id); });
  }
  return !allow;  // HTTP-only or not known here: ALLOW never matches, DENY ignores it
}

bool ruleMatches(const config::AuthzRule& rule, uint32_t port, const AuthzConnection& c,
                 const std::string& td, bool allow) {
  if (!rule.from.empty()) {
    bool hit = false;
    for (const auto& s : rule.from) hit = hit || sourceMatches(s, c, td, allow);
    if (!hit) return false;
  }
  if (!rule.to.empty()) {
    bool hit = false;
    for (const auto& op : rule.to) hit = hit || operationMatches(op, port, allow);
    if (!hit) return false;
  }
  for (const auto& cond : rule.when) {
    if (!conditionHolds(cond, c, port, td, allow)) return false;
  }
  return true;
}

bool policyMatches(const config::AuthorizationPolicy& p, uint32_t port, const AuthzConnection& c,
                   const std::string& td) {
  const bool allow = p.action == config::AuthzAction::kAllow;
  for (const auto& rule : p.rules) {
    if (ruleMatches(rule, port, c, td, allow)) return true;
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
  return authorize(policies, mesh, namespace_name, labels, port,
                   AuthzConnection{.peer_id = peer_id, .source = {}, .destination = {}});
}

AuthzDecision authorize(const std::vector<config::AuthorizationPolicy>& policies,
                        const config::MeshSettings& mesh, const std::string& namespace_name,
                        const config::Labels& labels, uint32_t port,
                        const AuthzConnection& connection) {
  const auto& peer_id = connection.peer_id;
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
    if (p->action == config::AuthzAction::kCustom &&
        policyMatches(*p, port, connection, mesh.trust_domain)) {
      return {false, qualified(*p),
              "CUSTOM policy " + qualified(*p) + " matches " + who() + ": its external authorizer (" +
                  (p->provider.empty() ? std::string("no provider") : p->provider) +
                  ") cannot be asked, mutual has none, so the connection is refused"};
    }
  }
  for (const auto* p : applicable) {
    if (p->action == config::AuthzAction::kDeny &&
        policyMatches(*p, port, connection, mesh.trust_domain)) {
      return {false, qualified(*p), "DENY policy " + qualified(*p) + " matches " + who()};
    }
  }
  const config::AuthorizationPolicy* first_allow = nullptr;
  for (const auto* p : applicable) {
    if (p->action != config::AuthzAction::kAllow) continue;
    if (first_allow == nullptr) first_allow = p;
    if (policyMatches(*p, port, connection, mesh.trust_domain)) return {true, qualified(*p), ""};
  }
  if (first_allow != nullptr) {
    return {false, qualified(*first_allow),
            "no ALLOW policy matches " + who() + " on port " + std::to_string(port) + " (e.g. " +
                qualified(*first_allow) + ")"};
  }
  return {};
}

}  // namespace mutual::policy
