#include "crypto/csr.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/handles.h"
#include "crypto/openssl_error.h"

namespace mutual::crypto {

namespace {

using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
void freeExtensions(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
using X509ExtStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), Deleter<freeExtensions>>;

const EVP_MD* digestFor(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
      return nullptr;
    case EVP_PKEY_EC:
      return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
    default:
      return EVP_sha256();
  }
}

Result<void> addUriSans(X509_REQ* req, const std::vector<std::string>& uris) {
  if (uris.empty()) return {};
  GeneralNamesPtr names(GENERAL_NAMES_new());
  for (const auto& uri : uris) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (gn == nullptr || s == nullptr ||
        ASN1_STRING_set(s, uri.data(), static_cast<int>(uri.size())) != 1) {
      GENERAL_NAME_free(gn);
      ASN1_IA5STRING_free(s);
      return fail(openSslError(Code::kInternal, "cannot encode URI SAN " + uri));
    }
    GENERAL_NAME_set0_value(gn, GEN_URI, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  X509ExtStackPtr exts(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
  if (ext == nullptr || sk_X509_EXTENSION_push(exts.get(), ext) <= 0 ||
      X509_REQ_add_extensions(req, exts.get()) != 1) {
    return fail(openSslError(Code::kInternal, "cannot add the subjectAltName request"));
  }
  return {};
}

}  // namespace

Result<std::string> createCsr(const PrivateKey& key, const std::vector<std::string>& uri_sans) {
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return fail(openSslError(Code::kInternal, "cannot build certification request"));
  }
  if (auto ok = addUriSans(req.get(), uri_sans); !ok) return fail(ok.error());
  if (X509_REQ_sign(req.get(), key.get(), digestFor(key.get())) <= 0) {
    return fail(openSslError(Code::kInternal, "cannot sign certification request"));
  }
  unsigned char* out = nullptr;
  const int len = i2d_X509_REQ(req.get(), &out);
  if (len <= 0) return fail(openSslError(Code::kInternal, "cannot encode certification request"));
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

Result<CsrInfo> verifyCsr(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req || p != end) {
    ERR_clear_error();
    return fail(Code::kInvalidArgument,
                req ? "certification request has trailing bytes"
                    : "malformed certification request (expected one PKCS#10 request, DER)",
                "malformed_csr");
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (pub == nullptr) {
    ERR_clear_error();
    return fail(Code::kInvalidArgument, "certification request has an unreadable public key",
                "malformed_csr");
  }
  if (X509_REQ_verify(req.get(), pub) != 1) {
    ERR_clear_error();
    return fail(Code::kInvalidArgument,
                "certification request signature does not verify with its public key",
                "bad_csr_signature");
  }
  unsigned char* out = nullptr;
  const int len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req.get()), &out);
  if (len <= 0) return fail(openSslError(Code::kInternal, "cannot encode the request's key"));
  CsrInfo info;
  info.public_key_der.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  info.key_description = describePublicKey(pub);
  return info;
}

}  // namespace mutual::crypto
