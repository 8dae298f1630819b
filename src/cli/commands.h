#pragma once

#include <CLI/CLI.hpp>

namespace mutual::cli {

// `mutual ca init|intermediate`.
void registerCaCommands(CLI::App& root, int& exit_code);
// `mutual cert issue|inspect|verify|expiry`.
void registerCertCommands(CLI::App& root, int& exit_code);
// `mutual check mode|tls|migrate|validate`: the policy engine over mesh manifests. Exit codes:
// 0 ok, 1 invalid (validate), 2 bad input (including invalid documents), 3 a check failed.
void registerCheckCommands(CLI::App& root, int& exit_code);
// `mutual proxy-config secret|edges --admin ADDR` (proxy_config_commands.cc).
void registerProxyConfigCommands(CLI::App& root, int& exit_code);
// `mutual server entry|token|bundle|authority|agent|healthcheck ...` under the `server` noun
// (server_commands.cc, library mutual_cli_server): admin commands over the server's socket.
void registerServerAdminCommands(CLI::App& server, int& exit_code);
// `mutual agent api fetch x509|jwt`, `mutual agent api validate jwt`, `mutual agent api watch`
// under the `agent` subcommand (agent_api_commands.cc).
void registerAgentApiCommands(CLI::App& agent, int& exit_code);

}  // namespace mutual::cli
