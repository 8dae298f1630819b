// OpenSSL 3.0 marks the EC_KEY functions deprecated; they verify a P-256 signature without
// OpenSSL 3.0's per-call key import and provider set-up, which cost more than the
// verification itself (docs/server.md, "Signing performance").
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "server/svid_signer.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "base/time.h"
#include "ca/validity.h"
#include "crypto/cert_builder.h"
#include "crypto/csr.h"
#include "crypto/handles.h"
#include "server/der.h"
#include "spiffe/spiffe_id.h"

namespace mutual::server {

namespace {

using EcKeyPtr = std::unique_ptr<EC_KEY, crypto::Deleter<EC_KEY_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, crypto::Deleter<EC_POINT_free>>;

constexpr std::string_view kOidEcPublicKey{"\x2a\x86\x48\xce\x3d\x02\x01", 7};
constexpr std::string_view kOidPrime256v1{"\x2a\x86\x48\xce\x3d\x03\x01\x07", 8};
constexpr std::string_view kOidEcdsaSha256{"\x2a\x86\x48\xce\x3d\x04\x03\x02", 8};

Error malformed(std::string what) {
  return Error{Code::kInvalidArgument, "malformed certification request: " + what, "malformed_csr"};
}

// What the fast path needs from a request: the signed bytes, the key and the signature.
struct FastCsr {
  std::string_view info;       // certificationRequestInfo, whole
  std::string_view spki;       // SubjectPublicKeyInfo, whole
  std::string_view point;      // 65 bytes: 04 || X || Y
  std::string_view signature;  // ECDSA-Sig-Value DER
};

// True when `der` is a P-256 request signed with ecdsa-with-SHA256 in plain DER; false sends
// the request to the generic path (which also produces the precise error for bad input).
bool parseFast(std::string_view der, FastCsr& out) {
  der::Reader top(der);
  std::string_view request;
  if (!top.read(der::kSequence, request) || !top.empty()) return false;
  der::Reader fields(request);
  std::string_view info_content;
  std::string_view algorithm;
  std::string_view signature;
  if (!fields.read(der::kSequence, info_content, &out.info) ||
      !fields.read(der::kSequence, algorithm) || !fields.read(der::kBitString, signature) ||
      !fields.empty()) {
    return false;
  }
  der::Reader alg(algorithm);
  std::string_view alg_oid;
  if (!alg.read(der::kOid, alg_oid) || alg_oid != kOidEcdsaSha256 || !alg.empty()) return false;
  if (signature.size() < 2 || signature[0] != 0) return false;
  out.signature = signature.substr(1);

  der::Reader info(info_content);
  std::string_view version;
  std::string_view subject;
  std::string_view spki_content;
  if (!info.read(der::kInteger, version) || version != std::string_view("\x00", 1) ||
      !info.read(der::kSequence, subject) || !info.read(der::kSequence, spki_content, &out.spki)) {
    return false;
  }
  std::string_view attributes;
  if (!info.empty() && !info.read(der::contextConstructed(0), attributes)) return false;
  if (!info.empty()) return false;

  der::Reader spki(spki_content);
  std::string_view key_alg;
  std::string_view bits;
  if (!spki.read(der::kSequence, key_alg) || !spki.read(der::kBitString, bits) || !spki.empty()) {
    return false;
  }
  der::Reader ka(key_alg);
  std::string_view key_oid;
  std::string_view curve_oid;
  if (!ka.read(der::kOid, key_oid) || key_oid != kOidEcPublicKey ||
      !ka.read(der::kOid, curve_oid) || curve_oid != kOidPrime256v1 || !ka.empty()) {
    return false;
  }
  if (bits.size() != 66 || bits[0] != 0 || bits[1] != 0x04) return false;
  out.point = bits.substr(1);
  return true;
}

const EVP_MD* sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// One P-256 verification key per thread, its group built once; each request's point is
// loaded into it.
struct P256Verifier {
  EcKeyPtr key{EC_KEY_new_by_curve_name(NID_X9_62_prime256v1)};
  EcPointPtr point{key ? EC_POINT_new(EC_KEY_get0_group(key.get())) : nullptr};
};

Result<void> verifyFast(const FastCsr& csr) {
  thread_local P256Verifier verifier;
  if (!verifier.key || !verifier.point) {
    ERR_clear_error();
    return fail(Code::kInternal, "cannot set up P-256 verification");
  }
  const EC_GROUP* group = EC_KEY_get0_group(verifier.key.get());
  // oct2point checks that the point is on the curve.
  if (EC_POINT_oct2point(group, verifier.point.get(),
                         reinterpret_cast<const unsigned char*>(csr.point.data()), csr.point.size(),
                         nullptr) != 1 ||
      EC_KEY_set_public_key(verifier.key.get(), verifier.point.get()) != 1) {
    ERR_clear_error();
    return fail(malformed("the public key is not a point on P-256"));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(csr.info.data(), csr.info.size(), digest, &digest_len, sha256(), nullptr) != 1) {
    ERR_clear_error();
    return fail(Code::kInternal, "cannot hash the certification request");
  }
  const int ok = ECDSA_verify(0, digest, static_cast<int>(digest_len),
                              reinterpret_cast<const unsigned char*>(csr.signature.data()),
                              static_cast<int>(csr.signature.size()), verifier.key.get());
  if (ok != 1) {
    ERR_clear_error();
    return fail(Code::kInvalidArgument,
                "certification request signature does not verify with its public key",
                "bad_csr_signature");
  }
  return {};
}

// SPIRE's leaf subject: C=US, O=SPIRE, then the CN when there is a DNS name.
std::string leafSubject(const std::vector<std::string>& dns_names) {
  static const NameSpec kBase{{"US"}, {"SPIRE"}, "", ""};
  if (dns_names.empty()) {
    static const std::string kEncoded = encodeName(kBase);
    return kEncoded;
  }
  NameSpec name = kBase;
  name.common_name = dns_names.front();
  return encodeName(name);
}

}  // namespace

Result<std::string> leafSerial(TimePoint now) {
  std::string serial(16, '\0');
  uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  for (int i = 5; i >= 0; --i) {
    serial[static_cast<size_t>(i)] = static_cast<char>(ms & 0xff);
    ms >>= 8;
  }
  // Milliseconds fit in 41 bits until the year 2039 + 68 years; bit 0x40 of the first octet
  // keeps the encoding 16 octets (no leading zero) and the number positive (top bit clear).
  serial[0] = static_cast<char>((static_cast<uint8_t>(serial[0]) & 0x3f) | 0x40);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(serial.data() + 6), 10) != 1) {
    ERR_clear_error();
    return fail(Code::kInternal, "random number generator failed");
  }
  return serial;
}

