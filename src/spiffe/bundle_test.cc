#include "base/testing.h"
#include "spiffe/bundle.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "base/time.h"
#include "ca/authority.h"
#include "crypto/cert_builder.h"
#include "spiffe/x509_svid.h"

// SPIFFE bundles (reference/spiffe.md §2.4): PEM and the SPIFFE JWKS format, and the isolation
// of trust domains in a BundleSet (X509-SVID §5.1, Federation §4.2).

namespace mutual::spiffe {
namespace {

using crypto::Certificate;
using crypto::KeyType;
using nlohmann::json;
using std::chrono::hours;

const TimePoint kNow = fromUnix(1'780'000'000);

using mutual::testing::must;

TrustDomain td(const char* name) { return must(TrustDomain::parse(name)); }

ca::Authority makeRoot(const char* trust_domain, KeyType type = KeyType::kEcP256) {
  FakeClock clock(kNow);
  return must(ca::createRoot({td(trust_domain), hours(87600), type, ""}, clock));
}

bool same(const Certificate& a, const Certificate& b) {
  return a.sha256Fingerprint() == b.sha256Fingerprint();
}

std::string x5c(const Certificate& cert) { return base64Encode(must(cert.toDer())); }

void expectInvalid(const Result<X509Bundle>& r, const std::string& want) {
  ASSERT_FALSE(r) << "accepted";
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
}

// ---- PEM ---------------------------------------------------------------------------------

class PemBundleTest : public ::testing::Test {
 protected:
  ca::Authority a_ = makeRoot("example.org");
  ca::Authority b_ = makeRoot("example.org");
};

TEST_F(PemBundleTest, EveryCertificateIsAnAuthority) {
  const std::string pem = must(a_.cert.toPem()) + must(b_.cert.toPem());
  auto bundle = parsePemBundle(td("example.org"), pem);
  ASSERT_TRUE(bundle) << bundle.error().message;
  EXPECT_EQ(bundle->trust_domain.name(), "example.org");
  ASSERT_EQ(bundle->authorities.size(), 2u);
  EXPECT_TRUE(same(bundle->authorities[0], a_.cert));
  EXPECT_TRUE(same(bundle->authorities[1], b_.cert));
  EXPECT_FALSE(bundle->sequence);
  EXPECT_FALSE(bundle->refresh_hint);
  EXPECT_TRUE(bundle->jwt_keys_json.empty());
  // And back.
  EXPECT_EQ(must(toPemBundle(*bundle)), pem);
}

TEST_F(PemBundleTest, SkipsKeysAndText) {
  const std::string pem = "# roots of example.org\n" + must(a_.key.toPkcs8Pem()) +
                          must(a_.cert.toPem()) + "trailing words\n";
  auto bundle = parsePemBundle(td("example.org"), pem);
  ASSERT_TRUE(bundle) << bundle.error().message;
  ASSERT_EQ(bundle->authorities.size(), 1u);
  EXPECT_TRUE(same(bundle->authorities[0], a_.cert));
}

TEST_F(PemBundleTest, RejectsBundlesWithoutGoodCertificates) {
  const std::string good = must(a_.cert.toPem());
  const std::string truncated = good.substr(0, good.size() / 2);
  struct Row {
    const char* name;
    std::string pem;
    const char* error;
  };
  const std::vector<Row> rows = {
      {"empty", "", "no PEM certificate"},
      {"not PEM", "hello", "no PEM certificate"},
      {"only a key", must(a_.key.toPkcs8Pem()), "no CERTIFICATE block"},
      {"truncated (no END line)", truncated, "PEM block 1"},
      {"good then truncated", good + truncated, "PEM block 2"},
      {"bad base64 body", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
       "PEM block 1"},
      {"not a certificate inside",
       "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n", "PEM block 1"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    expectInvalid(parsePemBundle(td("example.org"), row.pem), row.error);
  }
}

// ---- SPIFFE JSON: parse ------------------------------------------------------------------

class SpiffeBundleTest : public ::testing::Test {
 protected:
  // A valid document: one x509-svid key, sequence and refresh hint.
  json goodDoc() const {
    json key = {{"kty", "EC"}, {"use", "x509-svid"}, {"x5c", {x5c(root_.cert)}}};
    return {{"keys", {key}}, {"spiffe_sequence", 1}, {"spiffe_refresh_hint", 300}};
  }
  // goodDoc() with `edit` applied to it.
  std::string edited(const std::function<void(json&)>& edit) const {
    json doc = goodDoc();
    edit(doc);
    return doc.dump();
  }
  Result<X509Bundle> parse(const std::string& text) const {
    return parseSpiffeBundle(td("example.org"), text);
  }

  ca::Authority root_ = makeRoot("example.org");
  ca::Authority other_ = makeRoot("example.org");
};

TEST_F(SpiffeBundleTest, ParsesAGoodDocument) {
  auto bundle = parse(goodDoc().dump());
  ASSERT_TRUE(bundle) << bundle.error().message;
  EXPECT_EQ(bundle->trust_domain.name(), "example.org");
  ASSERT_EQ(bundle->authorities.size(), 1u);
  EXPECT_TRUE(same(bundle->authorities[0], root_.cert));
  EXPECT_EQ(bundle->sequence, std::optional<uint64_t>(1));
  EXPECT_EQ(bundle->refresh_hint, std::optional<int64_t>(300));
  EXPECT_TRUE(bundle->jwt_keys_json.empty());
}

struct JsonCase {
  const char* source;
  std::function<void(json&)> edit;
  const char* error;  // "" = accepted
  size_t authorities = 1;
};

TEST_F(SpiffeBundleTest, DocumentTable) {
  const std::string der_b64 = x5c(root_.cert);
  std::string url_b64 = der_b64;
  for (auto& c : url_b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
  ASSERT_NE(url_b64, der_b64) << "test needs a DER whose base64 has + or /";
  const std::string trailing = base64Encode(must(root_.cert.toDer()) + "x");
  const auto key0 = [](json& d) -> json& { return d["keys"][0]; };

  const std::vector<JsonCase> cases = {
      // Document level.
      {"Bundle §4 keys missing (go-spiffe: no authorities found)", [](json& d) { d.erase("keys"); },
       "\"keys\" is missing"},
      {"Bundle §4 keys not an array", [](json& d) { d["keys"] = json::object(); },
       "\"keys\" must be an array"},
      {"Bundle §4 keys null", [](json& d) { d["keys"] = nullptr; }, "\"keys\" must be an array"},
      {"Bundle §4 keys [] is legal (all revoked)", [](json& d) { d["keys"] = json::array(); }, "",
       0},
      {"RFC 7517 unknown top-level members ignored",
       [](json& d) {
         d["x-vendor"] = {{"a", 1}};
       },
       ""},
      {"Bundle §4 sequence absent", [](json& d) { d.erase("spiffe_sequence"); }, ""},
      {"Bundle §4 refresh hint absent", [](json& d) { d.erase("spiffe_refresh_hint"); }, ""},
      {"Bundle §4 sequence as a string", [](json& d) { d["spiffe_sequence"] = "1"; },
       "spiffe_sequence"},
      {"Bundle §4 sequence negative", [](json& d) { d["spiffe_sequence"] = -1; },
       "spiffe_sequence"},
      {"Bundle §4 sequence fractional", [](json& d) { d["spiffe_sequence"] = 1.5; },
       "spiffe_sequence"},
      {"Bundle §4 sequence bool", [](json& d) { d["spiffe_sequence"] = true; }, "spiffe_sequence"},
      {"Bundle §4 refresh hint as a string", [](json& d) { d["spiffe_refresh_hint"] = "300"; },
       "spiffe_refresh_hint"},
      {"Bundle §4 refresh hint fractional", [](json& d) { d["spiffe_refresh_hint"] = 1.5; },
       "spiffe_refresh_hint"},
      // Keys: use.
      {"Bundle §4 key not an object", [](json& d) { d["keys"].push_back(7); },
       "keys[1] must be an object"},
      {"RFC 7517 kty missing", [&](json& d) { key0(d).erase("kty"); }, "keys[0].kty"},
      {"Bundle §4 use missing: key ignored", [&](json& d) { key0(d).erase("use"); }, "", 0},
      {"Bundle §4 unknown use ignored", [&](json& d) { key0(d)["use"] = "wit-svid"; }, "", 0},
      {"Bundle §4 use is case-sensitive", [&](json& d) { key0(d)["use"] = "X509-SVID"; }, "", 0},
      {"Bundle §4 use not a string: ignored", [&](json& d) { key0(d)["use"] = 1; }, "", 0},
      // Keys: x509-svid.
      {"X509-SVID §6 x5c missing", [&](json& d) { key0(d).erase("x5c"); }, "keys[0].x5c"},
      {"X509-SVID §6 x5c not an array", [&](json& d) { key0(d)["x5c"] = der_b64; }, "keys[0].x5c"},
      {"X509-SVID §6 x5c empty", [&](json& d) { key0(d)["x5c"] = json::array(); }, "found 0"},
      {"X509-SVID §6 x5c with two certificates (go-spiffe)",
       [&](json& d) { key0(d)["x5c"].push_back(x5c(other_.cert)); }, "found 2"},
      {"X509-SVID §6 x5c[0] not a string", [&](json& d) { key0(d)["x5c"] = {42}; },
       "keys[0].x5c[0] must be a string"},
      {"X509-SVID §6 kid must not be set", [&](json& d) { key0(d)["kid"] = "abc"; },
       "keys[0].kid must not be set"},
      {"X509-SVID §6 bad base64", [&](json& d) { key0(d)["x5c"] = {"!!!not base64!!!"}; },
       "keys[0].x5c[0]"},
      {"X509-SVID §6 standard base64, not URL-safe", [&](json& d) { key0(d)["x5c"] = {url_b64}; },
       "keys[0].x5c[0]"},
      {"X509-SVID §6 bad DER", [&](json& d) { key0(d)["x5c"] = {base64Encode("hello")}; },
       "keys[0].x5c[0]"},
      {"X509-SVID §6 DER with trailing bytes", [&](json& d) { key0(d)["x5c"] = {trailing}; },
       "trailing"},
      {"X509-SVID §6 error names the key index",
       [&](json& d) {
         d["keys"].push_back({{"kty", "EC"}, {"use", "x509-svid"}, {"x5c", json::array()}});
       },
       "keys[1].x5c"},
      {"X509-SVID §6 two authorities",
       [&](json& d) {
         d["keys"].push_back({{"kty", "EC"}, {"use", "x509-svid"}, {"x5c", {x5c(other_.cert)}}});
       },
       "", 2},
      // Keys: jwt-svid.
      {"JWT-SVID §6 kid required",
       [](json& d) {
         d["keys"].push_back({{"kty", "EC"}, {"use", "jwt-svid"}});
       },
       "keys[1].kid is required"},
      {"JWT-SVID §6 kid empty",
       [](json& d) {
         d["keys"].push_back({{"kty", "EC"}, {"use", "jwt-svid"}, {"kid", ""}});
       },
       "keys[1].kid is required"},
      {"JWT-SVID §6 kid not a string",
       [](json& d) {
         d["keys"].push_back({{"kty", "EC"}, {"use", "jwt-svid"}, {"kid", 5}});
       },
       "keys[1].kid is required"},
      {"JWT-SVID §6 jwt key kept, not an authority",
       [](json& d) {
         d["keys"].push_back({{"kty", "EC"}, {"use", "jwt-svid"}, {"kid", "k1"}, {"crv", "P-256"}});
       },
       "", 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.source);
    auto r = parse(edited(c.edit));
    if (std::string(c.error).empty()) {
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->authorities.size(), c.authorities);
    } else {
      ASSERT_NO_FATAL_FAILURE(expectInvalid(r, c.error));
      EXPECT_EQ(r.error().reason, "invalid_bundle");
    }
  }
}

TEST_F(SpiffeBundleTest, NotJson) {
  const std::string good = goodDoc().dump();
  struct Row {
    const char* name;
    std::string text;
    const char* error;
  };
  const std::vector<Row> rows = {
      {"empty", "", "not valid JSON"},
      {"garbage", "hello", "not valid JSON"},
      {"PEM given to the JSON parser", must(root_.cert.toPem()), "not valid JSON"},
      {"truncated", good.substr(0, good.size() / 2), "not valid JSON"},
      {"truncated by one byte", good.substr(0, good.size() - 1), "not valid JSON"},
      {"trailing garbage", good + "}", "not valid JSON"},
      {"array at top level", "[" + good + "]", "top level must be a JSON object"},
      {"string at top level", "\"keys\"", "top level must be a JSON object"},
      {"null", "null", "top level must be a JSON object"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    expectInvalid(parse(row.text), row.error);
  }
}

// A federation endpoint is untrusted input: a deeply nested value inside a kept jwt-svid key
// must give an error, not exhaust the stack when the key is parsed or written back.
TEST_F(SpiffeBundleTest, DeeplyNestedJsonIsRefused) {
  const int depth = 200000;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  const std::string text =
      R"({"keys": [{"kty": "EC", "use": "jwt-svid", "kid": "k", "x": )" + deep + "}]}";
  Result<X509Bundle> r = X509Bundle{td("example.org"), {}, {}, {}, {}};
  ASSERT_NO_FATAL_FAILURE(r = parse(text));
  ASSERT_FALSE(r) << "accepted";
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(r.error().reason, "invalid_bundle");
  // Moderate nesting inside a key is fine and survives a round trip.
  const std::string nested = R"({"keys": [{"kty": "EC", "use": "jwt-svid", "kid": "k", "x": )" +
                             std::string(8, '[') + std::string(8, ']') + "}]}";
  auto ok = parse(nested);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(toSpiffeBundleJson(*ok));
}

TEST_F(SpiffeBundleTest, SequenceIsUnsigned64Bit) {
  auto r = parse(edited([](json& d) { d["spiffe_sequence"] = UINT64_MAX; }));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->sequence, std::optional<uint64_t>(UINT64_MAX));
  r = parse(edited([](json& d) { d["spiffe_sequence"] = 0; }));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->sequence, std::optional<uint64_t>(0));
  // One more than 2^64-1 is no longer an integer.
  expectInvalid(parse(R"({"keys": [], "spiffe_sequence": 18446744073709551616})"),
                "spiffe_sequence");
}

// ---- SPIFFE JSON: write -> parse -----------------------------------------------------------

std::string b64url(const json& jwk, const char* field) {
  if (!jwk.contains(field) || !jwk[field].is_string()) return "";
  const std::string text = jwk[field].get<std::string>();
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << field << " is not base64url";
  return must(base64UrlDecode(text));
}

using PKeyPtr = crypto::PKeyPtr;

// Rebuilds a public key from a JWK's parameters alone (RFC 7518 §6), without the x5c.
PKeyPtr publicKeyFromJwk(const json& jwk) {
  const std::string kty = jwk.value("kty", "");
  if (kty == "OKP") {
    const std::string x = b64url(jwk, "x");
    return PKeyPtr(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  }
  std::unique_ptr<OSSL_PARAM_BLD, crypto::Deleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
  std::vector<crypto::BignumPtr> keep;
  // The builder keeps pointers until OSSL_PARAM_BLD_to_param: these must outlive it.
  std::string point;
  std::string crv;
  const char* algorithm = nullptr;
  if (kty == "EC") {
    algorithm = "EC";
    point = "\x04" + b64url(jwk, "x") + b64url(jwk, "y");
    crv = jwk.value("crv", "");
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, crv.c_str(), 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
  } else if (kty == "RSA") {
    algorithm = "RSA";
    for (const char* field : {"n", "e"}) {
      const std::string bytes = b64url(jwk, field);
      keep.emplace_back(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()), nullptr));
    }
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, keep[0].get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, keep[1].get());
  } else {
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM, crypto::Deleter<OSSL_PARAM_free>> params(
      OSSL_PARAM_BLD_to_param(bld.get()));
  crypto::PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return PKeyPtr(key);
}

struct KeyCase {
  KeyType type;
  const char* kty;
  const char* crv;    // "" when none
  size_t coordinate;  // bytes of x (and y), or of n
};

TEST(SpiffeBundleRoundTrip, EveryAuthorityKeyType) {
  const std::vector<KeyCase> cases = {
      {KeyType::kEcP256, "EC", "P-256", 32},
      {KeyType::kEcP384, "EC", "P-384", 48},
      {KeyType::kRsa2048, "RSA", "", 256},
      {KeyType::kEd25519, "OKP", "Ed25519", 32},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(crypto::keyTypeName(c.type)));
    const auto root = makeRoot("example.org", c.type);
    X509Bundle bundle{td("example.org"), {root.cert}, 42, 300, {}};
    const std::string text = must(toSpiffeBundleJson(bundle));

    // The document as RFC 7517 / SPIFFE Bundle §4 describe it.
    const json doc = json::parse(text);
    EXPECT_EQ(doc["spiffe_sequence"], 42);
    EXPECT_EQ(doc["spiffe_refresh_hint"], 300);
    ASSERT_EQ(doc["keys"].size(), 1u);
    const json& jwk = doc["keys"][0];
    EXPECT_EQ(jwk["use"], "x509-svid");
    EXPECT_EQ(jwk["kty"], c.kty);
    EXPECT_FALSE(jwk.contains("kid"));  // X509-SVID §6: MUST NOT be set
    ASSERT_EQ(jwk["x5c"].size(), 1u);
    EXPECT_EQ(jwk["x5c"][0], x5c(root.cert));  // standard base64 of the DER
    if (std::string(c.kty) == "RSA") {
      EXPECT_FALSE(jwk.contains("crv"));
      EXPECT_EQ(jwk["e"], "AQAB");
      const std::string n = b64url(jwk, "n");
      EXPECT_EQ(n.size(), c.coordinate);
      EXPECT_NE(n[0], '\0');  // minimal big-endian, no leading zero
    } else {
      EXPECT_EQ(jwk["crv"], c.crv);
      EXPECT_EQ(b64url(jwk, "x").size(), c.coordinate);
      if (std::string(c.kty) == "EC") {
        EXPECT_EQ(b64url(jwk, "y").size(), c.coordinate);
      } else {
        EXPECT_FALSE(jwk.contains("y"));
      }
    }
    // The key parameters alone describe the certificate's public key.
    PKeyPtr from_jwk = publicKeyFromJwk(jwk);
    ASSERT_TRUE(from_jwk) << jwk.dump();
    EXPECT_EQ(EVP_PKEY_eq(from_jwk.get(), X509_get0_pubkey(root.cert.get())), 1);

    // Parse it back; writing again gives the same text (stable order).
    auto back = parseSpiffeBundle(td("example.org"), text);
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->authorities.size(), 1u);
    EXPECT_TRUE(same(back->authorities[0], root.cert));
    EXPECT_EQ(back->sequence, std::optional<uint64_t>(42));
    EXPECT_EQ(back->refresh_hint, std::optional<int64_t>(300));
    EXPECT_EQ(must(toSpiffeBundleJson(*back)), text);
  }
}

