// OpenSSL 3.0 marks the EC_KEY functions deprecated. They are the fast path for ECDSA here:
// EVP_DigestSign sets up a provider operation per call, which costs as much as the signature
// (docs/server.md, "Signing performance"). They remain in every OpenSSL 3.x.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "server/x509.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/handles.h"
#include "crypto/openssl_error.h"
#include "server/der.h"

namespace mutual::server {

namespace {

using crypto::openSslError;
using EcKeyPtr = std::unique_ptr<EC_KEY, crypto::Deleter<EC_KEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>>;

// AlgorithmIdentifier DERs.
constexpr std::string_view kAlgEcdsaSha256{"\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02", 12};
constexpr std::string_view kAlgEcdsaSha384{"\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x03", 12};
constexpr std::string_view kAlgRsaSha256{
    "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b\x05\x00", 15};
constexpr std::string_view kAlgEd25519{"\x30\x05\x06\x03\x2b\x65\x70", 7};

constexpr std::string_view kOidCountry{"\x55\x04\x06", 3};
constexpr std::string_view kOidOrganization{"\x55\x04\x0a", 3};
constexpr std::string_view kOidSerialNumber{"\x55\x04\x05", 3};
constexpr std::string_view kOidCommonName{"\x55\x04\x03", 3};
constexpr std::string_view kOidServerAuth{"\x2b\x06\x01\x05\x05\x07\x03\x01", 8};
constexpr std::string_view kOidClientAuth{"\x2b\x06\x01\x05\x05\x07\x03\x02", 8};

// Fetched once: an implicit fetch per digest call costs a lock and a lookup.
const EVP_MD* sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
const EVP_MD* sha384() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  return md;
}
const EVP_MD* sha1() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

void appendAttribute(std::string& rdns, std::string_view oid, uint8_t string_tag,
                     std::string_view value) {
  const std::string atv =
      der::wrap(der::kSequence, {der::tlv(der::kOid, oid), der::tlv(string_tag, value)});
  der::appendTlv(rdns, der::kSet, atv);
}

}  // namespace

struct CertSigner::State {
  std::shared_ptr<const crypto::PrivateKey> key;
  std::string algorithm;
  EcKeyPtr ec;                 // ECDSA keys: the legacy copy the fast path signs with
  const EVP_MD* md = nullptr;  // null for Ed25519
};

CertSigner::CertSigner(std::unique_ptr<State> state) : state_(std::move(state)) {}
CertSigner::~CertSigner() = default;
const std::string& CertSigner::algorithm() const { return state_->algorithm; }
const crypto::PrivateKey& CertSigner::key() const { return *state_->key; }

Result<std::shared_ptr<const CertSigner>> CertSigner::create(
    std::shared_ptr<const crypto::PrivateKey> key) {
  auto state = std::make_unique<State>();
  EVP_PKEY* pkey = key->get();
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
      const bool p384 = EVP_PKEY_get_bits(pkey) > 256;
      if (EVP_PKEY_get_bits(pkey) > 384) {
        return invalidArgument("CA key " + key->describe() + " is not supported (P-256, P-384)");
      }
      state->algorithm = std::string(p384 ? kAlgEcdsaSha384 : kAlgEcdsaSha256);
      state->md = p384 ? sha384() : sha256();
      state->ec.reset(EVP_PKEY_get1_EC_KEY(pkey));
      if (!state->ec) return fail(openSslError(Code::kInternal, "cannot prepare the EC CA key"));
      break;
    }
    case EVP_PKEY_RSA:
      state->algorithm = std::string(kAlgRsaSha256);
      state->md = sha256();
      break;
    case EVP_PKEY_ED25519:
      state->algorithm = std::string(kAlgEd25519);
      break;
    default:
      return invalidArgument("CA key " + key->describe() + " is not supported");
  }
  state->key = std::move(key);
  return std::shared_ptr<const CertSigner>(new CertSigner(std::move(state)));
}

