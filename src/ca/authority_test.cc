#include "base/testing.h"
#include "ca/authority.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/time.h"
#include "crypto/cert_builder.h"
#include "spiffe/bundle.h"
#include "spiffe/x509_svid.h"

// The CA: the certificate profiles it issues (X509-SVID §2-4, SPIRE's credtemplate defaults in
// reference/spiffe.md §2.3), what it refuses to issue, and its files on disk.

namespace mutual::ca {
namespace {

namespace fs = std::filesystem;
using crypto::Certificate;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kNow = fromUnix(1'780'000'000);  // 2026-05-28
constexpr char kWebId[] = "spiffe://example.org/ns/default/sa/web";

using mutual::testing::must;

spiffe::TrustDomain td(const char* name) { return must(spiffe::TrustDomain::parse(name)); }
spiffe::SpiffeId id(const char* text) { return must(spiffe::SpiffeId::parse(text)); }

RootOptions rootOptions(KeyType type = KeyType::kEcP256, Seconds ttl = hours(87600)) {
  return {td("example.org"), ttl, type, ""};
}

IntermediateOptions intermediateOptions(const std::function<void(IntermediateOptions&)>& edit) {
  IntermediateOptions options;
  edit(options);
  return options;
}

WorkloadOptions workloadOptions(const char* spiffe_id = kWebId) {
  return {id(spiffe_id), {}, {}, hours(1), {}, KeyType::kEcP256};
}

Authority toAuthority(Issued issued) {
  return Authority{std::move(issued.cert), std::move(issued.key), std::move(issued.chain),
                   std::move(issued.bundle)};
}

bool same(const Certificate& a, const Certificate& b) {
  return a.sha256Fingerprint() == b.sha256Fingerprint();
}

bool extensionCritical(const Certificate& cert, int nid) {
  const int idx = X509_get_ext_by_NID(cert.get(), nid, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert.get(), idx)) == 1;
}

using Eku = std::optional<std::vector<std::string>>;
const Eku kBothEku = std::vector<std::string>{"serverAuth", "clientAuth"};

// Validates an issued X509-SVID the way a peer would, against `roots` for example.org.
Result<spiffe::VerifiedSvid> verifySvid(const Issued& leaf, const std::vector<Certificate>& roots,
                                        TimePoint at = kNow) {
  spiffe::BundleSet bundles;
  if (auto ok = bundles.put({td("example.org"), roots, {}, {}, {}}); !ok) return fail(ok.error());
  std::vector<Certificate> chain{leaf.cert};
  chain.insert(chain.end(), leaf.chain.begin(), leaf.chain.end());
  spiffe::SvidOptions options;
  options.at = at;
  return spiffe::verifyX509Svid(chain, bundles, options);
}

void expectError(const Result<Issued>& r, Code code, const std::string& reason,
                 const std::string& message_part = "") {
  ASSERT_FALSE(r) << "issued " << r->cert.subject();
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_EQ(r.error().reason, reason) << r.error().message;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
}

class AuthorityTest : public ::testing::Test {
 protected:
  Issued intermediate(const std::function<void(IntermediateOptions&)>& edit =
                          [](IntermediateOptions&) {}) {
    return must(createIntermediate(root_, intermediateOptions(edit), clock_));
  }

