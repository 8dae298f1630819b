#include <gtest/gtest.h>

#include "policy/authz.h"
#include "policy/testing.h"

namespace mutual::policy {
namespace {

using testing::meta;

const std::string kFrontend = "spiffe://cluster.local/ns/shop/sa/frontend";

TEST(PrincipalMatches, Forms) {
  // istio-mtls.md §6; authorization_policy.proto Source.principals; matcher/string.go.
  struct Case {
    std::string pattern;
    std::optional<std::string> peer;
    std::string td;
    bool want;
  } cases[] = {
      {"cluster.local/ns/shop/sa/frontend", kFrontend, "cluster.local", true},
      {"cluster.local/ns/shop/sa/other", kFrontend, "cluster.local", false},
      {"cluster.local/ns/shop/*", kFrontend, "cluster.local", true},
      {"*/sa/frontend", kFrontend, "cluster.local", true},
      {"*", kFrontend, "cluster.local", true},
      {"*", std::nullopt, "cluster.local", false},  // plaintext never matches principals
      // cluster.local in a policy is expanded to the mesh trust domain (ReplaceTrustDomainAliases)
      {"cluster.local/ns/shop/sa/frontend", "spiffe://example.org/ns/shop/sa/frontend",
       "example.org", true},
      {"other.org/ns/shop/sa/frontend", "spiffe://example.org/ns/shop/sa/frontend", "example.org",
       false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(principalMatches(c.pattern, c.peer, c.td), c.want) << c.pattern;
  }
}

config::AuthorizationPolicy policy(std::string ns, std::string name, config::AuthzAction action,
                                   std::vector<config::AuthzRule> rules,
                                   std::optional<config::Labels> selector = {}) {
  config::AuthorizationPolicy p;
  p.meta = meta(std::move(ns), std::move(name));
  p.action = action;
  p.rules = std::move(rules);
  p.selector = std::move(selector);
  return p;
}

config::AuthzRule fromPrincipals(std::vector<std::string> principals) {
  config::AuthzRule r;
  config::AuthzSource s;
  s.principals = std::move(principals);
  r.from.push_back(s);
  return r;
}

TEST(Authorize, EvaluatesDenyThenAllow) {
  const config::MeshSettings mesh;
  const config::Labels pay{{"app", "pay"}};
  using config::AuthzAction;
  const auto allow_frontend = policy("payments", "allow-frontend", AuthzAction::kAllow,
                                     {fromPrincipals({"cluster.local/ns/shop/sa/frontend"})}, pay);

  // No policy: allowed.
  EXPECT_TRUE(authorize({}, mesh, "payments", pay, 8080, std::nullopt).allowed);
  // An ALLOW policy that matches.
  EXPECT_TRUE(authorize({allow_frontend}, mesh, "payments", pay, 8080, kFrontend).allowed);
  // An ALLOW policy applies and does not match: denied (TestAuthz_Principal).
  auto d = authorize({allow_frontend}, mesh, "payments", pay, 8080,
                     "spiffe://cluster.local/ns/shop/sa/other");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "payments/allow-frontend");
  // Plaintext has no principal (istio-mtls.md §6 "These all require mTLS").
  EXPECT_FALSE(authorize({allow_frontend}, mesh, "payments", pay, 8080, std::nullopt).allowed);
  // A selector that does not match the workload: the policy does not apply.
  EXPECT_TRUE(authorize({allow_frontend}, mesh, "payments", {{"app", "db"}}, 8080, std::nullopt)
                  .allowed);

  // The documented deny-plaintext pattern: DENY notPrincipals ["*"] (TestAuthz_DenyPlaintext).
  config::AuthzRule not_any;
  config::AuthzSource s;
  s.not_principals = {"*"};
  not_any.from.push_back(s);
  const auto deny_plaintext = policy("istio-system", "deny-plaintext", AuthzAction::kDeny, {not_any});
  EXPECT_FALSE(authorize({deny_plaintext}, mesh, "payments", pay, 8080, std::nullopt).allowed);
  EXPECT_TRUE(authorize({deny_plaintext}, mesh, "payments", pay, 8080, kFrontend).allowed);

  // DENY wins over ALLOW.
  const auto deny_frontend = policy("payments", "deny", AuthzAction::kDeny,
                                    {fromPrincipals({"*/sa/frontend"})});
  d = authorize({allow_frontend, deny_frontend}, mesh, "payments", pay, 8080, kFrontend);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "payments/deny");

