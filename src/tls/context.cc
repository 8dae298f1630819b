#include "tls/context.h"

#include <algorithm>
#include <cstring>
#include <span>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/openssl_error.h"
#include "spiffe/x509_svid.h"

namespace mutual::tls {
namespace {

// TLS 1.2 suites: ECDHE and AEAD only. TLS 1.3 suites are all AEAD (OpenSSL's defaults).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3: AES-128-GCM first (as fast as AES-256 to break, cheaper on AES-NI machines).
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr unsigned char kSessionIdContext[] = "mutual-mesh";
constexpr long kSessionLifetimeSeconds = 600;
constexpr size_t kSessionsPerKey = 16;

int peerCheckIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int clientContextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

PeerCheck* checkOf(const SSL* ssl) {
  return static_cast<PeerCheck*>(SSL_get_ex_data(ssl, peerCheckIndex()));
}

Failure classify(const std::string& reason) {
  if (reason == "expired" || reason == "not_yet_valid") return Failure::kExpired;
  if (reason == "unknown_ca") return Failure::kUnknownCa;
  if (reason == "trust_domain_mismatch" || reason == "unknown_trust_domain" ||
      reason == "id_not_allowed") {
    return Failure::kIdNotAllowed;
  }
  if (reason == "no_uri_san" || reason == "multiple_uri_sans" || reason == "invalid_spiffe_id" ||
      reason == "id_without_path" || reason.rfind("leaf_", 0) == 0 ||
      reason.rfind("signing_cert_", 0) == 0) {
    return Failure::kInvalidSvid;
  }
  return Failure::kVerifyFailed;
}

int x509ErrorFor(Failure failure) {
  switch (failure) {
    case Failure::kExpired: return X509_V_ERR_CERT_HAS_EXPIRED;
    case Failure::kUnknownCa: return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    default: return X509_V_ERR_APPLICATION_VERIFICATION;
  }
}

// Whether `leaf` carries one of `expected` as a URI or DNS SAN (Envoy's subjectAltNames
// matching, exact); an empty list expects nothing.
bool matchesExpectedSans(const crypto::Certificate& leaf, const std::vector<std::string>& expected) {
  if (expected.empty()) return true;
  const auto uris = leaf.uriSans();
  const auto names = leaf.dnsSans();
  return std::any_of(expected.begin(), expected.end(), [&](const std::string& san) {
    return std::find(uris.begin(), uris.end(), san) != uris.end() ||
           std::find(names.begin(), names.end(), san) != names.end();
  });
}

constexpr std::string_view kNoExpectedSan =
    "the server certificate matches none of the DestinationRule's subjectAltNames";

// Replaces OpenSSL's chain verification for mesh contexts: the X509-SVID rules against the
// bundle of the peer's own trust domain (spiffe::verifyX509Svid), then the PeerCheck's trust
// domain and allowed IDs. A chain this context verified before skips to the PeerCheck's part
// (VerifiedPeers). `arg` is the context's MeshVerification.
int verifySvid(X509_STORE_CTX* store_ctx, void* arg) {
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  PeerCheck* check = ssl != nullptr ? checkOf(ssl) : nullptr;
  auto* verification = static_cast<MeshVerification*>(arg);
  if (check == nullptr || verification == nullptr) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  const Credentials& credentials = *verification->credentials;
  auto refuse = [&](const Error& error) {
    check->failure = classify(error.reason);
    check->detail = error.message;
    X509_STORE_CTX_set_error(store_ctx, x509ErrorFor(check->failure));
    return 0;
  };
  std::vector<crypto::Certificate> chain;
  X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
  X509_up_ref(leaf);
  chain.emplace_back(crypto::X509Ptr(leaf));
  if (STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(store_ctx)) {
    for (int i = 0; i < sk_X509_num(untrusted); ++i) {
      X509* cert = sk_X509_value(untrusted, i);
      if (cert == leaf) continue;
      X509_up_ref(cert);
      chain.emplace_back(crypto::X509Ptr(cert));
    }
  }
  if (chain.size() == 1) {
    // A mutual peer holding the same intermediates as we do sends its leaf alone (see
    // useMeshChain); ours complete the path, verified against the bundle like any other.
    for (size_t i = 1; i < credentials.chain.size(); ++i) chain.push_back(credentials.chain[i]);
  }
  spiffe::SvidOptions options;
  options.at = std::chrono::system_clock::now();
  options.purpose = SSL_is_server(ssl) ? crypto::Purpose::kClientAuth : crypto::Purpose::kServerAuth;
  options.trust_domain = check->trust_domain;
  options.allowed_ids = check->allowed_ids;

  // Before our Finished: a server refused here never sees the handshake complete (and so
  // never connects to its application).
  if (!matchesExpectedSans(chain.front(), check->expected_sans)) {
    return refuse(Error{Code::kPermissionDenied, std::string(kNoExpectedSan), "id_not_allowed"});
  }
  std::string key = chainKey(chain);
  if (auto known = verification->verified_peers.find(key, options.at)) {
    if (auto expected = spiffe::checkExpectedId(*known, options); !expected) {
      return refuse(expected.error());
    }
    check->peer_id = std::move(*known);
    return 1;
  }
  auto verified = spiffe::verifyX509Svid(chain, credentials.bundles, options);
  if (!verified) return refuse(verified.error());
  if (!key.empty()) {
    TimePoint from = TimePoint::min();
    TimePoint until = TimePoint::max();
    for (const auto& cert : verified->path) {
      from = std::max(from, cert.notBefore());
      until = std::min(until, cert.notAfter());
    }
    verification->verified_peers.remember(std::move(key), verified->id, from, until);
  }
  check->peer_id = verified->id;
  return 1;
}

// Records why OpenSSL's own verification (external contexts) failed.
int verifyExternal(int preverify_ok, X509_STORE_CTX* store_ctx) {
  if (preverify_ok == 1) return 1;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  PeerCheck* check = ssl != nullptr ? checkOf(ssl) : nullptr;
  if (check != nullptr && check->failure == Failure::kNone) {
    int error = X509_STORE_CTX_get_error(store_ctx);
    switch (error) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID: check->failure = Failure::kExpired; break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: check->failure = Failure::kUnknownCa; break;
      case X509_V_ERR_HOSTNAME_MISMATCH: check->failure = Failure::kIdNotAllowed; break;
      default: check->failure = Failure::kVerifyFailed;
    }
    check->detail = std::string("certificate verify failed: ") +
                    X509_verify_cert_error_string(error);
  }
  return 0;
}

int selectMeshAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                   const unsigned char* in, unsigned int inlen, void*) {
  // A resumed handshake gets no new ticket: the mesh client reuses the session it has (see
  // ClientContext::newSsl), and every ticket would cost both sides a copy of the session,
  // which OpenSSL 3.0 makes by re-encoding and re-decoding it, peer certificate included.
  // (ALPN is chosen after the PSK, so SSL_session_reused is known here.)
  if (SSL_session_reused(ssl) == 1) SSL_set_num_tickets(ssl, 0);
  for (std::string_view wanted : kMeshServerAlpn) {
    for (unsigned i = 0; i < inlen;) {
      unsigned len = in[i];
      if (i + 1 + len > inlen) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == wanted) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int keepClientSession(SSL* ssl, SSL_SESSION* session) {
  auto* context = static_cast<ClientContext*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), clientContextIndex()));
  PeerCheck* check = checkOf(ssl);
  if (context == nullptr || check == nullptr || check->session_key.empty()) return 0;
  context->keepSession(check->session_key, session);
  return 1;  // we took the reference
}

