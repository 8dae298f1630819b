// Certificate and private key parsing over arbitrary bytes: parseCertificates (PEM or DER, as
// `mutual cert inspect` and every file loader take them), parsePemCertificates,
// parseDerCertificates (the Workload API's form) and PrivateKey::fromPem. Every accessor and the
// X509-SVID profile checks run on whatever parses. Invariants: a parsed certificate re-encodes
// and parses back to the same bytes; and where mutual encodes keys itself instead of through
// OpenSSL's encoders (PKCS#8 of EC/Ed25519 keys in key.cc, a leaf's SubjectPublicKeyInfo in
// cert_builder.cc) the bytes are exactly OpenSSL's.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/cert_builder.h"
#include "crypto/certificate.h"
#include "crypto/key.h"
#include "fuzz_check.h"
#include "spiffe/x509_svid.h"

using namespace mutual;
using crypto::Certificate;
using crypto::PrivateKey;

namespace {

void exercise(const Certificate& c) {
  (void)c.subject();
  (void)c.issuer();
  (void)c.commonName();
  (void)c.serialHex();
  (void)c.notBefore();
  (void)c.notAfter();
  (void)c.version();
  (void)c.isCa();
  (void)c.pathLen();
  (void)c.keyUsage();
  (void)c.keyUsageCritical();
  (void)c.extendedKeyUsage();
  (void)c.uriSans();
  (void)c.dnsSans();
  (void)c.ipSans();
  (void)c.emailSans();
  (void)c.sanCritical();
  (void)c.permittedUriConstraints();
  (void)c.subjectKeyId();
  (void)c.authorityKeyId();
  (void)c.publicKeyDescription();
  (void)c.signatureAlgorithm();
  (void)c.sha256Fingerprint();
  (void)c.isSelfIssued();
  (void)c.text();
  (void)spiffe::checkLeafProfile(c);
  (void)spiffe::checkSigningProfile(c, 1);

  auto der = c.toDer();
  if (der) {
    auto back = Certificate::fromDer(*der);
    FUZZ_CHECK(back);
    FUZZ_CHECK(*back->toDer() == *der);
  }
  if (auto pem = c.toPem()) {
    auto back = crypto::parsePemCertificates(*pem);
    FUZZ_CHECK(back && back->size() == 1);
    FUZZ_CHECK(!der || *back->front().toDer() == *der);
  }
}

std::optional<std::string> openSslPkcs8Der(EVP_PKEY* key) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (i2d_PKCS8PrivateKey_bio(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::optional<std::string> openSslSpki(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// A P-256 CA that signs leaves for the fuzzed keys, made once.
struct Ca {
  PrivateKey key = *PrivateKey::generate(crypto::KeyType::kEcP256);
  Certificate cert = [this] {
    crypto::CertSpec spec;
    spec.common_name = "fuzz CA";
    spec.serial = {0x01};
    spec.not_before = std::chrono::system_clock::now();
    spec.not_after = spec.not_before + std::chrono::hours(1);
    spec.is_ca = true;
    spec.key_usage = crypto::kKeyCertSign;
    return *crypto::signCertificate(spec, key.get(), nullptr, key);
  }();
};

void exercise(const PrivateKey& key) {
  (void)key.describe();
  (void)key.type();
  (void)key.isRsa();

  auto ours = key.toPkcs8Der();
  auto theirs = openSslPkcs8Der(key.get());
  FUZZ_CHECK(ours.has_value() == theirs.has_value());
  std::optional<PrivateKey> reparsed;
  if (auto pem = key.toPkcs8Pem()) {
    if (auto back = PrivateKey::fromPem(*pem)) reparsed.emplace(std::move(*back));
  }
  if (ours && *ours != *theirs) {
    // OpenSSL re-encodes some fields as it parsed them (an ECPrivateKey version other than 1,
    // say); ours is the canonical form. It must hold the same key, and be what OpenSSL writes
    // for that key once parsed.
    FUZZ_CHECK(reparsed);
    FUZZ_CHECK(EVP_PKEY_eq(reparsed->get(), key.get()) == 1);
    FUZZ_CHECK(openSslPkcs8Der(reparsed->get()) == *ours);
  }

  // The key as the subject of a leaf: its SubjectPublicKeyInfo must be OpenSSL's.
  static const Ca ca;
  crypto::CertSpec spec;
  spec.serial = {0x02};
  spec.not_before = ca.cert.notBefore();
  spec.not_after = ca.cert.notAfter();
  spec.key_usage = crypto::kDigitalSignature;
  spec.uris = {"spiffe://example.org/fuzz"};
  if (auto leaf = crypto::signCertificate(spec, key.get(), &ca.cert, ca.key)) {
    auto spki = openSslSpki(key.get());
    FUZZ_CHECK(spki);
    unsigned char* got = nullptr;
    const int got_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf->get()), &got);
    FUZZ_CHECK(got_len > 0);
    const std::string got_der(reinterpret_cast<char*>(got), static_cast<size_t>(got_len));
    OPENSSL_free(got);
    FUZZ_CHECK(got_der == *spki);
    FUZZ_CHECK(leaf->matchesKey(key));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto certs = crypto::parseCertificates(text)) {
    FUZZ_CHECK(!certs->empty());
    for (const auto& c : *certs) exercise(c);
  }
  // parseCertificates picks one of these by looking at the data; give each the rest too.
  const bool looks_pem = text.find("-----BEGIN") != std::string_view::npos;
  const bool looks_der = !looks_pem && !text.empty() && static_cast<uint8_t>(text[0]) == 0x30;
  if (!looks_pem) (void)crypto::parsePemCertificates(text);
  if (!looks_der) (void)crypto::parseDerCertificates(text);
  if (auto key = PrivateKey::fromPem(text)) exercise(*key);
  ERR_clear_error();
  return 0;
}
