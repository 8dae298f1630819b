#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mutual::crypto
