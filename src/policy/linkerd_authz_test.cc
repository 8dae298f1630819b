#include "policy/linkerd_authz.h"

#include <gtest/gtest.h>

#include <cctype>
#include <ostream>

#include "config/manifest.h"

namespace mutual::policy {
namespace {

// One mesh for every case, written as users write it and read by the config module.
// Expectations follow Linkerd's authorization-policy reference and its policy controller
// (policy-controller/k8s/index: server_authorization.rs, authorization_policy.rs, index.rs
// policy_client_authz).
constexpr char kMesh[] = R"(
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop, labels: {tier: web}}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080}
---
# Overlaps cart-http (Linkerd's admission would refuse it): the older one applies.
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http-copy, namespace: shop, creationTimestamp: "2025-01-01T00:00:00Z"}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-admin, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: admin-http}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-grpc, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 9090}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-office, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 7000}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-lan, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 7001}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-legacy, namespace: shop, labels: {auth: legacy}}
spec: {podSelector: {matchLabels: {app: cart}}, port: 7002}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-tls, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 7003}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-missing, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 7004}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-open, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 7005}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: cart-http-web, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-http}
  requiredAuthenticationRefs:
    - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web-only}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: web-only, namespace: shop}
spec:
  identities: [web.shop.serviceaccount.identity.linkerd.cluster.local]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: admin-ops, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-admin}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: ops, namespace: monitoring}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: office-only, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-office}
  requiredAuthenticationRefs:
    - {group: policy.linkerd.io, kind: NetworkAuthentication, name: office}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: office, namespace: shop}
spec:
  networks:
    - {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    - cidr: fd00::/8
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: lan, namespace: shop}
spec:
  server: {name: cart-lan}
  client: {unauthenticated: true, networks: [{cidr: 192.168.0.0/16}]}
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: legacy, namespace: shop}
spec:
  server: {selector: {matchLabels: {auth: legacy}}}
  client:
    meshTLS:
      identities:
        - "*.frontend.serviceaccount.identity.linkerd.cluster.local"
        - spiffe://cluster.local/ns/batch/sa/job
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: any-tls, namespace: shop}
spec:
  server: {name: cart-tls}
  client: {meshTLS: {unauthenticatedTLS: true}}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: dangling, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-missing}
  requiredAuthenticationRefs:
    - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: nope}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: open, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-open}
  requiredAuthenticationRefs: []
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: ledger, namespace: payments}
spec: {podSelector: {matchLabels: {app: ledger}}, port: 8080}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: meshed-pods, namespace: payments}
spec:
  targetRef: {kind: Namespace, name: payments}
  requiredAuthenticationRefs:
    - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: anyone}
    - {group: policy.linkerd.io, kind: NetworkAuthentication, name: pods}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: anyone, namespace: payments}
spec: {identities: ["*"]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: pods, namespace: payments}
spec: {networks: [{cidr: 10.0.0.0/8}]}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: frontend-ns, namespace: payments}
spec: {identityRefs: [{kind: Namespace, name: frontend}]}
)";

const config::MeshConfig& mesh() {
  static const config::MeshConfig parsed = [] {
    auto manifests = config::parseManifests(kMesh, "mesh.yaml");
    EXPECT_TRUE(manifests) << manifests.error().message;
    config::MeshConfig out =
        config::parseMeshManifests(manifests.value_or(std::vector<config::Manifest>{}));
    for (const auto& f : out.findings) ADD_FAILURE() << f.str();
    return out;
  }();
  return parsed;
}

const std::string kWeb = "spiffe://cluster.local/ns/shop/sa/web";
const std::string kOther = "spiffe://cluster.local/ns/shop/sa/other";
const std::string kOps = "spiffe://cluster.local/ns/monitoring/sa/ops";
const std::string kUi = "spiffe://cluster.local/ns/frontend/sa/ui";
const std::string kJob = "spiffe://cluster.local/ns/batch/sa/job";

