#include "spiffe/jwt_svid.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <string>
#include <vector>

#include "base/encoding.h"
#include "base/testing.h"
#include "base/time.h"
#include "crypto/handles.h"

// JWT-SVIDs (reference/spiffe.md §2.6, spiffe/spiffe standards/JWT-SVID.md): what we sign
// validates; everything the profile forbids is refused with a named reason.

namespace mutual::spiffe {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;
using mutual::testing::must;
using nlohmann::json;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kNow = fromUnix(1'780'000'000);

TrustDomain td(const char* name) { return must(TrustDomain::parse(name)); }
SpiffeId id(const char* text) { return must(SpiffeId::parse(text)); }

// Signs any header and claims with `key`, as a forger or a foreign implementation could: the
// algorithm family comes from `alg` ("ES*" raw r||s, "RS*" PKCS#1 v1.5, "PS*" PSS), so tests
// can build tokens that signJwtSvid would never make.
std::string signRaw(const json& header, const json& claims, const PrivateKey& key,
                    const std::string& alg) {
  const std::string input = base64UrlEncode(header.dump()) + "." + base64UrlEncode(claims.dump());
  const EVP_MD* md = alg.ends_with("256")   ? EVP_sha256()
                     : alg.ends_with("384") ? EVP_sha384()
                                            : EVP_sha512();
  std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1)
    throw std::runtime_error("init");
  if (alg.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     input.size()) != 1) {
    throw std::runtime_error("sign");
  }
  sig.resize(len);
  if (alg.starts_with("ES")) {
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    std::unique_ptr<ECDSA_SIG, crypto::Deleter<ECDSA_SIG_free>> parsed(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
    const int n = (EVP_PKEY_get_bits(key.get()) + 7) / 8;
    std::string raw(2 * static_cast<size_t>(n), '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), reinterpret_cast<unsigned char*>(raw.data()), n);
    BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), reinterpret_cast<unsigned char*>(raw.data()) + n,
                 n);
    sig = raw;
  }
  return input + "." + base64UrlEncode(sig);
}

json goodClaims() {
  return {{"sub", "spiffe://example.org/web"},
          {"aud", json::array({"db"})},
          {"exp", toUnix(kNow) + 300},
          {"iat", toUnix(kNow)}};
}

class JwtSvidTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JwtBundle bundle(td("example.org"));
    must(bundle.add("ec1", ec_));
    must(bundle.add("rsa1", rsa_));
    bundles_.emplace(td("example.org"), std::move(bundle));
  }

  Result<JwtSvid> validate(const std::string& token, std::vector<std::string> audience = {"db"}) {
    return validateJwtSvid(token, bundles_, audience, kNow);
  }

  void expectRefused(const std::string& token, const std::string& reason,
                     std::vector<std::string> audience = {"db"}) {
    auto r = validate(token, std::move(audience));
    ASSERT_FALSE(r) << "accepted: " << token;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().reason, reason) << r.error().message;
  }

  std::string ecToken(const json& claims) {
    return signRaw({{"alg", "ES256"}, {"kid", "ec1"}, {"typ", "JWT"}}, claims, ec_, "ES256");
  }

  PrivateKey ec_ = must(PrivateKey::generate(KeyType::kEcP256));
  PrivateKey rsa_ = must(PrivateKey::generate(KeyType::kRsa2048));
  JwtBundles bundles_;
};

TEST_F(JwtSvidTest, SignedTokenValidates) {
  auto token = must(signJwtSvid(
      {id("spiffe://example.org/web"), {"db", "cache"}, kNow, kNow + minutes(5), "ec1"}, ec_));
  auto svid = must(validate(token, {"cache"}));
  EXPECT_EQ(svid.id.str(), "spiffe://example.org/web");
  EXPECT_EQ(svid.audience, (std::vector<std::string>{"db", "cache"}));
  EXPECT_EQ(svid.expiry, kNow + minutes(5));
  ASSERT_TRUE(svid.issued_at);
  EXPECT_EQ(*svid.issued_at, kNow);
  EXPECT_EQ(svid.algorithm, "ES256");
  EXPECT_EQ(svid.key_id, "ec1");
  EXPECT_EQ(svid.claims["sub"], "spiffe://example.org/web");
  EXPECT_EQ(svid.token, token);

  // The header is what SPIRE writes.
  auto header = json::parse(must(base64UrlDecode(token.substr(0, token.find('.')))));
  EXPECT_EQ(header, (json{{"alg", "ES256"}, {"kid", "ec1"}, {"typ", "JWT"}}));
}

