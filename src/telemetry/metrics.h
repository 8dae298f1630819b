#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "telemetry/connection_record.h"

namespace mutual::telemetry {

struct MetricsOptions {
  // One shard per data-plane worker.
  size_t workers = 1;
  // Distinct source_principal/destination_principal values across all shards; later values
  // are rendered as "other". 0 renders every principal as "other".
  size_t principal_label_limit = 100;
  // Principal labels are bounded by the registered entries for inbound connections; outbound
  // peers are whoever the application dials, so their principals are off unless asked for
  // (the peer's label is then "unknown").
  bool outbound_principal_labels = false;
  // Distinct authz `rule` values (rule names come from the policy manifests); then "other".
  size_t rule_label_limit = 1000;
};

// Histogram layouts, upper bounds in microseconds (Prometheus `le`, inclusive); +Inf is implied.
// Connection durations: 1ms to 1h.
inline constexpr std::array<uint64_t, 15> kConnectionDurationBucketsMicros = {
    1'000,      5'000,       10'000,      50'000,        100'000,
    500'000,    1'000'000,   5'000'000,   10'000'000,    30'000'000,
    60'000'000, 300'000'000, 600'000'000, 1'800'000'000, 3'600'000'000};
// Handshake durations: 0.5ms to 10s (the handshake deadline).
inline constexpr std::array<uint64_t, 14> kHandshakeDurationBucketsMicros = {
    500,     1'000,   2'500,   5'000,     10'000,    25'000,    50'000,
    100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

namespace detail {

// A counter with exactly one writing thread: a relaxed load and store instead of a locked
// read-modify-write; the scraper reads it with a relaxed load on another thread.
class Counter {
 public:
  void add(uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Per-bucket (not cumulative) counts: the scraper derives `_count` from the buckets it read,
// so cumulative buckets and `_count` always agree within one scrape.
template <size_t kBuckets>
class Histogram {
 public:
  void observe(uint64_t micros, const std::array<uint64_t, kBuckets>& bounds) {
    size_t i = 0;
    while (i < kBuckets && micros > bounds[i]) ++i;
    buckets_[i].add(1);
    sum_micros_.add(micros);
  }
  // i in [0, kBuckets]; kBuckets is the +Inf overflow bucket.
  uint64_t bucket(size_t i) const { return buckets_[i].value(); }
  uint64_t sumMicros() const { return sum_micros_.value(); }

 private:
  std::array<Counter, kBuckets + 1> buckets_;
  Counter sum_micros_;
};

template <size_t N>
using LabelValues = std::array<std::string, N>;
template <size_t N>
using LabelRefs = std::array<std::string_view, N>;

// Hash and equality usable with both LabelValues and LabelRefs, so a lookup on the
// per-connection path builds no strings.
struct LabelsHash {
  using is_transparent = void;
  template <typename Labels>
  size_t operator()(const Labels& labels) const {
    size_t h = 0;
    for (const std::string_view v : labels) {
      h ^= std::hash<std::string_view>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return h;
  }
};
struct LabelsEqual {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::string_view(a[i]) != std::string_view(b[i])) return false;
    }
    return true;
  }
};
template <size_t N, typename Cell>
using CellMap = std::unordered_map<LabelValues<N>, Cell, LabelsHash, LabelsEqual>;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

// The first `limit` distinct values offered are admitted, for good; thread-safe. Once full
// the set never changes again, so lookups then take no lock.
class LabelLimiter {
 public:
  explicit LabelLimiter(size_t limit) : limit_(limit), full_(limit == 0) {}
  bool admit(std::string_view value);
  size_t size() const;

 private:
  const size_t limit_;
  mutable std::mutex mu_;
  StringSet values_;
  std::atomic<bool> full_;
};

}  // namespace detail

// One worker's metrics. Written only by the worker thread that owns it (every method below
// must be called from that thread); read by the scraper through `Metrics`. Increments are
// plain relaxed stores; the shard's mutex is taken only when a label combination is seen for
// the first time on this shard (and by the scraper while it reads this shard).
class alignas(64) MetricsShard {
 public:
  MetricsShard(const MetricsShard&) = delete;
  MetricsShard& operator=(const MetricsShard&) = delete;

  // A connection was accepted (inbound) or started (outbound) on `listener`.
  void connectionOpened(Direction direction, std::string_view listener);
  // The connection ended; `record` is the one that also becomes the access-log line. Each
  // call must match an earlier connectionOpened(record.direction, record.listener) on this
  // shard, else mutual_tcp_connections_active is off. Counts the connection, its bytes and
  // duration, and, when they happened, its handshake, resumption, negotiated version and
  // cipher, and authorization decision.
  void connectionClosed(const ConnectionRecord& record);
  // One connection refused because the connection limit was reached
  // (mutual_connections_rejected_total{reason="overflow"}). Independent of connectionOpened and
  // connectionClosed, which the caller may also report for it (with response_flags "UO").
  void connectionRejected();

 private:
  friend class Metrics;

  struct OpenCell {
    detail::Counter opened;
    std::atomic<uint64_t> closed{0};  // written with release, so a scraper reading it first
                                      // (acquire) never sees more closed than opened
  };
  struct ConnectionCell {
    detail::Histogram<kConnectionDurationBucketsMicros.size()> duration;  // count = closed
    detail::Counter sent_bytes;
    detail::Counter received_bytes;
  };
  using HandshakeCell = detail::Histogram<kHandshakeDurationBucketsMicros.size()>;

  MetricsShard(const MetricsOptions& options, detail::LabelLimiter& principals,
               detail::LabelLimiter& rules);

  template <size_t N, typename Cell>
  Cell& cell(detail::CellMap<N, Cell>& map, const detail::LabelRefs<N>& labels);
  std::string_view limited(detail::StringSet& admitted, detail::LabelLimiter& limiter,
                           std::string_view value);

  const MetricsOptions& options_;
  detail::LabelLimiter& principal_limiter_;
  detail::LabelLimiter& rule_limiter_;
  // Owner thread only: values this shard already knows are admitted.
  detail::StringSet admitted_principals_;
  detail::StringSet admitted_rules_;

  // Guards inserting into the maps below (owner) against iterating them (scraper). The owner
  // looks cells up without it: it is the only thread that modifies the maps.
  mutable std::mutex mu_;
  detail::CellMap<2, OpenCell> open_;  // direction, listener
  // direction, connection_security_policy, tls, no_tls_reason, listener, source_principal,
  // destination_principal
  detail::CellMap<7, ConnectionCell> connections_;
  detail::CellMap<3, HandshakeCell> handshakes_;     // direction, result, reason
  detail::CellMap<2, detail::Counter> negotiated_;   // version, cipher
  detail::CellMap<2, detail::Counter> authz_;        // decision, rule
  std::array<detail::Counter, 2> sessions_resumed_;  // by direction
  detail::Counter rejected_overflow_;
};

// All of the proxy's metrics: one shard per worker plus the control thread's gauges, summed
// and rendered at scrape time. Also a prometheus::Collectable, should a prometheus::Registry
// ever need it.
class Metrics final : public prometheus::Collectable {
 public:
  explicit Metrics(MetricsOptions options = {});
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  size_t shardCount() const { return shards_.size(); }
  // Worker i's shard, i < shardCount(). Stable for the life of this object.
  MetricsShard& shard(size_t i) { return *shards_.at(i); }

  // Control thread (any thread; these take a mutex and are never on the per-connection path).
  // mutual_svid_expiration_timestamp_seconds{spiffe_id}.
  void setSvidExpiry(std::string_view spiffe_id, int64_t not_after_unix_seconds);
  // Drops the gauge of an SVID no longer held; no-op when absent.
  void removeSvid(std::string_view spiffe_id);
  // mutual_svid_rotations_total{result}: result is "success" or "failure" (both always shown).
  void countRotation(std::string_view result);
  // mutual_bundle_roots{trust_domain}: roots currently trusted for that trust domain.
  void setBundleRoots(std::string_view trust_domain, int64_t roots);
  void removeBundle(std::string_view trust_domain);
  // mutual_proxy_ready: 1 once the first SVID is loaded and listeners are up, 0 while draining.
  void setReady(bool ready);
  // mutual_access_log_dropped_lines_total reads this at each scrape (AccessLog::dropped). The
  // function must stay callable until it is replaced or this object is destroyed.
  void setAccessLogDroppedSource(std::function<uint64_t()> source);

  // Every family, shards summed, label values sorted; families with no samples yet still come
  // with their HELP and TYPE. Safe to call concurrently with the workers' writes.
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Collect() in the Prometheus text exposition format 0.0.4 (Content-Type
  // "text/plain; version=0.0.4; charset=utf-8").
  std::string renderPrometheus() const;

 private:
  MetricsOptions options_;
  detail::LabelLimiter principal_limiter_;
  detail::LabelLimiter rule_limiter_;
  std::vector<std::unique_ptr<MetricsShard>> shards_;

  mutable std::mutex control_mu_;
  std::map<std::string, int64_t, std::less<>> svid_expiry_;
  std::map<std::string, uint64_t, std::less<>> rotations_;
  std::map<std::string, int64_t, std::less<>> bundle_roots_;
  bool ready_ = false;
  std::function<uint64_t()> access_log_dropped_;
};

}  // namespace mutual::telemetry