// EC coordinates are fixed-width: a coordinate with leading zero bytes is padded, not shortened
// (RFC 7518 §6.2.1.2). Find keys whose x, and keys whose y, starts with a zero byte.
TEST(SpiffeBundleRoundTrip, EcCoordinatesArePadded) {
  bool seen_short_x = false;
  bool seen_short_y = false;
  for (int i = 0; i < 10000 && !(seen_short_x && seen_short_y); ++i) {
    auto key = must(crypto::PrivateKey::generate(KeyType::kEcP256));
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    const bool short_x = BN_num_bytes(x) < 32;
    const bool short_y = BN_num_bytes(y) < 32;
    BN_free(x);
    BN_free(y);
    if (!(short_x && !seen_short_x) && !(short_y && !seen_short_y)) continue;
    seen_short_x = seen_short_x || short_x;
    seen_short_y = seen_short_y || short_y;
    crypto::CertSpec spec;
    spec.common_name = "padded";
    spec.serial = must(crypto::randomSerial());
    spec.not_before = kNow;
    spec.not_after = kNow + hours(1);
    spec.is_ca = true;
    spec.key_usage = crypto::kKeyCertSign;
    auto cert = must(crypto::signCertificate(spec, key.get(), nullptr, key));
    const json doc = json::parse(must(toSpiffeBundleJson({td("example.org"), {cert}, {}, {}, {}})));
    const json& jwk = doc["keys"][0];
    EXPECT_EQ(b64url(jwk, "x").size(), 32u);
    EXPECT_EQ(b64url(jwk, "y").size(), 32u);
    PKeyPtr from_jwk = publicKeyFromJwk(jwk);
    ASSERT_TRUE(from_jwk);
    EXPECT_EQ(EVP_PKEY_eq(from_jwk.get(), key.get()), 1);
    EXPECT_FALSE(doc.contains("spiffe_sequence"));  // unset: not written
    EXPECT_FALSE(doc.contains("spiffe_refresh_hint"));
  }
  EXPECT_TRUE(seen_short_x) << "no P-256 key with a short x in 10000 tries";
  EXPECT_TRUE(seen_short_y) << "no P-256 key with a short y in 10000 tries";
}

