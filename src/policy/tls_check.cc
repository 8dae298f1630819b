#include "policy/tls_check.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>

#include "base/encoding.h"

namespace mutual::policy {

using config::Workload;

std::string_view outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kMtls: return "MTLS";
    case Outcome::kPlaintext: return "PLAINTEXT";
    case Outcome::kTls: return "TLS";
    case Outcome::kMutual: return "MUTUAL";
    case Outcome::kPassthrough: return "PASSTHROUGH";
    case Outcome::kFailReset: return "FAIL_RESET";
    case Outcome::kFailTls: return "FAIL_TLS";
    case Outcome::kAuthzDenied: return "AUTHZ_DENIED";
  }
  return "FAIL_RESET";
}

bool succeeded(Outcome outcome) {
  return outcome != Outcome::kFailReset && outcome != Outcome::kFailTls &&
         outcome != Outcome::kAuthzDenied;
}

std::string_view statusName(Status status) {
  switch (status) {
    case Status::kOk: return "OK";
    case Status::kConflict: return "CONFLICT";
    case Status::kAuto: return "AUTO";
  }
  return "OK";
}

Outcome wireOutcome(ClientSends sends, std::optional<MtlsMode> server_mode,
                    PortProtocol protocol) {
  const bool http = protocol == PortProtocol::kHttp;
  switch (sends) {
    case ClientSends::kPlaintext:
      return server_mode == MtlsMode::kStrict ? Outcome::kFailReset : Outcome::kPlaintext;
    case ClientSends::kIstioMtls:
      if (!server_mode || *server_mode == MtlsMode::kDisable) return Outcome::kFailTls;
      return Outcome::kMtls;
    case ClientSends::kSimpleTls:
    case ClientSends::kMutualTls:
      if (!server_mode) {
        return sends == ClientSends::kSimpleTls ? Outcome::kTls : Outcome::kMutual;
      }
      if (*server_mode == MtlsMode::kStrict) return Outcome::kFailTls;
      // PERMISSIVE and DISABLE forward TLS they do not terminate, except on HTTP ports.
      return http ? Outcome::kFailTls : Outcome::kPassthrough;
  }
  return Outcome::kFailReset;
}

