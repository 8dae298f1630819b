#include "crypto/chain_verify.h"

#include <optional>
#include <string_view>

#include <openssl/err.h>
#include <openssl/x509v3.h>

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
  std::string who =
      depth == 0 ? "leaf certificate" : "certificate at depth " + std::to_string(depth);
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

// ---- profile checks OpenSSL does not make -------------------------------------------------

using NameConstraintsPtr = std::unique_ptr<NAME_CONSTRAINTS, Deleter<NAME_CONSTRAINTS_free>>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS_free>>;
using EkuPtr = std::unique_ptr<EXTENDED_KEY_USAGE, Deleter<EXTENDED_KEY_USAGE_free>>;

tl::unexpected<Error> reject(X509* cert, int depth, const std::string& what, const char* reason) {
  return fail(Code::kPermissionDenied, describeCert(cert, depth) + ": " + what, reason);
}

std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string> dnsNamesOf(X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_STRING* s = gn->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

// RFC 5280 §4.1.2.2: a positive integer of at most 20 octets (a 21st, leading zero octet that
// only keeps the value positive is tolerated).
Result<void> checkSerial(X509* cert, int depth) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER) {
    return reject(cert, depth, "serial number is negative (RFC 5280 §4.1.2.2)", "invalid_serial");
  }
  const int len = ASN1_STRING_length(serial);
  const unsigned char* data = ASN1_STRING_get0_data(serial);
  bool zero = true;
  for (int i = 0; i < len; ++i) zero = zero && data[i] == 0;
  if (zero) {
    return reject(cert, depth, "serial number is zero (RFC 5280 §4.1.2.2)", "invalid_serial");
  }
  if (len > 20) {
    return reject(cert, depth,
                  "serial number is " + std::to_string(len) +
                      " octets long; RFC 5280 §4.1.2.2 allows at most 20",
                  "invalid_serial");
  }
  return {};
}

// RSA (PKCS#1 or PSS), EC, Ed25519, Ed448: what TLS 1.3 signs with. DSA and the rest are out.
Result<void> checkKeyType(X509* cert, int depth) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  const int type = key == nullptr ? NID_undef : EVP_PKEY_get_base_id(key);
  ERR_clear_error();
  switch (type) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
    case EVP_PKEY_EC:
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
      return {};
    default:
      return reject(cert, depth,
                    std::string("public key type ") +
                        (type == NID_undef ? "unknown" : OBJ_nid2sn(type)) +
                        " is not accepted (RSA, EC, Ed25519 and Ed448 are)",
                    "unsupported_key");
  }
}

// Every extension OpenSSL has a decoder for must decode; OpenSSL itself only looks at the ones
// it uses, so a malformed one it ignores (authorityInfoAccess, say) would otherwise pass.
Result<void> checkExtensionsDecode(X509* cert, int depth) {
  for (int i = 0; i < X509_get_ext_count(cert); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    const X509V3_EXT_METHOD* method = X509V3_EXT_get(ext);
    if (method == nullptr) continue;  // unknown: the critical-extension rule covers it
    void* value = X509V3_EXT_d2i(ext);
    if (value == nullptr) {
      ERR_clear_error();
      const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
      return reject(cert, depth, std::string("extension ") + OBJ_nid2sn(nid) + " is malformed",
                    "malformed_extension");
    }
    if (method->it != nullptr) {
      ASN1_item_free(static_cast<ASN1_VALUE*>(value), ASN1_ITEM_ptr(method->it));
    } else {
      method->ext_free(value);
    }
  }
  return {};
}

// Is `cert` one of the trust anchors itself? Then it may well be a CA: it is trusted by
// configuration, and whoever presents it in a handshake holds the anchor's key anyway.
bool isAnchor(X509* cert, const TrustStore& trust) {
  for (const auto& a : trust.anchors()) {
    if (X509_cmp(cert, a.get()) == 0) return true;
  }
  return false;
}

