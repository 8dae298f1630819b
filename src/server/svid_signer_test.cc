#include "server/svid_signer.h"

#include <gtest/gtest.h>

#include <set>

#include "base/testing.h"
#include "base/time.h"
#include "ca/authority.h"
#include "crypto/chain_verify.h"
#include "crypto/csr.h"
#include "spiffe/bundle.h"
#include "spiffe/x509_svid.h"

// The fast X509-SVID signer: what it signs must be a valid X509-SVID for the entry's ID (never
// the CSR's), verify through the CA chain, be capped by the CA's life, and be recorded.

namespace mutual::server {
namespace {

using crypto::Certificate;
using crypto::KeyType;
using crypto::PrivateKey;
using mutual::testing::must;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kNow = fromUnix(1'780'000'000);  // 2026-05-28
constexpr char kWeb[] = "spiffe://example.org/ns/default/sa/web";

struct TestCa {
  ca::Authority root;
  std::shared_ptr<const SigningCa> signing;
};

TestCa makeCa(KeyType type = KeyType::kEcP256, Seconds intermediate_ttl = hours(24)) {
  FakeClock clock(kNow - hours(1));
  auto td = must(spiffe::TrustDomain::parse("example.org"));
  ca::Authority root = must(ca::createRoot({td, hours(87600), type, ""}, clock));
  ca::IntermediateOptions options;
  options.key_type = type;
  options.ttl = intermediate_ttl;
  ca::Issued intermediate = must(ca::createIntermediate(root, options, clock));
  auto key = std::make_shared<const PrivateKey>(std::move(intermediate.key));
  auto signing = must(makeSigningCa({intermediate.cert}, key));
  return {std::move(root), std::move(signing)};
}

std::string csrFor(const PrivateKey& key, std::vector<std::string> uris = {}) {
  return must(crypto::createCsr(key, uris));
}

// Verifies `svid` as a peer would: X509-SVID leaf rules, then the chain to the root.
spiffe::VerifiedSvid verify(const TestCa& ca, const SignedSvid& svid, TimePoint at = kNow) {
  Certificate leaf = must(Certificate::fromDer(svid.cert_der));
  spiffe::BundleSet bundles;
  auto td = must(spiffe::TrustDomain::parse("example.org"));
  must(bundles.put(spiffe::X509Bundle{td, {ca.root.cert}, {}, {}, {}}));
  spiffe::SvidOptions options;
  options.at = at;
  return must(spiffe::verifyX509Svid({leaf, ca.signing->chain.front()}, bundles, options));
}

TEST(SvidSignerTest, SignsAValidSvidForTheEntryIdNotTheCsrs) {
  TestCa ca = makeCa();
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  // The request asks for another identity; the server ignores it.
  const std::string csr = csrFor(key, {"spiffe://example.org/admin"});
  SignedSvid svid = must(signX509Svid(*ca.signing, {csr, kWeb, {}, seconds(0)}, kNow, hours(1)));
  auto verified = verify(ca, svid);
  EXPECT_EQ(verified.id.str(), kWeb);
  Certificate leaf = must(Certificate::fromDer(svid.cert_der));
  EXPECT_TRUE(leaf.matchesKey(key));
  EXPECT_EQ(leaf.uriSans(), std::vector<std::string>{kWeb});
  EXPECT_FALSE(leaf.isCa());
  EXPECT_TRUE(leaf.hasBasicConstraints());
  EXPECT_TRUE(leaf.keyUsageCritical());
  EXPECT_EQ(*leaf.keyUsage(),
            crypto::kDigitalSignature | crypto::kKeyEncipherment | crypto::kKeyAgreement);
  EXPECT_EQ(*leaf.extendedKeyUsage(), (std::vector<std::string>{"serverAuth", "clientAuth"}));
  EXPECT_EQ(leaf.subject(), "O=SPIRE,C=US");
  EXPECT_EQ(leaf.authorityKeyId(), ca.signing->cert.subjectKeyId());
  EXPECT_FALSE(leaf.subjectKeyId().empty());
  EXPECT_EQ(leaf.issuer(), ca.signing->cert.subject());
  EXPECT_EQ(leaf.signatureAlgorithm(), "ecdsa-with-SHA256");
  // 128-bit serial, reported as recorded.
  EXPECT_EQ(svid.serial_hex.size(), 32u);
  EXPECT_EQ(leaf.serialHex(), svid.serial_hex);
  EXPECT_EQ(leaf.notBefore(), kNow - seconds(10));
  EXPECT_EQ(leaf.notAfter(), kNow + hours(1));
  EXPECT_FALSE(svid.capped);
  EXPECT_EQ(leaf.version(), 3);
}

TEST(SvidSignerTest, SerialsAre128BitsGrowWithTimeAndAreUnique) {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    std::string serial = must(leafSerial(kNow + std::chrono::milliseconds(i)));
    ASSERT_EQ(serial.size(), 16u);
    const auto first = static_cast<uint8_t>(serial[0]);
    EXPECT_EQ(first & 0xc0, 0x40);  // positive, never a leading zero octet
    EXPECT_TRUE(seen.insert(serial).second);
    EXPECT_GT(serial, previous);
    previous = serial;
  }
  // Within one millisecond only the random part differs.
  EXPECT_EQ(must(leafSerial(kNow)).substr(0, 6), must(leafSerial(kNow)).substr(0, 6));
  EXPECT_NE(must(leafSerial(kNow)).substr(6), must(leafSerial(kNow)).substr(6));
}

TEST(SvidSignerTest, DnsNamesBecomeSansAndTheFirstTheCommonName) {
  TestCa ca = makeCa();
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  SignedSvid svid = must(signX509Svid(
      *ca.signing, {csrFor(key), kWeb, {"web.default.svc", "web"}, seconds(0)}, kNow, hours(1)));
  verify(ca, svid);
  Certificate leaf = must(Certificate::fromDer(svid.cert_der));
  EXPECT_EQ(leaf.commonName(), "web.default.svc");
  EXPECT_EQ(leaf.dnsSans(), (std::vector<std::string>{"web.default.svc", "web"}));
}

TEST(SvidSignerTest, TtlComesFromTheEntryThenTheDefaultAndIsCappedByTheCa) {
  TestCa ca = makeCa(KeyType::kEcP256, hours(3));  // the CA expires at kNow + 2h
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  const std::string csr = csrFor(key);
  SignedSvid entry_ttl =
      must(signX509Svid(*ca.signing, {csr, kWeb, {}, minutes(5)}, kNow, hours(1)));
  EXPECT_EQ(entry_ttl.not_after, kNow + minutes(5));
  SignedSvid default_ttl =
      must(signX509Svid(*ca.signing, {csr, kWeb, {}, seconds(0)}, kNow, minutes(30)));
  EXPECT_EQ(default_ttl.not_after, kNow + minutes(30));
  SignedSvid capped = must(signX509Svid(*ca.signing, {csr, kWeb, {}, hours(10)}, kNow, hours(1)));
  EXPECT_TRUE(capped.capped);
  EXPECT_EQ(capped.not_after, ca.signing->not_after);
  EXPECT_EQ(must(Certificate::fromDer(capped.cert_der)).notAfter(), ca.signing->not_after);
  verify(ca, capped);
  // After the CA expired, nothing is signed.
  auto expired = signX509Svid(*ca.signing, {csr, kWeb, {}, seconds(0)}, kNow + hours(3), hours(1));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().reason, "issuer_expired");
}

TEST(SvidSignerTest, EveryRequestKeyTypeAndCaKeyTypeWorks) {
  for (KeyType ca_type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048}) {
    TestCa ca = makeCa(ca_type);
    for (KeyType leaf_type :
         {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kEd25519}) {
      PrivateKey key = must(PrivateKey::generate(leaf_type));
      SignedSvid svid =
          must(signX509Svid(*ca.signing, {csrFor(key), kWeb, {}, seconds(0)}, kNow, hours(1)));
      SCOPED_TRACE(std::string(crypto::keyTypeName(ca_type)) + " CA, " +
                   std::string(crypto::keyTypeName(leaf_type)) + " leaf");
      verify(ca, svid);
      EXPECT_TRUE(must(Certificate::fromDer(svid.cert_der)).matchesKey(key));
    }
  }
}

