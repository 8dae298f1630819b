#include "policy/peer_authn.h"

#include "base/time.h"

namespace mutual::policy {

std::string_view modeName(MtlsMode mode) {
  switch (mode) {
    case MtlsMode::kUnset: return "UNSET";
    case MtlsMode::kDisable: return "DISABLE";
    case MtlsMode::kPermissive: return "PERMISSIVE";
    case MtlsMode::kStrict: return "STRICT";
  }
  return "UNSET";
}

std::string_view levelName(Level level) {
  switch (level) {
    case Level::kDefault: return "default";
    case Level::kMesh: return "mesh";
    case Level::kNamespace: return "namespace";
    case Level::kWorkload: return "workload";
    case Level::kPort: return "port";
  }
  return "default";
}

bool selectorMatches(const Labels& selector, const Labels& labels) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

namespace {

// Timestamps compare as instants when both parse, else as text; absent sorts first.
int compareTimestamps(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  if (a.empty()) return -1;
  if (b.empty()) return 1;
  auto ta = parseTime(a);
  auto tb = parseTime(b);
  if (ta && tb) return *ta < *tb ? -1 : (*tb < *ta ? 1 : 0);
  return a < b ? -1 : 1;
}

std::string qualified(const config::PeerAuthentication* p) {
  return p == nullptr ? "" : p->meta.namespace_name + "/" + p->meta.name;
}

void keepOldest(const config::PeerAuthentication*& slot, const config::PeerAuthentication& p) {
  if (slot == nullptr || olderThan(p.meta, slot->meta)) slot = &p;
}

bool hasSelector(const config::PeerAuthentication& p) {
  return p.selector.has_value() && !p.selector->empty();
}

}  // namespace

bool olderThan(const config::PolicyMeta& a, const config::PolicyMeta& b) {
  const int t = compareTimestamps(a.creation_timestamp, b.creation_timestamp);
  if (t != 0) return t < 0;
  if (a.name != b.name) return a.name < b.name;
  return a.namespace_name < b.namespace_name;
}

SelectedPolicies selectPeerAuthentications(const std::vector<config::PeerAuthentication>& all,
                                           const std::string& root_namespace,
                                           const std::string& namespace_name,
                                           const Labels& labels) {
  SelectedPolicies out;
  for (const auto& p : all) {
    const bool in_root = p.meta.namespace_name == root_namespace;
    const bool in_own = p.meta.namespace_name == namespace_name;
    if (!hasSelector(p)) {
      // A namespace-wide policy in the root namespace is the mesh policy, and only that, even
      // for workloads living in the root namespace (ComposePeerAuthentication).
      if (in_root) {
        keepOldest(out.mesh, p);
      } else if (in_own) {
        keepOldest(out.namespace_level, p);
      }
    } else if (in_own && !in_root && selectorMatches(*p.selector, labels)) {
      keepOldest(out.workload, p);
    }
  }
  return out;
}

ModeDecision effectiveMode(const std::vector<config::PeerAuthentication>& all,
                           const std::string& root_namespace, const std::string& namespace_name,
                           const Labels& labels, uint32_t port) {
  const SelectedPolicies sel = selectPeerAuthentications(all, root_namespace, namespace_name, labels);
  ModeDecision d;
  d.mesh_policy = qualified(sel.mesh);
  d.namespace_policy = qualified(sel.namespace_level);
  d.workload_policy = qualified(sel.workload);
  const auto apply = [&](const config::PeerAuthentication* p, Level level) {
    if (p != nullptr && p->mode != MtlsMode::kUnset) {
      d.mode = p->mode;
      d.level = level;
      d.policy = qualified(p);
    }
  };
  apply(sel.mesh, Level::kMesh);
  apply(sel.namespace_level, Level::kNamespace);
  apply(sel.workload, Level::kWorkload);
  if (sel.workload != nullptr) {
    auto it = sel.workload->port_level.find(port);
    if (it != sel.workload->port_level.end()) {
      d.port_entry = port;
      if (it->second != MtlsMode::kUnset) {
        d.mode = it->second;
        d.level = Level::kPort;
        d.policy = qualified(sel.workload);
      }
    }
  }
  return d;
}

MtlsMode namespaceMode(const std::vector<config::PeerAuthentication>& all,
                       const std::string& root_namespace, const std::string& namespace_name) {
  const SelectedPolicies sel = selectPeerAuthentications(all, root_namespace, namespace_name, {});
  MtlsMode mode = MtlsMode::kPermissive;
  if (sel.mesh != nullptr && sel.mesh->mode != MtlsMode::kUnset) mode = sel.mesh->mode;
  if (sel.namespace_level != nullptr && sel.namespace_level->mode != MtlsMode::kUnset) {
    mode = sel.namespace_level->mode;
  }
  return mode;
}

}  // namespace mutual::policy
