#pragma once

#include <string>
#include <vector>

namespace mutual::app {

// Runs one `mutual` command line (args[0] is the program name) and returns its exit code.
int runCommandLine(const std::vector<std::string>& args);

// `mutual demo`: the guided tour of the PKI (registered by runCommandLine).
int runDemo(const std::string& dir);

}  // namespace mutual::app