struct Case {
  std::string name;
  std::string ns = "shop";
  config::Labels labels{{"app", "cart"}};
  uint32_t port = 8080;
  std::string peer;          // "" plaintext
  std::string address = "";  // "" unknown
  bool want_allowed = true;
  std::string want_policy;
  std::string trust_domain = "cluster.local";
};

// ctest lists the case by name rather than as the bytes of the struct.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class LinkerdAuthzTable : public ::testing::TestWithParam<Case> {};

TEST_P(LinkerdAuthzTable, Decides) {
  const Case& c = GetParam();
  config::MeshSettings settings;
  settings.trust_domain = c.trust_domain;
  const std::vector<config::ContainerPort> ports = {{"http", 8080}, {"admin-http", 9990}};
  const LinkerdPortPolicy policy =
      linkerdPortPolicy(mesh(), settings, c.ns, c.labels, ports, c.port);
  LinkerdPeer peer;
  peer.id = c.peer;
  peer.mesh_tls = !c.peer.empty();
  if (!c.address.empty()) {
    peer.address = config::IpAddress::parse(c.address);
    ASSERT_TRUE(peer.address) << c.address;
  }
  const AuthzDecision d = authorizeLinkerd(policy, peer);
  EXPECT_EQ(d.allowed, c.want_allowed) << c.name << ": " << d.reason;
  EXPECT_EQ(d.policy, c.want_policy) << c.name;
  EXPECT_EQ(d.reason.empty(), d.allowed) << c.name;
}

Case allow(std::string name, uint32_t port, std::string peer, std::string policy) {
  Case c;
  c.name = std::move(name);
  c.port = port;
  c.peer = std::move(peer);
  c.want_policy = std::move(policy);
  return c;
}

Case deny(std::string name, uint32_t port, std::string peer, std::string server) {
  Case c = allow(std::move(name), port, std::move(peer), std::move(server));
  c.want_allowed = false;
  return c;
}

Case from(Case c, std::string address) {
  c.address = std::move(address);
  return c;
}

Case in(Case c, std::string ns, config::Labels labels) {
  c.ns = std::move(ns);
  c.labels = std::move(labels);
  return c;
}

