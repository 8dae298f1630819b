#include <gtest/gtest.h>

#include "policy/testing.h"
#include "policy/tls_check.h"

namespace mutual::policy {
namespace {

using config::ClientTlsMode;
using config::MtlsMode;
using testing::destinationRule;
using testing::peerAuthn;
using testing::service;
using testing::tls;
using testing::workload;

TEST(WireOutcome, MatchesTheClientServerMatrix) {
  // istio-mtls.md §3 table (sidecar_simulation_test.go TestInbound; reachability_test.go).
  const std::optional<MtlsMode> none;
  struct Case {
    ClientSends sends;
    std::optional<MtlsMode> server;
    PortProtocol protocol;
    Outcome want;
  } cases[] = {
      {ClientSends::kPlaintext, MtlsMode::kDisable, PortProtocol::kAuto, Outcome::kPlaintext},
      {ClientSends::kPlaintext, MtlsMode::kPermissive, PortProtocol::kAuto, Outcome::kPlaintext},
      {ClientSends::kPlaintext, MtlsMode::kStrict, PortProtocol::kAuto, Outcome::kFailReset},
      {ClientSends::kPlaintext, none, PortProtocol::kAuto, Outcome::kPlaintext},
      {ClientSends::kIstioMtls, MtlsMode::kDisable, PortProtocol::kHttp, Outcome::kFailTls},
      {ClientSends::kIstioMtls, MtlsMode::kPermissive, PortProtocol::kAuto, Outcome::kMtls},
      {ClientSends::kIstioMtls, MtlsMode::kStrict, PortProtocol::kAuto, Outcome::kMtls},
      {ClientSends::kIstioMtls, none, PortProtocol::kAuto, Outcome::kFailTls},
      {ClientSends::kSimpleTls, MtlsMode::kDisable, PortProtocol::kTcp, Outcome::kPassthrough},
      {ClientSends::kSimpleTls, MtlsMode::kDisable, PortProtocol::kHttp, Outcome::kFailTls},
      {ClientSends::kSimpleTls, MtlsMode::kPermissive, PortProtocol::kAuto, Outcome::kPassthrough},
      {ClientSends::kSimpleTls, MtlsMode::kPermissive, PortProtocol::kHttp, Outcome::kFailTls},
      {ClientSends::kSimpleTls, MtlsMode::kStrict, PortProtocol::kAuto, Outcome::kFailTls},
      {ClientSends::kSimpleTls, none, PortProtocol::kAuto, Outcome::kTls},
      {ClientSends::kMutualTls, MtlsMode::kStrict, PortProtocol::kAuto, Outcome::kFailTls},
      {ClientSends::kMutualTls, none, PortProtocol::kAuto, Outcome::kMutual},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(wireOutcome(c.sends, c.server, c.protocol), c.want)
        << static_cast<int>(c.sends) << " -> "
        << (c.server ? std::string(modeName(*c.server)) : "no sidecar");
  }
}

// A small mesh: shop/frontend calls payments/pay (8080 and 9090) and legacy/old.
struct Mesh {
  config::MeshConfig config;
  config::MeshSettings settings;

  Mesh() {
    config.workloads = {
        workload("shop", "frontend", {{"app", "frontend"}}, "frontend"),
        workload("legacy", "old", {{"app", "old"}}, "old", /*sidecar=*/false),
        workload("payments", "pay", {{"app", "pay"}}, "pay"),
    };
    config.services = {service("payments", "pay", {{"app", "pay"}}, 80, 8080, "http"),
                       service("legacy", "old", {{"app", "old"}}, 80, 8000, "http")};
    config::ServicePort admin;
    admin.name = "tcp-admin";
    admin.port = 9090;
    admin.target_port = 9090;
    config.services[0].ports.push_back(admin);
  }