Result<std::string> CertSigner::signCertificate(std::string_view tbs) const {
  std::string signature;
  if (state_->ec) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(tbs.data(), tbs.size(), digest, &digest_len, state_->md, nullptr) != 1) {
      return fail(openSslError(Code::kInternal, "cannot hash the certificate"));
    }
    signature.resize(static_cast<size_t>(ECDSA_size(state_->ec.get())));
    unsigned int sig_len = 0;
    if (ECDSA_sign(0, digest, static_cast<int>(digest_len),
                   reinterpret_cast<unsigned char*>(signature.data()), &sig_len,
                   state_->ec.get()) != 1) {
      return fail(openSslError(Code::kInternal, "ECDSA signing failed"));
    }
    signature.resize(sig_len);
  } else {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    size_t sig_len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(tbs.data());
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, state_->md, nullptr, state_->key->get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &sig_len, data, tbs.size()) != 1) {
      return fail(openSslError(Code::kInternal, "cannot start signing"));
    }
    signature.resize(sig_len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &sig_len,
                       data, tbs.size()) != 1) {
      return fail(openSslError(Code::kInternal, "signing failed"));
    }
    signature.resize(sig_len);
  }
  return der::wrap(der::kSequence, {tbs, state_->algorithm, der::bitString(signature)});
}

std::string encodeName(const NameSpec& name) {
  std::string rdns;
  for (const auto& c : name.country) appendAttribute(rdns, kOidCountry, der::kPrintableString, c);
  for (const auto& o : name.organization) {
    appendAttribute(rdns, kOidOrganization, der::kUtf8String, o);
  }
  if (!name.serial_number.empty()) {
    appendAttribute(rdns, kOidSerialNumber, der::kPrintableString, name.serial_number);
  }
  if (!name.common_name.empty()) {
    appendAttribute(rdns, kOidCommonName, der::kUtf8String, name.common_name);
  }
  return der::tlv(der::kSequence, rdns);
}