// The JWK comes from the certificate's encoded key, whatever form the in-memory key object of a
// freshly signed certificate has (the builder gives non-CA EC certificates a legacy key whose
// coordinates cannot be read; the JWK once came out as an all-zero point).
TEST(SpiffeBundleRoundTrip, JwkOfFreshlySignedCertificates) {
  for (bool is_ca : {false, true}) {
    for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kEd25519}) {
      SCOPED_TRACE(std::string(crypto::keyTypeName(type)) + (is_ca ? " CA" : " leaf"));
      auto key = must(crypto::PrivateKey::generate(type));
      crypto::CertSpec spec;
      spec.common_name = "fresh";
      spec.serial = must(crypto::randomSerial());
      spec.not_before = kNow;
      spec.not_after = kNow + hours(1);
      spec.is_ca = is_ca;
      spec.key_usage = is_ca ? unsigned{crypto::kKeyCertSign} : unsigned{crypto::kDigitalSignature};
      auto cert = must(crypto::signCertificate(spec, key.get(), nullptr, key));
      const json doc =
          json::parse(must(toSpiffeBundleJson({td("example.org"), {cert}, {}, {}, {}})));
      PKeyPtr from_jwk = publicKeyFromJwk(doc["keys"][0]);
      ASSERT_TRUE(from_jwk) << doc.dump();
      EXPECT_EQ(EVP_PKEY_eq(from_jwk.get(), key.get()), 1) << doc.dump();
    }
  }
}

