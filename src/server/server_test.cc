#include "server/server.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/testing.h"
#include "base/time.h"
#include "ca/authority.h"
#include "crypto/csr.h"
#include "datastore/testing/postgres_server.h"
#include "mutual/v1/node.grpc.pb.h"
#include "server/admin_client.h"
#include "server/attestation.h"
#include "server/jwt.h"
#include "server/node_client.h"
#include "spiffe/bundle.h"
#include "spiffe/x509_svid.h"

// The server end to end on loopback: the Node API over TLS with the node client, the Admin API
// over its unix socket with the admin client, persistence across a restart, and two servers
// sharing one PostgreSQL database.

namespace mutual::server {
namespace {

namespace fs = std::filesystem;
using crypto::Certificate;
using crypto::KeyType;
using crypto::PrivateKey;
using mutual::testing::must;
using std::chrono::hours;
using std::chrono::seconds;

std::string serverConf(const std::string& datastore_type, const std::string& connection,
                       const std::string& socket) {
  return R"(server {
    bind_address = "127.0.0.1"
    bind_port = "0"
    socket_path = ")" +
         socket + R"("
    trust_domain = "example.org"
    data_dir = "./data"
    log_level = "WARN"
    ca_ttl = "24h"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = ")" +
         datastore_type + R"("
            connection_string = ")" +
         connection + R"("
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    NodeAttestor "x509pop" {
        plugin_data {
            ca_bundle_path = "./agent-ca.pem"
        }
    }
    KeyManager "disk" {
        plugin_data {
            keys_path = "./data/keys.json"
        }
    }
}
)";
}

struct Provisioning {
  ca::Authority ca;
  ca::Issued agent;
};

Provisioning provisioning() {
  RealClock clock;
  auto td = must(spiffe::TrustDomain::parse("fleet.example"));
  ca::Authority root = must(ca::createRoot({td, hours(24), KeyType::kEcP256, "fleet CA"}, clock));
  ca::CertificateRequest request;
  request.common_name = "node-1";
  request.ttl = hours(2);
  ca::Issued agent = must(ca::issueCertificate(root, request, clock));
  return {std::move(root), std::move(agent)};
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    prov_ = std::make_unique<Provisioning>(provisioning());
    must(writeFileAtomic(dir_.path() / "agent-ca.pem", must(prov_->ca.cert.toPem())));
  }

  // Starts a server in `dir` (its own data_dir) on a datastore.
  std::unique_ptr<Server> startIn(const fs::path& dir, const std::string& type = "sqlite3",
                                  std::string connection = "./data/datastore.sqlite3") {
    fs::create_directories(dir);
    if (dir != dir_.path())
      fs::copy_file(dir_.path() / "agent-ca.pem", dir / "agent-ca.pem",
                    fs::copy_options::overwrite_existing);
    const std::string text = serverConf(type, connection, (dir / "admin" / "api.sock").string());
    must(writeFileAtomic(dir / "server.conf", text));
    return must(Server::startFromFile((dir / "server.conf").string()));
  }

  std::unique_ptr<AdminClient> admin(const Server& server) {
    return must(AdminClient::connect(server.adminSocket()));
  }

  std::vector<Certificate> roots(AdminClient& admin) {
    std::vector<Certificate> out;
    for (const auto& der : must(admin.getBundle()).x509_authorities_der) {
      out.push_back(must(Certificate::fromDer(der)));
    }
    return out;
  }

  std::unique_ptr<NodeClient> client(const Server& server, AdminClient& admin,
                                     const AgentSvid* svid = nullptr,
                                     std::shared_ptr<const PrivateKey> key = nullptr) {
    NodeClientOptions options{.address = server.nodeAddress(),
                              .trust_domain = server.trustDomain(),
                              .trust_bundle = roots(admin)};
    if (svid != nullptr) {
      options.svid_chain = svid->chain;
      options.svid_key = std::move(key);
    }
    return must(NodeClient::connect(std::move(options)));
  }

  void verifySvid(const std::vector<Certificate>& chain, AdminClient& admin,
                  const std::string& want_id) {
    spiffe::BundleSet bundles;
    must(bundles.put(spiffe::X509Bundle{
        must(spiffe::TrustDomain::parse("example.org")), roots(admin), {}, {}, {}}));
    spiffe::SvidOptions options;
    options.at = std::chrono::system_clock::now();
    EXPECT_EQ(must(spiffe::verifyX509Svid(chain, bundles, options)).id.str(), want_id);
  }

  mutual::testing::TempDir dir_;
  std::unique_ptr<Provisioning> prov_;
};

