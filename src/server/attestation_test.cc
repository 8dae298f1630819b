#include "server/attestation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/file.h"
#include "base/testing.h"
#include "base/time.h"
#include "ca/authority.h"
#include "crypto/cert_builder.h"
#include "crypto/csr.h"
#include "server/svid_signer.h"

// Node attestation (join tokens: single use, expiry; x509pop: chain and proof of possession),
// agent authentication on later calls, and which entries an agent may serve.

namespace mutual::server {
namespace {

using crypto::Certificate;
using crypto::KeyType;
using crypto::PrivateKey;
using mutual::testing::must;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const TimePoint kNow = fromUnix(1'780'000'000);

class AttestationTest : public ::testing::Test {
 protected:
  AttestationTest() {
    store_ = must(datastore::openDataStore("sqlite3", (dir_.path() / "ds.sqlite3").string()));
  }
  spiffe::TrustDomain td_ = must(spiffe::TrustDomain::parse("example.org"));
  mutual::testing::TempDir dir_;
  std::unique_ptr<datastore::DataStore> store_;
};

TEST_F(AttestationTest, JoinTokensAreSingleUse) {
  must(store_->createJoinToken({"7e1b0a52-token", toUnix(kNow + minutes(10))}));
  AttestedAgent agent = must(attestJoinToken(*store_, td_, "7e1b0a52-token", kNow));
  EXPECT_EQ(agent.id.str(), "spiffe://example.org/spire/agent/join_token/7e1b0a52-token");
  EXPECT_EQ(agent.attestation_type, "join_token");
  EXPECT_FALSE(agent.reattestable);
  // The server records the node; a replay is refused naming the agent that used it.
  must(store_->createAttestedNode({agent.id.str(), "join_token", "01", 0, "", 0, false}));
  auto replay = attestJoinToken(*store_, td_, "7e1b0a52-token", kNow);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, Code::kPermissionDenied);
  EXPECT_EQ(replay.error().reason, "token_used");
  EXPECT_NE(replay.error().message.find("already used"), std::string::npos);
}

TEST_F(AttestationTest, JoinTokensExpire) {
  must(store_->createJoinToken({"old", toUnix(kNow - seconds(1))}));
  auto expired = attestJoinToken(*store_, td_, "old", kNow);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, Code::kPermissionDenied);
  EXPECT_EQ(expired.error().reason, "token_expired");
  // Expired tokens are consumed all the same.
  EXPECT_EQ(attestJoinToken(*store_, td_, "old", kNow).error().reason, "token_unknown");
  // Valid up to and including its expiry second.
  must(store_->createJoinToken({"edge", toUnix(kNow)}));
  must(attestJoinToken(*store_, td_, "edge", kNow));
  EXPECT_EQ(attestJoinToken(*store_, td_, "never", kNow).error().reason, "token_unknown");
  EXPECT_EQ(attestJoinToken(*store_, td_, "", kNow).error().code, Code::kInvalidArgument);
  EXPECT_EQ(attestJoinToken(*store_, td_, "a/b", kNow).error().code, Code::kInvalidArgument);
}

struct Provisioning {
  ca::Authority ca;
  ca::Issued agent;
};

Provisioning provisioning(const char* cn, TimePoint at = kNow - hours(1)) {
  FakeClock clock(at);
  auto td = must(spiffe::TrustDomain::parse("provisioning.example"));
  ca::Authority root =
      must(ca::createRoot({td, hours(87600), KeyType::kEcP256, "fleet CA"}, clock));
  ca::CertificateRequest request;
  request.common_name = cn;
  request.ttl = hours(24);
  request.usages.server_auth = false;
  ca::Issued agent = must(ca::issueCertificate(root, request, clock));
  return {std::move(root), std::move(agent)};
}

// A fleet CA as `openssl req -x509` makes it: no keyUsage. SPIRE (Go's x509.Verify) accepts
// it, so x509pop does too; SVID chains keep the strict profile.
TEST_F(AttestationTest, X509PopAcceptsAFleetCaWithoutKeyUsage) {
  // Valid around kNow.
  auto spec = [](const char* cn) {
    crypto::CertSpec s;
    s.common_name = cn;
    s.serial = must(crypto::randomSerial());
    s.not_before = kNow - hours(1);
    s.not_after = kNow + hours(24);
    return s;
  };
  const auto ca_key = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  crypto::CertSpec ca_spec = spec("fleet CA");
  ca_spec.is_ca = true;  // and no key_usage: no extension
  const auto ca_cert = must(crypto::signCertificate(ca_spec, ca_key.get(), nullptr, ca_key));
  const auto leaf_key = must(crypto::PrivateKey::generate(crypto::KeyType::kEcP256));
  crypto::CertSpec leaf_spec = spec("node-7");
  leaf_spec.key_usage = crypto::kDigitalSignature;
  leaf_spec.client_auth = true;
  const auto leaf = must(crypto::signCertificate(leaf_spec, leaf_key.get(), &ca_cert, ca_key));

  must(writeFileAtomic(dir_.path() / "fleet.pem", must(ca_cert.toPem())));
  auto attestor = must(X509PopAttestor::load(dir_.path() / "fleet.pem", td_));
  auto challenge = must(attestor.begin({must(leaf.toDer())}, kNow));
  const std::string response = must(signX509PopChallenge(leaf_key, challenge.nonce));
  AttestedAgent agent = must(attestor.finish(challenge, response));
  EXPECT_NE(agent.id.str().find("/spire/agent/x509pop/"), std::string::npos) << agent.id.str();
}

TEST_F(AttestationTest, X509PopProvesPossessionOfATrustedCertificate) {
  Provisioning p = provisioning("node-1");
  must(writeFileAtomic(dir_.path() / "agent-ca.pem", must(p.ca.cert.toPem())));
  auto attestor = must(X509PopAttestor::load(dir_.path() / "agent-ca.pem", td_));
  const std::string leaf_der = must(p.agent.cert.toDer());

  auto challenge = must(attestor.begin({leaf_der}, kNow));
  EXPECT_EQ(challenge.nonce.size(), 32u);
  const std::string response = must(signX509PopChallenge(p.agent.key, challenge.nonce));
  AttestedAgent agent = must(attestor.finish(challenge, response));
  EXPECT_EQ(agent.id.str(), "spiffe://example.org/spire/agent/x509pop/" + sha1Hex(leaf_der));
  EXPECT_EQ(sha1Hex(leaf_der).size(), 40u);
  EXPECT_TRUE(agent.reattestable);
  const auto has = [&agent](const std::string& value) {
    return std::find(agent.selectors.begin(), agent.selectors.end(),
                     datastore::Selector{"x509pop", value}) != agent.selectors.end();
  };
  EXPECT_TRUE(has("subject:cn:node-1"));
  EXPECT_TRUE(has("serialnumber:" + p.agent.cert.serialHex()));
  EXPECT_TRUE(has("ca:fingerprint:" + sha1Hex(must(p.ca.cert.toDer()))));

  // Another key, or the right key over another challenge: no proof of possession.
  PrivateKey other = must(PrivateKey::generate(KeyType::kEcP256));
  auto wrong_key = attestor.finish(challenge, must(signX509PopChallenge(other, challenge.nonce)));
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().code, Code::kPermissionDenied);
  EXPECT_EQ(wrong_key.error().reason, "bad_challenge_response");
  auto second = must(attestor.begin({leaf_der}, kNow));
  EXPECT_NE(second.nonce, challenge.nonce);
  auto replayed = attestor.finish(second, response);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().reason, "bad_challenge_response");
}

