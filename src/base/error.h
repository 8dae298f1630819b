#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace mutual {

// Error codes mirror gRPC status codes so they map one to one at service boundaries.
enum class Code {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view codeName(Code code);

// An error is a code, a message a person can act on (naming the file, line and field where
// there is one), and an optional short machine-readable reason such as "leaf_is_ca".
struct Error {
  Code code = Code::kUnknown;
  std::string message;
  std::string reason;

  // Prefixes the message with context, e.g. a file name: "ca.crt: <message>".
  Error& prefix(std::string_view context) {
    message = std::string(context) + ": " + message;
    return *this;
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand for returning an error from a function that returns Result<T>.
inline tl::unexpected<Error> fail(Code code, std::string message, std::string reason = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(reason)});
}
inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

inline tl::unexpected<Error> invalidArgument(std::string message) {
  return fail(Code::kInvalidArgument, std::move(message));
}

// The CLI's documented exit codes: 0 ok, 1 failed or invalid, 2 usage or input error,
// 3 a check found a problem.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitCheckFailed = 3;

}  // namespace mutual