TEST_F(JwtSvidTest, RsaAndOtherAlgorithmsValidate) {
  auto rs256 = must(
      signJwtSvid({id("spiffe://example.org/web"), {"db"}, kNow, kNow + minutes(5), "rsa1"}, rsa_));
  EXPECT_EQ(must(validate(rs256)).algorithm, "RS256");
  for (const char* alg : {"RS384", "RS512", "PS256", "PS384", "PS512"}) {
    auto token = signRaw({{"alg", alg}, {"kid", "rsa1"}}, goodClaims(), rsa_, alg);
    EXPECT_TRUE(validate(token)) << alg;
  }
  PrivateKey p384 = must(PrivateKey::generate(KeyType::kEcP384));
  must(bundles_.at(td("example.org")).add("ec384", p384));
  auto es384 = must(signJwtSvid(
      {id("spiffe://example.org/web"), {"db"}, kNow, kNow + minutes(5), "ec384"}, p384));
  EXPECT_EQ(must(validate(es384)).algorithm, "ES384");
}

TEST_F(JwtSvidTest, AudienceAsSingleString) {
  json claims = goodClaims();
  claims["aud"] = "db";
  auto svid = must(validate(ecToken(claims)));
  EXPECT_EQ(svid.audience, std::vector<std::string>{"db"});
}

TEST_F(JwtSvidTest, BundleRoundTripsThroughJwks) {
  const std::string jwks = bundles_.at(td("example.org")).toJwks();
  auto doc = json::parse(jwks);
  ASSERT_EQ(doc["keys"].size(), 2u);
  EXPECT_EQ(doc["keys"][0]["kid"], "ec1");
  EXPECT_EQ(doc["keys"][0]["kty"], "EC");
  EXPECT_EQ(doc["keys"][0]["crv"], "P-256");
  EXPECT_FALSE(doc["keys"][0].contains("d")) << "a private key leaked into the bundle";
  EXPECT_FALSE(doc["keys"][0].contains("use"));
  EXPECT_EQ(doc["keys"][1]["kty"], "RSA");
  EXPECT_FALSE(doc["keys"][1].contains("d"));

  JwtBundles parsed;
  parsed.emplace(td("example.org"), must(JwtBundle::parse(td("example.org"), jwks)));
  EXPECT_EQ(parsed.at(td("example.org")).keyIds(), (std::vector<std::string>{"ec1", "rsa1"}));
  EXPECT_TRUE(validateJwtSvid(ecToken(goodClaims()), parsed, {"db"}, kNow));
}

TEST_F(JwtSvidTest, RefusesForbiddenHeaders) {
  const json claims = goodClaims();
  // alg none: header and payload, empty signature.
  std::string none = base64UrlEncode(json{{"alg", "none"}, {"kid", "ec1"}}.dump()) + "." +
                     base64UrlEncode(claims.dump()) + ".";
  expectRefused(none, "unsupported_algorithm");
  expectRefused(signRaw({{"alg", "HS256"}, {"kid", "ec1"}}, claims, ec_, "ES256"),
                "unsupported_algorithm");
  expectRefused(signRaw({{"alg", "EdDSA"}, {"kid", "ec1"}}, claims, ec_, "ES256"),
                "unsupported_algorithm");
  expectRefused(signRaw({{"kid", "ec1"}}, claims, ec_, "ES256"), "unsupported_algorithm");
  expectRefused(signRaw({{"alg", "ES256"}}, claims, ec_, "ES256"), "malformed");  // no kid
  expectRefused(signRaw({{"alg", "ES256"}, {"kid", ""}}, claims, ec_, "ES256"), "malformed");
  expectRefused(
      signRaw({{"alg", "ES256"}, {"kid", "ec1"}, {"typ", "at+jwt"}}, claims, ec_, "ES256"),
      "malformed");
  EXPECT_TRUE(
      validate(signRaw({{"alg", "ES256"}, {"kid", "ec1"}, {"typ", "JOSE"}}, claims, ec_, "ES256")));
  for (const char* extra : {"crit", "jku", "jwk", "x5u", "x5c", "cty"}) {
    expectRefused(signRaw({{"alg", "ES256"}, {"kid", "ec1"}, {extra, "x"}}, claims, ec_, "ES256"),
                  "malformed");
  }
}

TEST_F(JwtSvidTest, RefusesAlgorithmKeyConfusion) {
  // An RS256 header naming the EC key, and ES384 naming the P-256 key.
  expectRefused(signRaw({{"alg", "RS256"}, {"kid", "ec1"}}, goodClaims(), rsa_, "RS256"),
                "key_mismatch");
  expectRefused(signRaw({{"alg", "ES384"}, {"kid", "ec1"}}, goodClaims(), ec_, "ES256"),
                "key_mismatch");
  expectRefused(signRaw({{"alg", "ES256"}, {"kid", "rsa1"}}, goodClaims(), ec_, "ES256"),
                "key_mismatch");
}