// The rules for the certificate in leaf position, which OpenSSL treats as any end entity. The
// end-entity rules (not a CA) are waived when the leaf is itself a trust anchor; the encoding
// rules are not.
Result<void> checkLeaf(X509* leaf, bool anchor) {
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(leaf, NID_basic_constraints, nullptr, nullptr)));
  if (!anchor && bc && bc->ca) {
    return reject(leaf, 0, "is a CA (basicConstraints cA=true); a CA cannot be the peer",
                  "leaf_is_ca");
  }
  if (!anchor && (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN) != 0) {
    return reject(leaf, 0, "keyUsage has keyCertSign; only CAs sign certificates",
                  "leaf_key_cert_sign");
  }
  if (!anchor && X509_get_ext_by_NID(leaf, NID_name_constraints, -1) >= 0) {
    return reject(leaf, 0, "has nameConstraints, which only CA certificates may carry",
                  "invalid_name_constraints");
  }
  if (auto ok = checkExtensionsDecode(leaf, 0); !ok) return ok;
  EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(leaf, NID_ext_key_usage, nullptr, nullptr)));
  if (eku) {
    if (sk_ASN1_OBJECT_num(eku.get()) == 0) {
      return reject(leaf, 0, "extendedKeyUsage lists no purpose (RFC 5280 §4.2.1.12)",
                    "invalid_eku");
    }
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
      if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)) == NID_anyExtendedKeyUsage) {
        return reject(leaf, 0,
                      "extendedKeyUsage has anyExtendedKeyUsage; a peer certificate names its "
                      "purposes",
                      "invalid_eku");
      }
    }
  }
  for (const auto& name : dnsNamesOf(leaf)) {
    if (!isPreferredDnsName(name)) {
      return reject(leaf, 0, "dNSName \"" + name + "\" is not a valid hostname", "invalid_san");
    }
  }
  if (auto ok = checkSerial(leaf, 0); !ok) return ok;
  return checkKeyType(leaf, 0);
}

// Does the wildcard dNSName "*.S" cover a name the excluded subtree `base` forbids? OpenSSL
// compares the wildcard as a literal name, so "*.example.com" slips past an excluded
// "bar.example.com" although it matches it (CVE-2025-61727). A base with a leading dot excludes
// only names below it, which a one-label wildcard over S cannot reach unless S is below it too.
bool wildcardHitsExcluded(const std::string& wildcard, std::string base) {
  const std::string suffix = asciiLower(wildcard.substr(2));
  base = asciiLower(base);
  if (base.empty() || base.front() == '.') return false;
  if (base.size() <= suffix.size() + 1) return false;
  const size_t cut = base.size() - suffix.size() - 1;
  return base.compare(cut, std::string::npos, "." + suffix) == 0 &&
         base.find('.') == cut;  // exactly one label in front of S
}

// The CAs of a built path: structure of each certificate, then the leaf's wildcards against
// every excluded DNS subtree above it. `path` is leaf first, trust anchor last.
Result<void> checkIssuers(STACK_OF(X509) * path) {
  const int n = sk_X509_num(path);
  std::vector<std::string> excluded;
  for (int depth = 1; depth < n; ++depth) {
    X509* ca = sk_X509_value(path, depth);
    const bool anchor = depth == n - 1;
    if (auto ok = checkKeyType(ca, depth); !ok) return ok;
    if (!anchor) {
      // A trust anchor is a configured name and key; its encoding details are not ours to judge.
      if (auto ok = checkSerial(ca, depth); !ok) return ok;
      if (auto ok = checkExtensionsDecode(ca, depth); !ok) return ok;
    }
    int crit = -1;
    NameConstraintsPtr nc(
        static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(ca, NID_name_constraints, &crit, nullptr)));
    if (!nc) {
      ERR_clear_error();
      if (crit >= 0) {
        return reject(ca, depth, "nameConstraints is malformed", "invalid_name_constraints");
      }
      continue;
    }
    if (sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) <= 0 &&
        sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) <= 0) {
      return reject(ca, depth,
                    "nameConstraints has neither permitted nor excluded subtrees (RFC 5280 "
                    "§4.2.1.10)",
                    "invalid_name_constraints");
    }
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); ++i) {
      const GENERAL_SUBTREE* st = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i);
      if (st->base->type != GEN_DNS) continue;
      const ASN1_STRING* s = st->base->d.dNSName;
      excluded.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                            static_cast<size_t>(ASN1_STRING_length(s)));
    }
  }
  if (excluded.empty()) return {};
  X509* leaf = sk_X509_value(path, 0);
  for (const auto& name : dnsNamesOf(leaf)) {
    if (name.rfind("*.", 0) != 0) continue;
    for (const auto& base : excluded) {
      if (wildcardHitsExcluded(name, base)) {
        return reject(leaf, 0,
                      "dNSName \"" + name + "\" covers \"" + base +
                          "\", which an issuer's nameConstraints exclude",
                      "name_constraint_violation");
      }
    }
  }
  return {};
}

