#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "datastore/datastore.h"

// A stored bundle in the two forms operators exchange (SPIRE's `bundle show|set -format`):
// PEM (the X.509 authorities only) and the SPIFFE bundle format (a JWK Set with x509-svid
// and jwt-svid keys, spiffe_sequence, spiffe_refresh_hint).
namespace mutual::server {

Result<std::string> bundleToPem(const datastore::Bundle& bundle);
Result<std::string> bundleToSpiffeJson(const datastore::Bundle& bundle);

// One JWT authority as a JWK: {"kty", "kid", "use": "jwt-svid", "crv", "x", "y"} for EC keys,
// {"kty", "kid", "use", "n", "e"} for RSA.
Result<std::string> jwtAuthorityJwk(const datastore::JwtAuthority& authority);

// Parses a bundle for `trust_domain` in "pem" or "spiffe" format. JWT keys in a SPIFFE
// bundle are kept (public key DER from the JWK). InvalidArgument naming what is wrong.
Result<datastore::Bundle> parseBundle(std::string_view trust_domain, std::string_view text,
                                      std::string_view format);

}  // namespace mutual::server