Case trustDomain(Case c, std::string td) {
  c.trust_domain = std::move(td);
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Linkerd, LinkerdAuthzTable,
    ::testing::Values(
        // No Server selects the port: the default policy (all-unauthenticated) allows.
        allow("no Server on the port", 1234, "", ""),
        in(allow("podSelector does not match", 8080, kOther, ""), "shop", {{"app", "db"}}),
        in(allow("Servers of another namespace", 8080, kOther, ""), "web", {{"app", "cart"}}),
        // A Server selects it: only its authorizations admit.
        allow("MeshTLSAuthentication identity", 8080, kWeb,
              "linkerd AuthorizationPolicy shop/cart-http-web"),
        deny("another identity", 8080, kOther, "linkerd Server shop/cart-http"),
        deny("plaintext to an identity-only Server", 8080, "", "linkerd Server shop/cart-http"),
        allow("port by container port name; ServiceAccount ref", 9990, kOps,
              "linkerd AuthorizationPolicy shop/admin-ops"),
        deny("ServiceAccount ref, other account", 9990, kWeb, "linkerd Server shop/cart-admin"),
        deny("a Server without authorizations denies all", 9090, kWeb,
             "linkerd Server shop/cart-grpc"),
        from(allow("NetworkAuthentication, no identity needed", 7000, "",
                   "linkerd AuthorizationPolicy shop/office-only"),
             "10.2.3.4"),
        from(deny("NetworkAuthentication except", 7000, kWeb, "linkerd Server shop/cart-office"),
             "10.1.2.3"),
        from(deny("outside the networks", 7000, "", "linkerd Server shop/cart-office"),
             "192.168.1.1"),
        from(allow("IPv6 network", 7000, "", "linkerd AuthorizationPolicy shop/office-only"),
             "fd00::1"),
        allow("address unknown (offline): networks assumed", 7000, "",
              "linkerd AuthorizationPolicy shop/office-only"),
        from(allow("ServerAuthorization unauthenticated in networks", 7001, "",
                   "linkerd ServerAuthorization shop/lan"),
             "192.168.5.5"),
        from(deny("ServerAuthorization networks exclude", 7001, kWeb,
                  "linkerd Server shop/cart-lan"),
             "10.0.0.1"),
        allow("ServerAuthorization by Server labels; *.ns identity", 7002, kUi,
              "linkerd ServerAuthorization shop/legacy"),
        allow("SPIFFE ID written directly", 7002, kJob, "linkerd ServerAuthorization shop/legacy"),
        deny("ServerAuthorization identities, other namespace", 7002, kWeb,
             "linkerd Server shop/cart-legacy"),
        allow("unauthenticatedTLS admits any mesh TLS client", 7003, kOther,
              "linkerd ServerAuthorization shop/any-tls"),
        deny("unauthenticatedTLS refuses plaintext", 7003, "", "linkerd Server shop/cart-tls"),
        deny("a policy naming a missing authentication is ignored", 7004, kWeb,
             "linkerd Server shop/cart-missing"),
        allow("empty requiredAuthenticationRefs admits everyone", 7005, "",
              "linkerd AuthorizationPolicy shop/open"),
        // targetRef Namespace: every Server of the namespace; ALL refs must pass.
        in(from(allow("Namespace target, identity and network", 8080, kUi,
                      "linkerd AuthorizationPolicy payments/meshed-pods"),
                "10.9.9.9"),
           "payments", {{"app", "ledger"}}),
        in(from(deny("Namespace target, network fails", 8080, kUi,
                     "linkerd Server payments/ledger"),
                "172.16.0.1"),
           "payments", {{"app", "ledger"}}),
        in(from(deny("Namespace target, identity fails", 8080, "",
                     "linkerd Server payments/ledger"),
                "10.9.9.9"),
           "payments", {{"app", "ledger"}}),
        // Identities written in Linkerd's default trust domain stand for the mesh's.
        trustDomain(allow("cluster.local aliases the mesh trust domain", 8080,
                          "spiffe://example.org/ns/shop/sa/web",
                          "linkerd AuthorizationPolicy shop/cart-http-web"),
                    "example.org"),
        trustDomain(deny("another trust domain", 8080, "spiffe://other.org/ns/shop/sa/web",
                         "linkerd Server shop/cart-http"),
                    "example.org")),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name;
      for (char ch : info.param.name)
        name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return name;
    });

TEST(LinkerdAuthz, ReasonNamesServerAndPeer) {
  const auto policy = linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, {}, 8080);
  LinkerdPeer peer;
  peer.id = kOther;
  peer.mesh_tls = true;
  peer.address = config::IpAddress::parse("127.0.0.1");
  const auto d = authorizeLinkerd(policy, peer);
  EXPECT_EQ(d.reason,
            "linkerd Server shop/cart-http: no authorization admits "
            "spiffe://cluster.local/ns/shop/sa/other from 127.0.0.1");
  const auto grpc = linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, {}, 9090);
  EXPECT_EQ(authorizeLinkerd(grpc, {}).reason,
            "linkerd Server shop/cart-grpc: no authorization admits a client without identity "
            "(the Server has none, so it denies everything)");
}

