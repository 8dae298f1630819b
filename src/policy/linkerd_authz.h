#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/mesh.h"
#include "policy/authz.h"

// Linkerd's inbound authorization (policy.linkerd.io): a port selected by a Server admits the
// clients an authorization of that Server admits, and those its accessPolicy admits (by default
// nobody: deny); a port no Server selects follows the default inbound policy (the workload's
// config.linkerd.io/default-inbound-policy annotation, else its namespace's, else the cluster's,
// else Linkerd's default all-unauthenticated). As in Linkerd's policy controller, those policies
// are authorizations themselves: all-authenticated requires any identity, cluster-* the cluster
// networks.
//
// Compiled once per workload port (`linkerdPortPolicy`, on the control thread) and evaluated per
// connection (`authorizeLinkerd`), which never throws and allocates only the decision it
// returns (the deciding name; the reason of a denial or an audit).
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

// A default inbound policy or accessPolicy of one port, compiled.
struct LinkerdDefault {
  config::LinkerdDefaultPolicy policy = config::LinkerdDefaultPolicy::kAllUnauthenticated;
  // How decisions name it: "linkerd Server shop/cart-http accessPolicy audit"; for a Server's
  // accessPolicy deny only "linkerd Server shop/cart-http"; with no Server "linkerd default
  // policy deny (namespace shop annotation)", "(workload annotation)" or "(cluster default)".
  // "" when nothing Linkerd is configured (no Server, annotation or cluster settings): the
  // default then allows without naming anything, so Istio-only meshes see no Linkerd names.
  std::string name;
  // `policy` as the authorization Linkerd's controller makes of it (`name` its name); unused
  // for deny. For audit: any client, like all-unauthenticated.
  LinkerdAuthorization authorization;
  // The networks cluster-* admit, as written, for reasons ("10.0.0.0/8, fd00::/8").
  std::string cluster_networks;
};

// What Linkerd's policy says about one workload port.
struct LinkerdPortPolicy {
  // "linkerd Server shop/cart-http" when a Server selects the port; "" when none does.
  std::string server;
  std::vector<LinkerdAuthorization> authorizations;  // those targeting the Server
  // For clients none of `authorizations` admits: the Server's accessPolicy or, without a
  // Server, the default inbound policy.
  LinkerdDefault fallback;
  // Why a Server was passed over or an authorization ignored (two Servers for one port, an
  // AuthorizationPolicy naming an authentication that does not exist, a route target), for
  // /config_dump and `mutual check`.
  std::vector<std::string> notes;
  std::string trust_domain = "cluster.local";  // the mesh's (identities in cluster.local alias it)

  // False when Linkerd's policy has nothing to say (no Server, nothing configured): callers
  // skip the evaluation (and looking up the client's address).
  bool decides() const { return !server.empty() || !fallback.name.empty(); }
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
//   targets are not evaluated (mutual is L4);
// - ServerAuthorizations without `networks` admit the cluster networks (Linkerd's policy
//   controller fills them in); AuthorizationPolicies without a NetworkAuthentication every
//   address;
// - `fallback` is the Server's accessPolicy, or with no Server the default inbound policy:
//   `workload_policy` (the workload's config.linkerd.io/default-inbound-policy annotation),
//   else the annotation of the workload's Namespace in `mesh`, else `mesh.linkerd`'s
//   default, else all-unauthenticated. The cluster networks are `mesh.linkerd`'s, else
//   Linkerd's default list.
// Identities in trust domain cluster.local also match peers of `settings.trust_domain`
// (Linkerd's default trust domain, aliased as Istio's policies alias it).
LinkerdPortPolicy linkerdPortPolicy(
    const config::MeshConfig& mesh, const config::MeshSettings& settings,
    const std::string& namespace_name, const config::Labels& labels,
    const std::vector<config::ContainerPort>& ports, uint32_t port,
    std::optional<config::LinkerdDefaultPolicy> workload_policy = std::nullopt);

// True when `authorization` admits `peer`: its address is in one of the networks (and none of
// their exceptions), and the authentication holds.
bool linkerdAdmits(const LinkerdAuthorization& authorization, const LinkerdPeer& peer,
                   const std::string& trust_domain);

// The decision for `peer` on a port with `policy`:
// - allowed, naming the authorization, when one of the Server's admits the peer;
// - else as the fallback says: allowed naming it ("linkerd default policy all-authenticated
//   (cluster default)"), or for audit allowed with `audit` set and `reason` saying that the
//   client would have been denied; or denied naming it, `reason` saying whom and why
//   ("linkerd Server shop/cart-http: no authorization admits spiffe://...");
// - allowed without a name when `policy.decides()` is false.
AuthzDecision authorizeLinkerd(const LinkerdPortPolicy& policy, const LinkerdPeer& peer);

}  // namespace mutual::policy
