#include "tls/context.h"

#include <gtest/gtest.h>

#include "base/file.h"
#include "base/testing.h"
#include "ca/authority.h"

namespace mutual::tls {
namespace {

using testing::must;

spiffe::BundleSet bundleOf(const spiffe::TrustDomain& td, const crypto::Certificate& root) {
  spiffe::BundleSet bundles;
  must(bundles.put(spiffe::X509Bundle{td, {root}, std::nullopt, std::nullopt, {}}));
  return bundles;
}

struct Pki {
  ca::Authority root;
  spiffe::TrustDomain td;
};

Pki makePki(const std::string& td_name) {
  FakeClock clock(std::chrono::system_clock::now() - std::chrono::hours(24));
  auto td = must(spiffe::TrustDomain::parse(td_name));
  ca::RootOptions options{td, std::chrono::hours(72), crypto::KeyType::kEcP256, ""};
  return {must(ca::createRoot(options, clock)), td};
}

// An SVID for `path` signed by `issuer` (the root, or an intermediate under it).
std::shared_ptr<const Credentials> svidFrom(const ca::Authority& issuer, const Pki& pki,
                                            const std::string& path,
                                            TimePoint issued_at = std::chrono::system_clock::now(),
                                            std::chrono::seconds ttl = std::chrono::hours(1)) {
  FakeClock clock(issued_at);
  ca::WorkloadOptions options{must(spiffe::SpiffeId::fromPath(pki.td, path)), {}, {}, ttl, {},
                              crypto::KeyType::kEcP256};
  auto issued = must(ca::issueWorkload(issuer, options, clock));
  spiffe::BundleSet bundles = bundleOf(pki.td, pki.root.cert);
  std::vector<crypto::Certificate> chain{issued.cert};
  for (auto& c : issued.chain) chain.push_back(c);
  // Built directly (not through makeCredentials) so tests can hold expired credentials.
  return std::make_shared<const Credentials>(
      Credentials{chain, std::make_shared<const crypto::PrivateKey>(std::move(issued.key)),
                  options.id, std::move(bundles), "test"});
}

std::shared_ptr<const Credentials> svid(const Pki& pki, const std::string& path,
                                        TimePoint issued_at = std::chrono::system_clock::now(),
                                        std::chrono::seconds ttl = std::chrono::hours(1)) {
  return svidFrom(pki.root, pki, path, issued_at, ttl);
}

ca::Authority intermediateOf(const Pki& pki, const std::string& name) {
  FakeClock clock(std::chrono::system_clock::now() - std::chrono::hours(1));
  ca::IntermediateOptions options;
  options.name = name;
  options.ttl = std::chrono::hours(24);
  auto issued = must(ca::createIntermediate(pki.root, options, clock));
  return ca::Authority{issued.cert, std::move(issued.key), issued.chain, issued.bundle};
}

// Drives a client and a server SSL against each other over an in-memory BIO pair.
struct Handshake {
  bool client_ok = false;
  bool server_ok = false;
  int client_error = 0;
  int server_error = 0;
};

// One handshake step of `ssl`, unless it is `done`: done once it completed (`ok`) or failed
// (`error`, an SSL_ERROR_* other than WANT_READ and WANT_WRITE).
void step(SSL* ssl, bool& done, bool& ok, int& error) {
  if (done) return;
  int rc = SSL_do_handshake(ssl);
  if (rc == 1) {
    done = ok = true;
    return;
  }
  int ssl_error = SSL_get_error(ssl, rc);
  if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
    done = true;
    error = ssl_error;
  }
}

Handshake run(SSL* client, SSL* server) {
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_bio(server, server_bio, server_bio);
  Handshake result;
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < 20 && !(client_done && server_done); ++round) {
    step(client, client_done, result.client_ok, result.client_error);
    step(server, server_done, result.server_ok, result.server_error);
  }
  // TLS 1.3: the server's verdict on the client certificate (and the session ticket) reach
  // the client with the first read.
  char byte;
  SSL_read(client, &byte, 1);
  keepNewSession(client);  // as the proxy's reads do
  return result;
}

// A client and a server SSL of one connection, with the checks they point to.
struct Connection {
  PeerCheck server_check, client_check;
  SslPtr server_ssl, client_ssl;
};

