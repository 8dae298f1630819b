#include <filesystem>
#include <iostream>

#include "app/cli_main.h"
#include "base/error.h"

namespace mutual::app {

namespace {

struct Step {
  std::string title;
  std::vector<std::string> args;  // without the program name
  int expected_exit;
};

}  // namespace

int runDemo(const std::string& dir) {
  const std::string td = "example.org";
  const auto path = [&](const std::string& sub) { return (std::filesystem::path(dir) / sub).string(); };
  const std::string frontend = "spiffe://" + td + "/ns/shop/sa/frontend";
  const std::string backend = "spiffe://" + td + "/ns/shop/sa/backend";
  const std::vector<Step> steps = {
      {"Create the root CA (long-lived, kept offline in real life)",
       {"ca", "init", "--trust-domain", td, "--out", path("root")}, kExitOk},
      {"Create a cluster intermediate signed by the root (it signs workloads, no further CAs)",
       {"ca", "intermediate", "--ca", path("root"), "--out", path("cluster-1"), "--name",
        "cluster-1", "--path-len", "0"},
       kExitOk},
      {"Issue a short-lived X509-SVID for the frontend workload",
       {"cert", "issue", "--ca", path("cluster-1"), "--spiffe-id", frontend, "--dns",
        "frontend.shop.svc", "--out", path("frontend")},
       kExitOk},
      {"Issue one for the backend workload",
       {"cert", "issue", "--ca", path("cluster-1"), "--spiffe-id", backend, "--dns",
        "backend.shop.svc", "--out", path("backend")},
       kExitOk},
      {"Verify the frontend as a client: full chain to the root, SVID rules, expected ID",
       {"cert", "verify", path("frontend/tls.crt"), "--bundle", path("frontend/ca.crt"),
        "--spiffe-id", frontend, "--purpose", "client"},
       kExitOk},
      {"Verify the backend as a server for its DNS name",
       {"cert", "verify", path("backend/tls.crt"), "--bundle", path("backend/ca.crt"),
        "--spiffe-id", backend, "--dns", "backend.shop.svc", "--purpose", "server"},
       kExitOk},
      {"Fail closed: the frontend's certificate is refused where the backend's ID is expected",
       {"cert", "verify", path("frontend/tls.crt"), "--bundle", path("frontend/ca.crt"),
        "--spiffe-id", backend},
       kExitFailed},
      {"Fail closed: a certificate checked two hours from now has expired",
       {"cert", "verify", path("backend/tls.crt"), "--bundle", path("backend/ca.crt"), "--at",
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch() +
                           std::chrono::hours(2))
                           .count())},
       kExitFailed},
      {"Every certificate in the demo, soonest expiry first",
       {"cert", "expiry", dir, "--warn", "30m"}, kExitOk},
  };
  // The demo makes new CAs; it never replaces keys it did not just create (they may be a
  // real CA's, and losing a CA key is not undoable).
  for (const char* key : {"root/ca.key", "cluster-1/ca.key"}) {
    std::error_code ec;
    if (std::filesystem::exists(path(key), ec)) {
      std::cerr << "mutual: demo: " << path(key) << " already exists; the demo creates new CA keys "
                << "and will not replace existing ones. Pass an empty or new --dir, or remove "
                << dir << " to run the demo there again\n";
      return kExitBadInput;
    }
  }
  std::cout << "mutual demo: a certificate hierarchy for trust domain " << td << " in " << dir
            << "/\n";
  int n = 0;
  for (const auto& step : steps) {
    ++n;
    std::cout << "\n== " << n << "/" << steps.size() << " " << step.title << "\n$ mutual";
    for (const auto& a : step.args) std::cout << " " << a;
    std::cout << "\n" << std::flush;
    std::vector<std::string> argv{"mutual"};
    argv.insert(argv.end(), step.args.begin(), step.args.end());
    const int rc = runCommandLine(argv);
    std::cout << std::flush;
    if (rc != step.expected_exit) {
      std::cerr << "demo: step " << n << " exited " << rc << ", expected " << step.expected_exit
                << "\n";
      return kExitFailed;
    }
    if (rc != kExitOk) std::cout << "(exit " << rc << ", as expected)\n";
  }
  std::cout << "\nDone. Try: mutual cert inspect " << path("frontend/tls.crt") << "\n";
  return kExitOk;
}

}  // namespace mutual::app
