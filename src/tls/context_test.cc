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
    if (!client_done) {
      int rc = SSL_do_handshake(client);
      if (rc == 1) {
        client_done = result.client_ok = true;
      } else {
        int error = SSL_get_error(client, rc);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
          client_done = true;
          result.client_error = error;
        }
      }
    }
    if (!server_done) {
      int rc = SSL_do_handshake(server);
      if (rc == 1) {
        server_done = result.server_ok = true;
      } else {
        int error = SSL_get_error(server, rc);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
          server_done = true;
          result.server_error = error;
        }
      }
    }
  }
  // TLS 1.3: the server's verdict on the client certificate (and the session ticket) reach
  // the client with the first read.
  char byte;
  SSL_read(client, &byte, 1);
  keepNewSession(client);  // as the proxy's reads do
  return result;
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
  PeerCheck server_check, client_check;
  client_check.trust_domain = mesh.td;
  auto server_ssl = must(server->newSsl(server_check));
  auto client_ssl = must(client->newSsl(client_check, "outbound_.9080_._.reviews.shop.svc.cluster.local"));
  auto hs = run(client_ssl.get(), server_ssl.get());
  ASSERT_TRUE(hs.client_ok && hs.server_ok) << server_check.detail << client_check.detail;
  auto server_peer = must(finishHandshake(server_ssl.get(), server_check, true));
  auto client_peer = must(finishHandshake(client_ssl.get(), client_check, true));
  ASSERT_TRUE(server_peer.id);
  EXPECT_EQ(server_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
  EXPECT_EQ(client_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  EXPECT_EQ(server_peer.alpn, "istio-peer-exchange");
  EXPECT_EQ(server_peer.sni, "outbound_.9080_._.reviews.shop.svc.cluster.local");
  EXPECT_EQ(server_peer.version, "TLSv1.3");
  EXPECT_FALSE(server_peer.serial_hex.empty());
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
    PeerCheck server_check, client_check;
    auto server_ssl = must(server->newSsl(server_check));
    auto client_ssl = must(client->newSsl(client_check, ""));
    std::string wire;
    for (auto protocol : c.offered) {
      wire.push_back(static_cast<char>(protocol.size()));
      wire.append(protocol);
    }
    ASSERT_EQ(SSL_set_alpn_protos(client_ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                  static_cast<unsigned>(wire.size())),
              0);
    auto hs = run(client_ssl.get(), server_ssl.get());
    ASSERT_TRUE(hs.client_ok && hs.server_ok) << server_check.detail << client_check.detail;
    auto peer = must(finishHandshake(server_ssl.get(), server_check, true));
    EXPECT_EQ(peer.alpn, c.selected) << "offered " << c.offered.front() << ",...";
  }
}

TEST_F(TlsContextTest, ClientWithoutCertificateIsRefused) {
  // A client without a certificate: a mesh context always has one, so use OpenSSL directly.
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SslPtr client_ssl(SSL_new(ctx.get()));
  SSL_set_connect_state(client_ssl.get());
  PeerCheck server_check;
  auto server_ssl = must(server->newSsl(server_check));
  auto hs = run(client_ssl.get(), server_ssl.get());
  EXPECT_FALSE(hs.server_ok);
  recordHandshakeFailure(server_ssl.get(), hs.server_error, server_check);
  EXPECT_EQ(server_check.failure, Failure::kNoPeerCertificate) << server_check.detail;
  EXPECT_EQ(failureName(server_check.failure), "no_client_certificate");
}

TEST_F(TlsContextTest, ClientFromAnotherCaIsUnknownCa) {
  Pki rogue = makePki("cluster.local");
  auto rogue_client = must(ClientContext::mesh(svid(rogue, "/ns/shop/sa/cart")));
  PeerCheck server_check, client_check;
  auto server_ssl = must(server->newSsl(server_check));
  auto client_ssl = must(rogue_client->newSsl(client_check, ""));
  auto hs = run(client_ssl.get(), server_ssl.get());
  EXPECT_FALSE(hs.server_ok);
  recordHandshakeFailure(server_ssl.get(), hs.server_error, server_check);
  EXPECT_EQ(server_check.failure, Failure::kUnknownCa) << server_check.detail;
}

TEST_F(TlsContextTest, ExpiredClientIsExpired) {
  auto old = must(ClientContext::mesh(
      svid(mesh, "/ns/shop/sa/cart", std::chrono::system_clock::now() - std::chrono::hours(3))));
  PeerCheck server_check, client_check;
  auto server_ssl = must(server->newSsl(server_check));
  auto client_ssl = must(old->newSsl(client_check, ""));
  auto hs = run(client_ssl.get(), server_ssl.get());
  EXPECT_FALSE(hs.server_ok);
  recordHandshakeFailure(server_ssl.get(), hs.server_error, server_check);
  EXPECT_EQ(server_check.failure, Failure::kExpired) << server_check.detail;
}

