#include "telemetry/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/text_serializer.h>

namespace mutual::telemetry {

namespace detail {

bool LabelLimiter::admit(std::string_view value) {
  // Once full, nothing is inserted any more: the acquire pairs with the release below and
  // makes every insertion visible, so the set can be read without the lock.
  if (full_.load(std::memory_order_acquire)) return values_.find(value) != values_.end();
  std::lock_guard lock(mu_);
  if (values_.find(value) != values_.end()) return true;
  if (values_.size() >= limit_) return false;
  values_.emplace(value);
  if (values_.size() == limit_) full_.store(true, std::memory_order_release);
  return true;
}

size_t LabelLimiter::size() const {
  std::lock_guard lock(mu_);
  return values_.size();
}

}  // namespace detail

namespace {

constexpr std::string_view kUnknown = "unknown";
constexpr std::string_view kOther = "other";

size_t directionIndex(Direction d) { return d == Direction::kInbound ? 0 : 1; }

uint64_t micros(std::chrono::nanoseconds d) {
  return d.count() <= 0 ? 0 : static_cast<uint64_t>(d.count() / 1000);
}

std::string_view orUnknown(std::string_view v) { return v.empty() ? kUnknown : v; }

}  // namespace

MetricsShard::MetricsShard(const MetricsOptions& options, detail::LabelLimiter& principals,
                           detail::LabelLimiter& rules)
    : options_(options), principal_limiter_(principals), rule_limiter_(rules) {}

template <size_t N, typename Cell>
Cell& MetricsShard::cell(detail::CellMap<N, Cell>& map, const detail::LabelRefs<N>& labels) {
  // Only this shard's owner modifies the map, so its own lookup needs no lock.
  if (auto it = map.find(labels); it != map.end()) return it->second;
  detail::LabelValues<N> owned;
  for (size_t i = 0; i < N; ++i) owned[i] = std::string(labels[i]);
  std::lock_guard lock(mu_);
  return map.try_emplace(std::move(owned)).first->second;
}

std::string_view MetricsShard::limited(detail::StringSet& admitted, detail::LabelLimiter& limiter,
                                       std::string_view value) {
  if (auto it = admitted.find(value); it != admitted.end()) return *it;
  if (!limiter.admit(value)) return kOther;
  // Set elements never move, so the view stays valid for the shard's life.
  return *admitted.emplace(value).first;
}

void MetricsShard::connectionOpened(Direction direction, std::string_view listener) {
  cell(open_, {directionName(direction), listener}).opened.add(1);
}

void MetricsShard::connectionRejected() { rejected_overflow_.add(1); }

void MetricsShard::connectionClosed(const ConnectionRecord& r) {
  const std::string_view direction = directionName(r.direction);
  const bool inbound = r.direction == Direction::kInbound;

  OpenCell& open = cell(open_, {direction, r.listener});
  open.closed.store(open.closed.load(std::memory_order_relaxed) + 1, std::memory_order_release);

  std::string_view peer = kUnknown;
  if (!r.peer_principal.empty() && (inbound || options_.outbound_principal_labels)) {
    peer = limited(admitted_principals_, principal_limiter_, r.peer_principal);
  }
  const std::string_view local =
      r.local_principal.empty()
          ? kUnknown
          : limited(admitted_principals_, principal_limiter_, r.local_principal);
  ConnectionCell& conn = cell(
      connections_, {direction, orUnknown(r.connection_security_policy), r.tls, r.no_tls_reason,
                     r.listener, inbound ? peer : local, inbound ? local : peer});
  conn.duration.observe(micros(r.duration), kConnectionDurationBucketsMicros);
  conn.received_bytes.add(r.bytes_received);
  conn.sent_bytes.add(r.bytes_sent);

  const HandshakeOutcome& hs = r.handshake;
  if (hs.attempted) {
    std::string_view reason;
    if (!hs.ok) reason = isHandshakeReason(hs.reason) ? std::string_view(hs.reason) : kOther;
    cell(handshakes_, {direction, hs.ok ? "success" : "failure", reason})
        .observe(micros(hs.duration), kHandshakeDurationBucketsMicros);
    if (hs.ok && hs.session_resumed) sessions_resumed_[directionIndex(r.direction)].add(1);
    if (hs.ok && !r.tls_version.empty()) {
      cell(negotiated_, {r.tls_version, orUnknown(r.tls_cipher)}).add(1);
    }
  }

  if (!r.authz_decision.empty()) {
    const std::string_view decision =
        r.authz_decision == "allow" || r.authz_decision == "deny" ? r.authz_decision : kOther;
    const std::string_view rule = r.authz_rule.empty()
                                      ? std::string_view()
                                      : limited(admitted_rules_, rule_limiter_, r.authz_rule);
    cell(authz_, {decision, rule}).add(1);
  }
}

Metrics::Metrics(MetricsOptions options)
    : options_(options),
      principal_limiter_(options.principal_label_limit),
      rule_limiter_(options.rule_label_limit) {
  const size_t n = options_.workers == 0 ? 1 : options_.workers;
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    shards_.emplace_back(new MetricsShard(options_, principal_limiter_, rule_limiter_));
  }
  rotations_["success"] = 0;
  rotations_["failure"] = 0;
}

