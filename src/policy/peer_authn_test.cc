#include <gtest/gtest.h>

#include "policy/peer_authn.h"
#include "policy/testing.h"

namespace mutual::policy {
namespace {

using config::MtlsMode;
using testing::peerAuthn;
constexpr auto kUnset = MtlsMode::kUnset;
constexpr auto kDisable = MtlsMode::kDisable;
constexpr auto kPermissive = MtlsMode::kPermissive;
constexpr auto kStrict = MtlsMode::kStrict;
const std::string kRoot = "istio-system";

struct ModeCase {
  const char* name;
  const char* source;  // where the expectation comes from
  std::vector<config::PeerAuthentication> policies;
  std::string ns;
  config::Labels labels;
  uint32_t port;
  MtlsMode want;
  Level want_level;
  std::string want_policy;
};

TEST(EffectiveMode, FollowsTheReference) {
  const config::Labels app{{"app", "pay"}};
  const std::vector<ModeCase> cases = {
      {"nothing configured is PERMISSIVE", "istio-mtls.md §1.5; policy_applier_test 'no policy'",
       {}, "shop", app, 8080, kPermissive, Level::kDefault, ""},
      {"mesh STRICT applies everywhere", "istio-mtls.md §1.3 mesh level",
       {peerAuthn(kRoot, "default", kStrict)}, "shop", app, 8080, kStrict, Level::kMesh,
       "istio-system/default"},
      {"mesh UNSET is PERMISSIVE", "istio-mtls.md §1.5 table row 2",
       {peerAuthn(kRoot, "default", kUnset)}, "shop", app, 8080, kPermissive, Level::kDefault, ""},
      {"namespace DISABLE under mesh STRICT", "istio-mtls.md §1.5 'narrower scope wins'",
       {peerAuthn(kRoot, "default", kStrict), peerAuthn("shop", "ns", kDisable)}, "shop", app,
       8080, kDisable, Level::kNamespace, "shop/ns"},
      {"namespace UNSET inherits mesh", "istio-mtls.md §1.5 table",
       {peerAuthn(kRoot, "default", kStrict), peerAuthn("shop", "ns", kUnset)}, "shop", app, 8080,
       kStrict, Level::kMesh, "istio-system/default"},
      {"another namespace's policy is never considered", "istio-mtls.md §1.3 candidate set",
       {peerAuthn("other", "ns", kStrict)}, "shop", app, 8080, kPermissive, Level::kDefault, ""},
      {"workload STRICT over namespace PERMISSIVE", "istio-mtls.md §1.3 workload level",
       {peerAuthn("shop", "ns", kPermissive), peerAuthn("shop", "wl", kStrict, app)}, "shop", app,
       8080, kStrict, Level::kWorkload, "shop/wl"},
      {"selector must be a subset of the labels", "authentication.go labels.SubsetOf",
       {peerAuthn("shop", "wl", kStrict, config::Labels{{"app", "pay"}, {"v", "2"}})}, "shop", app,
       8080, kPermissive, Level::kDefault, ""},
      {"workload UNSET inherits namespace", "istio-mtls.md §1.5 table",
       {peerAuthn("shop", "ns", kDisable), peerAuthn("shop", "wl", kUnset, app)}, "shop", app, 8080,
       kDisable, Level::kNamespace, "shop/ns"},
      {"port entry overrides for its port", "peer_authentication.proto portLevelMtls example",
       {peerAuthn("shop", "wl", kStrict, app, {{9090, kDisable}})}, "shop", app, 9090, kDisable,
       Level::kPort, "shop/wl"},
      {"other ports keep the workload result", "istio-mtls.md §1.5 'Port not listed'",
       {peerAuthn("shop", "wl", kStrict, app, {{9090, kDisable}})}, "shop", app, 8080, kStrict,
       Level::kWorkload, "shop/wl"},
      {"UNSET port entry inherits the workload result", "istio-mtls.md §7 surprise 3",
       {peerAuthn(kRoot, "default", kStrict), peerAuthn("shop", "wl", kUnset, app, {{8080, kUnset}})},
       "shop", app, 8080, kStrict, Level::kMesh, "istio-system/default"},
      {"root-namespace selector policy is ignored", "policy_applier_test 'ignore non-emptypb "
       "selector in root namespace'",
       {peerAuthn(kRoot, "sel", kDisable, app)}, "shop", app, 8080, kPermissive, Level::kDefault,
       ""},
      {"...even for workloads in the root namespace", "istio-mtls.md §7 surprise 1",
       {peerAuthn(kRoot, "sel", kDisable, app)}, kRoot, app, 8080, kPermissive, Level::kDefault, ""},
      {"root namespace-wide policy is only the mesh policy", "ComposePeerAuthentication",
       {peerAuthn(kRoot, "default", kStrict)}, kRoot, app, 8080, kStrict, Level::kMesh,
       "istio-system/default"},
      {"empty matchLabels is namespace-wide", "istio-mtls.md §1.3 'including matchLabels: {}'",
       {peerAuthn("shop", "ns", kStrict, config::Labels{})}, "shop", app, 8080, kStrict,
       Level::kNamespace, "shop/ns"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.name) + " [" + c.source + "]");
    const ModeDecision d = effectiveMode(c.policies, kRoot, c.ns, c.labels, c.port);
    EXPECT_EQ(d.mode, c.want);
    EXPECT_EQ(d.level, c.want_level);
    EXPECT_EQ(d.policy, c.want_policy);
  }
}

TEST(EffectiveMode, OldestWinsAtEachLevelThenName) {
  // istio-mtls.md §1.4; policy_applier_test "multiple mesh/namespace/workload policy".
  const config::Labels app{{"app", "pay"}};
  std::vector<config::PeerAuthentication> ps = {
      peerAuthn("shop", "newer", kDisable, {}, {}, "2026-01-02T00:00:00Z"),
      peerAuthn("shop", "older", kStrict, {}, {}, "2026-01-01T00:00:00Z"),
  };
  EXPECT_EQ(effectiveMode(ps, kRoot, "shop", app, 80).policy, "shop/older");
  EXPECT_EQ(effectiveMode(ps, kRoot, "shop", app, 80).mode, kStrict);

  // Same timestamp: the lexicographically smallest name wins.
  ps = {peerAuthn("shop", "b", kDisable, {}, {}, "2026-01-01T00:00:00Z"),
        peerAuthn("shop", "a", kStrict, {}, {}, "2026-01-01T00:00:00Z")};
  EXPECT_EQ(effectiveMode(ps, kRoot, "shop", app, 80).policy, "shop/a");

  // Two matching workload policies with different selectors: oldest wins, port entries of the
  // loser are ignored, nothing is merged.
  ps = {peerAuthn("shop", "wl-old", kStrict, app, {}, "2026-01-01T00:00:00Z"),
        peerAuthn("shop", "wl-new", kStrict, config::Labels{{"app", "pay"}}, {{9090, kDisable}},
                  "2026-02-01T00:00:00Z")};
  const auto d = effectiveMode(ps, kRoot, "shop", app, 9090);
  EXPECT_EQ(d.mode, kStrict);
  EXPECT_EQ(d.policy, "shop/wl-old");
  EXPECT_FALSE(d.port_entry);
}

TEST(NamespaceMode, IgnoresWorkloadSelectors) {
  // istio-mtls.md §2.3 step 2; cluster_test TestAutoMTLSClusterIgnoreWorkloadLevelPeerAuthn.
  const std::vector<config::PeerAuthentication> ps = {
      peerAuthn(kRoot, "default", kStrict),
      peerAuthn("shop", "wl", kDisable, config::Labels{{"app", "pay"}}),
  };
  EXPECT_EQ(namespaceMode(ps, kRoot, "shop"), kStrict);
  EXPECT_EQ(namespaceMode({peerAuthn("shop", "ns", kDisable)}, kRoot, "shop"), kDisable);
  EXPECT_EQ(namespaceMode({}, kRoot, "shop"), kPermissive);
}

TEST(SelectorMatches, IsASubsetTest) {
  EXPECT_TRUE(selectorMatches({}, {{"a", "1"}}));
  EXPECT_TRUE(selectorMatches({{"a", "1"}}, {{"a", "1"}, {"b", "2"}}));
  EXPECT_FALSE(selectorMatches({{"a", "1"}}, {{"a", "2"}}));
  EXPECT_FALSE(selectorMatches({{"a", "1"}}, {}));
}

}  // namespace
}  // namespace mutual::policy