TEST(LinkerdAuthz, NotesOverlapsAndIgnoredPolicies) {
  // Without the workload's container ports (no Deployment or Pod among the policies), the
  // Server naming port admin-http covers no port: every port's plan says so.
  const std::string unresolved =
      "linkerd Server shop/cart-admin names port \"admin-http\", but no Deployment or Pod of "
      "this workload among the policies gives a container port that name: it applies to no port";
  const auto http = linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, {}, 8080);
  EXPECT_EQ(http.notes, (std::vector<std::string>{
                            unresolved,
                            "linkerd Server shop/cart-http-copy also selects port 8080; the "
                            "older linkerd Server shop/cart-http applies"}));
  const auto missing = linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, {}, 7004);
  EXPECT_EQ(missing.notes,
            (std::vector<std::string>{unresolved,
                                      "linkerd AuthorizationPolicy shop/dangling is ignored: "
                                      "MeshTLSAuthentication shop/nope does not exist"}));
  EXPECT_TRUE(missing.authorizations.empty());
  // A named port that the workload's container ports do not resolve selects nothing.
  const auto admin = linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, {}, 9990);
  EXPECT_TRUE(admin.server.empty());
  EXPECT_EQ(admin.notes, std::vector<std::string>{unresolved});
  // With the container ports known, the name resolves and nothing is noted about it.
  const std::vector<config::ContainerPort> ports = {{"http", 8080}, {"admin-http", 9990}};
  EXPECT_EQ(linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, ports, 9990).server,
            "linkerd Server shop/cart-admin");
  EXPECT_TRUE(linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, ports, 9990).notes.empty());
}

TEST(LinkerdAuthz, IdentityRefsNamespace) {
  config::MeshConfig m = mesh();
  // Point meshed-pods at the frontend-ns authentication: any account of namespace frontend.
  for (auto& ap : m.linkerd_authorization_policies) {
    if (ap.meta.name == "meshed-pods") ap.required_authentication_refs[0].name = "frontend-ns";
  }
  const auto policy = linkerdPortPolicy(m, {}, "payments", {{"app", "ledger"}}, {}, 8080);
  LinkerdPeer peer;
  peer.mesh_tls = true;
  peer.id = kUi;
  EXPECT_TRUE(authorizeLinkerd(policy, peer).allowed);
  peer.id = kWeb;
  EXPECT_FALSE(authorizeLinkerd(policy, peer).allowed);
}

// ---- default inbound policies and Server.accessPolicy ------------------------------------------
// Linkerd's authorization-policy reference ("Default policies") and its policy controller
// (defaults.rs default_authzs; server.rs access_policy; grpc inbound.rs to_authz for the
// cluster networks of a ServerAuthorization without `networks`).

using config::LinkerdDefaultPolicy;

// What each policy admits, by client: [mTLS with an identity | plaintext] x [address in the
// cluster networks | outside them], and plaintext from an unknown address (offline, `check`).
struct PolicyRow {
  LinkerdDefaultPolicy policy;
  bool id_in, id_out, plain_in, plain_out, plain_unknown;
};
constexpr PolicyRow kPolicyTable[] = {
    {LinkerdDefaultPolicy::kAllUnauthenticated, true, true, true, true, true},
    {LinkerdDefaultPolicy::kAllAuthenticated, true, true, false, false, false},
    {LinkerdDefaultPolicy::kClusterUnauthenticated, true, false, true, false, true},
    {LinkerdDefaultPolicy::kClusterAuthenticated, true, false, false, false, false},
    {LinkerdDefaultPolicy::kDeny, false, false, false, false, false},
    {LinkerdDefaultPolicy::kAudit, true, true, true, true, true},  // allowed, flagged
};

// The cluster networks of these cases: 10.0.0.0/8 and fd00::/8 (192.168.0.0/16, in Linkerd's
// default list, is outside them).
config::MeshConfig clusterMesh(std::string extra_yaml = "") {
  const std::string yaml = R"(
apiVersion: v1
kind: ConfigMap
metadata: {name: linkerd-config, namespace: linkerd}
data:
  values: |
    clusterNetworks: "10.0.0.0/8,fd00::/8"
    proxy: {defaultInboundPolicy: all-unauthenticated}
)" + (extra_yaml.empty() ? "" : "---\n" + extra_yaml);
  auto manifests = config::parseManifests(yaml, "cluster.yaml");
  EXPECT_TRUE(manifests) << manifests.error().message;
  config::MeshConfig out =
      config::parseMeshManifests(manifests.value_or(std::vector<config::Manifest>{}));
  for (const auto& f : out.findings) ADD_FAILURE() << f.str();
  return out;
}

