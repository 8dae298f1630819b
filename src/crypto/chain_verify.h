#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/handles.h"

namespace mutual::crypto {

enum class Purpose { kAny, kServerAuth, kClientAuth };

struct ChainOptions {
  TimePoint at;  // the instant every certificate's validity is checked at
  Purpose purpose = Purpose::kAny;
  std::optional<std::string> dns_name;    // hostname to match (SANs only, no CN fallback)
  std::optional<std::string> ip_address;  // IP to match
  std::optional<int> max_intermediates;
  // RFC 5280's stricter profile (OpenSSL's X509_STRICT: a CA must carry keyUsage, ...), which
  // SPIFFE requires of SVID chains. Off for chains other software makes, as Go's x509.Verify
  // accepts them (x509pop's fleet CAs, often `openssl req -x509` without keyUsage).
  bool strict = true;
};

// A set of trust anchors, built once and reused read-only. Every certificate in it is a trust
// anchor, self-signed or not (SPIFFE bundles may hold intermediates).
class TrustStore {
 public:
  static Result<TrustStore> create(const std::vector<Certificate>& anchors);
  const std::vector<Certificate>& anchors() const { return anchors_; }
  X509_STORE* get() const { return store_.get(); }

 private:
  TrustStore(X509StorePtr store, std::vector<Certificate> anchors)
      : store_(std::move(store)), anchors_(std::move(anchors)) {}
  X509StorePtr store_;
  std::vector<Certificate> anchors_;
};

// RFC 5280 path validation of `leaf` through `untrusted` intermediates to `trust`, strict
// X.509 (OpenSSL's X509_STRICT) at security level 2 (no RSA under 2048 bits, no SHA-1), plus
// the profile rules OpenSSL leaves out that a mesh peer must meet anyway (checked before the
// path is built for the leaf, after it for the CAs):
//   - the leaf is not a CA: no basicConstraints cA=true, no keyCertSign, no nameConstraints
//     (waived when the leaf is itself one of the trust anchors: it is trusted as configured);
//   - the leaf's extendedKeyUsage, when present, lists at least one purpose and not
//     anyExtendedKeyUsage (an absent EKU still means "any purpose", RFC 5280 §4.2.1.12);
//   - every dNSName in the leaf is a hostname in preferred syntax (LDH labels, underscores
//     tolerated as Go's crypto/x509 does), with "*" only as a whole leftmost label;
//   - serial numbers of the leaf and intermediates are positive and at most 20 octets;
//   - every extension OpenSSL knows decodes; nameConstraints hold at least one subtree;
//   - keys are RSA, EC, Ed25519 or Ed448 (no DSA);
//   - a wildcard dNSName must not cover a name a CA's excluded subtree forbids;
//   - `max_intermediates` counts intermediates that are not self-issued (RFC 5280 §6.1.4);
//   - notAfter is inclusive (RFC 5280 §4.1.2.5): a certificate is valid at its notAfter second.
// On success returns the path, leaf first, anchor last. On failure the Error's `reason` is
// one of: expired, not_yet_valid, unknown_ca, bad_signature, issuer_not_ca,
// issuer_cannot_sign, path_length_exceeded, chain_too_long, wrong_purpose, name_mismatch,
// name_constraint_violation, weak_key, unsupported_key, leaf_is_ca, leaf_key_cert_sign,
// invalid_eku, invalid_serial, invalid_san, invalid_name_constraints, malformed_extension,
// invalid_certificate, invalid_chain; the message names the certificate at fault.
// A dNSName in RFC 1034 §3.5 / RFC 1123 §2.1 preferred syntax: dot-separated labels of 1 to 63
// letters, digits and inner hyphens, at most 253 octets, no empty label (so no leading or
// trailing dot). "*" may be the whole leftmost label of a name with more labels. Underscores
// are tolerated: internal DNS uses them, and Go's crypto/x509 (SPIRE, go-spiffe) accepts them.
// verifyChain rejects a leaf with any other dNSName (reason invalid_san); whatever issues
// certificates checks names with it first, so mutual never signs what it would refuse.
bool isPreferredDnsName(std::string_view name);

Result<std::vector<Certificate>> verifyChain(const Certificate& leaf,
                                             const std::vector<Certificate>& untrusted,
                                             const TrustStore& trust, const ChainOptions& options);

}  // namespace mutual::crypto