TEST_F(AttestationTest, X509PopRefusesUntrustedAndExpiredCertificates) {
  Provisioning p = provisioning("node-1");
  Provisioning stranger = provisioning("node-2");
  must(writeFileAtomic(dir_.path() / "agent-ca.pem", must(p.ca.cert.toPem())));
  auto attestor = must(X509PopAttestor::load(dir_.path() / "agent-ca.pem", td_));
  auto untrusted = attestor.begin({must(stranger.agent.cert.toDer())}, kNow);
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code, Code::kPermissionDenied);
  EXPECT_EQ(untrusted.error().reason, "unknown_ca");
  auto expired = attestor.begin({must(p.agent.cert.toDer())}, kNow + hours(48));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().reason, "expired");
  EXPECT_EQ(attestor.begin({"garbage"}, kNow).error().code, Code::kInvalidArgument);
  EXPECT_EQ(attestor.begin({}, kNow).error().code, Code::kInvalidArgument);
  auto missing = X509PopAttestor::load(dir_.path() / "nope.pem", td_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope.pem"), std::string::npos);
}

// An agent SVID signed by a test CA, and the node record the Node service would keep.
class AgentAuthTest : public AttestationTest {
 protected:
  AgentAuthTest() {
    FakeClock clock(kNow - hours(1));
    root_ = std::make_unique<ca::Authority>(
        must(ca::createRoot({td_, hours(87600), KeyType::kEcP256, ""}, clock)));
    ca::Issued intermediate = must(ca::createIntermediate(*root_, {}, clock));
    ca_ = must(makeSigningCa({intermediate.cert},
                             std::make_shared<const PrivateKey>(std::move(intermediate.key))));
    must(bundles_.put(spiffe::X509Bundle{td_, {root_->cert}, {}, {}, {}}));
  }

