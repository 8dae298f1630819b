#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/manifest.h"

// The mesh's policy and inventory manifests, typed: Istio's PeerAuthentication,
// DestinationRule and AuthorizationPolicy, Linkerd's Server, ServerAuthorization,
// AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication, skip-port and
// default-inbound-policy annotations and cluster settings (linkerd-config), and the Kubernetes
// Service / Deployment / Pod / Namespace inventory. Parsed strictly by `parseMeshManifests`;
// evaluated by the `policy` module. Semantics: ../shared/reference/istio-mtls.md.
namespace mutual::config {

using Labels = std::map<std::string, std::string>;

// The identity and ordering every policy carries.
struct PolicyMeta {
  std::string name;
  std::string namespace_name;      // "default" when unset
  std::string creation_timestamp;  // RFC 3339 as written, "" when absent (sorts first)
  Location location;
};

// ---- PeerAuthentication (security.istio.io/v1, v1beta1) ------------------------------------

enum class MtlsMode { kUnset, kDisable, kPermissive, kStrict };

struct PeerAuthentication {
  PolicyMeta meta;
  std::optional<Labels> selector;  // nullopt or empty: namespace- or mesh-wide
  MtlsMode mode = MtlsMode::kUnset;  // absent `mtls` is UNSET
  std::map<uint32_t, MtlsMode> port_level;  // workload (target) ports
};

// ---- DestinationRule (networking.istio.io/v1, v1beta1, v1alpha3) ---------------------------

enum class ClientTlsMode { kDisable, kSimple, kMutual, kIstioMutual };

// ClientTLSSettings. A `tls` block without `mode` is DISABLE (the proto default).
struct ClientTls {
  ClientTlsMode mode = ClientTlsMode::kDisable;
  std::string client_certificate;
  std::string private_key;
  std::string ca_certificates;
  std::string credential_name;
  std::vector<std::string> subject_alt_names;
  std::string sni;
  bool insecure_skip_verify = false;
  std::string ca_crl;  // caCrl: a CRL file for the server certificate
};

struct TrafficPolicy {
  std::optional<ClientTls> tls;  // nullopt: not set (auto-mTLS may apply)
  // portLevelSettings: service port -> that port's TLS (nullopt when the entry has no tls; the
  // entry still replaces the top-level policy for that port).
  std::map<uint32_t, std::optional<ClientTls>> port_level;
};

struct Subset {
  std::string name;
  Labels labels;
  std::optional<TrafficPolicy> traffic_policy;
};

struct DestinationRule {
  PolicyMeta meta;
  std::string host;  // as written
  std::optional<TrafficPolicy> traffic_policy;
  std::vector<Subset> subsets;
  std::vector<std::string> export_to;  // empty: the mesh default ("*")
  std::optional<Labels> workload_selector;
};

// ---- AuthorizationPolicy (security.istio.io/v1, v1beta1) -----------------------------------

// An IPv4 or IPv6 address, as bytes (IPv4 in the first 4).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};

  // "10.1.2.3", "fd00::1" (no brackets, no zone); nullopt otherwise.
  static std::optional<IpAddress> parse(std::string_view text);
  std::string str() const;
  bool operator==(const IpAddress&) const = default;
};

// An IP network in CIDR notation, as Linkerd's `networks[].cidr` and `except` take it.
struct IpNetwork {
  IpAddress address;    // host bits cleared
  uint32_t prefix = 0;  // 0..32 for IPv4, 0..128 for IPv6
  std::string text;     // as written

  // "10.0.0.0/8", "fd00::/8", or one address ("10.1.2.3" is 10.1.2.3/32), as Linkerd's Cidr
  // reads them; host bits set below the prefix are ignored. nullopt when invalid.
  static std::optional<IpNetwork> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;  // false across address families
  bool contains(const IpNetwork& other) const;
};

enum class AuthzAction { kAllow, kDeny, kAudit, kCustom };

