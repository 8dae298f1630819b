#include "net/client_hello.h"

#include <algorithm>
#include <array>

// Wire formats: RFC 8446 §4.1.2 (ClientHello), §5.1 (records), §4.2.1 (supported_versions);
// RFC 6066 §3 (server_name); RFC 7301 §3.1 (ALPN). Every read is bounds-checked; nothing here
// allocates per byte or recurses, and nothing throws.
namespace mutual::net {

namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr size_t kRecordHeaderBytes = 5;
constexpr size_t kHandshakeHeaderBytes = 4;
constexpr size_t kMaxRecordPayload = 1 << 14;  // RFC 8446 §5.1: 2^14 bytes of plaintext
constexpr uint16_t kServerName = 0;
constexpr uint16_t kAlpn = 16;
constexpr uint16_t kSupportedVersions = 43;
constexpr uint8_t kHostName = 0;
constexpr uint16_t kTls13 = 0x0304;

std::string hex(unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (int i = digits - 1; i >= 0; --i) out += kHex[(value >> (4 * i)) & 15];
  return out;
}

// A big-endian reader that fails (returns false) rather than read past its end.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }

  bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = data_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  // A vector with a `len_bytes`-byte (1 or 2) length prefix; its contents become `out`.
  bool vec(size_t len_bytes, Reader& out) {
    size_t n = 0;
    if (len_bytes == 1) {
      uint8_t v = 0;
      if (!u8(v)) return false;
      n = v;
    } else {
      uint16_t v = 0;
      if (!u16(v)) return false;
      n = v;
    }
    if (remaining() < n) return false;
    out = Reader(data_.subspan(pos_, n));
    pos_ += n;
    return true;
  }
  std::string str() const {
    return std::string(reinterpret_cast<const char*>(data_.data()) + pos_, remaining());
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// The extension's bytes must be exactly one vector with a `len_bytes` length prefix.
bool onlyVector(Reader& ext, size_t len_bytes, Reader& list) {
  return ext.vec(len_bytes, list) && ext.empty();
}

std::string parseServerName(Reader ext, ClientHelloInfo& hello) {
  Reader list(std::span<const uint8_t>{});
  if (!onlyVector(ext, 2, list)) return "server_name: length mismatch";
  if (list.empty()) return "server_name: empty server_name_list";
  bool seen_host = false;
  while (!list.empty()) {
    uint8_t type = 0;
    Reader name(std::span<const uint8_t>{});
    if (!list.u8(type) || !list.vec(2, name)) return "server_name: truncated entry";
    if (type != kHostName) continue;  // no other type is defined; skip as OpenSSL does
    if (seen_host) return "server_name: more than one host_name";
    seen_host = true;
    if (name.empty()) return "server_name: empty host_name";
    std::string host = name.str();
    // RFC 6066: an ASCII host name. Control characters, spaces and bytes above 0x7e would be
    // unsafe in logs and metric labels and are never a valid name.
    const bool printable = std::all_of(host.begin(), host.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u > 0x20 && u < 0x7f;
    });
    if (!printable) return "server_name: host_name has a byte outside printable ASCII";
    hello.sni = std::move(host);
  }
  return {};
}

std::string parseAlpn(Reader ext, ClientHelloInfo& hello) {
  Reader list(std::span<const uint8_t>{});
  if (!onlyVector(ext, 2, list)) return "alpn: length mismatch";
  if (list.empty()) return "alpn: empty protocol_name_list";
  while (!list.empty()) {
    Reader name(std::span<const uint8_t>{});
    if (!list.vec(1, name)) return "alpn: truncated protocol name";
    if (name.empty()) return "alpn: empty protocol name";
    hello.alpn.push_back(name.str());
  }
  return {};
}

std::string parseSupportedVersions(Reader ext, ClientHelloInfo& hello) {
  Reader list(std::span<const uint8_t>{});
  if (!onlyVector(ext, 1, list)) return "supported_versions: length mismatch";
  if (list.empty() || list.remaining() % 2 != 0) {
    return "supported_versions: list length must be a positive even number";
  }
  while (!list.empty()) {
    uint16_t version = 0;
    if (!list.u16(version)) break;  // unreachable: the length is even
    if (version == kTls13) hello.supported_versions_tls13 = true;
  }
  return {};
}

// The ClientHello body (after the 4-byte handshake header). An empty string when well formed.
std::string parseClientHello(std::span<const uint8_t> body, ClientHelloInfo& hello) {
  Reader r(body);
  if (!r.u16(hello.legacy_version)) return "truncated legacy_version";
  if (hello.legacy_version >> 8 != 3) {
    return "legacy_version " + hex(hello.legacy_version, 4) + " is not SSL 3 or TLS";
  }
  if (!r.skip(32)) return "truncated random";
  Reader session(std::span<const uint8_t>{});
  if (!r.vec(1, session)) return "truncated legacy_session_id";
  if (session.remaining() > 32) return "legacy_session_id longer than 32 bytes";
  Reader suites(std::span<const uint8_t>{});
  if (!r.vec(2, suites)) return "truncated cipher_suites";
  if (suites.empty() || suites.remaining() % 2 != 0) {
    return "cipher_suites length must be a positive even number";
  }
  Reader compression(std::span<const uint8_t>{});
  if (!r.vec(1, compression)) return "truncated legacy_compression_methods";
  if (compression.empty()) return "empty legacy_compression_methods";
  if (r.empty()) return {};  // no extensions: valid before TLS 1.3
  Reader extensions(std::span<const uint8_t>{});
  if (!r.vec(2, extensions)) return "truncated extensions";
  if (!r.empty()) return std::to_string(r.remaining()) + " bytes after the extensions";
  // RFC 8446 §4.2: no extension type twice. A ClientHello has a few dozen at most; an input
  // with thousands of tiny ones makes this quadratic only up to the 64 KiB cap (~16k entries).
  std::vector<uint16_t> seen;
  while (!extensions.empty()) {
    uint16_t type = 0;
    Reader data(std::span<const uint8_t>{});
    if (!extensions.u16(type) || !extensions.vec(2, data)) return "truncated extension";
    if (std::find(seen.begin(), seen.end(), type) != seen.end()) {
      return "extension " + std::to_string(type) + " appears twice";
    }
    seen.push_back(type);
    std::string error;
    if (type == kServerName) {
      error = parseServerName(data, hello);
    } else if (type == kAlpn) {
      error = parseAlpn(data, hello);
    } else if (type == kSupportedVersions) {
      error = parseSupportedVersions(data, hello);
    }
    if (!error.empty()) return error;
  }
  return {};
}

SniffResult notTls(std::string why) {
  SniffResult r;
  r.status = SniffStatus::kNotTls;
  r.error = std::move(why);
  return r;
}

SniffResult tlsError(ClientHelloInfo hello, std::string why) {
  SniffResult r;
  r.status = SniffStatus::kTls;
  hello.sni.clear();
  hello.alpn.clear();
  r.hello = std::move(hello);
  r.error = std::move(why);
  return r;
}

// kNeedMore, or oversized when even `at_least` total bytes are more than the proxy peeks.
// `wanted` (>= at_least) is what a well-formed ClientHello needs, e.g. the end of the record
// that holds it before its length is known.
SniffResult needMore(const ClientHelloInfo& hello, size_t at_least, size_t wanted) {
  if (at_least > kMaxClientHelloBytes) return tlsError(hello, std::string(kOversized));
  SniffResult r;
  r.status = SniffStatus::kNeedMore;
  r.hello = hello;
  r.needed = std::min(std::max(at_least, wanted), kMaxClientHelloBytes);
  return r;
}

SniffResult needMore(const ClientHelloInfo& hello, size_t at_least) {
  return needMore(hello, at_least, at_least);
}

// Record version bytes: kNotTls for the first record, a malformed ClientHello for later ones.
bool versionOk(uint8_t major, uint8_t minor) { return major == 3 && minor >= 1 && minor <= 4; }

// The content type and version of record `index` (0-based, > 0) of the ClientHello, from the
// up to three bytes of its header that `rest` holds. Empty when fine so far.
std::string laterRecordError(std::span<const uint8_t> rest, size_t index) {
  if (!rest.empty() && rest[0] != kHandshakeRecord) {
    return "record " + std::to_string(index + 1) + " has content type " + std::to_string(rest[0]) +
           " inside the ClientHello";
  }
  if (rest.size() >= 3 && !versionOk(rest[1], rest[2])) {
    return "record " + std::to_string(index + 1) + " has version " + hex(rest[1] << 8 | rest[2], 4);
  }
  return {};
}

}  // namespace