  // ALLOW with no rules allows nothing; one empty rule allows everything.
  EXPECT_FALSE(authorize({policy("payments", "nothing", AuthzAction::kAllow, {})}, mesh,
                         "payments", pay, 8080, kFrontend)
                   .allowed);
  EXPECT_TRUE(authorize({policy("payments", "all", AuthzAction::kAllow, {config::AuthzRule{}})},
                        mesh, "payments", pay, 8080, std::nullopt)
                  .allowed);
}

TEST(Authorize, PortsAndNamespaces) {
  const config::MeshSettings mesh;
  config::AuthzRule r;
  config::AuthzSource s;
  s.namespaces = {"shop"};
  r.from.push_back(s);
  config::AuthzOperation op;
  op.ports = {"8080"};
  r.to.push_back(op);
  const auto p = policy("payments", "ns-port", config::AuthzAction::kAllow, {r});
  EXPECT_TRUE(authorize({p}, mesh, "payments", {}, 8080, kFrontend).allowed);
  EXPECT_FALSE(authorize({p}, mesh, "payments", {}, 9090, kFrontend).allowed);
  EXPECT_FALSE(authorize({p}, mesh, "payments", {}, 8080,
                         "spiffe://cluster.local/ns/web/sa/frontend").allowed);
  // Policies of other namespaces do not apply; root-namespace ones do.
  auto elsewhere = p;
  elsewhere.meta.namespace_name = "web";
  EXPECT_TRUE(authorize({elsewhere}, mesh, "payments", {}, 9090, kFrontend).allowed);
  auto root = p;
  root.meta.namespace_name = "istio-system";
  EXPECT_FALSE(authorize({root}, mesh, "payments", {}, 9090, kFrontend).allowed);
}


// The connection the proxy authorizes: a mesh peer from 127.0.0.1 to 127.0.0.1.
AuthzConnection loopbackPeer(std::optional<std::string> peer = kFrontend) {
  return {.peer_id = std::move(peer),
          .source = config::IpAddress::parse("127.0.0.1"),
          .destination = config::IpAddress::parse("127.0.0.1")};
}

config::AuthzRule fromIpBlocks(std::vector<std::string> cidrs, bool remote = false) {
  config::AuthzRule r;
  config::AuthzSource s;
  for (const auto& c : cidrs) {
    (remote ? s.remote_ip_blocks : s.ip_blocks).push_back(*config::IpNetwork::parse(c));
  }
  r.from.push_back(s);
  return r;
}

TEST(Authorize, IpBlocksAreTheSourceAddress) {
  const config::MeshSettings mesh;
  using config::AuthzAction;
  const auto ten = policy("payments", "ten", AuthzAction::kAllow, {fromIpBlocks({"10.0.0.0/8"})});
  const auto lo = policy("payments", "lo", AuthzAction::kAllow, {fromIpBlocks({"127.0.0.0/8"})});
  const auto lo_remote =
      policy("payments", "lo", AuthzAction::kAllow, {fromIpBlocks({"127.0.0.1"}, true)});
  EXPECT_FALSE(authorize({ten}, mesh, "payments", {}, 8080, loopbackPeer()).allowed);
  EXPECT_TRUE(authorize({lo}, mesh, "payments", {}, 8080, loopbackPeer()).allowed);
  EXPECT_TRUE(authorize({lo_remote}, mesh, "payments", {}, 8080, loopbackPeer()).allowed);
  // Plaintext peers have an address too.
  EXPECT_TRUE(authorize({lo}, mesh, "payments", {}, 8080, loopbackPeer(std::nullopt)).allowed);
  const auto deny_lo = policy("payments", "deny-lo", AuthzAction::kDeny, {fromIpBlocks({"127.0.0.1"})});
  EXPECT_FALSE(authorize({deny_lo}, mesh, "payments", {}, 8080, loopbackPeer()).allowed);
  // notIpBlocks.
  config::AuthzRule not_lo;
  config::AuthzSource s;
  s.not_ip_blocks.push_back(*config::IpNetwork::parse("127.0.0.0/8"));
  not_lo.from.push_back(s);
  EXPECT_FALSE(authorize({policy("payments", "not-lo", AuthzAction::kAllow, {not_lo})}, mesh,
                         "payments", {}, 8080, loopbackPeer())
                   .allowed);
  // Offline (addresses unknown), address conditions are assumed to hold.
  EXPECT_TRUE(authorize({ten}, mesh, "payments", {}, 8080, kFrontend).allowed);
}

TEST(Authorize, HttpOnlyFieldsNeverAllowAndDoNotNarrowADeny) {
  const config::MeshSettings mesh;
  using config::AuthzAction;
  config::AuthzRule jwt;
  config::AuthzSource s;
  s.http_only = true;  // requestPrincipals
  jwt.from.push_back(s);
  config::AuthzRule get;
  config::AuthzOperation op;
  op.http_only = true;  // methods: ["GET"]
  get.to.push_back(op);
  for (const auto& rule : {jwt, get}) {
    EXPECT_FALSE(authorize({policy("payments", "allow", AuthzAction::kAllow, {rule})}, mesh,
                           "payments", {}, 8080, loopbackPeer())
                     .allowed);
    EXPECT_FALSE(authorize({policy("payments", "deny", AuthzAction::kDeny, {rule})}, mesh,
                           "payments", {}, 8080, loopbackPeer())
                     .allowed);
  }
}

TEST(Authorize, WhenConditions) {
  const config::MeshSettings mesh;
  using config::AuthzAction;
  const auto allowWhen = [&](std::string key, std::vector<std::string> values,
                             std::vector<std::string> not_values = {}) {
    config::AuthzRule r;
    r.when.push_back({std::move(key), std::move(values), std::move(not_values)});
    return authorize({policy("payments", "when", AuthzAction::kAllow, {r})}, mesh, "payments", {},
                     8080, loopbackPeer())
        .allowed;
  };
  EXPECT_FALSE(allowWhen("source.ip", {"10.1.2.3"}));
  EXPECT_TRUE(allowWhen("source.ip", {"127.0.0.1"}));
  EXPECT_FALSE(allowWhen("remote.ip", {}, {"127.0.0.0/8"}));
  EXPECT_TRUE(allowWhen("destination.ip", {"127.0.0.1/32"}));
  EXPECT_TRUE(allowWhen("destination.port", {"8080"}));
  EXPECT_FALSE(allowWhen("destination.port", {"9090"}));
  EXPECT_TRUE(allowWhen("source.principal", {"cluster.local/ns/shop/sa/frontend"}));
  EXPECT_FALSE(allowWhen("source.principal", {"cluster.local/ns/shop/sa/other"}));
  EXPECT_TRUE(allowWhen("source.namespace", {"shop"}));
  EXPECT_FALSE(allowWhen("source.namespace", {"shop"}, {"shop"}));
  // HTTP-only and unknown keys: an ALLOW never matches.
  EXPECT_FALSE(allowWhen("request.headers[x-user]", {"alice"}));
  EXPECT_FALSE(allowWhen("connection.sni", {"cart.shop"}));
  // ... and a DENY ignores them (denies on the rest of the rule).
  config::AuthzRule deny;
  deny.when.push_back({"request.auth.claims[iss]", {"x"}, {}});
  EXPECT_FALSE(authorize({policy("payments", "deny", AuthzAction::kDeny, {deny})}, mesh,
                         "payments", {}, 8080, loopbackPeer())
                   .allowed);
}

TEST(Authorize, TrustDomains) {
  const config::MeshSettings mesh;
  config::AuthzRule r;
  config::AuthzSource s;
  s.trust_domains = {"cluster.local"};
  r.from.push_back(s);
  const auto p = policy("payments", "td", config::AuthzAction::kAllow, {r});
  EXPECT_TRUE(authorize({p}, mesh, "payments", {}, 8080, loopbackPeer()).allowed);
  EXPECT_FALSE(authorize({p}, mesh, "payments", {}, 8080,
                         loopbackPeer("spiffe://other.org/ns/shop/sa/frontend"))
                   .allowed);
  EXPECT_FALSE(authorize({p}, mesh, "payments", {}, 8080, loopbackPeer(std::nullopt)).allowed);
}

TEST(Authorize, CustomPoliciesDenyForLackOfAnAuthorizer) {
  const config::MeshSettings mesh;
  auto custom = policy("payments", "ext", config::AuthzAction::kCustom, {config::AuthzRule{}});
  custom.provider = "opa";
  auto d = authorize({custom}, mesh, "payments", {}, 8080, loopbackPeer());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "payments/ext");
  EXPECT_NE(d.reason.find("opa"), std::string::npos) << d.reason;
  // AUDIT decides nothing.
  EXPECT_TRUE(authorize({policy("payments", "audit", config::AuthzAction::kAudit,
                                {config::AuthzRule{}})},
                        mesh, "payments", {}, 8080, loopbackPeer())
                  .allowed);
}

}  // namespace
}  // namespace mutual::policy