struct DefaultCase {
  std::string name;
  LinkerdDefaultPolicy policy;
  bool server = false;  // the policy as a Server's accessPolicy rather than the default
  std::string peer;     // "" plaintext
  std::string address;  // "" unknown
  bool want_allowed = false;
};
void PrintTo(const DefaultCase& c, std::ostream* os) { *os << c.name; }

std::vector<DefaultCase> defaultCases() {
  std::vector<DefaultCase> out;
  for (const bool server : {false, true}) {
    for (const auto& row : kPolicyTable) {
      const std::string name = std::string(server ? "accessPolicy " : "default ") +
                               std::string(config::linkerdDefaultPolicyName(row.policy));
      out.push_back(
          {name + ", identity in cluster", row.policy, server, kOther, "10.1.2.3", row.id_in});
      out.push_back(
          {name + ", identity outside", row.policy, server, kOther, "192.168.1.1", row.id_out});
      out.push_back({name + ", plaintext in cluster (IPv6)", row.policy, server, "", "fd00::7",
                     row.plain_in});
      out.push_back(
          {name + ", plaintext outside", row.policy, server, "", "127.0.0.1", row.plain_out});
      out.push_back({name + ", plaintext from an unknown address", row.policy, server, "", "",
                     row.plain_unknown});
    }
  }
  return out;
}

class LinkerdDefaultTable : public ::testing::TestWithParam<DefaultCase> {};

TEST_P(LinkerdDefaultTable, Decides) {
  const DefaultCase& c = GetParam();
  const std::string policy_name(config::linkerdDefaultPolicyName(c.policy));
  // A Server whose only authorization admits kWeb, so that every case here is decided by the
  // accessPolicy; or no Server and the policy as the workload's annotation.
  const config::MeshConfig m = c.server ? clusterMesh(R"(apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080, accessPolicy: )" +
                                                      policy_name + R"(}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-http}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: web}]
)")
                                        : clusterMesh();
  const auto policy = linkerdPortPolicy(m, {}, "shop", {{"app", "cart"}}, {}, 8080,
                                        c.server ? std::nullopt : std::optional(c.policy));
  ASSERT_TRUE(policy.decides());
  LinkerdPeer peer;
  peer.id = c.peer;
  peer.mesh_tls = !c.peer.empty();
  if (!c.address.empty()) peer.address = config::IpAddress::parse(c.address);
  const AuthzDecision d = authorizeLinkerd(policy, peer);
  EXPECT_EQ(d.allowed, c.want_allowed) << d.reason;
  const std::string want_policy =
      c.server ? (c.policy == LinkerdDefaultPolicy::kDeny
                      ? "linkerd Server shop/cart-http"
                      : "linkerd Server shop/cart-http accessPolicy " + policy_name)
               : "linkerd default policy " + policy_name + " (workload annotation)";
  EXPECT_EQ(d.policy, want_policy);
  const bool audit = c.policy == LinkerdDefaultPolicy::kAudit;
  EXPECT_EQ(d.audit, audit);
  // A reason for every denial and every audit, none otherwise.
  EXPECT_EQ(d.reason.empty(), d.allowed && !audit) << d.reason;

  // The Server's own authorization still admits the identity it names, whatever the policy.
  if (c.server) {
    LinkerdPeer web = peer;
    web.id = kWeb;
    web.mesh_tls = true;
    const AuthzDecision w = authorizeLinkerd(policy, web);
    EXPECT_TRUE(w.allowed);
    EXPECT_EQ(w.policy, "linkerd AuthorizationPolicy shop/web");
    EXPECT_FALSE(w.audit);
  }
}

