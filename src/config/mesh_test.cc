#include "config/mesh.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "config/testing.h"

namespace mutual::config {
namespace {

using testing::TempDir;

// Writes `yaml` to mesh.yaml in a fresh folder, loads it as `mutual` does and parses the mesh
// kinds. Finding locations are made relative ("mesh.yaml:12") so expectations stay readable.
struct Loaded {
  MeshConfig config;
  std::vector<std::string> findings;  // Finding::str() of each

  // Everything kept, of every kind.
  size_t kept() const {
    return config.peer_authentications.size() + config.destination_rules.size() +
           config.authorization_policies.size() + config.linkerd_servers.size() +
           config.linkerd_server_authorizations.size() +
           config.linkerd_authorization_policies.size() + config.meshtls_authentications.size() +
           config.network_authentications.size() + config.services.size() +
           config.workloads.size() + config.namespaces.size() + (config.settings ? 1 : 0) +
           (config.linkerd ? 1 : 0);
  }
};

Loaded load(const std::string& yaml) {
  TempDir dir;
  const auto file = dir.write("mesh.yaml", yaml);
  auto manifests = loadManifests({file});
  Loaded out;
  EXPECT_TRUE(manifests) << manifests.error().message;
  if (!manifests) return out;
  out.config = parseMeshManifests(*manifests);
  const std::string prefix = dir.path().string() + "/";
  const auto strip = [&](std::string& s) {
    for (auto at = s.find(prefix); at != std::string::npos; at = s.find(prefix)) {
      s.erase(at, prefix.size());
    }
  };
  for (auto& f : out.config.findings) {
    strip(f.location.file);
    strip(f.message);  // "also at <file>:<line>"
    out.findings.push_back(f.str());
  }
  return out;
}

std::string lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += "\n    " + s;
  return out.empty() ? " (none)" : out;
}

// --- one row per rule ------------------------------------------------------------------------

struct RuleCase {
  std::string name;
  std::string source;  // where the rule comes from
  std::string yaml;
  std::vector<std::string> want;  // every finding, in order
  size_t kept;                    // objects left in the result
};
void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class MeshRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(MeshRuleTest, FindingsNameFileLineAndField) {
  const RuleCase& c = GetParam();
  const Loaded loaded = load(c.yaml);
  EXPECT_EQ(loaded.findings, c.want)
      << c.name << " (" << c.source << ")\n  got:" << lines(loaded.findings)
      << "\n  want:" << lines(c.want);
  EXPECT_EQ(loaded.kept(), c.kept) << c.name;
}

const std::string kPeerAuthn =
    "apiVersion: security.istio.io/v1\n"           // 1
    "kind: PeerAuthentication\n"                   // 2
    "metadata: {name: pa, namespace: payments}\n"  // 3
    "spec:\n";                                     // 4; spec lines start at 5

const std::string kDestinationRule =
    "apiVersion: networking.istio.io/v1\n"          // 1
    "kind: DestinationRule\n"                       // 2
    "metadata: {name: dr, namespace: payments}\n"   // 3
    "spec:\n"                                       // 4
    "  host: ledger.payments.svc.cluster.local\n";  // 5; more spec lines start at 6

const std::string kTls = kDestinationRule +
                         "  trafficPolicy:\n"  // 6
                         "    tls:\n";         // 7; tls lines start at 8

const std::string kAuthz =
    "apiVersion: security.istio.io/v1\n"           // 1
    "kind: AuthorizationPolicy\n"                  // 2
    "metadata: {name: ap, namespace: payments}\n"  // 3
    "spec:\n";                                     // 4; spec lines start at 5

const std::string kServer =
    "apiVersion: policy.linkerd.io/v1beta3\n"               // 1
    "kind: Server\n"                                        // 2
    "metadata: {name: ledger-http, namespace: payments}\n"  // 3
    "spec:\n"                                               // 4
    "  podSelector: {matchLabels: {app: ledger}}\n";        // 5; more lines start at 6

const std::string kDeployment =
    "apiVersion: apps/v1\n"                            // 1
    "kind: Deployment\n"                               // 2
    "metadata: {name: ledger, namespace: payments}\n"  // 3
    "spec:\n"                                          // 4
    "  template:\n"                                    // 5
    "    metadata:\n"                                  // 6
    "      labels: {app: ledger}\n";                   // 7; more template.metadata lines start at 8

INSTANTIATE_TEST_SUITE_P(
    PeerAuthentication, MeshRuleTest,
    ::testing::Values(
        RuleCase{
            "port level without selector",
            "validation.go ValidatePeerAuthentication; istio-mtls.md §1.2; CRD CEL rule",
            kPeerAuthn + "  mtls: {mode: STRICT}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n",
            {"mesh.yaml:6: spec.portLevelMtls: mesh/namespace peer authentication cannot "
             "have port level mTLS"},
            0},
        RuleCase{"empty port level map",
                 "validation.go ValidatePeerAuthentication; CRD minProperties=1",
                 kPeerAuthn + "  selector: {matchLabels: {app: a}}\n  portLevelMtls: {}\n",
                 {"mesh.yaml:6: spec.portLevelMtls: port level mTLS, if defined, must have at "
                  "least one element"},
                 0},
        RuleCase{"port 0",
                 "validation.go ValidatePeerAuthentication; CRD CEL rule",
                 kPeerAuthn + "  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n"
                              "    0: {mode: DISABLE}\n",
                 {"mesh.yaml:7: spec.portLevelMtls[0]: port must be in range 1..65535, got 0"},
                 0},
        RuleCase{"port above 65535",
                 "validation.go ValidatePeerAuthentication; CRD CEL rule",
                 kPeerAuthn + "  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n"
                              "    \"70000\": {mode: DISABLE}\n",
                 {"mesh.yaml:7: spec.portLevelMtls[70000]: port must be in range 1..65535, got "
                  "70000"},
                 0},
        RuleCase{"port key not a number",
                 "peer_authentication.proto map<uint32, MutualTLS>",
                 kPeerAuthn + "  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n"
                              "    http: {mode: DISABLE}\n",
                 {"mesh.yaml:7: spec.portLevelMtls[http]: port must be a number, got \"http\""},
                 0},
        RuleCase{"unknown mode",
                 "CRD enum UNSET|DISABLE|PERMISSIVE|STRICT; istio-mtls.md §1.1",
                 kPeerAuthn + "  mtls: {mode: STRICTLY}\n",
                 {"mesh.yaml:5: spec.mtls.mode: unknown value \"STRICTLY\" (did you mean "
                  "\"STRICT\"?); allowed: UNSET, DISABLE, PERMISSIVE, STRICT"},
                 0},
        RuleCase{"mode in lower case",
                 "CRD enum (case-sensitive)",
                 kPeerAuthn + "  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n"
                              "    8080: {mode: permissive}\n",
                 {"mesh.yaml:7: spec.portLevelMtls[8080].mode: unknown value \"permissive\" "
                  "(did you mean \"PERMISSIVE\"?); allowed: UNSET, DISABLE, PERMISSIVE, STRICT"},
                 0},
        RuleCase{"mtls not an object",
                 "CRD schema: mtls is an object",
                 kPeerAuthn + "  mtls: STRICT\n",
                 {"mesh.yaml:5: spec.mtls: expected an object, got the string \"STRICT\""},
                 0},
        RuleCase{"unknown field",
                 "CRD schema (kubectl --validate=strict)",
                 kPeerAuthn + "  mtls: {mode: STRICT}\n  mtl: {mode: DISABLE}\n",
                 {"mesh.yaml:6: spec.mtl: unknown field (did you mean \"mtls\"?)"},
                 0},
        RuleCase{"wildcard in selector",
                 "validation.go validateWorkloadSelector; CRD CEL rule",
                 kPeerAuthn + "  selector: {matchLabels: {app: '*'}}\n",
                 {"mesh.yaml:5: spec.selector.matchLabels[app]: wildcard is not supported in "
                  "selector: \"app=*\""},
                 0},
        RuleCase{"selector without labels is a warning",
                 "validation.go validateWorkloadSelector (a Warning)",
                 kPeerAuthn + "  selector: {}\n  mtls: {mode: STRICT}\n",
                 {"warning: mesh.yaml:5: spec.selector: workload selector specified without "
                  "labels"},
                 1},
        RuleCase{"selector in the default root namespace is ignored",
                 "istio-mtls.md §1.3; peer_authentication.proto (root namespace note)",
                 "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
                 "metadata: {name: pa, namespace: istio-system}\nspec:\n"
                 "  selector:\n    matchLabels: {app: a}\n  mtls: {mode: STRICT}\n",
                 {"warning: mesh.yaml:5: spec.selector: a PeerAuthentication with a workload "
                  "selector in the root namespace \"istio-system\" is ignored by Istio; put it "
                  "in the workload's namespace"},
                 1},
        RuleCase{"root namespace from mesh settings later in the input",
                 "istio-mtls.md §1.3 (root namespace = meshConfig.rootNamespace)",
                 "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                 "metadata: {name: pa, namespace: mesh-root}\n"
                 "spec: {selector: {matchLabels: {app: a}}}\n"
                 "---\n"
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: mesh}\n"
                 "spec: {rootNamespace: mesh-root}\n",
                 {"warning: mesh.yaml:4: spec.selector: a PeerAuthentication with a workload "
                  "selector in the root namespace \"mesh-root\" is ignored by Istio; put it in "
                  "the workload's namespace"},
                 2},
        RuleCase{"unsupported apiVersion",
                 "CRD versions v1, v1beta1",
                 "apiVersion: security.istio.io/v1alpha1\nkind: PeerAuthentication\n"
                 "metadata: {name: pa}\n",
                 {"mesh.yaml:1: apiVersion: apiVersion \"security.istio.io/v1alpha1\" is not "
                  "supported for PeerAuthentication; use \"security.istio.io/v1\" or "
                  "\"security.istio.io/v1beta1\""},
                 0},
        RuleCase{
            "defined twice",
            "Kubernetes: one object per kind, namespace and name",
            kPeerAuthn + "  mtls: {mode: STRICT}\n---\n" + kPeerAuthn + "  mtls: {mode: DISABLE}\n",
            {"mesh.yaml:9: metadata.name: PeerAuthentication payments/pa is defined twice "
             "(also at mesh.yaml:1)"},
            1}));

