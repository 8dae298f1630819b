#include "crypto/key.h"

#include <optional>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "base/encoding.h"
#include "crypto/ec_key_form.h"
#include "crypto/openssl_error.h"

namespace mutual::crypto {

namespace {

// OpenSSL 3.0 encodes PKCS#8 through its generic encoder machinery, which it does not cache:
// ~60 us per key, twice the cost of generating a P-256 key (bench/pki_bench.cc). For the key
// types whose PrivateKeyInfo has a fixed layout we write the DER ourselves, byte for byte what
// OpenSSL writes (crypto_test compares them):
//   EC (RFC 5208 + RFC 5915): version 0, id-ecPublicKey with the namedCurve, and an
//     ECPrivateKey { version 1, privateKey, [1] publicKey } without [0] parameters;
//   Ed25519 (RFC 8410): version 0, id-Ed25519, CurvePrivateKey.
// Other keys (RSA) go through OpenSSL.
struct Pkcs8Layout {
  std::string_view group;   // the EC curve; empty for Ed25519
  std::string_view head;    // DER up to the private key bytes
  size_t private_len;
  std::string_view middle;  // DER between the private key and the public point
  size_t public_len;        // uncompressed point; 0 when the layout has no public key
};

using namespace std::string_view_literals;
constexpr Pkcs8Layout kEcP256Layout{
    "prime256v1",
    "\x30\x81\x87\x02\x01\x00\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a"
    "\x86\x48\xce\x3d\x03\x01\x07\x04\x6d\x30\x6b\x02\x01\x01\x04\x20"sv,
    32, "\xa1\x44\x03\x42\x00"sv, 65};
constexpr Pkcs8Layout kEcP384Layout{
    "secp384r1",
    "\x30\x81\xb6\x02\x01\x00\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b"
    "\x81\x04\x00\x22\x04\x81\x9e\x30\x81\x9b\x02\x01\x01\x04\x30"sv,
    48, "\xa1\x64\x03\x62\x00"sv, 97};
constexpr Pkcs8Layout kEd25519Layout{
    "", "\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20"sv, 32, ""sv, 0};

// Wipes a string that held key material before its memory is released.
void wipe(std::string& s) {
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// The layout's DER for `key`, or nullopt when `key` does not fit a layout exactly (the caller
// then asks OpenSSL): EC keys must be on P-256 or P-384 in the plain form (named curve,
// uncompressed points, public key included), as every generated key is.
std::optional<std::string> fixedLayoutPkcs8Der(EVP_PKEY* key) {
  const Pkcs8Layout* layout = nullptr;
  internal::EcKeyForm ec;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
    layout = &kEd25519Layout;
  } else if (internal::plainEcKeyForm(key, ec) && ec.include_public) {
    if (ec.curve == kEcP256Layout.group) layout = &kEcP256Layout;
    if (ec.curve == kEcP384Layout.group) layout = &kEcP384Layout;
    if (layout != nullptr && ec.point_len != layout->public_len) layout = nullptr;
  }
  if (layout == nullptr) return std::nullopt;

  std::string der;
  der.reserve(layout->head.size() + layout->private_len + layout->middle.size() +
              layout->public_len);
  der.append(layout->head);
  der.resize(der.size() + layout->private_len);
  auto* priv = reinterpret_cast<unsigned char*>(der.data() + layout->head.size());
  bool ok = false;
  if (layout == &kEd25519Layout) {
    size_t len = layout->private_len;
    ok = EVP_PKEY_get_raw_private_key(key, priv, &len) == 1 && len == layout->private_len;
  } else {
    BIGNUM* bn = nullptr;
    ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1 &&
         BN_bn2binpad(bn, priv, static_cast<int>(layout->private_len)) ==
             static_cast<int>(layout->private_len);
    BN_clear_free(bn);
    der.append(layout->middle);
    der.append(reinterpret_cast<const char*>(ec.point), ec.point_len);
  }
  if (!ok) {
    ERR_clear_error();
    wipe(der);
    return std::nullopt;
  }
  return der;
}

// An EC parameters key for `curve`, or null.
PKeyPtr makeEcParams(const char* curve) {
  PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* params = nullptr;
  if (!ctx || EVP_PKEY_paramgen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), curve) != 1 ||
      EVP_PKEY_paramgen(ctx.get(), &params) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return PKeyPtr(params);
}

// EVP_PKEY_Q_keygen builds the curve again for every EC key (EC_GROUP and its Montgomery
// constants: ~12 of the ~29 us a P-256 key takes). Generating from a parameters key made once
// per curve skips that. The parameters keys are immutable once made and only read
// (up-referenced by EVP_PKEY_CTX_new_from_pkey), so threads share them. `curve` is "P-256" or
// "P-384". Returns null on failure, with OpenSSL's error queue set.
EVP_PKEY* generateEc(const char* curve) {
  static const PKeyPtr kP256 = makeEcParams("P-256");
  static const PKeyPtr kP384 = makeEcParams("P-384");
  EVP_PKEY* params = std::string_view(curve) == "P-256" ? kP256.get() : kP384.get();
  if (params == nullptr) return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
  PKeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_generate(ctx.get(), &key) != 1) {
    return nullptr;
  }
  return key;
}