// Why a CA certificate cannot issue: extensions OpenSSL found invalid, not a CA, or a keyUsage
// without keyCertSign. nullopt: none of these.
struct CaDefect {
  std::string message;
  const char* reason;
};
std::optional<CaDefect> caDefect(X509* ca) {
  const uint32_t flags = X509_get_extension_flags(ca);
  if ((flags & EXFLAG_INVALID) != 0) {
    return CaDefect{"has extensions OpenSSL rejects (one that does not decode or appears "
                    "twice, an empty keyUsage, a negative pathLen)",
                    "invalid_certificate"};
  }
  if ((flags & EXFLAG_CA) == 0) {
    return CaDefect{"is not a CA (basicConstraints cA is not true)", "issuer_not_ca"};
  }
  if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) == 0) {
    return CaDefect{"may not sign certificates (its keyUsage lacks keyCertSign)",
                    "issuer_cannot_sign"};
  }
  return std::nullopt;
}

// OpenSSL reports "unable to get issuer certificate" whenever no candidate issuer passes its
// checks, also when the issuer is right there and fails one of them. Finds why: among the
// supplied certificates, one whose subject is `cert`'s issuer name and that signed it, then
// its caDefect, or what of `cert` made OpenSSL turn it down (cert's own extensions, or an
// authorityKeyIdentifier naming another key). nullopt: no such certificate, or none of these.
std::optional<CaDefect> missingIssuerDefect(X509* cert, const std::vector<Certificate>& untrusted,
                                            const TrustStore& trust) {
  if (cert == nullptr) return std::nullopt;
  auto examine = [&](const Certificate& candidate) -> std::optional<CaDefect> {
    X509* issuer = candidate.get();
    if (issuer == cert ||
        X509_NAME_cmp(X509_get_subject_name(issuer), X509_get_issuer_name(cert)) != 0) {
      return std::nullopt;
    }
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    if (key == nullptr || X509_verify(cert, key) != 1) {
      ERR_clear_error();
      return std::nullopt;  // same name, another key: not its issuer
    }
    const std::string who = "its issuer (" + candidate.subject() + ")";
    if (auto defect = caDefect(issuer)) {
      defect->message = who + " " + defect->message;
      return defect;
    }
    if ((X509_get_extension_flags(cert) & EXFLAG_INVALID) != 0) {
      return CaDefect{who + " signed it, but it has extensions OpenSSL rejects (one that does "
                            "not decode or appears twice)",
                      "invalid_certificate"};
    }
    const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(cert);
    const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(issuer);
    if (akid != nullptr && skid != nullptr && ASN1_OCTET_STRING_cmp(akid, skid) != 0) {
      return CaDefect{who + " signed it, but its authorityKeyIdentifier names another key",
                      "unknown_ca"};
    }
    return std::nullopt;
  };
  for (const auto& c : untrusted) {
    if (auto d = examine(c)) return d;
  }
  for (const auto& c : trust.anchors()) {
    if (auto d = examine(c)) return d;
  }
  return std::nullopt;
}

