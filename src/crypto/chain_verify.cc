#include "crypto/chain_verify.h"

#include <openssl/err.h>

#include "base/time.h"
#include "crypto/openssl_error.h"

namespace mutual::crypto {

namespace {

struct ReasonEntry {
  int code;
  const char* reason;
};

// Named reasons for OpenSSL's verification errors; anything unlisted is "invalid_chain".
constexpr ReasonEntry kReasons[] = {
    {X509_V_ERR_CERT_HAS_EXPIRED, "expired"},
    {X509_V_ERR_CERT_NOT_YET_VALID, "not_yet_valid"},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unknown_ca"},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown_ca"},
    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "unknown_ca"},
    {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "unknown_ca"},
    {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unknown_ca"},
    {X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad_signature"},
    {X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE, "bad_signature"},
    {X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, "bad_signature"},
    {X509_V_ERR_INVALID_CA, "issuer_not_ca"},
    {X509_V_ERR_KEYUSAGE_NO_CERTSIGN, "issuer_cannot_sign"},
    {X509_V_ERR_PATH_LENGTH_EXCEEDED, "path_length_exceeded"},
    {X509_V_ERR_CERT_CHAIN_TOO_LONG, "chain_too_long"},
    {X509_V_ERR_INVALID_PURPOSE, "wrong_purpose"},
    {X509_V_ERR_HOSTNAME_MISMATCH, "name_mismatch"},
    {X509_V_ERR_IP_ADDRESS_MISMATCH, "name_mismatch"},
    {X509_V_ERR_EMAIL_MISMATCH, "name_mismatch"},
    {X509_V_ERR_PERMITTED_VIOLATION, "name_constraint_violation"},
    {X509_V_ERR_EXCLUDED_VIOLATION, "name_constraint_violation"},
    {X509_V_ERR_SUBTREE_MINMAX, "name_constraint_violation"},
    {X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, "name_constraint_violation"},
    {X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX, "name_constraint_violation"},
    {X509_V_ERR_CA_KEY_TOO_SMALL, "weak_key"},
    {X509_V_ERR_EE_KEY_TOO_SMALL, "weak_key"},
    {X509_V_ERR_CA_MD_TOO_WEAK, "weak_key"},
    {X509_V_ERR_INVALID_EXTENSION, "invalid_certificate"},
    {X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION, "invalid_certificate"},
    {X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, "invalid_certificate"},
    {X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, "invalid_certificate"},
    {X509_V_ERR_INVALID_NON_CA, "invalid_certificate"},
    {X509_V_ERR_EC_KEY_EXPLICIT_PARAMS, "invalid_certificate"},
};

const char* reasonFor(int code) {
  for (const auto& e : kReasons) {
    if (e.code == code) return e.reason;
  }
  return "invalid_chain";
}

std::string describeCert(X509* cert, int depth) {
  std::string who = depth == 0 ? "leaf certificate" : "certificate at depth " + std::to_string(depth);
  if (cert != nullptr) {
    const Certificate c(X509Ptr([cert] {
      X509_up_ref(cert);
      return cert;
    }()));
    const std::string subject = c.subject();
    if (!subject.empty()) who += " (" + subject + ")";
  }
  return who;
}

}  // namespace

Result<TrustStore> TrustStore::create(const std::vector<Certificate>& anchors) {
  X509StorePtr store(X509_STORE_new());
  if (!store) return fail(openSslError(Code::kInternal, "cannot create trust store"));
  for (const auto& a : anchors) {
    if (X509_STORE_add_cert(store.get(), a.get()) != 1) {
      const unsigned long err = ERR_peek_last_error();
      // The same root listed twice is harmless.
      if (ERR_GET_REASON(err) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        ERR_clear_error();
        continue;
      }
      return fail(openSslError(Code::kInternal, "cannot add trust anchor"));
    }
  }
  return TrustStore(std::move(store), anchors);
}

Result<std::vector<Certificate>> verifyChain(const Certificate& leaf,
                                             const std::vector<Certificate>& untrusted,
                                             const TrustStore& trust, const ChainOptions& options) {
  ERR_clear_error();
  X509StackPtr chain(sk_X509_new_null());
  for (const auto& c : untrusted) sk_X509_push(chain.get(), c.get());  // borrowed
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), trust.get(), leaf.get(), chain.get()) != 1) {
    while (sk_X509_num(chain.get()) > 0) sk_X509_pop(chain.get());
    return fail(openSslError(Code::kInternal, "cannot initialise verification"));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(toUnix(options.at)));
  X509_VERIFY_PARAM_set_auth_level(param, 2);
  if (options.max_intermediates) X509_VERIFY_PARAM_set_depth(param, *options.max_intermediates);
  if (options.purpose == Purpose::kServerAuth) {
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  } else if (options.purpose == Purpose::kClientAuth) {
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  }
  if (options.dns_name) {
    X509_VERIFY_PARAM_set_hostflags(
        param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    X509_VERIFY_PARAM_set1_host(param, options.dns_name->c_str(), options.dns_name->size());
  }
  if (options.ip_address &&
      X509_VERIFY_PARAM_set1_ip_asc(param, options.ip_address->c_str()) != 1) {
    while (sk_X509_num(chain.get()) > 0) sk_X509_pop(chain.get());
    ERR_clear_error();
    return invalidArgument("invalid IP address \"" + *options.ip_address + "\"");
  }

  const int ok = X509_verify_cert(ctx.get());
  // The stack only borrowed our certificates.
  while (sk_X509_num(chain.get()) > 0) sk_X509_pop(chain.get());
  if (ok != 1) {
    const int code = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* at_fault = X509_STORE_CTX_get_current_cert(ctx.get());
    ERR_clear_error();
    return fail(Code::kPermissionDenied,
                describeCert(at_fault, depth) + ": " + X509_verify_cert_error_string(code),
                reasonFor(code));
  }
  std::vector<Certificate> path;
  STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 0; i < sk_X509_num(built); ++i) {
    X509* c = sk_X509_value(built, i);
    X509_up_ref(c);
    path.emplace_back(X509Ptr(c));
  }
  return path;
}

}  // namespace mutual::crypto
