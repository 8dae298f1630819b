#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/key.h"

// Certificates the server makes, encoded directly in DER (server/der.h) and signed by a
// CertSigner. Every certificate here is checked by the tests with OpenSSL's parser and
// crypto::verifyChain, so the encoder cannot drift from what peers accept.
namespace mutual::server {

// A private key that signs certificates. ECDSA keys sign through OpenSSL's EC_KEY path
// prepared once per key, which skips OpenSSL 3.0's per-call provider set-up; RSA and Ed25519
// keys use EVP_DigestSign. Thread-safe: many threads may sign with one CertSigner.
class CertSigner {
 public:
  static Result<std::shared_ptr<const CertSigner>> create(
      std::shared_ptr<const crypto::PrivateKey> key);
  ~CertSigner();
  CertSigner(const CertSigner&) = delete;
  CertSigner& operator=(const CertSigner&) = delete;

  // The AlgorithmIdentifier (DER) of this signer's signatures.
  const std::string& algorithm() const;
  const crypto::PrivateKey& key() const;
  // The complete certificate: SEQUENCE { tbs, algorithm, BIT STRING signature }.
  Result<std::string> signCertificate(std::string_view tbs) const;

 private:
  struct State;
  explicit CertSigner(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The attributes of a distinguished name, written in this order: C (each), O (each),
// serialNumber, CN. Empty ones are left out.
struct NameSpec {
  std::vector<std::string> country;
  std::vector<std::string> organization;
  std::string serial_number;
  std::string common_name;
};
std::string encodeName(const NameSpec& name);

// The SubjectPublicKeyInfo of a key, DER.
Result<std::string> publicKeyInfo(const crypto::PrivateKey& key);
// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. Empty when
// `spki_der` is not a SubjectPublicKeyInfo.
std::string keyIdentifier(std::string_view spki_der);
// "ab:cd:..." lowercase, as crypto::Certificate::subjectKeyId() prints it.
std::string colonHex(std::string_view bytes);
// Plain lowercase hex.
std::string hex(std::string_view bytes);

// One extension, DER: SEQUENCE { OID, [critical TRUE], OCTET STRING { value } }.
std::string extension(std::string_view oid_content, bool critical, std::string_view value);
// The extension values of the SVID and CA profiles.
std::string basicConstraintsValue(bool ca, std::optional<int> path_len);
std::string keyUsageValue(unsigned bits);  // crypto::KeyUsageBit set
std::string serverClientAuthEkuValue();
std::string authorityKeyIdValue(std::string_view key_id);
std::string subjectKeyIdValue(std::string_view key_id);
// SAN with URIs first, then DNS names.
std::string subjectAltNameValue(const std::vector<std::string>& uris,
                                const std::vector<std::string>& dns_names);

// OIDs (content bytes) of the extensions above.
inline constexpr std::string_view kOidBasicConstraints{"\x55\x1d\x13", 3};
inline constexpr std::string_view kOidKeyUsage{"\x55\x1d\x0f", 3};
inline constexpr std::string_view kOidExtKeyUsage{"\x55\x1d\x25", 3};
inline constexpr std::string_view kOidSubjectKeyId{"\x55\x1d\x0e", 3};
inline constexpr std::string_view kOidAuthorityKeyId{"\x55\x1d\x23", 3};
inline constexpr std::string_view kOidSubjectAltName{"\x55\x1d\x11", 3};

// A CA certificate: cA true (with pathLen when set), keyUsage keyCertSign|cRLSign critical,
// SKI, AKI when there is an issuer, and the trust domain's ID as URI SAN (X509-SVID §3.2).
struct CaCertSpec {
  NameSpec subject;
  std::string spki_der;  // the new CA's public key
  std::string serial;    // big-endian magnitude; crypto::randomSerial()
  TimePoint not_before;
  TimePoint not_after;
  std::string uri;  // "spiffe://example.org"
  std::optional<int> path_len;
  // The issuing CA; null for a self-signed root (issuer name = subject, no AKI).
  const crypto::Certificate* issuer = nullptr;
};
Result<crypto::Certificate> buildCaCertificate(const CaCertSpec& spec, const CertSigner& signer);

// The raw DER of a certificate's subject name.
Result<std::string> subjectNameDer(const crypto::Certificate& cert);
// The raw subjectKeyIdentifier of a certificate; empty when absent.
std::string subjectKeyIdBytes(const crypto::Certificate& cert);

}  // namespace mutual::server