std::string alpnWire(std::span<const std::string_view> protocols) {
  std::string wire;
  for (auto p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire.append(p);
  }
  return wire;
}

Result<SslCtxPtr> newContext(const SSL_METHOD* method) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return fail(crypto::openSslError(Code::kInternal, "SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx.get(), kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx.get(), kTls13Suites) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "setting the cipher lists"));
  }
  // A peer vanishing without close_notify is routine for a proxy (Beast treats it so too).
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Idle connections give their record buffers back (design-notes §3.5).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

Result<void> useCredentials(SSL_CTX* ctx, const Credentials& credentials) {
  if (SSL_CTX_use_certificate(ctx, credentials.leaf().get()) != 1) {
    return fail(crypto::openSslError(Code::kInvalidArgument, "loading the certificate"));
  }
  for (size_t i = 1; i < credentials.chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, credentials.chain[i].get()) != 1) {
      return fail(crypto::openSslError(Code::kInvalidArgument, "loading an intermediate"));
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, credentials.key->get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return fail(crypto::openSslError(Code::kInvalidArgument, "loading the private key"));
  }
  return {};
}

// ---- leaf-only certificates between mutual proxies -------------------------------------------
//
// Every full handshake decodes the peer's certificates, and with OpenSSL 3.0 decoding one costs
// about twice an ECDSA verification. Two mutual proxies issued by the same intermediates need
// not send those to each other: each side lists, among the certificate authorities it names
// (TLS 1.3 certificate_authorities in the ClientHello, the CertificateRequest's CA list), a
// marker naming a digest of its intermediates; a peer that finds its own marker there sends its
// leaf alone, and the receiver completes the path with its own copies (verifySvid). The marker
// is exact, so a peer with other intermediates, or any other TLS implementation, gets the full
// chain.