TEST(SvidSignerTest, RefusesBadRequests) {
  TestCa ca = makeCa();
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  std::string csr = csrFor(key);

  // The last byte is part of the signature's s value.
  std::string tampered = csr;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x01);
  auto bad_sig = signX509Svid(*ca.signing, {tampered, kWeb, {}, seconds(0)}, kNow, hours(1));
  ASSERT_FALSE(bad_sig);
  EXPECT_EQ(bad_sig.error().reason, "bad_csr_signature");

  // A request whose key is swapped for another: the signature no longer matches.
  PrivateKey other = must(PrivateKey::generate(KeyType::kEcP256));
  std::string other_csr = csrFor(other);
  std::string swapped = csr;
  const std::string key_point = csr.substr(csr.find(std::string("\x03\x42\x00\x04", 4)), 68);
  const std::string other_point =
      other_csr.substr(other_csr.find(std::string("\x03\x42\x00\x04", 4)), 68);
  swapped.replace(swapped.find(key_point), key_point.size(), other_point);
  auto wrong_key = signX509Svid(*ca.signing, {swapped, kWeb, {}, seconds(0)}, kNow, hours(1));
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().reason, "bad_csr_signature");

  for (const std::string& garbage :
       {std::string(), std::string("not der"), csr.substr(0, csr.size() - 1), csr + "x"}) {
    auto r = signX509Svid(*ca.signing, {garbage, kWeb, {}, seconds(0)}, kNow, hours(1));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().reason, "malformed_csr") << r.error().message;
  }

  auto foreign =
      signX509Svid(*ca.signing, {csr, "spiffe://other.org/web", {}, seconds(0)}, kNow, hours(1));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().reason, "trust_domain_mismatch");
  auto root_id =
      signX509Svid(*ca.signing, {csr, "spiffe://example.org", {}, seconds(0)}, kNow, hours(1));
  ASSERT_FALSE(root_id);
  EXPECT_EQ(root_id.error().reason, "id_without_path");
}