  std::vector<Certificate> agentSvid(const std::string& id) {
    PrivateKey key = must(PrivateKey::generate(KeyType::kEcP256));
    SignedSvid svid = must(
        signX509Svid(*ca_, {must(crypto::createCsr(key)), id, {}, seconds(0)}, kNow, hours(1)));
    return {must(Certificate::fromDer(svid.cert_der)), ca_->chain.front()};
  }

  std::unique_ptr<ca::Authority> root_;
  std::shared_ptr<const SigningCa> ca_;
  spiffe::BundleSet bundles_;
};

TEST_F(AgentAuthTest, AcceptsAttestedAgentsOnly) {
  const std::string id = "spiffe://example.org/spire/agent/join_token/t1";
  auto chain = agentSvid(id);
  auto unknown = authenticateAgent(*store_, bundles_, td_, chain, kNow);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Code::kPermissionDenied);
  EXPECT_EQ(unknown.error().reason, "agent_not_attested");

  must(store_->createAttestedNode({id, "join_token", chain[0].serialHex(), 0, "", 0, false}));
  AuthenticatedAgent agent = must(authenticateAgent(*store_, bundles_, td_, chain, kNow));
  EXPECT_EQ(agent.id.str(), id);

  // Renewed: the new SVID is accepted and becomes current; the old one is then refused.
  auto renewed = agentSvid(id);
  datastore::AttestedNode node = must(store_->fetchAttestedNode(id));
  node.new_cert_serial = renewed[0].serialHex();
  must(store_->updateAttestedNode(node));
  must(authenticateAgent(*store_, bundles_, td_, chain, kNow));  // old still fine until used
  must(authenticateAgent(*store_, bundles_, td_, renewed, kNow));
  EXPECT_EQ(must(store_->fetchAttestedNode(id)).cert_serial, renewed[0].serialHex());
  EXPECT_EQ(authenticateAgent(*store_, bundles_, td_, chain, kNow).error().reason,
            "agent_svid_superseded");

  // Banned: no serials.
  node = must(store_->fetchAttestedNode(id));
  node.cert_serial.clear();
  node.new_cert_serial.clear();
  must(store_->updateAttestedNode(node));
  EXPECT_EQ(authenticateAgent(*store_, bundles_, td_, renewed, kNow).error().reason,
            "agent_banned");
}

TEST_F(AgentAuthTest, RefusesNonAgentsAndBadCertificates) {
  EXPECT_EQ(authenticateAgent(*store_, bundles_, td_, {}, kNow).error().code,
            Code::kUnauthenticated);
  auto workload = agentSvid("spiffe://example.org/web");
  EXPECT_EQ(authenticateAgent(*store_, bundles_, td_, workload, kNow).error().code,
            Code::kPermissionDenied);
  auto agent = agentSvid("spiffe://example.org/spire/agent/join_token/t2");
  EXPECT_EQ(authenticateAgent(*store_, bundles_, td_, agent, kNow + hours(2)).error().code,
            Code::kUnauthenticated);  // expired
  spiffe::BundleSet empty;
  EXPECT_EQ(authenticateAgent(*store_, empty, td_, agent, kNow).error().code,
            Code::kUnauthenticated);
}

