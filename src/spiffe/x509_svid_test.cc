#include "base/testing.h"
#include "spiffe/x509_svid.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/time.h"
#include "ca/authority.h"
#include "crypto/cert_builder.h"

// X509-SVID validation (reference/spiffe.md §2.1, §2.2): every reason code listed in
// x509_svid.h, the chain reasons of crypto::verifyChain, and the options.

namespace mutual::spiffe {
namespace {

using crypto::Certificate;
using crypto::CertSpec;
using crypto::KeyType;
using crypto::PrivateKey;
using std::chrono::hours;
using std::chrono::seconds;

const TimePoint kNow = fromUnix(1'780'000'000);  // 2026-05-28
constexpr char kWebId[] = "spiffe://example.org/ns/default/sa/web";

using mutual::testing::must;

ca::Authority toAuthority(ca::Issued issued) {
  return ca::Authority{std::move(issued.cert), std::move(issued.key), std::move(issued.chain),
                       std::move(issued.bundle)};
}

// A leaf that passes every rule; the table rows change one thing each.
CertSpec goodLeafSpec() {
  CertSpec spec;
  spec.organization = "test";
  spec.serial = must(crypto::randomSerial());
  spec.not_before = kNow - seconds(10);
  spec.not_after = kNow + hours(1);
  spec.key_usage = crypto::kDigitalSignature;
  spec.server_auth = true;
  spec.client_auth = true;
  spec.uris = {kWebId};
  return spec;
}

CertSpec goodCaSpec(std::string name) {
  CertSpec spec;
  spec.organization = "test";
  spec.common_name = std::move(name);
  spec.serial = must(crypto::randomSerial());
  spec.not_before = kNow - seconds(10);
  spec.not_after = kNow + hours(24);
  spec.is_ca = true;
  spec.key_usage = crypto::kKeyCertSign | crypto::kCrlSign;
  spec.uris = {"spiffe://example.org"};
  return spec;
}

struct Crafted {
  Certificate cert;
  PrivateKey key;
};

// Signs `spec` by `issuer` for a new P-256 key.
Crafted craft(const CertSpec& spec, const Certificate& issuer, const PrivateKey& issuer_key) {
  auto key = must(PrivateKey::generate(KeyType::kEcP256));
  auto cert = must(crypto::signCertificate(spec, key.get(), &issuer, issuer_key));
  return {std::move(cert), std::move(key)};
}

// Re-signs a copy of `cert` after `edit` changed it, then re-parses it, so every cached
// extension flag is computed afresh.
Certificate resign(const Certificate& cert, const std::function<void(X509*)>& edit,
                   const PrivateKey& signer) {
  crypto::X509Ptr copy(X509_dup(cert.get()));
  edit(copy.get());
  if (X509_sign(copy.get(), signer.get(), EVP_sha256()) <= 0) throw std::runtime_error("sign");
  unsigned char* der = nullptr;
  const int len = i2d_X509(copy.get(), &der);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return must(Certificate::fromDer(bytes));
}

ca::RootOptions rootOptions(const TrustDomain& td, KeyType type = KeyType::kEcP256) {
  return {td, hours(87600), type, ""};
}

ca::IntermediateOptions intermediateOptions(std::function<void(ca::IntermediateOptions&)> edit) {
  ca::IntermediateOptions options;
  edit(options);
  return options;
}

ca::WorkloadOptions workloadOptions(const SpiffeId& id) {
  return {id, {"web.example.org"}, {}, hours(1), {}, KeyType::kEcP256};
}

SvidOptions svidOptions(std::function<void(SvidOptions&)> edit) {
  SvidOptions options;
  options.at = kNow;
  edit(options);
  return options;
}

bool same(const Certificate& a, const Certificate& b) {
  return a.sha256Fingerprint() == b.sha256Fingerprint();
}

class SvidTest : public ::testing::Test {
 protected:
  SvidTest() { bundles_ = bundlesFor({root_.cert}); }

  static BundleSet bundlesFor(std::vector<Certificate> roots, const char* td = "example.org") {
    BundleSet set;
    auto ok = set.put(X509Bundle{must(TrustDomain::parse(td)), std::move(roots), {}, {}, {}});
    if (!ok) throw std::runtime_error(ok.error().message);
    return set;
  }

  ca::Issued workload(const ca::Authority& ca, ca::WorkloadOptions options) {
    return must(ca::issueWorkload(ca, options, clock_));
  }
  ca::Issued workload(const ca::Authority& ca) { return workload(ca, workloadOptions(web_)); }

  Result<VerifiedSvid> verify(const std::vector<Certificate>& chain) {
    return verifyX509Svid(chain, bundles_, svidOptions([](SvidOptions&) {}));
  }
  Result<VerifiedSvid> verify(const std::vector<Certificate>& chain, const SvidOptions& options) {
    return verifyX509Svid(chain, bundles_, options);
  }

  // `reason` may list alternatives, "a|b", where crypto::verifyChain's mapping of an OpenSSL
  // error is not ours to pin.
  void expectReject(const Result<VerifiedSvid>& r, const std::string& reason) {
    ASSERT_FALSE(r) << "accepted " << r->id.str();
    if (reason.find('|') == std::string::npos) {
      EXPECT_EQ(r.error().reason, reason) << r.error().message;
    } else {
      EXPECT_FALSE(r.error().reason.empty());
      EXPECT_NE(("|" + reason + "|").find("|" + r.error().reason + "|"), std::string::npos)
          << r.error().reason << ": " << r.error().message;
    }
    EXPECT_EQ(r.error().code, Code::kPermissionDenied) << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }

  FakeClock clock_{kNow};
  TrustDomain td_ = must(TrustDomain::parse("example.org"));
  SpiffeId web_ = must(SpiffeId::parse(kWebId));
  ca::Authority root_ = must(ca::createRoot(rootOptions(td_), clock_));
  BundleSet bundles_;
};

TEST_F(SvidTest, AcceptsAnIssuedWorkload) {
  auto leaf = workload(root_);
  auto ok = verify({leaf.cert});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->id, web_);
  ASSERT_EQ(ok->path.size(), 2u);
  EXPECT_TRUE(same(ok->path[0], leaf.cert));
  EXPECT_TRUE(same(ok->path[1], root_.cert));
  // The peer may also send the root; the path is the same.
  auto with_root = verify({leaf.cert, root_.cert});
  ASSERT_TRUE(with_root) << with_root.error().message;
  EXPECT_EQ(with_root->path.size(), 2u);
}

TEST_F(SvidTest, NoCertificate) { expectReject(verify({}), "no_certificate"); }

struct LeafCase {
  const char* name;
  std::function<void(CertSpec&)> edit;
  const char* reason;  // "" = accepted
};

// X509-SVID §2, §3.1, §4.1, §4.3, §5.2: the leaf rules, each row one deviation from a good leaf.
TEST_F(SvidTest, LeafProfileTable) {
  const std::vector<LeafCase> cases = {
      {"control: good leaf", [](CertSpec&) {}, ""},
      {"§2 no SAN at all", [](CertSpec& s) { s.uris.clear(); }, "no_uri_san"},
      {"§2 DNS SAN only",
       [](CertSpec& s) {
         s.uris.clear();
         s.dns_names = {"web.example.org"};
       },
       "no_uri_san"},
      {"§2 two SPIFFE URI SANs", [](CertSpec& s) { s.uris.push_back("spiffe://example.org/db"); },
       "multiple_uri_sans"},
      {"§2 SPIFFE and https URI SANs",
       [](CertSpec& s) { s.uris.push_back("https://example.org/x"); }, "multiple_uri_sans"},
      {"§2 https URI", [](CertSpec& s) { s.uris = {"https://example.org/web"}; },
       "invalid_spiffe_id"},
      {"SPIFFE-ID port", [](CertSpec& s) { s.uris = {"spiffe://example.org:8443/x"}; },
       "invalid_spiffe_id"},
      {"SPIFFE-ID uppercase TD", [](CertSpec& s) { s.uris = {"spiffe://Example.org/x"}; },
       "invalid_spiffe_id"},
      {"SPIFFE-ID mixed-case scheme", [](CertSpec& s) { s.uris = {"Spiffe://example.org/x"}; },
       "invalid_spiffe_id"},
      {"SPIFFE-ID trailing slash", [](CertSpec& s) { s.uris = {"spiffe://example.org/x/"}; },
       "invalid_spiffe_id"},
      {"§3.1 ID without path", [](CertSpec& s) { s.uris = {"spiffe://example.org"}; },
       "id_without_path"},
      {"§4.1 cA=true", [](CertSpec& s) { s.is_ca = true; }, "leaf_is_ca"},
      {"§4.1 CA with keyCertSign and a path ID",
       [](CertSpec& s) {
         s.is_ca = true;
         s.key_usage = crypto::kDigitalSignature | crypto::kKeyCertSign;
       },
       "leaf_is_ca"},
      {"§4.3 no keyUsage", [](CertSpec& s) { s.key_usage = 0; }, "leaf_no_key_usage"},
      {"§4.3 keyEncipherment only", [](CertSpec& s) { s.key_usage = crypto::kKeyEncipherment; },
       "leaf_no_digital_signature"},
      {"§4.3 keyAgreement only", [](CertSpec& s) { s.key_usage = crypto::kKeyAgreement; },
       "leaf_no_digital_signature"},
      {"§4.3 keyCertSign",
       [](CertSpec& s) { s.key_usage = crypto::kDigitalSignature | crypto::kKeyCertSign; },
       "leaf_key_cert_sign"},
      {"§4.3 cRLSign",
       [](CertSpec& s) { s.key_usage = crypto::kDigitalSignature | crypto::kCrlSign; },
       "leaf_crl_sign"},
      // Allowed variations.
      {"§4.3 MAY keyEncipherment and keyAgreement",
       [](CertSpec& s) { s.key_usage |= crypto::kKeyEncipherment | crypto::kKeyAgreement; }, ""},
      {"§4.4 EKU is only a SHOULD",
       [](CertSpec& s) {
         s.server_auth = false;
         s.client_auth = false;
       },
       ""},
      {"§2 other SANs allowed",
       [](CertSpec& s) {
         s.dns_names = {"web.example.org", "web"};
         s.ip_addresses = {"10.0.0.1", "::1"};
       },
       ""},
      {"§3.1 empty subject (SAN becomes critical)",
       [](CertSpec& s) {
         s.organization.clear();
         s.common_name.clear();
       },
       ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CertSpec spec = goodLeafSpec();
    c.edit(spec);
    auto leaf = craft(spec, root_.cert, root_.key);
    auto profile = checkLeafProfile(leaf.cert);
    auto full = verify({leaf.cert});
    if (std::string(c.reason).empty()) {
      ASSERT_TRUE(profile) << profile.error().message;
      EXPECT_EQ(profile->str(), kWebId);
      ASSERT_TRUE(full) << full.error().message;
      EXPECT_EQ(full->id.str(), kWebId);
    } else {
      ASSERT_FALSE(profile);
      EXPECT_EQ(profile.error().reason, c.reason) << profile.error().message;
      EXPECT_EQ(profile.error().code, Code::kPermissionDenied);
      expectReject(full, c.reason);
    }
  }
}

TEST_F(SvidTest, LeafKeyUsageNotCritical) {
  auto leaf = craft(goodLeafSpec(), root_.cert, root_.key);
  const auto non_critical_ku = [](X509* x) {
    X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1)));
    ASN1_BIT_STRING* ku = ASN1_BIT_STRING_new();
    ASN1_BIT_STRING_set_bit(ku, 0, 1);  // digitalSignature
    X509_add1_ext_i2d(x, NID_key_usage, ku, /*crit=*/0, X509V3_ADD_DEFAULT);
    ASN1_BIT_STRING_free(ku);
  };
  auto edited = resign(leaf.cert, non_critical_ku, root_.key);
  ASSERT_EQ(edited.keyUsage(), std::optional<unsigned>(crypto::kDigitalSignature));
  ASSERT_FALSE(edited.keyUsageCritical());
  auto profile = checkLeafProfile(edited);
  ASSERT_FALSE(profile);
  EXPECT_EQ(profile.error().reason, "leaf_key_usage_not_critical");
  expectReject(verify({edited}), "leaf_key_usage_not_critical");
  // Control: the unedited leaf, re-signed the same way, passes.
  ASSERT_TRUE(verify({resign(
      leaf.cert, [](X509*) {}, root_.key)}));
}

