#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "spiffe/jwt_svid.h"
#include "spiffe/spiffe_id.h"
#include "workloadapi/caller.h"
#include "workloadapi/types.h"

// The SPIFFE Workload API server (docs/workload-api.md).
namespace mutual::workloadapi {

// What the server asks about a caller: the one seam between the Workload API and whatever
// holds identities (the node agent's cache; a fake in tests). Called from gRPC threads, any
// number at once; implementations are thread-safe and quick (no network round trip under a
// call if it can be helped).
//
// Every method answers for one caller. Errors follow the Workload API's codes: Unavailable
// while the provider is not ready (still starting, not synced), PermissionDenied or an empty
// answer when the caller is not entitled, InvalidArgument for a bad request.
class IdentityProvider {
 public:
  virtual ~IdentityProvider() = default;

  // The caller's X509-SVIDs (the first is its default identity), each with the bundle of its
  // own trust domain, plus the federated bundles it trusts. No SVIDs: the caller has no
  // identity (the server answers PermissionDenied "no identity issued").
  virtual Result<X509Context> x509Context(const Caller& caller) = 0;

  // The X.509 bundles the caller trusts, its own trust domain included. Empty: no identity.
  virtual Result<X509Bundles> x509Bundles(const Caller& caller) = 0;

  // JWT-SVIDs for `audience` (never empty), one per identity of the caller, or only the one
  // of `id` when set. Empty: no identity (or not that one).
  virtual Result<std::vector<JwtSvidToken>> jwtSvids(const Caller& caller,
                                                     const std::vector<std::string>& audience,
                                                     const std::optional<spiffe::SpiffeId>& id) = 0;

  // The JWT bundles the caller trusts, its own trust domain included. Empty: no identity.
  virtual Result<spiffe::JwtBundles> jwtBundles(const Caller& caller) = 0;

  // Validates `token` for `audience` (never empty) on the caller's behalf; InvalidArgument
  // with the reason when the token is not valid.
  virtual Result<ValidatedJwt> validateJwt(const Caller& caller, std::string_view token,
                                           const std::string& audience) = 0;

  // Change notification: a counter that grows whenever anything the methods above return may
  // have changed (a rotation, a bundle update, an entry change, becoming ready). Open streams
  // re-ask and send a new message when theirs changed.
  virtual uint64_t generation() const = 0;
  // Blocks until generation() differs from `seen` or `timeout` passes; returns generation().
  virtual uint64_t waitForChange(uint64_t seen, std::chrono::milliseconds timeout) = 0;
};

// The generation counter and wait of an IdentityProvider, ready to embed.
class ChangeSignal {
 public:
  // Bumps the generation and wakes every waiter.
  void notify();
  uint64_t generation() const;
  uint64_t waitForChange(uint64_t seen, std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 1;
};

struct ServerOptions {
  // Where to listen. The parent directory is created (0755) when missing; a stale socket left
  // by a crashed server is replaced; the socket is made 0777 (like SPIRE's public socket:
  // callers are told apart by their credentials, not by file permissions).
  std::string socket_path;
  // How long stop() gives calls that are still running after the streams were ended.
  std::chrono::milliseconds shutdown_grace{2000};
};

// Counters for tests and the agent's metrics.
struct ServerStats {
  uint64_t connections = 0;      // accepted since start
  uint64_t open_streams = 0;     // FetchX509SVID, FetchX509Bundles, FetchJWTBundles now open
  uint64_t stream_messages = 0;  // messages sent on those streams since start
  uint64_t refused_calls = 0;    // calls answered with an error status
};

// The Workload API on a unix socket. It accepts connections itself, on its own thread, so it
// can read each caller's SO_PEERCRED (uid, gid, pid) and record the Caller (binary path, user
// and group names, process start time), then hands the connected fd to gRPC
// (grpc::AddInsecureChannelFromFd). A call's peer is then "fd:<n>" (gRPC 1.51: the server
// side of an fd channel names its peer after the descriptor; checked by server_test), which
// maps back to the recorded caller.
//
// Every call must carry `workload.spiffe.io: true` (else InvalidArgument "security header
// missing from request"); the caller's process must still be the one that connected (same
// pid and start time, re-read from procfs for each call and each stream message; else
// Unavailable "workload attestation failed: ..."); the provider decides the rest.
class WorkloadApiServer {
 public:
  // Listens and serves until stop(). Errors: FailedPrecondition when something other than a
  // socket is at the path, AlreadyExists when another server answers on it, Internal for a
  // socket call that fails (the message names the path).
  static Result<std::unique_ptr<WorkloadApiServer>> start(ServerOptions options,
                                                          IdentityProvider& provider);
  ~WorkloadApiServer();  // stop()
  WorkloadApiServer(const WorkloadApiServer&) = delete;
  WorkloadApiServer& operator=(const WorkloadApiServer&) = delete;

  // Stops accepting, ends every open stream with Unavailable "the Workload API is shutting
  // down" (clients retry that), waits up to shutdown_grace for running calls, and removes the
  // socket. Idempotent.
  void stop();

  const std::string& socketPath() const;
  ServerStats stats() const;

  // The caller recorded for a gRPC peer string ("fd:7"). NotFound for an unknown peer or a
  // descriptor that no longer holds the connection that was recorded.
  Result<Caller> callerForPeer(std::string_view peer) const;

  struct Impl;

 private:
  explicit WorkloadApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mutual::workloadapi
