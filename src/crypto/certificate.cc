#include "crypto/certificate.h"

#include <arpa/inet.h>
#include <cstdio>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "base/encoding.h"
#include "base/time.h"
#include "crypto/openssl_error.h"

namespace mutual::crypto {

namespace {

std::string bioToString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len > 0 ? len : 0));
}

std::string nameToString(const X509_NAME* name) {
  if (name == nullptr || X509_NAME_entry_count(name) == 0) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return bioToString(bio.get());
}

TimePoint asn1TimeToTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return fromUnix(static_cast<int64_t>(timegm(&tm)));
}

std::string hexColon(const unsigned char* data, size_t len, bool upper) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, upper ? "%02X" : "%02x", data[i]);
    if (i > 0) out += ':';
    out += buf;
  }
  return out;
}

using GeneralNamesOwned = GeneralNamesPtr;

GeneralNamesOwned subjectAltNames(X509* x) {
  return GeneralNamesOwned(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
}

std::string asn1StringToString(const ASN1_STRING* s) {
  if (s == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::vector<std::string> sansOfType(X509* x, int type) {
  std::vector<std::string> out;
  auto names = subjectAltNames(x);
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != type) continue;
    switch (type) {
      case GEN_URI: out.push_back(asn1StringToString(gn->d.uniformResourceIdentifier)); break;
      case GEN_DNS: out.push_back(asn1StringToString(gn->d.dNSName)); break;
      case GEN_EMAIL: out.push_back(asn1StringToString(gn->d.rfc822Name)); break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
        char text[INET6_ADDRSTRLEN] = {0};
        const int family = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
        if (family != 0 && inet_ntop(family, ip->data, text, sizeof text) != nullptr) {
          out.emplace_back(text);
        } else {
          out.emplace_back("<malformed IP of " + std::to_string(ip->length) + " bytes>");
        }
        break;
      }
      default: break;
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> keyUsageNames(unsigned bits) {
  static const char* const kNames[] = {
      "digitalSignature", "contentCommitment", "keyEncipherment",
      "dataEncipherment", "keyAgreement",      "keyCertSign",
      "cRLSign",          "encipherOnly",      "decipherOnly"};
  std::vector<std::string> out;
  for (unsigned i = 0; i < 9; ++i) {
    if (bits & (1u << i)) out.emplace_back(kNames[i]);
  }
  return out;
}

Certificate::Certificate(const Certificate& other) : x509_(nullptr) {
  if (other.x509_) {
    X509_up_ref(other.x509_.get());
    x509_.reset(other.x509_.get());
  }
}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    Certificate copy(other);
    x509_ = std::move(copy.x509_);
  }
  return *this;
}

Result<Certificate> Certificate::fromDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* raw = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (raw == nullptr) return fail(openSslError(Code::kInvalidArgument, "malformed DER certificate"));
  X509Ptr x(raw);
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return invalidArgument("trailing data after DER certificate");
  }
  return Certificate(std::move(x));
}

std::string Certificate::subject() const { return nameToString(X509_get_subject_name(get())); }
std::string Certificate::issuer() const { return nameToString(X509_get_issuer_name(get())); }

std::string Certificate::commonName() const {
  const X509_NAME* name = X509_get_subject_name(get());
  int idx = -1, last = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0) last = idx;
  if (last < 0) return "";
  return asn1StringToString(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
}

std::string Certificate::serialHex() const {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(get()), nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = asciiLower(hex);
  OPENSSL_free(hex);
  return out;
}

TimePoint Certificate::notBefore() const { return asn1TimeToTimePoint(X509_get0_notBefore(get())); }
TimePoint Certificate::notAfter() const { return asn1TimeToTimePoint(X509_get0_notAfter(get())); }
int Certificate::version() const { return static_cast<int>(X509_get_version(get())) + 1; }

bool Certificate::isCa() const {
  return (X509_get_extension_flags(get()) & EXFLAG_CA) != 0 && hasBasicConstraints();
}