TEST(SpiffeBundleRoundTrip, SeveralAuthoritiesAndJwtKeys) {
  const auto a = makeRoot("example.org");
  const auto b = makeRoot("example.org", KeyType::kEd25519);
  const std::string jwt_key =
      R"({"crv":"P-256","kid":"k1","kty":"EC","use":"jwt-svid","x":"AA","y":"AA"})";
  X509Bundle bundle{td("example.org"), {a.cert, b.cert}, 7, std::nullopt, {jwt_key}};
  const std::string text = must(toSpiffeBundleJson(bundle));
  const json doc = json::parse(text);
  ASSERT_EQ(doc["keys"].size(), 3u);
  EXPECT_EQ(doc["keys"][2], json::parse(jwt_key));
  EXPECT_FALSE(doc.contains("spiffe_refresh_hint"));

  auto back = parseSpiffeBundle(td("example.org"), text);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->authorities.size(), 2u);
  EXPECT_TRUE(same(back->authorities[0], a.cert));
  EXPECT_TRUE(same(back->authorities[1], b.cert));
  ASSERT_EQ(back->jwt_keys_json.size(), 1u);
  EXPECT_EQ(json::parse(back->jwt_keys_json[0]), json::parse(jwt_key));
  EXPECT_EQ(back->sequence, std::optional<uint64_t>(7));
  EXPECT_FALSE(back->refresh_hint);
}

