#include "server/bundle_format.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "crypto/certificate.h"
#include "crypto/handles.h"
#include "spiffe/bundle.h"

namespace mutual::server {

namespace {

using json = nlohmann::json;
using BnPtr = crypto::BignumPtr;

std::string bnBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

Result<std::vector<crypto::Certificate>> certificates(const datastore::Bundle& bundle) {
  std::vector<crypto::Certificate> out;
  for (const auto& der : bundle.x509_authorities_der) {
    auto cert = crypto::Certificate::fromDer(der);
    if (!cert) return fail(cert.error());
    out.push_back(std::move(*cert));
  }
  return out;
}

// The public key DER of a JWK (EC P-256/P-384 or RSA).
Result<std::string> jwkToDer(const json& jwk) {
  const std::string kty = jwk.value("kty", "");
  crypto::PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, kty == "RSA" ? "RSA" : "EC", nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, crypto::Deleter<OSSL_PARAM_BLD_free>> build(OSSL_PARAM_BLD_new());
  std::string point;
  BnPtr n;
  BnPtr e;
  if (kty == "EC") {
    const std::string crv = jwk.value("crv", "");
    auto x = base64UrlDecode(jwk.value("x", ""));
    auto y = base64UrlDecode(jwk.value("y", ""));
    if (!x || !y || (crv != "P-256" && crv != "P-384"))
      return invalidArgument("unsupported EC JWK");
    point = std::string("\x04", 1) + *x + *y;
    OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                    crv == "P-256" ? "P-256" : "P-384", 0);
    OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
  } else if (kty == "RSA") {
    auto nb = base64UrlDecode(jwk.value("n", ""));
    auto eb = base64UrlDecode(jwk.value("e", ""));
    if (!nb || !eb) return invalidArgument("unsupported RSA JWK");
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(nb->data()),
                      static_cast<int>(nb->size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(eb->data()),
                      static_cast<int>(eb->size()), nullptr));
    OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  } else {
    return invalidArgument("unsupported JWK kty \"" + kty + "\"");
  }
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build.get());
  EVP_PKEY* key = nullptr;
  const bool ok = ctx && params != nullptr && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
                  EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  OSSL_PARAM_free(params);
  crypto::PKeyPtr owned(key);
  if (!ok) {
    ERR_clear_error();
    return invalidArgument("JWK is not a valid public key");
  }
  unsigned char* out = nullptr;
  const int len = i2d_PUBKEY(owned.get(), &out);
  if (len <= 0) return invalidArgument("JWK cannot be encoded");
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

}  // namespace

Result<std::string> bundleToPem(const datastore::Bundle& bundle) {
  auto certs = certificates(bundle);
  if (!certs) return fail(certs.error());
  if (certs->empty()) return std::string();
  return crypto::toPem(*certs);
}

Result<std::string> jwtAuthorityJwk(const datastore::JwtAuthority& authority) {
  const auto* p = reinterpret_cast<const unsigned char*>(authority.public_key_der.data());
  crypto::PKeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(authority.public_key_der.size())));
  if (!key) {
    ERR_clear_error();
    return invalidArgument("JWT authority " + authority.key_id + ": unreadable public key");
  }
  json jwk;
  if (EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_EC) {
    unsigned char point[133];
    size_t len = 0;
    char group[32] = {0};
    size_t group_len = 0;
    if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                        &len) != 1 ||
        EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &group_len) != 1 ||
        len < 3 || point[0] != 0x04) {
      ERR_clear_error();
      return invalidArgument("JWT authority " + authority.key_id + ": unsupported EC key");
    }
    const size_t coordinate = (len - 1) / 2;
    const std::string_view name(group, group_len);
    jwk["kty"] = "EC";
    jwk["crv"] = name == "prime256v1" || name == "P-256" ? "P-256" : "P-384";
    jwk["x"] = base64UrlEncode(std::string_view(reinterpret_cast<char*>(point + 1), coordinate));
    jwk["y"] = base64UrlEncode(
        std::string_view(reinterpret_cast<char*>(point + 1 + coordinate), coordinate));
  } else if (EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_RSA) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
    BnPtr nn(n);
    BnPtr ee(e);
    if (!nn || !ee) return invalidArgument("JWT authority " + authority.key_id + ": bad RSA key");
    jwk["kty"] = "RSA";
    jwk["n"] = base64UrlEncode(bnBytes(nn.get()));
    jwk["e"] = base64UrlEncode(bnBytes(ee.get()));
  } else {
    return invalidArgument("JWT authority " + authority.key_id + ": unsupported key type");
  }
  jwk["kid"] = authority.key_id;
  jwk["use"] = "jwt-svid";
  return jwk.dump();
}

Result<std::string> bundleToSpiffeJson(const datastore::Bundle& bundle) {
  auto td = spiffe::TrustDomain::parse(bundle.trust_domain);
  if (!td) return fail(td.error());
  auto certs = certificates(bundle);
  if (!certs) return fail(certs.error());
  spiffe::X509Bundle out{*td, std::move(*certs), bundle.sequence_number, std::nullopt, {}};
  if (bundle.refresh_hint > 0) out.refresh_hint = bundle.refresh_hint;
  for (const auto& jwt : bundle.jwt_authorities) {
    auto jwk = jwtAuthorityJwk(jwt);
    if (!jwk) return fail(jwk.error());
    out.jwt_keys_json.push_back(std::move(*jwk));
  }
  return spiffe::toSpiffeBundleJson(out);
}

Result<datastore::Bundle> parseBundle(std::string_view trust_domain, std::string_view text,
                                      std::string_view format) {
  auto td = spiffe::TrustDomain::parse(trust_domain);
  if (!td) return fail(td.error());
  datastore::Bundle out;
  out.trust_domain = td->name();
  spiffe::X509Bundle parsed{*td, {}, std::nullopt, std::nullopt, {}};
  if (format == "pem") {
    auto pem = spiffe::parsePemBundle(*td, text);
    if (!pem) return fail(pem.error());
    parsed = std::move(*pem);
  } else if (format == "spiffe") {
    auto spiffe = spiffe::parseSpiffeBundle(*td, text);
    if (!spiffe) return fail(spiffe.error());
    parsed = std::move(*spiffe);
    for (const auto& text_jwk : parsed.jwt_keys_json) {
      json jwk = json::parse(text_jwk, nullptr, false);
      auto der = jwkToDer(jwk);
      if (!der) return fail(der.error().prefix("jwt-svid key " + jwk.value("kid", "")));
      out.jwt_authorities.push_back({jwk.value("kid", ""), std::move(*der), 0});
    }
  } else {
    return invalidArgument("--format " + std::string(format) + ": expected pem or spiffe");
  }
  for (const auto& cert : parsed.authorities) {
    auto der = cert.toDer();
    if (!der) return fail(der.error());
    out.x509_authorities_der.push_back(std::move(*der));
  }
  if (parsed.refresh_hint) out.refresh_hint = *parsed.refresh_hint;
  return out;
}

}  // namespace mutual::server
