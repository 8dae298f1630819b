#include "telemetry/metrics.h"

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/check_names.h>

namespace mutual::telemetry {
namespace {

using namespace std::chrono_literals;
using Labels = std::map<std::string, std::string>;

// ---- A parser for the text exposition format, so the tests read what Prometheus reads. ----

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;  // family -> help
  std::map<std::string, std::string> type;  // family -> type
  std::vector<Sample> samples;

  // Sum of the samples of `name` whose labels include `match`.
  double sum(const std::string& name, const Labels& match = {}) const {
    double total = 0;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        ok = ok && it != s.labels.end() && it->second == v;
      }
      if (ok) total += s.value;
    }
    return total;
  }
  std::vector<const Sample*> find(const std::string& name, const Labels& match = {}) const {
    std::vector<const Sample*> out;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        ok = ok && it != s.labels.end() && it->second == v;
      }
      if (ok) out.push_back(&s);
    }
    return out;
  }
};

// Parses one sample line; returns false (and a reason) when it is not valid 0.0.4 text.
bool parseSample(const std::string& line, Sample& out, std::string& why) {
  size_t i = 0;
  while (i < line.size() &&
         (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':')) {
    ++i;
  }
  out.name = line.substr(0, i);
  if (out.name.empty()) return why = "no metric name", false;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string::npos) return why = "label without =", false;
      const std::string name = line.substr(i, eq - i);
      if (!prometheus::CheckLabelName(name)) return why = "bad label name " + name, false;
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return why = "label value not quoted", false;
      ++i;
      std::string value;
      for (;; ++i) {
        if (i >= line.size()) return why = "unterminated label value", false;
        if (line[i] == '"') break;
        if (line[i] == '\\') {
          ++i;
          if (i >= line.size()) return why = "dangling backslash", false;
          if (line[i] == 'n') {
            value += '\n';
          } else if (line[i] == '\\' || line[i] == '"') {
            value += line[i];
          } else {
            return why = "bad escape", false;
          }
        } else {
          value += line[i];
        }
      }
      ++i;  // closing quote
      out.labels[name] = value;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return why = "unterminated labels", false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return why = "no space before value", false;
  const std::string value = line.substr(i + 1);
  if (value == "+Inf") {
    out.value = HUGE_VAL;
    return true;
  }
  char* end = nullptr;
  out.value = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0') return why = "bad value '" + value + "'", false;
  return true;
}

Exposition parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  std::string family;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      const size_t sp = line.find(' ', 7);
      family = line.substr(7, sp - 7);
      e.help[family] = line.substr(sp + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const size_t sp = line.find(' ', 7);
      family = line.substr(7, sp - 7);
      e.type[family] = line.substr(sp + 1);
      continue;
    }
    if (line[0] == '#') {
      ADD_FAILURE() << "unexpected comment: " << line;
      continue;
    }
    Sample s;
    std::string why;
    if (!parseSample(line, s, why)) {
      ADD_FAILURE() << why << ": " << line;
      continue;
    }
    // Each sample belongs to the family declared just above it.
    EXPECT_EQ(s.name.rfind(family, 0), 0u) << line;
    e.samples.push_back(std::move(s));
  }
  return e;
}

// ---- Helpers. ----

ConnectionRecord closed(Direction direction, std::string listener, std::string peer,
                        std::chrono::nanoseconds duration) {
  ConnectionRecord r;
  r.direction = direction;
  r.listener = std::move(listener);
  r.peer_principal = std::move(peer);
  r.local_principal = "spiffe://example.org/ns/default/sa/backend";
  r.connection_security_policy = "mutual_tls";
  r.tls = "true";
  r.duration = duration;
  r.bytes_received = 100;
  r.bytes_sent = 1000;
  r.tls_version = "TLSv1.3";
  r.tls_cipher = "TLS_AES_128_GCM_SHA256";
  r.handshake = {true, true, "", 2ms, false};
  r.authz_decision = "allow";
  r.authz_rule = "allow-frontend";
  return r;
}