  FakeClock clock_{kNow};
  Authority root_ = must(createRoot(rootOptions(), clock_));
};

// ---- createRoot ----------------------------------------------------------------------------

TEST_F(AuthorityTest, RootProfile) {
  const Certificate& c = root_.cert;
  EXPECT_EQ(c.version(), 3);
  EXPECT_TRUE(c.isCa());
  EXPECT_TRUE(extensionCritical(c, NID_basic_constraints));
  EXPECT_EQ(c.pathLen(), std::nullopt);  // no limit
  EXPECT_EQ(c.keyUsage(), std::optional<unsigned>(crypto::kKeyCertSign | crypto::kCrlSign));
  EXPECT_TRUE(c.keyUsageCritical());
  EXPECT_EQ(c.extendedKeyUsage(), std::nullopt);
  EXPECT_EQ(c.subjectKeyId().size(), 20u * 3 - 1);  // SHA-1, "ab:cd:..."
  EXPECT_EQ(c.uriSans(), std::vector<std::string>{"spiffe://example.org"});
  EXPECT_TRUE(c.dnsSans().empty());
  EXPECT_TRUE(c.isSelfIssued());
  EXPECT_EQ(c.commonName(), "mutual root CA (example.org)");
  EXPECT_NE(c.subject().find("O=mutual"), std::string::npos) << c.subject();
  EXPECT_EQ(c.serialHex().size(), 32u);
  EXPECT_EQ(c.notBefore(), kNow - seconds(10));
  EXPECT_EQ(c.notAfter(), kNow + hours(87600));  // default 10 years
  EXPECT_TRUE(c.matchesKey(root_.key));
  EXPECT_TRUE(root_.chain.empty());
  ASSERT_EQ(root_.roots.size(), 1u);
  EXPECT_TRUE(same(root_.roots[0], c));
  ASSERT_TRUE(root_.trustDomain());
  EXPECT_EQ(root_.trustDomain()->name(), "example.org");
  // X509-SVID §3.2: the signing profile holds.
  EXPECT_TRUE(spiffe::checkSigningProfile(c, 1));
}

TEST_F(AuthorityTest, RootOptions) {
  RootOptions options = rootOptions(KeyType::kEcP256, hours(24));
  options.common_name = "Example Root";
  auto root = must(createRoot(options, clock_));
  EXPECT_EQ(root.cert.commonName(), "Example Root");
  EXPECT_EQ(root.cert.notAfter(), kNow + hours(24));

  for (Seconds ttl : {seconds(0), seconds(-1)}) {
    auto bad = createRoot(rootOptions(KeyType::kEcP256, ttl), clock_);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  }
  // 292 years would wrap notAfter into the past (a root "valid until 1734"): refused.
  auto huge = createRoot(rootOptions(KeyType::kEcP256, hours(2562047)), clock_);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().reason, "duration_too_large") << huge.error().message;
}

struct KeyTypeCase {
  KeyType type;
  const char* description;
  const char* signature;
  unsigned leaf_key_usage;  // what a workload of this key type gets
};

const std::vector<KeyTypeCase>& keyTypeCases() {
  static const std::vector<KeyTypeCase> cases = {
      {KeyType::kEcP256, "EC P-256", "ecdsa-with-SHA256", crypto::kDigitalSignature},
      {KeyType::kEcP384, "EC P-384", "ecdsa-with-SHA384", crypto::kDigitalSignature},
      {KeyType::kRsa2048, "RSA 2048", "sha256WithRSAEncryption",
       crypto::kDigitalSignature | crypto::kKeyEncipherment},
      {KeyType::kEd25519, "Ed25519", "ED25519", crypto::kDigitalSignature},
  };
  return cases;
}

TEST_F(AuthorityTest, RootEveryKeyType) {
  for (const auto& c : keyTypeCases()) {
    SCOPED_TRACE(c.description);
    auto root = must(createRoot(rootOptions(c.type), clock_));
    EXPECT_EQ(root.cert.publicKeyDescription(), c.description);
    EXPECT_EQ(root.cert.signatureAlgorithm(), c.signature);
    EXPECT_EQ(must(root.key.type()), c.type);
    EXPECT_TRUE(root.cert.isCa());
    // It can sign a workload that validates.
    auto leaf = must(issueWorkload(root, workloadOptions(), clock_));
    EXPECT_TRUE(verifySvid(leaf, {root.cert})) << c.description;
  }
}

// ---- createIntermediate --------------------------------------------------------------------

TEST_F(AuthorityTest, IntermediateProfile) {
  auto issued = intermediate();
  const Certificate& c = issued.cert;
  EXPECT_TRUE(c.isCa());
  EXPECT_TRUE(extensionCritical(c, NID_basic_constraints));
  EXPECT_EQ(c.pathLen(), std::nullopt);
  EXPECT_EQ(c.keyUsage(), std::optional<unsigned>(crypto::kKeyCertSign | crypto::kCrlSign));
  EXPECT_TRUE(c.keyUsageCritical());
  EXPECT_EQ(c.uriSans(), std::vector<std::string>{"spiffe://example.org"});
  EXPECT_TRUE(c.permittedUriConstraints().empty());
  EXPECT_EQ(c.commonName(), "cluster-1");
  EXPECT_EQ(c.issuer(), root_.cert.subject());
  EXPECT_FALSE(c.isSelfIssued());
  EXPECT_EQ(c.authorityKeyId(), root_.cert.subjectKeyId());
  EXPECT_FALSE(c.subjectKeyId().empty());
  EXPECT_NE(c.subjectKeyId(), root_.cert.subjectKeyId());
  EXPECT_EQ(c.serialHex().size(), 32u);
  EXPECT_EQ(c.notBefore(), kNow - seconds(10));
  EXPECT_EQ(c.notAfter(), kNow + hours(8760));  // default 1 year, inside the root's 10
  EXPECT_TRUE(issued.note.empty()) << issued.note;
  EXPECT_TRUE(c.matchesKey(issued.key));
  ASSERT_EQ(issued.chain.size(), 1u);  // itself
  EXPECT_TRUE(same(issued.chain[0], c));
  ASSERT_EQ(issued.bundle.size(), 1u);  // the root
  EXPECT_TRUE(same(issued.bundle[0], root_.cert));
  EXPECT_TRUE(spiffe::checkSigningProfile(c, 1));
}

TEST_F(AuthorityTest, IntermediateOptionsApplied) {
  auto issued = intermediate([](IntermediateOptions& o) {
    o.name = "eu-west";
    o.ttl = hours(48);
    o.key_type = KeyType::kEcP384;
  });
  EXPECT_EQ(issued.cert.commonName(), "eu-west");
  EXPECT_EQ(issued.cert.notAfter(), kNow + hours(48));
  EXPECT_EQ(issued.cert.publicKeyDescription(), "EC P-384");
  // Signed by the P-256 root: SHA-256.
  EXPECT_EQ(issued.cert.signatureAlgorithm(), "ecdsa-with-SHA256");
}

struct PathLenCase {
  const char* name;
  std::optional<int> parent;  // nullopt: the root (no limit)
  std::optional<int> asked;
  std::optional<int> want;  // the child's pathLen on success
  const char* reason;       // "" = success
  Code code = Code::kOk;
};

TEST_F(AuthorityTest, IntermediatePathLenTable) {
  const std::vector<PathLenCase> cases = {
      {"unlimited parent, none asked", std::nullopt, std::nullopt, std::nullopt, ""},
      {"unlimited parent, 3 asked", std::nullopt, 3, 3, ""},
      {"unlimited parent, 0 asked", std::nullopt, 0, 0, ""},
      {"parent 2, none asked: 1", 2, std::nullopt, 1, ""},
      {"parent 2, 5 asked: capped to 1", 2, 5, 1, ""},
      {"parent 2, 0 asked", 2, 0, 0, ""},
      {"parent 1, none asked: 0", 1, std::nullopt, 0, ""},
      {"parent 0: no further CA", 0, std::nullopt, std::nullopt, "path_length_exceeded",
       Code::kFailedPrecondition},
      {"parent 0, 0 asked", 0, 0, std::nullopt, "path_length_exceeded", Code::kFailedPrecondition},
      {"negative asked", std::nullopt, -1, std::nullopt, "", Code::kInvalidArgument},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<Authority> limited;
    if (c.parent) {
      const int parent_len = *c.parent;
      limited = toAuthority(intermediate([&](IntermediateOptions& o) { o.path_len = parent_len; }));
      ASSERT_EQ(limited->cert.pathLen(), c.parent);
    }
    const Authority& parent = limited ? *limited : root_;
    const auto asked = c.asked;
    auto r = createIntermediate(
        parent, intermediateOptions([&](IntermediateOptions& o) { o.path_len = asked; }), clock_);
    if (c.code == Code::kOk) {
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->cert.pathLen(), c.want);
      // What mutual issues, OpenSSL validates.
      auto leaf = must(issueWorkload(toAuthority(std::move(*r)), workloadOptions(), clock_));
      EXPECT_TRUE(verifySvid(leaf, {root_.cert}));
    } else {
      expectError(r, c.code, c.reason);
    }
  }
}

