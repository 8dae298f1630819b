#include "spiffe/jwt_svid.h"

#include <cmath>
#include <set>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "base/encoding.h"
#include "base/time.h"
#include "crypto/handles.h"
#include "crypto/openssl_error.h"

namespace mutual::spiffe {

using json = nlohmann::json;

namespace {

enum class Family { kEc, kRsaPkcs1, kRsaPss };

struct Algorithm {
  std::string_view name;
  Family family;
  int hash_bits;  // 256, 384, 512
  int ec_bits;    // EC: the curve's field size (P-521 for ES512); 0 for RSA
};

constexpr Algorithm kAlgorithms[] = {
    {"ES256", Family::kEc, 256, 256},     {"ES384", Family::kEc, 384, 384},
    {"ES512", Family::kEc, 512, 521},     {"RS256", Family::kRsaPkcs1, 256, 0},
    {"RS384", Family::kRsaPkcs1, 384, 0}, {"RS512", Family::kRsaPkcs1, 512, 0},
    {"PS256", Family::kRsaPss, 256, 0},   {"PS384", Family::kRsaPss, 384, 0},
    {"PS512", Family::kRsaPss, 512, 0},
};

const Algorithm* findAlgorithm(std::string_view name) {
  for (const auto& alg : kAlgorithms) {
    if (alg.name == name) return &alg;
  }
  return nullptr;
}

const EVP_MD* digestFor(const Algorithm& alg) {
  switch (alg.hash_bits) {
    case 256:
      return EVP_sha256();
    case 384:
      return EVP_sha384();
    default:
      return EVP_sha512();
  }
}

tl::unexpected<Error> jwtError(std::string reason, std::string message) {
  return fail(Code::kInvalidArgument, "JWT-SVID: " + message, std::move(reason));
}

// Strict base64url as JWS wants it: no padding, canonical (re-encoding gives the same text).
Result<std::string> decodePart(std::string_view text, std::string_view what) {
  if (text.find('=') != std::string_view::npos) {
    return jwtError("malformed", std::string(what) + " is padded base64url");
  }
  auto decoded = base64UrlDecode(text);
  if (!decoded || base64UrlEncode(*decoded) != text) {
    return jwtError("malformed", std::string(what) + " is not valid base64url");
  }
  return decoded;
}

// Parses a JSON object, refusing duplicate member names at any depth (two `sub` claims must
// not mean whatever the last one says).
Result<json> parseObject(std::string_view text, std::string_view what) {
  std::vector<std::set<std::string>> seen;
  bool duplicate = false;
  json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!seen.empty() && !seen.back().insert(parsed.get<std::string>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  json value = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (value.is_discarded()) return jwtError("malformed", std::string(what) + " is not JSON");
  if (duplicate) return jwtError("malformed", std::string(what) + " has a duplicate member");
  if (!value.is_object()) return jwtError("malformed", std::string(what) + " is not a JSON object");
  return value;
}

// ---- Keys -----------------------------------------------------------------------------------

std::string bnBytes(const BIGNUM* bn, size_t width) {
  std::string out(width == 0 ? static_cast<size_t>(BN_num_bytes(bn)) : width, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

std::optional<std::string> bnParam(EVP_PKEY* key, const char* name, size_t width) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  crypto::BignumPtr bn(raw);
  if (width != 0 && static_cast<size_t>(BN_num_bytes(bn.get())) > width) return std::nullopt;
  return bnBytes(bn.get(), width);
}

std::string_view curveName(int bits) {
  switch (bits) {
    case 256:
      return "P-256";
    case 384:
      return "P-384";
    case 521:
      return "P-521";
    default:
      return "";
  }
}

size_t fieldBytes(int ec_bits) { return static_cast<size_t>((ec_bits + 7) / 8); }

}  // namespace

struct JwtAuthority {
  crypto::PKeyPtr key;
  bool is_ec = false;
  int ec_bits = 0;  // 256, 384, 521
  json jwk;         // kty, kid and the key parameters
};

namespace {

// The public JWK of an EC or RSA key.
Result<json> publicJwk(EVP_PKEY* key) {
  json jwk;
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_EC) {
    const int bits = EVP_PKEY_get_bits(key);
    const auto crv = curveName(bits);
    if (crv.empty()) return invalidArgument("JWT keys must be EC P-256, P-384 or P-521, or RSA");
    auto x = bnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, fieldBytes(bits));
    auto y = bnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, fieldBytes(bits));
    if (!x || !y) return fail(crypto::openSslError(Code::kInternal, "reading an EC public key"));
    jwk["kty"] = "EC";
    jwk["crv"] = crv;
    jwk["x"] = base64UrlEncode(*x);
    jwk["y"] = base64UrlEncode(*y);
    return jwk;
  }
  if (id == EVP_PKEY_RSA) {
    auto n = bnParam(key, OSSL_PKEY_PARAM_RSA_N, 0);
    auto e = bnParam(key, OSSL_PKEY_PARAM_RSA_E, 0);
    if (!n || !e) return fail(crypto::openSslError(Code::kInternal, "reading an RSA public key"));
    jwk["kty"] = "RSA";
    jwk["n"] = base64UrlEncode(*n);
    jwk["e"] = base64UrlEncode(*e);
    return jwk;
  }
  return invalidArgument("JWT keys must be EC P-256, P-384 or P-521, or RSA");
}

Result<crypto::PKeyPtr> keyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, crypto::Deleter<OSSL_PARAM_free>> params(
      OSSL_PARAM_BLD_to_param(bld));
  crypto::PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    crypto::drainOpenSslErrors();
    return invalidArgument("not a valid public key");
  }
  crypto::PKeyPtr key(raw);
  // For EC: the point is on the curve and not the identity; for RSA: n odd, e sane.
  crypto::PKeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    crypto::drainOpenSslErrors();
    return invalidArgument("not a valid public key");
  }
  return key;
}

