#include "config/proxy_config.h"

#include <gtest/gtest.h>

#include <string>

#include "config/testing.h"

namespace mutual::config {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// The example of the contract in docs/proxy.md, as external tools write it.
constexpr char kContract[] =
    "workload: {namespace: shop, name: cart, service_account: cart, labels: {app: cart}}\n"  // 1
    "trust_domain: cluster.local\n"                                                          // 2
    "credentials:\n"                                                                         // 3
    "  files: {cert: certs/tls.crt, key: certs/tls.key, bundle: certs/ca.crt}\n"             // 4
    "policies: [policies/]            # files or folders of manifests\n"                     // 5
    "inbound:\n"                                                                             // 6
    "  - {port: 8080, listen: 127.0.0.1:15006, forward: 127.0.0.1:8080}\n"                   // 7
    "outbound:\n"                                                                            // 8
    "  - {listen: 127.0.0.1:15001, destination: reviews.shop.svc.cluster.local:9080,\n"      // 9
    "     endpoints: [127.0.0.1:16006]}\n"                                                   // 10
    "admin: 127.0.0.1:15000\n"                                                               // 11
    "access_log: /dev/stdout\n";                                                             // 12

// The smallest valid file; tests append lines from 5 on.
constexpr char kMinimal[] =
    "workload: {namespace: shop, name: cart}\n"           // 1
    "trust_domain: cluster.local\n"                       // 2
    "credentials:\n"                                      // 3
    "  workload_api: {socket: /run/spire/agent.sock}\n";  // 4

Result<ProxyConfig> parse(const std::string& yaml) {
  return parseProxyConfig(yaml, "proxy.yaml", "/etc/mutual");
}

ProxyConfig mustParse(const std::string& yaml) {
  auto config = parse(yaml);
  EXPECT_TRUE(config) << config.error().message;
  return config ? *config : ProxyConfig{};
}

std::string errorOf(const std::string& yaml) {
  auto config = parse(yaml);
  EXPECT_FALSE(config) << "parsed, expected an error:\n" << yaml;
  if (config) return {};
  EXPECT_EQ(config.error().code, Code::kInvalidArgument);
  return config.error().message;
}

HostPort hp(std::string host, uint16_t port) { return HostPort{std::move(host), port}; }

TEST(ProxyConfigTest, ContractExample) {
  const ProxyConfig c = mustParse(kContract);
  EXPECT_EQ(c.file, "proxy.yaml");
  EXPECT_EQ(c.base_dir, "/etc/mutual");
  EXPECT_EQ(c.version, 1);
  EXPECT_EQ(c.workload.namespace_name, "shop");
  EXPECT_EQ(c.workload.name, "cart");
  EXPECT_EQ(c.workload.service_account, "cart");
  EXPECT_EQ(c.workload.labels, (Labels{{"app", "cart"}}));
  EXPECT_EQ(c.trust_domain, "cluster.local");
  EXPECT_EQ(c.workloadSpiffeId(), "spiffe://cluster.local/ns/shop/sa/cart");

  const auto* files = std::get_if<FileCredentials>(&c.credentials);
  ASSERT_NE(files, nullptr);
  EXPECT_EQ(files->cert, (ConfigPath{"certs/tls.crt", "/etc/mutual/certs/tls.crt"}));
  EXPECT_EQ(files->key, (ConfigPath{"certs/tls.key", "/etc/mutual/certs/tls.key"}));
  EXPECT_EQ(files->bundle, (ConfigPath{"certs/ca.crt", "/etc/mutual/certs/ca.crt"}));
  ASSERT_EQ(c.policies.size(), 1u);
  EXPECT_EQ(c.policies[0], (ConfigPath{"policies/", "/etc/mutual/policies/"}));

  ASSERT_EQ(c.inbound.size(), 1u);
  EXPECT_EQ(c.inbound[0].name, "");
  EXPECT_EQ(c.inbound[0].port, 8080);
  EXPECT_EQ(c.inbound[0].listen, hp("127.0.0.1", 15006));
  EXPECT_EQ(c.inbound[0].forward, hp("127.0.0.1", 8080));
  EXPECT_EQ(c.inbound[0].location.str(), "proxy.yaml:7");

  ASSERT_EQ(c.outbound.size(), 1u);
  EXPECT_EQ(c.outbound[0].listen, hp("127.0.0.1", 15001));
  EXPECT_EQ(c.outbound[0].destination, hp("reviews.shop.svc.cluster.local", 9080));
  EXPECT_EQ(c.outbound[0].endpoints, (std::vector<HostPort>{hp("127.0.0.1", 16006)}));
  EXPECT_TRUE(c.outbound[0].identities.empty());
  EXPECT_EQ(c.outbound[0].location.str(), "proxy.yaml:9");

  EXPECT_EQ(c.admin, hp("127.0.0.1", 15000));
  ASSERT_TRUE(c.access_log);
  EXPECT_EQ(*c.access_log, (ConfigPath{"/dev/stdout", "/dev/stdout"}));
}

TEST(ProxyConfigTest, Defaults) {
  const ProxyConfig c = mustParse(kMinimal);
  EXPECT_EQ(c.version, 1);
  EXPECT_EQ(c.workload.service_account, "default");
  EXPECT_TRUE(c.workload.labels.empty());
  EXPECT_TRUE(c.workload.annotations.empty());
  EXPECT_FALSE(c.workload.linkerd_default_inbound_policy);
  const auto* api = std::get_if<WorkloadApiCredentials>(&c.credentials);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->socket, "/run/spire/agent.sock");
  EXPECT_EQ(api->path, "/run/spire/agent.sock");
  EXPECT_TRUE(c.policies.empty());
  EXPECT_EQ(c.mesh.root_namespace, "istio-system");
  EXPECT_EQ(c.mesh.domain_suffix, "cluster.local");
  EXPECT_EQ(c.mesh.trust_domain, "cluster.local");
  EXPECT_TRUE(c.mesh.auto_mtls);
  EXPECT_TRUE(c.inbound.empty());
  EXPECT_TRUE(c.outbound.empty());
  EXPECT_EQ(c.admin, hp("127.0.0.1", 15000));
  ASSERT_TRUE(c.access_log);
  EXPECT_EQ(c.access_log->written, "/dev/stdout");
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.max_connections, 65536u);
  EXPECT_EQ(c.timeouts.handshake, 10s);
  EXPECT_EQ(c.timeouts.connect, 5s);
  EXPECT_EQ(c.timeouts.idle, 1h);
  EXPECT_EQ(c.timeouts.drain, 30s);
  EXPECT_TRUE(c.tls.session_resumption);
  EXPECT_EQ(c.tls.session_cache_size, 1024u);
}