Result<std::shared_ptr<const SigningCa>> makeSigningCa(
    std::vector<crypto::Certificate> chain, std::shared_ptr<const crypto::PrivateKey> key) {
  if (chain.empty()) return invalidArgument("signing CA chain is empty");
  auto ca =
      std::make_shared<SigningCa>(SigningCa{.cert = chain.front(), .chain = std::move(chain)});
  if (!ca->cert.matchesKey(*key)) {
    return invalidArgument("the signing CA's key does not match its certificate");
  }
  auto signer = CertSigner::create(std::move(key));
  if (!signer) return fail(signer.error());
  ca->signer = std::move(*signer);
  for (const auto& c : ca->chain) {
    auto der = c.toDer();
    if (!der) return fail(der.error());
    ca->chain_der.push_back(std::move(*der));
  }
  const std::string ski = subjectKeyIdBytes(ca->cert);
  if (ski.empty()) return invalidArgument("the signing CA has no subjectKeyIdentifier");
  ca->authority_id = hex(ski);
  for (const auto& uri : ca->cert.uriSans()) {
    if (auto id = spiffe::SpiffeId::parse(uri)) ca->trust_domain = id->trustDomain().name();
  }
  if (ca->trust_domain.empty()) {
    return invalidArgument("the signing CA has no spiffe://<trust domain> URI SAN");
  }
  ca->not_before = ca->cert.notBefore();
  ca->not_after = ca->cert.notAfter();
  auto issuer = subjectNameDer(ca->cert);
  if (!issuer) return fail(issuer.error());
  ca->issuer_name_der = std::move(*issuer);
  ca->constant_extensions =
      extension(kOidBasicConstraints, true, basicConstraintsValue(false, std::nullopt)) +
      extension(kOidKeyUsage, true,
                keyUsageValue(crypto::kDigitalSignature | crypto::kKeyEncipherment |
                              crypto::kKeyAgreement)) +
      extension(kOidExtKeyUsage, false, serverClientAuthEkuValue());
  ca->aki_extension = extension(kOidAuthorityKeyId, false, authorityKeyIdValue(ski));
  return std::shared_ptr<const SigningCa>(std::move(ca));
}

Result<std::string> verifiedCsrPublicKey(std::string_view csr_der) {
  if (csr_der.empty()) return fail(malformed("empty"));
  FastCsr fast;
  if (parseFast(csr_der, fast)) {
    if (auto ok = verifyFast(fast); !ok) return fail(ok.error());
    return std::string(fast.spki);
  }
  auto info = crypto::verifyCsr(csr_der);
  if (!info) return fail(info.error());
  return std::move(info->public_key_der);
}