TEST_F(AuthorityTest, IntermediatePathLenCapIsReported) {
  const Authority parent =
      toAuthority(intermediate([](IntermediateOptions& o) { o.path_len = 1; }));
  auto capped = must(createIntermediate(
      parent, intermediateOptions([](IntermediateOptions& o) { o.path_len = 5; }), clock_));
  EXPECT_EQ(capped.cert.pathLen(), 0);
  EXPECT_NE(capped.note.find("path length capped: asked for 5, issued 0"), std::string::npos)
      << capped.note;
  // Inheriting the limit (nothing asked) or asking within it is no news.
  auto inherited = must(createIntermediate(
      parent, intermediateOptions([](IntermediateOptions&) {}), clock_));
  EXPECT_EQ(inherited.note, "");
  auto within = must(createIntermediate(
      parent, intermediateOptions([](IntermediateOptions& o) { o.path_len = 0; }), clock_));
  EXPECT_EQ(within.note, "");
}

TEST_F(AuthorityTest, IntermediateNameConstraint) {
  auto issued = intermediate([](IntermediateOptions& o) { o.name_constraint = true; });
  EXPECT_EQ(issued.cert.permittedUriConstraints(), std::vector<std::string>{"example.org"});
  EXPECT_TRUE(extensionCritical(issued.cert, NID_name_constraints));
  auto leaf = must(issueWorkload(toAuthority(std::move(issued)), workloadOptions(), clock_));
  EXPECT_TRUE(verifySvid(leaf, {root_.cert}));
}

// A CA without a SPIFFE trust domain (an imported enterprise root, say).
Authority plainCa() {
  auto key = must(crypto::PrivateKey::generate(KeyType::kEcP256));
  crypto::CertSpec spec;
  spec.common_name = "plain root";
  spec.serial = must(crypto::randomSerial());
  spec.not_before = kNow - hours(1);
  spec.not_after = kNow + hours(87600);
  spec.is_ca = true;
  spec.key_usage = crypto::kKeyCertSign | crypto::kCrlSign;
  auto cert = must(crypto::signCertificate(spec, key.get(), nullptr, key));
  return Authority{cert, std::move(key), {}, {cert}};
}

TEST_F(AuthorityTest, IntermediateOfAPlainCa) {
  const Authority plain = plainCa();
  EXPECT_FALSE(plain.trustDomain());
  auto issued = createIntermediate(plain, {}, clock_);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_TRUE(issued->cert.uriSans().empty());
  auto constrained = createIntermediate(
      plain, intermediateOptions([](IntermediateOptions& o) { o.name_constraint = true; }), clock_);
  expectError(constrained, Code::kInvalidArgument, "", "no SPIFFE trust domain");
}

// Hand-made parents mutual itself would never produce.
TEST_F(AuthorityTest, IntermediateRefusesParentsThatCannotSign) {
  auto leaf = must(issueWorkload(root_, workloadOptions(), clock_));
  const Authority leaf_as_ca = toAuthority(std::move(leaf));
  expectError(createIntermediate(leaf_as_ca, {}, clock_), Code::kFailedPrecondition,
              "issuer_not_ca", "not a CA");

  auto key = must(crypto::PrivateKey::generate(KeyType::kEcP256));
  crypto::CertSpec spec;
  spec.common_name = "crl signer";
  spec.serial = must(crypto::randomSerial());
  spec.not_before = kNow - hours(1);
  spec.not_after = kNow + hours(24);
  spec.is_ca = true;
  spec.key_usage = crypto::kCrlSign;  // no keyCertSign
  auto cert = must(crypto::signCertificate(spec, key.get(), &root_.cert, root_.key));
  const Authority no_cert_sign{cert, std::move(key), {cert}, {root_.cert}};
  expectError(createIntermediate(no_cert_sign, {}, clock_), Code::kFailedPrecondition,
              "issuer_not_ca", "keyCertSign");
  expectError(issueWorkload(no_cert_sign, workloadOptions(), clock_), Code::kFailedPrecondition,
              "issuer_not_ca");
}

TEST_F(AuthorityTest, IntermediateCappedByParent) {
  auto short_root = must(createRoot(rootOptions(KeyType::kEcP256, hours(100)), clock_));
  auto issued = must(createIntermediate(short_root, {}, clock_));
  EXPECT_EQ(issued.cert.notAfter(), short_root.cert.notAfter());
  EXPECT_NE(issued.note.find("8760h0m0s"), std::string::npos) << issued.note;
  EXPECT_NE(issued.note.find("100h0m0s"), std::string::npos) << issued.note;
}

TEST_F(AuthorityTest, IntermediateParentValidity) {
  auto short_root = must(createRoot(rootOptions(KeyType::kEcP256, hours(2)), clock_));
  clock_.advance(hours(3));
  expectError(createIntermediate(short_root, {}, clock_), Code::kFailedPrecondition,
              "issuer_expired");
  clock_.set(kNow - hours(1));
  expectError(createIntermediate(short_root, {}, clock_), Code::kFailedPrecondition,
              "issuer_not_yet_valid");
}

TEST_F(AuthorityTest, IntermediateNeedsAName) {
  expectError(
      createIntermediate(root_, intermediateOptions([](IntermediateOptions& o) { o.name.clear(); }),
                         clock_),
      Code::kInvalidArgument, "");
}

