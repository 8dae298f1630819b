#include "server/jwt.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/testing.h"
#include "base/time.h"
#include "server/x509.h"

namespace mutual::server {
namespace {

using mutual::testing::must;

const TimePoint kNow = fromUnix(1'780'000'000);

TEST(JwtTest, SignsAndVerifiesEveryKeyType) {
  for (auto type :
       {crypto::KeyType::kEcP256, crypto::KeyType::kEcP384, crypto::KeyType::kRsa2048}) {
    auto key = must(crypto::PrivateKey::generate(type));
    const std::string token = must(
        signJwt(key, "kid-1", "spiffe://example.org/web", {"db"}, kNow, std::chrono::minutes(5)));
    JwtClaims claims = must(verifyJwt(token, must(publicKeyInfo(key))));
    EXPECT_EQ(claims.kid, "kid-1");
    EXPECT_EQ(claims.subject, "spiffe://example.org/web");
    EXPECT_EQ(claims.audience, std::vector<std::string>{"db"});
    EXPECT_EQ(claims.expires_at, toUnix(kNow) + 300);
    EXPECT_EQ(claims.issued_at, toUnix(kNow));
  }
}

TEST(JwtTest, Es256SignaturesAreTheJoseForm) {
  auto key = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  const std::string token = must(
      signJwt(key, "k", "spiffe://example.org/web", {"a", "b"}, kNow, std::chrono::minutes(5)));
  const std::string signature = token.substr(token.rfind('.') + 1);
  EXPECT_EQ(signature.size(), 86u);  // 64 bytes, base64url without padding
  EXPECT_EQ(must(verifyJwt(token, must(publicKeyInfo(key)))).audience,
            (std::vector<std::string>{"a", "b"}));
}

TEST(JwtTest, RefusesTamperingAndEmptyAudience) {
  auto key = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  auto other = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  EXPECT_FALSE(signJwt(key, "k", "spiffe://example.org/web", {}, kNow, std::chrono::minutes(5)));
  std::string token =
      must(signJwt(key, "k", "spiffe://example.org/web", {"a"}, kNow, std::chrono::minutes(5)));
  auto wrong_key = verifyJwt(token, must(publicKeyInfo(other)));
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().message, "JWT signature does not verify");
  // Other claims, well formed, under the original signature: it must be the signature that
  // fails, not the parsing.
  const size_t first_dot = token.find('.');
  const size_t last_dot = token.rfind('.');
  std::string claims = must(base64UrlDecode(token.substr(first_dot + 1, last_dot - first_dot - 1)));
  const size_t web = claims.find("spiffe://example.org/web");
  ASSERT_NE(web, std::string::npos) << claims;
  claims.replace(web, 24, "spiffe://example.org/db");
  const std::string tampered = token.substr(0, first_dot + 1) + base64UrlEncode(claims) +
                               token.substr(last_dot);
  auto forged = verifyJwt(tampered, must(publicKeyInfo(key)));
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().message, "JWT signature does not verify");
  EXPECT_FALSE(verifyJwt("a.b", must(publicKeyInfo(key))));
}

}  // namespace
}  // namespace mutual::server