TEST_F(ServerTest, JoinTokenAgentSyncsAndSignsWhatItMayServe) {
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  HealthInfo health = must(adm->healthcheck());
  EXPECT_TRUE(health.healthy);
  EXPECT_EQ(health.trust_domain, "example.org");

  JoinTokenInfo token = must(adm->createJoinToken(seconds(600), ""));
  const std::string agent_id = "spiffe://example.org/spire/agent/join_token/" + token.token;
  datastore::RegistrationEntry web;
  web.spiffe_id = "spiffe://example.org/web";
  web.parent_id = agent_id;
  web.selectors = {{"unix", "uid:1000"}};
  web.dns_names = {"web.local"};
  web = must(adm->createEntry(web));
  datastore::RegistrationEntry other = web;
  other.id.clear();
  other.spiffe_id = "spiffe://example.org/other";
  other.parent_id = "spiffe://example.org/spire/agent/join_token/someone-else";
  other = must(adm->createEntry(other));

  auto bootstrap = client(*server, *adm);
  auto agent_key = std::make_shared<const PrivateKey>(must(PrivateKey::generate(KeyType::kEcP256)));
  AgentSvid svid =
      must(bootstrap->attestJoinToken(token.token, must(crypto::createCsr(*agent_key))));
  EXPECT_EQ(svid.spiffe_id, agent_id);
  EXPECT_FALSE(svid.reattestable);
  verifySvid(svid.chain, *adm, agent_id);
  EXPECT_FALSE(svid.bundle.x509_authorities_der.empty());

  // Single use: the replay is refused, saying so.
  auto replay = bootstrap->attestJoinToken(token.token, must(crypto::createCsr(*agent_key)));
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, Code::kPermissionDenied);
  EXPECT_NE(replay.error().message.find("already used"), std::string::npos)
      << replay.error().message;
  // Calls that need an SVID without one: refused by the client before the wire.
  EXPECT_EQ(bootstrap->sync().error().code, Code::kFailedPrecondition);

  auto agent = client(*server, *adm, &svid, agent_key);
  SyncResult sync = must(agent->sync());
  ASSERT_EQ(sync.entries.size(), 1u);
  EXPECT_EQ(sync.entries[0].id, web.id);
  EXPECT_EQ(sync.bundle.trust_domain, "example.org");

  PrivateKey workload_key = must(PrivateKey::generate(KeyType::kEcP256));
  // The CSR asks for another ID: the server uses the entry's.
  const std::string csr = must(crypto::createCsr(workload_key, {"spiffe://example.org/admin"}));
  auto svids = must(agent->signX509({{web.id, csr}}));
  ASSERT_EQ(svids.size(), 1u);
  EXPECT_EQ(svids[0].spiffe_id, "spiffe://example.org/web");
  EXPECT_TRUE(svids[0].chain[0].matchesKey(workload_key));
  EXPECT_EQ(svids[0].chain[0].dnsSans(), std::vector<std::string>{"web.local"});
  verifySvid(svids[0].chain, *adm, "spiffe://example.org/web");

  auto denied = agent->signX509({{web.id, csr}, {other.id, csr}});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Code::kPermissionDenied);
  EXPECT_NE(denied.error().message.find(other.id), std::string::npos);

  JwtSvid jwt = must(agent->signJwt(web.id, {"db"}));
  EXPECT_EQ(jwt.spiffe_id, "spiffe://example.org/web");
  Bundles bundles = must(agent->fetchBundles());
  bool verified = false;
  for (const auto& key : bundles.bundle.jwt_authorities) {
    if (auto claims = verifyJwt(jwt.token, key.public_key_der)) {
      verified = true;
      EXPECT_EQ(claims->subject, "spiffe://example.org/web");
      EXPECT_EQ(claims->kid, key.key_id);
    }
  }
  EXPECT_TRUE(verified);

  // Renewal: the new SVID works and retires the old one once used.
  auto new_key = std::make_shared<const PrivateKey>(must(PrivateKey::generate(KeyType::kEcP256)));
  AgentSvid renewed = must(agent->renew(must(crypto::createCsr(*new_key))));
  EXPECT_EQ(renewed.spiffe_id, agent_id);
  auto agent2 = client(*server, *adm, &renewed, new_key);
  must(agent2->sync());
  auto stale = client(*server, *adm, &svid, agent_key)->sync();
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Code::kPermissionDenied);

  // Evicted: it must attest again.
  auto agents = must(adm->listAgents());
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0].node.attestation_type, "join_token");
  must(adm->evictAgent(agent_id));
  auto evicted = agent2->sync();
  ASSERT_FALSE(evicted);
  EXPECT_EQ(evicted.error().code, Code::kPermissionDenied);
  EXPECT_NE(evicted.error().message.find("not attested"), std::string::npos);
}

