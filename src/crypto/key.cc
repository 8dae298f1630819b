#include "crypto/key.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "crypto/openssl_error.h"

namespace mutual::crypto {

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
    case KeyType::kEcP256: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    case KeyType::kEcP384: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"); break;
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
