#include "telemetry/connection_record.h"

#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/time.h"

namespace mutual::telemetry {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The field names of design-notes §4.3, nothing more.
const std::set<std::string> kFields = {
    "start_time",
    "duration",
    "direction",
    "downstream_remote_address",
    "downstream_local_address",
    "upstream_host",
    "upstream_local_address",
    "requested_server_name",
    "alpn",
    "tls_version",
    "tls_cipher",
    "peer_principal",
    "local_principal",
    "peer_cert_serial",
    "peer_cert_fingerprint_sha256",
    "authz_decision",
    "authz_rule",
    "authz_reason",
    "bytes_received",
    "bytes_sent",
    "response_flags",
    "connection_termination_details",
    "downstream_transport_failure_reason",
    "upstream_transport_failure_reason",
    "connection_id",
};

ConnectionRecord sample() {
  ConnectionRecord r;
  r.connection_id = 42;
  r.start_time = fromUnix(1795888800) + 123456us;  // 2026-11-28T18:00:00.123456Z
  r.duration = 1999999us;
  r.direction = Direction::kInbound;
  r.downstream_remote_address = "10.0.0.7:51234";
  r.downstream_local_address = "10.0.0.9:8443";
  r.upstream_host = "127.0.0.1:8080";
  r.upstream_local_address = "127.0.0.1:40022";
  r.requested_server_name = "backend.default.svc";
  r.alpn = "h2";
  r.tls_version = "TLSv1.3";
  r.tls_cipher = "TLS_AES_128_GCM_SHA256";
  r.peer_principal = "spiffe://example.org/ns/default/sa/frontend";
  r.local_principal = "spiffe://example.org/ns/default/sa/backend";
  r.peer_cert_serial = "5f3a9c";
  r.peer_cert_fingerprint_sha256 = "ab12cd";
  r.authz_decision = "allow";
  r.authz_rule = "default/allow-frontend";
  r.bytes_received = 1234;
  r.bytes_sent = 98765432109ULL;
  r.response_flags = "DC";
  r.connection_termination_details = "downstream_closed";
  r.listener = "inbound";
  r.connection_security_policy = "mutual_tls";
  r.tls = "true";
  r.handshake = {true, true, "", 3ms, false};
  return r;
}

std::string timeOf(TimePoint t) {
  std::string out;
  appendRfc3339Millis(out, t);
  return out;
}

TEST(AccessLogJson, EveryFieldWithItsType) {
  const std::string line = accessLogJson(sample());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const json j = json::parse(line);
  ASSERT_TRUE(j.is_object());
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, kFields);

