#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "spiffe/jwt_svid.h"
#include "spiffe/spiffe_id.h"
#include "workloadapi/types.h"

// A SPIFFE Workload API client (SPIRE agent, `mutual agent`, or anything that speaks the spec).
namespace mutual::workloadapi {

// The address a client connects to: "unix:///abs/path" or "/abs/path"; "" means
// $SPIFFE_ENDPOINT_SOCKET. Returns the gRPC target "unix:///abs/path". InvalidArgument when no
// address is given and the variable is unset, for a relative path, for `unix:` forms other than
// `unix:///path` (no authority, query, fragment or userinfo), and for other schemes (tcp:// is
// not supported by this client).
Result<std::string> resolveAddress(std::string_view address);

// Linear backoff between reconnects, as go-spiffe's: initial, initial + step, ... capped at max;
// reset after every good message.
struct Backoff {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds step{1000};
  std::chrono::milliseconds max{30000};
};

// A running watch (see Client::watchX509). Destroying it stops it.
class Watch {
 public:
  virtual ~Watch() = default;
  // Cancels the stream, wakes a backoff wait and joins the watch thread. No callback runs after
  // stop() returns. Must not be called from inside a callback. Idempotent.
  virtual void stop() = 0;
  // True once the watch ended by itself (the server refused the request as invalid).
  virtual bool ended() const = 0;
};

// Every request carries the `workload.spiffe.io: true` header. All methods are thread-safe.
// Timeouts bound one call, connecting included; DeadlineExceeded when they pass. Errors carry
// the server's status code and message (Unavailable when nothing listens on the socket).
class Client {
 public:
  // Resolves the address (see resolveAddress); connecting happens on the first call.
  static Result<std::unique_ptr<Client>> create(std::string_view address = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // "unix:///path".
  const std::string& target() const;

  // The first message of FetchX509SVID: every X509-SVID of the caller and the bundles. A
  // message that breaks the spec's rules is an InvalidArgument error naming the field.
  Result<X509Context> fetchX509(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The first message of FetchX509Bundles.
  Result<X509Bundles> fetchBundles(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // FetchJWTSVID for `audience` (at least one), optionally only `id`'s.
  Result<std::vector<JwtSvidToken>> fetchJwt(
      const std::vector<std::string>& audience, const std::optional<spiffe::SpiffeId>& id = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The first message of FetchJWTBundles, parsed.
  Result<spiffe::JwtBundles> fetchJwtBundles(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // ValidateJWTSVID: the server validates `token` for `audience`.
  Result<ValidatedJwt> validateJwt(std::string_view token, const std::string& audience,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Keeps FetchX509SVID open on a thread of its own: `on_update` gets every valid message (the
  // complete current state), `on_error` every failure (a closed or refused stream, an invalid
  // message; optional). After a failure the stream is reopened after a backoff wait, except
  // when the server answered InvalidArgument (a client bug the spec says not to retry): then
  // the watch ends. An invalid message is reported and skipped without reconnecting.
  std::unique_ptr<Watch> watchX509(std::function<void(X509Context)> on_update,
                                   std::function<void(const Error&)> on_error = {},
                                   Backoff backoff = {});

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mutual::workloadapi