// Intermediates between the leaf and the anchor that count against a depth limit: RFC 5280
// §6.1.4 (l) leaves self-issued certificates (key rollover) out of path lengths.
int countIntermediates(STACK_OF(X509) * path) {
  int count = 0;
  for (int i = 1; i + 1 < sk_X509_num(path); ++i) {
    X509* c = sk_X509_value(path, i);
    if (X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) != 0) ++count;
  }
  return count;
}

// OpenSSL treats notAfter as exclusive; RFC 5280 §4.1.2.5 says the validity period runs from
// notBefore through notAfter inclusive. Accept a certificate checked at its notAfter second.
int inclusiveNotAfter(int ok, X509_STORE_CTX* ctx) {
  if (ok == 0 && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_HAS_EXPIRED) {
    X509* cert = X509_STORE_CTX_get_current_cert(ctx);
    const time_t at = X509_VERIFY_PARAM_get_time(X509_STORE_CTX_get0_param(ctx));
    if (cert != nullptr && ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), at) == 0) {
      X509_STORE_CTX_set_error(ctx, X509_V_OK);
      return 1;
    }
  }
  return ok;
}

}  // namespace

bool isPreferredDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  for (bool leftmost = true;; leftmost = false) {
    const size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (leftmost && label == "*") {
      if (dot == std::string_view::npos) return false;
    } else {
      if (label.front() == '-' || label.back() == '-') return false;
      for (const char c : label) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
      }
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}


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
  if (auto checked = checkLeaf(leaf.get(), isAnchor(leaf.get(), trust)); !checked) {
    return fail(checked.error());
  }
  X509StackPtr chain(sk_X509_new_null());
  for (const auto& c : untrusted) sk_X509_push(chain.get(), c.get());  // borrowed
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), trust.get(), leaf.get(), chain.get()) != 1) {
    while (sk_X509_num(chain.get()) > 0) sk_X509_pop(chain.get());
    return fail(openSslError(Code::kInternal, "cannot initialise verification"));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, (options.strict ? X509_V_FLAG_X509_STRICT : 0) |
                                         X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(toUnix(options.at)));
  X509_VERIFY_PARAM_set_auth_level(param, 2);
  X509_STORE_CTX_set_verify_cb(ctx.get(), inclusiveNotAfter);
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
    // OpenSSL's message says what failed, not why: add the why where we can tell.
    std::optional<CaDefect> defect;
    if (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
        code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
        code == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) {
      defect = missingIssuerDefect(at_fault, untrusted, trust);
    } else if (code == X509_V_ERR_INVALID_CA && at_fault != nullptr) {
      defect = caDefect(at_fault);
    }
    if (defect) {
      return fail(Code::kPermissionDenied,
                  describeCert(at_fault, depth) + ": " + X509_verify_cert_error_string(code) +
                      ": " + defect->message,
                  defect->reason);
    }
    return fail(Code::kPermissionDenied,
                describeCert(at_fault, depth) + ": " + X509_verify_cert_error_string(code),
                reasonFor(code));
  }
  STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
  if (auto issuers = checkIssuers(built); !issuers) return fail(issuers.error());
  if (options.max_intermediates && countIntermediates(built) > *options.max_intermediates) {
    return fail(Code::kPermissionDenied,
                "the path has " + std::to_string(countIntermediates(built)) +
                    " intermediates (not counting self-issued ones); at most " +
                    std::to_string(*options.max_intermediates) + " are allowed",
                "chain_too_long");
  }
  std::vector<Certificate> path;
  for (int i = 0; i < sk_X509_num(built); ++i) {
    X509* c = sk_X509_value(built, i);
    X509_up_ref(c);
    path.emplace_back(X509Ptr(c));
  }
  return path;
}

}  // namespace mutual::crypto