Metrics::~Metrics() = default;

void Metrics::setSvidExpiry(std::string_view spiffe_id, int64_t not_after_unix_seconds) {
  std::lock_guard lock(control_mu_);
  svid_expiry_.insert_or_assign(std::string(spiffe_id), not_after_unix_seconds);
}

void Metrics::removeSvid(std::string_view spiffe_id) {
  std::lock_guard lock(control_mu_);
  if (auto it = svid_expiry_.find(spiffe_id); it != svid_expiry_.end()) svid_expiry_.erase(it);
}

void Metrics::countRotation(std::string_view result) {
  std::lock_guard lock(control_mu_);
  if (auto it = rotations_.find(result); it != rotations_.end()) {
    ++it->second;
  } else {
    rotations_.emplace(std::string(result), 1);
  }
}

void Metrics::setBundleRoots(std::string_view trust_domain, int64_t roots) {
  std::lock_guard lock(control_mu_);
  bundle_roots_.insert_or_assign(std::string(trust_domain), roots);
}

void Metrics::removeBundle(std::string_view trust_domain) {
  std::lock_guard lock(control_mu_);
  if (auto it = bundle_roots_.find(trust_domain); it != bundle_roots_.end()) {
    bundle_roots_.erase(it);
  }
}

void Metrics::setReady(bool ready) {
  std::lock_guard lock(control_mu_);
  ready_ = ready;
}

void Metrics::setAccessLogDroppedSource(std::function<uint64_t()> source) {
  std::lock_guard lock(control_mu_);
  access_log_dropped_ = std::move(source);
}

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

template <size_t N>
using Names = std::array<std::string_view, N>;

template <size_t N>
std::vector<ClientMetric::Label> labels(const Names<N>& names,
                                        const detail::LabelValues<N>& values) {
  std::vector<ClientMetric::Label> out;
  out.reserve(N);
  for (size_t i = 0; i < N; ++i) {
    // Label values come from peers' certificates and configuration: the text format needs
    // UTF-8 (TextSerializer escapes quotes, backslashes and newlines itself).
    out.push_back({std::string(names[i]), toValidUtf8(values[i])});
  }
  return out;
}

MetricFamily family(std::string_view name, std::string_view help, MetricType type) {
  return MetricFamily{std::string(name), std::string(help), type, {}};
}

ClientMetric counter(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

ClientMetric gauge(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

struct HistogramSum {
  std::vector<uint64_t> buckets;  // not cumulative, last one is +Inf
  uint64_t sum_micros = 0;

  template <size_t B>
  void add(const detail::Histogram<B>& h) {
    if (buckets.empty()) buckets.assign(B + 1, 0);
    for (size_t i = 0; i <= B; ++i) buckets[i] += h.bucket(i);
    sum_micros += h.sumMicros();
  }
  void add(const HistogramSum& other) {
    if (buckets.empty()) buckets.assign(other.buckets.size(), 0);
    for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
    sum_micros += other.sum_micros;
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (const uint64_t b : buckets) n += b;
    return n;
  }
};

template <size_t B>
ClientMetric histogram(std::vector<ClientMetric::Label> labels, const HistogramSum& sum,
                       const std::array<uint64_t, B>& bounds_micros) {
  ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < B; ++i) {
    cumulative += sum.buckets[i];
    m.histogram.bucket.push_back({cumulative, static_cast<double>(bounds_micros[i]) / 1e6});
  }
  // The serializer writes the +Inf bucket from sample_count.
  m.histogram.sample_count = cumulative + sum.buckets[B];
  m.histogram.sample_sum = static_cast<double>(sum.sum_micros) / 1e6;
  return m;
}

struct ConnectionSum {
  HistogramSum duration;
  uint64_t sent = 0;
  uint64_t received = 0;
};

struct OpenSum {
  uint64_t opened = 0;
  uint64_t closed = 0;
};

constexpr Names<2> kOpenLabels = {"direction", "listener"};
constexpr Names<7> kConnectionLabels = {
    "direction",        "connection_security_policy", "tls", "no_tls_reason", "listener",
    "source_principal", "destination_principal"};
constexpr Names<3> kHandshakeLabels = {"direction", "result", "reason"};
constexpr Names<2> kHandshakeDurationLabels = {"direction", "result"};

}  // namespace