// The server verifies each distinct client chain once (verifyAgentSvid, no datastore) and
// checks the datastore on every call (checkAgentNode): a chain that verified keeps failing the
// datastore half once its agent is evicted or banned.
TEST_F(AgentAuthTest, CertificateHalfNeedsNoDatastoreAndNodeHalfIsAlwaysChecked) {
  const std::string id = "spiffe://example.org/spire/agent/join_token/t3";
  auto chain = agentSvid(id);
  spiffe::SpiffeId verified = must(verifyAgentSvid(bundles_, td_, chain, kNow));
  EXPECT_EQ(verified.str(), id);
  EXPECT_EQ(checkAgentNode(*store_, verified, chain[0].serialHex()).error().reason,
            "agent_not_attested");
  must(store_->createAttestedNode({id, "join_token", chain[0].serialHex(), 0, "", 0, false}));
  EXPECT_EQ(must(checkAgentNode(*store_, verified, chain[0].serialHex())).serial_hex,
            chain[0].serialHex());
  must(store_->deleteAttestedNode(id));
  EXPECT_EQ(checkAgentNode(*store_, verified, chain[0].serialHex()).error().reason,
            "agent_not_attested");

  EXPECT_EQ(verifyAgentSvid(bundles_, td_, {}, kNow).error().code, Code::kUnauthenticated);
  EXPECT_EQ(
      verifyAgentSvid(bundles_, td_, agentSvid("spiffe://example.org/web"), kNow).error().code,
      Code::kPermissionDenied);
  EXPECT_EQ(verifyAgentSvid(bundles_, td_, chain, kNow + hours(2)).error().code,
            Code::kUnauthenticated);
}

TEST_F(AttestationTest, AuthorizedEntriesFollowSpiresRules) {
  const std::string agent = "spiffe://example.org/spire/agent/x509pop/abc";
  const auto entry = [](std::string spiffe_id, std::string parent, std::string selector,
                        int64_t expires = 0) {
    datastore::RegistrationEntry e;
    e.spiffe_id = std::move(spiffe_id);
    e.parent_id = std::move(parent);
    e.selectors = {must(datastore::Selector::parse(selector))};
    e.expires_at = expires;
    return e;
  };
  auto direct =
      must(store_->createEntry(entry("spiffe://example.org/web", agent, "unix:uid:1000")));
  auto nested = must(store_->createEntry(
      entry("spiffe://example.org/web/child", "spiffe://example.org/web", "unix:uid:1001")));
  must(store_->createEntry(entry("spiffe://example.org/other",
                                 "spiffe://example.org/spire/agent/x509pop/zzz", "unix:uid:1")));
  must(store_->createEntry(
      entry("spiffe://example.org/expired", agent, "unix:uid:2", toUnix(kNow - seconds(1)))));
  // A node alias: every node with this selector is also spiffe://example.org/cluster/a.
  auto alias = must(
      store_->createEntry(entry("spiffe://example.org/cluster/a",
                                "spiffe://example.org/spire/server", "x509pop:subject:cn:node-1")));
  auto under_alias = must(store_->createEntry(
      entry("spiffe://example.org/db", "spiffe://example.org/cluster/a", "unix:uid:999")));
  // A cycle does not loop.
  must(store_->createEntry(
      entry("spiffe://example.org/web", "spiffe://example.org/web/child", "unix:uid:3")));

  auto without_selectors = must(authorizedEntries(*store_, td_, agent, kNow));
  std::set<std::string> ids;
  for (const auto& e : without_selectors) ids.insert(e.spiffe_id);
  EXPECT_EQ(ids,
            (std::set<std::string>{"spiffe://example.org/web", "spiffe://example.org/web/child"}));
  EXPECT_EQ(without_selectors.size(), 3u);  // web, web/child, and web again under web/child

  must(store_->setNodeSelectors(
      agent, {{"x509pop", "subject:cn:node-1"}, {"x509pop", "serialnumber:01"}}));
  ids.clear();
  for (const auto& e : must(authorizedEntries(*store_, td_, agent, kNow))) ids.insert(e.id);
  EXPECT_EQ(ids.count(direct.id), 1u);
  EXPECT_EQ(ids.count(nested.id), 1u);
  EXPECT_EQ(ids.count(alias.id), 1u);
  EXPECT_EQ(ids.count(under_alias.id), 1u);
  EXPECT_EQ(ids.size(), 5u);
}

}  // namespace
}  // namespace mutual::server
