#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

// The long-running roles' commands (each in its own file).
namespace mutual::app {

// `mutual proxy run|validate -c proxy.yaml`.
void registerProxyRole(CLI::App& root, int& exit_code);

// `mutual server run|validate -c server.conf` and, under the same noun, the admin commands
// (`mutual server entry ...`, cli::registerServerAdminCommands). server_role.cc.
void registerServerRole(CLI::App& root, int& exit_code);

// SPIRE's single-dash camelCase flags for `mutual server ...` (`-spiffeID`, `-parentID`,
// `-selector`, `-x509SVIDTTL`, `-socketPath`, ...) and `mutual agent ...` (`-config`,
// `-joinToken`, `-socketPath`, `-write`) rewritten to ours, so spire-server and spire-agent
// command lines work unchanged. Other arguments, and other commands, are returned as they are.
std::vector<std::string> spireFlagAliases(std::vector<std::string> args);

// `mutual agent run|validate -c agent.conf` (agent_role.cc).
void registerAgentRole(CLI::App& root, int& exit_code);

// The `agent` subcommand, created on first use: the agent role (`agent run`) and the Workload
// API client commands (`agent api ...`) both attach to it, in any order.
inline CLI::App* agentCommand(CLI::App& root) {
  for (CLI::App* sub : root.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == "agent") return sub;
  }
  CLI::App* agent = root.add_subcommand("agent", "The node agent and its SPIFFE Workload API");
  agent->require_subcommand(1);
  return agent;
}

}  // namespace mutual::app