// A connection carries no HTTP request: fields that only an HTTP request (or its JWT) can
// satisfy are "HTTP-only", and Istio's TCP rule applies to them: an ALLOW source, operation or
// condition with one never matches; a DENY one ignores it (both the restrictive choice).
struct AuthzSource {
  std::vector<std::string> principals;
  std::vector<std::string> not_principals;
  std::vector<std::string> namespaces;
  std::vector<std::string> not_namespaces;
  std::vector<std::string> trust_domains;  // of the peer's SPIFFE ID
  std::vector<std::string> not_trust_domains;
  // ipBlocks and remoteIpBlocks: both the peer's address for a TCP connection (no proxy
  // protocol, no X-Forwarded-For), but kept apart: a source naming both needs both to match.
  std::vector<IpNetwork> ip_blocks;
  std::vector<IpNetwork> not_ip_blocks;
  std::vector<IpNetwork> remote_ip_blocks;
  std::vector<IpNetwork> not_remote_ip_blocks;
  bool http_only = false;  // requestPrincipals / notRequestPrincipals (a request's JWT)
};

struct AuthzOperation {
  std::vector<std::string> ports;  // strings, as in the API
  std::vector<std::string> not_ports;
  bool http_only = false;  // hosts, methods or paths (and their negations)
};

// rules[].when[]: `key` holds if the connection's value is among `values` (when given) and
// among none of `notValues`.
struct AuthzCondition {
  std::string key;
  std::vector<std::string> values;
  std::vector<std::string> not_values;
};

struct AuthzRule {
  std::vector<AuthzSource> from;  // OR of sources; empty: any source
  std::vector<AuthzOperation> to;  // OR of operations; empty: any operation
  std::vector<AuthzCondition> when;  // AND of conditions
};

struct AuthorizationPolicy {
  PolicyMeta meta;
  std::optional<Labels> selector;
  AuthzAction action = AuthzAction::kAllow;
  std::string provider;          // CUSTOM: provider.name (an external authorizer)
  std::vector<AuthzRule> rules;  // absent `rules`: ALLOW matches nothing, DENY matches nothing
};

// ---- Linkerd (policy.linkerd.io; config.linkerd.io annotations) ----------------------------

// A default inbound policy (the annotation config.linkerd.io/default-inbound-policy, the
// cluster's proxy.defaultInboundPolicy) or a Server's accessPolicy: who may connect when no
// authorization says otherwise. kAudit (Linkerd 2.15+) admits like kAllUnauthenticated, but
// the decision records that the client would have been denied.
enum class LinkerdDefaultPolicy {
  kAllUnauthenticated,
  kAllAuthenticated,
  kClusterUnauthenticated,
  kClusterAuthenticated,
  kDeny,
  kAudit,
};
std::string_view linkerdDefaultPolicyName(LinkerdDefaultPolicy policy);  // "all-unauthenticated"
// The policy a value names exactly as Linkerd spells it; nullopt for anything else.
std::optional<LinkerdDefaultPolicy> parseLinkerdDefaultPolicy(std::string_view text);

inline constexpr std::string_view kLinkerdDefaultInboundPolicyAnnotation =
    "config.linkerd.io/default-inbound-policy";

struct LinkerdServer {
  PolicyMeta meta;
  Labels labels;                 // metadata.labels: ServerAuthorization selects Servers by them
  Labels pod_selector;           // podSelector.matchLabels
  std::optional<uint32_t> port;  // a number...
  std::string port_name;         // ...or a container port name
  std::string proxy_protocol;    // unknown, HTTP/1, HTTP/2, gRPC, opaque, TLS
  // accessPolicy (v1beta3): decides for clients no authorization of the Server admits.
  LinkerdDefaultPolicy access_policy = LinkerdDefaultPolicy::kDeny;
};

// networks[]: a client address must be in `cidr` and in none of `except`.
struct LinkerdNetwork {
  IpNetwork cidr;
  std::vector<IpNetwork> except;
};