INSTANTIATE_TEST_SUITE_P(
    DestinationRule, MeshRuleTest,
    ::testing::Values(
        RuleCase{"MUTUAL without client certificate and key",
                 "agent/validation.go ValidateTLS; istio-mtls.md §2.1",
                 kTls + "      mode: MUTUAL\n",
                 {"mesh.yaml:7: spec.trafficPolicy.tls.clientCertificate: clientCertificate is "
                  "required for mode MUTUAL (or set credentialName)",
                  "mesh.yaml:7: spec.trafficPolicy.tls.privateKey: privateKey is required for "
                  "mode MUTUAL (or set credentialName)"},
                 0},
        RuleCase{"MUTUAL with credentialName needs no files",
                 "agent/validation.go ValidateTLS; istio-mtls.md §2.1",
                 kTls + "      mode: MUTUAL\n      credentialName: ledger-client\n",
                 {},
                 1},
        RuleCase{"credentialName with certificate files",
                 "agent/validation.go ValidateTLS",
                 kTls + "      mode: SIMPLE\n      credentialName: c\n"
                        "      caCertificates: /etc/ca.pem\n",
                 {"mesh.yaml:9: spec.trafficPolicy.tls.credentialName: cannot specify "
                  "clientCertificate, privateKey, caCertificates or caCrl when credentialName "
                  "is set"},
                 0},
        RuleCase{"ISTIO_MUTUAL with certificate fields",
                 "istio-mtls.md §2.1; destination_rule.proto ClientTLSSettings",
                 kTls + "      mode: ISTIO_MUTUAL\n      clientCertificate: /etc/c.pem\n"
                        "      privateKey: /etc/k.pem\n",
                 {"mesh.yaml:9: spec.trafficPolicy.tls.clientCertificate: must be empty with "
                  "mode ISTIO_MUTUAL, which uses the sidecar's own workload certificate and the "
                  "mesh CA",
                  "mesh.yaml:10: spec.trafficPolicy.tls.privateKey: must be empty with mode "
                  "ISTIO_MUTUAL, which uses the sidecar's own workload certificate and the mesh "
                  "CA"},
                 0},
        RuleCase{"SIMPLE insecureSkipVerify with caCertificates",
                 "agent/validation.go ValidateTLS",
                 kTls + "      mode: SIMPLE\n      insecureSkipVerify: true\n"
                        "      caCertificates: /etc/ca.pem\n",
                 {"mesh.yaml:9: spec.trafficPolicy.tls.insecureSkipVerify: cannot specify "
                  "caCertificates, credentialName or subjectAltNames when insecureSkipVerify is "
                  "true"},
                 0},
        RuleCase{"MUTUAL insecureSkipVerify with subjectAltNames",
                 "agent/validation.go ValidateTLS",
                 kTls + "      mode: MUTUAL\n      clientCertificate: /c\n      privateKey: /k\n"
                        "      insecureSkipVerify: true\n      subjectAltNames: [a.example]\n",
                 {"mesh.yaml:11: spec.trafficPolicy.tls.insecureSkipVerify: cannot specify "
                  "caCertificates or subjectAltNames when insecureSkipVerify is true"},
                 0},
        RuleCase{"unknown tls mode",
                 "CRD enum DISABLE|SIMPLE|MUTUAL|ISTIO_MUTUAL",
                 kTls + "      mode: MTLS\n",
                 {"mesh.yaml:8: spec.trafficPolicy.tls.mode: unknown value \"MTLS\"; allowed: "
                  "DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL"},
                 0},
        RuleCase{"exportTo none",
                 "validation.go validateExportTo; visibility.Instance.Validate",
                 kDestinationRule + "  exportTo: [\".\", \"~\"]\n",
                 {"mesh.yaml:6: spec.exportTo[1]: exportTo ~ (none) is not allowed for Istio "
                  "configuration objects"},
                 0},
        RuleCase{"exportTo public and more",
                 "validation.go validateExportTo",
                 kDestinationRule + "  exportTo: [\"*\", frontend]\n",
                 {"mesh.yaml:6: spec.exportTo: cannot have both public (*) and non-public "
                  "exportTo values for a resource"},
                 0},
        RuleCase{"exportTo duplicate of the own namespace",
                 "validation.go validateExportTo",
                 kDestinationRule + "  exportTo: [payments, \".\"]\n",
                 {"mesh.yaml:6: spec.exportTo[1]: duplicate entries in exportTo: . and current "
                  "namespace payments"},
                 0},
        RuleCase{"workloadSelector exported beyond its namespace",
                 "validation.go validateExportTo; istio-mtls.md §2.2.4",
                 kDestinationRule + "  workloadSelector: {matchLabels: {app: web}}\n"
                                    "  exportTo: [frontend]\n",
                 {"mesh.yaml:7: spec.exportTo: destination rule with workload selector cannot "
                  "have exportTo beyond current namespace"},
                 0},
        RuleCase{"host required",
                 "CRD required: [host]",
                 "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
                 "metadata: {name: dr}\nspec:\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n",
                 {"mesh.yaml:4: spec.host: required field is missing"},
                 0},
        RuleCase{"invalid host",
                 "agent/validation.go ValidateWildcardDomain",
                 "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\n"
                 "metadata: {name: dr}\nspec:\n  host: ledger.*.svc\n",
                 {"mesh.yaml:5: spec.host: domain name \"ledger.*.svc\" invalid (label \"*\" "
                  "invalid)"},
                 0},
        RuleCase{"empty traffic policy",
                 "validation.go validateTrafficPolicy",
                 kDestinationRule + "  trafficPolicy: {}\n",
                 {"mesh.yaml:6: spec.trafficPolicy: traffic policy must have at least one field"},
                 0},
        RuleCase{"ignored traffic fields are still spelled right",
                 "CRD schema",
                 kDestinationRule + "  trafficPolicy:\n    connectionPool:\n      tcp:\n"
                                    "        maxConnection: 100\n",
                 {"mesh.yaml:9: spec.trafficPolicy.connectionPool.tcp.maxConnection: unknown "
                  "field (did you mean \"maxConnections\"?)"},
                 0},
        RuleCase{"port-level port 0",
                 "istio-mtls.md §1.2 port range, applied to DR ports",
                 kDestinationRule + "  trafficPolicy:\n    portLevelSettings:\n"
                                    "    - port: {number: 0}\n      tls: {mode: DISABLE}\n",
                 {"mesh.yaml:8: spec.trafficPolicy.portLevelSettings[0].port.number: port must "
                  "be in range 1..65535, got 0"},
                 0},
        RuleCase{"port-level entry without port",
                 "validation.go validatePortTrafficPolicies",
                 kDestinationRule + "  trafficPolicy:\n    portLevelSettings:\n"
                                    "    - tls: {mode: DISABLE}\n",
                 {"mesh.yaml:8: spec.trafficPolicy.portLevelSettings[0].port.number: "
                  "portTrafficPolicy must have valid port"},
                 0},
        RuleCase{"port-level port listed twice",
                 "util.go GetPortLevelTrafficPolicy (first wins)",
                 kDestinationRule + "  trafficPolicy:\n    portLevelSettings:\n"
                                    "    - port: {number: 80}\n      tls: {mode: DISABLE}\n"
                                    "    - port: {number: 80}\n      tls: {mode: ISTIO_MUTUAL}\n",
                 {"warning: mesh.yaml:10: spec.trafficPolicy.portLevelSettings[1].port.number: "
                  "port 80 is already set at line 8; Istio uses the first entry"},
                 1},
        RuleCase{"duplicate subset names",
                 "validation.go ValidateDestinationRule",
                 kDestinationRule + "  subsets:\n  - name: v1\n    labels: {version: v1}\n"
                                    "  - name: v1\n    labels: {version: v2}\n",
                 {"mesh.yaml:9: spec.subsets[1].name: duplicate subset names: v1 (also at line "
                  "7)"},
                 0},
        RuleCase{"subset label syntax",
                 "validation.go validateSubset (labels.Instance.Validate)",
                 kDestinationRule + "  subsets:\n  - name: v1\n    labels: {version: 'v 1'}\n",
                 {"mesh.yaml:8: spec.subsets[0].labels[version]: invalid label value \"v 1\": at "
                  "most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
                  "digit"},
                 0}));

INSTANTIATE_TEST_SUITE_P(
    AuthorizationPolicy, MeshRuleTest,
    ::testing::Values(
        RuleCase{"unknown action",
                 "CRD enum ALLOW|DENY|AUDIT|CUSTOM",
                 kAuthz + "  action: PERMIT\n",
                 {"mesh.yaml:5: spec.action: unknown value \"PERMIT\"; allowed: ALLOW, DENY, "
                  "AUDIT, CUSTOM"},
                 0},
        RuleCase{"DENY without rules",
                 "validation.go ValidateAuthorizationPolicy",
                 kAuthz + "  action: DENY\n",
                 {"mesh.yaml:4: spec.rules: DENY action without `rules` is meaningless as it "
                  "will never be triggered, add an empty rule `{}` if you want it be triggered "
                  "for every request"},
                 0},
        RuleCase{"CUSTOM without provider",
                 "validation.go ValidateAuthorizationPolicy",
                 kAuthz + "  action: CUSTOM\n  rules: [{}]\n",
                 {"mesh.yaml:4: spec.provider.name: `provider.name` must not be empty"},
                 0},
        RuleCase{"provider with ALLOW",
                 "validation.go ValidateAuthorizationPolicy",
                 kAuthz + "  provider: {name: ext-authz}\n  rules: [{}]\n",
                 {"mesh.yaml:5: spec.provider: `provider` must not be with non CUSTOM action, "
                  "found ALLOW"},
                 0},
        RuleCase{"port not a number",
                 "security.ValidatePorts",
                 kAuthz + "  rules:\n  - to:\n    - operation: {ports: [\"http\"]}\n",
                 {"mesh.yaml:7: spec.rules[0].to[0].operation.ports[0]: invalid port \"http\": "
                  "must be a number up to 65535"},
                 0},
        RuleCase{"ports are strings in the API",
                 "CRD schema: ports is a list of strings",
                 kAuthz + "  rules:\n  - to:\n    - operation: {ports: [8080]}\n",
                 {"mesh.yaml:7: spec.rules[0].to[0].operation.ports[0]: expected a string, got "
                  "the number 8080; quote it to make it a string"},
                 0},
        RuleCase{"serviceAccounts with principals",
                 "validation.go ValidateAuthorizationPolicy; CRD CEL rule",
                 kAuthz + "  rules:\n  - from:\n    - source:\n        principals: [a/ns/b/sa/c]\n"
                          "        serviceAccounts: [b/c]\n",
                 {"mesh.yaml:7: spec.rules[0].from[0].source: cannot set serviceAccounts with "
                  "namespaces or principals"},
                 0},
        RuleCase{"empty from",
                 "validation.go ValidateAuthorizationPolicy",
                 kAuthz + "  rules:\n  - from: []\n",
                 {"mesh.yaml:6: spec.rules[0].from: `from` must not be empty"},
                 0},
        RuleCase{"targetRef",
                 "authorization_policy.proto targetRef (gateways, waypoints)",
                 kAuthz + "  targetRefs:\n  - {kind: Service, name: ledger}\n",
                 {"mesh.yaml:5: spec.targetRefs: not supported by mutual (a targetRef binds the "
                  "policy to a gateway or waypoint; mutual models sidecars, which Istio selects "
                  "with `selector`)"},
                 0},
        RuleCase{"unknown source field",
                 "CRD schema",
                 kAuthz + "  rules:\n  - from:\n    - source: {principal: [a]}\n",
                 {"mesh.yaml:7: spec.rules[0].from[0].source.principal: unknown field (did you "
                  "mean \"principals\"?)"},
                 0}));

