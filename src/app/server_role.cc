// `mutual server run|validate -c server.conf`: the control plane role (docs/server.md), and the
// `server` noun the admin commands hang under.
#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/roles.h"
#include "app/stop_signals.h"
#include "base/encoding.h"
#include "base/file.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "config/spire_conf.h"
#include "server/attestation.h"
#include "server/server.h"
#include "telemetry/logging.h"

namespace mutual::app {
namespace {

int runServer(const std::string& path, bool expand_env) {
  auto conf = config::spire::loadServerConf(path, {.expand_env = expand_env});
  if (!conf) return cli::reportError(conf.error());
  if (auto ok = telemetry::setupLogging(asciiLower(config::spire::logLevelName(conf->log_level))); !ok) {
    return cli::reportError(ok.error());
  }
  const StopSignals signals;

  std::filesystem::path base = std::filesystem::path(path).parent_path();
  if (base.empty()) base = ".";
  auto server = server::Server::start(std::move(*conf), std::filesystem::absolute(base));
  if (!server) return cli::reportError(server.error());
  spdlog::info("{}: stopping (calls in flight get 5s)", StopSignals::name(signals.wait()));
  (*server)->shutdown(std::chrono::seconds(5));
  return kExitOk;
}

// Checks what a start would check without starting: the file, and the files it names.
int validateServer(const std::string& path, bool expand_env) {
  auto conf = config::spire::loadServerConf(path, {.expand_env = expand_env});
  if (!conf) return cli::reportError(conf.error());
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  if (base.empty()) base = ".";
  int problems = 0;
  const auto check = [&](const config::Location& where, const std::string& what,
                         const std::string& file) {
    if (file.empty()) return;
    const auto resolved = config::spire::resolvePath(file, base);
    auto read = readFile(resolved);
    if (!read) {
      std::cerr << where.str() << ": " << what << ": " << read.error().message << "\n";
      ++problems;
    }
  };
  for (const auto& attestor : conf->node_attestors) {
    if (attestor.kind == config::spire::ServerNodeAttestor::Kind::kX509Pop) {
      check(attestor.location, "NodeAttestor \"x509pop\" ca_bundle_path", attestor.ca_bundle_path);
    }
  }
  if (conf->upstream_authority) {
    const auto& up = *conf->upstream_authority;
    check(up.location, "UpstreamAuthority \"disk\" cert_file_path", up.cert_file_path);
    check(up.location, "UpstreamAuthority \"disk\" key_file_path", up.key_file_path);
    check(up.location, "UpstreamAuthority \"disk\" bundle_file_path", up.bundle_file_path);
  }
  for (const auto& warning : conf->warnings) std::cerr << "warning: " << warning << "\n";
  if (problems > 0) return kExitBadInput;
  std::cout << path << ": OK (trust domain " << conf->trustDomain().name() << ", "
            << conf->node_attestors.size() << " node attestor"
            << (conf->node_attestors.size() == 1 ? "" : "s") << ")\n";
  return kExitOk;
}

}  // namespace

void registerServerRole(CLI::App& root, int& exit_code) {
  CLI::App* server = root.add_subcommand(
      "server", "The CA and control plane (SPIRE server compatible) and its admin commands");
  server->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto expand_env = std::make_shared<bool>(false);
  CLI::App* run = server->add_subcommand("run", "Run the server (SIGTERM stops it gracefully)");
  run->add_option("-c,--config", *path, "server.conf (SPIRE's format)")->required();
  run->add_flag("--expand-env", *expand_env, "Replace $VAR and ${VAR} in the file first");
  run->callback([path, expand_env, &exit_code] { exit_code = runServer(*path, *expand_env); });
  CLI::App* validate = server->add_subcommand(
      "validate", "Check server.conf and the files it names, without starting");
  validate->add_option("-c,--config", *path, "server.conf")->required();
  validate->add_flag("--expand-env", *expand_env, "Replace $VAR and ${VAR} in the file first");
  validate->callback(
      [path, expand_env, &exit_code] { exit_code = validateServer(*path, *expand_env); });
  cli::registerServerAdminCommands(*server, exit_code);
}

}  // namespace mutual::app