TEST_F(JwtSvidTest, RefusesBadSignatures) {
  std::string token = ecToken(goodClaims());
  // Another key under the same kid.
  PrivateKey other = must(PrivateKey::generate(KeyType::kEcP256));
  expectRefused(signRaw({{"alg", "ES256"}, {"kid", "ec1"}}, goodClaims(), other, "ES256"),
                "bad_signature");
  // A payload swapped under an intact signature.
  json claims = goodClaims();
  claims["sub"] = "spiffe://example.org/admin";
  const std::string tampered = token.substr(0, token.find('.') + 1) +
                               base64UrlEncode(claims.dump()) + token.substr(token.rfind('.'));
  expectRefused(tampered, "bad_signature");
  // A DER-encoded ECDSA signature where JWS wants r || s.
  std::string truncated =
      token.substr(0, token.rfind('.') + 1) + base64UrlEncode(std::string(70, 'x'));
  expectRefused(truncated, "bad_signature");
  // An empty signature.
  expectRefused(token.substr(0, token.rfind('.') + 1), "bad_signature");
}

TEST_F(JwtSvidTest, RefusesMalformedTokens) {
  const std::string token = ecToken(goodClaims());
  const std::vector<std::string> bad = {
      "",          "abc",
      "a.b",       token + ".x",
      token + "=", token.substr(0, token.find('.')) + "=" + token.substr(token.find('.')),
      " " + token, std::string(kMaxJwtSize + 1, 'a'),
      "e30.e30.",  // {} . {}
  };
  for (const auto& t : bad) {
    auto r = validate(t);
    EXPECT_FALSE(r) << t.substr(0, 80);
    if (!r) {
      EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    }
  }
  // Non-canonical base64url (the last symbol's unused bits set).
  std::string sig_part = token.substr(token.rfind('.') + 1);
  ASSERT_EQ(sig_part.size() % 4, 2u);  // 64 bytes -> 86 symbols: 4 unused bits in the last
  std::string noncanonical = sig_part;
  noncanonical.back() = noncanonical.back() == 'A' ? 'B' : 'A' + 1;
  expectRefused(token.substr(0, token.rfind('.') + 1) + noncanonical, "malformed");
}

TEST_F(JwtSvidTest, RefusesBadClaims) {
  auto with = [&](const std::function<void(json&)>& edit) {
    json claims = goodClaims();
    edit(claims);
    return ecToken(claims);
  };
  expectRefused(with([](json& c) { c.erase("sub"); }), "malformed");
  expectRefused(with([](json& c) { c["sub"] = "https://example.org/web"; }), "malformed");
  expectRefused(with([](json& c) { c["sub"] = 42; }), "malformed");
  expectRefused(with([](json& c) { c.erase("exp"); }), "malformed");
  expectRefused(with([](json& c) { c["exp"] = "tomorrow"; }), "malformed");
  expectRefused(with([](json& c) { c.erase("aud"); }), "malformed");
  expectRefused(with([](json& c) { c["aud"] = json::array(); }), "malformed");
  expectRefused(with([](json& c) { c["aud"] = json::array({"db", 7}); }), "malformed");
  expectRefused(with([](json& c) { c["sub"] = "spiffe://other.org/web"; }), "unknown_trust_domain");

  // Two `sub` members: never "the last one wins".
  const std::string dup = R"({"sub":"spiffe://example.org/web","aud":["db"],"exp":)" +
                          std::to_string(toUnix(kNow) + 300) +
                          R"(,"sub":"spiffe://example.org/admin"})";
  const std::string input =
      base64UrlEncode(R"({"alg":"ES256","kid":"ec1"})") + "." + base64UrlEncode(dup);
  // Sign the raw text so only the duplicate is wrong.
  std::string token = signRaw({{"alg", "ES256"}, {"kid", "ec1"}}, goodClaims(), ec_, "ES256");
  auto r = validate(input + token.substr(token.rfind('.')));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("duplicate"), std::string::npos) << r.error().message;
}

TEST_F(JwtSvidTest, ChecksTimesWithLeeway) {
  auto at = [&](int64_t exp_offset) {
    json claims = goodClaims();
    claims["exp"] = toUnix(kNow) + exp_offset;
    return ecToken(claims);
  };
  EXPECT_TRUE(validate(at(-30))) << "expired within the leeway";
  expectRefused(at(-kJwtLeeway.count() - 1), "expired");
  json claims = goodClaims();
  claims["nbf"] = toUnix(kNow) + 3600;
  expectRefused(ecToken(claims), "not_yet_valid");
  claims = goodClaims();
  claims["iat"] = toUnix(kNow) + 3600;
  expectRefused(ecToken(claims), "not_yet_valid");
  claims = goodClaims();
  claims["nbf"] = toUnix(kNow) + 10;
  EXPECT_TRUE(validate(ecToken(claims))) << "not before, within the leeway";
}