// A JWK member holding a base64url big-endian integer.
Result<std::string> jwkBytes(const json& jwk, const char* field) {
  auto it = jwk.find(field);
  if (it == jwk.end() || !it->is_string()) {
    return invalidArgument(std::string("\"") + field + "\" is missing");
  }
  const auto& text = it->get_ref<const std::string&>();
  auto bytes = base64UrlDecode(text);
  if (!bytes || text.find('=') != std::string::npos || base64UrlEncode(*bytes) != text) {
    return invalidArgument(std::string("\"") + field + "\" is not base64url");
  }
  return bytes;
}

Result<std::shared_ptr<JwtAuthority>> authorityFromJwk(const json& jwk) {
  auto authority = std::make_shared<JwtAuthority>();
  const std::string kty = jwk.value("kty", "");
  std::unique_ptr<OSSL_PARAM_BLD, crypto::Deleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
  if (!bld) return fail(crypto::openSslError(Code::kInternal, "OSSL_PARAM_BLD_new"));
  if (kty == "EC") {
    auto crv = jwk.find("crv");
    if (crv == jwk.end() || !crv->is_string()) return invalidArgument("\"crv\" is missing");
    const auto& name = crv->get_ref<const std::string&>();
    const char* group = name == "P-256"   ? "prime256v1"
                        : name == "P-384" ? "secp384r1"
                        : name == "P-521" ? "secp521r1"
                                          : nullptr;
    if (group == nullptr) return invalidArgument("unsupported curve \"" + name + "\"");
    const int bits = name == "P-256" ? 256 : name == "P-384" ? 384 : 521;
    auto x = jwkBytes(jwk, "x");
    if (!x) return fail(x.error());
    auto y = jwkBytes(jwk, "y");
    if (!y) return fail(y.error());
    if (x->size() != fieldBytes(bits) || y->size() != fieldBytes(bits)) {
      return invalidArgument("\"x\" and \"y\" must be " + std::to_string(fieldBytes(bits)) +
                             " bytes for " + name);
    }
    const std::string point = std::string(1, '\x04') + *x + *y;
    if (OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return fail(crypto::openSslError(Code::kInternal, "building an EC key"));
    }
    auto key = keyFromParams("EC", bld.get());
    if (!key) return fail(key.error());
    authority->key = std::move(*key);
    authority->is_ec = true;
    authority->ec_bits = bits;
  } else {  // RSA
    auto n = jwkBytes(jwk, "n");
    if (!n) return fail(n.error());
    auto e = jwkBytes(jwk, "e");
    if (!e) return fail(e.error());
    crypto::BignumPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                                     static_cast<int>(n->size()), nullptr));
    crypto::BignumPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                                     static_cast<int>(e->size()), nullptr));
    if (!bn_n || !bn_e) return fail(crypto::openSslError(Code::kInternal, "BN_bin2bn"));
    if (BN_num_bits(bn_n.get()) < 2048 || BN_num_bits(bn_n.get()) > 8192) {
      return invalidArgument("RSA keys must have 2048 to 8192 bits");
    }
    if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
      return fail(crypto::openSslError(Code::kInternal, "building an RSA key"));
    }
    auto key = keyFromParams("RSA", bld.get());
    if (!key) return fail(key.error());
    authority->key = std::move(*key);
  }
  auto canonical = publicJwk(authority->key.get());
  if (!canonical) return fail(canonical.error());
  authority->jwk = std::move(*canonical);
  return authority;
}

