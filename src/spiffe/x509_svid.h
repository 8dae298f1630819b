#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/chain_verify.h"
#include "spiffe/bundle.h"
#include "spiffe/spiffe_id.h"

namespace mutual::spiffe {

// Reason codes of X509-SVID rejections (Error::reason), beyond the chain reasons of
// crypto::verifyChain (expired, unknown_ca, ...):
//   no_uri_san, multiple_uri_sans, invalid_spiffe_id, id_without_path, leaf_is_ca,
//   leaf_no_key_usage, leaf_key_usage_not_critical, leaf_no_digital_signature,
//   leaf_key_cert_sign, leaf_crl_sign, signing_cert_not_ca, signing_cert_no_key_cert_sign,
//   signing_cert_id_has_path, unknown_trust_domain, trust_domain_mismatch, id_not_allowed.

// The X509-SVID leaf rules (X509-SVID §3, §4, §5.2), without the chain: exactly one URI SAN
// holding a SPIFFE ID with a path; basicConstraints cA false; keyUsage present, critical, with
// digitalSignature and without keyCertSign or cRLSign. Returns the SPIFFE ID.
Result<SpiffeId> checkLeafProfile(const crypto::Certificate& leaf);

// The signing-certificate rules (X509-SVID §3.2, §4.1, §4.3): cA true, keyCertSign, and a URI
// SAN, if any, without a path.
Result<void> checkSigningProfile(const crypto::Certificate& ca, int depth);

struct SvidOptions {
  TimePoint at;
  crypto::Purpose purpose = crypto::Purpose::kAny;
  std::optional<std::string> dns_name;
  // When set, the leaf must be in this trust domain.
  std::optional<TrustDomain> trust_domain;
  // When non-empty, the leaf's ID must be one of these.
  std::vector<SpiffeId> allowed_ids;
  // When set, at most this many intermediates (crypto::ChainOptions).
  std::optional<int> max_intermediates;
};

struct VerifiedSvid {
  SpiffeId id;
  std::vector<crypto::Certificate> path;  // leaf first, trust anchor last
};

// The policy half of verifyX509Svid, for an ID whose chain is already verified: the ID is in
// `options.trust_domain` (when set) and among `options.allowed_ids` (when not empty). Reasons
// trust_domain_mismatch and id_not_allowed.
Result<void> checkExpectedId(const SpiffeId& id, const SvidOptions& options);

// Validates a peer's X509-SVID: leaf profile, then the full chain to the bundle of the leaf's
// own trust domain at `options.at`, then the signing certificates, then the expected trust
// domain and IDs. `chain` is the leaf followed by any intermediates the peer sent.
Result<VerifiedSvid> verifyX509Svid(const std::vector<crypto::Certificate>& chain,
                                    const BundleSet& bundles, const SvidOptions& options);

}  // namespace mutual::spiffe