const char* const kFamilies[][2] = {
    {"mutual_tcp_connections_opened_total", "counter"},
    {"mutual_tcp_connections_closed_total", "counter"},
    {"mutual_tcp_connections_active", "gauge"},
    {"mutual_tcp_sent_bytes_total", "counter"},
    {"mutual_tcp_received_bytes_total", "counter"},
    {"mutual_tcp_connection_duration_seconds", "histogram"},
    {"mutual_tls_handshakes_total", "counter"},
    {"mutual_tls_handshake_duration_seconds", "histogram"},
    {"mutual_tls_sessions_resumed_total", "counter"},
    {"mutual_tls_negotiated_total", "counter"},
    {"mutual_authz_decisions_total", "counter"},
    {"mutual_svid_expiration_timestamp_seconds", "gauge"},
    {"mutual_svid_rotations_total", "counter"},
    {"mutual_bundle_roots", "gauge"},
    {"mutual_proxy_ready", "gauge"},
    {"mutual_access_log_dropped_lines_total", "counter"},
    {"mutual_connections_rejected_total", "counter"},
};

// Checks each histogram series: buckets cumulative, +Inf equal to _count.
void expectHistogramsConsistent(const Exposition& e, const std::string& name) {
  std::map<Labels, std::vector<std::pair<double, double>>> buckets;  // labels -> (le, count)
  for (const auto* s : e.find(name + "_bucket")) {
    Labels l = s->labels;
    const double le = l.at("le") == "+Inf" ? HUGE_VAL : std::stod(l.at("le"));
    l.erase("le");
    buckets[l].emplace_back(le, s->value);
  }
  for (const auto& [labels, series] : buckets) {
    for (size_t i = 1; i < series.size(); ++i) {
      EXPECT_LT(series[i - 1].first, series[i].first);
      EXPECT_LE(series[i - 1].second, series[i].second) << name;
    }
    ASSERT_FALSE(series.empty());
    EXPECT_EQ(series.back().first, HUGE_VAL);
    EXPECT_EQ(series.back().second, e.sum(name + "_count", labels)) << name;
  }
}

// ---- Tests. ----

TEST(Metrics, EveryFamilyHasHelpAndTypeEvenWhenEmpty) {
  Metrics m;
  const Exposition e = parse(m.renderPrometheus());
  for (const auto& [name, type] : kFamilies) {
    EXPECT_TRUE(prometheus::CheckMetricName(name)) << name;
    EXPECT_EQ(e.type.count(name), 1u) << name;
    EXPECT_EQ(e.type.at(name), type) << name;
    EXPECT_FALSE(e.help.at(name).empty()) << name;
  }
  EXPECT_EQ(e.type.size(), std::size(kFamilies));
  EXPECT_EQ(e.sum("mutual_proxy_ready"), 0);
  EXPECT_EQ(e.sum("mutual_connections_rejected_total", {{"reason", "overflow"}}), 0);
  EXPECT_EQ(e.find("mutual_svid_rotations_total").size(), 2u);  // success and failure at 0
}

