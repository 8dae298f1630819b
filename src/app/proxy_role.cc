// `mutual proxy run|validate -c proxy.yaml`: the sidecar role (docs/proxy.md).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "admin/admin_server.h"
#include "app/control_plane.h"
#include "app/roles.h"
#include "app/stop_signals.h"
#include "cli/output.h"
#include "config/manifest.h"
#include "config/proxy_config.h"
#include "proxy/proxy.h"
#include "proxy/snapshot.h"
#include "telemetry/access_log.h"
#include "telemetry/logging.h"
#include "tls/credentials.h"

namespace mutual::app {
namespace {

int runProxy(const std::string& path) {
  auto config = config::loadProxyConfig(path);
  if (!config) return cli::reportError(config.error());
  if (auto logging = telemetry::setupLogging(config::logLevelName(config->log_level)); !logging) {
    return cli::reportError(logging.error());
  }
  // SIGHUP reopens the access log. Before any thread starts (stop_signals.h).
  const StopSignals signals({SIGHUP});

  // credentials.workload_api: its gRPC client is in the control-plane module, loaded only
  // then (control_plane.h), and before anything listens.
  const ControlPlane* control = nullptr;
  if (std::holds_alternative<config::WorkloadApiCredentials>(config->credentials)) {
    auto loaded = loadControlPlane();
    if (!loaded) return cli::reportError(loaded.error());
    control = *loaded;
  }

  RealClock clock;
  auto proxy = proxy::Proxy::create(std::move(*config));
  if (!proxy) return cli::reportError(proxy.error());
  (*proxy)->start();
  // A Workload API watch feeds the proxy (not ready until it does).
  std::unique_ptr<CredentialWatch> identity;
  if (control != nullptr) {
    const auto& api = std::get<config::WorkloadApiCredentials>((*proxy)->config().credentials);
    // An empty path would mean $SPIFFE_ENDPOINT_SOCKET (proxy.yaml requires a socket today).
    auto td = spiffe::TrustDomain::parse((*proxy)->config().trust_domain);
    auto source = td ? control->watch_credentials(api.path, *td, (*proxy)->credentialSink(), clock)
                     : Result<std::unique_ptr<CredentialWatch>>(fail(td.error()));
    if (!source) {
      (*proxy)->shutdown();
      return cli::reportError(source.error());
    }
    identity = std::move(*source);
  }
  auto admin = admin::AdminServer::start((*proxy)->config().admin, **proxy);
  if (!admin) {
    if (identity) identity->stop();
    (*proxy)->shutdown();
    return cli::reportError(admin.error());
  }
  const auto& cfg = (*proxy)->config();
  const std::string& admin_host = cfg.admin.host;
  if (!admin_host.starts_with("127.") && admin_host != "::1" && admin_host != "localhost") {
    spdlog::warn("admin API on {}: reachable from other hosts, and it has no authentication "
                 "(it shows the configuration and POST /logging changes the log level); keep it "
                 "on loopback", cfg.admin.str());
  }
  auto inbound = (*proxy)->inboundAddresses();
  for (size_t i = 0; i < inbound.size(); ++i) {
    spdlog::info("inbound {} -> {} (workload port {})", inbound[i], cfg.inbound[i].forward.str(),
                 cfg.inbound[i].port);
  }
  auto outbound = (*proxy)->outboundAddresses();
  for (size_t i = 0; i < outbound.size(); ++i) {
    spdlog::info("outbound {} -> {}", outbound[i], cfg.outbound[i].destination.str());
  }
  // The identity is the one the credentials carry (logged when they load), which need not be
  // the one proxy.yaml's workload implies: a Workload API agent decides it.
  const std::string not_ready = (*proxy)->notReadyReason();
  spdlog::info("admin http://{}/ ; {}", (*admin)->address(),
               not_ready.empty() ? "ready" : "not ready: " + not_ready);

  for (;;) {
    const int signal = signals.wait();
    if (signal == SIGHUP) {
      if (auto* log = (*proxy)->accessLog()) {
        if (auto reopened = log->reopen(); !reopened) spdlog::warn("access log: {}", reopened.error().message);
      }
      continue;
    }
    spdlog::info("{}: draining for up to {}", StopSignals::name(signal),
                 formatDuration(cfg.timeouts.drain));
    break;
  }
  if (identity) identity->stop();
  (*proxy)->shutdown();
  (*admin)->stop();
  spdlog::info("stopped");
  return kExitOk;
}

int validateProxy(const std::string& path) {
  auto config = config::loadProxyConfig(path);
  if (!config) return cli::reportError(config.error());
  int problems = 0;
  if (config->access_log) {
    if (auto ok = telemetry::AccessLog::checkWritable(config->access_log->resolved); !ok) {
      std::cerr << "mutual: " << config->access_log_location.str() << ": access_log: "
                << ok.error().message << "\n";
      ++problems;
    }
  }
  std::vector<std::filesystem::path> paths;
  for (const auto& p : config->policies) paths.push_back(p.resolved);
  config::MeshConfig mesh;
  if (!paths.empty()) {
    auto manifests = config::loadManifests(paths);
    if (!manifests) return cli::reportError(manifests.error());
    mesh = config::parseMeshManifests(*manifests);
    bool bad = false;
    for (const auto& finding : mesh.findings) {
      std::cerr << finding.str() << "\n";
      bad = bad || finding.severity == config::Finding::Severity::kError;
    }
    if (bad) return kExitBadInput;
  }
  if (std::holds_alternative<config::WorkloadApiCredentials>(config->credentials)) {
    if (auto control = loadControlPlane(); !control) return cli::reportError(control.error());
  }
  std::shared_ptr<const tls::Credentials> loaded;
  if (const auto* files = std::get_if<config::FileCredentials>(&config->credentials)) {
    auto td = spiffe::TrustDomain::parse(config->trust_domain);
    auto credentials = tls::loadCredentialFiles(files->cert.resolved, files->key.resolved,
                                                files->bundle.resolved, *td,
                                                std::chrono::system_clock::now());
    if (!credentials) {
      std::cerr << "warning: credentials: " << credentials.error().message
                << " (the proxy would start not ready)\n";
    } else {
      std::cout << "credentials: " << credentials->id.str() << "\n";
      if (credentials->id.str() != config->workloadSpiffeId()) {
        std::cerr << "warning: credentials: the SVID is " << credentials->id.str()
                  << ", the workload's identity would be " << config->workloadSpiffeId() << "\n";
      }
      loaded = std::make_shared<const tls::Credentials>(std::move(*credentials));
    }
  }
  // The outbound plans as the proxy would build them: a DestinationRule whose files cannot be
  // loaded fails every connection of its listener (a missing SVID is only a warning above).
  auto snapshot = proxy::buildSnapshot(*config, loaded, mesh, 0);
  for (const auto& plan : snapshot->outbound) {
    if (plan.error.empty() || plan.no_svid) continue;
    std::cerr << "mutual: outbound " << plan.name << ": " << plan.error << "\n";
    ++problems;
  }
  if (problems > 0) return kExitBadInput;
  std::cout << path << ": OK (" << config->inbound.size() << " inbound, "
            << config->outbound.size() << " outbound listeners)\n";
  return kExitOk;
}

}  // namespace

void registerProxyRole(CLI::App& root, int& exit_code) {
  CLI::App* proxy = root.add_subcommand("proxy", "The sidecar proxy for one workload");
  proxy->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  CLI::App* run = proxy->add_subcommand("run", "Run the proxy (SIGTERM drains, SIGHUP reopens the access log)");
  run->add_option("-c,--config", *path, "proxy.yaml")->required();
  run->callback([path, &exit_code] { exit_code = runProxy(*path); });
  CLI::App* validate = proxy->add_subcommand("validate", "Check proxy.yaml, its policies and credentials");
  validate->add_option("-c,--config", *path, "proxy.yaml")->required();
  validate->callback([path, &exit_code] { exit_code = validateProxy(*path); });
}

}  // namespace mutual::app
