#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/handles.h"
#include "crypto/key.h"

namespace mutual::crypto {

// keyUsage bits, in RFC 5280 order.
enum KeyUsageBit : unsigned {
  kDigitalSignature = 1u << 0,
  kContentCommitment = 1u << 1,
  kKeyEncipherment = 1u << 2,
  kDataEncipherment = 1u << 3,
  kKeyAgreement = 1u << 4,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
  kEncipherOnly = 1u << 7,
  kDecipherOnly = 1u << 8,
};
// Names of the set bits: "digitalSignature", "keyCertSign", ...
std::vector<std::string> keyUsageNames(unsigned bits);

// An X.509 certificate. Copies share the underlying X509 (reference counted, immutable).
class Certificate {
 public:
  explicit Certificate(X509Ptr x509) : x509_(std::move(x509)) {}
  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;

  static Result<Certificate> fromDer(std::string_view der);

  X509* get() const { return x509_.get(); }

  std::string subject() const;  // RFC 2253 one-line form; "" when empty
  std::string issuer() const;
  std::string commonName() const;  // the last CN, or ""
  std::string serialHex() const;   // lowercase hex, colon-free
  TimePoint notBefore() const;
  TimePoint notAfter() const;
  int version() const;  // 1, 2 or 3

  // basicConstraints cA=true.
  bool isCa() const;
  bool hasBasicConstraints() const;
  std::optional<int> pathLen() const;
  // keyUsage bits; nullopt when the extension is absent.
  std::optional<unsigned> keyUsage() const;
  bool keyUsageCritical() const;
  // Extended key usages as short names ("serverAuth", "clientAuth", or dotted OIDs);
  // nullopt when the extension is absent.
  std::optional<std::vector<std::string>> extendedKeyUsage() const;

  std::vector<std::string> uriSans() const;
  std::vector<std::string> dnsSans() const;
  std::vector<std::string> ipSans() const;  // textual, e.g. "10.0.0.1", "::1"
  std::vector<std::string> emailSans() const;
  bool sanCritical() const;
  // URI name constraints (permitted subtrees), if any.
  std::vector<std::string> permittedUriConstraints() const;

  std::string subjectKeyId() const;  // hex "ab:cd:..."; "" when absent
  std::string authorityKeyId() const;
  std::string publicKeyDescription() const;  // "EC P-256"
  std::string signatureAlgorithm() const;    // "ecdsa-with-SHA256"
  std::string sha256Fingerprint() const;     // "AB:CD:..."
  std::string sha256Hex() const;             // "abcd...": Envoy's access-log form
  bool isSelfIssued() const;                 // subject == issuer
  bool matchesKey(const PrivateKey& key) const;

  Result<std::string> toPem() const;
  Result<std::string> toDer() const;
  // OpenSSL's `x509 -text` rendering.
  std::string text() const;

 private:
  X509Ptr x509_;
};

// Every CERTIFICATE block in a PEM text, in order. Errors name the block number; a text with
// no certificate at all is an InvalidArgument error. Non-certificate blocks (keys) are skipped.
Result<std::vector<Certificate>> parsePemCertificates(std::string_view pem);

// PEM if the data looks like PEM, else DER: one certificate or a concatenation.
Result<std::vector<Certificate>> parseCertificates(std::string_view data);

// Concatenated DER certificates (the Workload API's bundle and chain form).
Result<std::vector<Certificate>> parseDerCertificates(std::string_view der);

Result<std::string> toPem(const std::vector<Certificate>& certs);

}  // namespace mutual::crypto