TEST(Metrics, SumsShardsOnOneThread) {
  Metrics m(MetricsOptions{.workers = 2});
  ASSERT_EQ(m.shardCount(), 2u);
  const std::string peer = "spiffe://example.org/ns/default/sa/frontend";
  for (int i = 0; i < 3; ++i) m.shard(0).connectionOpened(Direction::kInbound, "inbound");
  for (int i = 0; i < 2; ++i) m.shard(1).connectionOpened(Direction::kInbound, "inbound");
  m.shard(1).connectionOpened(Direction::kOutbound, "outbound");
  m.shard(0).connectionClosed(closed(Direction::kInbound, "inbound", peer, 3ms));
  m.shard(0).connectionClosed(closed(Direction::kInbound, "inbound", peer, 2s));
  auto resumed = closed(Direction::kInbound, "inbound", peer, 20s);
  resumed.handshake.session_resumed = true;
  m.shard(1).connectionClosed(resumed);
  m.shard(0).connectionRejected();
  m.shard(1).connectionRejected();

  const Exposition e = parse(m.renderPrometheus());
  const Labels in = {{"direction", "inbound"}};
  EXPECT_EQ(e.sum("mutual_tcp_connections_opened_total", in), 5);
  EXPECT_EQ(e.sum("mutual_tcp_connections_opened_total", {{"direction", "outbound"}}), 1);
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total", in), 3);
  EXPECT_EQ(e.sum("mutual_tcp_connections_active", in), 2);
  EXPECT_EQ(e.sum("mutual_tcp_connections_active", {{"direction", "outbound"}}), 1);
  EXPECT_EQ(e.sum("mutual_tcp_received_bytes_total"), 300);
  EXPECT_EQ(e.sum("mutual_tcp_sent_bytes_total"), 3000);
  EXPECT_EQ(e.sum("mutual_tcp_connection_duration_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(e.sum("mutual_tcp_connection_duration_seconds_sum"), 22.003);
  EXPECT_EQ(e.sum("mutual_tls_handshakes_total",
                  {{"direction", "inbound"}, {"result", "success"}, {"reason", ""}}),
            3);
  EXPECT_EQ(e.sum("mutual_tls_handshake_duration_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(e.sum("mutual_tls_handshake_duration_seconds_sum"), 0.006);
  EXPECT_EQ(e.sum("mutual_tls_sessions_resumed_total", in), 1);
  EXPECT_EQ(e.sum("mutual_tls_sessions_resumed_total", {{"direction", "outbound"}}), 0);
  EXPECT_EQ(e.sum("mutual_tls_negotiated_total",
                  {{"version", "TLSv1.3"}, {"cipher", "TLS_AES_128_GCM_SHA256"}}),
            3);
  EXPECT_EQ(
      e.sum("mutual_authz_decisions_total", {{"decision", "allow"}, {"rule", "allow-frontend"}}),
      3);
  EXPECT_EQ(e.sum("mutual_connections_rejected_total", {{"reason", "overflow"}}), 2);

  // One connection series, with every documented label.
  const auto series = e.find("mutual_tcp_connections_closed_total");
  ASSERT_EQ(series.size(), 1u);
  const Labels want = {{"direction", "inbound"},
                       {"connection_security_policy", "mutual_tls"},
                       {"tls", "true"},
                       {"no_tls_reason", ""},
                       {"listener", "inbound"},
                       {"source_principal", peer},
                       {"destination_principal", "spiffe://example.org/ns/default/sa/backend"}};
  EXPECT_EQ(series[0]->labels, want);
  expectHistogramsConsistent(e, "mutual_tcp_connection_duration_seconds");
  expectHistogramsConsistent(e, "mutual_tls_handshake_duration_seconds");
}

TEST(Metrics, HistogramBucketsAreInclusiveUpperBounds) {
  Metrics m;
  auto& s = m.shard(0);
  const std::chrono::nanoseconds durations[] = {0ns, 1ms, 1001us, 5ms, 59min, 2h};
  for (const auto d : durations) {
    s.connectionOpened(Direction::kInbound, "l");
    auto r = closed(Direction::kInbound, "l", "", d);
    r.handshake = {};
    s.connectionClosed(r);
  }
  const Exposition e = parse(m.renderPrometheus());
  const std::string b = "mutual_tcp_connection_duration_seconds_bucket";
  EXPECT_EQ(e.sum(b, {{"le", "0.001"}}), 2);  // 0 and exactly 1ms
  EXPECT_EQ(e.sum(b, {{"le", "0.005"}}), 4);
  EXPECT_EQ(e.sum(b, {{"le", "1800"}}), 4);
  EXPECT_EQ(e.sum(b, {{"le", "3600"}}), 5);
  EXPECT_EQ(e.sum(b, {{"le", "+Inf"}}), 6);
  EXPECT_EQ(e.find(b).size(), kConnectionDurationBucketsMicros.size() + 1);
  EXPECT_EQ(e.sum("mutual_tcp_connection_duration_seconds_count"),
            e.sum("mutual_tcp_connections_closed_total"));
  // No handshake attempted: no handshake series.
  EXPECT_TRUE(e.find("mutual_tls_handshakes_total").empty());
  expectHistogramsConsistent(e, "mutual_tcp_connection_duration_seconds");
}

TEST(Metrics, HandshakeFailureReasons) {
  Metrics m;
  auto& s = m.shard(0);
  const std::pair<std::string, std::string> cases[] = {
      {"verify_san", "verify_san"}, {"timeout", "timeout"}, {"timeout", "timeout"},
      {"bogus", "other"},           {"", "other"},          {"unknown_ca", "unknown_ca"},
  };
  for (const auto& [reason, label] : cases) {
    s.connectionOpened(Direction::kOutbound, "out");
    ConnectionRecord r;
    r.direction = Direction::kOutbound;
    r.listener = "out";
    r.tls_version = "TLSv1.3";  // not counted as negotiated: the handshake failed
    r.handshake = {true, false, reason, 10s, true};
    r.connection_security_policy = "mutual_tls";
    r.tls = "no_identity";
    r.no_tls_reason = "handshake_failed";
    s.connectionClosed(r);
  }
  const Exposition e = parse(m.renderPrometheus());
  const std::string h = "mutual_tls_handshakes_total";
  EXPECT_EQ(e.sum(h, {{"result", "failure"}, {"reason", "timeout"}}), 2);
  EXPECT_EQ(e.sum(h, {{"result", "failure"}, {"reason", "other"}}), 2);
  EXPECT_EQ(e.sum(h, {{"result", "failure"}, {"reason", "verify_san"}}), 1);
  EXPECT_EQ(e.sum(h, {{"result", "failure"}, {"reason", "unknown_ca"}}), 1);
  EXPECT_EQ(e.sum(h, {{"result", "success"}}), 0);
  EXPECT_EQ(e.find(h).size(), 4u);
  EXPECT_EQ(e.sum("mutual_tls_sessions_resumed_total"), 0);
  EXPECT_TRUE(e.find("mutual_tls_negotiated_total").empty());
  EXPECT_EQ(
      e.sum("mutual_tls_handshake_duration_seconds_bucket", {{"result", "failure"}, {"le", "10"}}),
      6);
  EXPECT_EQ(
      e.sum("mutual_tls_handshake_duration_seconds_bucket", {{"result", "failure"}, {"le", "5"}}),
      0);
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total",
                  {{"tls", "no_identity"}, {"no_tls_reason", "handshake_failed"}}),
            6);
  // The peer principal of outbound connections is off by default.
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total",
                  {{"destination_principal", "unknown"}, {"source_principal", "unknown"}}),
            6);
}

