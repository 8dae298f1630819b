#include "policy/destination_rule.h"

#include <algorithm>

#include <arpa/inet.h>

#include "policy/peer_authn.h"

namespace mutual::policy {

std::string_view clientTlsModeName(ClientTlsMode mode) {
  switch (mode) {
    case ClientTlsMode::kDisable: return "DISABLE";
    case ClientTlsMode::kSimple: return "SIMPLE";
    case ClientTlsMode::kMutual: return "MUTUAL";
    case ClientTlsMode::kIstioMutual: return "ISTIO_MUTUAL";
  }
  return "DISABLE";
}

namespace {

bool isIp(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// More specific first: non-wildcards before wildcards, then longer patterns.
bool moreSpecific(const std::string& a, const std::string& b) {
  const bool wa = !a.empty() && a[0] == '*';
  const bool wb = !b.empty() && b[0] == '*';
  if (wa != wb) return !wa;
  return a.size() > b.size();
}

std::string qualified(const config::DestinationRule& dr) {
  return dr.meta.namespace_name + "/" + dr.meta.name;
}

struct Candidate {
  const config::DestinationRule* dr;
  std::string host;  // normalised
};

// The rules for the most specific host among `candidates` that matches `host`, oldest first.
std::vector<const config::DestinationRule*> bestMatch(std::vector<Candidate> candidates,
                                                      const std::string& host) {
  std::string best;
  bool found = false;
  for (const auto& c : candidates) {
    if (!hostMatches(c.host, host)) continue;
    if (!found || moreSpecific(c.host, best)) {
      best = c.host;
      found = true;
    }
  }
  std::vector<const config::DestinationRule*> out;
  if (!found) return out;
  for (const auto& c : candidates) {
    if (c.host == best) out.push_back(c.dr);
  }
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    return olderThan(a->meta, b->meta);
  });
  return out;
}

TlsResolution resolveFrom(const std::vector<const config::DestinationRule*>& merged,
                          uint32_t port) {
  TlsResolution r;
  // Merging: the oldest rule with a non-empty trafficPolicy provides it.
  const config::DestinationRule* chosen = merged.front();
  for (const auto* dr : merged) {
    if (dr->traffic_policy) {
      chosen = dr;
      break;
    }
  }
  r.rule = qualified(*chosen);
  if (!chosen->traffic_policy) return r;
  const auto& tp = *chosen->traffic_policy;
  auto it = tp.port_level.find(port);
  if (it != tp.port_level.end()) {
    r.port_level = true;
    r.tls = it->second;  // replaces the top level; no inheritance
    return r;
  }
  r.tls = tp.tls;
  return r;
}

}  // namespace

std::string normalizeHost(const std::string& host, const std::string& dr_namespace,
                          const std::string& domain_suffix) {
  if (host == "*" || isIp(host) || host.find('.') != std::string::npos) return host;
  return host + "." + dr_namespace + ".svc." + domain_suffix;
}

bool hostMatches(const std::string& pattern, const std::string& host) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern[0] == '*') {
    const std::string suffix = pattern.substr(1);  // ".local"
    return host.size() > suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return pattern == host;
}

bool exportedTo(const config::DestinationRule& dr, const std::string& client_namespace) {
  if (dr.export_to.empty()) return true;
  for (const auto& e : dr.export_to) {
    if (e == "*") return true;
    if (e == "." && dr.meta.namespace_name == client_namespace) return true;
    if (e == client_namespace) return true;
  }
  return false;
}

TlsResolution resolveClientTls(const std::vector<config::DestinationRule>& rules,
                               const config::MeshSettings& mesh,
                               const std::string& client_namespace,
                               const config::Labels& client_labels, const std::string& host,
                               const std::string& service_namespace, uint32_t port) {
  std::vector<std::string> order{client_namespace};
  if (service_namespace != client_namespace) order.push_back(service_namespace);
  if (mesh.root_namespace != client_namespace && mesh.root_namespace != service_namespace) {
    order.push_back(mesh.root_namespace);
  }
  for (const auto& ns : order) {
    std::vector<Candidate> selected;  // workloadSelector rules matching this client
    std::vector<Candidate> plain;
    for (const auto& dr : rules) {
      if (dr.meta.namespace_name != ns) continue;
      const std::string normalized = normalizeHost(dr.host, ns, mesh.domain_suffix);
      if (dr.workload_selector && !dr.workload_selector->empty()) {
        // Never exported: only for matching clients in the rule's own namespace.
        if (ns == client_namespace && selectorMatches(*dr.workload_selector, client_labels)) {
          selected.push_back({&dr, normalized});
        }
        continue;
      }
      if (exportedTo(dr, client_namespace)) plain.push_back({&dr, normalized});
    }
    auto best = bestMatch(std::move(selected), host);
    if (best.empty()) best = bestMatch(std::move(plain), host);
    if (!best.empty()) return resolveFrom(best, port);
  }
  return {};
}

}  // namespace mutual::policy
