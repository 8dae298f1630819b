#include <cctype>

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "base/time.h"
#include "crypto/cert_builder.h"
#include "crypto/certificate.h"
#include "crypto/chain_verify.h"
#include "crypto/key.h"

namespace mutual::crypto {
namespace {

TEST(Key, GeneratesEveryTypeAndRoundTripsPkcs8) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kEd25519}) {
    auto key = PrivateKey::generate(type);
    ASSERT_TRUE(key) << keyTypeName(type);
    EXPECT_EQ(*key->type(), type);
    auto pem = key->toPkcs8Pem();
    ASSERT_TRUE(pem);
    EXPECT_NE(pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    auto back = PrivateKey::fromPem(*pem);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back->type(), type);
  }
}

TEST(Key, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(*parseKeyType("ec-p384"), KeyType::kEcP384);
  EXPECT_EQ(*parseKeyType("rsa-3072"), KeyType::kRsa3072);
  EXPECT_FALSE(parseKeyType("rsa-1024"));
  EXPECT_FALSE(PrivateKey::fromPem("garbage"));
  EXPECT_FALSE(PrivateKey::fromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  EXPECT_FALSE(PrivateKey::fromPem("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
}

struct TestCa {
  PrivateKey key = *PrivateKey::generate(KeyType::kEcP256);
  Certificate cert;
};

CertSpec baseSpec(TimePoint now) {
  CertSpec spec;
  spec.serial = *randomSerial();
  spec.not_before = now - std::chrono::hours(1);
  spec.not_after = now + std::chrono::hours(1);
  return spec;
}

TEST(Builder, EncodesExtensionsExactly) {
  const TimePoint now = std::chrono::system_clock::now();
  auto ca_key = *PrivateKey::generate(KeyType::kEcP256);
  CertSpec ca_spec = baseSpec(now);
  ca_spec.common_name = "root";
  ca_spec.is_ca = true;
  ca_spec.path_len = 1;
  ca_spec.key_usage = kKeyCertSign | kCrlSign;
  ca_spec.uris = {"spiffe://example.org"};
  ca_spec.permitted_uri_hosts = {"example.org"};
  auto ca = signCertificate(ca_spec, ca_key.get(), nullptr, ca_key);
  ASSERT_TRUE(ca) << ca.error().message;
  EXPECT_TRUE(ca->isCa());
  EXPECT_EQ(ca->pathLen(), 1);
  EXPECT_EQ(*ca->keyUsage(), unsigned(kKeyCertSign | kCrlSign));
  EXPECT_TRUE(ca->keyUsageCritical());
  EXPECT_FALSE(ca->subjectKeyId().empty());
  EXPECT_EQ(ca->permittedUriConstraints(), std::vector<std::string>{"example.org"});
  EXPECT_TRUE(ca->isSelfIssued());

  auto leaf_key = *PrivateKey::generate(KeyType::kEcP256);
  CertSpec spec = baseSpec(now);
  spec.key_usage = kDigitalSignature;
  spec.server_auth = true;
  spec.uris = {"spiffe://example.org/web"};
  spec.dns_names = {"web.local"};
  spec.ip_addresses = {"10.1.2.3", "::1"};
  auto leaf = signCertificate(spec, leaf_key.get(), &*ca, ca_key);
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_FALSE(leaf->isCa());
  EXPECT_TRUE(leaf->hasBasicConstraints());
  EXPECT_EQ(leaf->uriSans(), std::vector<std::string>{"spiffe://example.org/web"});
  EXPECT_EQ(leaf->dnsSans(), std::vector<std::string>{"web.local"});
  EXPECT_EQ(leaf->ipSans(), (std::vector<std::string>{"10.1.2.3", "::1"}));
  EXPECT_EQ(*leaf->extendedKeyUsage(), std::vector<std::string>{"serverAuth"});
  EXPECT_EQ(leaf->authorityKeyId(), ca->subjectKeyId());
  EXPECT_TRUE(leaf->sanCritical());  // empty subject
  EXPECT_EQ(leaf->serialHex().size(), 32u);
  // The two forms of one SHA-256: "AB:CD:..." (openssl -fingerprint) and Envoy's "abcd...".
  const std::string colons = leaf->sha256Fingerprint();
  ASSERT_EQ(colons.size(), 95u);
  std::string plain;
  for (char c : colons) {
    if (c != ':') plain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(leaf->sha256Hex(), plain);
  EXPECT_NE(leaf->sha256Hex(), ca->sha256Hex());
  EXPECT_TRUE(leaf->matchesKey(leaf_key));
  EXPECT_FALSE(leaf->matchesKey(ca_key));

  spec.ip_addresses = {"not-an-ip"};
  EXPECT_FALSE(signCertificate(spec, leaf_key.get(), &*ca, ca_key));
}

TEST(Pem, ParsesChainsAndRejectsGarbage) {
  const TimePoint now = std::chrono::system_clock::now();
  auto key = *PrivateKey::generate(KeyType::kEd25519);
  CertSpec spec = baseSpec(now);
  spec.common_name = "x";
  spec.is_ca = true;
  spec.key_usage = kKeyCertSign;
  auto cert = *signCertificate(spec, key.get(), nullptr, key);
  const std::string pem = *cert.toPem();
  auto two = parsePemCertificates(pem + *key.toPkcs8Pem() + pem);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->size(), 2u);
  auto der = *cert.toDer();
  EXPECT_EQ(parseCertificates(der + der)->size(), 2u);
  EXPECT_FALSE(parsePemCertificates(""));
  EXPECT_FALSE(parsePemCertificates("hello"));
  EXPECT_FALSE(parsePemCertificates(pem.substr(0, pem.size() / 2)));
  EXPECT_FALSE(parseDerCertificates(der.substr(0, der.size() - 3)));
  std::string corrupt = pem;
  corrupt[40] = corrupt[40] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(parsePemCertificates(corrupt) && parsePemCertificates(corrupt)->front().toDer() == der);
}

TEST(Chain, NamesTheReason) {
  const TimePoint now = std::chrono::system_clock::now();
  auto ca_key = *PrivateKey::generate(KeyType::kEcP256);
  CertSpec ca_spec = baseSpec(now);
  ca_spec.common_name = "root";
  ca_spec.is_ca = true;
  ca_spec.key_usage = kKeyCertSign;
  auto ca = *signCertificate(ca_spec, ca_key.get(), nullptr, ca_key);
  auto leaf_key = *PrivateKey::generate(KeyType::kEcP256);
  CertSpec spec = baseSpec(now);
  spec.common_name = "leaf";
  spec.key_usage = kDigitalSignature;
  spec.client_auth = true;
  spec.dns_names = {"a.example"};
  auto leaf = *signCertificate(spec, leaf_key.get(), &ca, ca_key);
  auto store = *TrustStore::create({ca});

  ChainOptions opts;
  opts.at = now;
  auto ok = verifyChain(leaf, {}, store, opts);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->size(), 2u);

  struct Case {
    const char* name;
    ChainOptions options;
    const char* reason;
  };
  ChainOptions later = opts;
  later.at = now + std::chrono::hours(2);
  ChainOptions earlier = opts;
  earlier.at = now - std::chrono::hours(2);
  ChainOptions server = opts;
  server.purpose = Purpose::kServerAuth;
  ChainOptions host = opts;
  host.dns_name = "b.example";
  for (const auto& c : {Case{"expired", later, "expired"}, Case{"early", earlier, "not_yet_valid"},
                        Case{"purpose", server, "wrong_purpose"},
                        Case{"host", host, "name_mismatch"}}) {
    auto r = verifyChain(leaf, {}, store, c.options);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().reason, c.reason) << c.name << ": " << r.error().message;
  }
  auto other_key = *PrivateKey::generate(KeyType::kEcP256);
  auto other = *signCertificate(ca_spec, other_key.get(), nullptr, other_key);
  auto r = verifyChain(leaf, {}, *TrustStore::create({other}), opts);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().reason == "unknown_ca" || r.error().reason == "bad_signature")
      << r.error().reason;
}