std::vector<MetricFamily> Metrics::Collect() const {
  std::map<detail::LabelValues<2>, OpenSum> open;
  std::map<detail::LabelValues<7>, ConnectionSum> connections;
  std::map<detail::LabelValues<3>, HistogramSum> handshakes;
  std::map<detail::LabelValues<2>, uint64_t> negotiated;
  std::map<detail::LabelValues<2>, uint64_t> authz;
  std::array<uint64_t, 2> resumed{};
  uint64_t rejected = 0;

  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu_);
    for (const auto& [key, c] : shard->open_) {
      // closed first (acquire): every opening before those closings is then visible too.
      const uint64_t closed = c.closed.load(std::memory_order_acquire);
      OpenSum& s = open[key];
      s.opened += c.opened.value();
      s.closed += closed;
    }
    for (const auto& [key, c] : shard->connections_) {
      ConnectionSum& s = connections[key];
      s.duration.add(c.duration);
      s.sent += c.sent_bytes.value();
      s.received += c.received_bytes.value();
    }
    for (const auto& [key, c] : shard->handshakes_) handshakes[key].add(c);
    for (const auto& [key, c] : shard->negotiated_) negotiated[key] += c.value();
    for (const auto& [key, c] : shard->authz_) authz[key] += c.value();
    for (size_t i = 0; i < resumed.size(); ++i) resumed[i] += shard->sessions_resumed_[i].value();
    rejected += shard->rejected_overflow_.value();
  }

  std::vector<MetricFamily> out;
  out.reserve(20);

  auto opened_f =
      family("mutual_tcp_connections_opened_total",
             "TCP connections opened (accepted inbound or started outbound).", MetricType::Counter);
  auto active_f =
      family("mutual_tcp_connections_active", "TCP connections currently open.", MetricType::Gauge);
  for (const auto& [key, s] : open) {
    opened_f.metric.push_back(counter(labels(kOpenLabels, key), static_cast<double>(s.opened)));
    // Signed: a close without its open (a caller's bug) shows as negative, not as 2^64.
    const auto active = static_cast<int64_t>(s.opened) - static_cast<int64_t>(s.closed);
    active_f.metric.push_back(gauge(labels(kOpenLabels, key), static_cast<double>(active)));
  }
  auto closed_f =
      family("mutual_tcp_connections_closed_total", "TCP connections closed.", MetricType::Counter);
  auto sent_f = family("mutual_tcp_sent_bytes_total",
                       "Bytes sent to the downstream peer, counted when the connection closes.",
                       MetricType::Counter);
  auto received_f =
      family("mutual_tcp_received_bytes_total",
             "Bytes received from the downstream peer, counted when the connection closes.",
             MetricType::Counter);
  auto duration_f =
      family("mutual_tcp_connection_duration_seconds",
             "Connection lifetime from accept (or start) to close.", MetricType::Histogram);
  for (const auto& [key, s] : connections) {
    auto l = labels(kConnectionLabels, key);
    // _count of the histogram and closed_total come from the same buckets: always equal.
    closed_f.metric.push_back(counter(l, static_cast<double>(s.duration.count())));
    sent_f.metric.push_back(counter(l, static_cast<double>(s.sent)));
    received_f.metric.push_back(counter(l, static_cast<double>(s.received)));
    duration_f.metric.push_back(
        histogram(std::move(l), s.duration, kConnectionDurationBucketsMicros));
  }
  out.push_back(std::move(opened_f));
  out.push_back(std::move(closed_f));
  out.push_back(std::move(active_f));
  out.push_back(std::move(sent_f));
  out.push_back(std::move(received_f));
  out.push_back(std::move(duration_f));

  auto handshakes_f = family("mutual_tls_handshakes_total",
                             "TLS handshakes by result (success, failure) and failure reason.",
                             MetricType::Counter);
  std::map<detail::LabelValues<2>, HistogramSum> handshake_durations;
  for (const auto& [key, s] : handshakes) {
    handshakes_f.metric.push_back(
        counter(labels(kHandshakeLabels, key), static_cast<double>(s.count())));
    handshake_durations[{key[0], key[1]}].add(s);
  }
  auto handshake_duration_f =
      family("mutual_tls_handshake_duration_seconds",
             "TLS handshake duration, successful or failed.", MetricType::Histogram);
  for (const auto& [key, s] : handshake_durations) {
    handshake_duration_f.metric.push_back(
        histogram(labels(kHandshakeDurationLabels, key), s, kHandshakeDurationBucketsMicros));
  }
  auto resumed_f = family("mutual_tls_sessions_resumed_total",
                          "Successful TLS handshakes that resumed a session.", MetricType::Counter);
  for (const Direction d : {Direction::kInbound, Direction::kOutbound}) {
    resumed_f.metric.push_back(counter({{"direction", std::string(directionName(d))}},
                                       static_cast<double>(resumed[directionIndex(d)])));
  }
  auto negotiated_f =
      family("mutual_tls_negotiated_total",
             "Successful TLS handshakes by negotiated version and cipher.", MetricType::Counter);
  for (const auto& [key, n] : negotiated) {
    negotiated_f.metric.push_back(
        counter(labels(Names<2>{"version", "cipher"}, key), static_cast<double>(n)));
  }
  out.push_back(std::move(handshakes_f));
  out.push_back(std::move(handshake_duration_f));
  out.push_back(std::move(resumed_f));
  out.push_back(std::move(negotiated_f));

  auto authz_f = family("mutual_authz_decisions_total",
                        "Authorization decisions by decision (allow, deny) and matching rule.",
                        MetricType::Counter);
  for (const auto& [key, n] : authz) {
    authz_f.metric.push_back(
        counter(labels(Names<2>{"decision", "rule"}, key), static_cast<double>(n)));
  }
  out.push_back(std::move(authz_f));

  auto rejected_f = family("mutual_connections_rejected_total",
                           "Connections closed at accept because the connection limit was reached.",
                           MetricType::Counter);
  rejected_f.metric.push_back(counter({{"reason", "overflow"}}, static_cast<double>(rejected)));
  out.push_back(std::move(rejected_f));

  std::lock_guard lock(control_mu_);
  auto svid_f =
      family("mutual_svid_expiration_timestamp_seconds",
             "Expiry (not after) of each X509-SVID held, in Unix seconds.", MetricType::Gauge);
  for (const auto& [id, t] : svid_expiry_) {
    svid_f.metric.push_back(gauge({{"spiffe_id", toValidUtf8(id)}}, static_cast<double>(t)));
  }
  auto rotations_f =
      family("mutual_svid_rotations_total", "X509-SVID rotations by result (success, failure).",
             MetricType::Counter);
  for (const auto& [result, n] : rotations_) {
    rotations_f.metric.push_back(
        counter({{"result", toValidUtf8(result)}}, static_cast<double>(n)));
  }
  auto bundle_f = family("mutual_bundle_roots", "Root certificates trusted per trust domain.",
                         MetricType::Gauge);
  for (const auto& [td, n] : bundle_roots_) {
    bundle_f.metric.push_back(gauge({{"trust_domain", toValidUtf8(td)}}, static_cast<double>(n)));
  }
  auto ready_f =
      family("mutual_proxy_ready", "1 when the proxy has an identity and serves traffic, else 0.",
             MetricType::Gauge);
  ready_f.metric.push_back(gauge({}, ready_ ? 1 : 0));
  auto dropped_f = family("mutual_access_log_dropped_lines_total",
                          "Access-log lines dropped because the log writer fell behind or failed.",
                          MetricType::Counter);
  dropped_f.metric.push_back(
      counter({}, access_log_dropped_ ? static_cast<double>(access_log_dropped_()) : 0));
  out.push_back(std::move(svid_f));
  out.push_back(std::move(rotations_f));
  out.push_back(std::move(bundle_f));
  out.push_back(std::move(ready_f));
  out.push_back(std::move(dropped_f));
  return out;
}

std::string Metrics::renderPrometheus() const {
  return prometheus::TextSerializer().Serialize(Collect());
}

}  // namespace mutual::telemetry