TEST(ProxyConfigTest, SessionResumptionCanBeTurnedOff) {
  const ProxyConfig c = mustParse(std::string(kMinimal) + "tls: {session_resumption: false}\n");
  EXPECT_FALSE(c.tls.session_resumption);
  auto bad = parseProxyConfig(std::string(kMinimal) + "tls: {tickets: 2}\n", "p.yaml", "");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("tls.tickets"), std::string::npos) << bad.error().message;
}

TEST(ProxyConfigTest, SessionCacheSize) {
  EXPECT_EQ(mustParse(std::string(kMinimal) + "tls: {session_cache_size: 50000}\n")
                .tls.session_cache_size,
            50000u);
  for (const char* bad : {"0", "-1", "1000001", "many"}) {
    auto parsed = parseProxyConfig(
        std::string(kMinimal) + "tls: {session_cache_size: " + bad + "}\n", "p.yaml", "");
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message.find("tls.session_cache_size"), std::string::npos)
        << parsed.error().message;
  }
}

TEST(ProxyConfigTest, EveryOptionalKey) {
  const ProxyConfig c = mustParse(
      "version: 1\n"
      "workload:\n"
      "  namespace: shop\n"
      "  name: cart\n"
      "  annotations:\n"
      "    config.linkerd.io/default-inbound-policy: cluster-authenticated\n"
      "    team: payments\n"
      "trust_domain: example.org\n"
      "credentials:\n"
      "  workload_api: {socket: 'unix:///run/spire/agent.sock'}\n"
      "policies: [/abs/policy.yaml, ../shared/policies]\n"
      "mesh: {root_namespace: mesh-root, domain_suffix: corp.internal, auto_mtls: false}\n"
      "inbound:\n"
      "  - {name: http, port: 8080, listen: '0.0.0.0:0', forward: 'localhost:8080'}\n"
      "  - {name: grpc, port: 9090, listen: '[::1]:15007', forward: '[::1]:9090'}\n"
      "outbound:\n"
      "  - name: reviews\n"
      "    listen: 127.0.0.1:0\n"
      "    destination: reviews.shop.svc.corp.internal:9080\n"
      "    endpoints: [10.0.0.1:15006, 'reviews-0.shop:15006']\n"
      "    identities: [spiffe://example.org/ns/shop/sa/reviews]\n"
      "admin: 127.0.0.1:0\n"
      "access_log: logs/access.log\n"
      "log_level: debug\n"
      "workers: 2\n"
      "max_connections: 1000\n"
      "timeouts: {handshake: 3s, connect: 1500ms, idle: 0, drain: 0s}\n");
  EXPECT_EQ(c.trust_domain, "example.org");
  EXPECT_EQ(c.mesh.trust_domain, "example.org");
  EXPECT_EQ(c.workload.annotations,
            (Labels{{"config.linkerd.io/default-inbound-policy", "cluster-authenticated"},
                    {"team", "payments"}}));
  EXPECT_EQ(c.workload.linkerd_default_inbound_policy, LinkerdDefaultPolicy::kClusterAuthenticated);
  const auto* api = std::get_if<WorkloadApiCredentials>(&c.credentials);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->socket, "unix:///run/spire/agent.sock");
  EXPECT_EQ(api->path, "/run/spire/agent.sock");
  ASSERT_EQ(c.policies.size(), 2u);
  EXPECT_EQ(c.policies[0], (ConfigPath{"/abs/policy.yaml", "/abs/policy.yaml"}));
  EXPECT_EQ(c.policies[1], (ConfigPath{"../shared/policies", "/etc/shared/policies"}));
  EXPECT_EQ(c.mesh.root_namespace, "mesh-root");
  EXPECT_EQ(c.mesh.domain_suffix, "corp.internal");
  EXPECT_FALSE(c.mesh.auto_mtls);
  ASSERT_EQ(c.inbound.size(), 2u);
  EXPECT_EQ(c.inbound[0].name, "http");
  EXPECT_EQ(c.inbound[0].listen, hp("0.0.0.0", 0));
  EXPECT_EQ(c.inbound[0].forward, hp("localhost", 8080));
  EXPECT_EQ(c.inbound[1].listen, hp("::1", 15007));
  EXPECT_EQ(c.inbound[1].listen.str(), "[::1]:15007");
  ASSERT_EQ(c.outbound.size(), 1u);
  EXPECT_EQ(c.outbound[0].name, "reviews");
  EXPECT_EQ(c.outbound[0].endpoints,
            (std::vector<HostPort>{hp("10.0.0.1", 15006), hp("reviews-0.shop", 15006)}));
  ASSERT_EQ(c.outbound[0].identities.size(), 1u);
  EXPECT_EQ(c.outbound[0].identities[0].str(), "spiffe://example.org/ns/shop/sa/reviews");
  EXPECT_EQ(c.admin, hp("127.0.0.1", 0));
  ASSERT_TRUE(c.access_log);
  EXPECT_EQ(*c.access_log, (ConfigPath{"logs/access.log", "/etc/mutual/logs/access.log"}));
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.workers, 2u);
  EXPECT_EQ(c.max_connections, 1000u);
  EXPECT_EQ(c.timeouts.handshake, 3s);
  EXPECT_EQ(c.timeouts.connect, 1s);  // whole seconds: 1500ms is truncated
  EXPECT_EQ(c.timeouts.idle, 0s);
  EXPECT_EQ(c.timeouts.drain, 0s);
}

