#pragma once

#include <optional>
#include <string>
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
// X.509 (OpenSSL's X509_STRICT) at security level 2 (no RSA under 2048 bits, no SHA-1).
// On success returns the path, leaf first, anchor last. On failure the Error's `reason` is
// one of: expired, not_yet_valid, unknown_ca, bad_signature, issuer_not_ca,
// issuer_cannot_sign, path_length_exceeded, chain_too_long, wrong_purpose, name_mismatch,
// name_constraint_violation, weak_key, invalid_certificate, invalid_chain; the message names
// the certificate at fault.
Result<std::vector<Certificate>> verifyChain(const Certificate& leaf,
                                             const std::vector<Certificate>& untrusted,
                                             const TrustStore& trust, const ChainOptions& options);

}  // namespace mutual::crypto