Result<std::string> publicKeyInfo(const crypto::PrivateKey& key) {
  unsigned char* out = nullptr;
  const int len = i2d_PUBKEY(key.get(), &out);
  if (len <= 0) return fail(openSslError(Code::kInternal, "cannot encode the public key"));
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

std::string keyIdentifier(std::string_view spki_der) {
  der::Reader outer(spki_der);
  std::string_view spki;
  std::string_view algorithm;
  std::string_view bits;
  if (!outer.read(der::kSequence, spki)) return {};
  der::Reader inner(spki);
  if (!inner.read(der::kSequence, algorithm) || !inner.read(der::kBitString, bits) ||
      bits.empty()) {
    return {};
  }
  bits.remove_prefix(1);  // the unused-bits octet
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bits.data(), bits.size(), md, &len, sha1(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string colonHex(std::string_view bytes) {
  const std::string plain = hex(bytes);
  std::string out;
  for (size_t i = 0; i < plain.size(); i += 2) {
    if (i > 0) out.push_back(':');
    out.append(plain, i, 2);
  }
  return out;
}

std::string extension(std::string_view oid_content, bool critical, std::string_view value) {
  static const std::string kCritical = der::tlv(der::kBoolean, std::string_view("\xff", 1));
  return der::wrap(der::kSequence, {der::tlv(der::kOid, oid_content),
                                    critical ? std::string_view(kCritical) : std::string_view(),
                                    der::tlv(der::kOctetString, value)});
}

std::string basicConstraintsValue(bool ca, std::optional<int> path_len) {
  if (!ca) return der::tlv(der::kSequence, "");
  std::string content = der::tlv(der::kBoolean, std::string_view("\xff", 1));
  if (path_len) content += der::smallInteger(static_cast<uint64_t>(*path_len));
  return der::tlv(der::kSequence, content);
}

std::string keyUsageValue(unsigned bits) {
  // Bit 0 (digitalSignature) is the most significant bit of the first octet; trailing zero
  // bits are dropped (X.690 §11.2.2 for named bit lists).
  int highest = -1;
  for (int i = 0; i < 9; ++i) {
    if (bits & (1u << i)) highest = i;
  }
  if (highest < 0) return der::tlv(der::kBitString, std::string_view("\x00", 1));
  const int octets = highest / 8 + 1;
  std::string content(static_cast<size_t>(octets + 1), '\0');
  content[0] = static_cast<char>(octets * 8 - (highest + 1));
  for (int i = 0; i <= highest; ++i) {
    if (bits & (1u << i)) content[1 + i / 8] |= static_cast<char>(0x80 >> (i % 8));
  }
  return der::tlv(der::kBitString, content);
}

std::string serverClientAuthEkuValue() {
  return der::wrap(der::kSequence,
                   {der::tlv(der::kOid, kOidServerAuth), der::tlv(der::kOid, kOidClientAuth)});
}

std::string authorityKeyIdValue(std::string_view key_id) {
  return der::tlv(der::kSequence, der::tlv(der::contextPrimitive(0), key_id));
}

std::string subjectKeyIdValue(std::string_view key_id) {
  return der::tlv(der::kOctetString, key_id);
}

std::string subjectAltNameValue(const std::vector<std::string>& uris,
                                const std::vector<std::string>& dns_names) {
  std::string names;
  for (const auto& uri : uris) der::appendTlv(names, der::contextPrimitive(6), uri);
  for (const auto& dns : dns_names) der::appendTlv(names, der::contextPrimitive(2), dns);
  return der::tlv(der::kSequence, names);
}

Result<std::string> subjectNameDer(const crypto::Certificate& cert) {
  unsigned char* out = nullptr;
  const int len = i2d_X509_NAME(X509_get_subject_name(cert.get()), &out);
  if (len <= 0) return fail(openSslError(Code::kInternal, "cannot encode the CA's subject"));
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

std::string subjectKeyIdBytes(const crypto::Certificate& cert) {
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert.get());
  if (ski == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                     static_cast<size_t>(ASN1_STRING_length(ski)));
}

Result<crypto::Certificate> buildCaCertificate(const CaCertSpec& spec, const CertSigner& signer) {
  if (spec.serial.empty()) return invalidArgument("certificate serial is empty");
  const std::string subject = encodeName(spec.subject);
  std::string issuer = subject;
  std::string issuer_key_id;
  if (spec.issuer != nullptr) {
    auto name = subjectNameDer(*spec.issuer);
    if (!name) return fail(name.error());
    issuer = std::move(*name);
    issuer_key_id = subjectKeyIdBytes(*spec.issuer);
  }
  const std::string key_id = keyIdentifier(spec.spki_der);
  if (key_id.empty()) return invalidArgument("CA public key is not a SubjectPublicKeyInfo");
  std::string extensions =
      extension(kOidBasicConstraints, true, basicConstraintsValue(true, spec.path_len)) +
      extension(kOidKeyUsage, true, keyUsageValue(crypto::kKeyCertSign | crypto::kCrlSign)) +
      extension(kOidSubjectKeyId, false, subjectKeyIdValue(key_id));
  if (!issuer_key_id.empty()) {
    extensions += extension(kOidAuthorityKeyId, false, authorityKeyIdValue(issuer_key_id));
  }
  if (!spec.uri.empty()) {
    extensions += extension(kOidSubjectAltName, false, subjectAltNameValue({spec.uri}, {}));
  }
  static const std::string kVersion3 = der::tlv(der::contextConstructed(0), der::smallInteger(2));
  const std::string tbs = der::wrap(
      der::kSequence,
      {kVersion3, der::unsignedInteger(spec.serial), signer.algorithm(), issuer,
       der::wrap(der::kSequence, {der::time(spec.not_before), der::time(spec.not_after)}), subject,
       spec.spki_der, der::tlv(der::contextConstructed(3), der::tlv(der::kSequence, extensions))});
  auto cert = signer.signCertificate(tbs);
  if (!cert) return fail(cert.error());
  return crypto::Certificate::fromDer(*cert);
}

}  // namespace mutual::server