// PEM as OpenSSL writes it: 64-column base64 lines between the BEGIN and END lines.
std::string pemWrap(std::string_view label, std::string_view der) {
  std::string b64 = base64Encode(der);
  const std::string begin = "-----BEGIN " + std::string(label) + "-----\n";
  const std::string end = "-----END " + std::string(label) + "-----\n";
  std::string out;
  out.reserve(begin.size() + b64.size() + b64.size() / 64 + 1 + end.size());
  out += begin;
  for (size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out += '\n';
  }
  out += end;
  wipe(b64);
  return out;
}

}  // namespace

Result<KeyType> parseKeyType(std::string_view name) {
  if (name == "ec-p256") return KeyType::kEcP256;
  if (name == "ec-p384") return KeyType::kEcP384;
  if (name == "rsa-2048") return KeyType::kRsa2048;
  if (name == "rsa-3072") return KeyType::kRsa3072;
  if (name == "rsa-4096") return KeyType::kRsa4096;
  if (name == "ed25519") return KeyType::kEd25519;
  return invalidArgument("unknown key type \"" + std::string(name) + "\" (expected one of " +
                         std::string(kKeyTypeChoices) + ")");
}

std::string_view keyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256: return "ec-p256";
    case KeyType::kEcP384: return "ec-p384";
    case KeyType::kRsa2048: return "rsa-2048";
    case KeyType::kRsa3072: return "rsa-3072";
    case KeyType::kRsa4096: return "rsa-4096";
    case KeyType::kEd25519: return "ed25519";
  }
  return "unknown";
}

Result<PrivateKey> PrivateKey::generate(KeyType type) {
  EVP_PKEY* raw = nullptr;
  switch (type) {
    case KeyType::kEcP256: raw = generateEc("P-256"); break;
    case KeyType::kEcP384: raw = generateEc("P-384"); break;
    case KeyType::kRsa2048: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}); break;
    case KeyType::kRsa3072: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072}); break;
    case KeyType::kRsa4096: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096}); break;
    case KeyType::kEd25519: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
  }
  if (raw == nullptr) {
    return fail(openSslError(Code::kInternal,
                             "cannot generate " + std::string(keyTypeName(type)) + " key"));
  }
  return PrivateKey(PKeyPtr(raw));
}

Result<PrivateKey> PrivateKey::fromPem(std::string_view pem) {
  if (pem.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
    return invalidArgument("private key is encrypted; mutual needs an unencrypted PKCS#8 key");
  }
  if (pem.find("-----BEGIN") == std::string_view::npos) {
    return invalidArgument("no PEM private key found (expected \"-----BEGIN PRIVATE KEY-----\")");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // A null callback with an empty passphrase keeps OpenSSL from prompting on a terminal.
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>(""));
  if (raw == nullptr) {
    return fail(openSslError(Code::kInvalidArgument, "malformed PEM private key"));
  }
  return PrivateKey(PKeyPtr(raw));
}

Result<std::string> PrivateKey::toPkcs8Pem() const {
  if (auto der = fixedLayoutPkcs8Der(key_.get())) {
    std::string pem = pemWrap("PRIVATE KEY", *der);
    wipe(*der);
    return pem;
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                    nullptr) != 1) {
    return fail(openSslError(Code::kInternal, "cannot encode private key"));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> PrivateKey::toPkcs8Der() const {
  if (auto der = fixedLayoutPkcs8Der(key_.get())) return std::move(*der);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (i2d_PKCS8PrivateKey_bio(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1) {
    return fail(openSslError(Code::kInternal, "cannot encode private key"));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<KeyType> PrivateKey::type() const {
  const int id = EVP_PKEY_get_base_id(key_.get());
  const int bits = EVP_PKEY_get_bits(key_.get());
  if (id == EVP_PKEY_EC) {
    if (bits == 256) return KeyType::kEcP256;
    if (bits == 384) return KeyType::kEcP384;
  } else if (id == EVP_PKEY_RSA) {
    if (bits == 2048) return KeyType::kRsa2048;
    if (bits == 3072) return KeyType::kRsa3072;
    if (bits == 4096) return KeyType::kRsa4096;
  } else if (id == EVP_PKEY_ED25519) {
    return KeyType::kEd25519;
  }
  return invalidArgument("unsupported key " + describe() + " (expected one of " +
                         std::string(kKeyTypeChoices) + ")");
}

bool PrivateKey::isRsa() const { return EVP_PKEY_get_base_id(key_.get()) == EVP_PKEY_RSA; }

std::string PrivateKey::describe() const { return describePublicKey(key_.get()); }

std::string describePublicKey(EVP_PKEY* key) {
  if (key == nullptr) return "none";
  const int id = EVP_PKEY_get_base_id(key);
  const int bits = EVP_PKEY_get_bits(key);
  switch (id) {
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) == 1) {
        const std::string g(group, len);
        if (g == "prime256v1") return "EC P-256";
        if (g == "secp384r1") return "EC P-384";
        if (g == "secp521r1") return "EC P-521";
        return "EC " + g;
      }
      return "EC " + std::to_string(bits);
    }
    case EVP_PKEY_RSA: return "RSA " + std::to_string(bits);
    case EVP_PKEY_RSA_PSS: return "RSA-PSS " + std::to_string(bits);
    case EVP_PKEY_ED25519: return "Ed25519";
    case EVP_PKEY_ED448: return "Ed448";
    case EVP_PKEY_DSA: return "DSA " + std::to_string(bits);
    default: return std::string(OBJ_nid2sn(id)) + " " + std::to_string(bits);
  }
}

}  // namespace mutual::crypto