// The signing calls keep each agent's authorized entries for a moment (ControlPlane::
// signingAuthorization): an entry created after that is still signable at once, and one deleted
// through the admin API is refused at once.
TEST_F(ServerTest, SigningSeesEntryChangesAtOnce) {
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  JoinTokenInfo token = must(adm->createJoinToken(seconds(600), ""));
  const std::string agent_id = "spiffe://example.org/spire/agent/join_token/" + token.token;
  datastore::RegistrationEntry web;
  web.spiffe_id = "spiffe://example.org/web";
  web.parent_id = agent_id;
  web.selectors = {{"unix", "uid:1000"}};
  web = must(adm->createEntry(web));
  auto key = std::make_shared<const PrivateKey>(must(PrivateKey::generate(KeyType::kEcP256)));
  AgentSvid svid =
      must(client(*server, *adm)->attestJoinToken(token.token, must(crypto::createCsr(*key))));
  auto agent = client(*server, *adm, &svid, key);
  const std::string csr = must(crypto::createCsr(must(PrivateKey::generate(KeyType::kEcP256))));
  ASSERT_EQ(must(agent->signX509({{web.id, csr}})).size(), 1u);

  datastore::RegistrationEntry late = web;
  late.id.clear();
  late.spiffe_id = "spiffe://example.org/late";
  late = must(adm->createEntry(late));
  EXPECT_EQ(must(agent->signX509({{late.id, csr}}))[0].spiffe_id, "spiffe://example.org/late");
  EXPECT_FALSE(must(agent->signJwt(late.id, {"aud"})).token.empty());

  must(adm->deleteEntry(web.id));
  auto refused = agent->signX509({{web.id, csr}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kPermissionDenied);
  EXPECT_EQ(agent->signJwt(web.id, {"aud"}).error().code, Code::kPermissionDenied);
  EXPECT_EQ(must(agent->sync()).entries.size(), 1u);
}

TEST_F(ServerTest, X509PopAgentsProveTheirCertificate) {
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  auto bootstrap = client(*server, *adm);
  auto key = std::make_shared<const PrivateKey>(must(PrivateKey::generate(KeyType::kEcP256)));
  const std::string csr = must(crypto::createCsr(*key));

  PrivateKey wrong = must(PrivateKey::generate(KeyType::kEcP256));
  auto no_proof = bootstrap->attestX509Pop({prov_->agent.cert}, wrong, csr);
  ASSERT_FALSE(no_proof);
  EXPECT_EQ(no_proof.error().code, Code::kPermissionDenied);

  AgentSvid svid = must(bootstrap->attestX509Pop({prov_->agent.cert}, prov_->agent.key, csr));
  EXPECT_EQ(svid.spiffe_id,
            "spiffe://example.org/spire/agent/x509pop/" + sha1Hex(must(prov_->agent.cert.toDer())));
  EXPECT_TRUE(svid.reattestable);
  // Reattestation is allowed for x509pop.
  must(bootstrap->attestX509Pop({prov_->agent.cert}, prov_->agent.key, csr));

  // A node alias by selector: every agent with CN node-1 serves entries under it.
  datastore::RegistrationEntry alias;
  alias.spiffe_id = "spiffe://example.org/nodes/node-1";
  alias.parent_id = "spiffe://example.org/spire/server";
  alias.selectors = {{"x509pop", "subject:cn:node-1"}};
  alias = must(adm->createEntry(alias));
  datastore::RegistrationEntry db;
  db.spiffe_id = "spiffe://example.org/db";
  db.parent_id = alias.spiffe_id;
  db.selectors = {{"unix", "uid:70"}};
  db = must(adm->createEntry(db));
  auto agent = client(*server, *adm, &svid, key);
  // The reattestation above replaced the SVID: use the newest.
  AgentSvid latest = must(bootstrap->attestX509Pop({prov_->agent.cert}, prov_->agent.key, csr));
  agent = client(*server, *adm, &latest, key);
  SyncResult sync = must(agent->sync());
  EXPECT_EQ(sync.entries.size(), 2u);

  auto agents = must(adm->listAgents());
  ASSERT_EQ(agents.size(), 1u);
  bool has_cn = false;
  for (const auto& s : agents[0].selectors)
    has_cn = has_cn || s.str() == "x509pop:subject:cn:node-1";
  EXPECT_TRUE(has_cn);

  // Banned agents can neither call nor attest again.
  must(adm->banAgent(latest.spiffe_id));
  EXPECT_EQ(agent->sync().error().code, Code::kPermissionDenied);
  auto again = bootstrap->attestX509Pop({prov_->agent.cert}, prov_->agent.key, csr);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("banned"), std::string::npos);

  // k8s_psat is not configured here.
  auto psat = bootstrap->attestK8sPsat("token", csr);
  ASSERT_FALSE(psat);
  EXPECT_EQ(psat.error().code, Code::kPermissionDenied);
  EXPECT_NE(psat.error().message.find("not enabled"), std::string::npos);
}