namespace {

bool contains(const std::vector<uint32_t>& ports, uint32_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

PortProtocol protocolOf(const config::ServicePort& port) {
  std::string p = port.app_protocol;
  if (p.empty()) {
    const auto dash = port.name.find('-');
    p = port.name.substr(0, dash);
  }
  p = asciiLower(p);
  if (p == "http" || p == "http2" || p == "grpc" || p == "grpc-web" || p == "h2c") {
    return PortProtocol::kHttp;
  }
  if (p == "tcp" || p == "tls" || p == "https" || p == "mongo" || p == "mysql" || p == "redis") {
    return PortProtocol::kTcp;
  }
  return PortProtocol::kAuto;
}

std::string qualifiedName(const config::PolicyMeta& meta) {
  return meta.namespace_name + "/" + meta.name;
}

std::string spiffeIdOf(const Workload& w, const std::string& trust_domain) {
  return "spiffe://" + trust_domain + "/ns/" + w.meta.namespace_name + "/sa/" + w.service_account;
}

uint32_t targetPortFor(const config::ServicePort& port, const Workload* server) {
  if (port.target_port != 0) return port.target_port;
  if (!port.target_port_name.empty() && server != nullptr) {
    for (const auto& cp : server->ports) {
      if (cp.name == port.target_port_name) return cp.port;
    }
  }
  return port.port;
}

Status statusFor(bool client_sidecar, const ClientTls* tls, bool auto_mtls,
                 std::optional<MtlsMode> server_mode, Outcome outcome) {
  if (!client_sidecar) return succeeded(outcome) ? Status::kOk : Status::kConflict;
  if (!tls) return auto_mtls ? Status::kAuto : Status::kOk;
  const MtlsMode server = server_mode.value_or(MtlsMode::kDisable);
  if (tls->mode == ClientTlsMode::kDisable &&
      (server == MtlsMode::kDisable || server == MtlsMode::kPermissive)) {
    return Status::kOk;
  }
  if (tls->mode == ClientTlsMode::kIstioMutual &&
      (server == MtlsMode::kPermissive || server == MtlsMode::kStrict)) {
    return Status::kOk;
  }
  return Status::kConflict;
}

}  // namespace

Simulator::Simulator(const config::MeshConfig& config, config::MeshSettings settings)
    : config_(config), settings_(std::move(settings)) {
  for (size_t i = 0; i < config_.destination_rules.size(); ++i) {
    const auto& dr = config_.destination_rules[i];
    if (dr.workload_selector && !dr.workload_selector->empty()) {
      selector_rules_[dr.meta.namespace_name].push_back(i);
    }
  }
  for (const auto& svc : config_.services) {
    const std::string fqdn =
        svc.meta.name + "." + svc.meta.namespace_name + ".svc." + settings_.domain_suffix;
    for (const auto& p : svc.ports) targets_.push_back(makeTarget(&svc, &p, fqdn, targets_.size()));
  }
}

ModeDecision Simulator::mode(const std::string& namespace_name, const Labels& labels,
                             uint32_t port) const {
  return effectiveMode(config_.peer_authentications, settings_.root_namespace, namespace_name,
                       labels, port);
}

Simulator::Target Simulator::makeTarget(const config::Service* service,
                                        const config::ServicePort* port, std::string host,
                                        size_t index) const {
  Target t;
  t.service = service;
  t.port = port;
  t.host = std::move(host);
  t.protocol = protocolOf(*port);
  t.index = index;
  if (service != nullptr && !service->external) {
    t.namespace_mode = namespaceMode(config_.peer_authentications, settings_.root_namespace,
                                     service->meta.namespace_name);
  }
  if (service != nullptr && service->selector && !service->selector->empty()) {
    for (const auto& w : config_.workloads) {
      if (w.meta.namespace_name == service->meta.namespace_name &&
          selectorMatches(*service->selector, w.labels)) {
        t.servers.push_back(makeServer(t, &w));
      }
    }
  }
  if (t.servers.empty()) t.servers.push_back(makeServer(t, nullptr));
  return t;
}

Simulator::Server Simulator::makeServer(const Target& target, const Workload* workload) const {
  Server s;
  s.workload = workload;
  s.target_port = targetPortFor(*target.port, workload);
  const bool external = target.service == nullptr || target.service->external;
  if (workload == nullptr) {
    s.note = external ? "the destination is outside the mesh"
                      : "the service has no endpoints in the inventory";
    return s;
  }
  s.name = qualifiedName(workload->meta);
  if (!workload->sidecar) {
    s.note = "the server has no sidecar";
  } else if (contains(workload->linkerd_skip_inbound_ports, s.target_port)) {
    s.note = "port " + std::to_string(s.target_port) +
             " is in the server's config.linkerd.io/skip-inbound-ports";
  } else {
    const ModeDecision d = mode(workload->meta.namespace_name, workload->labels, s.target_port);
    s.mode = d.mode;
    if (!d.policy.empty()) s.policy = d.policy;
    // The policies `authorize` would consider for this workload, found once.
    for (const auto& p : config_.authorization_policies) {
      const bool in_scope = p.meta.namespace_name == workload->meta.namespace_name ||
                            p.meta.namespace_name == settings_.root_namespace;
      if (!in_scope) continue;
      if (p.selector && !p.selector->empty() && !selectorMatches(*p.selector, workload->labels)) {
        continue;
      }
      s.authz.push_back(p);
    }
    s.linkerd =
        linkerdPortPolicy(config_, settings_, workload->meta.namespace_name, workload->labels,
                          workload->ports, s.target_port, workload->linkerd_default_inbound_policy);
  }
  return s;
}

std::string Simulator::tlsCacheKey(const Workload& client) const {
  // A DestinationRule lookup depends on the client only through its namespace and the
  // workloadSelector rules of that namespace that select it.
  std::string key = client.meta.namespace_name;
  if (auto it = selector_rules_.find(key); it != selector_rules_.end()) {
    for (size_t i : it->second) {
      if (selectorMatches(*config_.destination_rules[i].workload_selector, client.labels)) {
        key += "," + std::to_string(i);
      }
    }
  }
  return key;
}

const TlsResolution& Simulator::clientTls(const Client& client, const Target& target,
                                          TlsSlots& slots, TlsResolution& scratch) const {
  const auto lookup = [&] {
    return resolveClientTls(config_.destination_rules, settings_,
                            client.workload->meta.namespace_name, client.workload->labels,
                            target.host,
                            target.service ? target.service->meta.namespace_name : "",
                            target.port->port);
  };
  if (target.index == SIZE_MAX) {
    scratch = lookup();
    return scratch;
  }
  if (slots.empty()) slots.resize(targets_.size());
  auto& slot = slots[target.index];
  if (!slot) slot = lookup();
  return *slot;
}

CheckRow Simulator::evaluateEndpoint(const Client& client, const Target& target,
                                     const Server& server, const TlsResolution& resolution) const {
  const Workload& client_workload = *client.workload;
  CheckRow row;
  row.client = client.name;
  row.host = target.host;
  row.port = target.port->port;
  row.target_port = server.target_port;
  row.server = server.name;
  const bool external = target.service == nullptr || target.service->external;

  // The server side (precomputed).
  const std::optional<MtlsMode>& server_mode = server.mode;
  const std::string& server_note = server.note;
  row.server_mode = server_mode ? std::string(modeName(*server_mode)) : "-";
  row.policy = server_mode ? server.policy : "-";

  // The client side.
  const bool client_sidecar =
      client_workload.sidecar && !contains(client_workload.linkerd_skip_outbound_ports, row.port);
  ClientSends sends = ClientSends::kPlaintext;
  const ClientTls* tls = nullptr;  // the DestinationRule's, nullptr when it sets none
  std::string client_note;
  row.destination_rule = "-";
  if (!client_sidecar) {
    row.client_tls = "-";
    client_note = client_workload.sidecar
                      ? "port " + std::to_string(row.port) +
                            " is in the client's config.linkerd.io/skip-outbound-ports"
                      : "the client has no sidecar";
  } else {
    const TlsResolution& r = resolution;
    if (r.tls) tls = &*r.tls;
    if (!r.rule.empty()) row.destination_rule = r.rule;
    if (tls) {
      row.client_tls = clientTlsModeName(tls->mode);
      switch (tls->mode) {
        case ClientTlsMode::kDisable: sends = ClientSends::kPlaintext; break;
        case ClientTlsMode::kIstioMutual: sends = ClientSends::kIstioMtls; break;
        case ClientTlsMode::kSimple: sends = ClientSends::kSimpleTls; break;
        case ClientTlsMode::kMutual: sends = ClientSends::kMutualTls; break;
      }
      if (!tls->credential_name.empty() &&
          (tls->mode == ClientTlsMode::kSimple || tls->mode == ClientTlsMode::kMutual)) {
        const auto dr_it = std::find_if(
            config_.destination_rules.begin(), config_.destination_rules.end(),
            [&](const config::DestinationRule& d) { return qualifiedName(d.meta) == r.rule; });
        const bool selector = dr_it != config_.destination_rules.end() &&
                              dr_it->workload_selector && !dr_it->workload_selector->empty();
        if (!selector) {
          sends = ClientSends::kPlaintext;
          client_note = "credentialName in a sidecar DestinationRule without workloadSelector "
                        "originates no TLS (istio-mtls.md §2.1)";
        }
      }
    } else if (!settings_.auto_mtls) {
      row.client_tls = "-";
      client_note = "auto-mTLS is off and no DestinationRule sets TLS: plaintext";
    } else {
      row.client_tls = "AUTO";
      if (external) {
        client_note = "auto-mTLS: a destination outside the mesh gets plaintext";
      } else if (target.namespace_mode == MtlsMode::kDisable) {
        client_note = "auto-mTLS: namespace " + target.service->meta.namespace_name +
                      " is DISABLE at namespace or mesh level, so the client sends plaintext";
      } else if (server_mode && *server_mode != MtlsMode::kDisable) {
        sends = ClientSends::kIstioMtls;
        client_note = "auto-mTLS: the endpoint has a sidecar and is " +
                      std::string(modeName(*server_mode));
      } else {
        client_note = "auto-mTLS: " + (server_note.empty() ? "the endpoint is DISABLE"
                                                           : server_note) +
                      ", so the client sends plaintext";
      }
    }
  }

  row.outcome = wireOutcome(sends, server_mode, target.protocol);
  row.status = statusFor(client_sidecar, tls, settings_.auto_mtls, server_mode, row.outcome);

  // Both authorization layers, as the proxy runs them: a deny by either denies; the row names
  // the denying policy, else the allowing one (Istio's first), else a Linkerd audit.
  std::string audit;  // what a Linkerd audit policy let through
  if (succeeded(row.outcome) && server_mode && !server.authz.empty()) {
    const std::optional<std::string> peer =
        row.outcome == Outcome::kMtls ? std::optional(client.spiffe_id) : std::nullopt;
    AuthzDecision a = authorize(server.authz, settings_, server.workload->meta.namespace_name,
                                server.workload->labels, row.target_port, peer);
    if (!a.policy.empty()) row.authz = std::move(a.policy);
    if (!a.allowed) {
      row.outcome = Outcome::kAuthzDenied;
      row.reason = std::move(a.reason);
      return row;
    }
  }
  // Linkerd's, with the client's address unknown: `networks` and the cluster networks are
  // assumed to hold (every workload of the inventory is in the cluster).
  if (succeeded(row.outcome) && server_mode && server.linkerd.decides()) {
    LinkerdPeer peer;
    if (row.outcome == Outcome::kMtls) {
      peer.id = client.spiffe_id;
      peer.mesh_tls = true;
    }
    AuthzDecision a = authorizeLinkerd(server.linkerd, peer);
    if (!a.allowed || row.authz == "-" || a.audit) row.authz = std::move(a.policy);
    if (!a.allowed) {
      row.outcome = Outcome::kAuthzDenied;
      row.reason = std::move(a.reason);
      return row;
    }
    if (a.audit) audit = std::move(a.reason);
  }

  // One line for every row that is not plainly OK, for clients that bypass their proxy, and for
  // what an audit let through.
  if (row.status == Status::kOk && succeeded(row.outcome) && client_sidecar) {
    row.reason = std::move(audit);
    return row;
  }
  std::string why;
  switch (row.outcome) {
    case Outcome::kFailReset:
      why = "plaintext to a STRICT server: the server closes the connection";
      break;
    case Outcome::kFailTls:
      if (sends == ClientSends::kIstioMtls) {
        why = "the client originates mesh mTLS but " +
              (server_note.empty() ? "the server is DISABLE and does not terminate it"
                                   : server_note);
      } else if (server_mode == MtlsMode::kStrict) {
        why = "STRICT requires mesh mTLS; " + row.client_tls +
              " TLS has no mesh client certificate";
      } else {
        why = "TLS arrives on a declared HTTP port the server does not terminate";
      }
      break;
    case Outcome::kPassthrough:
      why = "the server's sidecar forwards the TLS bytes untouched to the application";
      break;
    case Outcome::kTls:
    case Outcome::kMutual:
      // tls-check called every SIMPLE or MUTUAL rule a CONFLICT (istio-mtls.md §3).
      why = "the client's sidecar originates " +
            std::string(row.outcome == Outcome::kTls ? "one-way TLS" : "TLS with the rule's "
                                                                       "client certificate") +
            ", not mesh mTLS";
      break;
    default: break;
  }
  const std::string note = !client_note.empty() ? client_note : server_note;
  if (why.empty()) {
    why = note;
  } else if (!note.empty()) {
    why += " (" + note + ")";
  }
  if (why.empty() && row.status == Status::kConflict) {
    why = "client " + row.client_tls + " against server " + row.server_mode;
  }
  if (!audit.empty()) why += (why.empty() ? "" : "; ") + audit;
  row.reason = why;
  return row;
}

Result<std::vector<CheckRow>> Simulator::check(const std::optional<std::string>& from,
                                               const std::optional<std::string>& to) const {
  std::vector<CheckRow> rows;
  if (!to) {
    // Growing a vector of ~10^5 rows costs as much as computing them.
    size_t per_client = 0;
    for (const auto& t : targets_) per_client += t.servers.size();
    rows.reserve(from ? per_client : per_client * config_.workloads.size());
  }
  auto n = forEachRow(from, to, [&rows](CheckRow&& row) { rows.push_back(std::move(row)); });
  if (!n) return fail(n.error());
  return rows;
}

Result<size_t> Simulator::forEachRow(const std::optional<std::string>& from,
                                     const std::optional<std::string>& to,
                                     const std::function<void(CheckRow&&)>& sink) const {
  std::vector<Client> clients;
  const auto add_client = [&](const Workload& w) {
    clients.push_back({&w, qualifiedName(w.meta), spiffeIdOf(w, settings_.trust_domain)});
  };
  if (from) {
    const auto slash = from->find('/');
    if (slash == std::string::npos) {
      return invalidArgument("--from " + *from + ": expected NAMESPACE/WORKLOAD");
    }
    const std::string ns = from->substr(0, slash);
    const std::string name = from->substr(slash + 1);
    for (const auto& w : config_.workloads) {
      if (w.meta.namespace_name == ns && w.meta.name == name) add_client(w);
    }
    if (clients.empty()) {
      return fail(Code::kNotFound, "--from " + *from + ": no such workload in the inventory");
    }
  } else {
    for (const auto& w : config_.workloads) add_client(w);
  }

  std::vector<const Target*> targets;
  std::optional<Target> external;     // --to a host outside the inventory
  config::ServicePort external_port;  // its port
  if (to) {
    const auto colon = to->rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos ||
        std::from_chars(to->data() + colon + 1, to->data() + to->size(), port).ec !=
            std::errc() ||
        port == 0 || port > 65535) {
      return invalidArgument("--to " + *to + ": expected HOST:PORT");
    }
    const std::string host = to->substr(0, colon);
    const std::string* service_host = nullptr;  // the FQDN of the Service `host` names
    for (const auto& t : targets_) {
      const auto& svc = *t.service;
      const std::string short1 = svc.meta.name + "." + svc.meta.namespace_name;
      if (host != t.host && host != short1 && host != short1 + ".svc") continue;
      service_host = &t.host;
      if (t.port->port == port) targets.push_back(&t);
    }
    if (service_host != nullptr && targets.empty()) {
      return fail(Code::kNotFound, "--to " + *to + ": service " + *service_host +
                                       " has no port " + std::to_string(port));
    }
    if (service_host == nullptr) {
      external_port.port = port;
      external_port.target_port = port;
      external = makeTarget(nullptr, &external_port, host, SIZE_MAX);
      targets.push_back(&*external);
    }
  } else {
    for (const auto& t : targets_) targets.push_back(&t);
  }

