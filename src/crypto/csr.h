#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/key.h"

namespace mutual::crypto {

// A PKCS#10 certification request (RFC 2986), DER, signed by `key`: an empty subject, the
// key's public half, and a subjectAltName extension request holding `uri_sans` when given.
// The digest follows the key as in signCertificate: SHA-256 for P-256 and RSA, SHA-384 for
// P-384, none for Ed25519. A SPIFFE server takes the identity from its registration entry,
// so agents need not put the SPIFFE ID in the request.
Result<std::string> createCsr(const PrivateKey& key, const std::vector<std::string>& uri_sans = {});

// What a verified request carries that a signer needs.
struct CsrInfo {
  std::string public_key_der;   // the SubjectPublicKeyInfo, DER, exactly as in the request
  std::string key_description;  // "EC P-256", "RSA 2048"
};

// Parses a DER request and checks its self-signature with OpenSSL's generic path (any key
// type OpenSSL knows). InvalidArgument, reason "malformed_csr" or "bad_csr_signature", when
// the bytes are not one well-formed request or the signature does not verify.
Result<CsrInfo> verifyCsr(std::string_view der);

}  // namespace mutual::crypto