TEST(SpiffeBundleRoundTrip, EmptyBundleIsLegal) {
  const std::string text = must(toSpiffeBundleJson({td("example.org"), {}, 3, 60, {}}));
  EXPECT_EQ(json::parse(text)["keys"], json::array());
  auto back = parseSpiffeBundle(td("example.org"), text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->authorities.empty());
}

TEST(SpiffeBundleRoundTrip, MalformedKeptJwtKeyIsAnErrorNotAnException) {
  X509Bundle bundle{td("example.org"), {}, {}, {}, {"{not json"}};
  Result<std::string> text = std::string();
  EXPECT_NO_THROW(text = toSpiffeBundleJson(bundle));
  EXPECT_FALSE(text);
}

// ---- BundleSet ---------------------------------------------------------------------------

class BundleSetTest : public ::testing::Test {
 protected:
  void put(const char* trust_domain, std::vector<Certificate> roots) {
    auto ok = set_.put(X509Bundle{td(trust_domain), std::move(roots), {}, {}, {}});
    ASSERT_TRUE(ok) << ok.error().message;
  }
  // A leaf with `id`, signed by `issuer` whatever its trust domain (mutual's CA would refuse).
  Certificate leafFor(const std::string& id, const ca::Authority& issuer) {
    crypto::CertSpec spec;
    spec.organization = "test";
    spec.serial = must(crypto::randomSerial());
    spec.not_before = kNow - std::chrono::seconds(10);
    spec.not_after = kNow + hours(1);
    spec.key_usage = crypto::kDigitalSignature;
    spec.server_auth = spec.client_auth = true;
    spec.uris = {id};
    auto key = must(crypto::PrivateKey::generate(KeyType::kEcP256));
    return must(crypto::signCertificate(spec, key.get(), &issuer.cert, issuer.key));
  }
  Result<VerifiedSvid> verify(const Certificate& leaf) {
    SvidOptions options;
    options.at = kNow;
    return verifyX509Svid({leaf}, set_, options);
  }

