#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>

#include "base/error.h"
#include "crypto/handles.h"
#include "spiffe/spiffe_id.h"
#include "tls/credentials.h"
#include "tls/verified_peers.h"

namespace mutual::tls {

using SslCtxPtr = std::unique_ptr<SSL_CTX, crypto::Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, crypto::Deleter<SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, crypto::Deleter<SSL_SESSION_free>>;

// Why a connection did not get the TLS it needed. One value per connection: it drives the
// access log (`failureName`) and the handshake metric label (`failureMetricReason`).
enum class Failure {
  kNone,
  kNoCertificateLoaded,   // we have no SVID yet: fail closed
  kPlaintextUnderStrict,  // the peer spoke plaintext to a STRICT port
  kNoPeerCertificate,     // the peer sent no certificate
  kUnknownCa,             // the peer's chain does not lead to our bundle
  kExpired,               // a certificate in the peer's chain is expired or not yet valid
  kInvalidSvid,           // not an X509-SVID (URI SAN count, CA leaf, key usage, ...)
  kIdNotAllowed,          // a valid SVID, but its SPIFFE ID or trust domain is not accepted
  kVerifyFailed,          // any other certificate verification failure
  kTimeout,               // the handshake did not finish before its deadline
  kProtocol,              // malformed or incompatible TLS, or an alert from the peer
  kPeerClosed,            // the peer closed or reset the connection mid-handshake
  kConfig,                // our own TLS settings could not be loaded (files of a DestinationRule)
};

// "no_certificate_loaded", "plaintext_under_strict", "no_client_certificate", "unknown_ca",
// "expired", "invalid_svid", "spiffe_id_not_allowed", "verify_failed", "handshake_timeout",
// "protocol_error", "peer_closed", "tls_config_error"; "" for kNone.
std::string_view failureName(Failure failure);
// The `reason` label of mutual_tls_handshakes_total (design-notes §4.2): verify_error,
// verify_san, no_cert, timeout, protocol.
std::string_view failureMetricReason(Failure failure);

// The verification a handshake applies to the peer, and what it found. Lives as long as the
// SSL it is attached to (the connection owns both; the check must be declared first).
struct PeerCheck {
  // Inputs. `trust_domain`: the peer's SVID must be in it (nullopt: any trust domain we hold a
  // bundle for). `allowed_ids`: when non-empty, the peer must be one of them.
  std::optional<spiffe::TrustDomain> trust_domain;
  std::vector<spiffe::SpiffeId> allowed_ids;
  // For client contexts: sessions are cached per key (destination and endpoint).
  std::string session_key;
  // Set by external client contexts whose subjectAltNames include a URI, and by mesh clients
  // whose DestinationRule names a DNS SAN: the server's leaf must carry one of these as a URI
  // or DNS SAN (checked in finishHandshake, on resumed handshakes too).
  std::vector<std::string> expected_sans;

  // Outputs, set during the handshake.
  std::optional<spiffe::SpiffeId> peer_id;
  Failure failure = Failure::kNone;
  std::string detail;  // a sentence for the access log
  bool session_kept = false;  // mesh clients: the server's ticket went to the context
};

// What the access log and authorization need to know about an established TLS connection.
struct PeerInfo {
  std::optional<spiffe::SpiffeId> id;  // set for mesh peers (SVID verified)
  // The peer's leaf, when it sent one: its serial and fingerprint are for the access log, so
  // they are computed only when one is written.
  std::optional<crypto::Certificate> certificate;
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_128_GCM_SHA256"
  std::string alpn;
  std::string sni;
  bool resumed = false;
};

// The mesh ALPN values (istio-mtls.md §1.6): what a client sidecar offers for TCP, and what an
// inbound sidecar selects from, in order of preference. Unlike Envoy, which terminates HTTP and
// can speak h2 to the client whatever the application speaks, this proxy forwards bytes: it
// never selects an application protocol (h2, http/1.1) for the application, so a client that
// offers only those gets no ALPN and falls back to its default (curl: HTTP/1.1 to an app that
// may not speak HTTP/2).
inline constexpr std::string_view kMeshClientAlpn[] = {"istio-peer-exchange", "istio"};
inline constexpr std::string_view kMeshServerAlpn[] = {"istio-peer-exchange", "istio"};
// True for an ALPN value that marks mesh mTLS in a ClientHello (PERMISSIVE sniffing).
bool isMeshAlpn(std::string_view alpn);

// What a mesh context's verification callback works with: the bundles peers are verified
// against (in the credentials), and the chains already verified with them.
struct MeshVerification {
  const Credentials* credentials = nullptr;
  VerifiedPeers verified_peers;
};

// The inbound mesh context: presents the workload's SVID, requires a client SVID verified
// against the bundle of the client's trust domain, TLS 1.2 minimum with AEAD ciphers, one
// stateful session ticket per handshake. Immutable; built once per rotation and shared by all
// workers (connections keep the one they started with).
class ServerContext {
 public:
  // `session_resumption` false: no tickets, every handshake is a full one. The session cache
  // keeps at most `session_cache_size` sessions (the oldest goes first).
  static Result<std::shared_ptr<const ServerContext>> create(
      std::shared_ptr<const Credentials> credentials, bool session_resumption = true,
      size_t session_cache_size = kDefaultSessionCacheSize);
  static constexpr size_t kDefaultSessionCacheSize = 1024;