  const CheckRow& row(const std::vector<CheckRow>& rows, const std::string& client,
                      const std::string& host_prefix, uint32_t port) {
    for (const auto& r : rows) {
      if (r.client == client && r.host.rfind(host_prefix, 0) == 0 && r.port == port) return r;
    }
    ADD_FAILURE() << "no row " << client << " -> " << host_prefix << ":" << port;
    static CheckRow empty;
    return empty;
  }
};

TEST(Simulator, AutoMtlsStrictAndNoSidecarClient) {
  Mesh m;
  m.config.peer_authentications = {peerAuthn("istio-system", "default", MtlsMode::kStrict)};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check(std::nullopt, std::nullopt);
  ASSERT_TRUE(rows);
  // Sidecar client, no DR, auto-mTLS on: AUTO / MTLS (istio-mtls.md §3 "DR unset, auto-mTLS on").
  const auto& a = m.row(*rows, "shop/frontend", "pay.payments", 80);
  EXPECT_EQ(a.status, Status::kAuto);
  EXPECT_EQ(a.outcome, Outcome::kMtls);
  EXPECT_EQ(a.server_mode, "STRICT");
  EXPECT_EQ(a.client_tls, "AUTO");
  EXPECT_EQ(a.target_port, 8080u);
  EXPECT_EQ(a.policy, "istio-system/default");
  // No sidecar at the client against STRICT: FAIL_RESET (§3 last row).
  const auto& b = m.row(*rows, "legacy/old", "pay.payments", 80);
  EXPECT_EQ(b.outcome, Outcome::kFailReset);
  EXPECT_EQ(b.status, Status::kConflict);
  EXPECT_NE(b.reason.find("no sidecar"), std::string::npos) << b.reason;
  // Sidecar client to a server without sidecar: auto-mTLS sends plaintext (§2.3 step 4).
  const auto& c = m.row(*rows, "shop/frontend", "old.legacy", 80);
  EXPECT_EQ(c.outcome, Outcome::kPlaintext);
  EXPECT_EQ(c.server_mode, "-");
}

TEST(Simulator, PortLevelDisableAndExplicitRules) {
  Mesh m;
  m.config.peer_authentications = {
      peerAuthn("istio-system", "default", MtlsMode::kStrict),
      peerAuthn("payments", "pay", MtlsMode::kStrict, config::Labels{{"app", "pay"}},
                {{9090, MtlsMode::kDisable}})};
  // An explicit ISTIO_MUTUAL overrides auto-mTLS even to a DISABLE port (§2.3 last line).
  m.config.destination_rules = {
      destinationRule("istio-system", "mesh", "*.local", tls(ClientTlsMode::kIstioMutual))};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check("shop/frontend", std::nullopt);
  ASSERT_TRUE(rows);
  const auto& strict = m.row(*rows, "shop/frontend", "pay.payments", 80);
  EXPECT_EQ(strict.outcome, Outcome::kMtls);
  EXPECT_EQ(strict.status, Status::kOk);
  EXPECT_EQ(strict.destination_rule, "istio-system/mesh");
  const auto& disabled = m.row(*rows, "shop/frontend", "pay.payments", 9090);
  EXPECT_EQ(disabled.server_mode, "DISABLE");
  EXPECT_EQ(disabled.status, Status::kConflict);
  EXPECT_EQ(disabled.outcome, Outcome::kFailTls);
  EXPECT_FALSE(disabled.reason.empty());

  // Without the rule, auto-mTLS honours the workload's port-level DISABLE (§2.3 step 4).
  m.config.destination_rules.clear();
  Simulator auto_sim(m.config, m.settings);
  rows = auto_sim.check("shop/frontend", "pay.payments.svc.cluster.local:9090");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().outcome, Outcome::kPlaintext);
  EXPECT_EQ(rows->front().status, Status::kAuto);
}

TEST(Simulator, NamespaceDisableWithWorkloadStrictIsTheKnownGap) {
  // istio-mtls.md §2.3 "Known gap" (istio/istio#56084) and §7 surprise 7.
  Mesh m;
  m.config.peer_authentications = {
      peerAuthn("payments", "ns", MtlsMode::kDisable),
      peerAuthn("payments", "pay", MtlsMode::kStrict, config::Labels{{"app", "pay"}})};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check("shop/frontend", "pay.payments:80");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().outcome, Outcome::kFailReset);
  EXPECT_NE(rows->front().reason.find("DISABLE at namespace"), std::string::npos)
      << rows->front().reason;
}

TEST(Simulator, AutoMtlsOffSendsPlaintext) {
  // istio-mtls.md §3 "DR unset, auto-mTLS off": OK status, plaintext fails against STRICT.
  Mesh m;
  m.settings.auto_mtls = false;
  m.config.peer_authentications = {peerAuthn("istio-system", "default", MtlsMode::kStrict)};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check("shop/frontend", "pay.payments:80");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->front().status, Status::kOk);
  EXPECT_EQ(rows->front().outcome, Outcome::kFailReset);
}

TEST(Simulator, AuthorizationDeniesWrongPrincipal) {
  Mesh m;
  m.config.peer_authentications = {peerAuthn("istio-system", "default", MtlsMode::kStrict)};
  config::AuthorizationPolicy p;
  p.meta = testing::meta("payments", "only-checkout");
  p.selector = config::Labels{{"app", "pay"}};
  config::AuthzRule rule;
  config::AuthzSource src;
  src.principals = {"cluster.local/ns/shop/sa/checkout"};
  rule.from.push_back(src);
  p.rules.push_back(rule);
  m.config.authorization_policies = {p};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check("shop/frontend", "pay.payments:80");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->front().outcome, Outcome::kAuthzDenied);
  EXPECT_NE(rows->front().reason.find("payments/only-checkout"), std::string::npos);
}