// ---- Signatures -----------------------------------------------------------------------------

bool keyFits(const JwtAuthority& key, const Algorithm& alg) {
  if (alg.family == Family::kEc) return key.is_ec && key.ec_bits == alg.ec_bits;
  return !key.is_ec;
}

Result<void> verifySignature(const Algorithm& alg, const JwtAuthority& key,
                             std::string_view signing_input, const std::string& signature) {
  std::string der;
  if (alg.family == Family::kEc) {
    // JWS carries r || s, each the curve's size (RFC 7518 §3.4); OpenSSL wants DER.
    const size_t n = fieldBytes(alg.ec_bits);
    if (signature.size() != 2 * n)
      return jwtError("bad_signature", "the signature has the wrong size");
    std::unique_ptr<ECDSA_SIG, crypto::Deleter<ECDSA_SIG_free>> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()),
                          static_cast<int>(n), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data() + n),
                          static_cast<int>(n), nullptr);
    if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return fail(crypto::openSslError(Code::kInternal, "building an ECDSA signature"));
    }
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(sig.get(), &out);
    if (len <= 0) return fail(crypto::openSslError(Code::kInternal, "encoding an ECDSA signature"));
    der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
    OPENSSL_free(out);
  } else {
    der = signature;
  }
  std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>> md(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ERR_clear_error();
  if (!md || EVP_DigestVerifyInit(md.get(), &pctx, digestFor(alg), nullptr, key.key.get()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "EVP_DigestVerifyInit"));
  }
  if (alg.family == Family::kRsaPss &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return fail(crypto::openSslError(Code::kInternal, "setting RSA-PSS parameters"));
  }
  const int ok = EVP_DigestVerify(
      md.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
      reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  crypto::drainOpenSslErrors();
  if (ok != 1) return jwtError("bad_signature", "the signature does not verify");
  return {};
}

// ---- Token structure ------------------------------------------------------------------------

struct Parsed {
  const Algorithm* alg = nullptr;
  std::string key_id;
  json claims;
  std::string_view signing_input;
  std::string signature;
};