constexpr std::string_view kChainMarkerPrefix = "mutual-chain ";

// The marker for our intermediates, or nullptr when the chain has none.
crypto::X509NamePtr chainMarker(const Credentials& credentials) {
  if (credentials.chain.size() < 2) return nullptr;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  for (size_t i = 1; i < credentials.chain.size(); ++i) {
    unsigned char* der = nullptr;
    int len = i2d_X509(credentials.chain[i].get(), &der);
    if (len > 0) EVP_DigestUpdate(md, der, static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned digest_len = 0;
  EVP_DigestFinal_ex(md, digest, &digest_len);
  EVP_MD_CTX_free(md);
  std::string cn(kChainMarkerPrefix);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 16 && i < digest_len; ++i) {  // 128 bits: a CN holds 64 characters
    cn.push_back(kHex[digest[i] >> 4]);
    cn.push_back(kHex[digest[i] & 0xf]);
  }
  crypto::X509NamePtr name(X509_NAME_new());
  X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.data()),
                             static_cast<int>(cn.size()), -1, 0);
  return name;
}

int sendLeafAloneToMutualPeers(SSL* ssl, void* marker) {
  const STACK_OF(X509_NAME)* named = SSL_get0_peer_CA_list(ssl);
  for (int i = 0; named != nullptr && i < sk_X509_NAME_num(named); ++i) {
    if (X509_NAME_cmp(sk_X509_NAME_value(named, i), static_cast<X509_NAME*>(marker)) == 0) {
      SSL_clear_chain_certs(ssl);
      break;
    }
  }
  return 1;
}

// Names the marker (a server first names the roots it accepts, so clients that pick a
// certificate by the CAs of its chain still find theirs) and answers the peer's. `marker` must outlive the SSL_CTX.
void useMeshChain(SSL_CTX* ctx, const Credentials& credentials, crypto::X509NamePtr& marker) {
  marker = chainMarker(credentials);
  if (!marker) return;
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) {
    for (const auto& td : credentials.bundles.trustDomains()) {
      for (const auto& root : credentials.bundles.find(td)->authorities) {
        sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(root.get())));
      }
    }
  }
  sk_X509_NAME_push(names, X509_NAME_dup(marker.get()));
  SSL_CTX_set0_CA_list(ctx, names);
  // Without its chain OpenSSL would build one from the store; the chain is ours to choose.
  SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
  SSL_CTX_set_cert_cb(ctx, sendLeafAloneToMutualPeers, marker.get());
}

}  // namespace

std::string_view failureName(Failure failure) {
  switch (failure) {
    case Failure::kNone: return "";
    case Failure::kNoCertificateLoaded: return "no_certificate_loaded";
    case Failure::kPlaintextUnderStrict: return "plaintext_under_strict";
    case Failure::kNoPeerCertificate: return "no_client_certificate";
    case Failure::kUnknownCa: return "unknown_ca";
    case Failure::kExpired: return "expired";
    case Failure::kInvalidSvid: return "invalid_svid";
    case Failure::kIdNotAllowed: return "spiffe_id_not_allowed";
    case Failure::kVerifyFailed: return "verify_failed";
    case Failure::kTimeout: return "handshake_timeout";
    case Failure::kProtocol: return "protocol_error";
    case Failure::kPeerClosed: return "peer_closed";
    case Failure::kConfig: return "tls_config_error";
  }
  return "unknown";
}

std::string_view failureMetricReason(Failure failure) {
  switch (failure) {
    case Failure::kNone: return "";
    case Failure::kNoPeerCertificate:
    case Failure::kNoCertificateLoaded: return "no_cert";
    case Failure::kIdNotAllowed:
    case Failure::kInvalidSvid: return "verify_san";
    case Failure::kUnknownCa:
    case Failure::kExpired:
    case Failure::kVerifyFailed: return "verify_error";
    case Failure::kTimeout: return "timeout";
    case Failure::kPlaintextUnderStrict:
    case Failure::kProtocol:
    case Failure::kPeerClosed:
    case Failure::kConfig: return "protocol";
  }
  return "protocol";
}