TEST(SvidSignerTest, PublicKeyComesFromTheRequestUnchanged) {
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  const std::string csr = csrFor(key);
  std::string fast = must(verifiedCsrPublicKey(csr));
  crypto::CsrInfo generic = must(crypto::verifyCsr(csr));
  EXPECT_EQ(fast, generic.public_key_der);
  EXPECT_EQ(generic.key_description, "EC P-256");
}

TEST(SvidSignerTest, RecordsEveryIssuedCertificate) {
  mutual::testing::TempDir dir;
  auto store = must(datastore::openDataStore("sqlite3", (dir.path() / "ds.sqlite3").string()));
  TestCa ca = makeCa();
  auto clock = std::make_shared<FakeClock>(kNow);
  SvidSigner signer([&ca] { return ca.signing; }, *store, clock, hours(1));
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  const std::string csr = csrFor(key);
  SignedSvid one = must(signer.sign({csr, kWeb, {}, seconds(0)}));
  EXPECT_EQ(must(store->countIssued()), 1);
  std::vector<SvidRequest> batch(5, SvidRequest{csr, kWeb, {}, seconds(0)});
  auto many = must(signer.signBatch(batch));
  ASSERT_EQ(many.size(), 5u);
  EXPECT_EQ(must(store->countIssued()), 6);
  // All or nothing: one bad request fails the batch and records none.
  batch[3].csr_der = "junk";
  auto failed = signer.signBatch(batch);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("request 3"), std::string::npos);
  EXPECT_EQ(must(store->countIssued()), 6);

  SvidSigner no_ca([] { return std::shared_ptr<const SigningCa>(); }, *store, clock, hours(1));
  auto unavailable = no_ca.sign({csr, kWeb, {}, seconds(0)});
  ASSERT_FALSE(unavailable);
  EXPECT_EQ(unavailable.error().code, Code::kUnavailable);
}

TEST(SvidSignerTest, TheRecorderWritesBehindInBatches) {
  mutual::testing::TempDir dir;
  auto store = must(datastore::openDataStore("sqlite3", (dir.path() / "ds.sqlite3").string()));
  TestCa ca = makeCa();
  auto clock = std::make_shared<FakeClock>(kNow);
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  const std::string csr = csrFor(key);
  {
    IssuedRecorder recorder(*store, {50, std::chrono::milliseconds(1000), 100});
    SvidSigner signer([&ca] { return ca.signing; }, *store, clock, hours(1), &recorder);
    for (int i = 0; i < 120; ++i) must(signer.sign({csr, kWeb, {}, seconds(0)}));
    must(signer.signBatch(std::vector<SvidRequest>(30, SvidRequest{csr, kWeb, {}, seconds(0)})));
    must(recorder.flush());
    EXPECT_EQ(recorder.recorded(), 150u);
    EXPECT_EQ(must(store->countIssued()), 150);
    for (int i = 0; i < 7; ++i) must(signer.sign({csr, kWeb, {}, seconds(0)}));
  }  // the destructor flushes
  EXPECT_EQ(must(store->countIssued()), 157);
}

}  // namespace
}  // namespace mutual::server
