#include "crypto/cert_builder.h"

#include <initializer_list>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "base/time.h"
#include "crypto/ec_key_form.h"
#include "crypto/openssl_error.h"

namespace mutual::crypto {

namespace {

using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS_free>>;
using BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, Deleter<ASN1_BIT_STRING_free>>;
using EkuPtr = std::unique_ptr<EXTENDED_KEY_USAGE, Deleter<EXTENDED_KEY_USAGE_free>>;
using AkidPtr = std::unique_ptr<AUTHORITY_KEYID, Deleter<AUTHORITY_KEYID_free>>;
using NameConstraintsPtr = std::unique_ptr<NAME_CONSTRAINTS, Deleter<NAME_CONSTRAINTS_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;

Error buildError(std::string_view what) { return openSslError(Code::kInternal, what); }

GeneralNamePtr ia5Name(int type, const std::string& value) {
  GeneralNamePtr gn(GENERAL_NAME_new());
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  if (!gn || s == nullptr ||
      ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
    ASN1_IA5STRING_free(s);
    return nullptr;
  }
  GENERAL_NAME_set0_value(gn.get(), type, s);
  return gn;
}

Result<void> addSubjectAltNames(X509* x, const CertSpec& spec, bool critical) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  const auto push = [&](GeneralNamePtr gn) {
    return gn && sk_GENERAL_NAME_push(names.get(), gn.release()) > 0;
  };
  for (const auto& uri : spec.uris) {
    if (!push(ia5Name(GEN_URI, uri))) return fail(buildError("cannot encode URI SAN " + uri));
  }
  for (const auto& dns : spec.dns_names) {
    if (!push(ia5Name(GEN_DNS, dns))) return fail(buildError("cannot encode DNS SAN " + dns));
  }
  for (const auto& email : spec.emails) {
    if (!push(ia5Name(GEN_EMAIL, email))) return fail(buildError("cannot encode email " + email));
  }
  for (const auto& ip : spec.ip_addresses) {
    ASN1_OCTET_STRING* os = a2i_IPADDRESS(ip.c_str());
    if (os == nullptr) {
      ERR_clear_error();
      return invalidArgument("invalid IP address \"" + ip + "\"");
    }
    GeneralNamePtr gn(GENERAL_NAME_new());
    GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, os);
    if (!push(std::move(gn))) return fail(buildError("cannot encode IP SAN"));
  }
  if (sk_GENERAL_NAME_num(names.get()) == 0) return {};
  if (X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), critical ? 1 : 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return fail(buildError("cannot add subjectAltName"));
  }
  return {};
}

Result<void> addKeyUsage(X509* x, unsigned bits) {
  if (bits == 0) return {};
  BitStringPtr ku(ASN1_BIT_STRING_new());
  for (int i = 0; i < 9; ++i) {
    if (bits & (1u << i)) ASN1_BIT_STRING_set_bit(ku.get(), i, 1);
  }
  if (X509_add1_ext_i2d(x, NID_key_usage, ku.get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return fail(buildError("cannot add keyUsage"));
  }
  return {};
}

Result<void> addExtendedKeyUsage(X509* x, const CertSpec& spec) {
  if (!spec.server_auth && !spec.client_auth) return {};
  EkuPtr eku(sk_ASN1_OBJECT_new_null());
  if (spec.server_auth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth));
  if (spec.client_auth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth));
  const int rc = X509_add1_ext_i2d(x, NID_ext_key_usage, eku.get(), 0, X509V3_ADD_DEFAULT);
  // OBJ_nid2obj returns static objects: detach them before the stack is freed.
  while (sk_ASN1_OBJECT_num(eku.get()) > 0) sk_ASN1_OBJECT_pop(eku.get());
  if (rc != 1) return fail(buildError("cannot add extendedKeyUsage"));
  return {};
}

