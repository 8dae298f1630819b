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
// 26.7 -> 15.6 MB resident per proxy, measured (docs/benchmarks.md).
//
// The binary and the module come from one build (the loader checks a build ID made at
// configure time), so the table below passes C++ types. The module carries its own copy of the
// core modules; what crosses is the command tree it adds to, the clock, and callbacks
// (tls::CredentialSink), never an object whose methods would run the module's copy of code on
// the binary's state.
namespace mutual::app {

// Raised whenever the table's layout changes (checked before the build ID is read).
inline constexpr int kControlPlaneAbi = 1;

// A running credentials feed; stop() returns once no call into the sink can follow.
class CredentialWatch {
 public:
  virtual ~CredentialWatch() = default;
  virtual void stop() = 0;
};

struct ControlPlane {
  int abi;
  const char* build_id;  // MUTUAL_BUILD_ID
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
// Unavailable names every place tried; Internal for a file that does not load or a module of
// another build (which is closed again).
Result<const ControlPlane*> loadControlPlane();

}  // namespace mutual::app

// The module's one exported symbol.
extern "C" const mutual::app::ControlPlane* mutual_control_plane();