TEST_F(TlsContextTest, ServerOutsideAllowedIdsIsRefusedByTheClient) {
  PeerCheck server_check, client_check;
  client_check.allowed_ids = {must(spiffe::SpiffeId::parse("spiffe://cluster.local/ns/shop/sa/ratings"))};
  auto server_ssl = must(server->newSsl(server_check));
  auto client_ssl = must(client->newSsl(client_check, ""));
  auto hs = run(client_ssl.get(), server_ssl.get());
  EXPECT_FALSE(hs.client_ok);
  recordHandshakeFailure(client_ssl.get(), hs.client_error, client_check);
  EXPECT_EQ(client_check.failure, Failure::kIdNotAllowed) << client_check.detail;
  EXPECT_EQ(failureMetricReason(client_check.failure), "verify_san");
}

TEST_F(TlsContextTest, ServerInAnotherTrustDomainIsRefused) {
  PeerCheck server_check, client_check;
  client_check.trust_domain = must(spiffe::TrustDomain::parse("example.org"));
  auto server_ssl = must(server->newSsl(server_check));
  auto client_ssl = must(client->newSsl(client_check, ""));
  auto hs = run(client_ssl.get(), server_ssl.get());
  EXPECT_FALSE(hs.client_ok);
  recordHandshakeFailure(client_ssl.get(), hs.client_error, client_check);
  EXPECT_EQ(client_check.failure, Failure::kIdNotAllowed);
}