// A connection of `client` (sending `sni`) to `server`. `client_check` holds the client's inputs
// (trust domain, allowed IDs, session key): they are in place before its SSL is made.
std::unique_ptr<Connection> open(const ServerContext& server, const ClientContext& client,
                                 const std::string& sni = "", PeerCheck client_check = {}) {
  auto c = std::make_unique<Connection>();
  c->client_check = std::move(client_check);
  c->server_ssl = must(server.newSsl(c->server_check));
  c->client_ssl = must(client.newSsl(c->client_check, sni));
  return c;
}

// Inputs of the client's check for open: the server must be in `td`, or be `id`; sessions are
// cached under `key`.
PeerCheck inTrustDomain(const spiffe::TrustDomain& td) {
  PeerCheck check;
  check.trust_domain = td;
  return check;
}
PeerCheck allowingOnly(const spiffe::SpiffeId& id) {
  PeerCheck check;
  check.allowed_ids = {id};
  return check;
}
PeerCheck sessionKey(const std::string& key) {
  PeerCheck check;
  check.session_key = key;
  return check;
}

Handshake run(Connection& c) { return run(c.client_ssl.get(), c.server_ssl.get()); }

// Runs the handshake of `c`: a success when both sides complete it.
::testing::AssertionResult handshakes(Connection& c) {
  Handshake hs = run(c);
  if (hs.client_ok && hs.server_ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << c.server_check.detail << c.client_check.detail;
}

// Runs the handshake of `c`, which the server (or the client) must refuse: the failure it
// recorded.
Failure serverRefusal(Connection& c) {
  Handshake hs = run(c);
  EXPECT_FALSE(hs.server_ok);
  recordHandshakeFailure(c.server_ssl.get(), hs.server_error, c.server_check);
  return c.server_check.failure;
}
Failure clientRefusal(Connection& c) {
  Handshake hs = run(c);
  EXPECT_FALSE(hs.client_ok);
  recordHandshakeFailure(c.client_ssl.get(), hs.client_error, c.client_check);
  return c.client_check.failure;
}

// After the handshake of a mesh connection: the client as the server verified it, and the server
// as the client verified it.
PeerInfo serverPeer(Connection& c) {
  return must(finishHandshake(c.server_ssl.get(), c.server_check, true));
}
PeerInfo clientPeer(Connection& c) {
  return must(finishHandshake(c.client_ssl.get(), c.client_check, true));
}

// A clean close keeps the session resumable.
void closeCleanly(Connection& c) {
  SSL_shutdown(c.client_ssl.get());
  SSL_shutdown(c.server_ssl.get());
}

class TlsContextTest : public ::testing::Test {
 protected:
  Pki mesh = makePki("cluster.local");
  std::shared_ptr<const Credentials> server_creds = svid(mesh, "/ns/shop/sa/reviews");
  std::shared_ptr<const Credentials> client_creds = svid(mesh, "/ns/shop/sa/cart");
  std::shared_ptr<const ServerContext> server = must(ServerContext::create(server_creds));
  std::shared_ptr<ClientContext> client = must(ClientContext::mesh(client_creds));
};

TEST_F(TlsContextTest, MeshHandshakeVerifiesBothSvidsAndNegotiatesMeshAlpn) {
  auto c = open(*server, *client, "outbound_.9080_._.reviews.shop.svc.cluster.local",
                inTrustDomain(mesh.td));
  ASSERT_TRUE(handshakes(*c));
  auto server_peer = serverPeer(*c);
  auto client_peer = clientPeer(*c);
  ASSERT_TRUE(server_peer.id);
  EXPECT_EQ(server_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
  EXPECT_EQ(client_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  EXPECT_EQ(server_peer.alpn, "istio-peer-exchange");
  EXPECT_EQ(server_peer.sni, "outbound_.9080_._.reviews.shop.svc.cluster.local");
  EXPECT_EQ(server_peer.version, "TLSv1.3");
  ASSERT_TRUE(server_peer.certificate);
  EXPECT_EQ(server_peer.certificate->serialHex(), client_creds->leaf().serialHex());
  EXPECT_FALSE(server_peer.resumed);
}

// The proxy forwards bytes, so it must not choose an application protocol (h2, http/1.1) the
// application behind it may not speak: only a mesh ALPN is ever selected.
TEST_F(TlsContextTest, ServerSelectsOnlyMeshAlpn) {
  struct Case {
    std::vector<std::string_view> offered;
    std::string selected;
  };
  const Case cases[] = {
      {{"h2", "http/1.1"}, ""},
      {{"http/1.1"}, ""},
      {{"h2", "istio"}, "istio"},
      {{"istio", "istio-peer-exchange"}, "istio-peer-exchange"},
  };
  for (const Case& c : cases) {
    auto conn = open(*server, *client);
    std::string wire;
    for (auto protocol : c.offered) {
      wire.push_back(static_cast<char>(protocol.size()));
      wire.append(protocol);
    }
    ASSERT_EQ(SSL_set_alpn_protos(conn->client_ssl.get(),
                                  reinterpret_cast<const unsigned char*>(wire.data()),
                                  static_cast<unsigned>(wire.size())),
              0);
    ASSERT_TRUE(handshakes(*conn));
    EXPECT_EQ(serverPeer(*conn).alpn, c.selected) << "offered " << c.offered.front() << ",...";
  }
}

TEST_F(TlsContextTest, ClientWithoutCertificateIsRefused) {
  // A client without a certificate: a mesh context always has one, so use OpenSSL directly.
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  Connection c;
  c.client_ssl.reset(SSL_new(ctx.get()));
  SSL_set_connect_state(c.client_ssl.get());
  c.server_ssl = must(server->newSsl(c.server_check));
  EXPECT_EQ(serverRefusal(c), Failure::kNoPeerCertificate) << c.server_check.detail;
  EXPECT_EQ(failureName(c.server_check.failure), "no_client_certificate");
}

TEST_F(TlsContextTest, ClientFromAnotherCaIsUnknownCa) {
  Pki rogue = makePki("cluster.local");
  auto rogue_client = must(ClientContext::mesh(svid(rogue, "/ns/shop/sa/cart")));
  auto c = open(*server, *rogue_client);
  EXPECT_EQ(serverRefusal(*c), Failure::kUnknownCa) << c->server_check.detail;
}

TEST_F(TlsContextTest, ExpiredClientIsExpired) {
  auto old = must(ClientContext::mesh(
      svid(mesh, "/ns/shop/sa/cart", std::chrono::system_clock::now() - std::chrono::hours(3))));
  auto c = open(*server, *old);
  EXPECT_EQ(serverRefusal(*c), Failure::kExpired) << c->server_check.detail;
}

TEST_F(TlsContextTest, ServerOutsideAllowedIdsIsRefusedByTheClient) {
  auto ratings = must(spiffe::SpiffeId::parse("spiffe://cluster.local/ns/shop/sa/ratings"));
  auto c = open(*server, *client, "", allowingOnly(ratings));
  EXPECT_EQ(clientRefusal(*c), Failure::kIdNotAllowed) << c->client_check.detail;
  EXPECT_EQ(failureMetricReason(c->client_check.failure), "verify_san");
}

TEST_F(TlsContextTest, ServerInAnotherTrustDomainIsRefused) {
  auto elsewhere = must(spiffe::TrustDomain::parse("example.org"));
  auto c = open(*server, *client, "", inTrustDomain(elsewhere));
  EXPECT_EQ(clientRefusal(*c), Failure::kIdNotAllowed);
}

TEST_F(TlsContextTest, SecondConnectionResumesAndKeepsThePeerIdentity) {
  for (int i = 0; i < 2; ++i) {
    auto c = open(*server, *client, "reviews", sessionKey("reviews:9080"));
    ASSERT_TRUE(handshakes(*c));
    auto server_peer = serverPeer(*c);
    auto client_peer = clientPeer(*c);
    EXPECT_EQ(server_peer.resumed, i == 1);
    // A stateful ticket: a session ID, not the session (peer certificate included) encrypted.
    const unsigned char* ticket = nullptr;
    size_t ticket_length = 0;
    SSL_SESSION_get0_ticket(SSL_get_session(c->client_ssl.get()), &ticket, &ticket_length);
    EXPECT_EQ(ticket_length, 32u);
    EXPECT_EQ(client_peer.resumed, i == 1);
    ASSERT_TRUE(server_peer.id);
    EXPECT_EQ(server_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
    ASSERT_TRUE(client_peer.id);
    EXPECT_EQ(client_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
    closeCleanly(*c);
  }
}

// A resumed session skips the verification callback; the connection's own policy still applies
// to the identity the session carries.
TEST_F(TlsContextTest, ResumedSessionStillAnswersToTheConnectionsPolicy) {
  auto first = open(*server, *client, "reviews", sessionKey("reviews:9080"));
  ASSERT_TRUE(handshakes(*first));
  closeCleanly(*first);
  PeerCheck only_ratings = sessionKey("reviews:9080");
  only_ratings.allowed_ids = {must(spiffe::SpiffeId::parse("spiffe://cluster.local/ns/shop/sa/ratings"))};
  auto second = open(*server, *client, "reviews", only_ratings);
  ASSERT_TRUE(handshakes(*second));
  ASSERT_EQ(SSL_session_reused(second->client_ssl.get()), 1);
  EXPECT_FALSE(finishHandshake(second->client_ssl.get(), second->client_check, true));
  EXPECT_EQ(second->client_check.failure, Failure::kIdNotAllowed);
  EXPECT_NE(second->client_check.detail.find("spiffe://cluster.local/ns/shop/sa/reviews is not allowed"),
            std::string::npos)
      << second->client_check.detail;
}

// Mesh sessions are shared: connections opened together all resume the one session, and the
// server sends no new ticket on resumption.
TEST_F(TlsContextTest, ConcurrentConnectionsResumeOneSession) {
  const PeerCheck resuming = sessionKey("reviews:9080");
  {
    auto first = open(*server, *client, "reviews", resuming);
    ASSERT_TRUE(run(*first).server_ok);
    EXPECT_TRUE(first->client_check.session_kept);
    closeCleanly(*first);  // the session stays in the cache
  }
  auto a = open(*server, *client, "reviews", resuming);
  auto b = open(*server, *client, "reviews", resuming);
  ASSERT_EQ(SSL_get0_session(a->client_ssl.get()), SSL_get0_session(b->client_ssl.get()));
  for (auto* c : {a.get(), b.get()}) {
    ASSERT_TRUE(run(*c).server_ok);
    EXPECT_TRUE(serverPeer(*c).resumed);
    auto peer = clientPeer(*c);
    EXPECT_TRUE(peer.resumed);
    ASSERT_TRUE(peer.id);
    EXPECT_EQ(peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  }
  // Still resumable after both: a third connection resumes too.
  auto third = open(*server, *client, "reviews", resuming);
  ASSERT_TRUE(run(*third).server_ok);
  EXPECT_TRUE(serverPeer(*third).resumed);
}

// Proxies issued by the same intermediate send each other their leaves alone; a peer under
// another intermediate of the same root gets (and sends) the whole chain. All verify.
TEST_F(TlsContextTest, LeafAloneBetweenProxiesOfOneIntermediate) {
  ca::Authority cluster = intermediateOf(mesh, "cluster-1");
  ca::Authority other = intermediateOf(mesh, "cluster-2");
  auto server_ctx = must(ServerContext::create(svidFrom(cluster, mesh, "/ns/shop/sa/reviews")));
  struct Case {
    const ca::Authority* issuer;
    int server_sees_extra;  // certificates beyond the leaf the server received
    int client_sees;        // certificates the client received (leaf included)
  };
  // The last case: a client signed by the root itself, with no intermediate to name or send;
  // the server's own intermediates, added for leaf-only peers, must not get in its way.
  for (const Case& c : {Case{&cluster, 0, 1}, Case{&other, 1, 2}, Case{&mesh.root, 0, 2}}) {
    auto client_ctx = must(ClientContext::mesh(svidFrom(*c.issuer, mesh, "/ns/shop/sa/cart")));
    auto conn = open(*server_ctx, *client_ctx, "reviews", inTrustDomain(mesh.td));
    ASSERT_TRUE(handshakes(*conn));
    EXPECT_EQ(sk_X509_num(SSL_get_peer_cert_chain(conn->server_ssl.get())), c.server_sees_extra);
    EXPECT_EQ(sk_X509_num(SSL_get_peer_cert_chain(conn->client_ssl.get())), c.client_sees);
    auto server_peer = serverPeer(*conn);
    auto client_peer = clientPeer(*conn);
    ASSERT_TRUE(server_peer.id && client_peer.id);
    EXPECT_EQ(server_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
    EXPECT_EQ(client_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  }
}

TEST_F(TlsContextTest, WithoutResumptionEveryHandshakeIsFull) {
  auto full_server = must(ServerContext::create(server_creds, false));
  auto full_client = must(ClientContext::mesh(client_creds, false));
  for (int i = 0; i < 2; ++i) {
    auto c = open(*full_server, *full_client, "", sessionKey("k"));
    ASSERT_TRUE(run(*c).server_ok);
    EXPECT_FALSE(serverPeer(*c).resumed);
    closeCleanly(*c);
  }
}

// Full handshakes of a peer that comes back with the same chain: verified in full once, then
// found in the context's VerifiedPeers, on both sides, with the identity unchanged.
TEST_F(TlsContextTest, ReconnectingPeerSkipsTheChainVerification) {
  auto full_server = must(ServerContext::create(server_creds, false));
  auto full_client = must(ClientContext::mesh(client_creds, false));
  for (size_t i = 0; i < 3; ++i) {
    auto c = open(*full_server, *full_client);
    ASSERT_TRUE(handshakes(*c));
    EXPECT_EQ(full_server->verifiedPeers().hits(), i);
    EXPECT_EQ(full_client->verifiedPeers()->hits(), i);
    EXPECT_EQ(serverPeer(*c).id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
    EXPECT_EQ(clientPeer(*c).id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  }
  EXPECT_EQ(full_server->verifiedPeers().size(), 1u);
  // Another client is another chain: verified in full.
  auto ratings = must(ClientContext::mesh(svid(mesh, "/ns/shop/sa/ratings"), false));
  auto c = open(*full_server, *ratings);
  ASSERT_TRUE(handshakes(*c));
  EXPECT_EQ(serverPeer(*c).id->str(), "spiffe://cluster.local/ns/shop/sa/ratings");
  EXPECT_EQ(full_server->verifiedPeers().size(), 2u);
  EXPECT_EQ(full_server->verifiedPeers().hits(), 2u);
}

// The cache holds what the chain proves, not what one connection allowed: each connection's
// trust domain and allowed IDs still apply to a known chain.
TEST_F(TlsContextTest, KnownChainStillAnswersToEachConnectionsPolicy) {
  auto full_client = must(ClientContext::mesh(client_creds, false));
  auto reviews = must(spiffe::SpiffeId::parse("spiffe://cluster.local/ns/shop/sa/reviews"));
  auto ratings = must(spiffe::SpiffeId::parse("spiffe://cluster.local/ns/shop/sa/ratings"));
  auto allowed = open(*server, *full_client, "", allowingOnly(reviews));
  ASSERT_TRUE(handshakes(*allowed));
  auto refused = open(*server, *full_client, "", allowingOnly(ratings));
  EXPECT_EQ(clientRefusal(*refused), Failure::kIdNotAllowed) << refused->client_check.detail;
  auto elsewhere = open(*server, *full_client, "",
                        inTrustDomain(must(spiffe::TrustDomain::parse("example.org"))));
  EXPECT_EQ(clientRefusal(*elsewhere), Failure::kIdNotAllowed);
  EXPECT_EQ(full_client->verifiedPeers()->hits(), 2u);
}

TEST(VerifiedPeers, HitsOnlyInsideTheWindowAndStaysBounded) {
  const auto now = std::chrono::system_clock::now();
  const auto id = must(spiffe::SpiffeId::parse("spiffe://cluster.local/ns/a/sa/b"));
  VerifiedPeers peers(2);
  peers.remember("chain-1", id, now - std::chrono::hours(1), now + std::chrono::hours(1));
  ASSERT_TRUE(peers.find("chain-1", now));
  EXPECT_EQ(peers.find("chain-1", now)->str(), id.str());
  EXPECT_FALSE(peers.find("chain-2", now));
  EXPECT_FALSE(peers.find("chain-1", now - std::chrono::hours(2)));  // not yet valid: dropped
  EXPECT_FALSE(peers.find("chain-1", now));
  peers.remember("chain-1", id, now - std::chrono::hours(1), now + std::chrono::hours(1));
  EXPECT_FALSE(peers.find("chain-1", now + std::chrono::hours(1)));  // notAfter: verify in full
  for (const char* key : {"a", "b", "c", "d"}) {
    peers.remember(key, id, now - std::chrono::hours(1), now + std::chrono::hours(1));
  }
  EXPECT_EQ(peers.size(), 2u);
  EXPECT_TRUE(peers.find("d", now));
  EXPECT_EQ(peers.hits(), 3u);
}

// The key is the exact encoding: a certificate differing in one byte of its signature (which a
// digest-keyed cache could be fooled by, given a collision) is another key.
TEST_F(TlsContextTest, ChainKeyIsTheExactEncoding) {
  const auto& leaf = client_creds->leaf();
  std::string bytes = must(leaf.toDer());
  bytes.back() ^= 1;
  auto altered = must(crypto::Certificate::fromDer(bytes));
  EXPECT_NE(chainKey({leaf}), chainKey({altered}));
  EXPECT_EQ(chainKey({leaf}), chainKey({client_creds->leaf()}));
  auto issued_below = svidFrom(intermediateOf(mesh, "east"), mesh, "/ns/shop/sa/cart");
  ASSERT_EQ(issued_below->chain.size(), 2u);
  EXPECT_NE(chainKey({issued_below->leaf()}), chainKey(issued_below->chain));
}

// Every full handshake leaves a session in the server's cache (stateful tickets); clients that
// never resume cannot grow it past its size.
TEST_F(TlsContextTest, SessionCacheStaysWithinItsSize) {
  auto small = must(ServerContext::create(server_creds, true, 3));
  auto never_resuming = must(ClientContext::mesh(client_creds, false));
  for (int i = 0; i < 5; ++i) {
    auto c = open(*small, *never_resuming);
    ASSERT_TRUE(handshakes(*c));
    closeCleanly(*c);
    EXPECT_LE(small->cachedSessions(), 3u);
  }
  EXPECT_GE(small->cachedSessions(), 2u);  // OpenSSL evicts down to one below the size on a full add
}

TEST_F(TlsContextTest, NewContextAfterRotationDoesNotResumeOldSessions) {
  auto first = open(*server, *client, "", sessionKey("k"));
  ASSERT_TRUE(run(*first).server_ok);
  auto rotated = must(ServerContext::create(svid(mesh, "/ns/shop/sa/reviews")));
  auto second = open(*rotated, *client, "", sessionKey("k"));
  ASSERT_TRUE(run(*second).server_ok);
  EXPECT_FALSE(serverPeer(*second).resumed);
}

// A copy of the private key of `creds`: makeCredentials takes its key by value.
crypto::PrivateKey keyOf(const Credentials& creds) {
  return must(crypto::PrivateKey::fromPem(must(creds.key->toPkcs8Pem())));
}

TEST_F(TlsContextTest, MakeCredentialsRefusesMismatchedKeyAndForeignBundle) {
  Pki other = makePki("cluster.local");
  auto a = svid(mesh, "/ns/a/sa/a");
  auto b = svid(mesh, "/ns/b/sa/b");
  const auto now = std::chrono::system_clock::now();
  auto mismatched =
      makeCredentials(a->chain, keyOf(*b), bundleOf(mesh.td, mesh.root.cert), mesh.td, now, "test");
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().reason, "key_mismatch");

  auto untrusted = makeCredentials(a->chain, keyOf(*a), bundleOf(mesh.td, other.root.cert), mesh.td,
                                   now, "test");
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().reason, "unknown_ca");

  auto good = must(makeCredentials(a->chain, keyOf(*a), bundleOf(mesh.td, mesh.root.cert), mesh.td,
                                   now, "test"));
  EXPECT_EQ(good.id.str(), "spiffe://cluster.local/ns/a/sa/a");
  EXPECT_EQ(good.chain.size(), 1u);  // the root is never sent
}

TEST(ExternalClientContext, SubjectAltNameUriMustMatch) {
  Pki pki = makePki("example.org");
  auto server_creds = svid(pki, "/backend");
  auto server = must(ServerContext::create(server_creds));
  testing::TempDir dir;
  auto ca_path = dir.path() / "ca.pem";
  ASSERT_TRUE(writeFileAtomic(ca_path, must(pki.root.cert.toPem()), 0644).has_value());
  auto mine = svid(pki, "/client");
  auto cert_path = dir.path() / "client.pem";
  auto key_path = dir.path() / "client.key";
  ASSERT_TRUE(writeFileAtomic(cert_path, must(mine->leaf().toPem()), 0644).has_value());
  ASSERT_TRUE(writeFileAtomic(key_path, must(mine->key->toPkcs8Pem()), 0600).has_value());
  for (auto [san, ok] : {std::pair{"spiffe://example.org/backend", true},
                         std::pair{"spiffe://example.org/other", false}}) {
    ExternalTlsSettings settings;
    settings.mutual = true;
    settings.client_certificate = cert_path;
    settings.private_key = key_path;
    settings.ca_certificates = ca_path;
    settings.subject_alt_names = {san};
    auto client = must(ClientContext::external(settings));
    auto c = open(*server, *client, "backend.example.org");
    Handshake hs = run(*c);
    ASSERT_TRUE(hs.client_ok) << c->client_check.detail;
    EXPECT_EQ(finishHandshake(c->client_ssl.get(), c->client_check, false).has_value(), ok) << san;
  }
}

}  // namespace
}  // namespace mutual::tls