Result<void> addBasicConstraints(X509* x, const CertSpec& spec) {
  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  bc->ca = spec.is_ca ? 0xFF : 0;
  if (spec.is_ca && spec.path_len) {
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, *spec.path_len);
  }
  if (X509_add1_ext_i2d(x, NID_basic_constraints, bc.get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return fail(buildError("cannot add basicConstraints"));
  }
  return {};
}

Result<void> addKeyIdentifiers(X509* x, const Certificate* issuer) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING.
  if (X509_pubkey_digest(x, EVP_sha1(), md, &len) != 1) {
    return fail(buildError("cannot hash public key"));
  }
  Asn1OctetStringPtr ski(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(ski.get(), md, static_cast<int>(len));
  if (X509_add1_ext_i2d(x, NID_subject_key_identifier, ski.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return fail(buildError("cannot add subjectKeyIdentifier"));
  }
  if (issuer == nullptr) return {};
  const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(issuer->get());
  if (issuer_ski == nullptr) return {};
  AkidPtr akid(AUTHORITY_KEYID_new());
  akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski);
  if (X509_add1_ext_i2d(x, NID_authority_key_identifier, akid.get(), 0, X509V3_ADD_DEFAULT) !=
      1) {
    return fail(buildError("cannot add authorityKeyIdentifier"));
  }
  return {};
}

Result<void> addNameConstraints(X509* x, const CertSpec& spec) {
  if (spec.permitted_uri_hosts.empty()) return {};
  NameConstraintsPtr nc(NAME_CONSTRAINTS_new());
  nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
  for (const auto& host : spec.permitted_uri_hosts) {
    GENERAL_SUBTREE* st = GENERAL_SUBTREE_new();
    GENERAL_NAME_free(st->base);
    st->base = ia5Name(GEN_URI, host).release();
    sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st);
  }
  if (X509_add1_ext_i2d(x, NID_name_constraints, nc.get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return fail(buildError("cannot add nameConstraints"));
  }
  return {};
}

// A legacy (non-provider) EC key holding only the curve named by its DER OID.
PKeyPtr legacyEcParams(std::initializer_list<unsigned char> curve_oid_der) {
  const unsigned char* p = curve_oid_der.begin();
  return PKeyPtr(d2i_KeyParams(EVP_PKEY_EC, nullptr, &p, static_cast<long>(curve_oid_der.size())));
}

// OpenSSL 3.0's X509_set_pubkey() on a provider-native key (every key EVP_PKEY_Q_keygen and
// the PEM decoder make) encodes the SubjectPublicKeyInfo with the generic encoder, then parses
// it back with the generic decoder only to throw the result away; 3.0 caches neither, so this
// costs ~150 us, more than a P-256 key generation and a signature together (bench/pki_bench.cc,
// docs/benchmarks.md). For an EC subject we hand it instead a legacy EC public key rebuilt from
// the encoded point (d2i_PublicKey, which checks that the point is on the curve) over a shared
// read-only parameters key, which OpenSSL encodes directly in a few microseconds. The
// certificate's bytes are identical. Only its in-memory public key object differs: in legacy
// form, signature verification, TLS, EVP_PKEY_eq and the group name work, but
// EVP_PKEY_get_bn_param(EC_PUB_X/Y) does not, and a CA's key may be written out as a JWK, so CA
// certificates keep the provider key. Returns null unless the key is P-256 or P-384 in the plain
// form (see ec_key_form.h), where OpenSSL's encoder would write the same bytes.
PKeyPtr legacyEcPublicKey(EVP_PKEY* key) {
  internal::EcKeyForm form;
  if (!internal::plainEcKeyForm(key, form)) return nullptr;
  // Made once; EVP_PKEY_copy_parameters only reads them.
  static const PKeyPtr kP256 =
      legacyEcParams({0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07});
  static const PKeyPtr kP384 = legacyEcParams({0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22});
  const EVP_PKEY* curve = form.curve == "prime256v1" ? kP256.get()
                          : form.curve == "secp384r1" ? kP384.get()
                                                      : nullptr;
  if (curve == nullptr) return nullptr;
  PKeyPtr pub(EVP_PKEY_new());
  EVP_PKEY* in_place = pub.get();
  const unsigned char* p = form.point;
  if (!pub || EVP_PKEY_copy_parameters(pub.get(), curve) != 1 ||
      d2i_PublicKey(EVP_PKEY_EC, &in_place, &p, static_cast<long>(form.point_len)) == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  return pub;
}

// Sets the subject public key, the fast way when legacyEcPublicKey() allows it.
bool setSubjectPublicKey(X509* x, EVP_PKEY* key, bool is_ca) {
  if (!is_ca) {
    if (PKeyPtr legacy = legacyEcPublicKey(key)) return X509_set_pubkey(x, legacy.get()) == 1;
  }
  return X509_set_pubkey(x, key) == 1;
}

const EVP_MD* digestFor(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448: return nullptr;
    case EVP_PKEY_EC: return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
    default: return EVP_sha256();
  }
}

}  // namespace