bool Certificate::hasBasicConstraints() const {
  return (X509_get_extension_flags(get()) & EXFLAG_BCONS) != 0;
}

std::optional<int> Certificate::pathLen() const {
  const long len = X509_get_pathlen(get());
  if (len < 0) return std::nullopt;
  return static_cast<int>(len);
}

std::optional<unsigned> Certificate::keyUsage() const {
  if ((X509_get_extension_flags(get()) & EXFLAG_KUSAGE) == 0) return std::nullopt;
  const uint32_t ku = X509_get_key_usage(get());
  // OpenSSL's KU_* values put digitalSignature at 0x80; translate to RFC 5280 bit order.
  unsigned bits = 0;
  if (ku & KU_DIGITAL_SIGNATURE) bits |= kDigitalSignature;
  if (ku & KU_NON_REPUDIATION) bits |= kContentCommitment;
  if (ku & KU_KEY_ENCIPHERMENT) bits |= kKeyEncipherment;
  if (ku & KU_DATA_ENCIPHERMENT) bits |= kDataEncipherment;
  if (ku & KU_KEY_AGREEMENT) bits |= kKeyAgreement;
  if (ku & KU_KEY_CERT_SIGN) bits |= kKeyCertSign;
  if (ku & KU_CRL_SIGN) bits |= kCrlSign;
  if (ku & KU_ENCIPHER_ONLY) bits |= kEncipherOnly;
  if (ku & KU_DECIPHER_ONLY) bits |= kDecipherOnly;
  return bits;
}

bool Certificate::keyUsageCritical() const {
  const int idx = X509_get_ext_by_NID(get(), NID_key_usage, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(get(), idx)) == 1;
}

std::optional<std::vector<std::string>> Certificate::extendedKeyUsage() const {
  std::unique_ptr<EXTENDED_KEY_USAGE, Deleter<EXTENDED_KEY_USAGE_free>> eku(
      static_cast<EXTENDED_KEY_USAGE*>(
          X509_get_ext_d2i(get(), NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) return std::nullopt;
  std::vector<std::string> out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    const ASN1_OBJECT* obj = sk_ASN1_OBJECT_value(eku.get(), i);
    const int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef) {
      out.emplace_back(OBJ_nid2sn(nid));
    } else {
      char buf[128];
      OBJ_obj2txt(buf, sizeof buf, obj, 1);
      out.emplace_back(buf);
    }
  }
  return out;
}

std::vector<std::string> Certificate::uriSans() const { return sansOfType(get(), GEN_URI); }
std::vector<std::string> Certificate::dnsSans() const { return sansOfType(get(), GEN_DNS); }
std::vector<std::string> Certificate::ipSans() const { return sansOfType(get(), GEN_IPADD); }
std::vector<std::string> Certificate::emailSans() const { return sansOfType(get(), GEN_EMAIL); }

bool Certificate::sanCritical() const {
  const int idx = X509_get_ext_by_NID(get(), NID_subject_alt_name, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(get(), idx)) == 1;
}

std::vector<std::string> Certificate::permittedUriConstraints() const {
  std::vector<std::string> out;
  std::unique_ptr<NAME_CONSTRAINTS, Deleter<NAME_CONSTRAINTS_free>> nc(
      static_cast<NAME_CONSTRAINTS*>(
          X509_get_ext_d2i(get(), NID_name_constraints, nullptr, nullptr)));
  if (!nc || nc->permittedSubtrees == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); ++i) {
    const GENERAL_SUBTREE* st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
    if (st->base->type == GEN_URI) {
      out.push_back(asn1StringToString(st->base->d.uniformResourceIdentifier));
    }
  }
  return out;
}

std::string Certificate::subjectKeyId() const {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(get());
  if (ski == nullptr) return "";
  return hexColon(ASN1_STRING_get0_data(ski), static_cast<size_t>(ASN1_STRING_length(ski)), false);
}

