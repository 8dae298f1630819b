#include "spiffe/bundle.h"

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "base/encoding.h"

namespace mutual::spiffe {

using nlohmann::json;

namespace {

tl::unexpected<Error> bundleError(const std::string& what) {
  return fail(Code::kInvalidArgument, "invalid SPIFFE bundle: " + what, "invalid_bundle");
}

// An empty optional when the key does not expose the parameter.
std::optional<std::string> bnParam(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return std::nullopt;
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// The certificate's public key decoded afresh from its SubjectPublicKeyInfo. The in-memory key
// of a certificate signed in this process need not expose provider parameters (the builder may
// hand X509_set_pubkey a legacy EC key, whose coordinates then read as missing), and a JWK
// must never be written from missing parameters.
crypto::PKeyPtr publicKeyOf(const crypto::Certificate& cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (len <= 0) return nullptr;
  const unsigned char* p = der;
  crypto::PKeyPtr key(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(der);
  return key;
}

// Public key parameters of a JWK (RFC 7518 §6) for the certificate's key.
Result<json> jwkKeyParams(const crypto::Certificate& cert) {
  const crypto::PKeyPtr owned = publicKeyOf(cert);
  EVP_PKEY* key = owned.get();
  if (key == nullptr) return bundleError("authority has no usable public key");
  const auto missing = [&](const char* what) {
    return bundleError("cannot read the " + std::string(what) + " of authority key " +
                       cert.publicKeyDescription());
  };
  json jwk;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      const int bits = EVP_PKEY_get_bits(key);
      const size_t len = static_cast<size_t>((bits + 7) / 8);
      auto x = bnParam(key, OSSL_PKEY_PARAM_EC_PUB_X);
      auto y = bnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y);
      if (!x || !y) return missing("EC point");
      x->insert(0, len - std::min(len, x->size()), '\0');
      y->insert(0, len - std::min(len, y->size()), '\0');
      jwk["kty"] = "EC";
      jwk["crv"] = bits == 256 ? "P-256" : bits == 384 ? "P-384" : "P-521";
      jwk["x"] = base64UrlEncode(*x);
      jwk["y"] = base64UrlEncode(*y);
      break;
    }
    case EVP_PKEY_RSA: {
      auto n = bnParam(key, OSSL_PKEY_PARAM_RSA_N);
      auto e = bnParam(key, OSSL_PKEY_PARAM_RSA_E);
      if (!n || !e) return missing("RSA modulus or exponent");
      jwk["kty"] = "RSA";
      jwk["n"] = base64UrlEncode(*n);
      jwk["e"] = base64UrlEncode(*e);
      break;
    }
    case EVP_PKEY_ED25519: {
      unsigned char raw[32];
      size_t len = sizeof raw;
      if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return missing("Ed25519 key");
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = base64UrlEncode(std::string(reinterpret_cast<char*>(raw), len));
      break;
    }
    default: return bundleError("unsupported authority key " + cert.publicKeyDescription());
  }
  return jwk;
}

}  // namespace

Result<X509Bundle> parsePemBundle(const TrustDomain& td, std::string_view pem) {
  auto certs = crypto::parsePemCertificates(pem);
  if (!certs) return fail(certs.error());
  return X509Bundle{td, std::move(*certs), std::nullopt, std::nullopt, {}};
}

// A JWK Set nests 4 deep. Deeper documents are refused while parsing: nlohmann's parser does
// not recurse, but dump() (which keeps jwt-svid keys verbatim) recurses once per level, so a few
// hundred kilobytes of "[[[[" in a key from a federation endpoint overflowed the stack (found
// by fuzz/bundle_fuzz).
constexpr int kMaxJsonDepth = 32;