TEST_F(TlsContextTest, SecondConnectionResumesAndKeepsThePeerIdentity) {
  for (int i = 0; i < 2; ++i) {
    PeerCheck server_check, client_check;
    client_check.session_key = "reviews:9080";
    auto server_ssl = must(server->newSsl(server_check));
    auto client_ssl = must(client->newSsl(client_check, "reviews"));
    auto hs = run(client_ssl.get(), server_ssl.get());
    ASSERT_TRUE(hs.client_ok && hs.server_ok);
    auto server_peer = must(finishHandshake(server_ssl.get(), server_check, true));
    auto client_peer = must(finishHandshake(client_ssl.get(), client_check, true));
    EXPECT_EQ(server_peer.resumed, i == 1);
    EXPECT_EQ(client_peer.resumed, i == 1);
    ASSERT_TRUE(server_peer.id);
    EXPECT_EQ(server_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
    ASSERT_TRUE(client_peer.id);
    EXPECT_EQ(client_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
    SSL_shutdown(client_ssl.get());  // a clean close keeps the session resumable
    SSL_shutdown(server_ssl.get());
  }
}

// A client and a server SSL of one connection, with the checks they point to.
struct Connection {
  PeerCheck server_check, client_check;
  SslPtr server_ssl, client_ssl;
};

std::unique_ptr<Connection> open(const ServerContext& server, const ClientContext& client,
                                 const std::string& session_key) {
  auto c = std::make_unique<Connection>();
  c->client_check.session_key = session_key;
  c->server_ssl = must(server.newSsl(c->server_check));
  c->client_ssl = must(client.newSsl(c->client_check, "reviews"));
  return c;
}

// Mesh sessions are shared: connections opened together all resume the one session, and the
// server sends no new ticket on resumption.
TEST_F(TlsContextTest, ConcurrentConnectionsResumeOneSession) {
  {
    auto first = open(*server, *client, "reviews:9080");
    ASSERT_TRUE(run(first->client_ssl.get(), first->server_ssl.get()).server_ok);
    EXPECT_TRUE(first->client_check.session_kept);
    SSL_shutdown(first->client_ssl.get());  // a clean close keeps the session in the cache
    SSL_shutdown(first->server_ssl.get());
  }
  auto a = open(*server, *client, "reviews:9080");
  auto b = open(*server, *client, "reviews:9080");
  ASSERT_EQ(SSL_get0_session(a->client_ssl.get()), SSL_get0_session(b->client_ssl.get()));
  for (auto* c : {a.get(), b.get()}) {
    ASSERT_TRUE(run(c->client_ssl.get(), c->server_ssl.get()).server_ok);
    EXPECT_TRUE(must(finishHandshake(c->server_ssl.get(), c->server_check, true)).resumed);
    auto peer = must(finishHandshake(c->client_ssl.get(), c->client_check, true));
    EXPECT_TRUE(peer.resumed);
    ASSERT_TRUE(peer.id);
    EXPECT_EQ(peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  }
  // Still resumable after both: a third connection resumes too.
  auto third = open(*server, *client, "reviews:9080");
  ASSERT_TRUE(run(third->client_ssl.get(), third->server_ssl.get()).server_ok);
  EXPECT_TRUE(must(finishHandshake(third->server_ssl.get(), third->server_check, true)).resumed);
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
    PeerCheck server_check, client_check;
    client_check.trust_domain = mesh.td;
    auto server_ssl = must(server_ctx->newSsl(server_check));
    auto client_ssl = must(client_ctx->newSsl(client_check, "reviews"));
    auto hs = run(client_ssl.get(), server_ssl.get());
    ASSERT_TRUE(hs.client_ok && hs.server_ok) << server_check.detail << client_check.detail;
    EXPECT_EQ(sk_X509_num(SSL_get_peer_cert_chain(server_ssl.get())), c.server_sees_extra);
    EXPECT_EQ(sk_X509_num(SSL_get_peer_cert_chain(client_ssl.get())), c.client_sees);
    auto server_peer = must(finishHandshake(server_ssl.get(), server_check, true));
    auto client_peer = must(finishHandshake(client_ssl.get(), client_check, true));
    ASSERT_TRUE(server_peer.id && client_peer.id);
    EXPECT_EQ(server_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/cart");
    EXPECT_EQ(client_peer.id->str(), "spiffe://cluster.local/ns/shop/sa/reviews");
  }
}

TEST_F(TlsContextTest, WithoutResumptionEveryHandshakeIsFull) {
  auto full_server = must(ServerContext::create(server_creds, false));
  auto full_client = must(ClientContext::mesh(client_creds, false));
  for (int i = 0; i < 2; ++i) {
    PeerCheck server_check, client_check;
    client_check.session_key = "k";
    auto server_ssl = must(full_server->newSsl(server_check));
    auto client_ssl = must(full_client->newSsl(client_check, ""));
    ASSERT_TRUE(run(client_ssl.get(), server_ssl.get()).server_ok);
    EXPECT_FALSE(must(finishHandshake(server_ssl.get(), server_check, true)).resumed);
    SSL_shutdown(client_ssl.get());
    SSL_shutdown(server_ssl.get());
  }
}

TEST_F(TlsContextTest, NewContextAfterRotationDoesNotResumeOldSessions) {
  PeerCheck first_server, first_client;
  first_client.session_key = "k";
  auto s1 = must(server->newSsl(first_server));
  auto c1 = must(client->newSsl(first_client, ""));
  ASSERT_TRUE(run(c1.get(), s1.get()).server_ok);
  auto rotated = must(ServerContext::create(svid(mesh, "/ns/shop/sa/reviews")));
  PeerCheck server_check, client_check;
  client_check.session_key = "k";
  auto s2 = must(rotated->newSsl(server_check));
  auto c2 = must(client->newSsl(client_check, ""));
  ASSERT_TRUE(run(c2.get(), s2.get()).server_ok);
  EXPECT_FALSE(must(finishHandshake(s2.get(), server_check, true)).resumed);
}

TEST_F(TlsContextTest, MakeCredentialsRefusesMismatchedKeyAndForeignBundle) {
  Pki other = makePki("cluster.local");
  auto a = svid(mesh, "/ns/a/sa/a");
  auto b = svid(mesh, "/ns/b/sa/b");
  auto key_b = must(crypto::PrivateKey::fromPem(must(b->key->toPkcs8Pem())));
  auto mismatched = makeCredentials(a->chain, std::move(key_b), bundleOf(mesh.td, mesh.root.cert), mesh.td,
                                    std::chrono::system_clock::now(), "test");
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().reason, "key_mismatch");

  auto key_a = must(crypto::PrivateKey::fromPem(must(a->key->toPkcs8Pem())));
  auto untrusted = makeCredentials(a->chain, std::move(key_a), bundleOf(mesh.td, other.root.cert), mesh.td,
                                   std::chrono::system_clock::now(), "test");
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().reason, "unknown_ca");

  auto key_ok = must(crypto::PrivateKey::fromPem(must(a->key->toPkcs8Pem())));
  auto good = must(makeCredentials(a->chain, std::move(key_ok), bundleOf(mesh.td, mesh.root.cert), mesh.td,
                                   std::chrono::system_clock::now(), "test"));
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
    PeerCheck server_check, client_check;
    auto server_ssl = must(server->newSsl(server_check));
    auto client_ssl = must(client->newSsl(client_check, "backend.example.org"));
    auto hs = run(client_ssl.get(), server_ssl.get());
    ASSERT_TRUE(hs.client_ok) << client_check.detail;
    EXPECT_EQ(finishHandshake(client_ssl.get(), client_check, false).has_value(), ok) << san;
  }
}

}  // namespace
}  // namespace mutual::tls