  // A new server-side SSL checking the peer with `check` (which must outlive it).
  Result<SslPtr> newSsl(PeerCheck& check) const;
  const Credentials& credentials() const { return *credentials_; }
  const VerifiedPeers& verifiedPeers() const { return verification_->verified_peers; }
  // Sessions in the cache now.
  size_t cachedSessions() const { return static_cast<size_t>(SSL_CTX_sess_number(ctx_.get())); }

 private:
  ServerContext() = default;
  // The callbacks' arguments: they outlive ctx_.
  crypto::X509NamePtr chain_marker_;
  std::unique_ptr<MeshVerification> verification_;
  SslCtxPtr ctx_;
  std::shared_ptr<const Credentials> credentials_;
};

// Settings of a DestinationRule SIMPLE or MUTUAL client, with file paths already resolved.
struct ExternalTlsSettings {
  bool mutual = false;             // MUTUAL: present client_certificate / private_key
  std::string client_certificate;  // PEM file
  std::string private_key;         // PEM file
  std::string ca_certificates;     // PEM file; "" means the system trust store
  // PEM file of CRLs (caCrl); "" for none. As Envoy applies one: every CA of the server's chain
  // must then have its CRL in the file, and a revoked certificate anywhere fails the handshake.
  std::string ca_crl;
  std::vector<std::string> subject_alt_names;  // DNS names or URIs; empty: any (SNI checked)
  bool insecure_skip_verify = false;
};

// An outbound (client) context: either the mesh one (ISTIO_MUTUAL: our SVID, the peer verified
// as an SVID of the trust domain) or an external one (DestinationRule SIMPLE / MUTUAL: the
// server verified by the usual X.509 rules against a CA file). Resumable sessions are kept per
// PeerCheck::session_key. Shared by all workers; the session cache is the only mutable part.
class ClientContext {
 public:
  static Result<std::shared_ptr<ClientContext>> mesh(std::shared_ptr<const Credentials> credentials,
                                                     bool session_resumption = true);
  static Result<std::shared_ptr<ClientContext>> external(const ExternalTlsSettings& settings);

  // A new client-side SSL sending `sni` (none when empty), resuming a cached session for
  // `check.session_key` when there is one.
  Result<SslPtr> newSsl(PeerCheck& check, const std::string& sni) const;

  bool isMesh() const { return credentials_ != nullptr; }
  bool skipsVerification() const { return insecure_skip_verify_; }
  bool keepsSessions() const { return keeps_sessions_; }
  // nullptr for external contexts.
  const Credentials* credentials() const { return credentials_.get(); }
  // nullptr for external contexts.
  const VerifiedPeers* verifiedPeers() const {
    return verification_ ? &verification_->verified_peers : nullptr;
  }

  // Takes a reference to a resumable session for `key`.
  void keepSession(const std::string& key, SSL_SESSION* session);

 private:
  ClientContext() = default;
  // The callbacks' arguments (mesh contexts): they outlive ctx_.
  crypto::X509NamePtr chain_marker_;
  std::unique_ptr<MeshVerification> verification_;
  SslCtxPtr ctx_;
  std::shared_ptr<const Credentials> credentials_;
  std::vector<std::string> subject_alt_names_;
  bool insecure_skip_verify_ = false;
  bool keeps_sessions_ = true;
  // Tickets per destination: mesh contexts resume the newest for every connection; external
  // ones use each once.
  mutable std::mutex sessions_mu_;
  mutable std::map<std::string, std::deque<SslSessionPtr>> sessions_;
};

// Call after each read on a TLS connection. On a mesh client connection, once the server's
// session ticket has arrived (it follows the handshake, so it is read with the data), hands the
// session to the context for later connections to resume; otherwise does nothing.
void keepNewSession(SSL* ssl);

// After a successful SSL_do_handshake: the peer as PeerInfo. For a resumed session the
// verification callback did not run, so the peer's SVID is re-read from the session and
// checked against `check` (profile, trust domain, allowed IDs, still within its validity); a
// failure is recorded in `check` and returned as an error.
Result<PeerInfo> finishHandshake(SSL* ssl, PeerCheck& check, bool mesh);

// After a failed SSL_do_handshake: records in `check` the named failure (unless verification
// already named one), using OpenSSL's error queue, which this drains.
void recordHandshakeFailure(SSL* ssl, int ssl_error, PeerCheck& check);

}  // namespace mutual::tls
