// `mutual server run|validate -c server.conf`: the control plane role (docs/server.md), and the
// `server` noun the admin commands hang under.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/roles.h"
#include "base/file.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "config/spire_conf.h"
#include "server/attestation.h"
#include "server/server.h"
#include "telemetry/logging.h"

namespace mutual::app {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

int runServer(const std::string& path, bool expand_env) {
  auto conf = config::spire::loadServerConf(path, {.expand_env = expand_env});
  if (!conf) return cli::reportError(conf.error());
  if (auto ok = telemetry::setupLogging(lower(config::spire::logLevelName(conf->log_level))); !ok) {
    return cli::reportError(ok.error());
  }
  // Signals are taken by sigwait on this thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::filesystem::path base = std::filesystem::path(path).parent_path();
  if (base.empty()) base = ".";
  auto server = server::Server::start(std::move(*conf), std::filesystem::absolute(base));
  if (!server) return cli::reportError(server.error());
  int signal = 0;
  while (sigwait(&signals, &signal) != 0) {
  }
  spdlog::info("{}: stopping (calls in flight get 5s)", signal == SIGTERM ? "SIGTERM" : "SIGINT");
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