TEST_F(AuthorityTest, TwoLevelChainContents) {
  auto int1 = toAuthority(intermediate([](IntermediateOptions& o) { o.name = "level-1"; }));
  auto int2_issued = must(createIntermediate(
      int1, intermediateOptions([](IntermediateOptions& o) { o.name = "level-2"; }), clock_));
  EXPECT_EQ(int2_issued.cert.authorityKeyId(), int1.cert.subjectKeyId());
  EXPECT_EQ(int2_issued.cert.issuer(), int1.cert.subject());
  ASSERT_EQ(int2_issued.chain.size(), 2u);  // itself first, then its parent
  EXPECT_TRUE(same(int2_issued.chain[0], int2_issued.cert));
  EXPECT_TRUE(same(int2_issued.chain[1], int1.cert));
  ASSERT_EQ(int2_issued.bundle.size(), 1u);
  EXPECT_TRUE(same(int2_issued.bundle[0], root_.cert));

  auto leaf = must(issueWorkload(toAuthority(std::move(int2_issued)), workloadOptions(), clock_));
  ASSERT_EQ(leaf.chain.size(), 2u);  // both intermediates, not the root
  auto verified = verifySvid(leaf, {root_.cert});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->path.size(), 4u);
}

// ---- issueWorkload -------------------------------------------------------------------------

TEST_F(AuthorityTest, WorkloadProfile) {
  WorkloadOptions options = workloadOptions();
  options.dns_names = {"web.default.svc", "web"};
  options.ip_addresses = {"10.0.0.7", "fd00::7"};
  auto leaf = must(issueWorkload(root_, options, clock_));
  const Certificate& c = leaf.cert;
  // X509-SVID §2: exactly one URI SAN, other SANs allowed.
  EXPECT_EQ(c.uriSans(), std::vector<std::string>{kWebId});
  EXPECT_EQ(c.dnsSans(), (std::vector<std::string>{"web.default.svc", "web"}));
  EXPECT_EQ(c.ipSans(), (std::vector<std::string>{"10.0.0.7", "fd00::7"}));
  EXPECT_EQ(c.commonName(), "web.default.svc");  // SPIRE: CN = first DNS name
  // §4.1: not a CA; §4.3: digitalSignature only (EC), critical; §4.4: both EKUs.
  EXPECT_FALSE(c.isCa());
  EXPECT_TRUE(c.hasBasicConstraints());
  EXPECT_EQ(c.pathLen(), std::nullopt);
  EXPECT_EQ(c.keyUsage(), std::optional<unsigned>(crypto::kDigitalSignature));
  EXPECT_TRUE(c.keyUsageCritical());
  EXPECT_EQ(c.extendedKeyUsage(), kBothEku);
  // SPIRE credtemplate: 128-bit serial, notBefore now-10s, 1 h default, AKI = issuer SKI.
  EXPECT_EQ(c.serialHex().size(), 32u);
  EXPECT_EQ(c.notBefore(), kNow - seconds(10));
  EXPECT_EQ(c.notAfter(), kNow + hours(1));
  EXPECT_EQ(c.authorityKeyId(), root_.cert.subjectKeyId());
  EXPECT_EQ(c.issuer(), root_.cert.subject());
  EXPECT_TRUE(c.matchesKey(leaf.key));
  EXPECT_TRUE(leaf.chain.empty());  // issued by the root
  ASSERT_EQ(leaf.bundle.size(), 1u);
  EXPECT_TRUE(same(leaf.bundle[0], root_.cert));
  EXPECT_TRUE(leaf.note.empty()) << leaf.note;

  auto profile = spiffe::checkLeafProfile(c);
  ASSERT_TRUE(profile) << profile.error().message;
  EXPECT_EQ(profile->str(), kWebId);
  auto verified = verifySvid(leaf, {root_.cert});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->id.str(), kWebId);
}

TEST_F(AuthorityTest, WorkloadWithoutDnsNames) {
  auto leaf = must(issueWorkload(root_, workloadOptions(), clock_));
  EXPECT_EQ(leaf.cert.commonName(), "");
  EXPECT_EQ(leaf.cert.subject(), "O=mutual");
  EXPECT_TRUE(leaf.cert.dnsSans().empty());
  EXPECT_TRUE(leaf.cert.ipSans().empty());
}

TEST_F(AuthorityTest, WorkloadWithADnsNameLongerThanACommonName) {
  // A valid DNS name of 70 characters cannot be a CN (at most 64): the CN is left out, as
  // without DNS names, and the name is still a SAN.
  const std::string long_name = std::string(60, 'a') + ".svc.x";
  ASSERT_EQ(long_name.size(), 66u);
  WorkloadOptions options = workloadOptions();
  options.dns_names = {long_name, "web"};
  auto leaf = must(issueWorkload(root_, options, clock_));
  EXPECT_EQ(leaf.cert.commonName(), "");
  EXPECT_EQ(leaf.cert.subject(), "O=mutual");
  EXPECT_EQ(leaf.cert.dnsSans(), (std::vector<std::string>{long_name, "web"}));
  // Exactly 64 characters still fits.
  const std::string fits = std::string(58, 'b') + ".svc.x";
  ASSERT_EQ(fits.size(), 64u);
  options.dns_names = {fits};
  EXPECT_EQ(must(issueWorkload(root_, options, clock_)).cert.commonName(), fits);
}

TEST_F(AuthorityTest, WorkloadFromAnIntermediate) {
  auto int_issued = intermediate();
  const Certificate int_cert = int_issued.cert;
  auto leaf = must(issueWorkload(toAuthority(std::move(int_issued)), workloadOptions(), clock_));
  EXPECT_EQ(leaf.cert.authorityKeyId(), int_cert.subjectKeyId());
  ASSERT_EQ(leaf.chain.size(), 1u);
  EXPECT_TRUE(same(leaf.chain[0], int_cert));
  ASSERT_EQ(leaf.bundle.size(), 1u);
  EXPECT_TRUE(same(leaf.bundle[0], root_.cert));
  EXPECT_TRUE(verifySvid(leaf, {root_.cert}));
}