// A client identity named by a Linkerd authorization, mapped onto SPIFFE IDs
// spiffe://<trust-domain>/ns/<ns>/sa/<sa>. Linkerd writes an identity as
// "<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>".
struct LinkerdIdentity {
  enum class Kind {
    kAny,             // "*": any authenticated client
    kServiceAccount,  // one service account: a Linkerd identity, serviceAccounts[],
                      // identityRefs ServiceAccount, or a spiffe://TD/ns/NS/sa/SA ID
    kNamespace,       // "*.<ns>.serviceaccount.identity.<cp>.<td>", identityRefs Namespace
    kTrustDomain,     // "*.serviceaccount.identity.<cp>.<td>"
    kSpiffeId,        // another SPIFFE ID, matched as written
    kNone,            // a name mutual cannot map to SPIFFE IDs (a warning): matches no client
  };
  Kind kind = Kind::kNone;
  std::string text;             // as written; "" for serviceAccounts and identityRefs
  std::string trust_domain;     // "" for serviceAccounts and identityRefs: the mesh's
  std::string namespace_name;   // kServiceAccount, kNamespace
  std::string service_account;  // kServiceAccount
};

// ServerAuthorization (policy.linkerd.io/v1beta1, v1alpha1): who may use the Servers it names.
struct LinkerdServerAuthorization {
  PolicyMeta meta;
  std::string server_name;                // spec.server.name, or...
  std::optional<Labels> server_selector;  // ...spec.server.selector.matchLabels ({}: every Server)
  bool unauthenticated = false;           // client.unauthenticated: any client
  bool unauthenticated_tls = false;       // client.meshTLS.unauthenticatedTLS: any mesh TLS client
  std::vector<LinkerdIdentity> identities;  // meshTLS.identities and serviceAccounts
  std::vector<LinkerdNetwork> networks;     // client.networks; empty: the cluster networks
};

enum class LinkerdTargetKind { kServer, kNamespace, kHttpRoute, kGrpcRoute };
enum class LinkerdAuthenticationKind { kMeshTls, kNetwork, kServiceAccount };

struct LinkerdAuthenticationRef {
  LinkerdAuthenticationKind kind = LinkerdAuthenticationKind::kMeshTls;
  std::string name;
  std::string namespace_name;  // the policy's when not written
};

// AuthorizationPolicy (policy.linkerd.io/v1alpha1; not Istio's, which shares the name).
struct LinkerdAuthorizationPolicy {
  PolicyMeta meta;
  LinkerdTargetKind target_kind = LinkerdTargetKind::kServer;
  std::string target_name;
  // ALL must pass; empty: every client is authorized.
  std::vector<LinkerdAuthenticationRef> required_authentication_refs;
};

// MeshTLSAuthentication (policy.linkerd.io/v1alpha1): identities or identityRefs, one non-empty.
struct MeshTlsAuthentication {
  PolicyMeta meta;
  std::vector<LinkerdIdentity> identities;
};

// NetworkAuthentication (policy.linkerd.io/v1alpha1).
struct NetworkAuthentication {
  PolicyMeta meta;
  std::vector<LinkerdNetwork> networks;  // at least one
};

// Linkerd's cluster-wide settings: from the `linkerd-config` ConfigMap (its data.values) or
// the `linkerd` block of a MeshSettings document.
struct LinkerdSettings {
  // proxy.defaultInboundPolicy: for ports no Server selects, unless the workload's or its
  // namespace's annotation says otherwise.
  LinkerdDefaultPolicy default_inbound_policy = LinkerdDefaultPolicy::kAllUnauthenticated;
  // clusterNetworks: the addresses the cluster-* policies (and a ServerAuthorization without
  // `networks`) admit. Linkerd's default: 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12,
  // 192.168.0.0/16, fd00::/8.
  std::vector<IpNetwork> cluster_networks = linkerdDefaultClusterNetworks();
  Location location;  // of the document that set them; empty for Linkerd's defaults