std::string openSslPkcs8(const PrivateKey& key, bool pem) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  const int ok = pem ? PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                                                     nullptr, nullptr)
                     : i2d_PKCS8PrivateKey_bio(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                               nullptr);
  EXPECT_EQ(ok, 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string openSslSpki(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// toPkcs8Der/toPkcs8Pem write EC P-256/P-384 and Ed25519 keys without OpenSSL's encoder (see
// key.cc); the bytes must be exactly what OpenSSL writes.
TEST(Key, FixedLayoutPkcs8MatchesOpenSsl) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519, KeyType::kRsa2048}) {
    for (int i = 0; i < 20; ++i) {  // a short private scalar must still be padded
      auto key = *PrivateKey::generate(type);
      EXPECT_EQ(*key.toPkcs8Der(), openSslPkcs8(key, false)) << keyTypeName(type);
      EXPECT_EQ(*key.toPkcs8Pem(), openSslPkcs8(key, true)) << keyTypeName(type);
      if (type == KeyType::kRsa2048) break;  // OpenSSL's own path; once is enough
    }
  }
  // Loaded keys may ask for compressed points or no public key: OpenSSL's path then.
  auto compressed = *PrivateKey::generate(KeyType::kEcP256);
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(compressed.get(),
                                           OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                           const_cast<char*>("compressed")),
            1);
  auto no_public = *PrivateKey::generate(KeyType::kEcP384);
  ASSERT_EQ(EVP_PKEY_set_int_param(no_public.get(), OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, 0), 1);
  for (const PrivateKey* key : {&compressed, &no_public}) {
    EXPECT_EQ(*key->toPkcs8Der(), openSslPkcs8(*key, false));
    EXPECT_EQ(*key->toPkcs8Pem(), openSslPkcs8(*key, true));
    auto back = PrivateKey::fromPem(*key->toPkcs8Pem());
    ASSERT_TRUE(back);
    EXPECT_EQ(EVP_PKEY_eq(back->get(), key->get()), 1);
  }
}