bool isMeshAlpn(std::string_view alpn) {
  return alpn == "istio-peer-exchange" || alpn == "istio" || alpn == "istio-http/1.0" ||
         alpn == "istio-http/1.1" || alpn == "istio-h2";
}

Result<std::shared_ptr<const ServerContext>> ServerContext::create(
    std::shared_ptr<const Credentials> credentials, bool session_resumption,
    size_t session_cache_size) {
  auto ctx = newContext(TLS_server_method());
  if (!ctx) return fail(ctx.error());
  if (auto used = useCredentials(ctx->get(), *credentials); !used) return fail(used.error());
  SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  auto verification = std::make_unique<MeshVerification>();
  verification->credentials = credentials.get();
  SSL_CTX_set_cert_verify_callback(ctx->get(), verifySvid, verification.get());
  SSL_CTX_set_alpn_select_cb(ctx->get(), selectMeshAlpn, nullptr);
  crypto::X509NamePtr marker;
  useMeshChain(ctx->get(), *credentials, marker);
  // Resumption between mutual proxies: one stateful ticket (SSL_OP_NO_TICKET, in TLS 1.3: the
  // ticket is a session ID), so a resumed handshake neither decrypts nor re-decodes a
  // stateless ticket's copy of the session, peer certificate included. The cache
  // belongs to this context: a rotation starts a fresh one, so no session outlives the
  // credentials and bundle it was verified with. (A connection that ends without close_notify
  // drops its session from the cache: OpenSSL's rule for possibly truncated sessions.)
  SSL_CTX_set_session_id_context(ctx->get(), kSessionIdContext, sizeof(kSessionIdContext) - 1);
  SSL_CTX_set_num_tickets(ctx->get(), session_resumption ? 1 : 0);
  SSL_CTX_set_options(ctx->get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx->get(),
                                 session_resumption ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
  // Each cached session holds the client's certificate: about 7 KB (measured), so the size
  // bounds the memory a stream of clients that never resume can take.
  SSL_CTX_sess_set_cache_size(ctx->get(), static_cast<long>(session_cache_size));
  SSL_CTX_set_timeout(ctx->get(), kSessionLifetimeSeconds);

  std::shared_ptr<ServerContext> context(new ServerContext());
  context->ctx_ = std::move(*ctx);
  context->chain_marker_ = std::move(marker);
  context->verification_ = std::move(verification);
  context->credentials_ = std::move(credentials);
  return std::shared_ptr<const ServerContext>(std::move(context));
}

Result<SslPtr> ServerContext::newSsl(PeerCheck& check) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) return fail(crypto::openSslError(Code::kResourceExhausted, "SSL_new"));
  SSL_set_ex_data(ssl.get(), peerCheckIndex(), &check);
  SSL_set_accept_state(ssl.get());
  return ssl;
}

Result<std::shared_ptr<ClientContext>> ClientContext::mesh(
    std::shared_ptr<const Credentials> credentials, bool session_resumption) {
  auto ctx = newContext(TLS_client_method());
  if (!ctx) return fail(ctx.error());
  if (auto used = useCredentials(ctx->get(), *credentials); !used) return fail(used.error());
  SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER, nullptr);
  auto verification = std::make_unique<MeshVerification>();
  verification->credentials = credentials.get();
  SSL_CTX_set_cert_verify_callback(ctx->get(), verifySvid, verification.get());
  crypto::X509NamePtr marker;
  useMeshChain(ctx->get(), *credentials, marker);
  std::string alpn = alpnWire(kMeshClientAlpn);
  SSL_CTX_set_alpn_protos(ctx->get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                          static_cast<unsigned>(alpn.size()));
  // OpenSSL's client session cache stays off: with it on, OpenSSL retires each TLS 1.3 session
  // after one use, and mesh sessions are shared (see newSsl); keepNewSession collects tickets.
  SSL_CTX_set_session_cache_mode(ctx->get(), SSL_SESS_CACHE_OFF);

  std::shared_ptr<ClientContext> context(new ClientContext());
  SSL_CTX_set_ex_data(ctx->get(), clientContextIndex(), context.get());
  context->ctx_ = std::move(*ctx);
  context->credentials_ = std::move(credentials);
  context->chain_marker_ = std::move(marker);
  context->verification_ = std::move(verification);
  context->keeps_sessions_ = session_resumption;
  return context;
}