INSTANTIATE_TEST_SUITE_P(
    LinkerdServer, MeshRuleTest,
    ::testing::Values(
        RuleCase{"unknown proxy protocol",
                 "Linkerd Server CRD proxyProtocol enum",
                 kServer + "  port: 8080\n  proxyProtocol: http/2\n",
                 {"mesh.yaml:7: spec.proxyProtocol: unknown value \"http/2\" (did you mean "
                  "\"HTTP/2\"?); allowed: unknown, HTTP/1, HTTP/2, gRPC, opaque, TLS"},
                 0},
        RuleCase{"port required",
                 "Linkerd Server CRD required: [port]",
                 kServer,
                 {"mesh.yaml:4: spec.port: required field is missing"},
                 0},
        RuleCase{"port out of range",
                 "Linkerd Server CRD port 1..65535",
                 kServer + "  port: 65536\n",
                 {"mesh.yaml:6: spec.port: port must be in range 1..65535, got 65536"},
                 0},
        RuleCase{"matchExpressions",
                 "mutual models matchLabels only",
                 "apiVersion: policy.linkerd.io/v1beta1\nkind: Server\nmetadata: {name: s}\n"
                 "spec:\n  podSelector:\n    matchExpressions: [{key: app, operator: Exists}]\n"
                 "  port: http\n",
                 {"mesh.yaml:6: spec.podSelector.matchExpressions: not supported by mutual; "
                  "select pods with matchLabels"},
                 0},
        RuleCase{"unknown accessPolicy",
                 "Linkerd Server v1beta3 accessPolicy: the default inbound policy values",
                 kServer + "  port: 8080\n  accessPolicy: all_authenticated\n",
                 {"mesh.yaml:7: spec.accessPolicy: unknown value \"all_authenticated\" (did you "
                  "mean \"all-authenticated\"?); allowed: all-unauthenticated, all-authenticated, "
                  "cluster-unauthenticated, cluster-authenticated, deny, audit"},
                 0},
        RuleCase{"accessPolicy before v1beta3",
                 "Linkerd Server CRD: accessPolicy only in v1beta3 (the API server prunes it)",
                 "apiVersion: policy.linkerd.io/v1beta2\nkind: Server\nmetadata: {name: s}\n"
                 "spec:\n  podSelector: {matchLabels: {app: a}}\n  port: 80\n"
                 "  accessPolicy: audit\n",
                 {"warning: mesh.yaml:7: spec.accessPolicy: accessPolicy exists only in "
                  "policy.linkerd.io/v1beta3; the API server drops it from "
                  "policy.linkerd.io/v1beta2, so the Server denies what no authorization admits"},
                 1},
        RuleCase{"unknown field",
                 "Linkerd Server CRD schema",
                 kServer + "  port: 8080\n  proxyProtocl: opaque\n",
                 {"mesh.yaml:7: spec.proxyProtocl: unknown field (did you mean "
                  "\"proxyProtocol\"?)"},
                 0}));

const std::string kServerAuthz =
    "apiVersion: policy.linkerd.io/v1beta1\n"                 // 1
    "kind: ServerAuthorization\n"                             // 2
    "metadata: {name: web-to-ledger, namespace: payments}\n"  // 3
    "spec:\n";                                                // 4; spec lines start at 5

const std::string kLinkerdAuthz =
    "apiVersion: policy.linkerd.io/v1alpha1\n"             // 1
    "kind: AuthorizationPolicy\n"                          // 2
    "metadata: {name: ledger-web, namespace: payments}\n"  // 3
    "spec:\n";                                             // 4; spec lines start at 5

const std::string kTargetServer =
    "  targetRef: {group: policy.linkerd.io, kind: Server, name: ledger-http}\n";

const std::string kMeshTlsAuthn =
    "apiVersion: policy.linkerd.io/v1alpha1\n"      // 1
    "kind: MeshTLSAuthentication\n"                 // 2
    "metadata: {name: web, namespace: payments}\n"  // 3
    "spec:\n";                                      // 4; spec lines start at 5

const std::string kNetworkAuthn =
    "apiVersion: policy.linkerd.io/v1alpha1\n"         // 1
    "kind: NetworkAuthentication\n"                    // 2
    "metadata: {name: office, namespace: payments}\n"  // 3
    "spec:\n";                                         // 4; spec lines start at 5

// Linkerd's CRD schemas (charts/linkerd-crds/templates/policy/) and admission webhook
// (policy-controller/src/admission.rs); the index's refusals (server_authorization.rs
// client_authz, meshtls_authentication.rs).
INSTANTIATE_TEST_SUITE_P(
    LinkerdAuthorization, MeshRuleTest,
    ::testing::Values(
        RuleCase{"ServerAuthorization: server by name and selector",
                 "CRD server oneOf [name, selector]",
                 kServerAuthz + "  server: {name: ledger-http, selector: {matchLabels: {a: b}}}\n"
                                "  client: {unauthenticated: true}\n",
                 {"mesh.yaml:5: spec.server: only one of `name` or `selector` may be specified"},
                 0},
        RuleCase{"ServerAuthorization: no client authentication",
                 "server_authorization.rs client_authz",
                 kServerAuthz + "  server: {name: ledger-http}\n  client:\n"
                                "    networks: [{cidr: 10.0.0.0/8}]\n",
                 {"mesh.yaml:6: spec.client: no client authentication configured: set `meshTLS` "
                  "or `unauthenticated: true`"},
                 0},
        RuleCase{"ServerAuthorization: unauthenticated with meshTLS",
                 "admission.rs ServerAuthorizationSpec",
                 kServerAuthz + "  server: {name: ledger-http}\n  client:\n"
                                "    unauthenticated: true\n"
                                "    meshTLS: {identities: [\"*\"]}\n",
                 {"mesh.yaml:7: spec.client.unauthenticated: `unauthenticated` must be false if "
                  "`meshTLS` is specified"},
                 0},
        RuleCase{"ServerAuthorization: unauthenticatedTLS with identities",
                 "admission.rs ServerAuthorizationSpec",
                 kServerAuthz + "  server: {name: ledger-http}\n  client:\n    meshTLS:\n"
                                "      unauthenticatedTLS: true\n"
                                "      serviceAccounts: [{name: web}]\n",
                 {"mesh.yaml:8: spec.client.meshTLS.unauthenticatedTLS: `unauthenticatedTLS` "
                  "must be false if any `identities` or `serviceAccounts` is specified"},
                 0},
        RuleCase{"ServerAuthorization: meshTLS authorizing nobody",
                 "server_authorization.rs client_mtls_authn",
                 kServerAuthz + "  server: {name: ledger-http}\n  client:\n    meshTLS: {}\n",
                 {"mesh.yaml:7: spec.client.meshTLS: authorizes no clients: set `identities`, "
                  "`serviceAccounts` or `unauthenticatedTLS: true`"},
                 0},
        RuleCase{"ServerAuthorization: bad CIDRs",
                 "admission.rs validate_networks; Linkerd's Cidr",
                 kServerAuthz + "  server: {name: ledger-http}\n  client:\n"
                                "    unauthenticated: true\n"
                                "    networks:\n"
                                "      - cidr: 10.0.0.0/33\n"
                                "      - {cidr: 10.0.0.0/8, except: [192.168.0.0/16, 10.0.0.0/7]}\n"
                                "      - cidr: fd00::/129\n",
                 {"mesh.yaml:9: spec.client.networks[0].cidr: invalid CIDR \"10.0.0.0/33\": an "
                  "IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8, or one address",
                  "mesh.yaml:10: spec.client.networks[1].except[0]: cidr \"10.0.0.0/8\" does not "
                  "include exception \"192.168.0.0/16\"",
                  "mesh.yaml:10: spec.client.networks[1].except[1]: cidr \"10.0.0.0/8\" is "
                  "completely negated by exception \"10.0.0.0/7\"",
                  "mesh.yaml:11: spec.client.networks[2].cidr: invalid CIDR \"fd00::/129\": an "
                  "IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8, or one address"},
                 0},
        RuleCase{"ServerAuthorization: identities",
                 "CRD identities pattern; mutual's SPIFFE mapping",
                 kServerAuthz + "  server: {selector: {matchLabels: {app: ledger}}}\n"
                                "  client:\n    meshTLS:\n      identities:\n"
                                "        - Web.payments.serviceaccount.identity.linkerd.local\n"
                                "        - spiffe://cluster.local/ns/a b\n"
                                "        - \"*.cluster.local\"\n",
                 {"mesh.yaml:9: spec.client.meshTLS.identities[0]: invalid identity "
                  "\"Web.payments.serviceaccount.identity.linkerd.local\": \"*\", a SPIFFE ID, or "
                  "DNS labels (lowercase letters, digits and '-') separated by '.', the first of "
                  "which may be \"*\"",
                  "mesh.yaml:10: spec.client.meshTLS.identities[1]: invalid SPIFFE ID "
                  "\"spiffe://cluster.local/ns/a b\": path segment characters are limited to "
                  "letters, numbers, dots, dashes, and underscores",
                  "warning: mesh.yaml:11: spec.client.meshTLS.identities[2]: identity "
                  "\"*.cluster.local\" is not a Linkerd service account identity "
                  "(<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>, or \"*.\" "
                  "and a suffix of one from <ns> or serviceaccount on) nor a SPIFFE ID: mutual "
                  "cannot map it to SPIFFE IDs, so it admits no client"},
                 0},
        RuleCase{"ServerAuthorization: v1alpha1 is deprecated",
                 "CRD deprecationWarning",
                 "apiVersion: policy.linkerd.io/v1alpha1\nkind: ServerAuthorization\n"
                 "metadata: {name: s}\nspec:\n  server: {name: a}\n"
                 "  client: {unauthenticated: true}\n",
                 {"warning: mesh.yaml:1: apiVersion: policy.linkerd.io/v1alpha1 "
                  "ServerAuthorization is deprecated; use policy.linkerd.io/v1beta1 "
                  "ServerAuthorization"},
                 1},
        RuleCase{"ServerAuthorization: unknown field",
                 "CRD schema",
                 kServerAuthz + "  server: {name: ledger-http}\n  client:\n"
                                "    meshTls: {identities: [\"*\"]}\n",
                 {"mesh.yaml:7: spec.client.meshTls: unknown field (did you mean \"meshTLS\"?)"},
                 0},
        RuleCase{"AuthorizationPolicy: requiredAuthenticationRefs required",
                 "CRD required: [targetRef, requiredAuthenticationRefs]",
                 kLinkerdAuthz + kTargetServer,
                 {"mesh.yaml:4: spec.requiredAuthenticationRefs: required field is missing"},
                 0},
        RuleCase{"AuthorizationPolicy: Server without its group",
                 "admission.rs validate_policy_target (targets_kind compares groups)",
                 kLinkerdAuthz + "  targetRef: {kind: Server, name: ledger-http}\n"
                                 "  requiredAuthenticationRefs: []\n",
                 {"mesh.yaml:5: spec.targetRef: group \"core\" has no kind \"Server\"; allowed: "
                  "Server (policy.linkerd.io), Namespace (core), HTTPRoute (policy.linkerd.io), "
                  "HTTPRoute (gateway.networking.k8s.io), GRPCRoute (gateway.networking.k8s.io) "
                  "(an absent group is the core group)"},
                 0},
        RuleCase{"AuthorizationPolicy: another namespace",
                 "admission.rs validate_policy_target",
                 kLinkerdAuthz + "  targetRef: {kind: Namespace, name: shop}\n"
                                 "  requiredAuthenticationRefs: []\n",
                 {"mesh.yaml:5: spec.targetRef.name: cannot target another namespace: shop (the "
                  "policy is in payments)"},
                 0},
        RuleCase{"AuthorizationPolicy: unsupported target",
                 "admission.rs validate_policy_target",
                 kLinkerdAuthz + "  targetRef: {kind: Pod, name: ledger-0}\n"
                                 "  requiredAuthenticationRefs: []\n",
                 {"mesh.yaml:5: spec.targetRef.kind: unsupported targetRef kind \"Pod\"; allowed: "
                  "Server (policy.linkerd.io), Namespace (core), HTTPRoute (policy.linkerd.io), "
                  "HTTPRoute (gateway.networking.k8s.io), GRPCRoute (gateway.networking.k8s.io)"},
                 0},
        RuleCase{"AuthorizationPolicy: a route target is not evaluated",
                 "mutual authorizes connections",
                 kLinkerdAuthz +
                     "  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}\n"
                     "  requiredAuthenticationRefs: []\n",
                 {"warning: mesh.yaml:5: spec.targetRef.kind: route targets are not evaluated: "
                  "mutual authorizes connections (L4), not HTTP or gRPC requests, so this policy "
                  "admits no connection"},
                 1},
        RuleCase{"AuthorizationPolicy: authentication refs",
                 "admission.rs AuthorizationPolicySpec",
                 kLinkerdAuthz + kTargetServer +
                     "  requiredAuthenticationRefs:\n"
                     "    - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: a}\n"
                     "    - {kind: ServiceAccount, name: web}\n"
                     "    - {group: policy.linkerd.io, kind: NetworkAuthentication, name: office}\n"
                     "    - {group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}\n"
                     "    - {group: policy.linkerd.io, kind: ServerAuthorization, name: s}\n"
                     "    - {kind: ServiceAccount}\n",
                 {"mesh.yaml:8: spec.requiredAuthenticationRefs[1]: a MeshTLSAuthentication and "
                  "ServiceAccount may not be set together",
                  "mesh.yaml:10: spec.requiredAuthenticationRefs[3]: only a single "
                  "NetworkAuthentication may be set",
                  "mesh.yaml:11: spec.requiredAuthenticationRefs[4].kind: unsupported "
                  "authentication kind \"ServerAuthorization\"; allowed: MeshTLSAuthentication "
                  "(policy.linkerd.io), NetworkAuthentication (policy.linkerd.io), ServiceAccount "
                  "(core)",
                  "mesh.yaml:12: spec.requiredAuthenticationRefs[5].name: required field is "
                  "missing"},
                 0},
        RuleCase{"MeshTLSAuthentication: one of identities or identityRefs",
                 "CRD oneOf [identities, identityRefs]",
                 kMeshTlsAuthn + "  identities: [\"*\"]\n  identityRefs: [{kind: Namespace, "
                                 "name: shop}]\n",
                 {"mesh.yaml:4: spec: only one of `identities` or `identityRefs` may be "
                  "specified"},
                 0},
        RuleCase{"MeshTLSAuthentication: empty",
                 "meshtls_authentication.rs \"No identities configured\"",
                 kMeshTlsAuthn + "  identities: []\n",
                 {"mesh.yaml:5: spec.identities: no identities configured"},
                 0},
        RuleCase{"MeshTLSAuthentication: identityRefs",
                 "admission.rs validate_identity_ref",
                 kMeshTlsAuthn + "  identityRefs:\n"
                                 "    - {kind: Namespace, name: shop, namespace: shop}\n"
                                 "    - {kind: Deployment, name: web}\n",
                 {"mesh.yaml:6: spec.identityRefs[0].namespace: Namespace identity_ref is "
                  "cluster-scoped and cannot have a namespace",
                  "mesh.yaml:7: spec.identityRefs[1].kind: unsupported identityRefs kind "
                  "\"Deployment\"; allowed: ServiceAccount (core), Namespace (core)"},
                 0},
        RuleCase{"NetworkAuthentication: networks required",
                 "admission.rs NetworkAuthenticationSpec",
                 kNetworkAuthn + "  networks: []\n",
                 {"mesh.yaml:5: spec.networks: at least one network must be specified"},
                 0},
        RuleCase{"NetworkAuthentication: unknown field",
                 "CRD schema",
                 kNetworkAuthn + "  networks: [{cidr: 10.0.0.0/8, exclude: [10.1.0.0/16]}]\n",
                 {"mesh.yaml:5: spec.networks[0].exclude: unknown field (known fields: cidr, "
                  "except)"},
                 0}));

