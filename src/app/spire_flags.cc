// spireFlagAliases (roles.h): spire-server's flags, rewritten before the command line is parsed.
#include <map>
#include <string>
#include <vector>

#include "app/roles.h"

namespace mutual::app {

std::vector<std::string> spireFlagAliases(std::vector<std::string> args) {
  if (args.size() < 2 || args[1] != "server") return args;
  static const std::map<std::string, std::string> kAliases = {
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
  for (size_t i = 2; i < args.size(); ++i) {
    std::string& arg = args[i];
    // Go's flag package also accepts -flag=value.
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (auto it = kAliases.find(name); it != kAliases.end()) {
      arg = it->second + (eq == std::string::npos ? "" : arg.substr(eq));
    }
  }
  return args;
}

}  // namespace mutual::app
