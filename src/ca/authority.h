#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/key.h"
#include "spiffe/spiffe_id.h"

namespace mutual::ca {

using crypto::Certificate;
using crypto::KeyType;
using crypto::PrivateKey;

// A CA that can sign: its certificate and key, the intermediates from it up to (not including)
// the root, itself first when it is an intermediate, and the roots that anchor it.
struct Authority {
  Certificate cert;
  PrivateKey key;
  std::vector<Certificate> chain;  // empty for a root
  std::vector<Certificate> roots;

  // The trust domain from the CA's `spiffe://TD` URI SAN, if it has one.
  std::optional<spiffe::TrustDomain> trustDomain() const;
};

// Anything signed: the certificate, its new key, and what to ship beside it.
struct Issued {
  Certificate cert;
  PrivateKey key;
  // For a leaf: the intermediates above it, not the root. For a CA: itself first, then the
  // intermediates above it, ready to be an Authority's chain (and chain.crt).
  std::vector<Certificate> chain;
  std::vector<Certificate> bundle;  // the roots
  // Non-empty when the TTL or (for an intermediate) the asked path length was capped: one
  // sentence per cap, joined by "; ", for a warning.
  std::string note;
};

struct RootOptions {
  spiffe::TrustDomain trust_domain;
  Seconds ttl = std::chrono::hours(87600);
  KeyType key_type = KeyType::kEcP256;
  std::string common_name;  // default "mutual root CA (<td>)"
};

// A self-signed root: cA true (no path length limit), keyUsage keyCertSign|cRLSign critical,
// SKI, URI SAN spiffe://TD.
Result<Authority> createRoot(const RootOptions& options, const Clock& clock);

struct IntermediateOptions {
  std::string name = "cluster-1";  // becomes the CN
  Seconds ttl = std::chrono::hours(8760);
  std::optional<int> path_len;
  KeyType key_type = KeyType::kEcP256;
  bool name_constraint = false;  // permit only URIs in the trust domain
};

// An intermediate signed by `parent` (a root or another intermediate). The parent must be a
// usable CA (reason issuer_not_ca), valid now, and allow another level (reason
// path_length_exceeded); the TTL is capped by the parent's notAfter, and path_len below the
// parent's (both reported in `note`). A negative path_len is InvalidArgument.
Result<Issued> createIntermediate(const Authority& parent, const IntermediateOptions& options,
                                  const Clock& clock);

// Which extended key usages a leaf gets.
struct Usages {
  bool server_auth = true;
  bool client_auth = true;
  // keyUsage bits beyond the profile's. A leaf never gets keyCertSign, nor an X509-SVID cRLSign
  // (reasons leaf_key_cert_sign, leaf_crl_sign).
  unsigned extra_key_usage = 0;
};

struct WorkloadOptions {
  spiffe::SpiffeId id;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  Seconds ttl = std::chrono::hours(1);
  Usages usages;
  KeyType key_type = KeyType::kEcP256;
};

// An X509-SVID: exactly one URI SAN (the ID, which must have a path and lie in the CA's trust
// domain), optional DNS and IP SANs, keyUsage digitalSignature (plus keyEncipherment for RSA)
// critical, cA false, the asked EKUs, a 16-octet random serial, notBefore now-10s.
Result<Issued> issueWorkload(const Authority& ca, const WorkloadOptions& options,
                             const Clock& clock);

// A general certificate as cert-manager describes one. A SPIFFE ID among `uris` makes it an
// X509-SVID (it must then be the only URI).
struct CertificateRequest {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> uris;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> emails;
  Seconds ttl = std::chrono::hours(2160);  // cert-manager's 90 days
  Usages usages;
  bool is_ca = false;
  KeyType key_type = KeyType::kEcP256;
};

// Issues `request`, with `key` when given (cert-manager's rotationPolicy Never), otherwise a
// new key of request.key_type.
Result<Issued> issueCertificate(const Authority& ca, const CertificateRequest& request,
                                const Clock& clock, std::optional<PrivateKey> key = std::nullopt);

// Reads an authority directory: ca.crt, ca.key, and when present chain.crt (the intermediates,
// this CA first) and bundle.crt (the roots). A self-signed ca.crt is its own root. Errors name
// the file: a missing or malformed file, a key that does not match, a certificate that is
// not a CA (reason issuer_not_ca).
Result<Authority> loadAuthority(const std::filesystem::path& dir);

// Each writer replaces its files as a set (writeFilesAtomic): on a failure the directory keeps
// its old files, never a new key beside an old certificate.
// Writes a root's directory: ca.crt and ca.key (0600).
Result<void> writeRoot(const std::filesystem::path& dir, const Authority& root);
// Writes an intermediate's directory: ca.crt, ca.key (0600), chain.crt, bundle.crt.
Result<void> writeIntermediate(const std::filesystem::path& dir, const Issued& intermediate);
// Writes a leaf's directory: tls.crt (leaf then chain), tls.key (0600), ca.crt (the bundle).
Result<void> writeLeaf(const std::filesystem::path& dir, const Issued& leaf);

// The certificate files of a leaf, rendered (also used for Kubernetes Secrets).
struct LeafFiles {
  std::string tls_crt;
  std::string tls_key;
  std::string ca_crt;
};
Result<LeafFiles> renderLeaf(const Issued& leaf);

}  // namespace mutual::ca