  EXPECT_EQ(j["start_time"], "2026-11-28T18:00:00.123Z");
  EXPECT_TRUE(j["duration"].is_number_unsigned());
  EXPECT_EQ(j["duration"], 1999);  // whole milliseconds, truncated
  EXPECT_EQ(j["direction"], "inbound");
  EXPECT_EQ(j["downstream_remote_address"], "10.0.0.7:51234");
  EXPECT_EQ(j["downstream_local_address"], "10.0.0.9:8443");
  EXPECT_EQ(j["upstream_host"], "127.0.0.1:8080");
  EXPECT_EQ(j["upstream_local_address"], "127.0.0.1:40022");
  EXPECT_EQ(j["requested_server_name"], "backend.default.svc");
  EXPECT_EQ(j["alpn"], "h2");
  EXPECT_EQ(j["tls_version"], "TLSv1.3");
  EXPECT_EQ(j["tls_cipher"], "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(j["peer_principal"], "spiffe://example.org/ns/default/sa/frontend");
  EXPECT_EQ(j["local_principal"], "spiffe://example.org/ns/default/sa/backend");
  EXPECT_EQ(j["peer_cert_serial"], "5f3a9c");
  EXPECT_EQ(j["peer_cert_fingerprint_sha256"], "ab12cd");
  EXPECT_EQ(j["authz_decision"], "allow");
  EXPECT_EQ(j["authz_rule"], "default/allow-frontend");
  EXPECT_TRUE(j["authz_reason"].is_null());  // only denials and audits have one
  EXPECT_EQ(j["bytes_received"], 1234);
  EXPECT_EQ(j["bytes_sent"], 98765432109ULL);
  EXPECT_EQ(j["response_flags"], "DC");
  EXPECT_EQ(j["connection_termination_details"], "downstream_closed");
  EXPECT_TRUE(j["downstream_transport_failure_reason"].is_null());
  EXPECT_TRUE(j["upstream_transport_failure_reason"].is_null());
  EXPECT_TRUE(j["connection_id"].is_number_unsigned());
  EXPECT_EQ(j["connection_id"], 42);
}

TEST(AccessLogJson, EmptyRecordHasEveryFieldWithNulls) {
  ConnectionRecord r;
  r.direction = Direction::kOutbound;
  const json j = json::parse(accessLogJson(r));
  EXPECT_EQ(j.size(), kFields.size());
  EXPECT_EQ(j["start_time"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(j["duration"], 0);
  EXPECT_EQ(j["direction"], "outbound");
  EXPECT_TRUE(j["peer_principal"].is_null());
  EXPECT_TRUE(j["upstream_host"].is_null());
  EXPECT_EQ(j["bytes_sent"], 0);
  EXPECT_EQ(j["connection_id"], 0);
}

TEST(AccessLogJson, NegativeDurationIsZero) {
  ConnectionRecord r;
  r.duration = -5ms;
  EXPECT_EQ(json::parse(accessLogJson(r))["duration"], 0);
}

TEST(AccessLogJson, LargestNumbers) {
  ConnectionRecord r;
  r.connection_id = UINT64_MAX;
  r.bytes_received = UINT64_MAX;
  const json j = json::parse(accessLogJson(r));
  EXPECT_EQ(j["connection_id"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(j["bytes_received"].get<uint64_t>(), UINT64_MAX);
}

TEST(Rfc3339Millis, Formats) {
  EXPECT_EQ(timeOf(TimePoint{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(timeOf(fromUnix(1795888800) + 999999us), "2026-11-28T18:00:00.999Z");
  EXPECT_EQ(timeOf(fromUnix(951782400)), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(timeOf(fromUnix(4102444799) + 7ms), "2099-12-31T23:59:59.007Z");
  // Before 1970, milliseconds round toward the past, not toward zero.
  EXPECT_EQ(timeOf(TimePoint{} - 1us), "1969-12-31T23:59:59.999Z");
  // Agrees with base's whole-second formatter.
  for (int64_t t : {0LL, 86399LL, 1234567890LL, 1795888800LL, 9000000000LL}) {
    std::string s = timeOf(fromUnix(t));
    EXPECT_EQ(s.substr(0, 19) + "Z", formatRfc3339(fromUnix(t))) << t;
  }
}

struct Hostile {
  std::string input;
  std::string parsed;  // what a JSON parser reads back
};

TEST(AccessLogJson, HostileStringsAreEscaped) {
  std::string controls;
  for (int c = 1; c < 0x20; ++c) controls += static_cast<char>(c);
  const Hostile cases[] = {
      {"a\"b", "a\"b"},
      {"back\\slash", "back\\slash"},
      {"new\nline\r\ttab", "new\nline\r\ttab"},
      {std::string("nul\0byte", 8), std::string("nul\0byte", 8)},
      {controls + "\x7f", controls + "\x7f"},
      {"\"}, \"injected\": \"x", "\"}, \"injected\": \"x"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"\xff", "\xef\xbf\xbd"},                                  // never valid
      {"a\x80z", "a\xef\xbf\xbdz"},                              // stray continuation
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                  // overlong '/'
      {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // overlong, 3 bytes
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // surrogate D800
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // > U+10FFFF
      {"end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd"},                            // truncated
      {"\xf0\x9f\x98", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
  };
  for (const auto& c : cases) {
    ConnectionRecord r;
    r.peer_principal = c.input;
    r.requested_server_name = c.input;
    r.downstream_transport_failure_reason = c.input;
    const std::string line = accessLogJson(r);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    json j;
    ASSERT_NO_THROW(j = json::parse(line)) << line;
    EXPECT_EQ(j.size(), kFields.size()) << line;
    EXPECT_EQ(j["peer_principal"].get<std::string>(), c.parsed) << line;
    EXPECT_EQ(j["requested_server_name"].get<std::string>(), c.parsed);
    EXPECT_EQ(j["downstream_transport_failure_reason"].get<std::string>(), c.parsed);
    EXPECT_EQ(toValidUtf8(c.input), c.parsed);
  }
}

TEST(AccessLogJson, RandomBytesAlwaysParse) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> len(0, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  const auto random = [&] {
    std::string s(static_cast<size_t>(len(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    return s;
  };
  for (int i = 0; i < 2000; ++i) {
    ConnectionRecord r;
    r.downstream_remote_address = random();
    r.requested_server_name = random();
    r.alpn = random();
    r.peer_principal = random();
    r.authz_rule = random();
    r.authz_reason = random();
    r.upstream_transport_failure_reason = random();
    const std::string line = accessLogJson(r);
    ASSERT_EQ(line.find('\n'), std::string::npos);
    json j;
    ASSERT_NO_THROW(j = json::parse(line)) << line;
    ASSERT_EQ(j.size(), kFields.size());
    // Valid input comes back unchanged.
    const std::string alpn = toValidUtf8(r.alpn);
    if (!r.alpn.empty()) {
      ASSERT_EQ(j["alpn"].get<std::string>(), alpn);
    }
    if (alpn == r.alpn && !alpn.empty()) {
      ASSERT_EQ(j["alpn"].get<std::string>(), r.alpn);
    }
  }
}

TEST(HandshakeReason, FixedSet) {
  for (const auto r :
       {kHandshakeVerifyError, kHandshakeVerifySan, kHandshakeNoCert, kHandshakeTimeout,
        kHandshakeProtocol, kHandshakeNoCertificateLoaded, kHandshakeSpiffeIdNotAllowed,
        kHandshakeUnknownCa, kHandshakeExpired, kHandshakePlaintextUnderStrict}) {
    EXPECT_TRUE(isHandshakeReason(r)) << r;
  }
  EXPECT_FALSE(isHandshakeReason(""));
  EXPECT_FALSE(isHandshakeReason("other"));
  EXPECT_FALSE(isHandshakeReason("Timeout"));
}

TEST(Direction, Names) {
  EXPECT_EQ(directionName(Direction::kInbound), "inbound");
  EXPECT_EQ(directionName(Direction::kOutbound), "outbound");
}

}  // namespace
}  // namespace mutual::telemetry