TEST(ProxyConfigTest, AccessLogOff) {
  for (const char* value : {"off", "'off'", "OFF", "\"\""}) {
    const ProxyConfig c = mustParse(std::string(kMinimal) + "access_log: " + value + "\n");
    EXPECT_FALSE(c.access_log) << value;
  }
  // Unset or null keeps the default.
  EXPECT_TRUE(mustParse(std::string(kMinimal) + "access_log:\n").access_log);
}

TEST(ProxyConfigTest, WarningIsWarn) {
  // GET /logging reports spdlog's "warning"; writing it back into proxy.yaml must work.
  auto config = parse(std::string(kMinimal) + "log_level: warning\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->log_level, LogLevel::kWarn);
}

TEST(ProxyConfigTest, OneDocument) {
  // A leading `---` and a trailing empty document are fine; a second document is not.
  EXPECT_TRUE(parse(std::string("---\n") + kMinimal + "---\n"));
  EXPECT_TRUE(parse(std::string(kMinimal) + "...\n"));
  EXPECT_EQ(errorOf(std::string(kMinimal) + "---\n# only a comment\n---\nworkers: 1\n"),
            "proxy.yaml:7:1: invalid YAML: proxy.yaml holds one document; found a second one");
}

TEST(ProxyConfigTest, JsonIsYaml) {
  const ProxyConfig c = mustParse(
      R"({"workload": {"namespace": "shop", "name": "cart"}, "trust_domain": "cluster.local",
          "credentials": {"files": {"cert": "a.crt", "key": "a.key", "bundle": "ca.crt"}},
          "inbound": [{"port": 8080, "listen": "127.0.0.1:15006", "forward": "127.0.0.1:8080"}],
          "workers": 2})");
  EXPECT_EQ(c.workers, 2u);
  EXPECT_EQ(std::get<FileCredentials>(c.credentials).bundle.resolved, "/etc/mutual/ca.crt");
  EXPECT_EQ(c.inbound.at(0).location.line, 3);
}

