#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "config/mesh.h"
#include "policy/authz.h"
#include "policy/destination_rule.h"
#include "policy/linkerd_authz.h"
#include "policy/peer_authn.h"

namespace mutual::policy {

// The outcome vocabulary of istio-mtls.md §4.
enum class Outcome { kMtls, kPlaintext, kTls, kMutual, kPassthrough, kFailReset, kFailTls, kAuthzDenied };
std::string_view outcomeName(Outcome outcome);  // "MTLS", ..., "AUTHZ_DENIED"
bool succeeded(Outcome outcome);

// tls-check's STATUS column (istio-mtls.md §3).
enum class Status { kOk, kConflict, kAuto };
std::string_view statusName(Status status);

// What the client's side puts on the wire.
enum class ClientSends { kPlaintext, kIstioMtls, kSimpleTls, kMutualTls };

// How the server port's protocol is declared: HTTP-ish ports behave differently from TCP or
// auto-detected ports when TLS arrives unannounced (istio-mtls.md §1.6).
enum class PortProtocol { kAuto, kHttp, kTcp };

// The wire result of `sends` against a server in `mode` (nullopt: no sidecar), before
// authorization (istio-mtls.md §3 table).
Outcome wireOutcome(ClientSends sends, std::optional<MtlsMode> server_mode, PortProtocol protocol);

// One row of `mutual check tls`.
struct CheckRow {
  std::string client;            // "namespace/workload"
  std::string host;              // service FQDN
  uint32_t port = 0;             // service port
  uint32_t target_port = 0;      // workload port
  std::string server;            // "namespace/workload" of the endpoint, "" when none
  std::string server_mode;       // STRICT | PERMISSIVE | DISABLE | "-" (no sidecar)
  std::string client_tls;        // DISABLE | SIMPLE | MUTUAL | ISTIO_MUTUAL | AUTO | "-"
  std::string destination_rule;  // "namespace/name" or "-"
  std::string policy;            // the PeerAuthentication that decided the server mode, or "-"
  // The authorization that decided, when one did: an AuthorizationPolicy ("ns/name"), a Linkerd
  // authorization, Server accessPolicy or default policy ("linkerd default policy deny
  // (namespace shop annotation)"); "-" when none applies or the connection fails before.
  std::string authz = "-";
  Status status = Status::kOk;
  Outcome outcome = Outcome::kPlaintext;
  // One line for every row that is not OK or that fails, for a client without a proxy (no
  // sidecar, or the port in its skip-outbound-ports), and for a connection a Linkerd audit
  // policy lets through; "" otherwise.
  std::string reason;
};

// Evaluates the whole inventory. Build once, query many times: the construction indexes the
// inventory (endpoints per Service, and for every Service port and endpoint the server's
// effective mode and the AuthorizationPolicies that select it); each `check` caches
// DestinationRule lookups per (client namespace, workloadSelector rules matching the client,
// Service port). `config` must outlive the Simulator and not change under it.
class Simulator {
 public:
  Simulator(const config::MeshConfig& config, config::MeshSettings settings);

  // The effective mode of a workload (namespace, labels) on a workload port.
  ModeDecision mode(const std::string& namespace_name, const Labels& labels, uint32_t port) const;

  // Every (client workload, service host, port) pair, or only those matching `from`
  // ("NS/WORKLOAD") and `to` ("HOST:PORT"; HOST may be the FQDN, name.ns or name.ns.svc).
  // NotFound when `from` or `to` names nothing in the inventory.
  Result<std::vector<CheckRow>> check(const std::optional<std::string>& from,
                                      const std::optional<std::string>& to) const;

  // The rows of `check`, in the same order, handed to `sink` one at a time instead of
  // collected: a mesh of 1,000 workloads has ~10^5-10^6 rows, and holding them costs more
  // than computing them. Returns how many rows there were; the same errors as `check`.
  Result<size_t> forEachRow(const std::optional<std::string>& from,
                            const std::optional<std::string>& to,
                            const std::function<void(CheckRow&&)>& sink) const;

  const config::MeshSettings& settings() const { return settings_; }

 private:
  // The server side of one endpoint of a Service port: it does not depend on the client.
  struct Server {
    const config::Workload* workload = nullptr;  // nullptr: no endpoint
    std::string name;                            // "namespace/workload", "" when none
    uint32_t target_port = 0;
    std::optional<MtlsMode> mode;  // nullopt: no sidecar (on that port)
    std::string policy = "-";      // the PeerAuthentication that decided `mode`
    std::string note;              // why there is no mode, "" when there is one
    std::vector<config::AuthorizationPolicy> authz;  // the policies that select the workload
    LinkerdPortPolicy linkerd;  // the Linkerd Server of the port and its authorizations
  };
  // A destination: one port of a Service (or an external host) and its endpoints.
  struct Target {
    const config::Service* service = nullptr;  // nullptr: a host outside the inventory
    const config::ServicePort* port = nullptr;
    std::string host;
    PortProtocol protocol = PortProtocol::kAuto;
    MtlsMode namespace_mode = MtlsMode::kPermissive;  // what auto-mTLS infers (§2.3 step 2)
    std::vector<Server> servers;  // one per endpoint; a single empty one when none
    size_t index = 0;             // in targets_; SIZE_MAX for an external host
  };
  struct Client {
    const config::Workload* workload;
    std::string name;      // "namespace/workload"
    std::string spiffe_id;
  };
  // A check's DestinationRule lookups for clients that share a namespace and the
  // workloadSelector rules that select them (tlsCacheKey): one slot per target.
  using TlsSlots = std::vector<std::optional<TlsResolution>>;

  Target makeTarget(const config::Service* service, const config::ServicePort* port,
                    std::string host, size_t index) const;
  Server makeServer(const Target& target, const config::Workload* workload) const;
  std::string tlsCacheKey(const config::Workload& client) const;
  const TlsResolution& clientTls(const Client& client, const Target& target, TlsSlots& slots,
                                 TlsResolution& scratch) const;
  CheckRow evaluateEndpoint(const Client& client, const Target& target, const Server& server,
                            const TlsResolution& resolution) const;

  const config::MeshConfig& config_;
  config::MeshSettings settings_;
  std::vector<Target> targets_;  // every Service port, in inventory order
  // Namespace -> indexes (in config_.destination_rules) of its workloadSelector rules.
  std::map<std::string, std::vector<size_t>> selector_rules_;
};

// A client that would break if `scope` moved to STRICT.
struct MigrationBreak {
  CheckRow before;
  CheckRow after;
  std::string why;  // "no sidecar at the client", "DestinationRule ns/x sets DISABLE", ...
};

// What breaks if the namespace (or, with `namespace_name` empty, the mesh) moved to STRICT:
// the scope's namespace- or mesh-level PeerAuthentication replaced by STRICT, narrower
// policies left as they are.
Result<std::vector<MigrationBreak>> migrateToStrict(const config::MeshConfig& config,
                                                    const config::MeshSettings& settings,
                                                    const std::string& namespace_name);

}  // namespace mutual::policy
