#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/chain_verify.h"
#include "spiffe/spiffe_id.h"

namespace mutual::spiffe {

// The X.509 authorities of one trust domain, plus the SPIFFE bundle metadata.
struct X509Bundle {
  TrustDomain trust_domain;
  std::vector<crypto::Certificate> authorities;
  std::optional<uint64_t> sequence;       // spiffe_sequence
  std::optional<int64_t> refresh_hint;    // spiffe_refresh_hint, seconds
  std::vector<std::string> jwt_keys_json; // jwt-svid JWKs, kept verbatim for round trips
};

// A PEM bundle: every CERTIFICATE block is an authority. At least one is required.
Result<X509Bundle> parsePemBundle(const TrustDomain& td, std::string_view pem);

// The SPIFFE bundle format (a JWK Set). Rules (SPIFFE Trust Domain and Bundle §4):
// `keys` required (an empty list is legal: every key revoked); keys whose `use` is missing or
// unknown are ignored; an `x509-svid` key must carry exactly one `x5c` certificate (standard
// base64 DER) and no `kid`; `jwt-svid` keys must carry a `kid`. Errors name the key index
// and field.
Result<X509Bundle> parseSpiffeBundle(const TrustDomain& td, std::string_view json);

// Writes the SPIFFE bundle format: one `x509-svid` JWK per authority with its public key
// parameters and `x5c`, then the kept `jwt-svid` keys, `spiffe_sequence` and
// `spiffe_refresh_hint` when set. Pretty-printed, stable order.
Result<std::string> toSpiffeBundleJson(const X509Bundle& bundle);
Result<std::string> toPemBundle(const X509Bundle& bundle);

// Bundles keyed by trust domain, each with its own trust store: a leaf is only ever checked
// against the bundle of its own trust domain (X509-SVID §5.1).
class BundleSet {
 public:
  // Adds or replaces the bundle of its trust domain.
  Result<void> put(X509Bundle bundle);
  // nullptr when the trust domain has no bundle.
  const X509Bundle* find(const TrustDomain& td) const;
  const crypto::TrustStore* trustStore(const TrustDomain& td) const;
  std::vector<TrustDomain> trustDomains() const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    X509Bundle bundle;
    crypto::TrustStore store;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace mutual::spiffe