// AttestAgent is a conversation (a reactor on the server): a client that stops before sending
// what the next step needs is refused with InvalidArgument, not left waiting.
TEST_F(ServerTest, AttestationConversationsThatStopEarlyAreRefused) {
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      must(crypto::toPem(roots(*adm)))));
  tls.watch_root_certs();
  tls.set_check_call_host(false);  // the server's SVID has a URI SAN only
  tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  auto stub = mutual::v1::Node::NewStub(
      grpc::CreateChannel(server->nodeAddress(), grpc::experimental::TlsCredentials(tls)));

  mutual::v1::AttestAgentRequest x509pop;
  auto* params = x509pop.mutable_params();
  params->set_attestation_type("x509pop");
  params->add_x509pop_chain(must(prov_->agent.cert.toDer()));
  params->set_csr(must(crypto::createCsr(must(PrivateKey::generate(KeyType::kEcP256)))));
  // Sends `first` (if any), then `second` after the challenge (if any), then half-closes.
  const auto converse = [&](const mutual::v1::AttestAgentRequest* first,
                            const mutual::v1::AttestAgentRequest* second) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    auto stream = stub->AttestAgent(&context);
    if (first != nullptr) {
      EXPECT_TRUE(stream->Write(*first));
      mutual::v1::AttestAgentResponse challenge;
      EXPECT_TRUE(stream->Read(&challenge));
      EXPECT_FALSE(challenge.challenge().empty());
      if (second != nullptr) {
        EXPECT_TRUE(stream->Write(*second));
      }
    }
    stream->WritesDone();
    mutual::v1::AttestAgentResponse rest;
    EXPECT_FALSE(stream->Read(&rest));
    return stream->Finish();
  };

  grpc::Status nothing = converse(nullptr, nullptr);
  EXPECT_EQ(nothing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(nothing.error_message().find("first message"), std::string::npos);
  grpc::Status no_answer = converse(&x509pop, nullptr);
  EXPECT_EQ(no_answer.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(no_answer.error_message().find("challenge response"), std::string::npos);
  grpc::Status wrong_answer = converse(&x509pop, &x509pop);
  EXPECT_EQ(wrong_answer.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(wrong_answer.error_message().find("challenge response"), std::string::npos);
  EXPECT_TRUE(must(adm->listAgents()).empty());
}

TEST_F(ServerTest, K8sPsatParsesButCannotAttestWithoutKubernetes) {
  std::string text = serverConf("sqlite3", "./data/datastore.sqlite3",
                                (dir_.path() / "admin" / "api.sock").string());
  text.replace(text.find("    KeyManager"), 0, R"(    NodeAttestor "k8s_psat" {
        plugin_data {
            clusters = {
                "prod" = {
                    service_account_allow_list = ["spire:spire-agent"]
                }
            }
        }
    }
)");
  auto conf = must(config::spire::parseServerConf(text, "server.conf"));
  auto server = must(Server::start(std::move(conf), dir_.path()));
  auto adm = admin(*server);
  auto key = must(PrivateKey::generate(KeyType::kEcP256));
  auto r = client(*server, *adm)->attestK8sPsat("eyJhbGciOi...", must(crypto::createCsr(key)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  EXPECT_NE(r.error().message.find("k8s_psat: no Kubernetes API reachable"), std::string::npos)
      << r.error().message;
}

TEST_F(ServerTest, RevokingAnAuthorityLocksOutWhatItSigned) {
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  JoinTokenInfo token = must(adm->createJoinToken(seconds(600), ""));
  auto key = std::make_shared<const PrivateKey>(must(PrivateKey::generate(KeyType::kEcP256)));
  AgentSvid svid =
      must(client(*server, *adm)->attestJoinToken(token.token, must(crypto::createCsr(*key))));
  const std::string first = must(adm->listAuthorities())[0].authority_id;
  must(adm->activateAuthority(must(adm->prepareAuthority(true)).authority_id));
  // Signed by an old authority, still trusted.
  must(client(*server, *adm, &svid, key)->sync());
  must(adm->taintAuthority(first));
  auto agent = client(*server, *adm, &svid, key);
  SyncResult sync = must(agent->sync());
  EXPECT_EQ(sync.tainted_authority_ids, std::vector<std::string>{first});
  must(adm->revokeAuthority(first));
  EXPECT_EQ(must(adm->getBundle()).x509_authorities_der.size(), 1u);
  // Until the server presents its certificate from the new root (it reloads its TLS files about
  // every second), a client trusting only that root fails on its own: wait for that first, so
  // that the refusal below is the server's.
  Result<Bundles> served = fail(Code::kUnavailable, "not tried");
  for (int i = 0; i < 50 && !served; ++i) {
    served = client(*server, *adm)->fetchBundles();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(served) << served.error().message;
  // The server refuses the revoked chain in its TLS handshake (the client sees the connection
  // closed after its certificate: "Socket closed") or, had that passed, in the call.
  auto refused = client(*server, *adm, &svid, key)->sync();
  ASSERT_FALSE(refused);
  if (refused.error().code == Code::kUnavailable) {
    EXPECT_NE(refused.error().message.find("Socket closed"), std::string::npos)
        << refused.error().message;
  } else {
    EXPECT_EQ(refused.error().code, Code::kUnauthenticated) << refused.error().message;
  }
}

TEST_F(ServerTest, ClientsWithTheWrongBundleAreToldWhy) {
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  auto other = must(ca::createRoot(
      {must(spiffe::TrustDomain::parse("example.org")), hours(1), KeyType::kEcP256, ""},
      RealClock()));
  auto client = must(NodeClient::connect({.address = server->nodeAddress(),
                                          .trust_domain = server->trustDomain(),
                                          .trust_bundle = {other.cert},
                                          .timeout = std::chrono::milliseconds(3000)}));
  auto r = client->fetchBundles();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find(server->nodeAddress()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("TLS failed: the server's certificate must chain to the trust "
                                   "bundle"),
            std::string::npos)
      << r.error().message;

  auto nobody = must(NodeClient::connect({.address = "127.0.0.1:1",
                                          .trust_domain = server->trustDomain(),
                                          .trust_bundle = roots(*adm),
                                          .timeout = std::chrono::milliseconds(2000)}));
  auto down = nobody->fetchBundles();
  ASSERT_FALSE(down);
  EXPECT_TRUE(down.error().code == Code::kUnavailable ||
              down.error().code == Code::kDeadlineExceeded)
      << down.error().message;
  EXPECT_NE(down.error().message.find("127.0.0.1:1"), std::string::npos);
}

TEST_F(ServerTest, AuthoritiesRotateOnCommandAndStateSurvivesARestart) {
  std::string entry_id;
  std::string active;
  {
    auto server = startIn(dir_.path());
    // A second server on the same data_dir is refused before it touches anything: the first
    // keeps its admin socket.
    auto second = Server::startFromFile((dir_.path() / "server.conf").string());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Code::kAlreadyExists);
    EXPECT_NE(second.error().message.find("another mutual server is running with data_dir " +
                                          server->dataDir().string()),
              std::string::npos)
        << second.error().message;
    EXPECT_NE(second.error().message.find("(pid " + std::to_string(::getpid()) + ")"),
              std::string::npos)
        << second.error().message;
    auto adm = admin(*server);
    auto authorities = must(adm->listAuthorities());
    ASSERT_EQ(authorities.size(), 1u);
    EXPECT_EQ(authorities[0].status, AuthorityStatus::kActive);
    ASSERT_TRUE(authorities[0].prepare_at);
    AuthorityInfo prepared = must(adm->prepareAuthority(false));
    AuthorityInfo activated = must(adm->activateAuthority(prepared.authority_id));
    EXPECT_EQ(activated.status, AuthorityStatus::kActive);
    active = activated.authority_id;
    auto bad = adm->revokeAuthority(authorities[0].authority_id);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Code::kFailedPrecondition);
    EXPECT_NE(bad.error().message.find("not tainted"), std::string::npos);

    datastore::RegistrationEntry e;
    e.spiffe_id = "spiffe://example.org/persisted";
    e.parent_id = "spiffe://example.org/spire/server";
    e.selectors = {{"unix", "uid:1"}};
    entry_id = must(adm->createEntry(e)).id;
    // The server keeps serving TLS after the rotation (the server SVID follows the CA).
    auto c = client(*server, *adm);
    must(c->fetchBundles());
    server->shutdown();
    EXPECT_FALSE(fs::exists(server->adminSocket()));
  }
  auto server = startIn(dir_.path());
  auto adm = admin(*server);
  auto entries = must(adm->listEntries({.entry_id = entry_id}));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].spiffe_id, "spiffe://example.org/persisted");
  auto authorities = must(adm->listAuthorities());
  EXPECT_EQ(authorities[0].authority_id, active);
  EXPECT_EQ(authorities[0].status, AuthorityStatus::kActive);
}