Result<std::vector<unsigned char>> randomSerial() {
  std::vector<unsigned char> serial(16);
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) {
    return fail(buildError("random number generator failed"));
  }
  serial[0] &= 0x7F;
  if (serial[0] == 0) serial[0] = 0x01;  // keep it 16 octets wide
  return serial;
}

Result<Certificate> signCertificate(const CertSpec& spec, EVP_PKEY* subject_public_key,
                                    const Certificate* issuer, const PrivateKey& signer_key) {
  X509Ptr x(X509_new());
  if (!x) return fail(buildError("out of memory"));
  X509_set_version(x.get(), X509_VERSION_3);

  if (spec.serial.empty()) return invalidArgument("certificate serial is empty");
  BignumPtr bn(BN_bin2bn(spec.serial.data(), static_cast<int>(spec.serial.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) == nullptr) {
    return fail(buildError("cannot set serial"));
  }

  // Filled in place: X509_set_subject_name() would copy it through an encode and a decode.
  X509_NAME* subject = X509_get_subject_name(x.get());
  if (!spec.organization.empty()) {
    X509_NAME_add_entry_by_NID(subject, NID_organizationName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.organization.c_str()),
                               -1, -1, 0);
  }
  if (!spec.common_name.empty()) {
    if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                   -1, -1, 0) != 1) {
      return fail(openSslError(Code::kInvalidArgument,
                               "invalid common name \"" + spec.common_name + "\""));
    }
  }
  X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer->get()) : subject);

  if (ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<time_t>(toUnix(spec.not_before))) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<time_t>(toUnix(spec.not_after))) ==
          nullptr) {
    return fail(buildError("cannot set validity"));
  }
  if (!setSubjectPublicKey(x.get(), subject_public_key, spec.is_ca)) {
    return fail(buildError("cannot set public key"));
  }

  // An empty subject makes the SAN extension critical (RFC 5280 §4.1.2.6).
  const bool empty_subject = spec.common_name.empty() && spec.organization.empty();
  if (auto r = addBasicConstraints(x.get(), spec); !r) return fail(r.error());
  if (auto r = addKeyUsage(x.get(), spec.key_usage); !r) return fail(r.error());
  if (auto r = addExtendedKeyUsage(x.get(), spec); !r) return fail(r.error());
  if (auto r = addKeyIdentifiers(x.get(), issuer); !r) return fail(r.error());
  if (auto r = addSubjectAltNames(x.get(), spec, empty_subject); !r) return fail(r.error());
  if (auto r = addNameConstraints(x.get(), spec); !r) return fail(r.error());

  if (X509_sign(x.get(), signer_key.get(), digestFor(signer_key.get())) <= 0) {
    return fail(buildError("signing failed"));
  }
  return Certificate(std::move(x));
}

}  // namespace mutual::crypto
