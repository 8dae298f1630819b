#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/key.h"

namespace mutual::crypto {

// The longest commonName X.509 allows, in characters (ub-common-name, RFC 5280 Appendix A).
inline constexpr size_t kMaxCommonNameLength = 64;

// Everything that goes into a certificate we sign. The builder checks nothing about policy
// (that is the `ca` module's job); it encodes exactly what it is given.
struct CertSpec {
  std::string common_name;   // empty: no CN
  std::string organization;  // empty: no O
  std::vector<unsigned char> serial;  // big-endian, non-empty, positive
  TimePoint not_before;
  TimePoint not_after;

  bool is_ca = false;
  std::optional<int> path_len;  // only for CAs
  unsigned key_usage = 0;       // KeyUsageBit set; 0 means no extension
  bool server_auth = false;     // EKU; no EKU extension when neither is set
  bool client_auth = false;

  std::vector<std::string> uris;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // textual IPv4 or IPv6
  std::vector<std::string> emails;
  // URI name constraint hosts (permitted subtrees), e.g. the trust domain.
  std::vector<std::string> permitted_uri_hosts;
};

// Signs `spec` for `subject_key`'s public half. With `issuer` null the certificate is
// self-signed by `signer_key` (which must then be `subject_key`). SKI is always set, AKI
// whenever there is an issuer SKI (or for self-signed, to itself is omitted). The digest follows
// the signer: SHA-256 for P-256 and RSA, SHA-384 for P-384, none for Ed25519.
Result<Certificate> signCertificate(const CertSpec& spec, EVP_PKEY* subject_public_key,
                                    const Certificate* issuer, const PrivateKey& signer_key);

// 16 random bytes with the top bit cleared: a positive serial with 127 random bits, always 16
// octets wide (RFC 5280 §4.1.2.2).
Result<std::vector<unsigned char>> randomSerial();

}  // namespace mutual::crypto
