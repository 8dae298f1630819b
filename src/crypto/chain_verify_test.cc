#include "crypto/chain_verify.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <functional>
#include <string>
#include <vector>

#include "base/time.h"
#include "crypto/cert_builder.h"

// The profile rules verifyChain adds to OpenSSL's path validation (chain_verify.h), one table
// row per rule with a control row that passes. Certificates are built with CertSpec and, for
// what CertSpec cannot express (empty or anyExtendedKeyUsage EKUs, odd serials, raw
// extensions), edited with OpenSSL and signed again.

namespace mutual::crypto {
namespace {

const TimePoint kNow = fromUnix(1'780'000'000);  // 2026-05-28

ChainOptions at(TimePoint t) {
  ChainOptions options;
  options.at = t;
  return options;
}

struct Issued {
  Certificate cert;
  PrivateKey key;
};

CertSpec spec(const std::string& cn) {
  CertSpec s;
  s.common_name = cn;
  s.organization = "test";
  s.serial = *randomSerial();
  s.not_before = kNow - std::chrono::hours(1);
  s.not_after = kNow + std::chrono::hours(1);
  return s;
}

CertSpec caSpec(const std::string& cn) {
  CertSpec s = spec(cn);
  s.is_ca = true;
  s.key_usage = kKeyCertSign | kCrlSign;
  return s;
}

CertSpec leafSpec() {
  CertSpec s = spec("leaf");
  s.key_usage = kDigitalSignature;
  s.server_auth = true;
  s.client_auth = true;
  s.dns_names = {"web.example.org"};
  return s;
}

// Re-signs `cert` by `signer` after `edit` changed it, and re-parses it so that OpenSSL's cached
// extension flags describe the edited certificate.
Certificate resign(const Certificate& cert, const PrivateKey& signer,
                   const std::function<void(X509*)>& edit) {
  X509Ptr copy(X509_dup(cert.get()));
  edit(copy.get());
  const EVP_MD* md =
      EVP_PKEY_get_base_id(signer.get()) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  EXPECT_GT(X509_sign(copy.get(), signer.get(), md), 0);
  return *Certificate::fromDer(*Certificate(std::move(copy)).toDer());
}

Issued make(const CertSpec& s, const Issued* issuer,
            const std::function<void(X509*)>& edit = nullptr) {
  PrivateKey key = *PrivateKey::generate(KeyType::kEcP256);
  const PrivateKey& signer = issuer ? issuer->key : key;
  Certificate cert = *signCertificate(s, key.get(), issuer ? &issuer->cert : nullptr, signer);
  if (edit) cert = resign(cert, signer, edit);
  return {std::move(cert), std::move(key)};
}

void addExtension(X509* x, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

// An extension whose DER value is `der`, whatever it decodes to.
void addRawExtension(X509* x, int nid, std::vector<unsigned char> der) {
  Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(value.get(), der.data(), static_cast<int>(der.size()));
  X509_EXTENSION* ext = X509_EXTENSION_create_by_NID(nullptr, nid, 0, value.get());
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

void removeExtension(X509* x, int nid) {
  const int i = X509_get_ext_by_NID(x, nid, -1);
  if (i >= 0) X509_EXTENSION_free(X509_delete_ext(x, i));
}

void setSerial(X509* x, std::vector<unsigned char> magnitude, bool negative) {
  BignumPtr bn(BN_bin2bn(magnitude.data(), static_cast<int>(magnitude.size()), nullptr));
  BN_set_negative(bn.get(), negative ? 1 : 0);
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x));
}

class ChainVerifyTest : public ::testing::Test {
 protected:
  Result<std::vector<Certificate>> verify(const Certificate& leaf,
                                          const std::vector<Certificate>& untrusted,
                                          const std::vector<Certificate>& anchors,
                                          ChainOptions options) {
    auto store = TrustStore::create(anchors);
    EXPECT_TRUE(store);
    return verifyChain(leaf, untrusted, *store, options);
  }
  Result<std::vector<Certificate>> verify(const Certificate& leaf, ChainOptions options = {}) {
    if (options.at == TimePoint{}) options.at = kNow;
    return verify(leaf, {ica_.cert}, {root_.cert}, options);
  }
  static void expectReason(const Result<std::vector<Certificate>>& r, const std::string& reason,
                           const std::string& what) {
    if (reason.empty()) {
      EXPECT_TRUE(r) << what << ": " << r.error().reason << ": " << r.error().message;
    } else {
      ASSERT_FALSE(r) << what << ": accepted, want " << reason;
      EXPECT_EQ(r.error().reason, reason) << what << ": " << r.error().message;
      EXPECT_EQ(r.error().code, Code::kPermissionDenied) << what;
    }
  }

  Issued root_ = make(caSpec("root"), nullptr);
  Issued ica_ = make(caSpec("ica"), &root_);
};

TEST_F(ChainVerifyTest, LeafRules) {
  struct Case {
    const char* name;
    std::function<void(CertSpec&)> spec;
    std::function<void(X509*)> edit;
    const char* reason;
  };
  const auto keep = [](CertSpec&) {};
  const std::vector<Case> cases = {
      {"control", keep, nullptr, ""},
      {"cA=true", [](CertSpec& s) { s.is_ca = true; }, nullptr, "leaf_is_ca"},
      {"cA=true with keyCertSign",
       [](CertSpec& s) {
         s.is_ca = true;
         s.key_usage = kDigitalSignature | kKeyCertSign;
       },
       nullptr, "leaf_is_ca"},
      {"keyCertSign without cA", [](CertSpec& s) { s.key_usage |= kKeyCertSign; }, nullptr,
       "leaf_key_cert_sign"},
      {"nameConstraints on a leaf", keep,
       [](X509* x) { addExtension(x, NID_name_constraints, "critical,permitted;DNS:example.org"); },
       "invalid_name_constraints"},
      {"EKU with anyExtendedKeyUsage", keep,
       [](X509* x) {
         removeExtension(x, NID_ext_key_usage);
         addExtension(x, NID_ext_key_usage, "serverAuth,anyExtendedKeyUsage");
       },
       "invalid_eku"},
      {"empty EKU", keep,
       [](X509* x) {
         removeExtension(x, NID_ext_key_usage);
         addRawExtension(x, NID_ext_key_usage, {0x30, 0x00});
       },
       "invalid_eku"},
      {"no EKU (any purpose)",
       [](CertSpec& s) {
         s.server_auth = false;
         s.client_auth = false;
       },
       nullptr, ""},
      {"malformed authorityInfoAccess", keep,
       [](X509* x) {
         addRawExtension(x, NID_info_access, {0x04, 0x00});
       },
       "malformed_extension"},
      {"serial zero", keep, [](X509* x) { setSerial(x, {0x00}, false); }, "invalid_serial"},
      {"negative serial", keep,
       [](X509* x) {
         setSerial(x, {0x12, 0x34}, true);
       },
       "invalid_serial"},
      {"21-octet serial", keep,
       [](X509* x) { setSerial(x, std::vector<unsigned char>(21, 0x11), false); },
       "invalid_serial"},
      {"20-octet serial", keep,
       [](X509* x) { setSerial(x, std::vector<unsigned char>(20, 0x7f), false); }, ""},
      {"20-octet serial with its top bit set (21 DER octets)", keep,
       [](X509* x) { setSerial(x, std::vector<unsigned char>(20, 0xff), false); }, ""},
      {"dNSName with a leading dot", [](CertSpec& s) { s.dns_names = {".example.org"}; }, nullptr,
       "invalid_san"},
      {"dNSName with a trailing dot", [](CertSpec& s) { s.dns_names = {"example.org."}; }, nullptr,
       "invalid_san"},
      {"dNSName with an empty label", [](CertSpec& s) { s.dns_names = {"a..example.org"}; },
       nullptr, "invalid_san"},
      {"dNSName with a space", [](CertSpec& s) { s.dns_names = {"a b.example.org"}; }, nullptr,
       "invalid_san"},
      {"dNSName with a leading hyphen", [](CertSpec& s) { s.dns_names = {"-a.example.org"}; },
       nullptr, "invalid_san"},
      {"dNSName partial wildcard", [](CertSpec& s) { s.dns_names = {"w*.example.org"}; }, nullptr,
       "invalid_san"},
      {"dNSName wildcard not leftmost", [](CertSpec& s) { s.dns_names = {"a.*.example.org"}; },
       nullptr, "invalid_san"},
      {"dNSName bare wildcard", [](CertSpec& s) { s.dns_names = {"*"}; }, nullptr, "invalid_san"},
      {"dNSName leftmost wildcard", [](CertSpec& s) { s.dns_names = {"*.example.org"}; }, nullptr,
       ""},
      {"dNSName with an underscore", [](CertSpec& s) { s.dns_names = {"_svc.example.org"}; },
       nullptr, ""},
      {"dNSName xn-- label", [](CertSpec& s) { s.dns_names = {"xn--n3h.example.org"}; }, nullptr,
       ""},
      {"dNSName label of 64 octets",
       [](CertSpec& s) { s.dns_names = {std::string(64, 'a') + ".example.org"}; }, nullptr,
       "invalid_san"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CertSpec s = leafSpec();
    c.spec(s);
    const Issued leaf = make(s, &ica_, c.edit);
    expectReason(verify(leaf.cert), c.reason, c.name);
  }
}

TEST_F(ChainVerifyTest, ATrustAnchorMayBeItsOwnLeaf) {
  // The root verified as itself (AuthorityTest does this): a CA, but trusted as configured.
  expectReason(verify(root_.cert, {}, {root_.cert}, at(kNow)), "", "root as its own leaf");
  // An intermediate that is an anchor itself (SPIFFE bundles may hold intermediates).
  expectReason(verify(ica_.cert, {}, {ica_.cert}, at(kNow)), "", "intermediate anchor as leaf");
  // The same intermediate presented by a peer, chaining to the root, is a CA in leaf position.
  expectReason(verify(ica_.cert, {}, {root_.cert}, at(kNow)), "leaf_is_ca", "intermediate as leaf");
  // Encoding rules still hold for an anchor in leaf position.
  const Issued bad_serial =
      make(caSpec("zero"), nullptr, [](X509* x) { setSerial(x, {0x00}, false); });
  expectReason(verify(bad_serial.cert, {}, {bad_serial.cert}, at(kNow)), "invalid_serial",
               "anchor with serial 0");
}

TEST_F(ChainVerifyTest, IssuerRules) {
  // Serial numbers of intermediates are checked; the anchor's are not (it is configuration).
  const Issued zero_ica = make(caSpec("ica0"), &root_, [](X509* x) { setSerial(x, {0}, false); });
  const Issued leaf = make(leafSpec(), &zero_ica);
  expectReason(verify(leaf.cert, {zero_ica.cert}, {root_.cert}, at(kNow)), "invalid_serial",
               "intermediate with serial 0");
  expectReason(verify(leaf.cert, {}, {zero_ica.cert}, at(kNow)), "", "anchor with serial 0");

  // nameConstraints with neither subtree (RFC 5280 §4.2.1.10).
  const Issued empty_nc = make(caSpec("ica-nc"), &root_, [](X509* x) {
    addRawExtension(x, NID_name_constraints, {0x30, 0x00});
  });
  const Issued under_empty = make(leafSpec(), &empty_nc);
  expectReason(verify(under_empty.cert, {empty_nc.cert}, {root_.cert}, at(kNow)),
               "invalid_name_constraints", "empty nameConstraints");

  // mutual's own URI constraint (ca intermediate --name-constraint) is fine.
  CertSpec constrained = caSpec("ica-td");
  constrained.permitted_uri_hosts = {"example.org"};
  const Issued td_ica = make(constrained, &root_);
  CertSpec svid = leafSpec();
  svid.uris = {"spiffe://example.org/ns/default/sa/web"};
  const Issued svid_leaf = make(svid, &td_ica);
  expectReason(verify(svid_leaf.cert, {td_ica.cert}, {root_.cert}, at(kNow)), "", "URI constraint");
}

TEST_F(ChainVerifyTest, AnIssuerThatFailsOpenSslsChecksIsNamedWithWhy) {
  // OpenSSL says "invalid CA certificate" or "unable to get local issuer certificate"; the
  // reason and the message say why the CA that signed the leaf could not issue it.
  CertSpec not_ca = caSpec("ica-not-ca");
  not_ca.is_ca = false;
  const Issued plain = make(not_ca, &root_);
  const Issued under_plain = make(leafSpec(), &plain);
  auto r = verify(under_plain.cert, {plain.cert}, {root_.cert}, at(kNow));
  expectReason(r, "issuer_not_ca", "intermediate without cA");
  if (!r) {
    EXPECT_NE(r.error().message.find("is not a CA (basicConstraints cA is not true)"), std::string::npos)
        << r.error().message;
  }

  CertSpec no_sign = caSpec("ica-no-sign");
  no_sign.key_usage = kCrlSign;
  const Issued crl_only = make(no_sign, &root_);
  const Issued under_crl_only = make(leafSpec(), &crl_only);
  r = verify(under_crl_only.cert, {crl_only.cert}, {root_.cert}, at(kNow));
  expectReason(r, "issuer_cannot_sign", "intermediate without keyCertSign");
  if (!r) {
    EXPECT_NE(r.error().message.find("lacks keyCertSign"), std::string::npos) << r.error().message;
  }

  const Issued doubled = make(caSpec("ica-dup"), &root_, [](X509* x) {
    addExtension(x, NID_basic_constraints, "critical,CA:TRUE");
  });
  const Issued under_doubled = make(leafSpec(), &doubled);
  expectReason(verify(under_doubled.cert, {doubled.cert}, {root_.cert}, at(kNow)),
               "invalid_certificate", "intermediate with basicConstraints twice");

  // A certificate of the same name that did not sign the leaf is no diagnosis: unknown_ca.
  const Issued namesake = make(caSpec("ica"), &root_);
  const Issued under_ica = make(leafSpec(), &ica_);
  expectReason(verify(under_ica.cert, {namesake.cert}, {root_.cert}, at(kNow)), "unknown_ca",
               "same issuer name, another key");
  // And the anchors are examined too: a root without keyCertSign.
  CertSpec root_spec = caSpec("root-no-sign");
  root_spec.key_usage = kCrlSign;
  const Issued weak_root = make(root_spec, nullptr);
  const Issued under_root = make(leafSpec(), &weak_root);
  expectReason(verify(under_root.cert, {}, {weak_root.cert}, at(kNow)), "issuer_cannot_sign",
               "root without keyCertSign");
}

TEST_F(ChainVerifyTest, WildcardsAgainstExcludedSubtrees) {
  struct Case {
    const char* excluded;
    const char* san;
    const char* reason;
  };
  // OpenSSL alone accepts the first (CVE-2025-61727): the wildcard matches bar.example.com.
  for (const auto& c :
       {Case{"bar.example.com", "*.example.com", "name_constraint_violation"},
        Case{"BAR.example.com", "*.EXAMPLE.com", "name_constraint_violation"},
        Case{".bar.example.com", "*.example.com", ""},
        Case{"a.bar.example.com", "*.example.com", ""}, Case{"bar.example.com", "*.other.com", ""},
        Case{"bar.example.com", "foo.example.com", ""},
        Case{"example.com", "*.example.com", "name_constraint_violation"}}) {
    SCOPED_TRACE(std::string(c.excluded) + " vs " + c.san);
    const std::string value = std::string("critical,excluded;DNS:") + c.excluded;
    const Issued ica = make(caSpec("ica-x"), &root_,
                            [&](X509* x) { addExtension(x, NID_name_constraints, value.c_str()); });
    CertSpec s = leafSpec();
    s.dns_names = {c.san};
    const Issued leaf = make(s, &ica);
    expectReason(verify(leaf.cert, {ica.cert}, {root_.cert}, at(kNow)), c.reason, c.san);
  }
}

TEST_F(ChainVerifyTest, MaxIntermediatesSkipsSelfIssued) {
  // root -> ica -> ica' (self-issued: same name, new key) -> leaf.
  const Issued rollover = make(caSpec("ica"), &ica_);
  ASSERT_TRUE(rollover.cert.isSelfIssued());
  const Issued leaf = make(leafSpec(), &rollover);
  const std::vector<Certificate> untrusted = {rollover.cert, ica_.cert};
  ChainOptions options = at(kNow);
  auto all = verify(leaf.cert, untrusted, {root_.cert}, options);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 4u);
  options.max_intermediates = 1;
  expectReason(verify(leaf.cert, untrusted, {root_.cert}, options), "", "max 1");
  options.max_intermediates = 0;
  expectReason(verify(leaf.cert, untrusted, {root_.cert}, options), "chain_too_long", "max 0");
  // A second, distinct intermediate does count.
  const Issued ica2 = make(caSpec("ica2"), &ica_);
  const Issued leaf2 = make(leafSpec(), &ica2);
  options.max_intermediates = 1;
  expectReason(verify(leaf2.cert, {ica2.cert, ica_.cert}, {root_.cert}, options), "chain_too_long",
               "two distinct intermediates, max 1");
  options.max_intermediates = 2;
  expectReason(verify(leaf2.cert, {ica2.cert, ica_.cert}, {root_.cert}, options), "", "max 2");
}

TEST_F(ChainVerifyTest, NotAfterIsInclusive) {
  CertSpec s = leafSpec();
  s.not_after = kNow + std::chrono::minutes(5);
  const Issued leaf = make(s, &ica_);
  expectReason(verify(leaf.cert, at(s.not_after)), "", "at notAfter");
  expectReason(verify(leaf.cert, at(s.not_after + std::chrono::seconds(1))), "expired",
               "one second after notAfter");
  expectReason(verify(leaf.cert, at(s.not_before)), "", "at notBefore");
  expectReason(verify(leaf.cert, at(s.not_before - std::chrono::seconds(1))), "not_yet_valid",
               "one second before notBefore");
}

}  // namespace
}  // namespace mutual::crypto
