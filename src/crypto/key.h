#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/handles.h"

namespace mutual::crypto {

enum class KeyType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096, kEd25519 };

// "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519".
Result<KeyType> parseKeyType(std::string_view name);
std::string_view keyTypeName(KeyType type);
inline constexpr std::string_view kKeyTypeChoices =
    "ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096|ed25519";

// A private key (always holding its public half). Movable, not copyable.
class PrivateKey {
 public:
  static Result<PrivateKey> generate(KeyType type);
  // Accepts PKCS#8 ("PRIVATE KEY") and the traditional "EC/RSA PRIVATE KEY" PEM forms.
  // Encrypted keys are refused (no passphrase prompts in a mesh).
  static Result<PrivateKey> fromPem(std::string_view pem);
  // Takes ownership of an EVP_PKEY that must be non-null.
  explicit PrivateKey(PKeyPtr key) : key_(std::move(key)) {}

  // Unencrypted PKCS#8 PEM. Never log it.
  Result<std::string> toPkcs8Pem() const;
  // Unencrypted PKCS#8 DER (the Workload API's x509_svid_key form).
  Result<std::string> toPkcs8Der() const;

  // The key's type, or an error for curves and sizes mutual does not issue.
  Result<KeyType> type() const;
  bool isRsa() const;
  // "EC P-256", "RSA 2048", "Ed25519".
  std::string describe() const;

  EVP_PKEY* get() const { return key_.get(); }

 private:
  PKeyPtr key_;
};

// Describes any public key for display: "EC P-256", "RSA 2048", "Ed25519", "DSA 2048".
std::string describePublicKey(EVP_PKEY* key);

}  // namespace mutual::crypto
