// Policy check throughput: `mutual check tls` over a generated mesh of 1,000 workloads, 150
// Services (200 Service ports) and 200 policies (PeerAuthentication at mesh, namespace,
// workload and port level; DestinationRules at root, namespace, host and port level, some
// with a workloadSelector; ALLOW and DENY AuthorizationPolicies), on one thread.
// Issue 3's goal: the whole `check tls` in under a second on one core.
//
//   BM_CheckAll        Simulator construction + Simulator::check over every client x Service
//                      port x endpoint (400,000 rows, collected); rows/s in items_per_second
//   BM_ForEachRowAll   the same rows streamed (Simulator::forEachRow), as the CLI does
//   BM_CheckFromOne    Simulator::check(--from one client) (400 rows)
//   BM_CheckOnePair    Simulator::check(--from, --to): one client, one Service port
//   BM_MigrateNamespace  policy::migrateToStrict for one namespace (two full checks)
//
// bench/gen_mesh.py writes the same shape as YAML for timing the real CLI (docs/benchmarks.md).

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "config/mesh.h"
#include "policy/tls_check.h"

namespace mutual {
namespace {

using config::ClientTls;
using config::ClientTlsMode;
using config::MtlsMode;

// The mesh's shape; bench/gen_mesh.py uses the same numbers and rules.
constexpr int kNamespaces = 20;
constexpr int kServices = 150;
constexpr int kWorkloads = 1000;
constexpr int kBackendsPerService = 2;  // v1 and v2 Deployments behind each Service

std::string ns(int i) { return "ns-" + std::to_string(i % kNamespaces); }
std::string svc(int i) { return "svc-" + std::to_string(i); }
std::string timestamp(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "2026-01-%02dT%02d:00:00Z", 1 + i % 28, i % 24);
  return buf;
}

config::PolicyMeta meta(const std::string& name, const std::string& namespace_name, int i) {
  return config::PolicyMeta{name, namespace_name, timestamp(i), {"bench", i}};
}

ClientTls tls(ClientTlsMode mode) {
  ClientTls t;
  t.mode = mode;
  return t;
}

config::MeshConfig generateMesh() {
  config::MeshConfig m;
  // Services: svc-i in ns-(i % 20); HTTP 80 -> 8080 on all, gRPC 9090 on every third.
  for (int i = 0; i < kServices; ++i) {
    config::Service s;
    s.meta = meta(svc(i), ns(i), i);
    s.selector = config::Labels{{"app", svc(i)}};
    s.ports.push_back({"http", 80, 8080, "", "http"});
    if (i % 3 == 0) s.ports.push_back({"grpc", 9090, 9090, "", "grpc"});
    m.services.push_back(std::move(s));
  }
  // Workloads: two versions behind each Service, the rest clients only; every 20th without a
  // sidecar; every 50th skips outbound port 9090 (Linkerd annotation).
  for (int j = 0; j < kWorkloads; ++j) {
    config::Workload w;
    w.kind = "Deployment";
    if (j < kServices * kBackendsPerService) {
      const int s = j / kBackendsPerService;
      w.meta = meta(svc(s) + "-v" + std::to_string(j % 2 + 1), ns(s), j);
      w.labels = {{"app", svc(s)}, {"version", "v" + std::to_string(j % 2 + 1)}};
    } else {
      w.meta = meta("client-" + std::to_string(j), ns(j), j);
      w.labels = {{"app", "client-" + std::to_string(j)}, {"tier", j % 2 ? "batch" : "web"}};
    }
    w.service_account = w.meta.name;
    w.sidecar = j % 20 != 7;
    w.ports = {{"http", 8080}, {"grpc", 9090}};
    if (j % 50 == 3) w.linkerd_skip_outbound_ports = {9090};
    m.workloads.push_back(std::move(w));
  }

  // 61 PeerAuthentications: the mesh (STRICT), one per namespace (PERMISSIVE, STRICT, UNSET,
  // DISABLE in turn), 40 workload policies with port entries.
  int n = 0;
  {
    config::PeerAuthentication p;
    p.meta = meta("default", "istio-system", n++);
    p.mode = MtlsMode::kStrict;
    m.peer_authentications.push_back(std::move(p));
  }
  const MtlsMode ns_modes[4] = {MtlsMode::kPermissive, MtlsMode::kStrict, MtlsMode::kUnset,
                                MtlsMode::kDisable};
  for (int i = 0; i < kNamespaces; ++i) {
    config::PeerAuthentication p;
    p.meta = meta("default", ns(i), n++);
    p.mode = ns_modes[i % 4];
    m.peer_authentications.push_back(std::move(p));
  }
  for (int i = 0; i < 40; ++i) {
    const int s = i * 3 + 1;
    config::PeerAuthentication p;
    p.meta = meta(svc(s), ns(s), n++);
    p.selector = config::Labels{{"app", svc(s)}};
    p.mode = i % 2 ? MtlsMode::kStrict : MtlsMode::kUnset;
    p.port_level[9090] = MtlsMode::kDisable;
    if (i % 4 == 0) p.port_level[8080] = MtlsMode::kPermissive;
    m.peer_authentications.push_back(std::move(p));
  }

  // 60 DestinationRules: `*.local` ISTIO_MUTUAL at the root; in every other namespace a
  // `*.<ns>.svc.cluster.local` rule (two of them DISABLE); 49 host rules with a port-level
  // DISABLE, some in the client's rather than the service's namespace, 10 with a
  // workloadSelector.
  {
    config::DestinationRule dr;
    dr.meta = meta("default", "istio-system", n++);
    dr.host = "*.local";
    dr.traffic_policy = config::TrafficPolicy{tls(ClientTlsMode::kIstioMutual), {}};
    m.destination_rules.push_back(std::move(dr));
  }
  for (int i = 0; i < kNamespaces; ++i) {
    if (i % 2) continue;
    config::DestinationRule dr;
    dr.meta = meta("namespace-default", ns(i), n++);
    dr.host = "*." + ns(i) + ".svc.cluster.local";
    dr.traffic_policy = config::TrafficPolicy{
        tls(i % 5 == 0 ? ClientTlsMode::kDisable : ClientTlsMode::kIstioMutual), {}};
    m.destination_rules.push_back(std::move(dr));
  }
  for (int i = 0; i < 49; ++i) {
    const int s = i * 3 + 1;
    config::DestinationRule dr;
    dr.meta = meta(svc(s) + "-dr", ns(s + i % 3), n++);  // some in other namespaces
    dr.host = svc(s) + "." + ns(s) + ".svc.cluster.local";
    config::TrafficPolicy tp;
    tp.tls = tls(ClientTlsMode::kIstioMutual);
    tp.port_level[9090] = tls(ClientTlsMode::kDisable);
    dr.traffic_policy = tp;
    if (i % 5 == 0) dr.workload_selector = config::Labels{{"tier", "batch"}};
    m.destination_rules.push_back(std::move(dr));
  }

  const auto fromNamespaces = [](std::vector<std::string> namespaces) {
    config::AuthzSource source;
    source.namespaces = std::move(namespaces);
    config::AuthzRule rule;
    rule.from.push_back(std::move(source));
    return rule;
  };
  const auto onPort = [](std::string port) {
    config::AuthzOperation op;
    op.ports = {std::move(port)};
    return op;
  };
  // 79 AuthorizationPolicies, to 200 policies in all: a root-namespace DENY; per Service an
  // ALLOW (its own namespace's accounts, two other namespaces, or any authenticated peer on
  // 8080; anyone on 9090), every seventh a DENY of one namespace instead.
  {
    config::AuthorizationPolicy ap;
    ap.meta = meta("deny-quarantine", "istio-system", n++);
    ap.action = config::AuthzAction::kDeny;
    ap.rules.push_back(fromNamespaces({"quarantine"}));
    m.authorization_policies.push_back(std::move(ap));
  }
  for (int i = 0; n < 200; ++i) {
    const int s = (i * 7) % kServices;
    config::AuthorizationPolicy ap;
    ap.selector = config::Labels{{"app", svc(s)}};
    if (i % 7 == 6) {
      ap.meta = meta(svc(s) + "-deny", ns(s), n++);
      ap.action = config::AuthzAction::kDeny;
      ap.rules.push_back(fromNamespaces({ns(s + 1)}));
    } else {
      ap.meta = meta(svc(s) + "-allow", ns(s), n++);
      ap.action = config::AuthzAction::kAllow;
      config::AuthzRule rule;
      config::AuthzSource accounts;
      accounts.principals = {"cluster.local/ns/" + ns(s) + "/sa/*"};
      accounts.namespaces = {ns(s + 2), ns(s + 3)};
      rule.from.push_back(std::move(accounts));
      config::AuthzSource anyone;
      anyone.principals = {"*"};
      rule.from.push_back(std::move(anyone));
      rule.to.push_back(onPort("8080"));
      ap.rules.push_back(std::move(rule));
      config::AuthzRule open_port;
      open_port.to.push_back(onPort("9090"));
      ap.rules.push_back(std::move(open_port));
    }
    m.authorization_policies.push_back(std::move(ap));
  }
  return m;
}

const config::MeshConfig& mesh() {
  static const config::MeshConfig m = generateMesh();
  return m;
}

void BM_CheckAll(benchmark::State& state) {
  size_t rows = 0;
  for (auto _ : state) {
    const policy::Simulator sim(mesh(), config::MeshSettings{});
    auto result = sim.check(std::nullopt, std::nullopt);
    if (!result) state.SkipWithError(result.error().message.c_str());
    rows = result ? result->size() : 0;
    benchmark::DoNotOptimize(result);
  }
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["policies"] =
      static_cast<double>(mesh().peer_authentications.size() + mesh().destination_rules.size() +
                          mesh().authorization_policies.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_CheckAll)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

// What `mutual check tls` does: the same rows, streamed to a sink instead of collected.
void BM_ForEachRowAll(benchmark::State& state) {
  size_t rows = 0;
  size_t failed = 0;
  for (auto _ : state) {
    const policy::Simulator sim(mesh(), config::MeshSettings{});
    failed = 0;
    auto n = sim.forEachRow(std::nullopt, std::nullopt, [&](policy::CheckRow&& row) {
      failed += policy::succeeded(row.outcome) ? 0 : 1;
    });
    if (!n) state.SkipWithError(n.error().message.c_str());
    rows = n ? *n : 0;
  }
  state.counters["rows"] = static_cast<double>(rows);
  state.counters["failed"] = static_cast<double>(failed);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_ForEachRowAll)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

void BM_CheckFromOne(benchmark::State& state) {
  const policy::Simulator sim(mesh(), config::MeshSettings{});
  const std::string from = ns(401) + "/client-401";
  size_t rows = 0;
  for (auto _ : state) {
    auto result = sim.check(from, std::nullopt);
    if (!result) state.SkipWithError(result.error().message.c_str());
    rows = result ? result->size() : 0;
    benchmark::DoNotOptimize(result);
  }
  state.counters["rows"] = static_cast<double>(rows);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_CheckFromOne)->Unit(benchmark::kMicrosecond);

void BM_CheckOnePair(benchmark::State& state) {
  const policy::Simulator sim(mesh(), config::MeshSettings{});
  const std::string from = ns(401) + "/client-401";
  const std::string to = svc(4) + "." + ns(4) + ":80";
  for (auto _ : state) {
    auto result = sim.check(from, to);
    if (!result) state.SkipWithError(result.error().message.c_str());
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_CheckOnePair)->Unit(benchmark::kMicrosecond);

void BM_MigrateNamespace(benchmark::State& state) {
  size_t breaks = 0;
  for (auto _ : state) {
    auto result = policy::migrateToStrict(mesh(), config::MeshSettings{}, ns(0));
    if (!result) state.SkipWithError(result.error().message.c_str());
    breaks = result ? result->size() : 0;
    benchmark::DoNotOptimize(result);
  }
  state.counters["breaks"] = static_cast<double>(breaks);
}
BENCHMARK(BM_MigrateNamespace)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace
}  // namespace mutual

BENCHMARK_MAIN();