Result<X509Bundle> parseSpiffeBundle(const TrustDomain& td, std::string_view text) {
  bool too_deep = false;
  // Returning false drops the value, so nothing past the limit is even built.
  const json::parser_callback_t limit_depth = [&too_deep](int depth, json::parse_event_t,
                                                          json&) {
    too_deep = too_deep || depth > kMaxJsonDepth;
    return !too_deep;
  };
  json doc = json::parse(text, limit_depth, /*allow_exceptions=*/false);
  if (too_deep) {
    return bundleError("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (doc.is_discarded()) return bundleError("not valid JSON");
  if (!doc.is_object()) return bundleError("top level must be a JSON object");
  X509Bundle bundle{td, {}, std::nullopt, std::nullopt, {}};
  if (!doc.contains("keys")) return bundleError("\"keys\" is missing (no authorities found)");
  const json& keys = doc["keys"];
  if (!keys.is_array()) return bundleError("\"keys\" must be an array");
  if (doc.contains("spiffe_sequence")) {
    const json& seq = doc["spiffe_sequence"];
    if (!seq.is_number_unsigned() && !(seq.is_number_integer() && seq.get<int64_t>() >= 0)) {
      return bundleError("\"spiffe_sequence\" must be a non-negative integer");
    }
    bundle.sequence = seq.get<uint64_t>();
  }
  if (doc.contains("spiffe_refresh_hint")) {
    const json& hint = doc["spiffe_refresh_hint"];
    if (!hint.is_number_integer()) return bundleError("\"spiffe_refresh_hint\" must be an integer");
    bundle.refresh_hint = hint.get<int64_t>();
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const json& key = keys[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    if (!key.is_object()) return bundleError(where + " must be an object");
    if (!key.contains("kty") || !key["kty"].is_string()) {
      return bundleError(where + ".kty is missing");
    }
    if (!key.contains("use") || !key["use"].is_string()) continue;  // ignored, per spec
    const std::string use = key["use"];
    if (use == "x509-svid") {
      if (key.contains("kid")) return bundleError(where + ".kid must not be set on an x509-svid key");
      if (!key.contains("x5c") || !key["x5c"].is_array()) {
        return bundleError(where + ".x5c is missing");
      }
      if (key["x5c"].size() != 1) {
        return bundleError(where + ".x5c must hold exactly one certificate, found " +
                           std::to_string(key["x5c"].size()));
      }
      if (!key["x5c"][0].is_string()) return bundleError(where + ".x5c[0] must be a string");
      auto der = base64Decode(key["x5c"][0].get<std::string>());
      if (!der) return bundleError(where + ".x5c[0]: " + der.error().message);
      auto cert = crypto::Certificate::fromDer(*der);
      if (!cert) return bundleError(where + ".x5c[0]: " + cert.error().message);
      bundle.authorities.push_back(std::move(*cert));
    } else if (use == "jwt-svid") {
      if (!key.contains("kid") || !key["kid"].is_string() || key["kid"].get<std::string>().empty()) {
        return bundleError(where + ".kid is required on a jwt-svid key");
      }
      bundle.jwt_keys_json.push_back(key.dump());
    }
  }
  return bundle;
}

Result<std::string> toSpiffeBundleJson(const X509Bundle& bundle) {
  json keys = json::array();
  for (const auto& cert : bundle.authorities) {
    auto jwk = jwkKeyParams(cert);
    if (!jwk) return fail(jwk.error());
    auto der = cert.toDer();
    if (!der) return fail(der.error());
    (*jwk)["use"] = "x509-svid";
    (*jwk)["x5c"] = json::array({base64Encode(*der)});
    keys.push_back(std::move(*jwk));
  }
  for (size_t i = 0; i < bundle.jwt_keys_json.size(); ++i) {
    // Kept verbatim from a parsed bundle, but the struct is public: no exceptions from here.
    json key = json::parse(bundle.jwt_keys_json[i], nullptr, /*allow_exceptions=*/false);
    if (key.is_discarded() || !key.is_object()) {
      return bundleError("jwt_keys_json[" + std::to_string(i) + "] is not a JSON object");
    }
    keys.push_back(std::move(key));
  }
  json doc;
  doc["keys"] = std::move(keys);
  if (bundle.sequence) doc["spiffe_sequence"] = *bundle.sequence;
  if (bundle.refresh_hint) doc["spiffe_refresh_hint"] = *bundle.refresh_hint;
  return doc.dump(2) + "\n";
}

Result<std::string> toPemBundle(const X509Bundle& bundle) {
  return crypto::toPem(bundle.authorities);
}

Result<void> BundleSet::put(X509Bundle bundle) {
  auto store = crypto::TrustStore::create(bundle.authorities);
  if (!store) return fail(store.error());
  const std::string key = bundle.trust_domain.name();
  entries_.insert_or_assign(key, Entry{std::move(bundle), std::move(*store)});
  return {};
}

const X509Bundle* BundleSet::find(const TrustDomain& td) const {
  auto it = entries_.find(td.name());
  return it == entries_.end() ? nullptr : &it->second.bundle;
}

const crypto::TrustStore* BundleSet::trustStore(const TrustDomain& td) const {
  auto it = entries_.find(td.name());
  return it == entries_.end() ? nullptr : &it->second.store;
}

std::vector<TrustDomain> BundleSet::trustDomains() const {
  std::vector<TrustDomain> out;
  for (const auto& [name, entry] : entries_) out.push_back(entry.bundle.trust_domain);
  return out;
}

}  // namespace mutual::spiffe
