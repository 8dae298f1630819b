#pragma once

#include <CLI/CLI.hpp>

namespace mutual::cli {

// `mutual ca init|intermediate`.
void registerCaCommands(CLI::App& root, int& exit_code);
// `mutual cert issue|inspect|verify|expiry`.
void registerCertCommands(CLI::App& root, int& exit_code);

}  // namespace mutual::cli
