#include "telemetry/connection_record.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace mutual::telemetry {

std::string_view directionName(Direction direction) {
  return direction == Direction::kInbound ? "inbound" : "outbound";
}

bool isHandshakeReason(std::string_view reason) {
  static constexpr std::array kReasons = {
      kHandshakeVerifyError,
      kHandshakeVerifySan,
      kHandshakeNoCert,
      kHandshakeTimeout,
      kHandshakeProtocol,
      kHandshakeNoCertificateLoaded,
      kHandshakeSpiffeIdNotAllowed,
      kHandshakeUnknownCa,
      kHandshakeExpired,
      kHandshakePlaintextUnderStrict,
  };
  return std::find(kReasons.begin(), kReasons.end(), reason) != kReasons.end();
}

namespace {

// Length of the valid UTF-8 sequence starting at p (n bytes available), or 0 if the bytes
// there are not one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF,
// truncated).
size_t utf8Length(const unsigned char* p, size_t n) {
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  const auto cont = [&](size_t i) { return (p[i] & 0xC0) == 0x80; };
  if (c < 0xE0) return n >= 2 && cont(1) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;   // overlong
    if (c == 0xED && p[1] >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;   // overlong
    if (c == 0xF4 && p[1] >= 0x90) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

constexpr char kReplacementUtf8[] = "\xEF\xBF\xBD";

void appendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// "key": (the comma is the caller's).
void appendKey(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

void appendField(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  appendKey(out, key);
  if (value.empty()) {
    out += "null";
  } else {
    appendJsonString(out, value);
  }
}

void appendField(std::string& out, std::string_view key, uint64_t value) {
  out += ',';
  appendKey(out, key);
  appendUint(out, value);
}

void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// Bytes copied as they are: printable ASCII except the quote and the backslash.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  out += '"';
  size_t start = 0;  // first byte not yet copied
  size_t i = 0;
  while (i < n) {
    while (i < n && kPlain[p[i]]) ++i;
    if (i == n) break;
    const unsigned char c = p[i];
    if (c >= 0x80) {
      if (const size_t len = utf8Length(p + i, n - i); len > 0) {
        i += len;
        continue;
      }
    }
    out.append(text.data() + start, i - start);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x80) {
          out += "\\ufffd";
        } else {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        }
    }
    start = ++i;
  }
  out.append(text.data() + start, n - start);
  out += '"';
}

std::string toValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = utf8Length(p + i, text.size() - i);
    if (len == 0) {
      out += kReplacementUtf8;
      ++i;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  return out;
}

void appendRfc3339Millis(std::string& out, TimePoint t) {
  using namespace std::chrono;
  // Pure calendar arithmetic: gmtime_r takes glibc's time-zone lock, shared by all workers.
  // TimePoint counts nanoseconds in 64 bits: years 1677 to 2262, always four digits.
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  const int y = static_cast<int>(ymd.year());
  char buf[24];
  put2(buf, static_cast<unsigned>(y / 100));
  put2(buf + 2, static_cast<unsigned>(y % 100));
  buf[4] = '-';
  put2(buf + 5, static_cast<unsigned>(ymd.month()));
  buf[7] = '-';
  put2(buf + 8, static_cast<unsigned>(ymd.day()));
  buf[10] = 'T';
  put2(buf + 11, static_cast<unsigned>(hms.hours().count()));
  buf[13] = ':';
  put2(buf + 14, static_cast<unsigned>(hms.minutes().count()));
  buf[16] = ':';
  put2(buf + 17, static_cast<unsigned>(hms.seconds().count()));
  buf[19] = '.';
  const auto millis = static_cast<unsigned>(hms.subseconds().count());
  buf[20] = static_cast<char>('0' + millis / 100);
  put2(buf + 21, millis % 100);
  buf[23] = 'Z';
  out.append(buf, sizeof buf);
}

std::string accessLogJson(const ConnectionRecord& r) {
  const std::string_view strings[] = {
      r.downstream_remote_address,
      r.downstream_local_address,
      r.upstream_host,
      r.upstream_local_address,
      r.requested_server_name,
      r.alpn,
      r.tls_version,
      r.tls_cipher,
      r.peer_principal,
      r.local_principal,
      r.peer_cert_serial,
      r.peer_cert_fingerprint_sha256,
      r.authz_decision,
      r.authz_rule,
      r.authz_reason,
      r.response_flags,
      r.connection_termination_details,
      r.downstream_transport_failure_reason,
      r.upstream_transport_failure_reason,
  };
  size_t size = 660;  // the keys, numbers and punctuation
  for (const auto s : strings) size += s.size();
  std::string out;
  out.reserve(size);

  out += "{\"start_time\":\"";
  appendRfc3339Millis(out, r.start_time);
  out += '"';
  const auto duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.duration);
  appendField(out, "duration", static_cast<uint64_t>(std::max<int64_t>(duration_ms.count(), 0)));
  appendField(out, "direction", directionName(r.direction));
  appendField(out, "downstream_remote_address", r.downstream_remote_address);
  appendField(out, "downstream_local_address", r.downstream_local_address);
  appendField(out, "upstream_host", r.upstream_host);
  appendField(out, "upstream_local_address", r.upstream_local_address);
  appendField(out, "requested_server_name", r.requested_server_name);
  appendField(out, "alpn", r.alpn);
  appendField(out, "tls_version", r.tls_version);
  appendField(out, "tls_cipher", r.tls_cipher);
  appendField(out, "peer_principal", r.peer_principal);
  appendField(out, "local_principal", r.local_principal);
  appendField(out, "peer_cert_serial", r.peer_cert_serial);
  appendField(out, "peer_cert_fingerprint_sha256", r.peer_cert_fingerprint_sha256);
  appendField(out, "authz_decision", r.authz_decision);
  appendField(out, "authz_rule", r.authz_rule);
  appendField(out, "authz_reason", r.authz_reason);
  appendField(out, "bytes_received", r.bytes_received);
  appendField(out, "bytes_sent", r.bytes_sent);
  appendField(out, "response_flags", r.response_flags);
  appendField(out, "connection_termination_details", r.connection_termination_details);
  appendField(out, "downstream_transport_failure_reason", r.downstream_transport_failure_reason);
  appendField(out, "upstream_transport_failure_reason", r.upstream_transport_failure_reason);
  appendField(out, "connection_id", r.connection_id);
  out += '}';
  return out;
}

}  // namespace mutual::telemetry
