// Per-connection telemetry cost: what every connection pays when it closes.
//
//   BM_AccessLogJson            telemetry::accessLogJson of a typical mTLS record
//   BM_AccessLogJsonNlohmann    the same line built with nlohmann::json (the alternative)
//   BM_AccessLogJsonHostile     a record whose strings need escaping and UTF-8 repair
//   BM_ConnectionClosed         MetricsShard::connectionClosed, label combination already known
//   BM_OpenedAndClosed          connectionOpened + connectionClosed, i.e. one connection
//   BM_ConnectionClosedPerWorker  the same on 2 threads, one shard each (no sharing expected)
//   BM_AccessLogWrite           AccessLog::write (copy into the buffer), writer thread running
//   BM_AccessLogJsonAndWrite    accessLogJson + AccessLog::write, what a worker pays per line
//   BM_RenderPrometheus         one scrape: 2 shards, 200 connection series

#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "base/time.h"
#include "telemetry/access_log.h"
#include "telemetry/connection_record.h"
#include "telemetry/metrics.h"

namespace mutual::telemetry {
namespace {

using namespace std::chrono_literals;

ConnectionRecord typical() {
  ConnectionRecord r;
  r.connection_id = 123456789;
  r.start_time = fromUnix(1795888800) + 123ms;
  r.duration = 1534ms;
  r.direction = Direction::kInbound;
  r.downstream_remote_address = "10.244.1.17:51234";
  r.downstream_local_address = "10.244.2.9:15006";
  r.upstream_host = "127.0.0.1:8080";
  r.upstream_local_address = "127.0.0.1:40022";
  r.requested_server_name = "backend.default.svc.cluster.local";
  r.alpn = "h2";
  r.tls_version = "TLSv1.3";
  r.tls_cipher = "TLS_AES_128_GCM_SHA256";
  r.peer_principal = "spiffe://cluster.local/ns/default/sa/frontend";
  r.local_principal = "spiffe://cluster.local/ns/default/sa/backend";
  r.peer_cert_serial = "5f3a9c0d11e24b7a8c9d0e1f2a3b4c5d";
  r.peer_cert_fingerprint_sha256 =
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  r.authz_decision = "allow";
  r.authz_rule = "default/allow-frontend";
  r.bytes_received = 18234;
  r.bytes_sent = 1048576;
  r.response_flags = "";
  r.connection_termination_details = "";
  r.listener = "inbound-8080";
  r.connection_security_policy = "mutual_tls";
  r.tls = "true";
  r.handshake = {true, true, "", 2300us, true};
  return r;
}

void BM_AccessLogJson(benchmark::State& state) {
  const ConnectionRecord r = typical();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string line = accessLogJson(r);
    bytes += line.size();
    benchmark::DoNotOptimize(line);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AccessLogJson);

void BM_AccessLogJsonNlohmann(benchmark::State& state) {
  const ConnectionRecord r = typical();
  const auto str = [](const std::string& s) -> nlohmann::json {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  for (auto _ : state) {
    nlohmann::ordered_json j;
    std::string time;
    appendRfc3339Millis(time, r.start_time);
    j["start_time"] = time;
    j["duration"] = std::chrono::duration_cast<std::chrono::milliseconds>(r.duration).count();
    j["direction"] = directionName(r.direction);
    j["downstream_remote_address"] = str(r.downstream_remote_address);
    j["downstream_local_address"] = str(r.downstream_local_address);
    j["upstream_host"] = str(r.upstream_host);
    j["upstream_local_address"] = str(r.upstream_local_address);
    j["requested_server_name"] = str(r.requested_server_name);
    j["alpn"] = str(r.alpn);
    j["tls_version"] = str(r.tls_version);
    j["tls_cipher"] = str(r.tls_cipher);
    j["peer_principal"] = str(r.peer_principal);
    j["local_principal"] = str(r.local_principal);
    j["peer_cert_serial"] = str(r.peer_cert_serial);
    j["peer_cert_fingerprint_sha256"] = str(r.peer_cert_fingerprint_sha256);
    j["authz_decision"] = str(r.authz_decision);
    j["authz_rule"] = str(r.authz_rule);
    j["bytes_received"] = r.bytes_received;
    j["bytes_sent"] = r.bytes_sent;
    j["response_flags"] = str(r.response_flags);
    j["connection_termination_details"] = str(r.connection_termination_details);
    j["downstream_transport_failure_reason"] = str(r.downstream_transport_failure_reason);
    j["upstream_transport_failure_reason"] = str(r.upstream_transport_failure_reason);
    j["connection_id"] = r.connection_id;
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    benchmark::DoNotOptimize(line);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AccessLogJsonNlohmann);

void BM_AccessLogJsonHostile(benchmark::State& state) {
  ConnectionRecord r = typical();
  r.requested_server_name = "evil\"\\\n\x01\xff\xc0\xaf.example";
  r.downstream_transport_failure_reason =
      "error:0A000086:SSL routines::certificate verify failed \"caf\xc3\xa9\"";
  for (auto _ : state) {
    std::string line = accessLogJson(r);
    benchmark::DoNotOptimize(line);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AccessLogJsonHostile);

void BM_ConnectionClosed(benchmark::State& state) {
  Metrics metrics;
  MetricsShard& shard = metrics.shard(0);
  const ConnectionRecord r = typical();
  shard.connectionOpened(r.direction, r.listener);
  for (auto _ : state) shard.connectionClosed(r);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ConnectionClosed);

void BM_OpenedAndClosed(benchmark::State& state) {
  Metrics metrics;
  MetricsShard& shard = metrics.shard(0);
  const ConnectionRecord r = typical();
  for (auto _ : state) {
    shard.connectionOpened(r.direction, r.listener);
    shard.connectionClosed(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OpenedAndClosed);

Metrics& sharedMetrics() {
  static Metrics metrics(MetricsOptions{.workers = 2});
  return metrics;
}

void BM_ConnectionClosedPerWorker(benchmark::State& state) {
  MetricsShard& shard = sharedMetrics().shard(static_cast<size_t>(state.thread_index()));
  const ConnectionRecord r = typical();
  for (auto _ : state) {
    shard.connectionOpened(r.direction, r.listener);
    shard.connectionClosed(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ConnectionClosedPerWorker)->Threads(1)->Threads(2)->UseRealTime();

void BM_AccessLogWrite(benchmark::State& state) {
  auto log = AccessLog::open("/dev/null");
  if (!log) {
    state.SkipWithError(log.error().message.c_str());
    return;
  }
  const std::string line = accessLogJson(typical());
  size_t n = 0;
  for (auto _ : state) {
    (*log)->write(line);
    // Far faster than any worker: let the writer catch up, untimed, so no line is dropped
    // (a dropped line costs nothing and would flatter the number).
    if (++n % 1024 == 0) {
      state.PauseTiming();
      (*log)->flush();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
  (*log)->close();
  state.counters["dropped"] = static_cast<double>((*log)->dropped());
}
BENCHMARK(BM_AccessLogWrite);

void BM_AccessLogJsonAndWrite(benchmark::State& state) {
  auto log = AccessLog::open("/dev/null");
  if (!log) {
    state.SkipWithError(log.error().message.c_str());
    return;
  }
  const ConnectionRecord r = typical();
  for (auto _ : state) (*log)->write(accessLogJson(r));
  state.SetItemsProcessed(state.iterations());
  (*log)->close();
  state.counters["dropped"] = static_cast<double>((*log)->dropped());
}
BENCHMARK(BM_AccessLogJsonAndWrite);

void BM_RenderPrometheus(benchmark::State& state) {
  Metrics metrics(MetricsOptions{.workers = 2});
  for (int i = 0; i < 200; ++i) {
    ConnectionRecord r = typical();
    r.peer_principal = "spiffe://cluster.local/ns/default/sa/client-" + std::to_string(i % 100);
    r.direction = i % 2 ? Direction::kInbound : Direction::kOutbound;
    MetricsShard& shard = metrics.shard(static_cast<size_t>(i % 2));
    shard.connectionOpened(r.direction, r.listener);
    shard.connectionClosed(r);
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = metrics.renderPrometheus();
    bytes += text.size();
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_RenderPrometheus);

}  // namespace
}  // namespace mutual::telemetry

BENCHMARK_MAIN();