// Linkerd: a Server on pay's port 8080 admits only what its authorizations admit; the port
// 9090 without a Server keeps the default policy.
TEST(Simulator, LinkerdServerAuthorization) {
  Mesh m;
  config::LinkerdServer server;
  server.meta = testing::meta("payments", "pay-http");
  server.pod_selector = {{"app", "pay"}};
  server.port = 8080;
  m.config.linkerd_servers = {server};
  config::LinkerdAuthorizationPolicy ap;
  ap.meta = testing::meta("payments", "checkout-only");
  ap.target_name = "pay-http";
  ap.required_authentication_refs = {{config::LinkerdAuthenticationKind::kServiceAccount,
                                      "checkout", "shop"}};
  m.config.linkerd_authorization_policies = {ap};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check("shop/frontend", std::nullopt);
  ASSERT_TRUE(rows);
  const CheckRow& http = m.row(*rows, "shop/frontend", "pay.payments", 80);
  EXPECT_EQ(http.outcome, Outcome::kAuthzDenied);
  EXPECT_EQ(http.reason,
            "linkerd Server payments/pay-http: no authorization admits "
            "spiffe://cluster.local/ns/shop/sa/frontend");
  EXPECT_EQ(m.row(*rows, "shop/frontend", "pay.payments", 9090).outcome, Outcome::kMtls);

  // The account the policy names gets through.
  m.config.linkerd_authorization_policies[0].required_authentication_refs[0].name = "frontend";
  Simulator allowed(m.config, m.settings);
  rows = allowed.check("shop/frontend", "pay.payments:80");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->front().outcome, Outcome::kMtls);
}

// Linkerd's default inbound policies on pay's ports (no Server): the workload's annotation,
// else its namespace's, else the cluster's; `check` assumes every client is in the cluster
// networks. frontend arrives over mTLS; old has no sidecar, so it sends plaintext.
TEST(Simulator, LinkerdDefaultPolicies) {
  Mesh m;
  config::Namespace payments;
  payments.name = "payments";
  payments.linkerd_default_inbound_policy = config::LinkerdDefaultPolicy::kAllAuthenticated;
  m.config.namespaces = {payments};
  const auto check = [&] {
    Simulator sim(m.config, m.settings);
    auto rows = sim.check(std::nullopt, "pay.payments:80");
    EXPECT_TRUE(rows);
    return rows.value_or(std::vector<CheckRow>{});
  };
  auto rows = check();
  const CheckRow& meshed = m.row(rows, "shop/frontend", "pay.payments", 80);
  EXPECT_EQ(meshed.outcome, Outcome::kMtls);
  EXPECT_EQ(meshed.authz,
            "linkerd default policy all-authenticated (namespace payments annotation)");
  const CheckRow& plain = m.row(rows, "legacy/old", "pay.payments", 80);
  EXPECT_EQ(plain.outcome, Outcome::kAuthzDenied);
  EXPECT_EQ(plain.authz, meshed.authz);
  EXPECT_EQ(plain.reason,
            "linkerd default policy all-authenticated (namespace payments annotation): no Server "
            "selects the port, and the default policy all-authenticated admits only mesh mTLS "
            "clients with an identity; denied a client without identity");

  // The workload's own annotation wins over its namespace's.
  m.config.workloads[2].linkerd_default_inbound_policy = config::LinkerdDefaultPolicy::kDeny;
  rows = check();
  EXPECT_EQ(m.row(rows, "shop/frontend", "pay.payments", 80).outcome, Outcome::kAuthzDenied);
  EXPECT_EQ(m.row(rows, "shop/frontend", "pay.payments", 80).authz,
            "linkerd default policy deny (workload annotation)");

  // The cluster default applies when neither says anything; audit lets everyone in and says so.
  m.config.workloads[2].linkerd_default_inbound_policy.reset();
  m.config.namespaces.clear();
  m.config.linkerd = config::LinkerdSettings{};
  m.config.linkerd->default_inbound_policy = config::LinkerdDefaultPolicy::kAudit;
  rows = check();
  const CheckRow& audited = m.row(rows, "shop/frontend", "pay.payments", 80);
  EXPECT_EQ(audited.outcome, Outcome::kMtls);
  EXPECT_EQ(audited.authz, "linkerd default policy audit (cluster default)");
  EXPECT_EQ(audited.reason,
            "auto-mTLS: the endpoint has a sidecar and is PERMISSIVE; linkerd default policy "
            "audit (cluster default): no Server selects the port; allowed "
            "spiffe://cluster.local/ns/shop/sa/frontend for audit (deny would refuse it)");
  EXPECT_EQ(m.row(rows, "legacy/old", "pay.payments", 80).outcome, Outcome::kPlaintext);

  // cluster-unauthenticated: client addresses are unknown offline, so assumed in the cluster.
  m.config.linkerd->default_inbound_policy = config::LinkerdDefaultPolicy::kClusterUnauthenticated;
  rows = check();
  EXPECT_EQ(m.row(rows, "legacy/old", "pay.payments", 80).outcome, Outcome::kPlaintext);
  EXPECT_EQ(m.row(rows, "legacy/old", "pay.payments", 80).authz,
            "linkerd default policy cluster-unauthenticated (cluster default)");

  // Nothing Linkerd configured: no authorization decides.
  m.config.linkerd.reset();
  rows = check();
  EXPECT_EQ(m.row(rows, "legacy/old", "pay.payments", 80).authz, "-");
}