TEST_F(ServerTest, TwoServersShareOnePostgresDatabase) {
  auto pg = datastore::testing::PostgresServer::start();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server binaries: " << pg.error().message;
  const std::string connection = must((*pg)->createDatabase("mutual_server_test"));
  auto first = startIn(dir_.path() / "one", "postgres", connection);
  auto second = startIn(dir_.path() / "two", "postgres", connection);
  auto a1 = admin(*first);
  auto a2 = admin(*second);
  datastore::RegistrationEntry e;
  e.spiffe_id = "spiffe://example.org/shared";
  e.parent_id = "spiffe://example.org/spire/server";
  e.selectors = {{"unix", "uid:5"}};
  const std::string id = must(a1->createEntry(e)).id;
  EXPECT_EQ(must(a2->listEntries({.entry_id = id})).size(), 1u);
  // Both servers' roots are in the one bundle: agents trust either.
  EXPECT_EQ(must(a2->getBundle()).x509_authorities_der.size(), 2u);

  // A token generated on one server is consumed on the other, once.
  JoinTokenInfo token = must(a1->createJoinToken(seconds(60), ""));
  auto key = must(PrivateKey::generate(KeyType::kEcP256));
  must(client(*second, *a2)->attestJoinToken(token.token, must(crypto::createCsr(key))));
  auto replay = client(*first, *a1)->attestJoinToken(token.token, must(crypto::createCsr(key)));
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, Code::kPermissionDenied);
}