INSTANTIATE_TEST_SUITE_P(Linkerd, LinkerdDefaultTable, ::testing::ValuesIn(defaultCases()),
                         [](const ::testing::TestParamInfo<DefaultCase>& info) {
                           std::string name;
                           for (char ch : info.param.name)
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

// Narrowest first: the workload's annotation, its namespace's, the cluster default.
TEST(LinkerdDefaultPolicy, Precedence) {
  const config::MeshConfig m = clusterMesh(R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations: {config.linkerd.io/default-inbound-policy: cluster-authenticated}
---
apiVersion: v1
kind: Namespace
metadata: {name: web}
)");
  struct {
    std::string ns;
    std::optional<LinkerdDefaultPolicy> workload;
    std::string want;
  } cases[] = {
      {"shop", LinkerdDefaultPolicy::kDeny, "linkerd default policy deny (workload annotation)"},
      {"shop", std::nullopt,
       "linkerd default policy cluster-authenticated (namespace shop annotation)"},
      // A Namespace without the annotation, and one not in the inputs: the cluster default.
      {"web", std::nullopt, "linkerd default policy all-unauthenticated (cluster default)"},
      {"batch", std::nullopt, "linkerd default policy all-unauthenticated (cluster default)"},
      {"web", LinkerdDefaultPolicy::kAudit, "linkerd default policy audit (workload annotation)"},
  };
  for (const auto& c : cases) {
    const auto policy = linkerdPortPolicy(m, {}, c.ns, {{"app", "x"}}, {}, 8080, c.workload);
    EXPECT_EQ(policy.fallback.name, c.want) << c.ns;
    EXPECT_TRUE(authorizeLinkerd(policy, {}).allowed ==
                (policy.fallback.policy != LinkerdDefaultPolicy::kDeny &&
                 policy.fallback.policy != LinkerdDefaultPolicy::kClusterAuthenticated))
        << c.want;
  }
  // With a Server on the port, the accessPolicy decides, not the annotations.
  const auto served = linkerdPortPolicy(mesh(), {}, "shop", {{"app", "cart"}}, {}, 8080,
                                        LinkerdDefaultPolicy::kAllUnauthenticated);
  EXPECT_EQ(served.fallback.name, "linkerd Server shop/cart-http");
  EXPECT_FALSE(authorizeLinkerd(served, {}).allowed);
}

// Nothing Linkerd configured: the default allows without a name (Istio-only meshes see none).
TEST(LinkerdDefaultPolicy, UnconfiguredNamesNothing) {
  const auto policy = linkerdPortPolicy(config::MeshConfig{}, {}, "shop", {}, {}, 8080);
  EXPECT_FALSE(policy.decides());
  const AuthzDecision d = authorizeLinkerd(policy, {});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy, "");
  EXPECT_EQ(d.reason, "");
}

TEST(LinkerdDefaultPolicy, Reasons) {
  const config::MeshConfig m = clusterMesh(R"(apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080, accessPolicy: cluster-authenticated}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-audit, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8081, accessPolicy: audit}
)");
  LinkerdPeer plain;
  plain.address = config::IpAddress::parse("127.0.0.1");
  const auto at = [&](uint32_t port, std::optional<LinkerdDefaultPolicy> workload) {
    return authorizeLinkerd(linkerdPortPolicy(m, {}, "shop", {{"app", "cart"}}, {}, port, workload),
                            plain);
  };
  EXPECT_EQ(at(9000, LinkerdDefaultPolicy::kDeny).reason,
            "linkerd default policy deny (workload annotation): no Server selects the port, and "
            "the default policy deny admits no client; denied a client without identity from "
            "127.0.0.1");
  EXPECT_EQ(at(9000, LinkerdDefaultPolicy::kAllAuthenticated).reason,
            "linkerd default policy all-authenticated (workload annotation): no Server selects "
            "the port, and the default policy all-authenticated admits only mesh mTLS clients "
            "with an identity; denied a client without identity from 127.0.0.1");
  EXPECT_EQ(at(9000, LinkerdDefaultPolicy::kClusterUnauthenticated).reason,
            "linkerd default policy cluster-unauthenticated (workload annotation): no Server "
            "selects the port, and the default policy cluster-unauthenticated admits only "
            "clients from the cluster networks (10.0.0.0/8, fd00::/8); denied a client without "
            "identity from 127.0.0.1");
  const AuthzDecision audit = at(9000, LinkerdDefaultPolicy::kAudit);
  EXPECT_TRUE(audit.allowed);
  EXPECT_EQ(audit.reason,
            "linkerd default policy audit (workload annotation): no Server selects the port; "
            "allowed a client without identity from 127.0.0.1 for audit (deny would refuse it)");
  EXPECT_EQ(at(8080, std::nullopt).reason,
            "linkerd Server shop/cart-http: no authorization admits a client without identity "
            "from 127.0.0.1, and accessPolicy cluster-authenticated admits only mesh mTLS "
            "clients with an identity from the cluster networks (10.0.0.0/8, fd00::/8)");
  const AuthzDecision server_audit = at(8081, std::nullopt);
  EXPECT_TRUE(server_audit.allowed);
  EXPECT_TRUE(server_audit.audit);
  EXPECT_EQ(server_audit.policy, "linkerd Server shop/cart-audit accessPolicy audit");
  EXPECT_EQ(server_audit.reason,
            "linkerd Server shop/cart-audit: no authorization admits a client without identity "
            "from 127.0.0.1; allowed by accessPolicy audit (deny would refuse it)");
}

// A ServerAuthorization without `networks` admits the cluster networks (Linkerd's controller
// fills them in); an AuthorizationPolicy without a NetworkAuthentication every address.
TEST(LinkerdDefaultPolicy, ServerAuthorizationWithoutNetworks) {
  const std::string policies = R"(apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-http, namespace: shop, labels: {open: "yes"}}
spec: {podSelector: {matchLabels: {app: cart}}, port: 8080}
---
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: anyone, namespace: shop}
spec:
  server: {selector: {matchLabels: {open: "yes"}}}
  client: {unauthenticated: true}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: cart-admin, namespace: shop}
