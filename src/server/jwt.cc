#include "server/jwt.h"

#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/time.h"
#include "crypto/handles.h"
#include "crypto/openssl_error.h"

namespace mutual::server {

namespace {

using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, crypto::Deleter<ECDSA_SIG_free>>;

struct Algorithm {
  std::string name;  // "ES256"
  const EVP_MD* md;
  size_t coordinate = 0;  // EC: bytes per r and s in the JWS form; 0 for RSA
};

Result<Algorithm> algorithmFor(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
      if (EVP_PKEY_get_bits(key) == 256) return Algorithm{"ES256", EVP_sha256(), 32};
      if (EVP_PKEY_get_bits(key) == 384) return Algorithm{"ES384", EVP_sha384(), 48};
      break;
    case EVP_PKEY_RSA:
      return Algorithm{"RS256", EVP_sha256(), 0};
    default:
      break;
  }
  return invalidArgument("JWT key type is not supported (P-256, P-384 or RSA)");
}

Result<Algorithm> algorithmNamed(std::string_view name) {
  if (name == "ES256") return Algorithm{"ES256", EVP_sha256(), 32};
  if (name == "ES384") return Algorithm{"ES384", EVP_sha384(), 48};
  if (name == "RS256") return Algorithm{"RS256", EVP_sha256(), 0};
  return invalidArgument("JWT algorithm \"" + std::string(name) + "\" is not accepted");
}

// DER ECDSA-Sig-Value -> r || s, each left-padded to `size` bytes (RFC 7518 §3.4).
Result<std::string> derToJose(std::string_view der, size_t size) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return fail(crypto::openSslError(Code::kInternal, "bad ECDSA signature"));
  std::string out(size * 2, '\0');
  const BIGNUM* r = ECDSA_SIG_get0_r(sig.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(sig.get());
  if (BN_bn2binpad(r, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size)) < 0 ||
      BN_bn2binpad(s, reinterpret_cast<unsigned char*>(out.data() + size), static_cast<int>(size)) <
          0) {
    return fail(Code::kInternal, "ECDSA signature does not fit the JWS form");
  }
  return out;
}

Result<std::string> joseToDer(std::string_view jose, size_t size) {
  if (jose.size() != size * 2) return invalidArgument("JWT signature has the wrong length");
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(jose.data()), static_cast<int>(size),
                        nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(jose.data() + size),
                        static_cast<int>(size), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return fail(Code::kInternal, "cannot decode the JWT signature");
  }
  unsigned char* out = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &out);
  if (len <= 0) return fail(Code::kInternal, "cannot encode the JWT signature");
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

}  // namespace

Result<std::string> signJwt(const crypto::PrivateKey& key, std::string_view kid,
                            std::string_view spiffe_id, const std::vector<std::string>& audience,
                            TimePoint now, Seconds ttl) {
  if (audience.empty()) return invalidArgument("audience must be specified");
  auto alg = algorithmFor(key.get());
  if (!alg) return fail(alg.error());
  nlohmann::json header = {{"alg", alg->name}, {"kid", kid}, {"typ", "JWT"}};
  nlohmann::json claims;
  if (audience.size() == 1) {
    claims["aud"] = audience.front();
  } else {
    claims["aud"] = audience;
  }
  claims["exp"] = toUnix(now + ttl);
  claims["iat"] = toUnix(now);
  claims["sub"] = spiffe_id;
  const std::string signing_input =
      base64UrlEncode(header.dump()) + "." + base64UrlEncode(claims.dump());
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, alg->md, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, signing_input.size()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "cannot sign the JWT"));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, data,
                     signing_input.size()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "cannot sign the JWT"));
  }
  signature.resize(len);
  if (alg->coordinate != 0) {
    auto jose = derToJose(signature, alg->coordinate);
    if (!jose) return fail(jose.error());
    signature = std::move(*jose);
  }
  return signing_input + "." + base64UrlEncode(signature);
}

Result<JwtClaims> verifyJwt(std::string_view token, std::string_view public_key_der) {
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return invalidArgument("JWT is not in JWS compact form (three dot-separated parts)");
  }
  auto header_json = base64UrlDecode(token.substr(0, dot1));
  auto claims_json = base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64UrlDecode(token.substr(dot2 + 1));
  if (!header_json || !claims_json || !signature) return invalidArgument("JWT is not base64url");
  auto header = nlohmann::json::parse(*header_json, nullptr, false);
  auto claims = nlohmann::json::parse(*claims_json, nullptr, false);
  if (!header.is_object() || !claims.is_object() || !header.contains("alg") ||
      !header["alg"].is_string()) {
    return invalidArgument("JWT header or claims are not JSON objects");
  }
  auto alg = algorithmNamed(header["alg"].get<std::string>());
  if (!alg) return fail(alg.error());
  const auto* p = reinterpret_cast<const unsigned char*>(public_key_der.data());
  crypto::PKeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(public_key_der.size())));
  if (!key) {
    ERR_clear_error();
    return invalidArgument("JWT verification key is not a SubjectPublicKeyInfo");
  }
  std::string sig = *signature;
  if (alg->coordinate != 0) {
    auto der = joseToDer(sig, alg->coordinate);
    if (!der) return fail(der.error());
    sig = std::move(*der);
  }
  const std::string_view signing_input = token.substr(0, dot2);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, alg->md, nullptr, key.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1) {
    ERR_clear_error();
    return invalidArgument("JWT signature does not verify");
  }
  JwtClaims out;
  out.alg = alg->name;
  out.kid = header.value("kid", "");
  out.subject = claims.value("sub", "");
  if (claims.contains("aud")) {
    if (claims["aud"].is_string()) {
      out.audience.push_back(claims["aud"].get<std::string>());
    } else if (claims["aud"].is_array()) {
      for (const auto& a : claims["aud"]) {
        if (a.is_string()) out.audience.push_back(a.get<std::string>());
      }
    }
  }
  out.expires_at = claims.value("exp", int64_t{0});
  out.issued_at = claims.value("iat", int64_t{0});
  return out;
}

}  // namespace mutual::server