Result<Parsed> parseToken(std::string_view token) {
  if (token.empty()) return jwtError("malformed", "the token is empty");
  if (token.size() > kMaxJwtSize) return jwtError("malformed", "the token is too long");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return jwtError("malformed", "expected three dot-separated parts (JWS compact serialization)");
  }
  Parsed out;
  out.signing_input = token.substr(0, dot2);
  auto header_text = decodePart(token.substr(0, dot1), "the header");
  if (!header_text) return fail(header_text.error());
  auto header = parseObject(*header_text, "the header");
  if (!header) return fail(header.error());
  auto payload_text = decodePart(token.substr(dot1 + 1, dot2 - dot1 - 1), "the payload");
  if (!payload_text) return fail(payload_text.error());
  auto signature = decodePart(token.substr(dot2 + 1), "the signature");
  if (!signature) return fail(signature.error());
  out.signature = std::move(*signature);

  for (const auto& [name, value] : header->items()) {
    if (name != "alg" && name != "kid" && name != "typ") {
      return jwtError("malformed",
                      "header parameter \"" + name + "\" is not allowed in a JWT-SVID");
    }
  }
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) {
    return jwtError("unsupported_algorithm", "the header has no \"alg\"");
  }
  out.alg = findAlgorithm(alg->get_ref<const std::string&>());
  if (out.alg == nullptr) {
    return jwtError("unsupported_algorithm",
                    "algorithm \"" + alg->get<std::string>() + "\" is not allowed for JWT-SVIDs");
  }
  auto kid = header->find("kid");
  if (kid == header->end() || !kid->is_string() || kid->get_ref<const std::string&>().empty()) {
    return jwtError("malformed", "the header has no \"kid\"");
  }
  out.key_id = kid->get<std::string>();
  if (auto typ = header->find("typ"); typ != header->end()) {
    if (!typ->is_string() || (*typ != "JWT" && *typ != "JOSE")) {
      return jwtError("malformed", "header \"typ\" must be \"JWT\" or \"JOSE\"");
    }
  }
  auto claims = parseObject(*payload_text, "the claims");
  if (!claims) return fail(claims.error());
  out.claims = std::move(*claims);
  return out;
}

Result<TimePoint> timeClaim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number() || !std::isfinite(it->get<double>())) {
    return jwtError("malformed", std::string("claim \"") + name + "\" is not a number");
  }
  // NumericDate may carry a fraction (RFC 7519 §2); whole seconds are enough here.
  const double v = it->get<double>();
  if (v < -1e15 || v > 1e15)
    return jwtError("malformed", std::string("claim \"") + name + "\" is out of range");
  return fromUnix(static_cast<int64_t>(std::floor(v)));
}

// The claims every JWT-SVID has, without time or audience checks.
Result<JwtSvid> svidFrom(std::string_view token, Parsed& parsed) {
  const json& claims = parsed.claims;
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string())
    return jwtError("malformed", "claim \"sub\" is missing");
  auto id = SpiffeId::parse(sub->get_ref<const std::string&>());
  if (!id) return jwtError("malformed", "claim \"sub\": " + id.error().message);

  if (!claims.contains("exp")) return jwtError("malformed", "claim \"exp\" is missing");
  auto exp = timeClaim(claims, "exp");
  if (!exp) return fail(exp.error());

  std::vector<std::string> audience;
  auto aud = claims.find("aud");
  if (aud == claims.end()) return jwtError("malformed", "claim \"aud\" is missing");
  if (aud->is_string()) {
    audience.push_back(aud->get<std::string>());
  } else if (aud->is_array() && !aud->empty()) {
    for (const auto& a : *aud) {
      if (!a.is_string()) return jwtError("malformed", "claim \"aud\" holds a non-string");
      audience.push_back(a.get<std::string>());
    }
  } else {
    return jwtError("malformed", "claim \"aud\" must be a string or a non-empty list of strings");
  }

  JwtSvid svid{*id,    std::move(audience),           *exp,          std::nullopt,
               claims, std::string(parsed.alg->name), parsed.key_id, std::string(token)};
  if (claims.contains("iat")) {
    auto iat = timeClaim(claims, "iat");
    if (!iat) return fail(iat.error());
    svid.issued_at = *iat;
  }
  if (claims.contains("nbf")) {
    auto nbf = timeClaim(claims, "nbf");
    if (!nbf) return fail(nbf.error());
  }
  return svid;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

// ---- JwtBundle ------------------------------------------------------------------------------

