#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/mesh.h"

namespace mutual::policy {

using config::Labels;
using config::MtlsMode;

std::string_view modeName(MtlsMode mode);  // "UNSET", "DISABLE", "PERMISSIVE", "STRICT"

enum class Level { kDefault, kMesh, kNamespace, kWorkload, kPort };
std::string_view levelName(Level level);  // "default", "mesh", "namespace", "workload", "port"

// The effective mode of one workload port and what decided it.
struct ModeDecision {
  MtlsMode mode = MtlsMode::kPermissive;  // never UNSET
  Level level = Level::kDefault;          // the narrowest level whose setting was used
  std::string policy;                     // "namespace/name" of that policy, "" for the default
  std::optional<uint32_t> port_entry;     // the portLevelMtls key used, if any
  // The one policy chosen at each level (oldest wins), for explanations; "" when none.
  std::string mesh_policy, namespace_policy, workload_policy;
};

// The PeerAuthentications that matter for a workload, one per level (istio-mtls.md §1.3, §1.4):
// mesh = root namespace without selector; namespace = the workload's namespace without
// selector; workload = the workload's namespace with a selector that is a subset of `labels`.
// Root-namespace policies with a selector are ignored. Oldest creationTimestamp wins, then
// name.
struct SelectedPolicies {
  const config::PeerAuthentication* mesh = nullptr;
  const config::PeerAuthentication* namespace_level = nullptr;
  const config::PeerAuthentication* workload = nullptr;
};
SelectedPolicies selectPeerAuthentications(const std::vector<config::PeerAuthentication>& all,
                                           const std::string& root_namespace,
                                           const std::string& namespace_name,
                                           const Labels& labels);

// The effective mode for a workload port (istio-mtls.md §1.5): PERMISSIVE by default; each
// non-UNSET level overrides the wider one; a workload policy's port entry overrides for that
// port, an UNSET entry inheriting the workload-level result.
ModeDecision effectiveMode(const std::vector<config::PeerAuthentication>& all,
                           const std::string& root_namespace, const std::string& namespace_name,
                           const Labels& labels, uint32_t port);

// The mode auto-mTLS infers for a service's namespace: mesh and namespace policies only,
// workload selectors ignored (istio-mtls.md §2.3 step 2).
MtlsMode namespaceMode(const std::vector<config::PeerAuthentication>& all,
                       const std::string& root_namespace, const std::string& namespace_name);

// True when every selector key is in `labels` with the same value (an empty selector matches).
bool selectorMatches(const Labels& selector, const Labels& labels);

// Ordering used for "oldest wins": (creationTimestamp, name, namespace) ascending; a missing
// timestamp sorts first.
bool olderThan(const config::PolicyMeta& a, const config::PolicyMeta& b);

}  // namespace mutual::policy