// A Server's accessPolicy decides for the clients its authorizations do not admit.
TEST(Simulator, LinkerdServerAccessPolicy) {
  Mesh m;
  config::LinkerdServer server;
  server.meta = testing::meta("payments", "pay-http");
  server.pod_selector = {{"app", "pay"}};
  server.port = 8080;
  server.access_policy = config::LinkerdDefaultPolicy::kAllAuthenticated;
  m.config.linkerd_servers = {server};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check(std::nullopt, "pay.payments:80");
  ASSERT_TRUE(rows);
  const CheckRow& meshed = m.row(*rows, "shop/frontend", "pay.payments", 80);
  EXPECT_EQ(meshed.outcome, Outcome::kMtls);
  EXPECT_EQ(meshed.authz, "linkerd Server payments/pay-http accessPolicy all-authenticated");
  const CheckRow& plain = m.row(*rows, "legacy/old", "pay.payments", 80);
  EXPECT_EQ(plain.outcome, Outcome::kAuthzDenied);
  EXPECT_EQ(plain.reason,
            "linkerd Server payments/pay-http: no authorization admits a client without "
            "identity, and accessPolicy all-authenticated admits only mesh mTLS clients with an "
            "identity");
}

TEST(Simulator, ExternalHostsAndBadQueries) {
  Mesh m;
  auto simple = tls(ClientTlsMode::kSimple);
  simple.sni = "api.external.com";
  m.config.destination_rules = {destinationRule("shop", "ext", "api.external.com", simple)};
  Simulator sim(m.config, m.settings);
  auto rows = sim.check("shop/frontend", "api.external.com:443");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().outcome, Outcome::kTls);
  EXPECT_EQ(rows->front().client_tls, "SIMPLE");

  EXPECT_EQ(sim.check("shop/nobody", std::nullopt).error().code, Code::kNotFound);
  EXPECT_EQ(sim.check("frontend", std::nullopt).error().code, Code::kInvalidArgument);
  EXPECT_EQ(sim.check(std::nullopt, "pay.payments:99999").error().code, Code::kInvalidArgument);
  EXPECT_EQ(sim.check(std::nullopt, "pay.payments:81").error().code, Code::kNotFound);
}

TEST(Migrate, ListsClientsThatWouldStillSendPlaintext) {
  Mesh m;
  m.config.peer_authentications = {peerAuthn("payments", "ns", MtlsMode::kPermissive)};
  auto to_disable = destinationRule("shop", "plain", "pay.payments.svc.cluster.local",
                                    tls(ClientTlsMode::kDisable));
  m.config.destination_rules = {to_disable};
  auto breaks = migrateToStrict(m.config, m.settings, "payments");
  ASSERT_TRUE(breaks);
  std::map<std::string, std::string> why;
  for (const auto& b : *breaks) why[b.after.client + " " + std::to_string(b.after.port)] = b.why;
  // legacy/old has no sidecar; shop/frontend's DestinationRule sets DISABLE.
  ASSERT_TRUE(why.count("legacy/old 80")) << breaks->size();
  EXPECT_NE(why["legacy/old 80"].find("no sidecar"), std::string::npos) << why["legacy/old 80"];
  ASSERT_TRUE(why.count("shop/frontend 80"));
  EXPECT_NE(why["shop/frontend 80"].find("shop/plain"), std::string::npos);
  // The payments workload calling itself over auto-mTLS keeps working: not listed.
  EXPECT_FALSE(why.count("payments/pay 80"));
  // Nothing outside the scope is listed.
  for (const auto& b : *breaks) EXPECT_EQ(b.after.server.rfind("payments/", 0), 0u);
}

}  // namespace
}  // namespace mutual::policy
