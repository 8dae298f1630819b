#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "crypto/key.h"

// JWT-SVIDs (JWT-SVID.md): JWS compact tokens signed with the server's JWT key.
namespace mutual::server {

// Signs {"sub": spiffe_id, "aud": audience (a string when there is one, else a list),
// "exp": now+ttl, "iat": now} with header {"alg", "kid", "typ": "JWT"}: ES256 for a P-256
// key, ES384 for P-384, RS256 for RSA. InvalidArgument for an empty audience.
Result<std::string> signJwt(const crypto::PrivateKey& key, std::string_view kid,
                            std::string_view spiffe_id, const std::vector<std::string>& audience,
                            TimePoint now, Seconds ttl);

struct JwtClaims {
  std::string kid;
  std::string alg;
  std::string subject;
  std::vector<std::string> audience;
  int64_t expires_at = 0;
  int64_t issued_at = 0;
};

// Checks a token's signature with `public_key_der` (a SubjectPublicKeyInfo) and returns its
// header and claims. Does not check expiry or audience (the caller's policy).
// InvalidArgument when malformed or the signature does not verify.
Result<JwtClaims> verifyJwt(std::string_view token, std::string_view public_key_der);

}  // namespace mutual::server
