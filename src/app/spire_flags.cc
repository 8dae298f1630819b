// spireFlagAliases (roles.h): spire-server's flags, rewritten before the command line is parsed.
#include <map>
#include <string>
#include <vector>

#include "app/roles.h"

namespace mutual::app {

std::vector<std::string> spireFlagAliases(std::vector<std::string> args) {
  if (args.size() < 2 || (args[1] != "server" && args[1] != "agent")) return args;
  // spire-agent's: `run -config F -joinToken T`, `api fetch x509 -socketPath S -write D`.
  static const std::map<std::string, std::string> kAgentAliases = {
      {"-config", "--config"},         {"-expandEnv", "--expand-env"},
      {"-joinToken", "--join-token"},  {"-socketPath", "--socket"},
      {"-write", "--write"},           {"-output", "--output"},
  };
  static const std::map<std::string, std::string> kServerAliases = {
      {"-spiffeID", "--spiffe-id"},
      {"-parentID", "--parent-id"},
      {"-selector", "--selector"},
      {"-x509SVIDTTL", "--x509-svid-ttl"},
      {"-jwtSVIDTTL", "--jwt-svid-ttl"},
      {"-ttl", "--ttl"},
      {"-dns", "--dns"},
      {"-federatesWith", "--federates-with"},
      {"-entryID", "--entry-id"},
      {"-admin", "--admin"},
      {"-downstream", "--downstream"},
      {"-hint", "--hint"},
      {"-node", "--node"},
      {"-entryExpiry", "--entry-expiry"},
      {"-socketPath", "--socket"},
      {"-output", "--output"},
      {"-format", "--format"},
      {"-id", "--id"},
      {"-path", "--path"},
      {"-mode", "--mode"},
      {"-config", "--config"},
      {"-expandEnv", "--expand-env"},
      {"-authorityID", "--authority-id"},
      {"-matchSelectorsOn", "--match-selectors-on"},
      {"-verbose", "--verbose"},
  };
  const auto& aliases = args[1] == "agent" ? kAgentAliases : kServerAliases;
  for (size_t i = 2; i < args.size(); ++i) {
    std::string& arg = args[i];
    // Go's flag package also accepts -flag=value.
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (auto it = aliases.find(name); it != aliases.end()) {
      arg = it->second + (eq == std::string::npos ? "" : arg.substr(eq));
    }
  }
  return args;
}

}  // namespace mutual::app