TEST(Metrics, PrincipalLabelsAreCapped) {
  Metrics m(MetricsOptions{.workers = 2, .principal_label_limit = 4});
  // The local principal takes one of the four slots.
  const auto peer = [](int i) { return "spiffe://example.org/sa/p" + std::to_string(i); };
  for (int i = 0; i < 10; ++i) {
    auto& s = m.shard(i % 2);
    s.connectionOpened(Direction::kInbound, "in");
    s.connectionClosed(closed(Direction::kInbound, "in", peer(i), 1ms));
  }
  // Admitted values stay admitted on every shard.
  m.shard(1).connectionOpened(Direction::kInbound, "in");
  m.shard(1).connectionClosed(closed(Direction::kInbound, "in", peer(0), 1ms));
  // No peer principal: "unknown", which takes no slot.
  m.shard(0).connectionOpened(Direction::kInbound, "in");
  m.shard(0).connectionClosed(closed(Direction::kInbound, "in", "", 1ms));

  const Exposition e = parse(m.renderPrometheus());
  std::map<std::string, double> by_source;
  for (const auto* s : e.find("mutual_tcp_connections_closed_total")) {
    by_source[s->labels.at("source_principal")] += s->value;
  }
  const std::map<std::string, double> want = {
      {peer(0), 2}, {peer(1), 1}, {peer(2), 1}, {"other", 7}, {"unknown", 1}};
  EXPECT_EQ(by_source, want);
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total",
                  {{"destination_principal", "spiffe://example.org/ns/default/sa/backend"}}),
            12);
}

TEST(Metrics, OutboundPrincipalsWhenEnabled) {
  Metrics m(MetricsOptions{.outbound_principal_labels = true});
  m.shard(0).connectionOpened(Direction::kOutbound, "out");
  m.shard(0).connectionClosed(
      closed(Direction::kOutbound, "out", "spiffe://example.org/sa/db", 1ms));
  const Exposition e = parse(m.renderPrometheus());
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total",
                  {{"source_principal", "spiffe://example.org/ns/default/sa/backend"},
                   {"destination_principal", "spiffe://example.org/sa/db"}}),
            1);
}