Result<std::shared_ptr<ClientContext>> ClientContext::external(
    const ExternalTlsSettings& settings) {
  auto ctx = newContext(TLS_client_method());
  if (!ctx) return fail(ctx.error());
  if (settings.mutual) {
    if (settings.client_certificate.empty() || settings.private_key.empty()) {
      return invalidArgument("MUTUAL needs clientCertificate and privateKey");
    }
    if (SSL_CTX_use_certificate_chain_file(ctx->get(), settings.client_certificate.c_str()) != 1) {
      return fail(crypto::openSslError(Code::kInvalidArgument,
                                       settings.client_certificate + ": cannot load"));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx->get(), settings.private_key.c_str(), SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(ctx->get()) != 1) {
      return fail(crypto::openSslError(Code::kInvalidArgument,
                                       settings.private_key + ": cannot load or does not match"));
    }
  }
  if (settings.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_NONE, nullptr);
  } else {
    int loaded = settings.ca_certificates.empty()
                     ? SSL_CTX_set_default_verify_paths(ctx->get())
                     : SSL_CTX_load_verify_locations(ctx->get(), settings.ca_certificates.c_str(),
                                                     nullptr);
    if (loaded != 1) {
      return fail(crypto::openSslError(
          Code::kInvalidArgument,
          (settings.ca_certificates.empty() ? "system trust store" : settings.ca_certificates) +
              ": cannot load"));
    }
    if (!settings.ca_crl.empty()) {
      X509_STORE* store = SSL_CTX_get_cert_store(ctx->get());
      X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
      if (lookup == nullptr ||
          X509_load_crl_file(lookup, settings.ca_crl.c_str(), X509_FILETYPE_PEM) <= 0) {
        return fail(crypto::openSslError(Code::kInvalidArgument,
                                         settings.ca_crl + ": cannot load a CRL from it"));
      }
      X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER, verifyExternal);
  }
  SSL_CTX_set_session_cache_mode(ctx->get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx->get(), keepClientSession);

  std::shared_ptr<ClientContext> context(new ClientContext());
  SSL_CTX_set_ex_data(ctx->get(), clientContextIndex(), context.get());
  context->ctx_ = std::move(*ctx);
  context->subject_alt_names_ = settings.subject_alt_names;
  context->insecure_skip_verify_ = settings.insecure_skip_verify;
  return context;
}

Result<SslPtr> ClientContext::newSsl(PeerCheck& check, const std::string& sni) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) return fail(crypto::openSslError(Code::kResourceExhausted, "SSL_new"));
  SSL_set_ex_data(ssl.get(), peerCheckIndex(), &check);
  SSL_set_connect_state(ssl.get());
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl.get(), sni.c_str()) != 1) {
    return fail(crypto::openSslError(Code::kInvalidArgument, "SNI " + sni));
  }
  if (!isMesh() && !insecure_skip_verify_) {
    // DNS SANs go to OpenSSL's host check (any one may match); URI SANs are compared after the
    // handshake in finishHandshake. Without SANs the SNI must match, as Istio's auto-SAN does.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool any_uri = std::any_of(subject_alt_names_.begin(), subject_alt_names_.end(),
                               [](const std::string& san) { return san.find(':') != std::string::npos; });
    if (any_uri) {
      check.expected_sans = subject_alt_names_;
    } else if (!subject_alt_names_.empty()) {
      for (const auto& san : subject_alt_names_) X509_VERIFY_PARAM_add1_host(param, san.c_str(), san.size());
    } else if (!sni.empty()) {
      X509_VERIFY_PARAM_set1_host(param, sni.c_str(), sni.size());
    }
  }
  if (!check.session_key.empty()) {
    std::lock_guard lock(sessions_mu_);
    auto it = sessions_.find(check.session_key);
    if (it != sessions_.end() && !it->second.empty()) {
      // Between mutual proxies a session is resumed by every new connection until it expires
      // (the server keeps it in its cache and sends no new ticket on resumption; each
      // connection still runs its own ECDHE). Other servers get each ticket once, as RFC 8446
      // asks of clients.
      if (isMesh()) {
        // A failed handshake retires the session it tried (OpenSSL marks it not resumable).
        auto& list = it->second;
        while (!list.empty() && SSL_SESSION_is_resumable(list.back().get()) != 1) list.pop_back();
        if (!list.empty()) SSL_set_session(ssl.get(), list.back().get());
      } else {
        SslSessionPtr session = std::move(it->second.back());
        it->second.pop_back();
        SSL_set_session(ssl.get(), session.get());
      }
    }
  }
  return ssl;
}

