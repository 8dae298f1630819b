#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "ca/authority.h"
#include "config/manifest.h"

// cert-manager's resources, read strictly: ClusterIssuer and Issuer (type `ca`), Certificate
// (cert-manager.io/v1) and the core v1 Secret they point at. Every error is one
// InvalidArgument naming "<file>:<line>: <field path>: <what is wrong>".
namespace mutual::config {

inline constexpr std::string_view kCertManagerApiVersion = "cert-manager.io/v1";
inline constexpr std::string_view kCertManagerGroup = "cert-manager.io";
// Where cert-manager looks for a ClusterIssuer's Secret by default (its
// --cluster-resource-namespace).
inline constexpr std::string_view kClusterResourceNamespace = "cert-manager";
inline constexpr std::string_view kDefaultNamespace = "default";
inline constexpr std::string_view kTlsSecretType = "kubernetes.io/tls";

// cert-manager's defaults and limits.
inline constexpr Seconds kDefaultDuration = std::chrono::hours(2160);  // 90 days
inline constexpr Seconds kMinimumDuration = std::chrono::hours(1);
inline constexpr Seconds kMinimumRenewBefore = std::chrono::minutes(5);

enum class IssuerKind { kIssuer, kClusterIssuer };
std::string_view issuerKindName(IssuerKind kind);  // "Issuer", "ClusterIssuer"

// An Issuer or ClusterIssuer of type `ca`: it signs with the CA in a Secret's tls.crt/tls.key.
// Other issuer types (acme, vault, selfSigned, venafi) are refused as unsupported.
struct Issuer {
  IssuerKind kind = IssuerKind::kIssuer;
  std::string name;
  std::string namespace_name;  // the Issuer's namespace ("default" when unset); "" for a
                               // ClusterIssuer
  std::string secret_name;     // spec.ca.secretName
  Location location;
  Location secret_name_location;

  std::string describe() const;  // `ClusterIssuer "ca-issuer"`, `Issuer "x" in namespace "y"`
};

// A core v1 Secret. `data` holds decoded bytes, with `stringData` merged over it as the API
// server does. A kubernetes.io/tls Secret must hold tls.crt and tls.key.
struct Secret {
  std::string name;
  std::string namespace_name;  // "default" when unset
  std::string type = "Opaque";
  std::map<std::string, std::string> data;
  std::map<std::string, Location> data_locations;  // where each key was written
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  Location location;

  // Where `key` was written, or the Secret's own location.
  Location locate(const std::string& key) const;
};

enum class KeyAlgorithm { kRsa, kEcdsa, kEd25519 };
enum class RotationPolicy { kAlways, kNever };
std::string_view keyAlgorithmName(KeyAlgorithm algorithm);  // "RSA", "ECDSA", "Ed25519"

struct PrivateKeySpec {
  // cert-manager's defaults: RSA 2048 when no algorithm is given, ECDSA 256, Always.
  KeyAlgorithm algorithm = KeyAlgorithm::kRsa;
  int size = 2048;  // 0 for Ed25519
  RotationPolicy rotation_policy = RotationPolicy::kAlways;
  ca::KeyType key_type = ca::KeyType::kRsa2048;
};

struct IssuerRef {
  std::string name;
  IssuerKind kind = IssuerKind::kIssuer;
  std::string group = std::string(kCertManagerGroup);
  Location location;  // of spec.issuerRef
};

// A cert-manager Certificate with defaults applied.
struct Certificate {
  std::string name;
  std::string namespace_name;  // "default" when unset
  std::string secret_name;
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> uris;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> email_addresses;
  Seconds duration = kDefaultDuration;
  std::optional<Seconds> renew_before;
  std::optional<int> renew_before_percentage;
  // The effective usages in cert-manager's names: as written, or the default (see
  // defaultUsages), plus "cert sign" when isCA. Without duplicates, in the order written.
  std::vector<std::string> usages;
  bool is_ca = false;
  PrivateKeySpec private_key;
  IssuerRef issuer_ref;
  std::map<std::string, std::string> secret_labels;       // spec.secretTemplate.labels
  std::map<std::string, std::string> secret_annotations;  // spec.secretTemplate.annotations
  Location location;
  Location uris_location;
  Location duration_location;  // of spec.duration, or the Certificate's when unset

  // What the `ca` module is asked to sign.
  ca::CertificateRequest request;

  std::string describe() const;  // "Certificate default/my-service-tls"
  // A SPIFFE ID among uris makes it an X509-SVID.
  bool isSvid() const;
  // When a certificate valid [not_before, not_after] is due for renewal, as cert-manager
  // computes it from the actual lifetime: notAfter - renewBefore; renewBeforePercentage
  // percent of the lifetime; 1/3 of the lifetime when neither is set or when renewBefore is
  // not shorter than the actual lifetime (a capped certificate).
  TimePoint renewalTime(TimePoint not_before, TimePoint not_after) const;
};

// The usages cert-manager applies when `usages` is unset: "digital signature" and "key
// encipherment". mutual adds "server auth" and "client auth" for an X509-SVID (a `spiffe://`
// URI and not isCA), because a mesh identity is used on both ends of mTLS; anything else gets
// cert-manager's default exactly, which has no extended key usage (any purpose).
std::vector<std::string> defaultUsages(bool svid);

// Maps cert-manager usage names to what the `ca` module signs, for a key of `algorithm`.
// "signing" and "digital signature" are the same bit (and the `ca` profile sets it on every
// leaf); "key encipherment" and "data encipherment" are dropped for ECDSA and Ed25519 keys,
// which cannot encipher (RFC 5480, RFC 8410) though cert-manager's default asks for it.
// InvalidArgument naming the usage for unknown names and for the extended key usages mutual
// does not issue (only "server auth" and "client auth" are).
Result<ca::Usages> mapUsages(const std::vector<std::string>& usages, KeyAlgorithm algorithm);

// Typed parsers for one manifest. The manifest's kind and apiVersion must match.
Result<Issuer> parseIssuer(const Manifest& manifest);
Result<Secret> parseSecret(const Manifest& manifest);
Result<Certificate> parseCertificate(const Manifest& manifest);

// Everything `mutual apply` reads from a set of manifests.
struct CertManagerResources {
  std::vector<Issuer> issuers;  // Issuers and ClusterIssuers
  std::vector<Secret> secrets;
  std::vector<Certificate> certificates;

  // nullptr when absent. `namespace_name` is ignored for a ClusterIssuer.
  const Issuer* findIssuer(IssuerKind kind, std::string_view name,
                           std::string_view namespace_name) const;
  const Secret* findSecret(std::string_view name, std::string_view namespace_name) const;
  // Every Secret called `name`, in any namespace.
  std::vector<const Secret*> findSecretsNamed(std::string_view name) const;
};

// Parses every manifest. Kinds mutual reads elsewhere (PeerAuthentication, DestinationRule,
// AuthorizationPolicy, Service, Deployment, Pod, ServiceAccount, Namespace, ConfigMap, Linkerd
// Server, cert-manager CertificateRequest) are skipped; any other kind or apiVersion is an
// error. Two objects of one kind with the same namespace and name, and two Certificates
// writing the same Secret, are errors naming both places.
Result<CertManagerResources> parseCertManagerResources(const std::vector<Manifest>& manifests);

// A Secret as Kubernetes YAML (apiVersion v1, kind Secret, metadata, type, data in base64,
// keys sorted), which parseSecret reads back unchanged.
std::string renderSecret(const Secret& secret);

}  // namespace mutual::config