TEST(ProxyConfigTest, EmptyBaseDirKeepsRelativePaths) {
  auto c = parseProxyConfig(kContract, "proxy.yaml", "");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(std::get<FileCredentials>(c->credentials).cert.resolved, "certs/tls.crt");
}

TEST(ProxyConfigTest, LoadResolvesAgainstTheFilesFolder) {
  TempDir dir;
  const auto file = dir.write("etc/proxy.yaml", kContract);
  auto c = loadProxyConfig(file.string());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->file, file.string());
  EXPECT_EQ(c->base_dir, (dir.path() / "etc").string());
  EXPECT_EQ(std::get<FileCredentials>(c->credentials).key.resolved,
            (dir.path() / "etc/certs/tls.key").string());

  auto missing = loadProxyConfig((dir.path() / "nope.yaml").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST(ProxyConfigTest, ErrorsNameTheFile) {
  TempDir dir;
  const auto file = dir.write("proxy.yaml", std::string(kMinimal) + "workers: -1\n");
  auto c = loadProxyConfig(file.string());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, file.string() + ":5: workers: must be between 0 and 1024, got -1");
}

TEST(ProxyConfigTest, ConfigDumpRoundTrips) {
  for (const std::string& yaml :
       {std::string(kContract),
        "workload: {namespace: shop, name: cart, annotations: "
        "{config.linkerd.io/default-inbound-policy: audit}}\n" +
            std::string(kMinimal).substr(std::string(kMinimal).find('\n') + 1),
        std::string(kMinimal) + "access_log: off\ntimeouts: {idle: 0}\n"
                                "outbound:\n"
                                "  - {name: r, listen: '[::]:15001', destination: r.svc:80,\n"
                                "     endpoints: ['[fe80::1]:80'],\n"
                                "     identities: [spiffe://cluster.local/ns/a/sa/r]}\n"}) {
    const ProxyConfig c = mustParse(yaml);
    nlohmann::json dump = toJson(c);
    EXPECT_EQ(dump["source"]["file"], "proxy.yaml");
    EXPECT_EQ(dump["source"]["base_dir"], "/etc/mutual");
    dump.erase("source");
    dump.erase("resolved_paths");
    const ProxyConfig back = mustParse(dump.dump());
    EXPECT_EQ(toJson(back), toJson(c)) << dump.dump(2);
  }
  const nlohmann::json dump = toJson(mustParse(kContract));
  EXPECT_EQ(dump["credentials"]["files"]["cert"], "certs/tls.crt");
  EXPECT_EQ(dump["resolved_paths"]["credentials.files.cert"], "/etc/mutual/certs/tls.crt");
  EXPECT_EQ(dump["resolved_paths"]["policies[0]"], "/etc/mutual/policies/");
  EXPECT_EQ(dump["timeouts"]["idle"], "1h0m0s");
  EXPECT_EQ(dump["admin"], "127.0.0.1:15000");
  EXPECT_EQ(dump["inbound"][0]["forward"], "127.0.0.1:8080");
}