  static const std::vector<IpNetwork>& linkerdDefaultClusterNetworks();
};

// ---- Inventory (v1 Service; apps/v1 Deployment, StatefulSet, DaemonSet; v1 Pod; v1 Namespace)

struct ServicePort {
  std::string name;
  uint32_t port = 0;
  uint32_t target_port = 0;      // 0 when given by name
  std::string target_port_name;  // a named container port
  std::string app_protocol;      // appProtocol or the name's protocol prefix (http-, tcp-, ...)
};

struct Service {
  PolicyMeta meta;
  std::optional<Labels> selector;  // nullopt: no selector (external endpoints)
  std::vector<ServicePort> ports;
  bool external = false;  // type ExternalName
};

struct ContainerPort {
  std::string name;
  uint32_t port = 0;
};

// A workload: a Deployment, StatefulSet, DaemonSet or Pod, seen through its pod template.
struct Workload {
  PolicyMeta meta;
  std::string kind;  // "Deployment", "Pod", ...
  Labels labels;     // the pod (template) labels
  std::string service_account = "default";
  bool sidecar = true;  // false with sidecar.istio.io/inject: "false"
  std::vector<ContainerPort> ports;
  std::vector<uint32_t> linkerd_skip_inbound_ports;   // config.linkerd.io/skip-inbound-ports
  std::vector<uint32_t> linkerd_skip_outbound_ports;  // config.linkerd.io/skip-outbound-ports
  // config.linkerd.io/default-inbound-policy; nullopt: the namespace's, else the cluster's.
  std::optional<LinkerdDefaultPolicy> linkerd_default_inbound_policy;
};

// A Namespace (v1): only its annotations matter to mutual.
struct Namespace {
  std::string name;
  Location location;
  // config.linkerd.io/default-inbound-policy: for its workloads that do not set their own.
  std::optional<LinkerdDefaultPolicy> linkerd_default_inbound_policy;
};

// ---- Mesh settings --------------------------------------------------------------------------

struct MeshSettings {
  std::string root_namespace = "istio-system";
  std::string trust_domain = "cluster.local";
  std::string domain_suffix = "cluster.local";  // <svc>.<ns>.svc.<suffix>
  bool auto_mtls = true;
};

// A finding of validation: a warning (ignored, as Istio ignores it) or an error (rejected).
struct Finding {
  enum class Severity { kWarning, kError } severity = Severity::kError;
  Location location;
  std::string field;    // "spec.portLevelMtls[8080]"
  std::string message;

  std::string str() const;  // "file:line: field: message" with "warning: " when a warning
};

// Everything read from a set of manifest files.
struct MeshConfig {
  std::vector<PeerAuthentication> peer_authentications;
  std::vector<DestinationRule> destination_rules;
  std::vector<AuthorizationPolicy> authorization_policies;
  std::vector<LinkerdServer> linkerd_servers;
  std::vector<LinkerdServerAuthorization> linkerd_server_authorizations;
  std::vector<LinkerdAuthorizationPolicy> linkerd_authorization_policies;
  std::vector<MeshTlsAuthentication> meshtls_authentications;
  std::vector<NetworkAuthentication> network_authentications;
  std::vector<Service> services;
  std::vector<Workload> workloads;
  std::vector<Namespace> namespaces;
  std::optional<MeshSettings> settings;  // from a MeshConfig-like document, when present
  // From the linkerd-config ConfigMap or a MeshSettings' `linkerd` block, when present.
  std::optional<LinkerdSettings> linkerd;
  std::vector<Finding> findings;         // warnings and rejected documents
};

// Parses the mesh kinds among `manifests`; other kinds (cert-manager's, Secrets, ...) are
// skipped. Invalid documents are left out and reported in `findings` (every one, not only the
// first), as Istio's admission would reject them; the caller decides whether to stop.
MeshConfig parseMeshManifests(const std::vector<Manifest>& manifests);

}  // namespace mutual::config