INSTANTIATE_TEST_SUITE_P(
    Inventory, MeshRuleTest,
    ::testing::Values(
        RuleCase{"unknown fields are fine in kubectl output",
                 "brief: inventory is lenient",
                 kDeployment + "    spec:\n      containers:\n      - name: app\n"
                               "        image: ledger:1\n        resources: {}\n"
                               "status: {replicas: 1}\n",
                 {},
                 1},
        RuleCase{"what is read is type-checked",
                 "Kubernetes: containerPort is an integer",
                 kDeployment + "    spec:\n      containers:\n      - name: app\n"
                               "        ports: [{containerPort: http}]\n",
                 {"mesh.yaml:11: spec.template.spec.containers[0].ports[0].containerPort: "
                  "expected an integer, got the string \"http\""},
                 0},
        RuleCase{"bad skip-inbound-ports",
                 "Linkerd proxy config annotations",
                 kDeployment + "      annotations:\n"
                               "        config.linkerd.io/skip-inbound-ports: \"4190,80-70\"\n",
                 {"mesh.yaml:9: spec.template.metadata.annotations[config.linkerd.io/"
                  "skip-inbound-ports]: invalid port or port range \"80-70\" (expected ports and "
                  "ranges in 1..65535, e.g. \"8080,4000-4005\")"},
                 0},
        RuleCase{"bad default-inbound-policy on a workload",
                 "Linkerd config.linkerd.io/default-inbound-policy values",
                 kDeployment + "      annotations:\n"
                               "        config.linkerd.io/default-inbound-policy: Deny\n",
                 {"mesh.yaml:9: spec.template.metadata.annotations[config.linkerd.io/"
                  "default-inbound-policy]: unknown value \"Deny\" (did you mean \"deny\"?); "
                  "allowed: all-unauthenticated, all-authenticated, cluster-unauthenticated, "
                  "cluster-authenticated, deny, audit"},
                 0},
        RuleCase{"bad default-inbound-policy on a Namespace",
                 "Linkerd config.linkerd.io/default-inbound-policy values",
                 "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n"
                 "    config.linkerd.io/default-inbound-policy: Cluster-Authenticated\n",
                 {"mesh.yaml:6: metadata.annotations[config.linkerd.io/default-inbound-policy]: "
                  "unknown value \"Cluster-Authenticated\" (did you mean "
                  "\"cluster-authenticated\"?); allowed: all-unauthenticated, all-authenticated, "
                  "cluster-unauthenticated, cluster-authenticated, deny, audit"},
                 0},
        RuleCase{"every port skipped",
                 "Linkerd proxy config annotations (ranges)",
                 kDeployment + "      annotations:\n"
                               "        config.linkerd.io/skip-outbound-ports: \"1-65535,80\"\n",
                 {},
                 1},
        RuleCase{"service port range",
                 "Kubernetes Service: port 1..65535",
                 "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n"
                 "  ports: [{port: 0}]\n",
                 {"mesh.yaml:5: spec.ports[0].port: port must be in range 1..65535, got 0"},
                 0}));

INSTANTIATE_TEST_SUITE_P(
    SettingsAndKinds, MeshRuleTest,
    ::testing::Values(
        RuleCase{"MeshSettings is strict",
                 "mutual.dev/v1alpha1 MeshSettings",
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                 "spec:\n  trustDomain: example.org\n  autoMTLS: false\n",
                 {"mesh.yaml:6: spec.autoMTLS: unknown field (did you mean \"autoMtls\"?)"},
                 0},
        RuleCase{
            "istio ConfigMap mesh config types",
            "Istio MeshConfig enableAutoMtls (bool)",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
            "data:\n  mesh: |-\n    trustDomain: example.org\n    enableAutoMtls: \"no\"\n",
            {"mesh.yaml:7: data.mesh.enableAutoMtls: expected true or false, got the string "
             "\"no\""},
            0},
        RuleCase{"linkerd-config values",
                 "Linkerd's values.yaml: clusterNetworks, proxy.defaultInboundPolicy",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config, namespace: "
                 "linkerd}\ndata:\n  values: |\n    clusterDomain: cluster.local\n"
                 "    clusterNetworks: 10.0.0.0/8,10.300.0.0/16, fd00::/8\n    proxy:\n"
                 "      image: {name: cr.l5d.io/linkerd/proxy}\n"
                 "      defaultInboundPolicy: all-authenticate\n",
                 {"mesh.yaml:7: data.values.clusterNetworks: invalid CIDR \"10.300.0.0/16\": an "
                  "IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8, or one address "
                  "(clusterNetworks separates them with commas)",
                  "mesh.yaml:10: data.values.proxy.defaultInboundPolicy: unknown value "
                  "\"all-authenticate\" (did you mean \"all-authenticated\"?); allowed: "
                  "all-unauthenticated, all-authenticated, cluster-unauthenticated, "
                  "cluster-authenticated, deny, audit"},
                 0},
        RuleCase{"linkerd-config without networks",
                 "Linkerd's values.yaml clusterNetworks",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config}\n"
                 "data: {values: \"clusterNetworks: ' , '\"}\n",
                 {"mesh.yaml:4: data.values.clusterNetworks: no network: write comma-separated "
                  "CIDRs such as \"10.0.0.0/8,fd00::/8\""},
                 0},
        RuleCase{"MeshSettings linkerd block is strict",
                 "mutual.dev/v1alpha1 MeshSettings spec.linkerd",
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                 "spec:\n  linkerd:\n    clusterNetworks: 10.0.0.0/8,fd00::/8\n",
                 {"mesh.yaml:6: spec.linkerd.clusterNetworks: expected a list of CIDRs such as "
                  "[10.0.0.0/8, fd00::/8], got the string \"10.0.0.0/8,fd00::/8\""},
                 0},
        RuleCase{"MeshSettings linkerd values",
                 "mutual.dev/v1alpha1 MeshSettings spec.linkerd",
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                 "spec:\n  linkerd:\n    defaultInboundPolicy: permissive\n"
                 "    clusterNetworks: [10.0.0.0/8, 10.0.0.0/33]\n    cluster: x\n",
                 {"mesh.yaml:8: spec.linkerd.cluster: unknown field (known fields: "
                  "defaultInboundPolicy, clusterNetworks)"},
                 0},
        RuleCase{"MeshSettings linkerd values, each reported",
                 "mutual.dev/v1alpha1 MeshSettings spec.linkerd",
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                 "spec:\n  linkerd:\n    defaultInboundPolicy: permissive\n"
                 "    clusterNetworks: [10.0.0.0/8, 10.0.0.0/33]\n",
                 {"mesh.yaml:6: spec.linkerd.defaultInboundPolicy: unknown value \"permissive\"; "
                  "allowed: all-unauthenticated, all-authenticated, cluster-unauthenticated, "
                  "cluster-authenticated, deny, audit",
                  "mesh.yaml:7: spec.linkerd.clusterNetworks[1]: invalid CIDR \"10.0.0.0/33\": an "
                  "IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8, or one address"},
                 0},
        RuleCase{"Linkerd settings twice",
                 "one linkerd-config per cluster",
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                 "spec: {linkerd: {defaultInboundPolicy: deny}}\n---\n"
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config}\n"
                 "data: {values: 'proxy: {defaultInboundPolicy: audit}'}\n",
                 {"mesh.yaml:6: Linkerd settings are already defined at mesh.yaml:1; this "
                  "ConfigMap is ignored"},
                 2},
        RuleCase{"settings twice",
                 "one mesh config per mesh",
                 "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                 "spec: {}\n---\n"
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata: {mesh: ''}\n",
                 {"mesh.yaml:6: mesh settings are already defined at mesh.yaml:1; this ConfigMap "
                  "is ignored"},
                 1},
        RuleCase{"unknown kind in an Istio group",
                 "the security.istio.io kinds",
                 "apiVersion: security.istio.io/v1\nkind: PeerAuthenticationPolicy\n"
                 "metadata: {name: p}\nspec: {}\n",
                 {"mesh.yaml:2: kind: unknown kind \"PeerAuthenticationPolicy\" in "
                  "security.istio.io (did you mean \"PeerAuthentication\"?); known kinds: "
                  "PeerAuthentication, AuthorizationPolicy, RequestAuthentication"},
                 0}));