// Every kind of error, with the file, line and field it names.
TEST(ProxyConfigTest, Errors) {
  const std::string m = kMinimal;
  const std::string files_head =
      "workload: {namespace: shop, name: cart}\n"
      "trust_domain: cluster.local\n"
      "credentials:\n";
  struct Case {
    std::string yaml;
    std::string error;
  };
  const Case cases[] = {
      // Document shape.
      {"", "proxy.yaml: empty configuration: workload, trust_domain and credentials are required"},
      {"- a\n", "proxy.yaml:1: expected an object, got a list"},
      {"a: [\n", "proxy.yaml:2:1: invalid YAML: end of sequence flow not found"},
      {m + "\x01",
       "proxy.yaml:5: invalid YAML: control character 0x01 is not allowed (is this "
       "a binary file?)"},
      {m + "---\nworkers: 2\n",
       "proxy.yaml:5:1: invalid YAML: proxy.yaml holds one document; "
       "found a second one"},
      {m + "wrokers: 2\n", "proxy.yaml:5: wrokers: unknown field (did you mean \"workers\"?)"},
      {m + "workers: 1\nworkers: 2\n",
       "proxy.yaml:6: workers: duplicate field (first set at line 5)"},
      {m + "version: '1'\n", "proxy.yaml:5: version: expected an integer, got the string \"1\""},
      {"workload: cart\n", "proxy.yaml:1: workload: expected an object, got the string \"cart\""},
      {"workload: {namespace: shop, name: cart, labels: {app: on}}\n",
       "proxy.yaml:1: workload.labels[app]: expected a string, got \"on\" (a boolean to "
       "Kubernetes, which reads YAML 1.1); quote it to make it a string"},
      {m + "version: 2\n",
       "proxy.yaml:5: version: unsupported version 2; this mutual reads "
       "version 1"},
      // workload
      {"trust_domain: cluster.local\n", "proxy.yaml:1: workload: required field is missing"},
      {"workload: {name: cart}\n", "proxy.yaml:1: workload.namespace: required field is missing"},
      {"workload: {namespace: Shop, name: cart}\n",
       "proxy.yaml:1: workload.namespace: invalid name \"Shop\": must be at most 63 lowercase "
       "letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label)"},
      {"workload: {namespace: shop}\n", "proxy.yaml:1: workload.name: required field is missing"},
      {"workload: {namespace: shop, name: cart, service_account: A_B}\n",
       "proxy.yaml:1: workload.service_account: invalid name \"A_B\": must be lowercase letters, "
       "digits, '-' and '.', starting and ending with a letter or digit (a DNS-1123 subdomain)"},
      {"workload: {namespace: shop, name: cart, labels: {app: [x]}}\n",
       "proxy.yaml:1: workload.labels[app]: expected a string, got a list"},
      {"workload: {namespace: shop, name: cart, sa: x}\n",
       "proxy.yaml:1: workload.sa: unknown field (known fields: namespace, name, "
       "service_account, labels, annotations)"},
      {"workload:\n  namespace: shop\n  name: cart\n  annotations:\n"
       "    config.linkerd.io/default-inbound-policy: cluster\n",
       "proxy.yaml:5: workload.annotations[config.linkerd.io/default-inbound-policy]: unknown "
       "default inbound policy \"cluster\"; allowed: all-unauthenticated, all-authenticated, "
       "cluster-unauthenticated, cluster-authenticated, deny, audit"},
      {"workload: {namespace: shop, name: cart, annotations: {a: 1}}\n",
       "proxy.yaml:1: workload.annotations[a]: expected a string, got the number 1; quote it to "
       "make it a string"},
      // trust_domain
      {"workload: {namespace: shop, name: cart}\n",
       "proxy.yaml:1: trust_domain: required field is missing"},
      {"workload: {namespace: shop, name: cart}\ntrust_domain: Cluster.Local\n",
       "proxy.yaml:2: trust_domain: invalid trust domain \"Cluster.Local\": trust domain "
       "characters are limited to lowercase letters, "
       "numbers, dots, dashes, and underscores"},
      {"workload: {namespace: shop, name: cart}\ntrust_domain: spiffe://cluster.local\n",
       "proxy.yaml:2: trust_domain: expected a trust domain name such as \"cluster.local\", not "
       "the SPIFFE ID \"spiffe://cluster.local\""},
      // credentials
      {"workload: {namespace: shop, name: cart}\ntrust_domain: cluster.local\n",
       "proxy.yaml:1: credentials: required field is missing"},
      {files_head + "  other: 1\n",
       "proxy.yaml:4: credentials.other: unknown field (known fields: files, workload_api)"},
      {files_head + "  files: {cert: a, key: b, bundle: c}\n  workload_api: {socket: /s}\n",
       "proxy.yaml:5: credentials.workload_api: set exactly one of credentials.files and "
       "credentials.workload_api, not both"},
      {files_head + "  files: {cert: a, key: b}\n",
       "proxy.yaml:4: credentials.files.bundle: required field is missing"},
      {files_head + "  files: {cert: a, key: '', bundle: c}\n",
       "proxy.yaml:4: credentials.files.key: must not be empty"},
      {files_head + "  workload_api: {socket: relative.sock}\n",
       "proxy.yaml:4: credentials.workload_api.socket: must be an absolute path or unix:///path, "
       "got \"relative.sock\""},
      {files_head + "  workload_api: {socket: 'unix://run/agent.sock'}\n",
       "proxy.yaml:4: credentials.workload_api.socket: expected unix:///absolute/path (three "
       "slashes), got \"unix://run/agent.sock\""},
      {files_head + "  workload_api: {socket: 'tcp://127.0.0.1:8081'}\n",
       "proxy.yaml:4: credentials.workload_api.socket: only unix domain sockets are supported: "
       "write unix:///path/to/socket or an absolute path, got \"tcp://127.0.0.1:8081\""},
      // policies and mesh
      {m + "policies: policies/\n",
       "proxy.yaml:5: policies: expected a list, got the string \"policies/\""},
      {m + "policies: [a, 1]\n",
       "proxy.yaml:5: policies[1]: expected a string, got the number 1; quote it to make it a "
       "string"},
      {m + "mesh: {auto_mtls: yes}\n",
       "proxy.yaml:5: mesh.auto_mtls: expected true or false, got \"yes\" (a boolean to "
       "Kubernetes, which reads YAML 1.1)"},
      {m + "mesh: {domain_suffix: -x}\n",
       "proxy.yaml:5: mesh.domain_suffix: invalid name \"-x\": must be lowercase letters, digits, "
       "'-' and '.', starting and ending with a letter or digit (a DNS-1123 subdomain)"},
      {m + "mesh: {trust_domain: x}\n",
       "proxy.yaml:5: mesh.trust_domain: unknown field (known fields: root_namespace, "
       "domain_suffix, auto_mtls)"},
      // inbound
      {m + "inbound:\n  - {listen: 127.0.0.1:1, forward: 127.0.0.1:2}\n",
       "proxy.yaml:6: inbound[0].port: required field is missing"},
      {m + "inbound:\n  - {port: 0, listen: 127.0.0.1:1, forward: 127.0.0.1:2}\n",
       "proxy.yaml:6: inbound[0].port: must be between 1 and 65535, got 0"},
      {m + "inbound:\n  - {port: 70000, listen: 127.0.0.1:1, forward: 127.0.0.1:2}\n",
       "proxy.yaml:6: inbound[0].port: must be between 1 and 65535, got 70000"},
      {m + "inbound:\n  - {port: 80, forward: 127.0.0.1:2}\n",
       "proxy.yaml:6: inbound[0].listen: required field is missing"},
      {m + "inbound:\n  - {port: 80, listen: 127.0.0.1:1}\n",
       "proxy.yaml:6: inbound[0].forward: required field is missing"},
      {m + "inbound:\n  - {port: 80, listen: 127.0.0.1:1, forward: 127.0.0.1:0}\n",
       "proxy.yaml:6: inbound[0].forward: address \"127.0.0.1:0\": port 0 is not allowed here "
       "(expected 1 to 65535)"},
      {m + "inbound:\n  - {port: 80, listen: 15006, forward: 127.0.0.1:80}\n",
       "proxy.yaml:6: inbound[0].listen: expected an address host:port, e.g. 127.0.0.1:15006, "
       "got the number 15006"},
      {m + "inbound:\n  - {port: 80, listen: 127.0.0.1:1, forward: 127.0.0.1:80, x: 1}\n",
       "proxy.yaml:6: inbound[0].x: unknown field (known fields: name, port, listen, forward)"},
      {m + "inbound:\n"
           "  - {port: 80, listen: 127.0.0.1:1, forward: 127.0.0.1:80}\n"
           "  - {port: 80, listen: 127.0.0.1:2, forward: 127.0.0.1:81}\n",
       "proxy.yaml:7: inbound[1].port: workload port 80 is already served by the inbound "
       "listener at proxy.yaml:6"},
      {m + "inbound:\n"
           "  - {port: 80, listen: 127.0.0.1:1, forward: 127.0.0.1:80}\n"
           "  - {port: 81, listen: 127.0.0.1:2, forward: 127.0.0.1:1}\n",
       "proxy.yaml:7: inbound[1].forward: forwards to 127.0.0.1:1, where this proxy's own inbound "
       "listener at proxy.yaml:6 accepts (a loop); forward to the application's address"},
      {m + "inbound:\n  - {name: 'a b', port: 80, listen: 127.0.0.1:1, forward: 127.0.0.1:80}\n",
       "proxy.yaml:6: inbound[0].name: invalid name \"a b\": use at most 63 letters, digits, '-', "
       "'_' and '.'"},
      {m + "inbound:\n  - {name: a, port: 80, listen: 127.0.0.1:1, forward: 127.0.0.1:80}\n"
           "outbound:\n"
           "  - {name: a, listen: 127.0.0.1:2, destination: a.b:80, endpoints: [127.0.0.1:3]}\n",
       "proxy.yaml:8: outbound[0].name: listener name \"a\" is already used at proxy.yaml:6"},
      // outbound
      {m + "outbound:\n  - {listen: 127.0.0.1:1, endpoints: [127.0.0.1:2]}\n",
       "proxy.yaml:6: outbound[0].destination: required field is missing"},
      {m + "outbound:\n  - {listen: 127.0.0.1:1, destination: reviews, endpoints: [127.0.0.1:2]}\n",
       "proxy.yaml:6: outbound[0].destination: address \"reviews\": missing port (expected "
       "host:port, e.g. 127.0.0.1:8080)"},
      {m + "outbound:\n  - {listen: 127.0.0.1:1, destination: 'a_b.svc:80', endpoints: "
           "[1.2.3.4:2]}\n",
       "proxy.yaml:6: outbound[0].destination: address \"a_b.svc:80\": \"a_b.svc\" is neither an "
       "IP address nor a DNS name"},
      {m + "outbound:\n  - {listen: 127.0.0.1:1, destination: a.b:80}\n",
       "proxy.yaml:6: outbound[0].endpoints: required field is missing"},
      {m + "outbound:\n  - {listen: 127.0.0.1:1, destination: a.b:80, endpoints: []}\n",
       "proxy.yaml:6: outbound[0].endpoints: at least one endpoint is required"},
      {m + "outbound:\n"
           "  - listen: 127.0.0.1:1\n"
           "    destination: a.b:80\n"
           "    endpoints:\n"
           "      - 127.0.0.1:2\n"
           "      - '::1:80'\n",
       "proxy.yaml:10: outbound[0].endpoints[1]: address \"::1:80\": an IPv6 address must be "
       "written in brackets, e.g. [::1]:8080"},
      {m + "outbound:\n"
           "  - listen: 127.0.0.1:1\n"
           "    destination: a.b:80\n"
           "    endpoints: [127.0.0.1:2]\n"
           "    identities:\n"
           "      - spiffe://cluster.local/ns/a/sa/b\n"
           "      - spiffe://Cluster.local/x\n",
       "proxy.yaml:11: outbound[0].identities[1]: invalid SPIFFE ID \"spiffe://Cluster.local/x\": "
       "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and "
       "underscores (must be lowercase)"},
      {m + "outbound:\n"
           "  - {listen: 127.0.0.1:1, destination: a.b:80, endpoints: [127.0.0.1:2],\n"
           "     identities: spiffe://cluster.local/x}\n",
       "proxy.yaml:7: outbound[0].identities: expected a list of strings, got the string "
       "\"spiffe://cluster.local/x\""},
      // Listener address clashes.
      {m + "inbound:\n  - {port: 80, listen: 127.0.0.1:15000, forward: 127.0.0.1:80}\n",
       "proxy.yaml:6: inbound[0].listen: address 127.0.0.1:15000 is already used by the default "
       "admin address (set admin to move it)"},
      {m + "admin: 127.0.0.1:15000\ninbound:\n"
           "  - {port: 80, listen: 127.0.0.1:15000, forward: 127.0.0.1:80}\n",
       "proxy.yaml:7: inbound[0].listen: address 127.0.0.1:15000 is already used by admin at "
       "proxy.yaml:5"},
      {m + "inbound:\n  - {port: 80, listen: 0.0.0.0:15006, forward: 127.0.0.1:80}\n"
           "outbound:\n"
           "  - {listen: 127.0.0.1:15006, destination: a.b:80, endpoints: [127.0.0.1:2]}\n",
       "proxy.yaml:8: outbound[0].listen: address 127.0.0.1:15006 is already used by "
       "inbound[0].listen (0.0.0.0:15006) at proxy.yaml:6"},
      {m + "inbound:\n  - {port: 80, listen: '[::1]:15006', forward: 127.0.0.1:80}\n"
           "outbound:\n"
           "  - {listen: '[0::1]:15006', destination: a.b:80, endpoints: [127.0.0.1:2]}\n",
       "proxy.yaml:8: outbound[0].listen: address [0::1]:15006 is already used by "
       "inbound[0].listen ([::1]:15006) at proxy.yaml:6"},
      // Scalars.
      {m + "admin: localhost\n",
       "proxy.yaml:5: admin: address \"localhost\": missing port (expected host:port, e.g. "
       "127.0.0.1:8080)"},
      {m + "access_log: false\n",
       "proxy.yaml:5: access_log: expected a file path or off, got the boolean false"},
      {m + "log_level: verbose\n",
       "proxy.yaml:5: log_level: unknown log level \"verbose\" (one of: trace, debug, info, warn, "
       "error)"},
      {m + "workers: two\n", "proxy.yaml:5: workers: expected an integer, got the string \"two\""},
      {m + "workers: 5000\n", "proxy.yaml:5: workers: must be between 0 and 1024, got 5000"},
      {m + "max_connections: 0\n",
       "proxy.yaml:5: max_connections: must be between 1 and 4294967295, got 0"},
      {m + "timeouts: {handshake: 10}\n",
       "proxy.yaml:5: timeouts.handshake: expected a duration with a unit such as \"30s\" or "
       "\"5m\", got the number 10"},
      {m + "timeouts: {connect: 5d}\n",
       "proxy.yaml:5: timeouts.connect: invalid duration \"5d\": unknown unit \"d\" (use h, m, s "
       "or ms)"},
      {m + "timeouts: {handshake: 500ms}\n",
       "proxy.yaml:5: timeouts.handshake: must be at least 1s (durations are counted in whole "
       "seconds)"},
      {m + "timeouts: {connect: 0}\n",
       "proxy.yaml:5: timeouts.connect: must be at least 1s (durations are counted in whole "
       "seconds)"},
      {m + "timeouts: {idle: -1s}\n", "proxy.yaml:5: timeouts.idle: duration \"-1s\" is negative"},
      {m + "timeouts: {read: 1s}\n",
       "proxy.yaml:5: timeouts.read: unknown field (known fields: handshake, connect, idle, "
       "drain)"},
  };
  for (const auto& c : cases) EXPECT_EQ(errorOf(c.yaml), c.error) << c.yaml;
}

