#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "app/apply.h"
#include "app/cli_main.h"
#include "app/control_plane.h"
#include "app/roles.h"
#include "base/error.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace mutual::app {
namespace {

// The control plane's commands from the module; without it, `server` and `agent` say why.
void registerControlPlane(CLI::App& app, int& exit_code) {
  auto control = loadControlPlane();
  if (control) {
    (*control)->register_commands(app, exit_code);
    return;
  }
  for (auto [name, help] : {std::pair{"server", "The CA and control plane (module not loaded)"},
                            std::pair{"agent", "The node agent (module not loaded)"}}) {
    CLI::App* missing = app.add_subcommand(name, help);
    missing->allow_extras();
    missing->callback(
        [error = control.error(), &exit_code] { exit_code = cli::reportError(error); });
  }
}

}  // namespace

int runCommandLine(const std::vector<std::string>& args) {
  CLI::App app{"mutual: a zero-trust mutual-TLS mesh (CA, SPIFFE control plane, sidecar)"};
  app.name("mutual");
  app.set_version_flag("--version", "mutual " PROJECT_VERSION);
  app.require_subcommand(1);
  int exit_code = kExitOk;
  cli::registerCaCommands(app, exit_code);
  cli::registerCertCommands(app, exit_code);
  cli::registerCheckCommands(app, exit_code);
  registerApplyCommand(app, exit_code);
  cli::registerProxyConfigCommands(app, exit_code);
  registerProxyRole(app, exit_code);
  // Only `server ...`, `agent ...` and the top-level help load the control-plane module here
  // (control_plane.h); a proxy loads it itself when its config asks for the Workload API.
  if (args.size() < 2 || args[1] == "server" || args[1] == "agent" || args[1].starts_with('-')) {
    registerControlPlane(app, exit_code);
  }

  auto demo_dir = std::make_shared<std::string>("demo");
  CLI::App* demo = app.add_subcommand(
      "demo", "Guided tour: a root, a cluster intermediate, two workload SVIDs, verified");
  demo->add_option("--dir", *demo_dir, "Where to write the demo PKI")->capture_default_str();
  demo->callback([demo_dir, &exit_code] { exit_code = runDemo(*demo_dir); });

  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  return exit_code;
}

}  // namespace mutual::app

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  try {
    return mutual::app::runCommandLine(mutual::app::spireFlagAliases(std::move(args)));
  } catch (const std::exception& e) {
    std::cerr << "mutual: internal error: " << e.what() << "\n";
    return mutual::kExitFailed;
  }
}