  size_t rows = 0;
  std::map<std::string, TlsSlots> cache;
  TlsResolution scratch;
  for (const auto& client : clients) {
    TlsSlots& slots = cache[tlsCacheKey(*client.workload)];
    for (const auto* target : targets) {
      const TlsResolution& resolution = clientTls(client, *target, slots, scratch);
      for (const auto& server : target->servers) {
        sink(evaluateEndpoint(client, *target, server, resolution));
        ++rows;
      }
    }
  }
  return rows;
}

Result<std::vector<MigrationBreak>> migrateToStrict(const config::MeshConfig& config,
                                                    const config::MeshSettings& settings,
                                                    const std::string& namespace_name) {
  const std::string scope = namespace_name.empty() ? settings.root_namespace : namespace_name;
  config::MeshConfig moved = config;
  std::erase_if(moved.peer_authentications, [&](const config::PeerAuthentication& p) {
    return p.meta.namespace_name == scope && (!p.selector || p.selector->empty());
  });
  config::PeerAuthentication strict;
  strict.meta.name = "mutual-migrate-strict";
  strict.meta.namespace_name = scope;
  strict.mode = MtlsMode::kStrict;
  moved.peer_authentications.push_back(strict);

  const Simulator now(config, settings);
  const Simulator then(moved, settings);
  // Both simulations yield the same (client, target, endpoint) sequence, so rows pair up by
  // index. Streamed in three passes rather than held: two full row sets of a large mesh cost
  // far more memory and time than computing the few rows that break twice.
  std::vector<bool> worked;  // per row, now
  auto n = now.forEachRow(std::nullopt, std::nullopt, [&worked](CheckRow&& row) {
    worked.push_back(succeeded(row.outcome));
  });
  if (!n) return fail(n.error());
  const std::string prefix = namespace_name + "/";
  std::vector<MigrationBreak> breaks;
  std::vector<size_t> at;  // the row index of each break
  size_t i = 0;
  auto m = then.forEachRow(std::nullopt, std::nullopt, [&](CheckRow&& a) {
    const size_t index = i++;
    if (index >= worked.size() || !worked[index] || succeeded(a.outcome)) return;
    if (!namespace_name.empty() && a.server.rfind(prefix, 0) != 0) return;
    std::string why = a.reason;
    if (a.client_tls == "DISABLE") {
      why = "DestinationRule " + a.destination_rule + " sets tls.mode DISABLE";
    } else if (a.client_tls == "SIMPLE" || a.client_tls == "MUTUAL") {
      why = "DestinationRule " + a.destination_rule + " originates " + a.client_tls +
            " TLS, not mesh mTLS";
    } else if (a.client_tls == "-") {
      why = a.reason.substr(a.reason.find('(') == std::string::npos ? 0 : a.reason.find('(') + 1);
      if (!why.empty() && why.back() == ')') why.pop_back();
    }
    breaks.push_back({CheckRow{}, std::move(a), std::move(why)});
    at.push_back(index);
  });
  if (!m) return fail(m.error());
  if (breaks.empty()) return breaks;
  i = 0;
  size_t next = 0;
  (void)now.forEachRow(std::nullopt, std::nullopt, [&](CheckRow&& b) {
    if (next < at.size() && i++ == at[next]) breaks[next++].before = std::move(b);
  });
  return breaks;
}

}  // namespace mutual::policy