// A port free on 127.0.0.1 now: the server is started from a server.conf that names it.
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// PostgreSQL's errors quote host names: /ready must still answer valid JSON, and the admin
// client must say the server answered (not ready, and why), not that its socket is silent.
TEST_F(ServerTest, ADatastoreThatIsDownIsReportedAsNotReady) {
  auto pg = datastore::testing::PostgresServer::start();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server binaries: " << pg.error().message;
  const std::string connection = must((*pg)->createSchema("ready_test"));
  const int health_port = freePort();
  const fs::path dir = dir_.path() / "pg";
  fs::create_directories(dir);
  fs::copy_file(dir_.path() / "agent-ca.pem", dir / "agent-ca.pem");
  must(writeFileAtomic(dir / "server.conf",
                       serverConf("postgres", connection, (dir / "api.sock").string()) +
                           "health_checks {\n    listener_enabled = true\n"
                           "    bind_address = \"127.0.0.1\"\n    bind_port = \"" +
                           std::to_string(health_port) + "\"\n}\n"));
  auto server = must(Server::startFromFile((dir / "server.conf").string()));
  httplib::Client http("127.0.0.1", health_port);
  auto ready = http.Get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_TRUE(nlohmann::json::parse(ready->body)["ready"].get<bool>());

  must((*pg)->stop());
  auto down = http.Get("/ready");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503);
  auto body = nlohmann::json::parse(down->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << down->body;
  EXPECT_FALSE(body["ready"].get<bool>());
  EXPECT_NE(body["reason"].get<std::string>().find("datastore"), std::string::npos) << down->body;

  auto listed = admin(*server)->listEntries({});
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Code::kUnavailable);
  EXPECT_NE(listed.error().message.find("answered that it is not ready"), std::string::npos)
      << listed.error().message;
  EXPECT_EQ(listed.error().message.find("does not answer"), std::string::npos)
      << listed.error().message;
}

}  // namespace
}  // namespace mutual::server