TEST(HostPortTest, Parses) {
  struct Case {
    std::string text;
    HostPort want;
    std::string str;
  };
  const Case cases[] = {
      {"1.2.3.4:80", hp("1.2.3.4", 80), "1.2.3.4:80"},
      {"[::1]:80", hp("::1", 80), "[::1]:80"},
      {"[2001:db8::7]:65535", hp("2001:db8::7", 65535), "[2001:db8::7]:65535"},
      {"localhost:80", hp("localhost", 80), "localhost:80"},
      {"Reviews.Shop.svc.cluster.local:9080", hp("Reviews.Shop.svc.cluster.local", 9080),
       "Reviews.Shop.svc.cluster.local:9080"},
      {"0.0.0.0:0", hp("0.0.0.0", 0), "0.0.0.0:0"},
      {"[::]:0", hp("::", 0), "[::]:0"},
  };
  for (const auto& c : cases) {
    auto got = parseHostPort(c.text, true);
    ASSERT_TRUE(got) << c.text << ": " << got.error().message;
    EXPECT_EQ(*got, c.want) << c.text;
    EXPECT_EQ(got->str(), c.str);
  }
  EXPECT_TRUE(hp("::1", 1).isIp());
  EXPECT_TRUE(hp("10.1.2.3", 1).isIp());
  EXPECT_FALSE(hp("localhost", 1).isIp());
}