Result<SignedSvid> signX509Svid(const SigningCa& ca, const SvidRequest& request, TimePoint now,
                                Seconds default_ttl) {
  auto id = spiffe::SpiffeId::parse(request.spiffe_id);
  if (!id) return fail(id.error().prefix("SPIFFE ID \"" + request.spiffe_id + "\""));
  if (id->isRoot()) {
    return fail(Code::kInvalidArgument,
                "SPIFFE ID " + request.spiffe_id + " has no path; an X509-SVID needs one",
                "id_without_path");
  }
  if (id->trustDomain().name() != ca.trust_domain) {
    return fail(
        Code::kInvalidArgument,
        "SPIFFE ID " + request.spiffe_id + " is outside the CA's trust domain " + ca.trust_domain,
        "trust_domain_mismatch");
  }
  auto spki = verifiedCsrPublicKey(request.csr_der);
  if (!spki) return fail(spki.error());
  const Seconds ttl = request.ttl > Seconds(0) ? request.ttl : default_ttl;
  auto validity = ca::computeValidity(now, ttl, ca.not_before, ca.not_after);
  if (!validity) return fail(validity.error());
  auto serial = leafSerial(now);
  if (!serial) return fail(serial.error());
  const std::string_view serial_bytes = *serial;
  const std::string key_id = keyIdentifier(*spki);

  std::string extensions;
  extensions.reserve(ca.constant_extensions.size() + ca.aki_extension.size() + 160);
  extensions += ca.constant_extensions;
  extensions += extension(kOidSubjectKeyId, false, subjectKeyIdValue(key_id));
  extensions += ca.aki_extension;
  extensions += extension(kOidSubjectAltName, false,
                          subjectAltNameValue({request.spiffe_id}, request.dns_names));

  static const std::string kVersion3 = der::tlv(der::contextConstructed(0), der::smallInteger(2));
  const std::string tbs = der::wrap(
      der::kSequence,
      {kVersion3, der::unsignedInteger(serial_bytes), ca.signer->algorithm(), ca.issuer_name_der,
       der::wrap(der::kSequence, {der::time(validity->not_before), der::time(validity->not_after)}),
       leafSubject(request.dns_names), *spki,
       der::tlv(der::contextConstructed(3), der::tlv(der::kSequence, extensions))});
  auto cert = ca.signer->signCertificate(tbs);
  if (!cert) return fail(cert.error());
  SignedSvid out;
  out.spiffe_id = request.spiffe_id;
  out.cert_der = std::move(*cert);
  out.serial_hex = hex(serial_bytes);
  out.not_before = validity->not_before;
  out.not_after = validity->not_after;
  out.capped = validity->capped;
  return out;
}

SvidSigner::SvidSigner(CaSource ca, datastore::DataStore& store, std::shared_ptr<const Clock> clock,
                       Seconds default_ttl, IssuedRecorder* recorder)
    : ca_(std::move(ca)),
      store_(store),
      clock_(std::move(clock)),
      default_ttl_(default_ttl),
      recorder_(recorder) {}

namespace {

datastore::IssuedCertificate record(const SignedSvid& svid, TimePoint now) {
  return {svid.serial_hex, svid.spiffe_id, toUnix(svid.not_before), toUnix(svid.not_after),
          toUnix(now)};
}

}  // namespace

Result<SignedSvid> SvidSigner::sign(const SvidRequest& request) const {
  auto ca = ca_();
  if (!ca) return fail(Code::kUnavailable, "the server has no active signing CA yet");
  const TimePoint now = clock_->now();
  auto svid = signX509Svid(*ca, request, now, default_ttl_);
  if (!svid) return svid;
  svid->issuer = ca;
  if (recorder_ != nullptr) {
    recorder_->record({record(*svid, now)});
    return svid;
  }
  if (auto ok = store_.recordIssued(record(*svid, now)); !ok) {
    return fail(ok.error().prefix("recording the issued certificate"));
  }
  return svid;
}

Result<std::vector<SignedSvid>> SvidSigner::signBatch(
    const std::vector<SvidRequest>& requests) const {
  auto ca = ca_();
  if (!ca) return fail(Code::kUnavailable, "the server has no active signing CA yet");
  const TimePoint now = clock_->now();
  std::vector<SignedSvid> out;
  out.reserve(requests.size());
  std::vector<datastore::IssuedCertificate> records;
  records.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto svid = signX509Svid(*ca, requests[i], now, default_ttl_);
    if (!svid) return fail(svid.error().prefix("request " + std::to_string(i)));
    records.push_back(record(*svid, now));
    svid->issuer = ca;
    out.push_back(std::move(*svid));
  }
  if (recorder_ != nullptr) {
    recorder_->record(std::move(records));
    return out;
  }
  if (auto ok = store_.recordIssuedBatch(records); !ok) {
    return fail(ok.error().prefix("recording the issued certificates"));
  }
  return out;
}

}  // namespace mutual::server
