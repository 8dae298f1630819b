// `mutual agent run|validate -c agent.conf`: the node agent role (docs/agent.md).
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "app/roles.h"
#include "app/stop_signals.h"
#include "base/encoding.h"
#include "cli/output.h"
#include "config/spire_conf.h"
#include "telemetry/logging.h"

namespace mutual::app {
namespace {

struct AgentFlags {
  std::string config;
  bool expand_env = false;
  std::string join_token;  // spire-agent's -joinToken: takes the place of agent.conf's
};

Result<config::spire::AgentConf> load(const AgentFlags& flags) {
  auto conf = config::spire::loadAgentConf(flags.config, {flags.expand_env});
  if (conf && !flags.join_token.empty()) conf->join_token = flags.join_token;
  return conf;
}

int runAgent(const AgentFlags& flags) {
  auto conf = load(flags);
  if (!conf) return cli::reportError(conf.error());
  for (const auto& warning : conf->warnings) std::cerr << "warning: " << warning << "\n";
  if (auto logging = telemetry::setupLogging(asciiLower(config::spire::logLevelName(conf->log_level)));
      !logging) {
    return cli::reportError(logging.error());
  }
  // Before any thread starts (stop_signals.h).
  const StopSignals signals;

  agent::Agent::Options options;
  options.base_dir = std::filesystem::absolute(flags.config).parent_path().string();
  auto agent = agent::Agent::start(std::move(*conf), options);
  if (!agent) return cli::reportError(agent.error());
  spdlog::info("agent: Workload API on unix://{}", (*agent)->socketPath());
  spdlog::info("agent: {}: stopping", StopSignals::name(signals.wait()));
  (*agent)->stop();
  return kExitOk;
}

int validateAgent(const AgentFlags& flags) {
  auto conf = load(flags);
  if (!conf) return cli::reportError(conf.error());
  for (const auto& warning : conf->warnings) std::cerr << "warning: " << warning << "\n";
  // The files it names, as `server validate` checks its own.
  const auto problems = agent::Agent::checkFiles(
      *conf, std::filesystem::absolute(flags.config).parent_path().string());
  for (const auto& problem : problems) std::cerr << "mutual: " << problem << "\n";
  if (!problems.empty()) return kExitBadInput;
  std::cout << flags.config << ": OK (trust domain " << conf->trust_domain << ", server "
            << conf->server_address << ":" << conf->server_port << ")\n";
  return kExitOk;
}

}  // namespace

void registerAgentRole(CLI::App& root, int& exit_code) {
  CLI::App* agent = agentCommand(root);
  auto flags = std::make_shared<AgentFlags>();
  for (auto [name, help] : {std::pair{"run", "Run the node agent and its Workload API"},
                            std::pair{"validate", "Check agent.conf"}}) {
    CLI::App* cmd = agent->add_subcommand(name, help);
    cmd->add_option("-c,--config", flags->config, "agent.conf")->required();
    cmd->add_flag("--expand-env", flags->expand_env, "Expand $VAR and ${VAR} in the file first");
    cmd->add_option("--join-token", flags->join_token,
                    "Join token to attest with (in place of agent.conf's join_token)");
    std::string which = name;
    cmd->callback([flags, which, &exit_code] {
      exit_code = which == "run" ? runAgent(*flags) : validateAgent(*flags);
    });
  }
}

}  // namespace mutual::app