SniffResult sniffClientHello(std::span<const uint8_t> in) {
  // Only what the proxy may peek is looked at, so the answer never depends on bytes past it
  // (anything that needs them is oversized).
  in = in.first(std::min(in.size(), kMaxClientHelloBytes));
  ClientHelloInfo hello;
  if (in.empty()) return needMore(hello, kRecordHeaderBytes);
  if (in[0] != kHandshakeRecord) {
    if (in[0] & 0x80) {
      return notTls("an SSLv2-format ClientHello (first byte " + hex(in[0], 2) +
                    "); only TLS records are accepted");
    }
    std::string why = "first byte " + hex(in[0], 2);
    if (in[0] >= 0x20 && in[0] < 0x7f) why += std::string(" ('") + char(in[0]) + "')";
    return notTls(why + " is not a TLS handshake record (0x16)");
  }
  if (in.size() >= 2 && in[1] != 3) {
    return notTls("record version major byte " + hex(in[1], 2) + " is not 3 (TLS)");
  }
  if (in.size() >= 3 && !versionOk(in[1], in[2])) {
    return notTls("record version " + hex(in[1] << 8 | in[2], 4) +
                  " is not TLS 1.0 to 1.3 (0x0301 to 0x0304)");
  }
  if (in.size() < kRecordHeaderBytes) return needMore(hello, kRecordHeaderBytes);
  hello.record_version = static_cast<uint16_t>(in[1] << 8 | in[2]);

  // Walk the records, collecting the handshake message's fragments. `total` is the message's
  // size (header included) once its header has arrived; 0 before.
  std::vector<std::span<const uint8_t>> fragments;
  std::array<uint8_t, kHandshakeHeaderBytes> header{};
  size_t have = 0;
  size_t total = 0;
  size_t pos = 0;
  for (size_t index = 0;; ++index) {
    const size_t rest = total ? total - have : kHandshakeHeaderBytes - have;
    // Decided here whether or not the next record is present, so the answer does not depend
    // on how much of the input beyond this point was given.
    if (pos + kRecordHeaderBytes + rest > kMaxClientHelloBytes) {
      return tlsError(hello, std::string(kOversized));
    }
    // A later record's header, judged on as much of it as is there.
    if (index > 0) {
      if (std::string error = laterRecordError(in.subspan(pos), index); !error.empty()) {
        return tlsError(hello, std::move(error));
      }
    }
    if (in.size() < pos + kRecordHeaderBytes) {
      return needMore(hello, pos + kRecordHeaderBytes + rest);
    }
    const size_t length = static_cast<size_t>(in[pos + 3] << 8 | in[pos + 4]);
    if (length == 0) return tlsError(hello, "empty handshake record");
    if (length > kMaxRecordPayload) {
      return tlsError(hello, "record length " + std::to_string(length) + " exceeds 2^14");
    }
    const size_t body = pos + kRecordHeaderBytes;
    const size_t available = std::min(length, in.size() - body);
    const auto fragment = in.subspan(body, available);
    for (size_t i = 0; have + i < kHandshakeHeaderBytes && i < fragment.size(); ++i) {
      header[have + i] = fragment[i];
    }
    fragments.push_back(fragment);
    have += available;
    if (have >= 1 && header[0] != kClientHelloType) {
      return tlsError(hello, "handshake message type " + std::to_string(header[0]) +
                                 " is not a ClientHello (1)");
    }
    if (total == 0 && have >= kHandshakeHeaderBytes) {
      total = kHandshakeHeaderBytes + (static_cast<size_t>(header[1]) << 16 |
                                       static_cast<size_t>(header[2]) << 8 | header[3]);
      // The message alone, without record headers, must fit in what the proxy peeks.
      if (total + kRecordHeaderBytes > kMaxClientHelloBytes) {
        return tlsError(hello, std::string(kOversized));
      }
    }
    if (total != 0 && have >= total) break;
    if (available < length) {
      // This record is not all here yet. What is missing of the message either ends inside it
      // or needs (at least) one more record.
      // Until the message's length is known, a well-formed one wants at least this record.
      const size_t missing = total ? total - have : kHandshakeHeaderBytes - have;
      const size_t in_record = length - available;
      const size_t record_end = body + length;
      if (missing <= in_record) {
        return needMore(hello, in.size() + missing, total ? in.size() + missing : record_end);
      }
      return needMore(hello, record_end + kRecordHeaderBytes + (missing - in_record));
    }
    pos = body + length;
  }

  // The whole message is here: join the fragments (usually one, so no copy), then parse.
  std::vector<uint8_t> joined;
  std::span<const uint8_t> message = fragments.front();
  if (fragments.size() > 1) {
    joined.reserve(total);
    for (const auto& f : fragments) joined.insert(joined.end(), f.begin(), f.end());
    message = joined;
  }
  message = message.subspan(kHandshakeHeaderBytes, total - kHandshakeHeaderBytes);
  std::string error = parseClientHello(message, hello);
  if (!error.empty()) return tlsError(std::move(hello), std::move(error));
  SniffResult r;
  r.status = SniffStatus::kTls;
  r.hello = std::move(hello);
  return r;
}

bool offersMeshAlpn(const ClientHelloInfo& hello) {
  for (const auto& offered : hello.alpn) {
    for (const auto mesh : kMeshAlpns) {
      if (offered == mesh) return true;
    }
  }
  return false;
}

}  // namespace mutual::net