std::string Certificate::authorityKeyId() const {
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(get());
  if (aki == nullptr) return "";
  return hexColon(ASN1_STRING_get0_data(aki), static_cast<size_t>(ASN1_STRING_length(aki)), false);
}

std::string Certificate::publicKeyDescription() const {
  return describePublicKey(X509_get0_pubkey(get()));
}

std::string Certificate::signatureAlgorithm() const {
  const int nid = X509_get_signature_nid(get());
  return nid == NID_undef ? "unknown" : OBJ_nid2ln(nid);
}

std::string Certificate::sha256Fingerprint() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(get(), EVP_sha256(), md, &len) != 1) return "";
  return hexColon(md, len, true);
}

std::string Certificate::sha256Hex() const {
  std::string out = asciiLower(sha256Fingerprint());
  std::erase(out, ':');
  return out;
}

bool Certificate::isSelfIssued() const {
  return X509_NAME_cmp(X509_get_subject_name(get()), X509_get_issuer_name(get())) == 0;
}

bool Certificate::matchesKey(const PrivateKey& key) const {
  const bool ok = X509_check_private_key(get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::string> Certificate::toPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), get()) != 1) {
    return fail(openSslError(Code::kInternal, "cannot encode certificate"));
  }
  return bioToString(bio.get());
}

Result<std::string> Certificate::toDer() const {
  unsigned char* der = nullptr;
  const int len = i2d_X509(get(), &der);
  if (len < 0) return fail(openSslError(Code::kInternal, "cannot encode certificate"));
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string Certificate::text() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_print_ex(bio.get(), get(), XN_FLAG_ONELINE, 0);
  return bioToString(bio.get());
}

Result<std::vector<Certificate>> parsePemCertificates(std::string_view pem) {
  std::vector<Certificate> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int block = 0;
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      const unsigned long err = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_REASON(err) == PEM_R_NO_START_LINE) break;
      return invalidArgument("PEM block " + std::to_string(block + 1) +
                             " is malformed or truncated");
    }
    ++block;
    const std::string type(name);
    std::string der(reinterpret_cast<char*>(data), static_cast<size_t>(len));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (type != "CERTIFICATE" && type != "TRUSTED CERTIFICATE" && type != "X509 CERTIFICATE") {
      continue;
    }
    auto cert = Certificate::fromDer(der);
    if (!cert) {
      return invalidArgument("PEM block " + std::to_string(block) + " (CERTIFICATE) is not a valid "
                             "X.509 certificate: " + cert.error().message);
    }
    out.push_back(std::move(*cert));
  }
  if (out.empty()) {
    return invalidArgument(block == 0 ? "no PEM certificate found"
                                      : "no CERTIFICATE block among the PEM blocks");
  }
  return out;
}

Result<std::vector<Certificate>> parseDerCertificates(std::string_view der) {
  std::vector<Certificate> out;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  while (p < end) {
    X509* raw = d2i_X509(nullptr, &p, static_cast<long>(end - p));
    if (raw == nullptr) {
      ERR_clear_error();
      return invalidArgument("DER certificate " + std::to_string(out.size() + 1) +
                             " is malformed or truncated");
    }
    out.emplace_back(X509Ptr(raw));
  }
  if (out.empty()) return invalidArgument("no DER certificate found (empty input)");
  return out;
}

Result<std::vector<Certificate>> parseCertificates(std::string_view data) {
  if (data.find("-----BEGIN") != std::string_view::npos) return parsePemCertificates(data);
  if (!data.empty() && static_cast<unsigned char>(data[0]) == 0x30) {
    return parseDerCertificates(data);
  }
  return invalidArgument("neither PEM nor DER certificate data");
}

Result<std::string> toPem(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) {
    auto pem = c.toPem();
    if (!pem) return fail(pem.error());
    out += *pem;
  }
  return out;
}

}  // namespace mutual::crypto
