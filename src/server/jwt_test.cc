#include "server/jwt.h"

#include <gtest/gtest.h>

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
  EXPECT_FALSE(verifyJwt(token, must(publicKeyInfo(other))));
  std::string tampered = token;
  tampered[tampered.find('.') + 2] ^= 1;
  EXPECT_FALSE(verifyJwt(tampered, must(publicKeyInfo(key))));
  EXPECT_FALSE(verifyJwt("a.b", must(publicKeyInfo(key))));
}

}  // namespace
}  // namespace mutual::server