// The rest of the trust-domain message comes from the spiffe module; only its start is pinned.
TEST(MeshSettingsTest, TrustDomainSyntax) {
  const Loaded loaded = load(
      "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
      "spec: {trustDomain: Example.org}\n");
  ASSERT_EQ(loaded.findings.size(), 1u);
  EXPECT_EQ(loaded.findings[0].rfind("mesh.yaml:4: spec.trustDomain: invalid trust domain", 0), 0u)
      << loaded.findings[0];
}

// --- what is read ----------------------------------------------------------------------------

TEST(PeerAuthenticationTest, Fields) {
  const Loaded loaded = load(
      "apiVersion: security.istio.io/v1beta1\n"
      "kind: PeerAuthentication\n"
      "metadata:\n"
      "  name: ledger\n"
      "  namespace: payments\n"
      "  creationTimestamp: \"2024-05-01T10:00:00Z\"\n"
      "spec:\n"
      "  selector:\n"
      "    matchLabels: {app: ledger}\n"
      "  mtls: {mode: STRICT}\n"
      "  portLevelMtls:\n"
      "    8080: {mode: PERMISSIVE}\n"
      "    \"9090\": {mode: DISABLE}\n"
      "    9091: {}\n"
      "---\n"
      "apiVersion: security.istio.io/v1\n"
      "kind: PeerAuthentication\n"
      "metadata: {name: default}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.peer_authentications.size(), 2u);
  const auto& p = loaded.config.peer_authentications[0];
  EXPECT_EQ(p.meta.name, "ledger");
  EXPECT_EQ(p.meta.namespace_name, "payments");
  EXPECT_EQ(p.meta.creation_timestamp, "2024-05-01T10:00:00Z");
  EXPECT_EQ(p.meta.location.line, 1);
  EXPECT_EQ(p.selector, (Labels{{"app", "ledger"}}));
  EXPECT_EQ(p.mode, MtlsMode::kStrict);
  EXPECT_EQ(p.port_level, (std::map<uint32_t, MtlsMode>{{8080, MtlsMode::kPermissive},
                                                        {9090, MtlsMode::kDisable},
                                                        {9091, MtlsMode::kUnset}}));
  // No spec at all: namespace "default", no selector, UNSET (istio-mtls.md §1.1).
  const auto& d = loaded.config.peer_authentications[1];
  EXPECT_EQ(d.meta.namespace_name, "default");
  EXPECT_EQ(d.meta.creation_timestamp, "");
  EXPECT_FALSE(d.selector);
  EXPECT_EQ(d.mode, MtlsMode::kUnset);
  EXPECT_TRUE(d.port_level.empty());
  EXPECT_EQ(d.meta.location.line, 16);
}

TEST(DestinationRuleTest, Fields) {
  const Loaded loaded = load(
      "apiVersion: networking.istio.io/v1beta1\n"
      "kind: DestinationRule\n"
      "metadata: {name: bank, namespace: payments}\n"
      "spec:\n"
      "  host: bank.example.com\n"
      "  exportTo: [\".\", frontend]\n"
      "  trafficPolicy:\n"
      "    connectionPool: {tcp: {maxConnections: 100}}\n"
      "    loadBalancer: {simple: ROUND_ROBIN}\n"
      "    outlierDetection: {consecutive5xxErrors: 7, interval: 5m}\n"
      "    tls:\n"
      "      mode: MUTUAL\n"
      "      clientCertificate: /etc/certs/client.pem\n"
      "      privateKey: /etc/certs/client.key\n"
      "      caCertificates: /etc/certs/ca.pem\n"
      "      caCrl: /etc/certs/ca.crl\n"
      "      subjectAltNames: [\"spiffe://example.org/ns/bank/sa/api\"]\n"
      "      sni: bank.example.com\n"
      "    portLevelSettings:\n"
      "    - port: {number: 8443}\n"
      "      tls: {}\n"
      "    - port: {number: 9000}\n"
      "      connectionPool: {tcp: {maxConnections: 1}}\n"
      "  subsets:\n"
      "  - name: v2\n"
      "    labels: {version: v2, app.kubernetes.io/name: bank}\n"
      "    trafficPolicy:\n"
      "      tls: {mode: ISTIO_MUTUAL, sni: v2.bank}\n"
      "---\n"
      "apiVersion: networking.istio.io/v1\n"
      "kind: DestinationRule\n"
      "metadata: {name: web-client, namespace: web}\n"
      "spec:\n"
      "  host: '*.payments.svc.cluster.local'\n"
      "  workloadSelector: {matchLabels: {app: web}}\n"
      "  trafficPolicy:\n"
      "    tls: {mode: SIMPLE, credentialName: bank-ca, insecureSkipVerify: false}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.destination_rules.size(), 2u);
  const auto& dr = loaded.config.destination_rules[0];
  EXPECT_EQ(dr.host, "bank.example.com");
  EXPECT_EQ(dr.export_to, (std::vector<std::string>{".", "frontend"}));
  EXPECT_FALSE(dr.workload_selector);
  ASSERT_TRUE(dr.traffic_policy);
  ASSERT_TRUE(dr.traffic_policy->tls);
  const ClientTls& tls = *dr.traffic_policy->tls;
  EXPECT_EQ(tls.mode, ClientTlsMode::kMutual);
  EXPECT_EQ(tls.client_certificate, "/etc/certs/client.pem");
  EXPECT_EQ(tls.private_key, "/etc/certs/client.key");
  EXPECT_EQ(tls.ca_certificates, "/etc/certs/ca.pem");
  EXPECT_EQ(tls.ca_crl, "/etc/certs/ca.crl");
  EXPECT_EQ(tls.subject_alt_names,
            (std::vector<std::string>{"spiffe://example.org/ns/bank/sa/api"}));
  EXPECT_EQ(tls.sni, "bank.example.com");
  EXPECT_FALSE(tls.insecure_skip_verify);
  ASSERT_EQ(dr.traffic_policy->port_level.size(), 2u);
  // A tls block without mode is DISABLE (the proto default; istio-mtls.md §2.1).
  ASSERT_TRUE(dr.traffic_policy->port_level.at(8443));
  EXPECT_EQ(dr.traffic_policy->port_level.at(8443)->mode, ClientTlsMode::kDisable);
  // An entry without tls still replaces the top-level policy for its port (§2.2.6).
  EXPECT_FALSE(dr.traffic_policy->port_level.at(9000));
  ASSERT_EQ(dr.subsets.size(), 1u);
  EXPECT_EQ(dr.subsets[0].name, "v2");
  EXPECT_EQ(dr.subsets[0].labels, (Labels{{"version", "v2"}, {"app.kubernetes.io/name", "bank"}}));
  ASSERT_TRUE(dr.subsets[0].traffic_policy && dr.subsets[0].traffic_policy->tls);
  EXPECT_EQ(dr.subsets[0].traffic_policy->tls->mode, ClientTlsMode::kIstioMutual);
  EXPECT_EQ(dr.subsets[0].traffic_policy->tls->sni, "v2.bank");

  const auto& client = loaded.config.destination_rules[1];
  EXPECT_EQ(client.host, "*.payments.svc.cluster.local");
  EXPECT_EQ(client.workload_selector, (Labels{{"app", "web"}}));
  EXPECT_TRUE(client.export_to.empty());
  ASSERT_TRUE(client.traffic_policy && client.traffic_policy->tls);
  EXPECT_EQ(client.traffic_policy->tls->mode, ClientTlsMode::kSimple);
  EXPECT_EQ(client.traffic_policy->tls->credential_name, "bank-ca");
  EXPECT_TRUE(client.traffic_policy->port_level.empty());
}

TEST(AuthorizationPolicyTest, AddressesMustBeCidrs) {
  const Loaded loaded = load(
      "apiVersion: security.istio.io/v1\n"
      "kind: AuthorizationPolicy\n"
      "metadata: {name: nets, namespace: payments}\n"
      "spec:\n"
      "  rules:\n"
      "  - from:\n"
      "    - source: {ipBlocks: [10.0.0.0/33], requestPrincipals: [\"*\"]}\n"
      "    when:\n"
      "    - key: source.ip\n"
      "      values: [not-an-ip]\n");
  ASSERT_EQ(loaded.findings.size(), 2u) << lines(loaded.findings);
  EXPECT_NE(lines(loaded.findings).find("invalid CIDR \"10.0.0.0/33\""), std::string::npos)
      << lines(loaded.findings);
  EXPECT_NE(lines(loaded.findings).find("invalid CIDR \"not-an-ip\""), std::string::npos)
      << lines(loaded.findings);
}

TEST(AuthorizationPolicyTest, WarnsOfSpiffePrefixedPrincipals) {
  const Loaded loaded = load(
      "apiVersion: security.istio.io/v1\n"
      "kind: AuthorizationPolicy\n"
      "metadata: {name: web, namespace: shop}\n"
      "spec:\n"
      "  rules:\n"
      "  - from:\n"
      "    - source: {principals: [\"spiffe://cluster.local/ns/shop/sa/web\", "
      "\"cluster.local/ns/shop/sa/ok\"]}\n");
  ASSERT_EQ(loaded.findings.size(), 1u) << lines(loaded.findings);
  EXPECT_NE(lines(loaded.findings)
                .find("principal \"spiffe://cluster.local/ns/shop/sa/web\" starts with spiffe://"),
            std::string::npos)
      << lines(loaded.findings);
}

TEST(AuthorizationPolicyTest, Fields) {
  const Loaded loaded = load(
      "apiVersion: security.istio.io/v1\n"
      "kind: AuthorizationPolicy\n"
      "metadata: {name: ledger-callers, namespace: payments}\n"
      "spec:\n"
      "  selector:\n"
      "    matchLabels: {app: ledger}\n"
      "  rules:\n"
      "  - from:\n"
      "    - source:\n"
      "        principals: [\"cluster.local/ns/frontend/sa/web\"]\n"
      "        notNamespaces: [legacy]\n"
      "        ipBlocks: [10.0.0.0/8]\n"
      "    - source:\n"
      "        serviceAccounts: [batch/reporter, auditor]\n"
      "    to:\n"
      "    - operation:\n"
      "        methods: [GET]\n"
      "        ports: [\"8080\"]\n"
      "        notPorts: [\"9090\"]\n"
      "    when:\n"
      "    - key: request.headers[x-tenant]\n"
      "      values: [acme]\n"
      "  - {}\n"
      "---\n"
      "apiVersion: security.istio.io/v1beta1\n"
      "kind: AuthorizationPolicy\n"
      "metadata: {name: deny-plaintext, namespace: istio-system}\n"
      "spec:\n"
      "  action: DENY\n"
      "  rules:\n"
      "  - from:\n"
      "    - source: {notPrincipals: [\"*\"]}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.authorization_policies.size(), 2u);
  const auto& p = loaded.config.authorization_policies[0];
  EXPECT_EQ(p.action, AuthzAction::kAllow);  // the default
  EXPECT_EQ(p.selector, (Labels{{"app", "ledger"}}));
  ASSERT_EQ(p.rules.size(), 2u);
  const AuthzRule& rule = p.rules[0];
  ASSERT_EQ(rule.from.size(), 2u);
  EXPECT_EQ(rule.from[0].principals,
            (std::vector<std::string>{"cluster.local/ns/frontend/sa/web"}));
  EXPECT_EQ(rule.from[0].not_namespaces, (std::vector<std::string>{"legacy"}));
  // serviceAccounts are principals in any trust domain; a bare name is in the policy's namespace.
  EXPECT_EQ(rule.from[1].principals,
            (std::vector<std::string>{"*/ns/batch/sa/reporter", "*/ns/payments/sa/auditor"}));
  ASSERT_EQ(rule.to.size(), 1u);
  EXPECT_EQ(rule.to[0].ports, (std::vector<std::string>{"8080"}));
  EXPECT_EQ(rule.to[0].not_ports, (std::vector<std::string>{"9090"}));
  EXPECT_TRUE(rule.to[0].http_only);  // methods
  ASSERT_EQ(rule.from[0].ip_blocks.size(), 1u);
  EXPECT_EQ(rule.from[0].ip_blocks[0].text, "10.0.0.0/8");
  EXPECT_FALSE(rule.from[0].http_only);
  ASSERT_EQ(rule.when.size(), 1u);
  EXPECT_EQ(rule.when[0].key, "request.headers[x-tenant]");
  EXPECT_EQ(rule.when[0].values, (std::vector<std::string>{"acme"}));
  // An empty rule matches everything.
  EXPECT_TRUE(p.rules[1].from.empty());
  EXPECT_TRUE(p.rules[1].to.empty());
  EXPECT_TRUE(p.rules[1].when.empty());

  const auto& deny = loaded.config.authorization_policies[1];
  EXPECT_EQ(deny.action, AuthzAction::kDeny);
  EXPECT_FALSE(deny.selector);
  ASSERT_EQ(deny.rules.size(), 1u);
  EXPECT_EQ(deny.rules[0].from.at(0).not_principals, (std::vector<std::string>{"*"}));
}

TEST(LinkerdServerTest, Fields) {
  const Loaded loaded = load(kServer +
                             "  port: 8080\n  proxyProtocol: HTTP/2\n"
                             "---\n"
                             "apiVersion: policy.linkerd.io/v1beta1\nkind: Server\n"
                             "metadata: {name: admin}\n"
                             "spec: {podSelector: {matchLabels: {}}, port: linkerd-admin}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.linkerd_servers.size(), 2u);
  const auto& s = loaded.config.linkerd_servers[0];
  EXPECT_EQ(s.pod_selector, (Labels{{"app", "ledger"}}));
  EXPECT_EQ(s.port, 8080u);
  EXPECT_EQ(s.port_name, "");
  EXPECT_EQ(s.proxy_protocol, "HTTP/2");
  const auto& admin = loaded.config.linkerd_servers[1];
  EXPECT_TRUE(admin.pod_selector.empty());
  EXPECT_FALSE(admin.port);
  EXPECT_EQ(admin.port_name, "linkerd-admin");
  EXPECT_EQ(admin.proxy_protocol, "unknown");
}

TEST(LinkerdServerTest, KeepsMetadataLabels) {
  const Loaded loaded =
      load("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\n"
           "metadata: {name: s, namespace: shop, labels: {auth: legacy}}\n"
           "spec: {podSelector: {matchLabels: {app: cart}}, port: 8080}\n");
  ASSERT_EQ(loaded.config.linkerd_servers.size(), 1u) << lines(loaded.findings);
  EXPECT_EQ(loaded.config.linkerd_servers[0].labels, (Labels{{"auth", "legacy"}}));
}

TEST(LinkerdAuthorizationTest, ServerAuthorizationFields) {
  const Loaded loaded = load(kServerAuthz +
                             "  server: {selector: {matchLabels: {auth: legacy}}}\n"
                             "  client:\n"
                             "    networks: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]\n"
                             "    meshTLS:\n"
                             "      identities:\n"
                             "        - \"*\"\n"
                             "        - web.shop.serviceaccount.identity.linkerd.cluster.local\n"
                             "        - \"*.shop.serviceaccount.identity.linkerd.cluster.local\"\n"
                             "        - \"*.serviceaccount.identity.linkerd.example.org\"\n"
                             "        - spiffe://example.org/ns/shop/sa/web\n"
                             "        - spiffe://example.org/vm/42\n"
                             "      serviceAccounts: [{name: ops, namespace: monitoring}, "
                             "{name: batch}]\n"
                             "---\n" +
                             "apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\n"
                             "metadata: {name: plain}\n"
                             "spec: {server: {name: s}, client: {unauthenticated: true}}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.linkerd_server_authorizations.size(), 2u);
  const auto& saz = loaded.config.linkerd_server_authorizations[0];
  EXPECT_EQ(saz.server_name, "");
  EXPECT_EQ(saz.server_selector, (Labels{{"auth", "legacy"}}));
  EXPECT_FALSE(saz.unauthenticated);
  EXPECT_FALSE(saz.unauthenticated_tls);
  ASSERT_EQ(saz.networks.size(), 1u);
  EXPECT_EQ(saz.networks[0].cidr.text, "10.0.0.0/8");
  ASSERT_EQ(saz.networks[0].except.size(), 1u);
  EXPECT_EQ(saz.networks[0].except[0].prefix, 16u);
  using Kind = LinkerdIdentity::Kind;
  struct Want {
    Kind kind;
    std::string td, ns, sa;
  };
  const std::vector<Want> want = {
      {Kind::kAny, "", "", ""},
      {Kind::kServiceAccount, "cluster.local", "shop", "web"},
      {Kind::kNamespace, "cluster.local", "shop", ""},
      {Kind::kTrustDomain, "example.org", "", ""},
      {Kind::kServiceAccount, "example.org", "shop", "web"},
      {Kind::kSpiffeId, "example.org", "", ""},
      {Kind::kServiceAccount, "", "monitoring", "ops"},
      {Kind::kServiceAccount, "", "payments", "batch"},  // the authorization's namespace
  };
  ASSERT_EQ(saz.identities.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& id = saz.identities[i];
    EXPECT_EQ(id.kind, want[i].kind) << i;
    EXPECT_EQ(id.trust_domain, want[i].td) << i;
    EXPECT_EQ(id.namespace_name, want[i].ns) << i;
    EXPECT_EQ(id.service_account, want[i].sa) << i;
  }
  const auto& plain = loaded.config.linkerd_server_authorizations[1];
  EXPECT_EQ(plain.server_name, "s");
  EXPECT_FALSE(plain.server_selector);
  EXPECT_TRUE(plain.unauthenticated);
  EXPECT_EQ(plain.meta.namespace_name, "default");
}

TEST(LinkerdAuthorizationTest, PolicyAndAuthenticationFields) {
  const Loaded loaded =
      load(kLinkerdAuthz + kTargetServer +
           "  requiredAuthenticationRefs:\n"
           "    - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: web}\n"
           "    - {group: Policy.Linkerd.IO, kind: networkauthentication, name: office, "
           "namespace: infra}\n"
           "---\n" +
           kMeshTlsAuthn +
           "  identityRefs:\n"
           "    - {kind: ServiceAccount, name: web}\n"
           "    - {kind: ServiceAccount, name: ops, namespace: monitoring}\n"
           "    - {kind: Namespace, name: frontend}\n"
           "---\n" +
           kNetworkAuthn +
           "  networks: [{cidr: 10.0.0.0/8}, {cidr: \"fd00::/8\"}, {cidr: 1.2.3.4}]\n"
           "---\n"
           "apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\n"
           "metadata: {name: ns-wide, namespace: payments}\n"
           "spec:\n  targetRef: {kind: Namespace, name: payments}\n"
           "  requiredAuthenticationRefs: [{kind: ServiceAccount, name: web}]\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.linkerd_authorization_policies.size(), 2u);
  const auto& ap = loaded.config.linkerd_authorization_policies[0];
  EXPECT_EQ(ap.target_kind, LinkerdTargetKind::kServer);
  EXPECT_EQ(ap.target_name, "ledger-http");
  ASSERT_EQ(ap.required_authentication_refs.size(), 2u);
  EXPECT_EQ(ap.required_authentication_refs[0].kind, LinkerdAuthenticationKind::kMeshTls);
  EXPECT_EQ(ap.required_authentication_refs[0].namespace_name, "payments");
  EXPECT_EQ(ap.required_authentication_refs[1].kind, LinkerdAuthenticationKind::kNetwork);
  EXPECT_EQ(ap.required_authentication_refs[1].namespace_name, "infra");
  const auto& ns_wide = loaded.config.linkerd_authorization_policies[1];
  EXPECT_EQ(ns_wide.target_kind, LinkerdTargetKind::kNamespace);
  EXPECT_EQ(ns_wide.required_authentication_refs.at(0).kind,
            LinkerdAuthenticationKind::kServiceAccount);

  ASSERT_EQ(loaded.config.meshtls_authentications.size(), 1u);
  const auto& ids = loaded.config.meshtls_authentications[0].identities;
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].kind, LinkerdIdentity::Kind::kServiceAccount);
  EXPECT_EQ(ids[0].namespace_name, "payments");
  EXPECT_EQ(ids[0].service_account, "web");
  EXPECT_EQ(ids[1].namespace_name, "monitoring");
  EXPECT_EQ(ids[2].kind, LinkerdIdentity::Kind::kNamespace);
  EXPECT_EQ(ids[2].namespace_name, "frontend");

  ASSERT_EQ(loaded.config.network_authentications.size(), 1u);
  const auto& nets = loaded.config.network_authentications[0].networks;
  ASSERT_EQ(nets.size(), 3u);
  EXPECT_TRUE(nets[1].cidr.address.v6);
  EXPECT_EQ(nets[2].cidr.prefix, 32u);  // one address
}

// Istio's and Linkerd's AuthorizationPolicy share a name, not a group: both are read, each by
// its own rules, and one of each with the same namespace and name is no duplicate.
TEST(LinkerdAuthorizationTest, IstioAndLinkerdAuthorizationPolicies) {
  const Loaded loaded = load(kAuthz + "  rules: [{}]\n---\n" + kLinkerdAuthz + kTargetServer +
                             "  requiredAuthenticationRefs: []\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  EXPECT_EQ(loaded.config.authorization_policies.size(), 1u);
  EXPECT_EQ(loaded.config.linkerd_authorization_policies.size(), 1u);

  const Loaded bare = load("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\n"
                           "metadata: {name: a}\n");
  EXPECT_EQ(bare.findings,
            (std::vector<std::string>{"mesh.yaml:1: spec: required field is missing"}))
      << lines(bare.findings);
  EXPECT_EQ(bare.kept(), 0u);
}

TEST(IpNetworkTest, ParseAndContains) {
  struct Case {
    std::string text;
    bool valid;
  } cases[] = {
      {"10.0.0.0/8", true},   {"10.1.2.3", true},   {"0.0.0.0/0", true}, {"::/0", true},
      {"fd00::/8", true},     {"10.1.2.3/8", true},  // host bits are ignored
      {"10.0.0.0/33", false}, {"fd00::/129", false}, {"10.0.0.0/", false}, {"10.0.0/8", false},
      {"[::1]/128", false},   {"10.0.0.0/8 ", false}, {"", false},         {"/8", false},
  };
  for (const auto& c : cases) EXPECT_EQ(IpNetwork::parse(c.text).has_value(), c.valid) << c.text;

  const auto net = *IpNetwork::parse("10.1.2.3/12");
  EXPECT_EQ(net.address.str(), "10.0.0.0");
  EXPECT_TRUE(net.contains(*IpAddress::parse("10.15.255.255")));
  EXPECT_FALSE(net.contains(*IpAddress::parse("10.16.0.0")));
  EXPECT_FALSE(net.contains(*IpAddress::parse("::ffff:10.1.1.1")));  // families never mix
  EXPECT_TRUE(net.contains(*IpNetwork::parse("10.8.0.0/13")));
  EXPECT_FALSE(net.contains(*IpNetwork::parse("10.0.0.0/8")));
  const auto v6 = *IpNetwork::parse("fd00::/8");
  EXPECT_TRUE(v6.contains(*IpAddress::parse("fdff::1")));
  EXPECT_FALSE(v6.contains(*IpAddress::parse("fe00::1")));
  EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains(*IpAddress::parse("255.1.2.3")));
  EXPECT_TRUE(IpNetwork::parse("::1")->contains(*IpAddress::parse("::1")));
}

// Shaped like `kubectl get -o yaml`: many fields mutual does not read.
constexpr char kInventory[] =
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata:\n"
    "  name: ledger\n"
    "  namespace: payments\n"
    "  resourceVersion: \"123\"\n"
    "  uid: 0b8e\n"
    "spec:\n"
    "  clusterIP: 10.96.0.12\n"
    "  clusterIPs: [10.96.0.12]\n"
    "  internalTrafficPolicy: Cluster\n"
    "  selector: {app: ledger}\n"
    "  ports:\n"
    "  - {name: http-api, port: 80, targetPort: 8080, protocol: TCP}\n"
    "  - {name: grpc, port: 9000, targetPort: grpc-port, appProtocol: kubernetes.io/h2c}\n"
    "  - {name: metrics, port: 9090}\n"
    "  - {name: grpc-web-ui, port: 9100}\n"
    "  type: ClusterIP\n"
    "status: {loadBalancer: {}}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: bank}\n"
    "spec: {type: ExternalName, externalName: bank.example.com}\n"
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: ledger\n"
    "  namespace: payments\n"
    "  annotations: {deployment.kubernetes.io/revision: \"3\"}\n"
    "  generation: 3\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector: {matchLabels: {app: ledger}}\n"
    "  strategy: {type: RollingUpdate}\n"
    "  template:\n"
    "    metadata:\n"
    "      creationTimestamp: null\n"
    "      labels: {app: ledger, version: v1}\n"
    "      annotations:\n"
    "        config.linkerd.io/skip-inbound-ports: \"4190, 9000-9002\"\n"
    "        config.linkerd.io/skip-outbound-ports: \"3306\"\n"
    "    spec:\n"
    "      serviceAccountName: ledger-sa\n"
    "      dnsPolicy: ClusterFirst\n"
    "      containers:\n"
    "      - name: app\n"
    "        image: ledger:1.2\n"
    "        ports:\n"
    "        - {name: http, containerPort: 8080, protocol: TCP}\n"
    "        - {name: grpc-port, containerPort: 9000}\n"
    "        resources: {limits: {cpu: 500m}}\n"
    "      - name: metrics\n"
    "        image: exporter\n"
    "        ports: [{containerPort: 9090}]\n"
    "status: {availableReplicas: 2}\n"
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: StatefulSet\n"
    "metadata:\n"
    "  name: legacy-db\n"
    "  namespace: payments\n"
    "  annotations: {sidecar.istio.io/inject: \"false\"}\n"
    "spec:\n"
    "  template:\n"
    "    metadata: {labels: {app: db}}\n"
    "    spec: {containers: [{name: db, ports: [{containerPort: 5432}]}]}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: debug\n"
    "  labels: {run: debug, sidecar.istio.io/inject: \"false\"}\n"
    "  annotations: {sidecar.istio.io/inject: \"true\"}\n"
    "spec:\n"
    "  containers: [{name: sh, image: busybox}]\n"
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: DaemonSet\n"
    "metadata: {name: agent, namespace: kube-system}\n"
    "spec:\n"
    "  template:\n"
    "    metadata:\n"
    "      labels: {app: agent}\n"
    "      annotations: {sidecar.istio.io/inject: \"FALSE\"}\n"
    "    spec: {serviceAccount: agent, containers: []}\n";

TEST(InventoryTest, SkipPortRangesAreExpanded) {
  const Loaded loaded = load(std::string(kDeployment) +
                             "      annotations:\n"
                             "        config.linkerd.io/skip-outbound-ports: \"1-65535,80\"\n");
  ASSERT_EQ(loaded.config.workloads.size(), 1u);
  const auto& ports = loaded.config.workloads[0].linkerd_skip_outbound_ports;
  ASSERT_EQ(ports.size(), 65535u);  // 80 listed once
  EXPECT_EQ(ports.front(), 1u);
  EXPECT_EQ(ports.back(), 65535u);
}

TEST(InventoryTest, ServicesAndWorkloads) {
  const Loaded loaded = load(kInventory);
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.services.size(), 2u);
  const Service& svc = loaded.config.services[0];
  EXPECT_EQ(svc.meta.namespace_name, "payments");
  EXPECT_EQ(svc.selector, (Labels{{"app", "ledger"}}));
  EXPECT_FALSE(svc.external);
  ASSERT_EQ(svc.ports.size(), 4u);
  EXPECT_EQ(svc.ports[0].name, "http-api");
  EXPECT_EQ(svc.ports[0].port, 80u);
  EXPECT_EQ(svc.ports[0].target_port, 8080u);
  EXPECT_EQ(svc.ports[0].app_protocol, "http");  // from the name's prefix
  EXPECT_EQ(svc.ports[1].target_port, 0u);
  EXPECT_EQ(svc.ports[1].target_port_name, "grpc-port");
  EXPECT_EQ(svc.ports[1].app_protocol, "kubernetes.io/h2c");  // appProtocol as written
  EXPECT_EQ(svc.ports[2].target_port, 9090u);                 // defaults to port
  EXPECT_EQ(svc.ports[2].app_protocol, "");
  EXPECT_EQ(svc.ports[3].app_protocol, "grpc-web");
  const Service& bank = loaded.config.services[1];
  EXPECT_TRUE(bank.external);
  EXPECT_FALSE(bank.selector);
  EXPECT_EQ(bank.meta.namespace_name, "default");

  ASSERT_EQ(loaded.config.workloads.size(), 4u);
  const Workload& d = loaded.config.workloads[0];
  EXPECT_EQ(d.kind, "Deployment");
  EXPECT_EQ(d.labels, (Labels{{"app", "ledger"}, {"version", "v1"}}));
  EXPECT_EQ(d.service_account, "ledger-sa");
  EXPECT_TRUE(d.sidecar);
  ASSERT_EQ(d.ports.size(), 3u);
  EXPECT_EQ(d.ports[0].name, "http");
  EXPECT_EQ(d.ports[0].port, 8080u);
  EXPECT_EQ(d.ports[2].name, "");
  EXPECT_EQ(d.ports[2].port, 9090u);
  EXPECT_EQ(d.linkerd_skip_inbound_ports, (std::vector<uint32_t>{4190, 9000, 9001, 9002}));
  EXPECT_EQ(d.linkerd_skip_outbound_ports, (std::vector<uint32_t>{3306}));

  const Workload& db = loaded.config.workloads[1];
  EXPECT_EQ(db.kind, "StatefulSet");
  EXPECT_FALSE(db.sidecar);  // the annotation on the workload's own metadata
  EXPECT_EQ(db.service_account, "default");

  const Workload& pod = loaded.config.workloads[2];
  EXPECT_EQ(pod.kind, "Pod");
  EXPECT_FALSE(pod.sidecar);  // the label wins over the annotation, as in Istio's injector
  EXPECT_EQ(pod.meta.namespace_name, "default");

  const Workload& agent = loaded.config.workloads[3];
  EXPECT_FALSE(agent.sidecar);                // any value but y/yes/true/on opts out
  EXPECT_EQ(agent.service_account, "agent");  // the deprecated serviceAccount field
}

TEST(MeshSettingsTest, FromIstioConfigMap) {
  const Loaded loaded = load(
      "apiVersion: v1\n"
      "kind: ConfigMap\n"
      "metadata: {name: istio, namespace: istio-system}\n"
      "data:\n"
      "  mesh: |-\n"
      "    accessLogFile: /dev/stdout\n"
      "    defaultConfig:\n"
      "      discoveryAddress: istiod.istio-system.svc:15012\n"
      "    enableAutoMtls: false\n"
      "    rootNamespace: mesh-root\n"
      "    trustDomain: example.org\n"
      "  meshNetworks: 'networks: {}'\n"
      "---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-ca-root-cert}\n"
      "data: {root-cert.pem: x}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_TRUE(loaded.config.settings);
  EXPECT_EQ(loaded.config.settings->root_namespace, "mesh-root");
  EXPECT_EQ(loaded.config.settings->trust_domain, "example.org");
  EXPECT_FALSE(loaded.config.settings->auto_mtls);
  EXPECT_EQ(loaded.config.settings->domain_suffix, "cluster.local");
}

TEST(MeshSettingsTest, FromMeshSettingsAndDefaults) {
  Loaded loaded = load(
      "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: mesh}\n"
      "spec: {trustDomain: example.org, domainSuffix: corp.local, autoMtls: false}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_TRUE(loaded.config.settings);
  EXPECT_EQ(loaded.config.settings->root_namespace, "istio-system");
  EXPECT_EQ(loaded.config.settings->trust_domain, "example.org");
  EXPECT_EQ(loaded.config.settings->domain_suffix, "corp.local");
  EXPECT_FALSE(loaded.config.settings->auto_mtls);

  loaded = load("apiVersion: v1\nkind: Namespace\nmetadata: {name: payments}\n");
  EXPECT_FALSE(loaded.config.settings);  // none in the input: the caller uses the defaults
}

// Linkerd's cluster settings as `kubectl get configmap linkerd-config -o yaml` shows them.
TEST(LinkerdSettingsTest, FromLinkerdConfigMap) {
  const Loaded loaded = load(
      "apiVersion: v1\n"
      "kind: ConfigMap\n"
      "metadata:\n"
      "  name: linkerd-config\n"
      "  namespace: linkerd\n"
      "  labels: {linkerd.io/control-plane-component: controller}\n"
      "data:\n"
      "  linkerd-crds-chart-version: linkerd-crds-1.0.0-edge\n"
      "  values: |\n"
      "    clusterDomain: cluster.local\n"
      "    clusterNetworks: 10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8\n"
      "    controllerReplicas: 1\n"
      "    identityTrustDomain: cluster.local\n"
      "    policyController:\n"
      "      defaultAllowPolicy: all-unauthenticated\n"
      "    proxy:\n"
      "      defaultInboundPolicy: cluster-authenticated\n"
      "      logLevel: warn,linkerd=info\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_TRUE(loaded.config.linkerd);
  EXPECT_FALSE(loaded.config.settings);  // Istio's settings are untouched
  EXPECT_EQ(loaded.config.linkerd->default_inbound_policy,
            LinkerdDefaultPolicy::kClusterAuthenticated);
  std::vector<std::string> networks;
  for (const auto& n : loaded.config.linkerd->cluster_networks) networks.push_back(n.text);
  EXPECT_EQ(networks, (std::vector<std::string>{"10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12",
                                                "192.168.0.0/16", "fd00::/8"}));
  EXPECT_EQ(loaded.config.linkerd->location.line, 1);

  // Absent values keep Linkerd's defaults; the istio ConfigMap may sit beside it.
  const Loaded sparse = load(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: linkerd-config}\n"
      "data: {values: 'clusterNetworks: \"127.0.0.0/8\"'}\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata: {mesh: ''}\n");
  ASSERT_TRUE(sparse.findings.empty()) << lines(sparse.findings);
  ASSERT_TRUE(sparse.config.linkerd);
  EXPECT_TRUE(sparse.config.settings);
  EXPECT_EQ(sparse.config.linkerd->default_inbound_policy,
            LinkerdDefaultPolicy::kAllUnauthenticated);
  ASSERT_EQ(sparse.config.linkerd->cluster_networks.size(), 1u);
  EXPECT_TRUE(sparse.config.linkerd->cluster_networks[0].contains(*IpAddress::parse("127.0.0.1")));
}

TEST(LinkerdSettingsTest, FromMeshSettings) {
  const Loaded loaded = load(
      "apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: mesh}\n"
      "spec:\n  trustDomain: example.org\n"
      "  linkerd: {defaultInboundPolicy: audit, clusterNetworks: [10.0.0.0/8, \"fd00::/8\"]}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_TRUE(loaded.config.settings);
  ASSERT_TRUE(loaded.config.linkerd);
  EXPECT_EQ(loaded.config.linkerd->default_inbound_policy, LinkerdDefaultPolicy::kAudit);
  ASSERT_EQ(loaded.config.linkerd->cluster_networks.size(), 2u);
  EXPECT_EQ(loaded.config.linkerd->cluster_networks[1].text, "fd00::/8");

  // Without the block, nothing is said about Linkerd (its defaults apply).
  EXPECT_FALSE(load("apiVersion: mutual.dev/v1alpha1\nkind: MeshSettings\nmetadata: {name: m}\n"
                    "spec: {}\n")
                   .config.linkerd);
  EXPECT_EQ(LinkerdSettings{}.cluster_networks.size(), 5u);
  EXPECT_EQ(LinkerdSettings{}.default_inbound_policy, LinkerdDefaultPolicy::kAllUnauthenticated);
}

TEST(LinkerdSettingsTest, DefaultInboundPolicyAnnotations) {
  const Loaded loaded = load(
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n"
      "    config.linkerd.io/default-inbound-policy: deny\n    owner: team-a\n---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\n"
      "apiVersion: apps/v1\nkind: Deployment\n"
      "metadata:\n  name: cart\n  namespace: shop\n"
      "  annotations: {config.linkerd.io/default-inbound-policy: deny}\n"
      "spec:\n  template:\n    metadata:\n      labels: {app: cart}\n"
      "      annotations: {config.linkerd.io/default-inbound-policy: all-authenticated}\n---\n"
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: job\n  namespace: shop\n"
      "  annotations: {config.linkerd.io/default-inbound-policy: audit}\n---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {name: plain, namespace: shop}\n---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
  EXPECT_EQ(loaded.findings,
            (std::vector<std::string>{"mesh.yaml:38: metadata.name: Namespace shop is defined "
                                      "twice (also at mesh.yaml:1)"}));
  ASSERT_EQ(loaded.config.namespaces.size(), 2u);
  EXPECT_EQ(loaded.config.namespaces[0].name, "shop");
  EXPECT_EQ(loaded.config.namespaces[0].linkerd_default_inbound_policy,
            LinkerdDefaultPolicy::kDeny);
  EXPECT_FALSE(loaded.config.namespaces[1].linkerd_default_inbound_policy);
  ASSERT_EQ(loaded.config.workloads.size(), 3u);
  // The pod template's annotation is the pod's: it wins over the Deployment's own.
  EXPECT_EQ(loaded.config.workloads[0].linkerd_default_inbound_policy,
            LinkerdDefaultPolicy::kAllAuthenticated);
  EXPECT_EQ(loaded.config.workloads[1].linkerd_default_inbound_policy,
            LinkerdDefaultPolicy::kAudit);
  EXPECT_FALSE(loaded.config.workloads[2].linkerd_default_inbound_policy);
}

TEST(LinkerdServerTest, AccessPolicy) {
  const Loaded loaded =
      load(kServer +
           "  port: 8080\n  accessPolicy: cluster-unauthenticated\n---\n"
           "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: s}\n"
           "spec: {podSelector: {matchLabels: {}}, port: 8081}\n");
  ASSERT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  ASSERT_EQ(loaded.config.linkerd_servers.size(), 2u);
  EXPECT_EQ(loaded.config.linkerd_servers[0].access_policy,
            LinkerdDefaultPolicy::kClusterUnauthenticated);
  EXPECT_EQ(loaded.config.linkerd_servers[1].access_policy, LinkerdDefaultPolicy::kDeny);
}

TEST(MeshConfigTest, SkipsOtherKindsSilently) {
  const Loaded loaded = load(
      "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\n"
      "spec: {whatever: 1}\n---\n"
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mesh: 12}\n---\n"
      "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\n"
      "spec: {hosts: [a]}\n---\n"
      "apiVersion: policy.linkerd.io/v1beta3\nkind: HTTPRoute\n"
      "metadata: {name: a}\n---\n"
      "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\n---\n"
      "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata: {name: r}\n");
  EXPECT_TRUE(loaded.findings.empty()) << lines(loaded.findings);
  EXPECT_EQ(loaded.kept(), 0u);
}

// Every finding of every document is reported, not only the first; valid documents are kept.
TEST(MeshConfigTest, CollectsEveryFinding) {
  const Loaded loaded = load(
      "apiVersion: security.istio.io/v1\n"  // 1
      "kind: PeerAuthentication\n"
      "metadata: {name: bad, namespace: payments}\n"
      "spec:\n"
      "  mtls: {mode: strict}\n"  // 5
      "  portLevelMtls:\n"        // 6
      "    0: {mode: DISABLE}\n"  // 7
      "---\n"
      "apiVersion: security.istio.io/v1\n"  // 9
      "kind: PeerAuthentication\n"
      "metadata: {name: good, namespace: payments}\n"
      "spec: {mtls: {mode: STRICT}}\n"
      "---\n"
      "apiVersion: networking.istio.io/v1\n"  // 14
      "kind: DestinationRule\n"
      "metadata: {name: bad}\n"
      "spec:\n"
      "  host: a.b.svc.cluster.local\n"
      "  trafficPolicy: {tls: {mode: MUTUAL}}\n"  // 19
      "  exportTo: ['~']\n");                     // 20
  EXPECT_EQ(loaded.findings,
            (std::vector<std::string>{
                "mesh.yaml:5: spec.mtls.mode: unknown value \"strict\" (did you mean "
                "\"STRICT\"?); allowed: UNSET, DISABLE, PERMISSIVE, STRICT",
                "mesh.yaml:6: spec.portLevelMtls: mesh/namespace peer authentication cannot have "
                "port level mTLS",
                "mesh.yaml:7: spec.portLevelMtls[0]: port must be in range 1..65535, got 0",
                "mesh.yaml:19: spec.trafficPolicy.tls.clientCertificate: clientCertificate is "
                "required for mode MUTUAL (or set credentialName)",
                "mesh.yaml:19: spec.trafficPolicy.tls.privateKey: privateKey is required for mode "
                "MUTUAL (or set credentialName)",
                "mesh.yaml:20: spec.exportTo[0]: exportTo ~ (none) is not allowed for Istio "
                "configuration objects"}))
      << lines(loaded.findings);
  ASSERT_EQ(loaded.config.peer_authentications.size(), 1u);
  EXPECT_EQ(loaded.config.peer_authentications[0].meta.name, "good");
  EXPECT_TRUE(loaded.config.destination_rules.empty());
}

TEST(FindingTest, Str) {
  Finding error{Finding::Severity::kError,
                {"mesh.yaml", 12},
                "spec.portLevelMtls[8080]",
                "port must be in range 1..65535"};
  EXPECT_EQ(error.str(), "mesh.yaml:12: spec.portLevelMtls[8080]: port must be in range 1..65535");
  Finding warning{Finding::Severity::kWarning, {"mesh.yaml", 0}, "", "ignored"};
  EXPECT_EQ(warning.str(), "warning: mesh.yaml: ignored");
}

}  // namespace
}  // namespace mutual::config

namespace mutual::config {
namespace {

// The shared conformance examples (../shared/conformance/crds/examples), when present: what
// validate_crd.py accepts must parse without findings, what it rejects must be reported.
std::filesystem::path examplesDir() {
  const char* shared = std::getenv("MUTUAL_SHARED_DIR");
  return std::filesystem::path(shared ? shared : "../shared") / "conformance" / "crds" / "examples";
}

TEST(MeshConformanceTest, ValidExamples) {
  const auto file = examplesDir() / "valid.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "no " << file << " (set MUTUAL_SHARED_DIR)";
  auto manifests = loadManifests({file});
  ASSERT_TRUE(manifests) << manifests.error().message;
  const MeshConfig config = parseMeshManifests(*manifests);
  for (const auto& f : config.findings) ADD_FAILURE() << f.str();
  EXPECT_EQ(config.peer_authentications.size(), 2u);
  EXPECT_EQ(config.destination_rules.size(), 2u);
  EXPECT_EQ(config.authorization_policies.size(), 1u);
  ASSERT_EQ(config.peer_authentications.size(), 2u);
  EXPECT_EQ(config.peer_authentications[1].port_level.at(8080), MtlsMode::kPermissive);
}

TEST(MeshConformanceTest, InvalidExamples) {
  const auto file = examplesDir() / "invalid.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "no " << file << " (set MUTUAL_SHARED_DIR)";
  auto manifests = loadManifests({file});
  ASSERT_TRUE(manifests) << manifests.error().message;
  const MeshConfig config = parseMeshManifests(*manifests);
  // The Istio documents (the cert-manager ones are another parser's): each is one error.
  size_t istio = 0;
  for (const auto& m : *manifests) istio += m.group().ends_with(".istio.io") ? 1 : 0;
  EXPECT_EQ(istio, 6u);
  EXPECT_EQ(config.findings.size(), istio);
  for (const auto& f : config.findings) {
    EXPECT_EQ(f.severity, Finding::Severity::kError);
    EXPECT_EQ(f.location.file, file.string());
    std::cout << "  " << f.str() << "\n";
  }
  EXPECT_TRUE(config.peer_authentications.empty());
  EXPECT_TRUE(config.destination_rules.empty());
  EXPECT_TRUE(config.authorization_policies.empty());
}

TEST(MeshConformanceTest, UnknownFieldIsAnError) {
  const auto file = examplesDir() / "unknown_field.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "no " << file << " (set MUTUAL_SHARED_DIR)";
  auto manifests = loadManifests({file});
  ASSERT_TRUE(manifests) << manifests.error().message;
  const MeshConfig config = parseMeshManifests(*manifests);
  ASSERT_EQ(config.findings.size(), 1u);
  EXPECT_EQ(config.findings[0].field, "spec.mtl");
  EXPECT_EQ(config.findings[0].message, "unknown field (did you mean \"mtls\"?)");
  EXPECT_TRUE(config.peer_authentications.empty());
}

}  // namespace
}  // namespace mutual::config
