#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/mesh.h"
#include "policy/authz.h"

// Linkerd's inbound authorization (policy.linkerd.io): a port selected by a Server admits only
// the clients an authorization of that Server admits; a port no Server selects follows the
// default inbound policy, which mutual takes to be Linkerd's default, all-unauthenticated.
//
// Compiled once per workload port (`linkerdPortPolicy`, on the control thread) and evaluated per
// connection (`authorizeLinkerd`), which never throws and allocates only the decision it
// returns (the deciding name; the reason of a denial).
namespace mutual::policy {

// One authorization of a Server, compiled: its networks and what it requires of the client.
struct LinkerdAuthorization {
  enum class Authentication {
    kUnauthenticated,     // any client
    kTlsUnauthenticated,  // any client that arrived over the mesh's mTLS
    kTlsAuthenticated,    // a client whose SPIFFE ID one of `identities` matches
  };
  std::string name;  // "linkerd AuthorizationPolicy shop/allow-web", for authz_rule
  Authentication authentication = Authentication::kUnauthenticated;
  std::vector<config::LinkerdIdentity> identities;
  std::vector<config::LinkerdNetwork> networks;  // empty: every address
};

// What Linkerd's policy says about one workload port.
struct LinkerdPortPolicy {
  // "linkerd Server shop/cart-http" when a Server selects the port; "" when none does (the
  // default policy: allowed).
  std::string server;
  std::vector<LinkerdAuthorization> authorizations;  // those targeting the Server
  // Why a Server was passed over or an authorization ignored (two Servers for one port, an
  // AuthorizationPolicy naming an authentication that does not exist, a route target), for
  // /config_dump and `mutual check`.
  std::vector<std::string> notes;
  std::string trust_domain = "cluster.local";  // the mesh's (identities in cluster.local alias it)
};

// The client of an inbound connection.
struct LinkerdPeer {
  std::string_view id;                       // its verified SPIFFE ID; empty without one
  bool mesh_tls = false;                     // the proxy terminated the mesh's mTLS
  std::optional<config::IpAddress> address;  // its source IP; nullopt: unknown (offline), when
                                             // every `networks` restriction is assumed to hold
};

// The Linkerd policy of port `port` of a workload (namespace, pod labels, container ports),
// from the Servers, ServerAuthorizations, AuthorizationPolicies, MeshTLSAuthentications and
// NetworkAuthentications of `mesh`:
// - the Servers of the namespace whose podSelector matches `labels` and whose port is `port`,
//   or the name of a container port with that number, select the port; with several (Linkerd's
//   admission refuses overlaps) the oldest wins and the others are noted;
// - the ServerAuthorizations of the namespace naming the Server or selecting its labels, and
//   the AuthorizationPolicies targeting it (kind Server) or its namespace (kind Namespace),
//   are its authorizations; an AuthorizationPolicy whose MeshTLSAuthentication or
//   NetworkAuthentication does not exist is ignored (noted), as Linkerd ignores it, and route
//   targets are not evaluated (mutual is L4).
// Identities in trust domain cluster.local also match peers of `settings.trust_domain`
// (Linkerd's default trust domain, aliased as Istio's policies alias it).
LinkerdPortPolicy linkerdPortPolicy(const config::MeshConfig& mesh,
                                    const config::MeshSettings& settings,
                                    const std::string& namespace_name, const config::Labels& labels,
                                    const std::vector<config::ContainerPort>& ports, uint32_t port);

// True when `authorization` admits `peer`: its address is in one of the networks (and none of
// their exceptions), and the authentication holds.
bool linkerdAdmits(const LinkerdAuthorization& authorization, const LinkerdPeer& peer,
                   const std::string& trust_domain);

// The decision for `peer` on a port with `policy`: allowed when no Server selects the port
// (`policy` ""), or when one of the Server's authorizations admits the peer (`policy` names
// it). Denied otherwise, `policy` naming the Server and `reason` saying whom no authorization
// admits ("linkerd Server shop/cart-http: no authorization admits spiffe://...").
AuthzDecision authorizeLinkerd(const LinkerdPortPolicy& policy, const LinkerdPeer& peer);

}  // namespace mutual::policy