TEST_F(AuthorityTest, WorkloadSerialsAre128BitAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 32; ++i) {
    auto leaf = must(issueWorkload(root_, workloadOptions(), clock_));
    const std::string serial = leaf.cert.serialHex();
    ASSERT_EQ(serial.size(), 32u) << serial;
    EXPECT_EQ(serial.find_first_not_of("0123456789abcdef"), std::string::npos) << serial;
    EXPECT_LE(serial[0], '7') << serial;             // positive: top bit clear
    EXPECT_NE(serial.substr(0, 2), "00") << serial;  // full width
    seen.insert(serial);
  }
  EXPECT_EQ(seen.size(), 32u);
}

TEST_F(AuthorityTest, WorkloadEveryKeyType) {
  for (const auto& c : keyTypeCases()) {
    SCOPED_TRACE(c.description);
    WorkloadOptions options = workloadOptions();
    options.key_type = c.type;
    auto leaf = must(issueWorkload(root_, options, clock_));
    EXPECT_EQ(leaf.cert.publicKeyDescription(), c.description);
    EXPECT_EQ(must(leaf.key.type()), c.type);
    // keyEncipherment for RSA only (X509-SVID §4.3 MAY).
    EXPECT_EQ(leaf.cert.keyUsage(), std::optional<unsigned>(c.leaf_key_usage));
    EXPECT_EQ(leaf.cert.signatureAlgorithm(), "ecdsa-with-SHA256");  // the P-256 root signs
    EXPECT_TRUE(verifySvid(leaf, {root_.cert}));
  }
}

struct UsageCase {
  const char* name;
  bool server;
  bool client;
  unsigned extra;
  Eku want_eku;
  unsigned want_ku;
  const char* reason;  // for failures
  Code code = Code::kOk;
};

TEST_F(AuthorityTest, WorkloadUsagesTable) {
  const std::vector<UsageCase> cases = {
      {"both (default)", true, true, 0, kBothEku, crypto::kDigitalSignature, ""},
      {"server only", true, false, 0, std::vector<std::string>{"serverAuth"},
       crypto::kDigitalSignature, ""},
      {"client only", false, true, 0, std::vector<std::string>{"clientAuth"},
       crypto::kDigitalSignature, ""},
      {"extra keyAgreement (SPIRE's profile)", true, true, crypto::kKeyAgreement, kBothEku,
       crypto::kDigitalSignature | crypto::kKeyAgreement, ""},
      {"neither", false, false, 0, std::nullopt, 0, "", Code::kInvalidArgument},
      {"extra keyCertSign", true, true, crypto::kKeyCertSign, std::nullopt, 0, "leaf_key_cert_sign",
       Code::kInvalidArgument},
      {"extra cRLSign", true, true, crypto::kCrlSign, std::nullopt, 0, "leaf_crl_sign",
       Code::kInvalidArgument},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    WorkloadOptions options = workloadOptions();
    options.usages.server_auth = c.server;
    options.usages.client_auth = c.client;
    options.usages.extra_key_usage = c.extra;
    auto r = issueWorkload(root_, options, clock_);
    if (c.code == Code::kOk) {
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->cert.extendedKeyUsage(), c.want_eku);
      EXPECT_EQ(r->cert.keyUsage(), std::optional<unsigned>(c.want_ku));
      EXPECT_TRUE(spiffe::checkLeafProfile(r->cert));
    } else {
      expectError(r, c.code, c.reason);
    }
  }
}

TEST_F(AuthorityTest, WorkloadTtl) {
  WorkloadOptions options = workloadOptions();
  options.ttl = hours(2);
  auto leaf = must(issueWorkload(root_, options, clock_));
  EXPECT_EQ(leaf.cert.notAfter(), kNow + hours(2));
  EXPECT_TRUE(leaf.note.empty());
  options.ttl = seconds(0);
  expectError(issueWorkload(root_, options, clock_), Code::kInvalidArgument, "");
}

TEST_F(AuthorityTest, WorkloadCappedByIssuerWithNote) {
  auto short_root = must(createRoot(rootOptions(KeyType::kEcP256, minutes(30)), clock_));
  auto leaf = must(issueWorkload(short_root, workloadOptions(), clock_));
  EXPECT_EQ(leaf.cert.notAfter(), short_root.cert.notAfter());
  EXPECT_EQ(leaf.cert.notAfter(), kNow + minutes(30));
  EXPECT_NE(leaf.note.find("1h0m0s"), std::string::npos) << leaf.note;
  EXPECT_NE(leaf.note.find("30m0s"), std::string::npos) << leaf.note;
  EXPECT_TRUE(verifySvid(leaf, {short_root.cert}));
}

TEST_F(AuthorityTest, WorkloadRefusals) {
  expectError(issueWorkload(root_, workloadOptions("spiffe://other.org/ns/default/sa/web"), clock_),
              Code::kInvalidArgument, "trust_domain_mismatch", "other.org");
  expectError(issueWorkload(root_, workloadOptions("spiffe://example.org"), clock_),
              Code::kInvalidArgument, "id_without_path", "no path");

  WorkloadOptions bad_ip = workloadOptions();
  bad_ip.ip_addresses = {"10.0.0.300"};
  expectError(issueWorkload(root_, bad_ip, clock_), Code::kInvalidArgument, "", "10.0.0.300");

  clock_.set(kNow + hours(87600) + seconds(1));
  expectError(issueWorkload(root_, workloadOptions(), clock_), Code::kFailedPrecondition,
              "issuer_expired");
  clock_.set(kNow - hours(1));
  expectError(issueWorkload(root_, workloadOptions(), clock_), Code::kFailedPrecondition,
              "issuer_not_yet_valid");
}

TEST_F(AuthorityTest, WorkloadNotBeforeStopsAtTheIssuers) {
  // The root is valid from kNow-10s. A leaf issued 5 s later cannot be backdated the full 10 s.
  clock_.set(kNow - seconds(5));
  auto early = must(issueWorkload(root_, workloadOptions(), clock_));
  EXPECT_EQ(early.cert.notBefore(), root_.cert.notBefore());
  EXPECT_EQ(early.cert.notBefore(), kNow - seconds(10));
  EXPECT_TRUE(verifySvid(early, {root_.cert}, kNow - seconds(5)));
  clock_.set(kNow + seconds(60));
  auto later = must(issueWorkload(root_, workloadOptions(), clock_));
  EXPECT_EQ(later.cert.notBefore(), kNow + seconds(50));
}

