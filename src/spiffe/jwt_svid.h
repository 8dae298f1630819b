#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"
#include "spiffe/spiffe_id.h"

// JWT-SVIDs (spiffe/spiffe standards/JWT-SVID.md): JWS compact tokens signed with RS, ES or PS
// 256/384/512, validated against the JWT authorities of the subject's own trust domain. A small
// JWS implementation on OpenSSL: nothing but what the JWT-SVID profile allows is accepted.
namespace mutual::spiffe {

// Clock skew tolerated on `exp`, `nbf` and `iat` (go-spiffe's, through go-jose's DefaultLeeway).
inline constexpr std::chrono::seconds kJwtLeeway{60};

// Tokens longer than this are refused before anything is decoded.
inline constexpr size_t kMaxJwtSize = 64 * 1024;

// A public key of a JWT authority (opaque: the OpenSSL key lives in jwt_svid.cc).
struct JwtAuthority;

// The JWT authorities of one trust domain, by key ID.
class JwtBundle {
 public:
  explicit JwtBundle(TrustDomain trust_domain);

  // Parses a JWK Set: the Workload API's "standard JWKS" (no `use`) or a SPIFFE bundle, whose
  // `x509-svid` keys are skipped. Rules: `keys` is required (an empty list is legal: every key
  // revoked); a key whose `use` is set to anything but "jwt-svid" is skipped, and so is a key
  // of a `kty` other than "EC" or "RSA" (Ed25519 is not a JWT-SVID algorithm); an EC key must
  // be on P-256, P-384 or P-521 with `x` and `y` of the curve's size, an RSA key at least 2048
  // bits; every kept key needs a non-empty `kid`, unique in the set. Errors (InvalidArgument)
  // name the key index and field.
  static Result<JwtBundle> parse(const TrustDomain& trust_domain, std::string_view jwks);

  // Adds the public half of `key` (EC P-256/P-384 or RSA) under `key_id`. AlreadyExists when
  // the key ID is taken; InvalidArgument for an empty key ID or an unsupported key.
  Result<void> add(const std::string& key_id, const crypto::PrivateKey& key);

  // The JWK Set as the Workload API sends it: {"keys": [{"kty", "kid", key parameters}]},
  // without `use` and without the SPIFFE members, keys in key-ID order.
  std::string toJwks() const;

  const TrustDomain& trustDomain() const { return trust_domain_; }
  std::vector<std::string> keyIds() const;
  bool empty() const { return keys_.empty(); }
  // nullptr when there is no such key.
  const JwtAuthority* find(std::string_view key_id) const;

 private:
  TrustDomain trust_domain_;
  std::map<std::string, std::shared_ptr<const JwtAuthority>, std::less<>> keys_;
};

// JWT bundles keyed by trust domain.
using JwtBundles = std::map<TrustDomain, JwtBundle>;

// A parsed JWT-SVID.
struct JwtSvid {
  SpiffeId id;                         // `sub`
  std::vector<std::string> audience;   // `aud` (a single string becomes one element)
  TimePoint expiry;                    // `exp`
  std::optional<TimePoint> issued_at;  // `iat`, when present
  nlohmann::json claims;               // every claim, as in the token
  std::string algorithm;               // the header's `alg`
  std::string key_id;                  // the header's `kid`
  std::string token;                   // the compact serialization
};

// Validates a JWT-SVID (JWT-SVID §3-4), in this order, each failure an InvalidArgument error
// whose `reason` is given in brackets:
//   - the token: at most kMaxJwtSize bytes, three base64url parts without padding, canonical
//     encodings [malformed];
//   - the header: a JSON object with `alg` among RS/ES/PS 256/384/512 [unsupported_algorithm]
//     (`none`, HMAC and everything else refused), `kid` a non-empty string (go-spiffe requires
//     it) [malformed], `typ`, when present, "JWT" or "JOSE" [malformed], and no other header
//     parameter (no `crit`, `jku`, `jwk`, `x5u`, `x5c`: keys come only from the bundle)
//     [malformed];
//   - the claims: a JSON object without duplicate members, `sub` a SPIFFE ID [malformed];
//   - the key: the bundle of the `sub`'s trust domain [unknown_trust_domain] holds `kid`
//     [unknown_key], of the algorithm's type (EC curve of the algorithm's size, or RSA)
//     [key_mismatch];
//   - the signature [bad_signature];
//   - `exp` present and a number [malformed], not before `now - kJwtLeeway` [expired]; `nbf`
//     and `iat`, when present, not after `now + kJwtLeeway` [not_yet_valid];
//   - `aud` present, a string or a non-empty list of strings [malformed], holding at least one
//     of `audience` [audience_mismatch]. An empty `audience` is an InvalidArgument error.
Result<JwtSvid> validateJwtSvid(std::string_view token, const JwtBundles& bundles,
                                const std::vector<std::string>& audience, TimePoint now);

// Parses a JWT-SVID without checking its signature or times: the same token, header and claim
// shape rules as validateJwtSvid. For a token fresh from the Workload API, whose signature
// the caller cannot and need not check.
Result<JwtSvid> parseJwtSvidInsecure(std::string_view token);

struct JwtSignOptions {
  SpiffeId subject;
  std::vector<std::string> audience;  // at least one
  TimePoint issued_at;
  TimePoint expiry;    // after issued_at
  std::string key_id;  // non-empty; the bundle's kid for the key
};

// Signs a JWT-SVID as SPIRE shapes them: header {"alg", "kid", "typ": "JWT"}, claims
// {"aud": [...], "exp", "iat", "sub"}. The algorithm follows the key: ES256 for EC P-256,
// ES384 for P-384, RS256 for RSA; other keys are an InvalidArgument error.
Result<std::string> signJwtSvid(const JwtSignOptions& options, const crypto::PrivateKey& key);

}  // namespace mutual::spiffe