TEST(HostPortTest, Rejects) {
  struct Case {
    std::string text;
    bool allow_zero;
    std::string error;
  };
  const Case cases[] = {
      {"", true, "empty address; expected host:port"},
      {"127.0.0.1", true,
       "address \"127.0.0.1\": missing port (expected host:port, e.g. "
       "127.0.0.1:8080)"},
      {"127.0.0.1:", true, "address \"127.0.0.1:\" has no port after ':'"},
      {":80", true, "address \":80\": missing host (use 0.0.0.0 or [::] for every interface)"},
      {"1.2.3.4:0", false,
       "address \"1.2.3.4:0\": port 0 is not allowed here (expected 1 to "
       "65535)"},
      {"1.2.3.4:65536", true,
       "address \"1.2.3.4:65536\": invalid port \"65536\" (expected a "
       "number from 1 to 65535)"},
      {"1.2.3.4:-1", true,
       "address \"1.2.3.4:-1\": invalid port \"-1\" (expected a number from "
       "1 to 65535)"},
      {"1.2.3.4:8o", true,
       "address \"1.2.3.4:8o\": invalid port \"8o\" (expected a number from "
       "1 to 65535)"},
      {"1.2.3.4:000080", true,
       "address \"1.2.3.4:000080\": invalid port \"000080\" (expected a "
       "number from 1 to 65535)"},
      {"1.2.3.256:80", true, "address \"1.2.3.256:80\": \"1.2.3.256\" is not an IPv4 address"},
      {"::1:80", true,
       "address \"::1:80\": an IPv6 address must be written in brackets, e.g. "
       "[::1]:8080"},
      {"[::1:80", true, "address \"[::1:80\": missing ']' after the IPv6 address"},
      {"[::1]", true,
       "address \"[::1]\": missing port (expected [address]:port, e.g. "
       "[::1]:8080)"},
      {"[::1]80", true,
       "address \"[::1]80\": missing port (expected [address]:port, e.g. "
       "[::1]:8080)"},
      {"[1.2.3.4]:80", true, "address \"[1.2.3.4]:80\": \"1.2.3.4\" is not an IPv6 address"},
      {"a..b:80", true, "address \"a..b:80\": \"a..b\" is neither an IP address nor a DNS name"},
      {"-a.b:80", true, "address \"-a.b:80\": \"-a.b\" is neither an IP address nor a DNS name"},
      {"a b:80", true, "address \"a b:80\": \"a b\" is neither an IP address nor a DNS name"},
  };
  for (const auto& c : cases) {
    auto got = parseHostPort(c.text, c.allow_zero);
    ASSERT_FALSE(got) << c.text;
    EXPECT_EQ(got.error().code, Code::kInvalidArgument);
    EXPECT_EQ(got.error().message, c.error) << c.text;
  }
}

}  // namespace
}  // namespace mutual::config