JwtBundle::JwtBundle(TrustDomain trust_domain) : trust_domain_(std::move(trust_domain)) {}

Result<JwtBundle> JwtBundle::parse(const TrustDomain& trust_domain, std::string_view jwks) {
  auto doc = parseObject(jwks, "the JWT bundle");
  if (!doc) {
    return invalidArgument("JWT bundle of " + trust_domain.name() + ": not a JSON object");
  }
  auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->is_array()) {
    return invalidArgument("JWT bundle of " + trust_domain.name() + ": \"keys\" is missing");
  }
  JwtBundle bundle(trust_domain);
  for (size_t i = 0; i < keys->size(); ++i) {
    const json& jwk = (*keys)[i];
    const std::string where =
        "JWT bundle of " + trust_domain.name() + ": keys[" + std::to_string(i) + "]";
    if (!jwk.is_object()) return invalidArgument(where + ": not an object");
    if (auto use = jwk.find("use"); use != jwk.end() && *use != "jwt-svid") continue;
    auto kty = jwk.find("kty");
    if (kty == jwk.end() || !kty->is_string())
      return invalidArgument(where + ": \"kty\" is missing");
    if (*kty != "EC" && *kty != "RSA") continue;
    auto kid = jwk.find("kid");
    if (kid == jwk.end() || !kid->is_string() || kid->get_ref<const std::string&>().empty()) {
      return invalidArgument(where + ": \"kid\" is missing (a JWT authority needs a key ID)");
    }
    auto authority = authorityFromJwk(jwk);
    if (!authority) return invalidArgument(where + ": " + authority.error().message);
    (*authority)->jwk["kid"] = *kid;
    if (!bundle.keys_.emplace(kid->get<std::string>(), std::move(*authority)).second) {
      return invalidArgument(where + ": key ID \"" + kid->get<std::string>() + "\" appears twice");
    }
  }
  return bundle;
}

Result<void> JwtBundle::add(const std::string& key_id, const crypto::PrivateKey& key) {
  if (key_id.empty()) return invalidArgument("a JWT authority needs a key ID");
  if (keys_.contains(key_id)) {
    return fail(Code::kAlreadyExists, "key ID \"" + key_id + "\" is already in the bundle");
  }
  auto jwk = publicJwk(key.get());
  if (!jwk) return fail(jwk.error());
  (*jwk)["kid"] = key_id;
  // Round-trip through the JWK so the stored key is public-only, as a parsed one would be.
  auto authority = authorityFromJwk(*jwk);
  if (!authority) return fail(authority.error());
  (*authority)->jwk["kid"] = key_id;
  keys_.emplace(key_id, std::move(*authority));
  return {};
}

std::string JwtBundle::toJwks() const {
  json keys = json::array();
  for (const auto& [kid, authority] : keys_) keys.push_back(authority->jwk);
  return json{{"keys", std::move(keys)}}.dump();
}

std::vector<std::string> JwtBundle::keyIds() const {
  std::vector<std::string> out;
  for (const auto& [kid, authority] : keys_) out.push_back(kid);
  return out;
}

const JwtAuthority* JwtBundle::find(std::string_view key_id) const {
  auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : it->second.get();
}

// ---- Validation and signing -----------------------------------------------------------------

Result<JwtSvid> parseJwtSvidInsecure(std::string_view token) {
  auto parsed = parseToken(token);
  if (!parsed) return fail(parsed.error());
  return svidFrom(token, *parsed);
}

