#include "workloadapi/proxy_source.h"

#include <thread>

#include <gtest/gtest.h>

#include "base/testing.h"
#include "ca/authority.h"
#include "config/proxy_config.h"
#include "proxy/proxy.h"
#include "workloadapi/fake_provider.h"
#include "workloadapi/server.h"

// The proxy's credentials.workload_api: the pure conversion, then a real Proxy fed by a real
// Workload API server (fake provider) through ProxyCredentialSource, rotation included.

namespace mutual::workloadapi {
namespace {

using mutual::testing::must;
using mutual::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;

spiffe::TrustDomain td(const char* name) { return must(spiffe::TrustDomain::parse(name)); }
spiffe::SpiffeId id(const char* text) { return must(spiffe::SpiffeId::parse(text)); }

class CredentialsFromContextTest : public ::testing::Test {
 protected:
  X509Svid issue(const ca::Authority& ca, const char* spiffe_id,
                 Seconds ttl = std::chrono::hours(1)) {
    auto leaf = must(
        ca::issueWorkload(ca, {id(spiffe_id), {}, {}, ttl, {}, crypto::KeyType::kEcP256}, clock_));
    return X509Svid{id(spiffe_id),
                    {leaf.cert},
                    std::make_shared<const crypto::PrivateKey>(std::move(leaf.key)),
                    {ca.cert},
                    ""};
  }

  RealClock clock_;
  ca::Authority example_ = must(ca::createRoot(
      {td("example.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""}, clock_));
  ca::Authority other_ = must(ca::createRoot(
      {td("other.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""}, clock_));
};

TEST_F(CredentialsFromContextTest, PicksTheSvidOfTheTrustDomainAndKeepsBundlesApart) {
  X509Context context;
  context.svids.push_back(issue(other_, "spiffe://other.org/web"));
  context.svids.push_back(issue(example_, "spiffe://example.org/web"));
  context.federated_bundles.emplace(td("other.org"), std::vector<crypto::Certificate>{other_.cert});
  auto credentials = must(
      credentialsFromX509Context(context, td("example.org"), clock_.now(), "workload_api test"));
  EXPECT_EQ(credentials.id.str(), "spiffe://example.org/web");
  EXPECT_EQ(credentials.source, "workload_api test");
  ASSERT_NE(credentials.bundles.find(td("example.org")), nullptr);
  ASSERT_NE(credentials.bundles.find(td("other.org")), nullptr);
  EXPECT_EQ(credentials.bundles.find(td("other.org"))->authorities[0].sha256Fingerprint(),
            other_.cert.sha256Fingerprint());
  EXPECT_EQ(credentials.bundles.find(td("example.org"))->authorities[0].sha256Fingerprint(),
            example_.cert.sha256Fingerprint());
}

TEST_F(CredentialsFromContextTest, AFederatedEntryCannotReplaceTheOwnBundle) {
  X509Context context;
  context.svids.push_back(issue(example_, "spiffe://example.org/web"));
  context.federated_bundles.emplace(td("example.org"),
                                    std::vector<crypto::Certificate>{other_.cert});
  auto credentials = must(credentialsFromX509Context(context, td("example.org"), clock_.now(), ""));
  EXPECT_EQ(credentials.bundles.find(td("example.org"))->authorities[0].sha256Fingerprint(),
            example_.cert.sha256Fingerprint());
}

TEST_F(CredentialsFromContextTest, RefusesWrongTrustDomainAndBadMaterial) {
  X509Context context;
  context.svids.push_back(issue(other_, "spiffe://other.org/web"));
  auto wrong = credentialsFromX509Context(context, td("example.org"), clock_.now(), "");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("no SVID of trust domain example.org"), std::string::npos);

  // An SVID whose bundle is another CA's: does not chain.
  X509Svid svid = issue(example_, "spiffe://example.org/web");
  svid.bundle = {other_.cert};
  auto unchained =
      credentialsFromX509Context({{svid}, {}, {}}, td("example.org"), clock_.now(), "");
  EXPECT_FALSE(unchained);

  // Expired at `now`.
  X509Svid expired = issue(example_, "spiffe://example.org/web");
  auto later = credentialsFromX509Context({{expired}, {}, {}}, td("example.org"),
                                          clock_.now() + std::chrono::hours(2), "");
  ASSERT_FALSE(later);
}

// A real proxy with credentials.workload_api, fed by our server.
TEST(ProxyCredentialSourceTest, ProxyBecomesReadyAndFollowsRotation) {
  RealClock clock;
  TempDir dir;
  auto root = must(ca::createRoot(
      {td("example.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""}, clock));
  testing::FakeIdentityProvider::Options options{id("spiffe://example.org/ns/shop/sa/cart")};
  auto provider = must(testing::FakeIdentityProvider::create(std::move(root), options, clock));
  const std::string socket = (dir.path() / "api.sock").string();

  const std::string yaml = R"(version: 1
workload: {namespace: shop, name: cart, service_account: cart}
trust_domain: example.org
credentials:
  workload_api: {socket: unix://)" +
                           socket + R"(}
inbound:
  - {port: 8080, listen: 127.0.0.1:0, forward: 127.0.0.1:9}
admin: 127.0.0.1:0
access_log: off
workers: 1
)";
  auto config = must(config::parseProxyConfig(yaml, "proxy.yaml", ""));
  auto proxy = must(proxy::Proxy::create(std::move(config)));
  proxy->start();
  EXPECT_FALSE(proxy->ready()) << "no SVID yet: fail closed";

  // The proxy starts before the agent: the source retries until the socket appears.
  auto source = must(ProxyCredentialSource::start(
      "unix://" + socket, td("example.org"), proxy->credentialSink(), clock,
      Backoff{milliseconds(50), milliseconds(50), milliseconds(200)}));
  auto server = must(WorkloadApiServer::start({socket}, *provider));

  auto waitFor = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 200 && !done(); ++i) std::this_thread::sleep_for(milliseconds(50));
    return done();
  };
  ASSERT_TRUE(waitFor([&] { return proxy->ready(); })) << proxy->certs().dump();
  auto certs = proxy->certs();
  EXPECT_EQ(certs["identity"], "spiffe://example.org/ns/shop/sa/cart");
  EXPECT_EQ(certs["serial"], provider->current().leaf().serialHex());
  EXPECT_EQ(certs["source"], "workload_api unix://" + socket);

  must(provider->rotate());
  const std::string rotated = provider->current().leaf().serialHex();
  EXPECT_TRUE(waitFor([&] { return proxy->certs()["serial"] == rotated; }))
      << proxy->certs().dump();

  // The agent goes away: the proxy keeps its SVID.
  server->stop();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_TRUE(proxy->ready());
  EXPECT_EQ(proxy->certs()["serial"], rotated);

  source->stop();
  proxy->shutdown();
}

}  // namespace
}  // namespace mutual::workloadapi