TEST(Metrics, ZeroLimitRendersOther) {
  Metrics m(MetricsOptions{.principal_label_limit = 0});
  m.shard(0).connectionOpened(Direction::kInbound, "in");
  m.shard(0).connectionClosed(closed(Direction::kInbound, "in", "spiffe://x/y", 1ms));
  const Exposition e = parse(m.renderPrometheus());
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total",
                  {{"source_principal", "other"}, {"destination_principal", "other"}}),
            1);
}

TEST(Metrics, RuleLabelsAreCapped) {
  Metrics m(MetricsOptions{.rule_label_limit = 1});
  for (const char* rule : {"a", "b", "a", ""}) {
    m.shard(0).connectionOpened(Direction::kInbound, "in");
    auto r = closed(Direction::kInbound, "in", "", 1ms);
    r.authz_decision = "deny";
    r.authz_rule = rule;
    m.shard(0).connectionClosed(r);
  }
  m.shard(0).connectionOpened(Direction::kInbound, "in");
  auto r = closed(Direction::kInbound, "in", "", 1ms);
  r.authz_decision.clear();  // no authorization ran
  m.shard(0).connectionClosed(r);
  const Exposition e = parse(m.renderPrometheus());
  const std::string a = "mutual_authz_decisions_total";
  EXPECT_EQ(e.sum(a, {{"decision", "deny"}, {"rule", "a"}}), 2);
  EXPECT_EQ(e.sum(a, {{"decision", "deny"}, {"rule", "other"}}), 1);
  EXPECT_EQ(e.sum(a, {{"decision", "deny"}, {"rule", ""}}), 1);
  EXPECT_EQ(e.sum(a), 4);
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m;
  const std::string hostile = "in\"bound\\lis\ntener";
  m.shard(0).connectionOpened(Direction::kInbound, hostile);
  auto r = closed(Direction::kInbound, hostile, "spiffe://example.org/\"}x", 1ms);
  m.shard(0).connectionClosed(r);
  m.setSvidExpiry("spiffe://example.org/a\"b\\c\nd", 1700000000);
  m.setBundleRoots("bad\xff", 2);  // not UTF-8: rendered with U+FFFD
  const std::string text = m.renderPrometheus();
  EXPECT_NE(text.find("listener=\"in\\\"bound\\\\lis\\ntener\""), std::string::npos) << text;
  const Exposition e = parse(text);
  EXPECT_EQ(e.sum("mutual_tcp_connections_opened_total", {{"listener", hostile}}), 1);
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total",
                  {{"listener", hostile}, {"source_principal", "spiffe://example.org/\"}x"}}),
            1);
  EXPECT_EQ(e.sum("mutual_svid_expiration_timestamp_seconds",
                  {{"spiffe_id", "spiffe://example.org/a\"b\\c\nd"}}),
            1700000000);
  EXPECT_EQ(e.sum("mutual_bundle_roots", {{"trust_domain", "bad\xef\xbf\xbd"}}), 2);
}

TEST(Metrics, ControlThreadGauges) {
  Metrics m;
  m.setSvidExpiry("spiffe://example.org/ns/default/sa/backend", 1795888800);
  m.setSvidExpiry("spiffe://example.org/old", 1);
  m.removeSvid("spiffe://example.org/old");
  m.removeSvid("spiffe://example.org/never");
  m.countRotation("success");
  m.countRotation("success");
  m.countRotation("failure");
  m.setBundleRoots("example.org", 2);
  m.setBundleRoots("partner.example", 1);
  m.setBundleRoots("example.org", 3);
  m.removeBundle("partner.example");
  m.setReady(true);
  uint64_t dropped = 17;
  m.setAccessLogDroppedSource([&dropped] { return dropped; });

  Exposition e = parse(m.renderPrometheus());
  EXPECT_EQ(e.find("mutual_svid_expiration_timestamp_seconds").size(), 1u);
  EXPECT_EQ(e.sum("mutual_svid_expiration_timestamp_seconds",
                  {{"spiffe_id", "spiffe://example.org/ns/default/sa/backend"}}),
            1795888800);
  EXPECT_EQ(e.sum("mutual_svid_rotations_total", {{"result", "success"}}), 2);
  EXPECT_EQ(e.sum("mutual_svid_rotations_total", {{"result", "failure"}}), 1);
  EXPECT_EQ(e.find("mutual_bundle_roots").size(), 1u);
  EXPECT_EQ(e.sum("mutual_bundle_roots", {{"trust_domain", "example.org"}}), 3);
  EXPECT_EQ(e.sum("mutual_proxy_ready"), 1);
  EXPECT_EQ(e.sum("mutual_access_log_dropped_lines_total"), 17);

  dropped = 20;
  m.setReady(false);
  e = parse(m.renderPrometheus());
  EXPECT_EQ(e.sum("mutual_proxy_ready"), 0);
  EXPECT_EQ(e.sum("mutual_access_log_dropped_lines_total"), 20);
  m.setAccessLogDroppedSource(nullptr);
}