  ca::Authority a_ = makeRoot("a.example");
  ca::Authority b_ = makeRoot("b.example");
  BundleSet set_;
};

TEST_F(BundleSetTest, FindAndList) {
  EXPECT_TRUE(set_.empty());
  put("b.example", {b_.cert});
  put("a.example", {a_.cert});
  EXPECT_FALSE(set_.empty());
  ASSERT_NE(set_.find(td("a.example")), nullptr);
  EXPECT_TRUE(same(set_.find(td("a.example"))->authorities.at(0), a_.cert));
  EXPECT_EQ(set_.find(td("c.example")), nullptr);
  EXPECT_EQ(set_.trustStore(td("c.example")), nullptr);
  ASSERT_NE(set_.trustStore(td("b.example")), nullptr);
  ASSERT_EQ(set_.trustStore(td("b.example"))->anchors().size(), 1u);
  EXPECT_TRUE(same(set_.trustStore(td("b.example"))->anchors()[0], b_.cert));
  const auto names = set_.trustDomains();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].name(), "a.example");
  EXPECT_EQ(names[1].name(), "b.example");
}

// Federation §4.2 / X509-SVID §5.1: a leaf is checked against its own trust domain's roots only.
TEST_F(BundleSetTest, LeafFromOneTrustDomainNeverValidatesAgainstAnother) {
  put("a.example", {a_.cert});
  put("b.example", {b_.cert});
  // Controls: each trust domain's own leaves validate.
  ASSERT_TRUE(verify(leafFor("spiffe://a.example/w", a_)));
  ASSERT_TRUE(verify(leafFor("spiffe://b.example/w", b_)));

  // B's root signs an ID of A: A's bundle does not hold B's root.
  auto cross = verify(leafFor("spiffe://a.example/w", b_));
  ASSERT_FALSE(cross);
  EXPECT_EQ(cross.error().reason, "unknown_ca") << cross.error().message;
  // And the other way round.
  auto cross_back = verify(leafFor("spiffe://b.example/w", a_));
  ASSERT_FALSE(cross_back);
  EXPECT_EQ(cross_back.error().reason, "unknown_ca");
}