spec: {podSelector: {matchLabels: {app: cart}}, port: 9990}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: admin-anyone, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: cart-admin}
  requiredAuthenticationRefs: []
)";
  struct {
    bool configured;  // clusterNetworks 10.0.0.0/8,fd00::/8; else Linkerd's default list
    uint32_t port;
    std::string address;
    bool want;
  } cases[] = {
      {true, 8080, "10.0.0.1", true},     {true, 8080, "192.168.1.1", false},
      {true, 8080, "127.0.0.1", false},   {true, 8080, "", true},
      {false, 8080, "192.168.1.1", true}, {false, 8080, "100.64.0.1", true},
      {false, 8080, "127.0.0.1", false},  {false, 8080, "2001:db8::1", false},
      {true, 9990, "127.0.0.1", true},    {false, 9990, "2001:db8::1", true},
  };
  const config::MeshConfig configured = clusterMesh(policies);
  auto manifests = config::parseManifests(policies, "policies.yaml");
  ASSERT_TRUE(manifests);
  const config::MeshConfig defaults = config::parseMeshManifests(*manifests);
  ASSERT_TRUE(defaults.findings.empty());
  for (const auto& c : cases) {
    const auto policy = linkerdPortPolicy(c.configured ? configured : defaults, {}, "shop",
                                          {{"app", "cart"}}, {}, c.port);
    LinkerdPeer peer;
    if (!c.address.empty()) peer.address = config::IpAddress::parse(c.address);
    const AuthzDecision d = authorizeLinkerd(policy, peer);
    EXPECT_EQ(d.allowed, c.want) << c.port << " from " << c.address << " (configured "
                                 << c.configured << "): " << d.reason;
  }
}

}  // namespace
}  // namespace mutual::policy