TEST_F(JwtSvidTest, ChecksAudience) {
  const std::string token = ecToken(goodClaims());
  expectRefused(token, "audience_mismatch", {"other"});
  EXPECT_TRUE(validate(token, {"other", "db"}));
  auto r = validate(token, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST_F(JwtSvidTest, RefusesUnknownKey) {
  expectRefused(signRaw({{"alg", "ES256"}, {"kid", "nope"}}, goodClaims(), ec_, "ES256"),
                "unknown_key");
}

TEST_F(JwtSvidTest, InsecureParseSkipsSignatureAndTime) {
  json claims = goodClaims();
  claims["exp"] = toUnix(kNow) - 86400;
  PrivateKey other = must(PrivateKey::generate(KeyType::kEcP256));
  auto svid = must(
      parseJwtSvidInsecure(signRaw({{"alg", "ES256"}, {"kid", "zz"}}, claims, other, "ES256")));
  EXPECT_EQ(svid.id.str(), "spiffe://example.org/web");
  EXPECT_EQ(svid.key_id, "zz");
  EXPECT_FALSE(parseJwtSvidInsecure("e30.e30.e30"));
}

TEST(JwtBundleTest, ParsesJwksRules) {
  const auto example = td("example.org");
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  JwtBundle made(example);
  must(made.add("k1", key));
  json jwk = json::parse(made.toJwks())["keys"][0];

  auto parse = [&](const json& doc) { return JwtBundle::parse(example, doc.dump()); };
  EXPECT_TRUE(parse({{"keys", json::array()}})) << "an empty key list is legal";
  EXPECT_FALSE(parse(json::object())) << "keys is required";
  EXPECT_FALSE(JwtBundle::parse(example, "not json"));

  // A SPIFFE bundle: the x509-svid key is skipped, the jwt-svid key kept.
  json spiffe_jwk = jwk;
  spiffe_jwk["use"] = "jwt-svid";
  json x509_jwk = {{"kty", "EC"}, {"use", "x509-svid"}, {"x5c", json::array({"AAAA"})}};
  auto spiffe = must(parse({{"keys", {x509_jwk, spiffe_jwk}}, {"spiffe_sequence", 1}}));
  EXPECT_EQ(spiffe.keyIds(), std::vector<std::string>{"k1"});

  // Unknown key types are skipped; an Ed25519 (OKP) key is not a JWT-SVID key.
  EXPECT_TRUE(
      must(parse({{"keys", {{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AA"}, {"kid", "e"}}}}}))
          .empty());

  json no_kid = jwk;
  no_kid.erase("kid");
  EXPECT_FALSE(parse({{"keys", {no_kid}}}));
  EXPECT_FALSE(parse({{"keys", {jwk, jwk}}})) << "duplicate kid";
  json off_curve = jwk;
  std::string y = must(base64UrlDecode(jwk["y"].get<std::string>()));
  y.back() ^= 1;
  off_curve["y"] = base64UrlEncode(y);
  EXPECT_FALSE(parse({{"keys", {off_curve}}})) << "a point not on the curve";
  json short_x = jwk;
  short_x["x"] = base64UrlEncode(must(base64UrlDecode(jwk["x"].get<std::string>())).substr(1));
  EXPECT_FALSE(parse({{"keys", {short_x}}}));
  json bad_curve = jwk;
  bad_curve["crv"] = "secp256k1";
  EXPECT_FALSE(parse({{"keys", {bad_curve}}}));

  PrivateKey small = must(PrivateKey::generate(KeyType::kRsa2048));
  JwtBundle rsa(example);
  must(rsa.add("r", small));
  EXPECT_TRUE(JwtBundle::parse(example, rsa.toJwks()));
  EXPECT_EQ(rsa.add("r", small).error().code, Code::kAlreadyExists);
  PrivateKey ed = must(PrivateKey::generate(KeyType::kEd25519));
  EXPECT_FALSE(rsa.add("ed", ed));
}

TEST(JwtSignTest, RefusesBadOptions) {
  PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
  const SpiffeId sub = id("spiffe://example.org/web");
  EXPECT_FALSE(signJwtSvid({sub, {}, kNow, kNow + seconds(60), "k"}, key));
  EXPECT_FALSE(signJwtSvid({sub, {"a"}, kNow, kNow + seconds(60), ""}, key));
  EXPECT_FALSE(signJwtSvid({sub, {"a"}, kNow, kNow, "k"}, key));
  PrivateKey ed = must(PrivateKey::generate(KeyType::kEd25519));
  EXPECT_FALSE(signJwtSvid({sub, {"a"}, kNow, kNow + seconds(60), "k"}, ed));
}

}  // namespace
}  // namespace mutual::spiffe
