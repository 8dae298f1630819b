// TEST FIXTURE, not a product: `workloadapi_test_server`, a Workload API server over the fake
// identity provider, for test/integration/workloadapi_test.sh. Every caller gets the same
// X509-SVID, issued by the CA directory given (as `mutual ca init` writes it).
//
//   workloadapi_test_server --socket PATH --ca DIR --spiffe-id ID [--ttl 1h] [--hint H]
//
// Prints "serving PATH" once it accepts. SIGUSR1 issues a new SVID (printed as
// "rotated N serial HEX"), pushed to every open stream; SIGTERM or SIGINT stops it.
#include <signal.h>

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "base/duration.h"
#include "ca/authority.h"
#include "workloadapi/fake_provider.h"
#include "workloadapi/server.h"

using namespace mutual;

int main(int argc, char** argv) {
  CLI::App app{"TEST FIXTURE: a Workload API server with a fake identity provider"};
  std::string socket, ca_dir, id_text, ttl_text = "1h", hint;
  app.add_option("--socket", socket, "unix socket path")->required();
  app.add_option("--ca", ca_dir, "CA directory (ca.crt, ca.key)")->required();
  app.add_option("--spiffe-id", id_text, "the identity every caller gets")->required();
  app.add_option("--ttl", ttl_text, "X509-SVID lifetime");
  app.add_option("--hint", hint, "SVID hint");
  CLI11_PARSE(app, argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto id = spiffe::SpiffeId::parse(id_text);
  auto ttl = parseDuration(ttl_text);
  auto ca = ca::loadAuthority(ca_dir);
  if (!id || !ttl || !ca) {
    std::cerr << "workloadapi_test_server: "
              << (!id    ? id.error().message
                  : !ttl ? ttl.error().message
                         : ca.error().message)
              << "\n";
    return 2;
  }
  RealClock clock;
  workloadapi::testing::FakeIdentityProvider::Options options{*id};
  options.ttl = *ttl;
  options.hint = hint;
  auto provider =
      workloadapi::testing::FakeIdentityProvider::create(std::move(*ca), options, clock);
  if (!provider) {
    std::cerr << "workloadapi_test_server: " << provider.error().message << "\n";
    return 1;
  }
  auto server = workloadapi::WorkloadApiServer::start({socket}, **provider);
  if (!server) {
    std::cerr << "workloadapi_test_server: " << server.error().message << "\n";
    return 1;
  }
  std::cout << "serving " << socket << " serial " << (*provider)->current().leaf().serialHex()
            << std::endl;
  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal != SIGUSR1) break;
    if (auto rotated = (*provider)->rotate(); !rotated) {
      std::cerr << "rotation failed: " << rotated.error().message << std::endl;
      continue;
    }
    std::cout << "rotated " << (*provider)->rotations() << " serial "
              << (*provider)->current().leaf().serialHex() << std::endl;
  }
  (*server)->stop();
  std::cout << "stopped" << std::endl;
  return 0;
}