// End-entity certificates with EC keys take signCertificate's legacy public key path (see
// cert_builder.cc): same SubjectPublicKeyInfo bytes, and the in-memory key still works.
TEST(Builder, LeafPublicKeyIsExactAndUsable) {
  const TimePoint now = std::chrono::system_clock::now();
  auto ca_key = *PrivateKey::generate(KeyType::kEcP256);
  CertSpec ca_spec = baseSpec(now);
  ca_spec.common_name = "root";
  ca_spec.is_ca = true;
  ca_spec.key_usage = kKeyCertSign;
  auto ca = *signCertificate(ca_spec, ca_key.get(), nullptr, ca_key);
  std::vector<PrivateKey> keys;
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519, KeyType::kEcP256}) {
    keys.push_back(*PrivateKey::generate(type));
  }
  // OpenSSL writes this one's SubjectPublicKeyInfo with a compressed point: OpenSSL's path.
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(keys.back().get(),
                                           OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                           const_cast<char*>("compressed")),
            1);
  for (const auto& key : keys) {
    CertSpec spec = baseSpec(now);
    spec.key_usage = kDigitalSignature;
    spec.uris = {"spiffe://example.org/web"};
    auto leaf = signCertificate(spec, key.get(), &ca, ca_key);
    ASSERT_TRUE(leaf) << leaf.error().message;
    unsigned char* got = nullptr;
    const int got_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf->get()), &got);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(got), static_cast<size_t>(got_len)),
              openSslSpki(key.get()))
        << key.describe();
    OPENSSL_free(got);
    EXPECT_TRUE(leaf->matchesKey(key)) << key.describe();
    EXPECT_FALSE(leaf->matchesKey(ca_key)) << key.describe();
    EXPECT_EQ(leaf->publicKeyDescription(), key.describe());
    EXPECT_EQ(X509_verify(leaf->get(), X509_get0_pubkey(ca.get())), 1);
    // Round trip through DER gives the same certificate.
    auto parsed = Certificate::fromDer(*leaf->toDer());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(X509_cmp(parsed->get(), leaf->get()), 0);
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(parsed->get()), X509_get0_pubkey(leaf->get())), 1);
  }
}

}  // namespace
}  // namespace mutual::crypto