void ClientContext::keepSession(const std::string& key, SSL_SESSION* session) {
  std::lock_guard lock(sessions_mu_);
  auto& list = sessions_[key];
  list.emplace_back(session);
  while (list.size() > kSessionsPerKey) list.pop_front();
}

void keepNewSession(SSL* ssl) {
  PeerCheck* check = checkOf(ssl);
  if (check == nullptr || check->session_kept || check->session_key.empty()) return;
  auto* context = static_cast<ClientContext*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), clientContextIndex()));
  if (context == nullptr || !context->isMesh() || !context->keepsSessions()) return;
  if (SSL_session_reused(ssl) == 1) {
    check->session_kept = true;  // resumed: no new ticket comes, the session is already kept
    return;
  }
  SSL_SESSION* session = SSL_get0_session(ssl);
  if (session == nullptr || SSL_SESSION_is_resumable(session) != 1) return;  // no ticket yet
  SSL_SESSION_up_ref(session);
  context->keepSession(check->session_key, session);
  check->session_kept = true;
}

Result<PeerInfo> finishHandshake(SSL* ssl, PeerCheck& check, bool mesh) {
  PeerInfo info;
  info.resumed = SSL_session_reused(ssl) == 1;
  info.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) info.cipher = SSL_CIPHER_get_name(cipher);
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info.sni = sni;

  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer != nullptr) {
    X509_up_ref(peer);
    const crypto::Certificate& leaf = info.certificate.emplace(crypto::X509Ptr(peer));
    if (mesh && (info.resumed || !check.peer_id)) {
      // Resumed: the session's certificate was verified when it was first seen; recheck what
      // can change since (validity, the ID rules of this connection).
      auto id = spiffe::checkLeafProfile(leaf);
      if (!id) {
        check.failure = Failure::kInvalidSvid;
        check.detail = id.error().message;
        return fail(Code::kPermissionDenied, check.detail);
      }
      if (std::chrono::system_clock::now() > leaf.notAfter()) {
        check.failure = Failure::kExpired;
        check.detail = "the resumed session's certificate has expired";
        return fail(Code::kPermissionDenied, check.detail);
      }
      spiffe::SvidOptions expected;
      expected.trust_domain = check.trust_domain;
      expected.allowed_ids = check.allowed_ids;
      if (auto allowed = spiffe::checkExpectedId(*id, expected); !allowed) {
        check.failure = Failure::kIdNotAllowed;
        check.detail = allowed.error().message;
        return fail(Code::kPermissionDenied, check.detail);
      }
      check.peer_id = *id;
    }
    if (!matchesExpectedSans(leaf, check.expected_sans)) {
      check.failure = Failure::kIdNotAllowed;
      check.detail = kNoExpectedSan;
      return fail(Code::kPermissionDenied, check.detail);
    }
  } else if (mesh) {
    check.failure = Failure::kNoPeerCertificate;
    check.detail = "the peer sent no certificate";
    return fail(Code::kPermissionDenied, check.detail);
  }
  info.id = check.peer_id;
  return info;
}

void recordHandshakeFailure(SSL* ssl, int ssl_error, PeerCheck& check) {
  unsigned long first = ERR_peek_error();
  std::string errors = crypto::drainOpenSslErrors();
  if (check.failure != Failure::kNone) return;
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    if (first == 0) {
      check.failure = Failure::kPeerClosed;
      check.detail = "the peer closed the connection during the handshake";
      return;
    }
  }
  int reason = ERR_GET_REASON(first);
  if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
      (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
       reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)) {
    check.failure = Failure::kNoPeerCertificate;
  } else if (ERR_GET_LIB(first) == ERR_LIB_SSL && reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA) {
    check.failure = Failure::kUnknownCa;
  } else if (ERR_GET_LIB(first) == ERR_LIB_SSL && reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED) {
    check.failure = Failure::kExpired;
  } else {
    check.failure = Failure::kProtocol;
  }
  (void)ssl;
  check.detail = errors.empty() ? std::string(failureName(check.failure)) : errors;
}

}  // namespace mutual::tls