// ---- issueCertificate ----------------------------------------------------------------------

CertificateRequest request(const std::function<void(CertificateRequest&)>& edit) {
  CertificateRequest r;
  edit(r);
  return r;
}

TEST_F(AuthorityTest, GeneralCertificate) {
  auto issued = must(issueCertificate(root_, request([](CertificateRequest& r) {
                                        r.common_name = "app";
                                        r.dns_names = {"app.example.com"};
                                        r.uris = {"https://app.example.com/id"};
                                        r.ip_addresses = {"192.0.2.1"};
                                        r.emails = {"ops@example.com"};
                                      }),
                                      clock_));
  const Certificate& c = issued.cert;
  EXPECT_EQ(c.commonName(), "app");
  EXPECT_EQ(c.dnsSans(), std::vector<std::string>{"app.example.com"});
  EXPECT_EQ(c.uriSans(), std::vector<std::string>{"https://app.example.com/id"});
  EXPECT_EQ(c.ipSans(), std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(c.emailSans(), std::vector<std::string>{"ops@example.com"});
  EXPECT_FALSE(c.isCa());
  EXPECT_EQ(c.keyUsage(), std::optional<unsigned>(crypto::kDigitalSignature));
  EXPECT_EQ(c.extendedKeyUsage(), kBothEku);
  EXPECT_EQ(c.notAfter(), kNow + hours(2160));  // cert-manager's 90 days
  EXPECT_EQ(c.notBefore(), kNow - seconds(10));
  EXPECT_TRUE(issued.chain.empty());
  ASSERT_EQ(issued.bundle.size(), 1u);
  // Not an X509-SVID: its URI is no SPIFFE ID.
  auto profile = spiffe::checkLeafProfile(c);
  ASSERT_FALSE(profile);
  EXPECT_EQ(profile.error().reason, "invalid_spiffe_id");
}

TEST_F(AuthorityTest, SpiffeUriMakesAnSvid) {
  auto issued = must(issueCertificate(root_, request([](CertificateRequest& r) {
                                        r.uris = {kWebId};
                                        r.dns_names = {"web.default.svc"};
                                        r.ttl = hours(1);
                                      }),
                                      clock_));
  auto profile = spiffe::checkLeafProfile(issued.cert);
  ASSERT_TRUE(profile) << profile.error().message;
  EXPECT_EQ(profile->str(), kWebId);
  EXPECT_TRUE(verifySvid(issued, {root_.cert}));
}

TEST_F(AuthorityTest, CertificateRsaKeyGetsKeyEncipherment) {
  auto issued = must(issueCertificate(root_, request([](CertificateRequest& r) {
                                        r.common_name = "legacy";
                                        r.key_type = KeyType::kRsa2048;
                                      }),
                                      clock_));
  EXPECT_EQ(issued.cert.keyUsage(),
            std::optional<unsigned>(crypto::kDigitalSignature | crypto::kKeyEncipherment));
}

struct RequestCase {
  const char* name;
  std::function<void(CertificateRequest&)> edit;
  Code code;
  const char* reason;
  const char* message_part;
};

TEST_F(AuthorityTest, CertificateRefusals) {
  const std::vector<RequestCase> cases = {
      {"X509-SVID §2 SPIFFE ID plus another URI",
       [](CertificateRequest& r) {
         r.uris = {kWebId, "https://example.org/x"};
       },
       Code::kInvalidArgument, "", "exactly one URI SAN"},
      {"X509-SVID §2 two SPIFFE IDs",
       [](CertificateRequest& r) {
         r.uris = {kWebId, "spiffe://example.org/db"};
       },
       Code::kInvalidArgument, "", "exactly one URI SAN"},
      {"X509-SVID §3.1 leaf with the trust domain's ID",
       [](CertificateRequest& r) { r.uris = {"spiffe://example.org"}; }, Code::kInvalidArgument, "",
       "no path"},
      {"X509-SVID §3.2 CA with a path ID",
       [](CertificateRequest& r) {
         r.is_ca = true;
         r.common_name = "sub";
         r.uris = {"spiffe://example.org/sub-ca"};
       },
       Code::kInvalidArgument, "signing_cert_id_has_path", "has a path"},
      {"SPIFFE ID in another trust domain",
       [](CertificateRequest& r) { r.uris = {"spiffe://other.org/x"}; }, Code::kInvalidArgument,
       "trust_domain_mismatch", "other.org"},
      {"malformed SPIFFE ID", [](CertificateRequest& r) { r.uris = {"spiffe://Example.org/x"}; },
       Code::kInvalidArgument, "invalid_spiffe_id", "lowercase"},
      {"X509-SVID §4.3 keyCertSign on a leaf",
       [](CertificateRequest& r) {
         r.uris = {kWebId};
         r.usages.extra_key_usage = crypto::kKeyCertSign;
       },
       Code::kInvalidArgument, "leaf_key_cert_sign", "keyCertSign"},
      {"RFC 5280 §4.2.1.3 keyCertSign on a non-SPIFFE leaf",
       [](CertificateRequest& r) {
         r.common_name = "app";
         r.usages.extra_key_usage = crypto::kKeyCertSign;
       },
       Code::kInvalidArgument, "leaf_key_cert_sign", "keyCertSign"},
      {"X509-SVID §4.3 cRLSign on an SVID",
       [](CertificateRequest& r) {
         r.uris = {kWebId};
         r.usages.extra_key_usage = crypto::kCrlSign;
       },
       Code::kInvalidArgument, "leaf_crl_sign", "cRLSign"},
      {"names nothing", [](CertificateRequest&) {}, Code::kInvalidArgument, "", "names nothing"},
      {"TTL zero",
       [](CertificateRequest& r) {
         r.common_name = "app";
         r.ttl = seconds(0);
       },
       Code::kInvalidArgument, "", "TTL"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expectError(issueCertificate(root_, request(c.edit), clock_), c.code, c.reason, c.message_part);
  }
}

TEST_F(AuthorityTest, CertificateAsCa) {
  auto issued = must(issueCertificate(root_, request([](CertificateRequest& r) {
                                        r.is_ca = true;
                                        r.common_name = "sub-ca";
                                        r.uris = {"spiffe://example.org"};
                                        r.ttl = hours(24);
                                      }),
                                      clock_));
  const Certificate& c = issued.cert;
  EXPECT_TRUE(c.isCa());
  EXPECT_EQ(c.keyUsage(), std::optional<unsigned>(crypto::kKeyCertSign | crypto::kCrlSign));
  EXPECT_EQ(c.extendedKeyUsage(), std::nullopt);
  EXPECT_EQ(c.authorityKeyId(), root_.cert.subjectKeyId());
  ASSERT_EQ(issued.chain.size(), 1u);
  EXPECT_TRUE(same(issued.chain[0], c));
  EXPECT_TRUE(spiffe::checkSigningProfile(c, 1));
  // Usable as an authority.
  auto sub = toAuthority(std::move(issued));
  ASSERT_TRUE(sub.trustDomain());
  auto leaf = must(issueWorkload(sub, workloadOptions(), clock_));
  EXPECT_TRUE(verifySvid(leaf, {root_.cert}));
}

TEST_F(AuthorityTest, CertificateAsCaUnderPathLenZero) {
  auto limited = toAuthority(intermediate([](IntermediateOptions& o) { o.path_len = 0; }));
  expectError(issueCertificate(limited, request([](CertificateRequest& r) {
                                 r.is_ca = true;
                                 r.common_name = "too deep";
                               }),
                               clock_),
              Code::kFailedPrecondition, "path_length_exceeded");
  // Leaves are still fine.
  EXPECT_TRUE(issueCertificate(
      limited, request([](CertificateRequest& r) { r.common_name = "leaf"; }), clock_));
}

// cert-manager's rotationPolicy Never: the given key is reused, key_type is ignored.
TEST_F(AuthorityTest, CertificateWithAGivenKey) {
  auto key = must(crypto::PrivateKey::generate(KeyType::kEcP384));
  const std::string key_pem = must(key.toPkcs8Pem());
  auto issued = must(issueCertificate(root_, request([](CertificateRequest& r) {
                                        r.common_name = "app";
                                        r.key_type = KeyType::kEd25519;
                                      }),
                                      clock_, std::move(key)));
  EXPECT_EQ(must(issued.key.toPkcs8Pem()), key_pem);
  EXPECT_EQ(issued.cert.publicKeyDescription(), "EC P-384");
  EXPECT_TRUE(issued.cert.matchesKey(issued.key));
}

// ---- files ---------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mutual-ca-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

unsigned modeOf(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

void put(const fs::path& path, const std::string& content) {
  auto ok = writeFileAtomic(path, content, 0644);
  if (!ok) throw std::runtime_error(ok.error().message);
}

std::vector<Certificate> certsIn(const fs::path& path) {
  return must(crypto::parsePemCertificates(must(readFile(path))));
}

class AuthorityFilesTest : public AuthorityTest {
 protected:
  TempDir tmp_;
  fs::path dir_ = tmp_.path() / "ca";
};

TEST_F(AuthorityFilesTest, RootRoundTrip) {
  ASSERT_TRUE(writeRoot(dir_, root_));
  EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600u);
  EXPECT_EQ(modeOf(dir_ / "ca.crt"), 0644u);
  EXPECT_FALSE(fs::exists(dir_ / "chain.crt"));
  EXPECT_FALSE(fs::exists(dir_ / "bundle.crt"));
  // Nothing left behind by the atomic writes.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);

  auto loaded = loadAuthority(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(same(loaded->cert, root_.cert));
  EXPECT_TRUE(loaded->cert.matchesKey(loaded->key));
  EXPECT_EQ(must(loaded->key.toPkcs8Pem()), must(root_.key.toPkcs8Pem()));
  EXPECT_TRUE(loaded->chain.empty());
  ASSERT_EQ(loaded->roots.size(), 1u);
  EXPECT_TRUE(same(loaded->roots[0], root_.cert));
  EXPECT_EQ(loaded->trustDomain()->name(), "example.org");
}

TEST_F(AuthorityFilesTest, RewritingReplaces) {
  ASSERT_TRUE(writeRoot(dir_, root_));
  auto second = must(createRoot(rootOptions(), clock_));
  ASSERT_TRUE(writeRoot(dir_, second));
  EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600u);
  auto loaded = must(loadAuthority(dir_));
  EXPECT_TRUE(same(loaded.cert, second.cert));
}

TEST_F(AuthorityFilesTest, IntermediateRoundTrip) {
  auto issued = intermediate();
  ASSERT_TRUE(writeIntermediate(dir_, issued));
  EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600u);
  EXPECT_EQ(modeOf(dir_ / "ca.crt"), 0644u);
  ASSERT_EQ(certsIn(dir_ / "chain.crt").size(), 1u);
  EXPECT_TRUE(same(certsIn(dir_ / "chain.crt")[0], issued.cert));
  ASSERT_EQ(certsIn(dir_ / "bundle.crt").size(), 1u);
  EXPECT_TRUE(same(certsIn(dir_ / "bundle.crt")[0], root_.cert));

  auto loaded = loadAuthority(dir_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(same(loaded->cert, issued.cert));
  ASSERT_EQ(loaded->chain.size(), 1u);
  EXPECT_TRUE(same(loaded->chain[0], issued.cert));
  ASSERT_EQ(loaded->roots.size(), 1u);
  EXPECT_TRUE(same(loaded->roots[0], root_.cert));
  // The loaded authority issues SVIDs that validate.
  auto leaf = must(issueWorkload(*loaded, workloadOptions(), clock_));
  EXPECT_TRUE(verifySvid(leaf, {root_.cert}));

  // Without chain.crt an intermediate is its own chain.
  fs::remove(dir_ / "chain.crt");
  auto no_chain = must(loadAuthority(dir_));
  ASSERT_EQ(no_chain.chain.size(), 1u);
  EXPECT_TRUE(same(no_chain.chain[0], issued.cert));
}

TEST_F(AuthorityFilesTest, LeafFiles) {
  auto int_auth = toAuthority(intermediate());
  auto leaf = must(issueWorkload(int_auth, workloadOptions(), clock_));
  ASSERT_TRUE(writeLeaf(dir_, leaf));
  EXPECT_EQ(modeOf(dir_ / "tls.key"), 0600u);
  EXPECT_EQ(modeOf(dir_ / "tls.crt"), 0644u);
  EXPECT_EQ(modeOf(dir_ / "ca.crt"), 0644u);
  const auto tls = certsIn(dir_ / "tls.crt");
  ASSERT_EQ(tls.size(), 2u);  // leaf, then the intermediate
  EXPECT_TRUE(same(tls[0], leaf.cert));
  EXPECT_TRUE(same(tls[1], int_auth.cert));
  const auto ca = certsIn(dir_ / "ca.crt");
  ASSERT_EQ(ca.size(), 1u);
  EXPECT_TRUE(same(ca[0], root_.cert));
  auto key = must(crypto::PrivateKey::fromPem(must(readFile(dir_ / "tls.key"))));
  EXPECT_TRUE(leaf.cert.matchesKey(key));

  auto rendered = must(renderLeaf(leaf));
  EXPECT_EQ(rendered.tls_crt, must(readFile(dir_ / "tls.crt")));
  EXPECT_EQ(rendered.tls_key, must(readFile(dir_ / "tls.key")));
  EXPECT_EQ(rendered.ca_crt, must(readFile(dir_ / "ca.crt")));
}

void expectLoadError(const fs::path& dir, Code code, const std::string& reason,
                     const std::vector<std::string>& message_parts) {
  auto r = loadAuthority(dir);
  ASSERT_FALSE(r) << "loaded " << r->cert.subject();
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_EQ(r.error().reason, reason) << r.error().message;
  for (const auto& part : message_parts) {
    EXPECT_NE(r.error().message.find(part), std::string::npos)
        << "\"" << part << "\" not in: " << r.error().message;
  }
}

TEST_F(AuthorityFilesTest, MissingFilesAreNamed) {
  expectLoadError(dir_, Code::kNotFound, "", {(dir_ / "ca.crt").string()});
  fs::create_directories(dir_);
  expectLoadError(dir_, Code::kNotFound, "", {(dir_ / "ca.crt").string()});
  put(dir_ / "ca.crt", must(root_.cert.toPem()));
  expectLoadError(dir_, Code::kNotFound, "", {(dir_ / "ca.key").string()});
}

TEST_F(AuthorityFilesTest, MalformedFilesAreNamed) {
  ASSERT_TRUE(writeIntermediate(dir_, intermediate()));
  ASSERT_TRUE(loadAuthority(dir_));
  const std::string key_pem = must(readFile(dir_ / "ca.key"));
  const std::string crt_pem = must(readFile(dir_ / "ca.crt"));
  struct Row {
    const char* file;
    std::string content;
  };
  const std::vector<Row> rows = {
      {"ca.crt", "not a certificate\n"},
      {"ca.crt", crt_pem.substr(0, crt_pem.size() / 2)},  // truncated
      {"ca.crt", key_pem},                                // a key where a cert belongs
      {"ca.key", "not a key\n"},
      {"ca.key", crt_pem},
      {"chain.crt", "garbage\n"},
      {"bundle.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(std::string(row.file) + ": " + row.content.substr(0, 30));
    const fs::path file = dir_ / row.file;
    const std::string original = must(readFile(file));
    put(file, row.content);
    auto r = loadAuthority(dir_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << r.error().message;
    // The message starts with the file at fault.
    EXPECT_EQ(r.error().message.rfind(file.string(), 0), 0u) << r.error().message;
    put(file, original);
  }
  EXPECT_TRUE(loadAuthority(dir_));  // restored
}

TEST_F(AuthorityFilesTest, MismatchedKey) {
  ASSERT_TRUE(writeRoot(dir_, root_));
  auto other = must(crypto::PrivateKey::generate(KeyType::kEcP256));
  put(dir_ / "ca.key", must(other.toPkcs8Pem()));
  expectLoadError(dir_, Code::kInvalidArgument, "",
                  {(dir_ / "ca.key").string(), (dir_ / "ca.crt").string(), "does not match"});
}

// A leaf's certificate and key put where a CA's belong.
TEST_F(AuthorityFilesTest, LeafUsedAsCa) {
  auto leaf = must(issueWorkload(root_, workloadOptions(), clock_));
  put(dir_ / "ca.crt", must(leaf.cert.toPem()));
  put(dir_ / "ca.key", must(leaf.key.toPkcs8Pem()));
  put(dir_ / "bundle.crt", must(root_.cert.toPem()));
  expectLoadError(dir_, Code::kFailedPrecondition, "issuer_not_ca",
                  {(dir_ / "ca.crt").string(), "not a CA"});
}

// A directory written by writeLeaf is no authority directory: it has no ca.key (its ca.crt is
// the bundle).
TEST_F(AuthorityFilesTest, LeafDirectoryIsNotAnAuthority) {
  ASSERT_TRUE(writeLeaf(dir_, must(issueWorkload(root_, workloadOptions(), clock_))));
  expectLoadError(dir_, Code::kNotFound, "", {(dir_ / "ca.key").string()});
}

TEST_F(AuthorityFilesTest, IntermediateWithoutBundle) {
  ASSERT_TRUE(writeIntermediate(dir_, intermediate()));
  fs::remove(dir_ / "bundle.crt");
  expectLoadError(dir_, Code::kInvalidArgument, "", {dir_.string(), "bundle.crt"});
}

}  // namespace
}  // namespace mutual::ca
