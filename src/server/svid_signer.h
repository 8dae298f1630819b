#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/key.h"
#include "datastore/datastore.h"
#include "server/issued_recorder.h"
#include "server/x509.h"

// Signing X509-SVIDs from certification requests, fast: the parts of a certificate that only
// depend on the signing CA (issuer name, authorityKeyIdentifier, the constant extensions) are
// encoded once per CA in a SigningCa; per request only the serial, the validity, the subject
// CN, the public key, its SKI and the SAN are encoded (docs/server.md, "Signing performance").
namespace mutual::server {

// The issuing CA, prepared for signing. Immutable and shared by every signing thread; the CA
// manager publishes a new one when it activates another authority.
struct SigningCa {
  std::string authority_id{};  // the CA's subjectKeyIdentifier, lowercase hex without colons
  crypto::Certificate cert;
  // The signing CA first, then any intermediates above it, without the root: what a leaf is
  // sent with.
  std::vector<crypto::Certificate> chain{};
  std::vector<std::string> chain_der{};
  std::shared_ptr<const CertSigner> signer{};
  std::string trust_domain{};  // name, from the CA's URI SAN
  TimePoint not_before{};
  TimePoint not_after{};
  // Constant parts of every leaf it signs.
  std::string issuer_name_der{};
  std::string constant_extensions{};  // basicConstraints, keyUsage, extendedKeyUsage
  std::string aki_extension{};
};

// `chain`: the signing CA first, then the intermediates above it (no root). The CA must carry
// a SKI, a spiffe://<td> URI SAN and be valid at some time.
Result<std::shared_ptr<const SigningCa>> makeSigningCa(
    std::vector<crypto::Certificate> chain, std::shared_ptr<const crypto::PrivateKey> key);

// The public key of a PKCS#10 request whose self-signature verifies, as its exact
// SubjectPublicKeyInfo DER. P-256 requests signed with ecdsa-with-SHA256 (what agents send)
// are parsed and verified by the server's own DER reader and OpenSSL's ECDSA core; every
// other well-formed request through crypto::verifyCsr. InvalidArgument with reason
// "malformed_csr" or "bad_csr_signature" otherwise.
Result<std::string> verifiedCsrPublicKey(std::string_view csr_der);

// A leaf's 128-bit serial number: a 48-bit issuance time prefix (Unix milliseconds, the first
// octet's 0x40 bit set so that the number always encodes in 16 octets and stays positive)
// followed by 80 bits from the CSPRNG, above the CA/Browser Forum's 64-bit minimum. The
// prefix makes serials grow with time, so the datastore's unique index on them takes new rows
// at its right edge: with fully random serials every recorded certificate rewrote a random
// B-tree page, and recording cost ~50 us per certificate instead of ~4 (docs/server.md).
Result<std::string> leafSerial(TimePoint now);

struct SvidRequest {
  std::string_view csr_der;
  // The identity comes from the registration entry, never from the request.
  std::string spiffe_id;
  std::vector<std::string> dns_names;  // from the entry; the first becomes the CN
  Seconds ttl{0};                      // the entry's x509_svid_ttl; 0 takes the default
};

struct SignedSvid {
  std::string spiffe_id;
  std::string cert_der;    // the leaf; send it with SigningCa::chain_der
  std::string serial_hex;  // lowercase
  TimePoint not_before;
  TimePoint not_after;
  bool capped = false;  // the TTL was cut to the CA's remaining life
  // Set by SvidSigner: the CA that signed it (send SigningCa::chain_der with the leaf).
  std::shared_ptr<const SigningCa> issuer{};
};

// Signs an X509-SVID for the request's key: SPIRE's profile (subject C=US, O=SPIRE, CN = the
// first DNS name; keyUsage digitalSignature|keyEncipherment|keyAgreement critical;
// extendedKeyUsage serverAuth, clientAuth; basicConstraints cA=false critical; SKI; AKI; SAN
// with the SPIFFE ID then the DNS names), a 128-bit serial (leafSerial), notBefore now-10s,
// notAfter now + (ttl or default_ttl) capped at the CA's notAfter. Errors: InvalidArgument for a
// bad request or an ID outside the CA's trust domain or without a path; FailedPrecondition (reason
// issuer_expired / issuer_not_yet_valid) when the CA cannot sign now.
Result<SignedSvid> signX509Svid(const SigningCa& ca, const SvidRequest& request, TimePoint now,
                                Seconds default_ttl);

// Signs with the CA the source returns at each call and records every certificate in the
// datastore: directly (recordIssued / recordIssuedBatch, committed before the call returns)
// or, given an IssuedRecorder, written behind in batches (what the server does). Thread-safe.
class SvidSigner {
 public:
  // Returns null while the server has no usable CA (then signing fails Unavailable).
  using CaSource = std::function<std::shared_ptr<const SigningCa>()>;

  SvidSigner(CaSource ca, datastore::DataStore& store, std::shared_ptr<const Clock> clock,
             Seconds default_ttl, IssuedRecorder* recorder = nullptr);

  // Signs and records one certificate.
  Result<SignedSvid> sign(const SvidRequest& request) const;
  // Signs every request with one CA, then records them all in one transaction. All or
  // nothing: the first failure fails the batch, naming the request's index.
  Result<std::vector<SignedSvid>> signBatch(const std::vector<SvidRequest>& requests) const;
  // The CA the next signature would use (null when none).
  std::shared_ptr<const SigningCa> currentCa() const { return ca_(); }
  Seconds defaultTtl() const { return default_ttl_; }

 private:
  CaSource ca_;
  datastore::DataStore& store_;
  std::shared_ptr<const Clock> clock_;
  Seconds default_ttl_;
  IssuedRecorder* recorder_;
};

}  // namespace mutual::server
