#pragma once

// Internal to the crypto module: what key.cc and cert_builder.cc need to know before they
// encode an EC key themselves instead of through OpenSSL 3.0's (slow, uncached) encoders.

#include <cstddef>
#include <string>
#include <string_view>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

namespace mutual::crypto::internal {

// An EC key's curve and public point, as OpenSSL's encoders would write them.
struct EcKeyForm {
  std::string curve;         // "prime256v1", "secp384r1", ...
  unsigned char point[133];  // uncompressed: 0x04 || X || Y (P-521 at most)
  size_t point_len = 0;
  bool include_public = true;  // false for a private key loaded without its public key
};

// The form of `key` when OpenSSL would encode it the plain way: an EC key on a named curve with
// the uncompressed point format. False otherwise (not EC, explicit parameters, compressed
// points), and then only OpenSSL's own encoders reproduce its encoding exactly.
inline bool plainEcKeyForm(EVP_PKEY* key, EcKeyForm& form) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char curve[64] = {0};
  char point_format[32] = {0};
  char encoding[32] = {0};
  int include_public = 1;
  OSSL_PARAM params[] = {
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, point_format,
                             sizeof point_format),
      OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding),
      OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_INCLUDE_PUBLIC, &include_public),
      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, form.point, sizeof form.point),
      OSSL_PARAM_END};
  if (EVP_PKEY_get_params(key, params) != 1) {
    ERR_clear_error();
    return false;
  }
  for (const OSSL_PARAM* p = params; p->key != nullptr; ++p) {
    // include-public is only reported when it was set.
    if (p->data == &include_public) continue;
    if (!OSSL_PARAM_modified(p)) return false;
  }
  if (std::string_view(point_format) != "uncompressed" ||
      std::string_view(encoding) != "named_curve") {
    return false;
  }
  form.curve = curve;
  form.point_len = params[4].return_size;
  form.include_public = include_public != 0;
  return form.point_len > 0 && form.point[0] == 0x04;
}

}  // namespace mutual::crypto::internal
