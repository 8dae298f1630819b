#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/mesh.h"

namespace mutual::policy {

using config::ClientTls;
using config::ClientTlsMode;

std::string_view clientTlsModeName(ClientTlsMode mode);  // "DISABLE", ..., "ISTIO_MUTUAL"

// A DestinationRule host as istiod normalises it (istio-mtls.md §2.2.1): `*` and IPs stay; a
// name without a dot becomes <name>.<dr namespace>.svc.<suffix>; dotted names are FQDNs.
std::string normalizeHost(const std::string& host, const std::string& dr_namespace,
                          const std::string& domain_suffix);

// True when `pattern` (exact, `*`, or `*.suffix`) matches the FQDN `host`.
bool hostMatches(const std::string& pattern, const std::string& host);

// Whether a DR is visible from `client_namespace` (exportTo: absent or `*` everywhere, `.` its
// own namespace, names those namespaces).
bool exportedTo(const config::DestinationRule& dr, const std::string& client_namespace);

// The DestinationRule TLS a client uses for host:port.
struct TlsResolution {
  std::optional<ClientTls> tls;  // nullopt: no DR or no tls for this port (auto-mTLS applies)
  std::string rule;              // "namespace/name" of the DR used, "" when none
  bool port_level = false;       // taken from portLevelSettings
};

// Finds the DestinationRule for a client (namespace, labels) calling `host` (an FQDN) on
// service `port` (istio-mtls.md §2.2): the client's namespace first (workloadSelector rules
// only for matching clients), then the service's namespace, then the root namespace, each
// only if exported to the client; within a namespace the most specific matching host wins and
// rules for the same host merge (the oldest non-empty trafficPolicy wins). A
// portLevelSettings entry for `port` replaces the top-level policy.
TlsResolution resolveClientTls(const std::vector<config::DestinationRule>& rules,
                               const config::MeshSettings& mesh,
                               const std::string& client_namespace,
                               const config::Labels& client_labels, const std::string& host,
                               const std::string& service_namespace, uint32_t port);

}  // namespace mutual::policy
