#pragma once

#include <memory>
#include <string_view>

#include <CLI/CLI.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "spiffe/spiffe_id.h"
#include "tls/credentials.h"

// The control plane (`mutual server ...`, `mutual agent ...`, and the Workload API client behind
// the proxy's `credentials.workload_api`) is built into a module, mutual-control.so, that the
// binary loads only for the commands that need it. A sidecar proxy with file credentials so
// never maps gRPC, protobuf, SQLite, libpq and what they pull in (Kerberos, LDAP, GnuTLS):
// 26.7 -> 15.1 MB resident per proxy, measured (docs/benchmarks.md).
//
// The binary and the module come from the same build: both are compiled from this header,
// so the table below passes C++ types. The module carries its own copy of the core modules;
// nothing of the binary's state is handed to it but callbacks (tls::CredentialSink).
namespace mutual::app {

// Raised whenever the table or the types it passes change.
inline constexpr int kControlPlaneAbi = 1;

// A running credentials feed; stop() returns once no call into the sink can follow.
class CredentialWatch {
 public:
  virtual ~CredentialWatch() = default;
  virtual void stop() = 0;
};

struct ControlPlane {
  int abi;
  const char* version;
  // `server run|validate` with the server's admin commands; `agent run|validate` and
  // `agent api ...`.
  void (*register_commands)(CLI::App& root, int& exit_code);
  // The proxy's credentials.workload_api: watches the Workload API at `address` and feeds
  // `sink` (workloadapi::ProxyCredentialSource).
  Result<std::unique_ptr<CredentialWatch>> (*watch_credentials)(
      std::string_view address, const spiffe::TrustDomain& trust_domain, tls::CredentialSink sink,
      const Clock& clock);
};

// Loads the module once and returns its table: $MUTUAL_CONTROL_MODULE when set, else
// mutual-control.so beside the binary, else ../lib/mutual/mutual-control.so from it.
// NotFound names every place tried; FailedPrecondition for a module of another build.
Result<const ControlPlane*> loadControlPlane();

}  // namespace mutual::app

// The module's one exported symbol.
extern "C" const mutual::app::ControlPlane* mutual_control_plane();
