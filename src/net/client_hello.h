#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Sniffing the first bytes of an inbound connection: a TLS ClientHello or not, and if so its
// SNI and ALPN. The proxy peeks (MSG_PEEK) so nothing is consumed, calls sniffClientHello on
// what it has, and peeks again while the answer is kNeedMore (under the handshake timeout).
// PERMISSIVE mode gives mTLS to a ClientHello offering a mesh ALPN and plaintext to the rest.
namespace mutual::net {

enum class SniffStatus {
  kNeedMore,  // a valid prefix of a ClientHello: peek again with at least `needed` bytes
  kTls,       // a TLS record; `hello` is valid unless `error` is set
  kNotTls,    // cannot be a TLS ClientHello (plaintext, SSLv2, ...); `error` says why
};

struct ClientHelloInfo {
  std::string sni;                        // the host_name of server_name, as sent; "" when absent
  std::vector<std::string> alpn;          // application_layer_protocol_negotiation, in client order
  uint16_t record_version = 0;            // of the first record, 0x0301..0x0304
  uint16_t legacy_version = 0;            // ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)
  bool supported_versions_tls13 = false;  // supported_versions lists TLS 1.3 (0x0304)
};

struct SniffResult {
  SniffStatus status = SniffStatus::kNeedMore;
  // kTls: the ClientHello. With an error, sni and alpn are left empty (partly parsed values are
  // not to be trusted) and the versions are those read before the problem.
  ClientHelloInfo hello;
  // kNotTls: why it is not TLS. kTls: empty for a well-formed ClientHello; otherwise what is
  // malformed, or kOversized when it does not fit in kMaxClientHelloBytes. The TLS handshake
  // rejects a malformed ClientHello; an oversized one may be fine, only not sniffable.
  std::string error;
  // kNeedMore: the total number of bytes (from the start of the connection) a well-formed
  // ClientHello needs: the end of the message once its length is known, else at least the end
  // of the record holding it. More than were given, at most kMaxClientHelloBytes; a hint for
  // the peek size (call again whenever more bytes arrive). 0 otherwise.
  size_t needed = 0;
};

// The most bytes the proxy peeks before it gives up on reading the ClientHello: records,
// headers included. A ClientHello is ~250 to 600 bytes in practice (more with post-quantum key
// shares, ~1.8 KiB); the TLS maximum is 2^24 bytes. Larger: kTls with error "oversized".
inline constexpr size_t kMaxClientHelloBytes = 64 * 1024;
inline constexpr std::string_view kOversized = "oversized";

// Sniffs the start of a connection. Reads only `bytes`, never more than the records holding
// the ClientHello (bytes after them are ignored, so the answer for a final status does not
// change when more bytes arrive), and never throws. Decides kNotTls from the first byte when
// it is not 0x16 (a handshake record): plaintext HTTP ("GET ") and SSLv2-style hellos (high bit
// set) are kNotTls at one byte; a record version other than 3.1..3.4 is kNotTls at the third.
// A ClientHello may span several records (handshake fragments are reassembled). Empty input
// is kNeedMore.
SniffResult sniffClientHello(std::span<const uint8_t> bytes);

// The ALPN values by which Istio's server side recognises a mesh client in PERMISSIVE mode
// (its mTLS filter chain matches; ../shared/reference/istio-mtls.md, ALPN table).
inline constexpr std::string_view kMeshAlpns[] = {"istio-peer-exchange", "istio", "istio-http/1.0",
                                                  "istio-http/1.1", "istio-h2"};

// True when the ClientHello offers one of kMeshAlpns (exact, case-sensitive, as Envoy matches).
bool offersMeshAlpn(const ClientHelloInfo& hello);

}  // namespace mutual::net
