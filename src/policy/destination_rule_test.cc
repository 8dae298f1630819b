#include <gtest/gtest.h>

#include "policy/destination_rule.h"
#include "policy/testing.h"

namespace mutual::policy {
namespace {

using config::ClientTlsMode;
using testing::destinationRule;
using testing::tls;

const std::string kReviews = "reviews.shop.svc.cluster.local";

TEST(NormalizeHost, ShortNamesResolveInTheRulesNamespace) {
  // istio-mtls.md §2.2.1 and §7 surprise 5 (ResolveShortnameToFQDN).
  EXPECT_EQ(normalizeHost("reviews", "other", "cluster.local"), "reviews.other.svc.cluster.local");
  EXPECT_EQ(normalizeHost("reviews.shop.svc.cluster.local", "other", "cluster.local"), kReviews);
  EXPECT_EQ(normalizeHost("*", "other", "cluster.local"), "*");
  EXPECT_EQ(normalizeHost("*.local", "other", "cluster.local"), "*.local");
  EXPECT_EQ(normalizeHost("10.0.0.1", "other", "cluster.local"), "10.0.0.1");
}

TEST(HostMatches, WildcardsAndExact) {
  EXPECT_TRUE(hostMatches("*", kReviews));
  EXPECT_TRUE(hostMatches("*.local", kReviews));
  EXPECT_TRUE(hostMatches("*.shop.svc.cluster.local", kReviews));
  EXPECT_FALSE(hostMatches("*.other.svc.cluster.local", kReviews));
  EXPECT_TRUE(hostMatches(kReviews, kReviews));
  EXPECT_FALSE(hostMatches("ratings.shop.svc.cluster.local", kReviews));
}

struct Case {
  const char* name;
  const char* source;
  std::vector<config::DestinationRule> rules;
  std::string client_ns;
  std::string service_ns;
  uint32_t port;
  std::optional<ClientTlsMode> want;  // nullopt: no tls (auto-mTLS)
  std::string want_rule;
};

TEST(ResolveClientTls, FollowsTheReference) {
  const config::MeshSettings mesh;
  auto exported = [](config::DestinationRule dr, std::vector<std::string> to) {
    dr.export_to = std::move(to);
    return dr;
  };
  auto with_port = [](config::DestinationRule dr, uint32_t port,
                      std::optional<config::ClientTls> t) {
    dr.traffic_policy->port_level[port] = std::move(t);
    return dr;
  };
  auto no_tls = [](config::DestinationRule dr) {
    dr.traffic_policy.reset();
    return dr;
  };
  const std::vector<Case> cases = {
      {"no rule: nothing set", "istio-mtls.md §2.3 (auto-mTLS applies)", {}, "shop", "shop", 9080,
       std::nullopt, ""},
      {"exact host beats wildcard", "istio-mtls.md §2.2.2 MostSpecificHostMatch",
       {destinationRule("shop", "wild", "*.local", tls(ClientTlsMode::kIstioMutual)),
        destinationRule("shop", "exact", "reviews", tls(ClientTlsMode::kDisable))},
       "shop", "shop", 9080, ClientTlsMode::kDisable, "shop/exact"},
      {"longer wildcard beats shorter", "pkg/config/host/names.go MoreSpecific",
       {destinationRule("shop", "short", "*.local", tls(ClientTlsMode::kIstioMutual)),
        destinationRule("shop", "long", "*.svc.cluster.local", tls(ClientTlsMode::kSimple))},
       "shop", "shop", 9080, ClientTlsMode::kSimple, "shop/long"},
      {"client namespace beats service namespace", "istio-mtls.md §7 surprise 6",
       {destinationRule("shop", "svc-ns", "reviews", tls(ClientTlsMode::kIstioMutual)),
        destinationRule("web", "client-ns", "reviews.shop.svc.cluster.local",
                        tls(ClientTlsMode::kDisable))},
       "web", "shop", 9080, ClientTlsMode::kDisable, "web/client-ns"},
      {"service namespace beats root namespace", "push_context.go destinationRule search order",
       {destinationRule("istio-system", "mesh", "*.local", tls(ClientTlsMode::kIstioMutual)),
        destinationRule("shop", "svc", "reviews", tls(ClientTlsMode::kDisable))},
       "web", "shop", 9080, ClientTlsMode::kDisable, "shop/svc"},
      {"root namespace as the fallback", "istio-mtls.md §2.2.3",
       {destinationRule("istio-system", "mesh", "*.local", tls(ClientTlsMode::kIstioMutual))},
       "web", "shop", 9080, ClientTlsMode::kIstioMutual, "istio-system/mesh"},
      {"a rule exported only to its namespace is invisible elsewhere",
       "TestSetDestinationRuleWithExportTo",
       {exported(destinationRule("shop", "private", "reviews", tls(ClientTlsMode::kDisable)), {"."})},
       "web", "shop", 9080, std::nullopt, ""},
      {"...and visible in its own namespace", "visibility.go '.'",
       {exported(destinationRule("shop", "private", "reviews", tls(ClientTlsMode::kDisable)), {"."})},
       "shop", "shop", 9080, ClientTlsMode::kDisable, "shop/private"},
      {"exportTo naming the client's namespace", "istio-mtls.md §2.2.4",
       {exported(destinationRule("shop", "to-web", "reviews", tls(ClientTlsMode::kDisable)),
                 {"web"})},
       "web", "shop", 9080, ClientTlsMode::kDisable, "shop/to-web"},
      {"port level replaces top level", "istio-mtls.md §2.2.6 GetPortLevelTrafficPolicy",
       {with_port(destinationRule("shop", "p", "reviews", tls(ClientTlsMode::kIstioMutual)), 9080,
                  tls(ClientTlsMode::kDisable))},
       "shop", "shop", 9080, ClientTlsMode::kDisable, "shop/p"},
      {"a port entry without tls leaves tls unset", "istio-mtls.md §2.2.6 (no inheritance)",
       {with_port(destinationRule("shop", "p", "reviews", tls(ClientTlsMode::kIstioMutual)), 9080,
                  std::nullopt)},
       "shop", "shop", 9080, std::nullopt, "shop/p"},
      {"other ports use the top level", "istio-mtls.md §2.2.6",
       {with_port(destinationRule("shop", "p", "reviews", tls(ClientTlsMode::kIstioMutual)), 9080,
                  tls(ClientTlsMode::kDisable))},
       "shop", "shop", 9443, ClientTlsMode::kIstioMutual, "shop/p"},
      {"merged rules: the oldest non-empty trafficPolicy wins", "destination_rule.go merge",
       {no_tls(destinationRule("shop", "a-empty", "reviews", std::nullopt, "2026-01-01T00:00:00Z")),
        destinationRule("shop", "c-new", "reviews", tls(ClientTlsMode::kSimple),
                        "2026-03-01T00:00:00Z"),
        destinationRule("shop", "b-old", "reviews", tls(ClientTlsMode::kDisable),
                        "2026-02-01T00:00:00Z")},
       "shop", "shop", 9080, ClientTlsMode::kDisable, "shop/b-old"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.name) + " [" + c.source + "]");
    const TlsResolution r = resolveClientTls(c.rules, mesh, c.client_ns, {}, kReviews,
                                             c.service_ns, c.port);
    ASSERT_EQ(r.tls.has_value(), c.want.has_value());
    if (c.want) {
      EXPECT_EQ(r.tls->mode, *c.want);
    }
    EXPECT_EQ(r.rule, c.want_rule);
  }
}

TEST(ResolveClientTls, WorkloadSelectorRulesApplyOnlyToMatchingClientsInTheirNamespace) {
  // istio-mtls.md §2.2.4: rules with workloadSelector are never exported.
  const config::MeshSettings mesh;
  auto dr = destinationRule("shop", "sel", "reviews", tls(ClientTlsMode::kDisable));
  dr.workload_selector = config::Labels{{"app", "web"}};
  const std::vector<config::DestinationRule> rules{dr};
  EXPECT_TRUE(resolveClientTls(rules, mesh, "shop", {{"app", "web"}}, kReviews, "shop", 9080).tls);
  EXPECT_FALSE(resolveClientTls(rules, mesh, "shop", {{"app", "db"}}, kReviews, "shop", 9080).tls);
  EXPECT_FALSE(resolveClientTls(rules, mesh, "web", {{"app", "web"}}, kReviews, "shop", 9080).tls);
}

}  // namespace
}  // namespace mutual::policy
