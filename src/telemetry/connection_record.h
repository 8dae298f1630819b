#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace mutual::telemetry {

enum class Direction { kInbound, kOutbound };

// "inbound" or "outbound": the `direction` label and access-log field.
std::string_view directionName(Direction direction);

// The fixed set of handshake failure reasons (the `reason` label of
// mutual_tls_handshakes_total). Metrics render any other non-empty string as "other", so a
// caller's typo cannot create new series.
inline constexpr std::string_view kHandshakeVerifyError = "verify_error";
inline constexpr std::string_view kHandshakeVerifySan = "verify_san";
inline constexpr std::string_view kHandshakeNoCert = "no_cert";
inline constexpr std::string_view kHandshakeTimeout = "timeout";
inline constexpr std::string_view kHandshakeProtocol = "protocol";
inline constexpr std::string_view kHandshakeNoCertificateLoaded = "no_certificate_loaded";
inline constexpr std::string_view kHandshakeSpiffeIdNotAllowed = "spiffe_id_not_allowed";
inline constexpr std::string_view kHandshakeUnknownCa = "unknown_ca";
inline constexpr std::string_view kHandshakeExpired = "expired";
inline constexpr std::string_view kHandshakePlaintextUnderStrict = "plaintext_under_strict";

// True for the reasons above; false for "" and anything else.
bool isHandshakeReason(std::string_view reason);

// What happened in the TLS handshake of the downstream (inbound) or upstream (outbound) leg.
struct HandshakeOutcome {
  bool attempted = false;  // false: plaintext or passthrough, no TLS handshake was run
  bool ok = false;
  std::string reason;  // one of the kHandshake* values when attempted && !ok, else ""
  std::chrono::nanoseconds duration{0};  // from the first TLS byte to done or failed
  bool session_resumed = false;          // only meaningful when ok
};

// Everything known about one connection when it closes. The proxy fills one per connection;
// `accessLogJson` turns it into the access-log line and `MetricsShard::connectionClosed` into
// the metrics, so the two never disagree. Empty strings mean "not known / not applicable".
struct ConnectionRecord {
  // Access-log fields (design-notes §4.3, Istio/Envoy names).
  uint64_t connection_id = 0;
  TimePoint start_time{};
  std::chrono::nanoseconds duration{0};
  Direction direction = Direction::kInbound;
  std::string downstream_remote_address;            // ip:port
  std::string downstream_local_address;             // ip:port
  std::string upstream_host;                        // ip:port the proxy connected to
  std::string upstream_local_address;               // ip:port of the proxy's upstream socket
  std::string requested_server_name;                // SNI
  std::string alpn;                                 // negotiated protocol
  std::string tls_version;                          // "TLSv1.3"
  std::string tls_cipher;                           // "TLS_AES_128_GCM_SHA256"
  std::string peer_principal;                       // the peer's SPIFFE ID
  std::string local_principal;                      // our SPIFFE ID
  std::string peer_cert_serial;                     // hex
  std::string peer_cert_fingerprint_sha256;         // hex
  std::string authz_decision;                       // "allow" | "deny" | "" (no authorization ran)
  std::string authz_rule;                           // the matching rule's name
  std::string authz_reason;                         // why denied (or let in by an audit)
  uint64_t bytes_received = 0;                      // from the downstream
  uint64_t bytes_sent = 0;                          // to the downstream
  std::string response_flags;                       // Envoy TCP flags: UF, UO, NR, DC, UC
  std::string connection_termination_details;       // "authz_denied", "idle_timeout", ...
  std::string downstream_transport_failure_reason;  // drained OpenSSL failure string
  std::string upstream_transport_failure_reason;

  // Metric labels only (not in the access log).
  std::string listener;                    // listener name or listen address
  std::string connection_security_policy;  // "mutual_tls" | "none" | "unknown" (Istio)
  std::string tls;                         // "true" | "no_identity" | "opaque" | "disabled"
  std::string no_tls_reason;               // why not TLS (Linkerd), "" when tls == "true"
  HandshakeOutcome handshake;
};

// The record as one line of JSON, without the trailing newline. Field names are exactly those
// of design-notes §4.3; every field is always present so the schema is fixed: empty strings are
// written as null (as Envoy's JSON access log does), numbers as JSON numbers, start_time as RFC
// 3339 UTC with milliseconds, duration as whole milliseconds. Strings are escaped; bytes that
// are not valid UTF-8 become U+FFFD, so the line always parses.
std::string accessLogJson(const ConnectionRecord& record);

// Appends `text` as a JSON string: quotes, backslash and control characters escaped, valid
// UTF-8 copied, each byte of an invalid UTF-8 sequence replaced by \ufffd.
void appendJsonString(std::string& out, std::string_view text);

// `text` with each byte of an invalid UTF-8 sequence replaced by U+FFFD (Prometheus label
// values must be UTF-8). Returns the input unchanged when it is valid.
std::string toValidUtf8(std::string_view text);

// "2026-11-28T18:00:00.123Z" (UTC, milliseconds truncated).
void appendRfc3339Millis(std::string& out, TimePoint t);

}  // namespace mutual::telemetry