TEST_F(BundleSetTest, NoBundleForTheLeafsTrustDomain) {
  // A's root sits (wrongly) in B's bundle; it must not be found for A's leaves.
  put("b.example", {a_.cert, b_.cert});
  auto r = verify(leafFor("spiffe://a.example/w", a_));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_trust_domain");
}

TEST_F(BundleSetTest, PutReplacesTheBundle) {
  put("a.example", {a_.cert});
  const auto leaf = leafFor("spiffe://a.example/w", a_);
  ASSERT_TRUE(verify(leaf));
  const auto rotated = makeRoot("a.example");
  put("a.example", {rotated.cert});
  EXPECT_EQ(set_.trustDomains().size(), 1u);
  auto r = verify(leaf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_ca");
  EXPECT_TRUE(verify(leafFor("spiffe://a.example/w", rotated)));
}

// Bundle §4: `keys: []` revokes every key, so no SVID of the trust domain is trusted.
TEST_F(BundleSetTest, EmptyBundleTrustsNothing) {
  put("a.example", {a_.cert});
  const auto leaf = leafFor("spiffe://a.example/w", a_);
  ASSERT_TRUE(verify(leaf));
  auto revoked = parseSpiffeBundle(td("a.example"), R"({"keys": []})");
  ASSERT_TRUE(revoked);
  ASSERT_TRUE(set_.put(std::move(*revoked)));
  auto r = verify(leaf);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "unknown_ca");
}

TEST_F(BundleSetTest, DuplicateAuthorityIsHarmless) {
  put("a.example", {a_.cert, a_.cert});
  EXPECT_TRUE(verify(leafFor("spiffe://a.example/w", a_)));
}

}  // namespace
}  // namespace mutual::spiffe