Result<JwtSvid> validateJwtSvid(std::string_view token, const JwtBundles& bundles,
                                const std::vector<std::string>& audience, TimePoint now) {
  if (audience.empty()) return invalidArgument("JWT-SVID: no audience to validate against");
  auto parsed = parseToken(token);
  if (!parsed) return fail(parsed.error());
  auto svid = svidFrom(token, *parsed);
  if (!svid) return fail(svid.error());

  const TrustDomain& td = svid->id.trustDomain();
  auto bundle = bundles.find(td);
  if (bundle == bundles.end()) {
    return jwtError("unknown_trust_domain", "no JWT bundle for trust domain " + td.name());
  }
  const JwtAuthority* key = bundle->second.find(parsed->key_id);
  if (key == nullptr) {
    return jwtError("unknown_key", "no JWT authority \"" + parsed->key_id +
                                       "\" in the bundle of trust domain " + td.name());
  }
  if (!keyFits(*key, *parsed->alg)) {
    return jwtError("key_mismatch", "key \"" + parsed->key_id + "\" cannot make " +
                                        std::string(parsed->alg->name) + " signatures");
  }
  if (auto verified = verifySignature(*parsed->alg, *key, parsed->signing_input, parsed->signature);
      !verified) {
    return fail(verified.error());
  }

  if (svid->expiry < now - kJwtLeeway) {
    return jwtError("expired", "the token expired at " + formatRfc3339(svid->expiry));
  }
  for (const char* claim : {"nbf", "iat"}) {
    if (!svid->claims.contains(claim)) continue;
    auto t = timeClaim(svid->claims, claim);
    if (!t) return fail(t.error());
    if (*t > now + kJwtLeeway) {
      return jwtError("not_yet_valid", std::string("claim \"") + claim +
                                           "\" is in the future: " + formatRfc3339(*t));
    }
  }
  bool match = false;
  for (const auto& want : audience) {
    for (const auto& have : svid->audience) match = match || want == have;
  }
  if (!match) {
    return jwtError("audience_mismatch", "expected audience in [" + joined(audience) +
                                             "], the token has [" + joined(svid->audience) + "]");
  }
  return svid;
}

Result<std::string> signJwtSvid(const JwtSignOptions& options, const crypto::PrivateKey& key) {
  if (options.audience.empty()) return invalidArgument("a JWT-SVID needs an audience");
  if (options.key_id.empty()) return invalidArgument("a JWT-SVID needs a key ID");
  if (options.expiry <= options.issued_at)
    return invalidArgument("a JWT-SVID must expire after it is issued");
  const Algorithm* alg = nullptr;
  const int id = EVP_PKEY_get_base_id(key.get());
  if (id == EVP_PKEY_EC) {
    const int bits = EVP_PKEY_get_bits(key.get());
    alg = bits == 256 ? findAlgorithm("ES256") : bits == 384 ? findAlgorithm("ES384") : nullptr;
  } else if (id == EVP_PKEY_RSA) {
    alg = findAlgorithm("RS256");
  }
  if (alg == nullptr)
    return invalidArgument("JWT-SVIDs are signed with EC P-256, P-384 or RSA keys");

  const json header = {{"alg", alg->name}, {"kid", options.key_id}, {"typ", "JWT"}};
  const json claims = {{"aud", options.audience},
                       {"exp", toUnix(options.expiry)},
                       {"iat", toUnix(options.issued_at)},
                       {"sub", options.subject.str()}};
  const std::string signing_input =
      base64UrlEncode(header.dump()) + "." + base64UrlEncode(claims.dump());

  std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>> md(EVP_MD_CTX_new());
  ERR_clear_error();
  size_t len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, digestFor(*alg), nullptr, key.get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "signing a JWT-SVID"));
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "signing a JWT-SVID"));
  }
  sig.resize(len);
  if (alg->family == Family::kEc) {
    // OpenSSL signs in DER; JWS wants r || s of the curve's size.
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    std::unique_ptr<ECDSA_SIG, crypto::Deleter<ECDSA_SIG_free>> parsed(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
    if (!parsed) return fail(crypto::openSslError(Code::kInternal, "decoding an ECDSA signature"));
    const size_t n = fieldBytes(alg->ec_bits);
    sig = bnBytes(ECDSA_SIG_get0_r(parsed.get()), n) + bnBytes(ECDSA_SIG_get0_s(parsed.get()), n);
  }
  return signing_input + "." + base64UrlEncode(sig);
}

}  // namespace mutual::spiffe