// A CA certificate presented as a leaf: its ID has no path, which is checked first.
TEST_F(SvidTest, CaAsLeaf) {
  expectReject(verify({root_.cert}), "id_without_path");
  auto intermediate = must(ca::createIntermediate(root_, {}, clock_));
  expectReject(verify({intermediate.cert}), "id_without_path");
}

struct SigningCase {
  const char* name;
  std::function<void(CertSpec&)> edit;
  const char* reason;  // "" = accepted
};

// X509-SVID §3.2, §4.1, §4.3: the signing-certificate rules, checked directly.
TEST_F(SvidTest, SigningProfileTable) {
  const std::vector<SigningCase> cases = {
      {"control: good CA", [](CertSpec&) {}, ""},
      {"§3.2 CA without URI SAN", [](CertSpec& s) { s.uris.clear(); }, ""},
      {"§3.2 non-SPIFFE URI ignored", [](CertSpec& s) { s.uris = {"https://ca.example.org/x"}; },
       ""},
      {"§4.2 path length", [](CertSpec& s) { s.path_len = 0; }, ""},
      {"§4.1 not a CA",
       [](CertSpec& s) {
         s.is_ca = false;
         s.key_usage = crypto::kDigitalSignature;
       },
       "signing_cert_not_ca"},
      {"§4.3 cRLSign without keyCertSign", [](CertSpec& s) { s.key_usage = crypto::kCrlSign; },
       "signing_cert_no_key_cert_sign"},
      {"§4.3 digitalSignature only", [](CertSpec& s) { s.key_usage = crypto::kDigitalSignature; },
       "signing_cert_no_key_cert_sign"},
      {"§4.3 no keyUsage at all", [](CertSpec& s) { s.key_usage = 0; },
       "signing_cert_no_key_cert_sign"},
      {"§3.2 SPIFFE ID with a path",
       [](CertSpec& s) { s.uris = {"spiffe://example.org/intermediate"}; },
       "signing_cert_id_has_path"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CertSpec spec = goodCaSpec("signing");
    c.edit(spec);
    auto ca = craft(spec, root_.cert, root_.key);
    auto ok = checkSigningProfile(ca.cert, 2);
    if (std::string(c.reason).empty()) {
      EXPECT_TRUE(ok) << ok.error().message;
    } else {
      ASSERT_FALSE(ok);
      EXPECT_EQ(ok.error().reason, c.reason) << ok.error().message;
      EXPECT_EQ(ok.error().code, Code::kPermissionDenied);
      // The message says which certificate of the chain is at fault.
      EXPECT_NE(ok.error().message.find("depth 2"), std::string::npos) << ok.error().message;
      EXPECT_NE(ok.error().message.find("CN=signing"), std::string::npos) << ok.error().message;
    }
  }
  EXPECT_TRUE(checkSigningProfile(root_.cert, 1));
}

// The same bad signing certificates as intermediates of a real chain: either OpenSSL's path
// validation or the signing profile rejects each one.
TEST_F(SvidTest, BadIntermediatesInAChain) {
  const std::vector<SigningCase> cases = {
      {"control: good intermediate", [](CertSpec&) {}, ""},
      {"§3.2 ID with a path", [](CertSpec& s) { s.uris = {"spiffe://example.org/intermediate"}; },
       "signing_cert_id_has_path"},
      // RFC 5280 path validation catches these before the SPIFFE rules run.
      {"§4.1 not a CA",
       [](CertSpec& s) {
         s.is_ca = false;
         s.key_usage = crypto::kDigitalSignature;
       },
       "issuer_not_ca"},
      // OpenSSL's X509_check_ca: a keyUsage without keyCertSign makes it no CA ("invalid CA
      // certificate"); the reason says which rule.
      {"§4.3 no keyCertSign", [](CertSpec& s) { s.key_usage = crypto::kCrlSign; },
       "issuer_cannot_sign"},
      // X509_V_FLAG_X509_STRICT: X509_V_ERR_CA_CERT_MISSING_KEY_USAGE.
      {"§4.3 no keyUsage", [](CertSpec& s) { s.key_usage = 0; },
       "invalid_certificate|invalid_chain"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CertSpec spec = goodCaSpec("intermediate");
    c.edit(spec);
    auto intermediate = craft(spec, root_.cert, root_.key);
    auto leaf = craft(goodLeafSpec(), intermediate.cert, intermediate.key);
    auto r = verify({leaf.cert, intermediate.cert});
    if (std::string(c.reason).empty()) {
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->path.size(), 3u);
    } else {
      expectReject(r, c.reason);
    }
  }
}

TEST_F(SvidTest, ChainReasonExpired) {
  auto leaf = workload(root_);
  const TimePoint not_after = leaf.cert.notAfter();
  ASSERT_TRUE(
      verify({leaf.cert}, svidOptions([&](SvidOptions& o) { o.at = not_after - seconds(1); })));
  auto r = verify({leaf.cert}, svidOptions([&](SvidOptions& o) { o.at = not_after + seconds(1); }));
  ASSERT_NO_FATAL_FAILURE(expectReject(r, "expired"));
  EXPECT_NE(r.error().message.find("leaf certificate"), std::string::npos) << r.error().message;
}

TEST_F(SvidTest, ChainReasonNotYetValid) {
  clock_.set(kNow + hours(2));
  auto leaf = workload(root_);
  const TimePoint not_before = leaf.cert.notBefore();
  ASSERT_TRUE(verify({leaf.cert}, svidOptions([&](SvidOptions& o) { o.at = not_before; })));
  expectReject(
      verify({leaf.cert}, svidOptions([&](SvidOptions& o) { o.at = not_before - seconds(1); })),
      "not_yet_valid");
}

TEST_F(SvidTest, ChainReasonExpiredIntermediate) {
  auto intermediate = must(ca::createIntermediate(
      root_, intermediateOptions([](ca::IntermediateOptions& o) { o.ttl = hours(2); }), clock_));
  const auto int_auth = toAuthority(std::move(intermediate));
  auto leaf = workload(int_auth);  // 1 h, inside the intermediate's 2 h
  clock_.advance(hours(3));
  const TimePoint later = clock_.now();
  expectReject(
      verify({leaf.cert, int_auth.cert}, svidOptions([&](SvidOptions& o) { o.at = later; })),
      "expired");
}

// A root with the same name and trust domain but another key: the bundle does not hold it.
TEST_F(SvidTest, ChainReasonUnknownCa) {
  auto impostor = must(ca::createRoot(rootOptions(td_), clock_));
  ASSERT_EQ(impostor.cert.subject(), root_.cert.subject());
  auto leaf = workload(impostor);
  expectReject(verify({leaf.cert}), "unknown_ca");
  expectReject(verify({leaf.cert, impostor.cert}), "unknown_ca");
}

TEST_F(SvidTest, ChainReasonMissingIntermediate) {
  auto int_auth = toAuthority(must(ca::createIntermediate(root_, {}, clock_)));
  auto leaf = workload(int_auth);
  ASSERT_TRUE(verify({leaf.cert, int_auth.cert}));
  expectReject(verify({leaf.cert}), "unknown_ca");
}

TEST_F(SvidTest, ChainReasonBadSignature) {
  auto leaf = workload(root_);
  auto forger = must(PrivateKey::generate(KeyType::kEcP256));
  // Same issuer name and AKI, signed by a key that is not the root's.
  auto forged = resign(
      leaf.cert, [](X509*) {}, forger);
  expectReject(verify({forged}), "bad_signature");
}

TEST_F(SvidTest, ChainReasonPathLengthExceeded) {
  auto int1 = toAuthority(must(ca::createIntermediate(
      root_, intermediateOptions([](ca::IntermediateOptions& o) { o.path_len = 0; }), clock_)));
  ASSERT_EQ(int1.cert.pathLen(), 0);
  // mutual refuses to sign below a pathLen 0 CA, so craft the second level by hand.
  auto int2 = craft(goodCaSpec("level-2"), int1.cert, int1.key);
  auto leaf = craft(goodLeafSpec(), int2.cert, int2.key);
  expectReject(verify({leaf.cert, int2.cert, int1.cert}), "path_length_exceeded");
}

// The intermediate is constrained to URIs in example.org. A leaf of another trust domain under
// it is refused even if that trust domain's bundle (wrongly) holds example.org's root.
TEST_F(SvidTest, ChainReasonNameConstraintViolation) {
  auto int_auth = toAuthority(must(ca::createIntermediate(
      root_, intermediateOptions([](ca::IntermediateOptions& o) { o.name_constraint = true; }),
      clock_)));
  ASSERT_EQ(int_auth.cert.permittedUriConstraints(), std::vector<std::string>{"example.org"});
  auto good = workload(int_auth);
  ASSERT_TRUE(verify({good.cert, int_auth.cert}));

  CertSpec spec = goodLeafSpec();
  spec.uris = {"spiffe://other.org/x"};
  auto foreign = craft(spec, int_auth.cert, int_auth.key);
  bundles_ = bundlesFor({root_.cert}, "other.org");
  expectReject(verify({foreign.cert, int_auth.cert}), "name_constraint_violation");
}

TEST_F(SvidTest, Purpose) {
  auto both = workload(root_);
  auto server_options = workloadOptions(web_);
  server_options.usages.client_auth = false;
  auto server_only = workload(root_, server_options);
  auto client_options = workloadOptions(web_);
  client_options.usages.server_auth = false;
  auto client_only = workload(root_, client_options);
  using crypto::Purpose;
  struct Row {
    const Certificate* cert;
    Purpose purpose;
    const char* reason;
  };
  const std::vector<Row> rows = {
      {&both.cert, Purpose::kAny, ""},
      {&both.cert, Purpose::kServerAuth, ""},
      {&both.cert, Purpose::kClientAuth, ""},
      {&server_only.cert, Purpose::kServerAuth, ""},
      {&server_only.cert, Purpose::kClientAuth, "wrong_purpose"},
      {&client_only.cert, Purpose::kClientAuth, ""},
      {&client_only.cert, Purpose::kServerAuth, "wrong_purpose"},
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    const auto purpose = rows[i].purpose;
    auto r = verify({*rows[i].cert}, svidOptions([&](SvidOptions& o) { o.purpose = purpose; }));
    if (std::string(rows[i].reason).empty()) {
      EXPECT_TRUE(r) << r.error().message;
    } else {
      expectReject(r, rows[i].reason);
    }
  }
}

TEST_F(SvidTest, DnsName) {
  auto leaf = workload(root_);
  EXPECT_TRUE(
      verify({leaf.cert}, svidOptions([](SvidOptions& o) { o.dns_name = "web.example.org"; })));
  expectReject(
      verify({leaf.cert}, svidOptions([](SvidOptions& o) { o.dns_name = "db.example.org"; })),
      "name_mismatch");
}

TEST_F(SvidTest, ExpectedTrustDomain) {
  auto leaf = workload(root_);
  EXPECT_TRUE(verify({leaf.cert}, svidOptions([&](SvidOptions& o) { o.trust_domain = td_; })));
  const auto other = must(TrustDomain::parse("other.org"));
  auto r = verify({leaf.cert}, svidOptions([&](SvidOptions& o) { o.trust_domain = other; }));
  ASSERT_NO_FATAL_FAILURE(expectReject(r, "trust_domain_mismatch"));
  EXPECT_NE(r.error().message.find("other.org"), std::string::npos) << r.error().message;
}

TEST_F(SvidTest, AllowedIds) {
  auto leaf = workload(root_);
  const auto db = must(SpiffeId::parse("spiffe://example.org/ns/default/sa/db"));
  const auto api = must(SpiffeId::parse("spiffe://example.org/ns/default/sa/api"));
  const auto allow = [](std::vector<SpiffeId> ids) {
    return svidOptions([&](SvidOptions& o) { o.allowed_ids = ids; });
  };
  EXPECT_TRUE(verify({leaf.cert}, allow({db, web_})));
  EXPECT_TRUE(verify({leaf.cert}, allow({})));  // empty list: any ID
  auto r = verify({leaf.cert}, allow({db, api}));
  ASSERT_NO_FATAL_FAILURE(expectReject(r, "id_not_allowed"));
  EXPECT_NE(r.error().message.find(db.str()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(api.str()), std::string::npos) << r.error().message;
  // The trust domain's own ID does not match its members.
  const auto td_id = must(SpiffeId::parse("spiffe://example.org"));
  expectReject(verify({leaf.cert}, allow({td_id})), "id_not_allowed");
}

TEST_F(SvidTest, UnknownTrustDomain) {
  bundles_ = bundlesFor({root_.cert}, "other.org");
  auto r = verify({workload(root_).cert});
  ASSERT_NO_FATAL_FAILURE(expectReject(r, "unknown_trust_domain"));
  // go-spiffe's wording.
  EXPECT_NE(r.error().message.find("no X.509 bundle found for trust domain \"example.org\""),
            std::string::npos)
      << r.error().message;
}

// root -> intermediate 1 -> intermediate 2 -> leaf.
TEST_F(SvidTest, TwoLevelIntermediateChain) {
  auto int1 = toAuthority(must(ca::createIntermediate(
      root_, intermediateOptions([](ca::IntermediateOptions& o) { o.name = "level-1"; }), clock_)));
  auto int2 = toAuthority(must(ca::createIntermediate(
      int1, intermediateOptions([](ca::IntermediateOptions& o) { o.name = "level-2"; }), clock_)));
  ASSERT_EQ(int2.chain.size(), 2u);
  auto leaf = workload(int2);
  ASSERT_EQ(leaf.chain.size(), 2u);

  std::vector<Certificate> sent{leaf.cert};
  sent.insert(sent.end(), leaf.chain.begin(), leaf.chain.end());
  auto ok = verify(sent);
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->path.size(), 4u);
  EXPECT_TRUE(same(ok->path[0], leaf.cert));
  EXPECT_TRUE(same(ok->path[1], int2.cert));
  EXPECT_TRUE(same(ok->path[2], int1.cert));
  EXPECT_TRUE(same(ok->path[3], root_.cert));

  // Intermediates out of order still build.
  EXPECT_TRUE(verify({leaf.cert, int1.cert, int2.cert}));
  // Either intermediate missing: no path.
  expectReject(verify({leaf.cert, int2.cert}), "unknown_ca");
  expectReject(verify({leaf.cert, int1.cert}), "unknown_ca");

  // go-spiffe treats every bundle certificate as a trust anchor (spiffe.md §2.2): a bundle
  // holding only intermediate 1 anchors the path there.
  bundles_ = bundlesFor({int1.cert});
  auto partial = verify({leaf.cert, int2.cert});
  ASSERT_TRUE(partial) << partial.error().message;
  ASSERT_EQ(partial->path.size(), 3u);
  EXPECT_TRUE(same(partial->path[2], int1.cert));
}

// Mixed key types along one chain.
TEST_F(SvidTest, MixedKeyTypes) {
  auto rsa_root = must(ca::createRoot(rootOptions(td_, KeyType::kRsa2048), clock_));
  auto p384 = toAuthority(must(ca::createIntermediate(
      rsa_root,
      intermediateOptions([](ca::IntermediateOptions& o) { o.key_type = KeyType::kEcP384; }),
      clock_)));
  auto ed25519 = workloadOptions(web_);
  ed25519.key_type = KeyType::kEd25519;
  auto leaf = workload(p384, ed25519);
  bundles_ = bundlesFor({rsa_root.cert});
  auto ok = verify({leaf.cert, p384.cert});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->path.size(), 3u);
}

}  // namespace
}  // namespace mutual::spiffe
