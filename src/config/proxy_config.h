#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/error.h"
#include "config/mesh.h"
#include "config/yaml_field.h"
#include "spiffe/spiffe_id.h"

// proxy.yaml: what the sidecar proxy (`mutual proxy run -c proxy.yaml`) reads. The keys are a
// contract with the tools that write the file; docs/proxy.md ("Configuration reference")
// documents every key. Parsed strictly: unknown keys, wrong types and bad values are one
// InvalidArgument error "<file>:<line>: <field path>: <what is wrong>".
namespace mutual::config {

// ---- Addresses ------------------------------------------------------------------------------

// A TCP address: an IPv4 literal, an IPv6 literal (written in brackets) or a host name, and a
// port. Port 0 means "pick a free port" and is only accepted where the caller allows it.
struct HostPort {
  std::string host;  // "127.0.0.1", "::1" (no brackets), "localhost", "reviews.shop.svc..."
  uint16_t port = 0;

  // "127.0.0.1:80", "[::1]:80", "localhost:80".
  std::string str() const;
  // True when `host` is an IPv4 or IPv6 literal rather than a name to resolve.
  bool isIp() const;
  bool operator==(const HostPort&) const = default;
};

// Parses "1.2.3.4:80", "[::1]:80" or "name:80". The port is required and must be 1..65535, or
// 0 as well when `allow_zero_port`. An IPv6 literal must be in brackets; a name must be a DNS
// name (letters, digits, '-' and '.', labels of 1..63 characters). InvalidArgument naming the
// text and what is wrong otherwise (no file or line: callers add those).
Result<HostPort> parseHostPort(std::string_view text, bool allow_zero_port);

// ---- The configuration ----------------------------------------------------------------------

// A file path from the config: as written (for /config_dump) and resolved against the folder
// of the config file when relative.
struct ConfigPath {
  std::string written;
  std::string resolved;
  bool operator==(const ConfigPath&) const = default;
};

// The workload this proxy speaks for. Its SPIFFE ID is
// spiffe://<trust_domain>/ns/<namespace>/sa/<service_account>.
struct ProxyWorkload {
  std::string namespace_name;               // `namespace`, a DNS-1123 label
  std::string name;                         // a DNS-1123 subdomain
  std::string service_account = "default";  // a DNS-1123 subdomain
  Labels labels;
  Labels annotations;  // its pod annotations, as written
  // annotations[config.linkerd.io/default-inbound-policy], checked; nullopt when not set.
  std::optional<LinkerdDefaultPolicy> linkerd_default_inbound_policy;
};

// credentials.files: PEM files the proxy reads (and re-reads when they change).
struct FileCredentials {
  ConfigPath cert;    // the leaf certificate, optionally followed by intermediates
  ConfigPath key;     // its private key
  ConfigPath bundle;  // the trust bundle: CA certificates of the trust domain
};

// credentials.workload_api: a SPIFFE Workload API endpoint (a SPIRE agent or `mutual agent`).
struct WorkloadApiCredentials {
  std::string socket;  // as written: "/run/spire/agent.sock" or "unix:///run/spire/agent.sock"
  std::string path;    // the socket's filesystem path (the unix:// scheme removed)
};

using ProxyCredentials = std::variant<FileCredentials, WorkloadApiCredentials>;

// An inbound listener: mTLS (or plaintext, per PeerAuthentication) from the mesh, forwarded in
// plaintext to the application.
struct InboundListener {
  std::string name;   // optional; "" when not set
  uint16_t port = 0;  // the workload port that policies name (portLevelMtls, Server.port)
  HostPort listen;    // where the proxy accepts; port 0 picks a free port
  HostPort forward;   // where the application listens
  Location location;  // of the list item
};

// An outbound listener: plaintext from the application, mTLS to one destination service.
struct OutboundListener {
  std::string name;                          // optional; "" when not set
  HostPort listen;                           // where the application connects; port 0 allowed
  HostPort destination;                      // the service: "reviews.shop.svc.cluster.local:9080"
  std::vector<HostPort> endpoints;           // where to dial; at least one
  std::vector<spiffe::SpiffeId> identities;  // expected server IDs; empty: any of the trust domain
  Location location;                         // of the list item
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
std::string_view logLevelName(LogLevel level);  // "trace", ..., "error"

struct ProxyTimeouts {
  Seconds handshake{10};  // a TLS handshake (and ClientHello sniffing) must finish in this time
  Seconds connect{5};     // dialing an endpoint or the application
  Seconds idle{3600};     // a connection with no bytes either way is closed; 0: never
  Seconds drain{30};      // on shutdown, how long open connections may finish; 0: close at once
};

// tls: settings of the proxy's own TLS.
struct ProxyTls {
  // Resume TLS sessions between mutual proxies (one stateful ticket per handshake). Off makes
  // every connection a full handshake (for benchmarks and troubleshooting).
  bool session_resumption = true;
  // Sessions the inbound side keeps for resumption (stateful tickets, about 7 KB each with the
  // client's certificate); the oldest goes when it is full. Same default as
  // tls::ServerContext::kDefaultSessionCacheSize (config does not depend on tls).
  uint32_t session_cache_size = 1024;
};

struct ProxyConfig {
  std::string file;      // the config file as the caller named it ("" for a string)
  std::string base_dir;  // relative paths resolve against this ("" keeps them relative)

  int version = 1;
  ProxyWorkload workload;
  std::string trust_domain;  // a SPIFFE trust domain name, "cluster.local"
  ProxyCredentials credentials;
  std::vector<ConfigPath> policies;  // manifest files or folders (see loadManifests)
  MeshSettings mesh;                 // mesh.trust_domain is `trust_domain`
  std::vector<InboundListener> inbound;
  std::vector<OutboundListener> outbound;
  HostPort admin{"127.0.0.1", 15000};
  // nullopt: access logging is off (`access_log: off` or "").
  std::optional<ConfigPath> access_log = ConfigPath{"/dev/stdout", "/dev/stdout"};
  Location access_log_location;  // of the key, for errors about the file
  LogLevel log_level = LogLevel::kInfo;
  unsigned workers = 0;  // 0: one per CPU core
  uint32_t max_connections = 65536;
  ProxyTimeouts timeouts;
  ProxyTls tls;

  // spiffe://<trust_domain>/ns/<namespace>/sa/<service_account>.
  std::string workloadSpiffeId() const;
};

// Parses proxy.yaml text. `file_name` names the file in errors; relative paths are resolved
// against `base_dir` (kept relative when it is ""). Errors: InvalidArgument
// "<file>:<line>: <field path>: <message>"; "<file>:<line>:<column>: invalid YAML: ..." for
// malformed YAML. An empty document is an error (workload, trust_domain and credentials are
// required).
Result<ProxyConfig> parseProxyConfig(std::string_view yaml, const std::string& file_name,
                                     const std::string& base_dir);

// Reads and parses `path`; relative paths in it resolve against the file's folder (made
// absolute, so a later chdir does not change them). NotFound when the file does not exist.
Result<ProxyConfig> loadProxyConfig(const std::string& path);

// The effective configuration for the admin /config_dump: every key of proxy.yaml with
// defaults applied and paths as written, so it reads back with parseProxyConfig to the same
// values (given the same base_dir); plus "resolved_paths" (field path -> resolved path) and
// "source" {"file", "base_dir"}, which proxy.yaml does not accept.
nlohmann::json toJson(const ProxyConfig& config);

}  // namespace mutual::config
