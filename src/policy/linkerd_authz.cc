#include "policy/linkerd_authz.h"

#include <algorithm>

#include "policy/peer_authn.h"

namespace mutual::policy {

namespace {

using config::LinkerdDefaultPolicy;
using config::LinkerdIdentity;
using Authentication = LinkerdAuthorization::Authentication;

constexpr std::string_view kSpiffePrefix = "spiffe://";
constexpr std::string_view kLinkerdDefaultTrustDomain = "cluster.local";

// The parts of a peer's SPIFFE ID "spiffe://<td>/ns/<ns>/sa/<sa>", as views into it.
struct PeerName {
  std::string_view trust_domain;
  std::string_view namespace_name;  // both empty unless the path has that shape
  std::string_view service_account;
};

PeerName peerName(std::string_view id) {
  PeerName out;
  if (!id.starts_with(kSpiffePrefix)) return out;
  id.remove_prefix(kSpiffePrefix.size());
  const size_t slash = id.find('/');
  out.trust_domain = id.substr(0, slash);
  if (slash == std::string_view::npos) return out;
  std::string_view path = id.substr(slash);
  if (!path.starts_with("/ns/")) return out;
  path.remove_prefix(4);
  const size_t end = path.find('/');
  if (end == 0 || end == std::string_view::npos) return out;
  const std::string_view ns = path.substr(0, end);
  path.remove_prefix(end);
  if (!path.starts_with("/sa/")) return out;
  path.remove_prefix(4);
  if (path.empty() || path.find('/') != std::string_view::npos) return out;
  out.namespace_name = ns;
  out.service_account = path;
  return out;
}

// A pattern's trust domain against the peer's: "" (serviceAccounts, identityRefs) is the mesh's;
// Linkerd's default cluster.local also stands for the mesh's, as Istio aliases it.
bool trustDomainMatches(std::string_view pattern, std::string_view peer, const std::string& mesh) {
  if (pattern.empty()) return peer == mesh;
  return pattern == peer || (pattern == kLinkerdDefaultTrustDomain && peer == mesh);
}

bool identityMatches(const LinkerdIdentity& identity, std::string_view id, const PeerName& peer,
                     const std::string& mesh) {
  const bool service_account = !peer.service_account.empty();
  switch (identity.kind) {
    case LinkerdIdentity::Kind::kAny:
      return true;
    case LinkerdIdentity::Kind::kServiceAccount:
      return service_account && peer.service_account == identity.service_account &&
             peer.namespace_name == identity.namespace_name &&
             trustDomainMatches(identity.trust_domain, peer.trust_domain, mesh);
    case LinkerdIdentity::Kind::kNamespace:
      return service_account && peer.namespace_name == identity.namespace_name &&
             trustDomainMatches(identity.trust_domain, peer.trust_domain, mesh);
    case LinkerdIdentity::Kind::kTrustDomain:
      return service_account && trustDomainMatches(identity.trust_domain, peer.trust_domain, mesh);
    case LinkerdIdentity::Kind::kSpiffeId:
      return id == identity.text;
    case LinkerdIdentity::Kind::kNone:
      return false;
  }
  return false;
}

bool networksMatch(const std::vector<config::LinkerdNetwork>& networks,
                   const std::optional<config::IpAddress>& address) {
  if (networks.empty() || !address) return true;
  for (const auto& net : networks) {
    if (!net.cidr.contains(*address)) continue;
    const bool excepted = std::any_of(net.except.begin(), net.except.end(),
                                      [&](const auto& e) { return e.contains(*address); });
    if (!excepted) return true;
  }
  return false;
}

std::string qualified(std::string_view kind, const config::PolicyMeta& meta) {
  return "linkerd " + std::string(kind) + " " + meta.namespace_name + "/" + meta.name;
}

bool portMatches(const config::LinkerdServer& server,
                 const std::vector<config::ContainerPort>& ports, uint32_t port) {
  if (server.port) return *server.port == port;
  return std::any_of(ports.begin(), ports.end(), [&](const config::ContainerPort& p) {
    return p.port == port && p.name == server.port_name;
  });
}

template <typename T>
const T* find(const std::vector<T>& all, const std::string& ns, const std::string& name) {
  for (const auto& item : all) {
    if (item.meta.namespace_name == ns && item.meta.name == name) return &item;
  }
  return nullptr;
}

// Without `networks`, the cluster networks: Linkerd's controller fills them in when it sends the
// authorization to the proxy (grpc inbound.rs to_authz).
LinkerdAuthorization fromServerAuthorization(const config::LinkerdServerAuthorization& saz,
                                             const std::vector<config::LinkerdNetwork>& cluster) {
  LinkerdAuthorization out;
  out.name = qualified("ServerAuthorization", saz.meta);
  out.authentication = saz.unauthenticated       ? Authentication::kUnauthenticated
                       : saz.unauthenticated_tls ? Authentication::kTlsUnauthenticated
                                                 : Authentication::kTlsAuthenticated;
  out.identities = saz.identities;
  out.networks = saz.networks.empty() ? cluster : saz.networks;
  return out;
}

// A default policy as the authorization Linkerd's controller makes of it (defaults.rs
// default_authzs): *-authenticated require any identity, cluster-* the cluster networks; audit
// admits like all-unauthenticated. Deny makes none (the result is unused).
LinkerdDefault compileDefault(LinkerdDefaultPolicy policy, std::string name,
                              const std::vector<config::LinkerdNetwork>& cluster) {
  LinkerdDefault out;
  out.policy = policy;
  out.authorization.name = name;
  out.name = std::move(name);
  if (policy == LinkerdDefaultPolicy::kAllAuthenticated ||
      policy == LinkerdDefaultPolicy::kClusterAuthenticated) {
    out.authorization.authentication = Authentication::kTlsAuthenticated;
    LinkerdIdentity any;
    any.kind = LinkerdIdentity::Kind::kAny;
    out.authorization.identities = {std::move(any)};
  }
  if (policy == LinkerdDefaultPolicy::kClusterUnauthenticated ||
      policy == LinkerdDefaultPolicy::kClusterAuthenticated) {
    out.authorization.networks = cluster;
    for (const auto& net : cluster) {
      out.cluster_networks += (out.cluster_networks.empty() ? "" : ", ") + net.cidr.text;
    }
  }
  return out;
}

// Where the default inbound policy of a workload comes from, narrowest first; nullopt when
// nothing sets it (Linkerd's own default then applies, unnamed).
std::optional<std::pair<LinkerdDefaultPolicy, std::string>> defaultInboundPolicy(
    const config::MeshConfig& mesh, const std::string& namespace_name,
    std::optional<LinkerdDefaultPolicy> workload_policy) {
  if (workload_policy) return std::make_pair(*workload_policy, std::string("workload annotation"));
  for (const auto& ns : mesh.namespaces) {
    if (ns.name == namespace_name && ns.linkerd_default_inbound_policy) {
      return std::make_pair(*ns.linkerd_default_inbound_policy,
                            "namespace " + namespace_name + " annotation");
    }
  }
  if (mesh.linkerd) {
    return std::make_pair(mesh.linkerd->default_inbound_policy, std::string("cluster default"));
  }
  return std::nullopt;
}

// Linkerd's index (policy_client_authz): MeshTLSAuthentication or ServiceAccount give the
// identities (none: no authentication required), a NetworkAuthentication the networks (none:
// every address). A reference to an authentication that does not exist makes the whole policy
// ignored; nullopt then, with `why`.
std::optional<LinkerdAuthorization> fromAuthorizationPolicy(
    const config::LinkerdAuthorizationPolicy& ap, const config::MeshConfig& mesh,
    std::string& why) {
  LinkerdAuthorization out;
  out.name = qualified("AuthorizationPolicy", ap.meta);
  for (const auto& ref : ap.required_authentication_refs) {
    switch (ref.kind) {
      case config::LinkerdAuthenticationKind::kMeshTls: {
        const auto* authn = find(mesh.meshtls_authentications, ref.namespace_name, ref.name);
        if (authn == nullptr) {
          why = "MeshTLSAuthentication " + ref.namespace_name + "/" + ref.name + " does not exist";
          return std::nullopt;
        }
        out.authentication = Authentication::kTlsAuthenticated;
        out.identities = authn->identities;
        break;
      }
      case config::LinkerdAuthenticationKind::kServiceAccount: {
        LinkerdIdentity id;
        id.kind = LinkerdIdentity::Kind::kServiceAccount;
        id.namespace_name = ref.namespace_name;
        id.service_account = ref.name;
        out.authentication = Authentication::kTlsAuthenticated;
        out.identities = {std::move(id)};
        break;
      }
      case config::LinkerdAuthenticationKind::kNetwork: {
        const auto* authn = find(mesh.network_authentications, ref.namespace_name, ref.name);
        if (authn == nullptr) {
          why = "NetworkAuthentication " + ref.namespace_name + "/" + ref.name + " does not exist";
          return std::nullopt;
        }
        out.networks = authn->networks;
        break;
      }
    }
  }
  return out;
}

// What a default policy other than audit admits, for reasons: "all-authenticated admits only
// mesh mTLS clients with an identity".
std::string requirement(const LinkerdDefault& d) {
  std::string out(config::linkerdDefaultPolicyName(d.policy));
  switch (d.policy) {
    case LinkerdDefaultPolicy::kAllAuthenticated:
      return out + " admits only mesh mTLS clients with an identity";
    case LinkerdDefaultPolicy::kClusterUnauthenticated:
      return out + " admits only clients from the cluster networks (" + d.cluster_networks + ")";
    case LinkerdDefaultPolicy::kClusterAuthenticated:
      return out + " admits only mesh mTLS clients with an identity from the cluster networks (" +
             d.cluster_networks + ")";
    case LinkerdDefaultPolicy::kDeny:
      return out + " admits no client";
    case LinkerdDefaultPolicy::kAllUnauthenticated:
    case LinkerdDefaultPolicy::kAudit:
      break;
  }
  return out + " admits every client";
}

}  // namespace

LinkerdPortPolicy linkerdPortPolicy(const config::MeshConfig& mesh,
                                    const config::MeshSettings& settings,
                                    const std::string& namespace_name, const config::Labels& labels,
                                    const std::vector<config::ContainerPort>& ports, uint32_t port,
                                    std::optional<LinkerdDefaultPolicy> workload_policy) {
  LinkerdPortPolicy out;
  out.trust_domain = settings.trust_domain;
  std::vector<config::LinkerdNetwork> cluster;
  for (const auto& net : mesh.linkerd ? mesh.linkerd->cluster_networks
                                      : config::LinkerdSettings::linkerdDefaultClusterNetworks()) {
    cluster.push_back({net, {}});
  }
  std::vector<const config::LinkerdServer*> servers;
  for (const auto& s : mesh.linkerd_servers) {
    if (s.meta.namespace_name != namespace_name || !selectorMatches(s.pod_selector, labels)) {
      continue;
    }
    if (portMatches(s, ports, port)) {
      servers.push_back(&s);
    } else if (!s.port && std::none_of(ports.begin(), ports.end(), [&](const auto& p) {
                 return p.name == s.port_name;
               })) {
      // Without the workload's Deployment or Pod nothing says which port the name is: the
      // Server covers none, which would silently leave its port to the default policy.
      out.notes.push_back(qualified("Server", s.meta) + " names port \"" + s.port_name +
                          "\", but no Deployment or Pod of this workload among the policies "
                          "gives a container port that name: it applies to no port");
    }
  }
  if (servers.empty()) {
    if (auto policy = defaultInboundPolicy(mesh, namespace_name, workload_policy)) {
      out.fallback = compileDefault(
          policy->first,
          "linkerd default policy " + std::string(config::linkerdDefaultPolicyName(policy->first)) +
              " (" + policy->second + ")",
          cluster);
    }
    return out;
  }
  std::sort(servers.begin(), servers.end(),
            [](const auto* a, const auto* b) { return olderThan(a->meta, b->meta); });
  const config::LinkerdServer& server = *servers.front();
  out.server = qualified("Server", server.meta);
  // A Server that denies names itself, as before accessPolicy existed.
  out.fallback =
      compileDefault(server.access_policy,
                     server.access_policy == LinkerdDefaultPolicy::kDeny
                         ? out.server
                         : out.server + " accessPolicy " +
                               std::string(config::linkerdDefaultPolicyName(server.access_policy)),
                     cluster);
  for (size_t i = 1; i < servers.size(); ++i) {
    out.notes.push_back(qualified("Server", servers[i]->meta) + " also selects port " +
                        std::to_string(port) + "; the older " + out.server + " applies");
  }

  for (const auto& saz : mesh.linkerd_server_authorizations) {
    if (saz.meta.namespace_name != namespace_name) continue;
    const bool selects = saz.server_selector ? selectorMatches(*saz.server_selector, server.labels)
                                             : saz.server_name == server.meta.name;
    if (selects) out.authorizations.push_back(fromServerAuthorization(saz, cluster));
  }
  for (const auto& ap : mesh.linkerd_authorization_policies) {
    if (ap.meta.namespace_name != namespace_name) continue;
    const bool targets = (ap.target_kind == config::LinkerdTargetKind::kServer &&
                          ap.target_name == server.meta.name) ||
                         (ap.target_kind == config::LinkerdTargetKind::kNamespace &&
                          ap.target_name == namespace_name);
    if (!targets) continue;
    std::string why;
    if (auto authz = fromAuthorizationPolicy(ap, mesh, why)) {
      out.authorizations.push_back(std::move(*authz));
    } else {
      out.notes.push_back(qualified("AuthorizationPolicy", ap.meta) + " is ignored: " + why);
    }
  }
  return out;
}

bool linkerdAdmits(const LinkerdAuthorization& authorization, const LinkerdPeer& peer,
                   const std::string& trust_domain) {
  if (!networksMatch(authorization.networks, peer.address)) return false;
  switch (authorization.authentication) {
    case Authentication::kUnauthenticated:
      return true;
    case Authentication::kTlsUnauthenticated:
      return peer.mesh_tls;
    case Authentication::kTlsAuthenticated: {
      if (peer.id.empty()) return false;
      const PeerName name = peerName(peer.id);
      return std::any_of(authorization.identities.begin(), authorization.identities.end(),
                         [&](const LinkerdIdentity& identity) {
                           return identityMatches(identity, peer.id, name, trust_domain);
                         });
    }
  }
  return false;
}

AuthzDecision authorizeLinkerd(const LinkerdPortPolicy& policy, const LinkerdPeer& peer) {
  if (!policy.decides()) return {};
  for (const auto& authorization : policy.authorizations) {
    if (linkerdAdmits(authorization, peer, policy.trust_domain)) {
      return {true, authorization.name, "", false};
    }
  }
  const LinkerdDefault& fallback = policy.fallback;
  if (fallback.policy != LinkerdDefaultPolicy::kDeny &&
      fallback.policy != LinkerdDefaultPolicy::kAudit &&
      linkerdAdmits(fallback.authorization, peer, policy.trust_domain)) {
    return {true, fallback.name, "", false};
  }

  // Only denials and audits pay for a reason.
  std::string who =
      peer.id.empty() ? std::string("a client without identity") : std::string(peer.id);
  if (peer.address) who += " from " + peer.address->str();
  const bool audit = fallback.policy == LinkerdDefaultPolicy::kAudit;
  std::string reason;
  if (!policy.server.empty()) {
    reason = policy.server + ": no authorization admits " + who;
    if (audit) {
      reason += "; allowed by accessPolicy audit (deny would refuse it)";
    } else if (fallback.policy != LinkerdDefaultPolicy::kDeny) {
      reason += ", and accessPolicy " + requirement(fallback);
    } else if (policy.authorizations.empty()) {
      reason += " (the Server has none, so it denies everything)";
    }
  } else if (audit) {
    reason = fallback.name + ": no Server selects the port; allowed " + who +
             " for audit (deny would refuse it)";
  } else {
    reason = fallback.name + ": no Server selects the port, and the default policy " +
             requirement(fallback) + "; denied " + who;
  }
  return {audit, fallback.name, std::move(reason), audit};
}

}  // namespace mutual::policy