TEST(Metrics, ShardIndexIsChecked) {
  Metrics m(MetricsOptions{.workers = 2});
  EXPECT_THROW(m.shard(2), std::out_of_range);
}

// Several workers write their own shards while another thread scrapes: every scrape is
// consistent, and the final sums are exact. Run under the sanitizer build for races.
TEST(Metrics, ConcurrentWritersAndScraper) {
  constexpr int kWorkers = 3;
  constexpr int kPerWorker = 20000;
  Metrics m(MetricsOptions{.workers = kWorkers, .principal_label_limit = 20});
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&m, &done, w] {
      MetricsShard& s = m.shard(static_cast<size_t>(w));
      for (int i = 0; i < kPerWorker; ++i) {
        const Direction d = i % 3 == 0 ? Direction::kOutbound : Direction::kInbound;
        const std::string listener = "l" + std::to_string(i % 4);
        s.connectionOpened(d, listener);
        // New label combinations keep appearing, exercising the insert path.
        auto r = closed(d, listener, "spiffe://example.org/p" + std::to_string(i % 50),
                        std::chrono::microseconds(i * 37));
        r.authz_rule = "rule" + std::to_string(i % 7);
        if (i % 5 == 0) r.handshake = {true, false, "timeout", 10s, false};
        r.handshake.session_resumed = i % 2 == 0;
        s.connectionClosed(r);
        if (i % 100 == 0) s.connectionRejected();
      }
      done.fetch_add(1);
    });
  }
  int scrapes = 0;
  while (done.load() < kWorkers || scrapes < 3) {
    const Exposition e = parse(m.renderPrometheus());
    for (const auto* s : e.find("mutual_tcp_connections_active")) {
      EXPECT_GE(s->value, 0) << "active below zero";
    }
    expectHistogramsConsistent(e, "mutual_tcp_connection_duration_seconds");
    expectHistogramsConsistent(e, "mutual_tls_handshake_duration_seconds");
    EXPECT_EQ(e.sum("mutual_tcp_connection_duration_seconds_count"),
              e.sum("mutual_tcp_connections_closed_total"));
    ++scrapes;
  }
  for (auto& t : workers) t.join();

  const Exposition e = parse(m.renderPrometheus());
  const double total = kWorkers * kPerWorker;
  EXPECT_EQ(e.sum("mutual_tcp_connections_opened_total"), total);
  EXPECT_EQ(e.sum("mutual_tcp_connections_closed_total"), total);
  EXPECT_EQ(e.sum("mutual_tcp_connections_active"), 0);
  EXPECT_EQ(e.sum("mutual_tcp_connection_duration_seconds_count"), total);
  EXPECT_EQ(e.sum("mutual_tcp_received_bytes_total"), total * 100);
  EXPECT_EQ(e.sum("mutual_tcp_sent_bytes_total"), total * 1000);
  EXPECT_EQ(e.sum("mutual_tls_handshakes_total"), total);
  EXPECT_EQ(e.sum("mutual_tls_handshakes_total", {{"reason", "timeout"}}), total / 5);
  EXPECT_EQ(e.sum("mutual_authz_decisions_total"), total);
  EXPECT_EQ(e.sum("mutual_connections_rejected_total"), kWorkers * kPerWorker / 100);
  // 20 slots: the local principal and 19 peers.
  std::set<std::string> sources;
  for (const auto* s : e.find("mutual_tcp_connections_closed_total", {{"direction", "inbound"}})) {
    sources.insert(s->labels.at("source_principal"));
  }
  EXPECT_EQ(sources.size(), 20u);  // 19 peers and "other"
  EXPECT_EQ(sources.count("other"), 1u);
}

}  // namespace
}  // namespace mutual::telemetry
