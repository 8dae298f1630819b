#include "config/spire_conf.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/testing.h"
#include "config/testing.h"

namespace mutual::config::spire {
namespace {

using namespace std::chrono_literals;
using mutual::testing::must;
using testing::TempDir;

std::string examplesDir() { return std::string(MUTUAL_SOURCE_DIR) + "/examples/spire"; }

// ---- fixtures ---------------------------------------------------------------------------------

// A server block whose extra lines start at line 4.
constexpr char kServerHead[] =
    "server {\n"                          // 1
    "  trust_domain = \"example.org\"\n"  // 2
    "  data_dir = \"./data\"\n";          // 3

constexpr char kDefaultPlugins[] =
    "plugins {\n"
    "  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\", connection_string = "
    "\"ds.db\" } }\n"
    "  NodeAttestor \"join_token\" {}\n"
    "  KeyManager \"memory\" {}\n"
    "}\n";

// server { ...3 lines + `lines` } then the default plugins.
std::string serverWith(const std::string& lines) {
  return std::string(kServerHead) + lines + "}\n" + kDefaultPlugins;
}

// A 4-line server block, `plugins {` at line 5, then (unless `defaults` is false) a DataStore,
// a join_token NodeAttestor and a memory KeyManager on lines 6-8, then `lines`.
std::string pluginsWith(const std::string& lines, bool defaults = true) {
  std::string text = std::string(kServerHead) + "}\nplugins {\n";
  if (defaults) {
    text +=
        "  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\", connection_string = "
        "\"ds.db\" } }\n"
        "  NodeAttestor \"join_token\" {}\n"
        "  KeyManager \"memory\" {}\n";
  }
  return text + lines + "}\n";
}

ServerConf serverOk(const std::string& text) { return must(parseServerConf(text, "server.conf")); }

constexpr char kAgentHead[] =
    "agent {\n"                                     // 1
    "  trust_domain = \"example.org\"\n"            // 2
    "  server_address = \"spire-server\"\n"         // 3
    "  trust_bundle_path = \"./bootstrap.crt\"\n";  // 4

constexpr char kAgentPlugins[] =
    "plugins {\n"
    "  NodeAttestor \"join_token\" {}\n"
    "  KeyManager \"memory\" {}\n"
    "  WorkloadAttestor \"unix\" {}\n"
    "}\n";

// agent { ...4 lines + `lines` (from line 5) } then the default plugins.
std::string agentWith(const std::string& lines) {
  return std::string(kAgentHead) + lines + "}\n" + kAgentPlugins;
}

// A 5-line agent block, `plugins {` at line 6, `lines` from line 7.
std::string agentPluginsWith(const std::string& lines) {
  return std::string(kAgentHead) + "}\nplugins {\n" + lines + "}\n";
}

// ---- the examples -----------------------------------------------------------------------------

TEST(SpireConfTest, ExampleServerConf) {
  const std::string path = examplesDir() + "/server.conf";
  const ServerConf conf = must(loadServerConf(path));
  EXPECT_EQ(conf.file, path);
  EXPECT_EQ(conf.bind_address, "0.0.0.0");
  EXPECT_EQ(conf.bind_port, 8081);
  EXPECT_EQ(conf.socket_path, "/tmp/spire-server/private/api.sock");
  EXPECT_EQ(conf.trust_domain, "example.org");
  EXPECT_EQ(conf.trustDomain().idString(), "spiffe://example.org");
  EXPECT_EQ(conf.data_dir, "./data/server");
  EXPECT_EQ(conf.log_level, LogLevel::kDebug);
  EXPECT_EQ(conf.ca_ttl, 72h);
  EXPECT_EQ(conf.default_x509_svid_ttl, 4h);
  EXPECT_EQ(conf.ca_key_type, CaKeyType::kEcP256);
  EXPECT_EQ(conf.ca_subject.country, std::vector<std::string>{"US"});
  EXPECT_EQ(conf.ca_subject.organization, std::vector<std::string>{"SPIFFE"});
  EXPECT_EQ(conf.ca_subject.common_name, "");
  EXPECT_EQ(conf.data_store.database_type, SqlDataStore::DatabaseType::kSqlite3);
  EXPECT_EQ(conf.data_store.connection_string, "./data/server/datastore.sqlite3");
  ASSERT_EQ(conf.node_attestors.size(), 2u);
  EXPECT_EQ(conf.node_attestors[0].kind, ServerNodeAttestor::Kind::kJoinToken);
  EXPECT_EQ(conf.node_attestors[1].kind, ServerNodeAttestor::Kind::kX509Pop);
  EXPECT_EQ(conf.node_attestors[1].ca_bundle_path, "./conf/server/agent-cacert.pem");
  EXPECT_EQ(conf.key_manager.kind, ServerKeyManager::Kind::kDisk);
  EXPECT_EQ(conf.key_manager.keys_path, "./data/server/keys.json");
  EXPECT_FALSE(conf.upstream_authority);
  ASSERT_TRUE(conf.health_checks);
  EXPECT_TRUE(conf.health_checks->listener_enabled);
  EXPECT_EQ(conf.health_checks->bind_port, 8080);
  EXPECT_TRUE(conf.warnings.empty());
  EXPECT_EQ(conf.at("server.trust_domain").str(), path + ":8");
  EXPECT_EQ(conf.at("plugins.KeyManager \"disk\".plugin_data.keys_path").line, 47);
  EXPECT_EQ(conf.at("server.no_such_key").str(), path);
}

TEST(SpireConfTest, ExampleServerConfWithUpstreamAuthority) {
  // The commented-out UpstreamAuthority block, switched on.
  auto text = must(readFile(examplesDir() + "/server.conf"));
  std::string uncommented;
  bool in_block = false;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find("# UpstreamAuthority") != std::string::npos) in_block = true;
    if (in_block && line.rfind("    # ", 0) == 0) line = "    " + line.substr(6);
    if (in_block && line == "    }") in_block = false;
    uncommented += line + "\n";
    start = end + 1;
  }
  const ServerConf conf = serverOk(uncommented);
  ASSERT_TRUE(conf.upstream_authority);
  EXPECT_EQ(conf.upstream_authority->key_file_path, "./conf/server/upstream-ca.key");
  EXPECT_EQ(conf.upstream_authority->cert_file_path, "./conf/server/upstream-ca.crt");
  EXPECT_EQ(conf.upstream_authority->bundle_file_path, "./conf/server/upstream-bundle.crt");
  EXPECT_EQ(conf.upstream_authority->location.line, 52);
}

TEST(SpireConfTest, ExampleAgentConf) {
  const std::string path = examplesDir() + "/agent.conf";
  const AgentConf conf = must(loadAgentConf(path));
  EXPECT_EQ(conf.data_dir, "./data/agent");
  EXPECT_EQ(conf.log_level, LogLevel::kDebug);
  EXPECT_EQ(conf.trust_domain, "example.org");
  EXPECT_EQ(conf.server_address, "127.0.0.1");
  EXPECT_EQ(conf.server_port, 8081);
  EXPECT_EQ(conf.socket_path, "/tmp/spire-agent/public/api.sock");
  EXPECT_EQ(conf.trust_bundle_path, "./conf/agent/bootstrap.crt");
  EXPECT_EQ(conf.join_token, "");
  EXPECT_FALSE(conf.insecure_bootstrap);
  EXPECT_EQ(conf.node_attestor.kind, AgentNodeAttestor::Kind::kX509Pop);
  EXPECT_EQ(conf.node_attestor.private_key_path, "./conf/agent/agent.key.pem");
  EXPECT_EQ(conf.node_attestor.certificate_path, "./conf/agent/agent.crt.pem");
  EXPECT_EQ(conf.key_manager.kind, AgentKeyManager::Kind::kDisk);
  EXPECT_EQ(conf.key_manager.directory, "./data/agent");
  ASSERT_EQ(conf.workload_attestors.size(), 1u);
  EXPECT_TRUE(conf.workload_attestors[0].discover_workload_path);
  ASSERT_TRUE(conf.health_checks);
  EXPECT_EQ(conf.health_checks->bind_port, 8082);
  EXPECT_EQ(conf.at("agent.server_port").str(), path + ":9");
}

// ---- defaults and forms -----------------------------------------------------------------------

TEST(SpireConfTest, ServerDefaults) {
  const ServerConf conf = serverOk(serverWith(""));
  EXPECT_EQ(conf.file, "server.conf");
  EXPECT_EQ(conf.bind_address, "0.0.0.0");
  EXPECT_EQ(conf.bind_port, 8081);
  EXPECT_EQ(conf.log_level, LogLevel::kInfo);
  EXPECT_EQ(conf.ca_ttl, 24h);
  EXPECT_EQ(conf.default_x509_svid_ttl, 1h);
  EXPECT_EQ(conf.ca_key_type, CaKeyType::kEcP256);
  EXPECT_EQ(conf.ca_subject.country, std::vector<std::string>{"US"});
  EXPECT_EQ(conf.ca_subject.organization, std::vector<std::string>{"SPIFFE"});
  EXPECT_EQ(conf.socket_path, "/tmp/spire-server/private/api.sock");
  EXPECT_EQ(conf.key_manager.kind, ServerKeyManager::Kind::kMemory);
  EXPECT_FALSE(conf.health_checks);
  EXPECT_FALSE(conf.upstream_authority);
  EXPECT_TRUE(conf.warnings.empty());
  EXPECT_EQ(conf.data_store.location.str(), "server.conf:6");
}

TEST(SpireConfTest, ServerValuesAndWeakTyping) {
  const ServerConf conf =
      serverOk(serverWith("  bind_address = \"127.0.0.1\"\n"
                          "  bind_port = 9000\n"
                          "  log_level = \"warn\"\n"
                          "  ca_ttl = \"168h\"\n"
                          "  default_x509_svid_ttl = \"1h30m\"\n"
                          "  ca_key_type = \"RSA-2048\"\n"
                          "  ca_subject {\n"
                          "    country = [\"DE\", \"FR\"]\n"
                          "    organization = [\"Example\"]\n"
                          "    common_name = \"Example CA\"\n"
                          "  }\n"
                          "  socket_path = \"./api.sock\"\n"));
  EXPECT_EQ(conf.bind_address, "127.0.0.1");
  EXPECT_EQ(conf.bind_port, 9000);
  EXPECT_EQ(conf.log_level, LogLevel::kWarn);
  EXPECT_EQ(conf.ca_ttl, 168h);
  EXPECT_EQ(conf.default_x509_svid_ttl, 90min);
  EXPECT_EQ(conf.ca_key_type, CaKeyType::kRsa2048);
  EXPECT_EQ(caKeyTypeName(conf.ca_key_type), "rsa-2048");
  EXPECT_EQ(logLevelName(conf.log_level), "WARN");
  EXPECT_EQ(conf.ca_subject.country, (std::vector<std::string>{"DE", "FR"}));
  EXPECT_EQ(conf.ca_subject.common_name, "Example CA");
  EXPECT_EQ(conf.socket_path, "./api.sock");
}

TEST(SpireConfTest, TrustDomainGivenAsSpiffeId) {
  const ServerConf conf =
      serverOk("server {\n  trust_domain = \"spiffe://example.org\"\n  data_dir = \"d\"\n}\n" +
               std::string(kDefaultPlugins));
  EXPECT_EQ(conf.trust_domain, "example.org");
}

TEST(SpireConfTest, PluginsInTheNestedForm) {
  // hcl v1 reads `Type "name" { }` as `Type { name { } }`; both are accepted, and
  // `plugin_data = { }` is the same as `plugin_data { }`.
  const ServerConf conf = serverOk(
      pluginsWith("  DataStore {\n"
                  "    sql = { plugin_data = { database_type = \"postgres\", connection_string = "
                  "\"dbname=spire\" } }\n"
                  "  }\n"
                  "  NodeAttestor {\n"
                  "    join_token {}\n"
                  "    x509pop { plugin_data { ca_bundle_path = \"/etc/ca.pem\" } }\n"
                  "  }\n"
                  "  KeyManager = { disk = { plugin_data = { keys_path = \"k.json\" } } }\n",
                  false));
  EXPECT_EQ(conf.data_store.database_type, SqlDataStore::DatabaseType::kPostgres);
  EXPECT_EQ(conf.data_store.connection_string, "dbname=spire");
  EXPECT_EQ(conf.data_store.location.line, 7);
  ASSERT_EQ(conf.node_attestors.size(), 2u);
  EXPECT_EQ(conf.node_attestors[1].name, "x509pop");
  EXPECT_EQ(conf.node_attestors[1].ca_bundle_path, "/etc/ca.pem");
  EXPECT_EQ(conf.key_manager.keys_path, "k.json");
}

TEST(SpireConfTest, DisabledPluginsAreCheckedAndLeftOut) {
  const ServerConf conf =
      serverOk(pluginsWith("  NodeAttestor \"x509pop\" {\n"
                           "    enabled = false\n"
                           "    plugin_data { ca_bundle_path = \"ca.pem\" }\n"
                           "  }\n"));
  ASSERT_EQ(conf.node_attestors.size(), 1u);
  EXPECT_EQ(conf.node_attestors[0].name, "join_token");
}

TEST(SpireConfTest, K8sPsat) {
  const ServerConf conf = serverOk(
      pluginsWith("  NodeAttestor \"k8s_psat\" {\n"                                   // 9
                  "    plugin_data {\n"                                               // 10
                  "      clusters = {\n"                                              // 11
                  "        \"demo-cluster\" = {\n"                                    // 12
                  "          service_account_allow_list = [\"spire:spire-agent\"]\n"  // 13
                  "        }\n"                                                       // 14
                  "        prod = {\n"                                                // 15
                  "          service_account_allow_list = [\"spire:spire-agent\", \"ops:agent\",]\n"
                  "          audience = [\"spire-server\", \"mesh\"]\n"
                  "          kube_config_file = \"/etc/kube/config\"\n"
                  "          allowed_node_label_keys = [\"zone\"]\n"
                  "          allowed_pod_label_keys = [\"app\"]\n"
                  "          use_pod_uid_for_agent_id = true\n"
                  "        }\n"
                  "      }\n"
                  "    }\n"
                  "  }\n"));
  ASSERT_EQ(conf.node_attestors.size(), 2u);
  const ServerNodeAttestor& psat = conf.node_attestors[1];
  EXPECT_EQ(psat.kind, ServerNodeAttestor::Kind::kK8sPsat);
  ASSERT_EQ(psat.clusters.size(), 2u);
  EXPECT_EQ(psat.clusters[0].name, "demo-cluster");
  EXPECT_EQ(psat.clusters[0].location.line, 12);
  EXPECT_EQ(psat.clusters[0].service_account_allow_list,
            std::vector<std::string>{"spire:spire-agent"});
  EXPECT_EQ(psat.clusters[0].audience, std::vector<std::string>{"spire-server"});
  EXPECT_TRUE(psat.clusters[0].kube_config_file.empty());
  EXPECT_FALSE(psat.clusters[0].use_pod_uid_for_agent_id);
  EXPECT_EQ(psat.clusters[1].name, "prod");
  EXPECT_EQ(psat.clusters[1].service_account_allow_list,
            (std::vector<std::string>{"spire:spire-agent", "ops:agent"}));
  EXPECT_EQ(psat.clusters[1].audience, (std::vector<std::string>{"spire-server", "mesh"}));
  EXPECT_EQ(psat.clusters[1].kube_config_file, "/etc/kube/config");
  EXPECT_EQ(psat.clusters[1].allowed_node_label_keys, std::vector<std::string>{"zone"});
  EXPECT_EQ(psat.clusters[1].allowed_pod_label_keys, std::vector<std::string>{"app"});
  EXPECT_TRUE(psat.clusters[1].use_pod_uid_for_agent_id);
  EXPECT_EQ(conf.at("plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters.demo-cluster."
                    "service_account_allow_list")
                .line,
            13);

  // No clusters: valid, and authorizes nothing.
  const ServerConf empty = serverOk(pluginsWith("  NodeAttestor \"k8s_psat\" {}\n"));
  EXPECT_TRUE(empty.node_attestors.at(1).clusters.empty());
}

TEST(SpireConfTest, UpstreamAuthorityDisk) {
  const ServerConf conf =
      serverOk(pluginsWith("  UpstreamAuthority \"disk\" {\n"
                           "    plugin_data {\n"
                           "      key_file_path = \"./upstream/ca.key\"\n"
                           "      cert_file_path = \"./upstream/ca.crt\"\n"
                           "    }\n"
                           "  }\n"));
  ASSERT_TRUE(conf.upstream_authority);
  EXPECT_EQ(conf.upstream_authority->key_file_path, "./upstream/ca.key");
  EXPECT_EQ(conf.upstream_authority->cert_file_path, "./upstream/ca.crt");
  EXPECT_TRUE(conf.upstream_authority->bundle_file_path.empty());
  EXPECT_EQ(conf.upstream_authority->location.str(), "server.conf:9");
  EXPECT_EQ(resolvePath(conf.upstream_authority->key_file_path, "/srv/spire").string(),
            "/srv/spire/upstream/ca.key");
}

TEST(SpireConfTest, HealthChecksDefaults) {
  const ServerConf conf = serverOk(serverWith("") + "health_checks {}\n");
  ASSERT_TRUE(conf.health_checks);
  EXPECT_FALSE(conf.health_checks->listener_enabled);
  EXPECT_EQ(conf.health_checks->bind_address, "localhost");
  EXPECT_EQ(conf.health_checks->bind_port, 80);
  EXPECT_EQ(conf.health_checks->live_path, "/live");
  EXPECT_EQ(conf.health_checks->ready_path, "/ready");
  EXPECT_EQ(conf.health_checks->location.line, 10);
}

TEST(SpireConfTest, CommentsAndHeredocsInConfig) {
  const ServerConf conf = serverOk(
      "/* header */ server { # trailing\n"        // 1
      "  trust_domain = \"example.org\" // td\n"  // 2
      "  data_dir = \"./data\"\n"                 // 3
      "  ca_subject {\n"                          // 4
      "    common_name = <<-EOT\n"                // 5
      "      Example CA\n"                        // 6
      "      EOT\n"                               // 7
      "  }\n"                                     // 8
      "  log_level = \"ERROR\"\n"                 // 9
      "}\n" +
      std::string(kDefaultPlugins));
  // A heredoc keeps its final newline.
  EXPECT_EQ(conf.ca_subject.common_name, "Example CA\n");
  EXPECT_TRUE(conf.ca_subject.country.empty());
  EXPECT_EQ(conf.at("server.log_level").line, 9);
  EXPECT_EQ(conf.log_level, LogLevel::kError);
}

TEST(SpireConfTest, WarnsWhenTheSvidTtlOutlivesCaRotation) {
  const ServerConf conf =
      serverOk(serverWith("  ca_ttl = \"24h\"\n"
                          "  default_x509_svid_ttl = \"6h\"\n"));
  ASSERT_EQ(conf.warnings.size(), 1u);
  EXPECT_EQ(conf.warnings[0],
            "server.conf:5: server.default_x509_svid_ttl: 6h0m0s is longer than min(ca_ttl/6, 7 "
            "days) (4h0m0s): SVIDs issued shortly before a CA rotation will be shortened");
  // Only the CA TTL written: the warning points at it.
  const ServerConf short_ca = serverOk(serverWith("  ca_ttl = \"3h\"\n"));
  ASSERT_EQ(short_ca.warnings.size(), 1u);
  EXPECT_EQ(short_ca.warnings[0].rfind("server.conf:4: server.default_x509_svid_ttl: 1h0m0s", 0),
            0u);
  const ServerConf empty_subject = serverOk(serverWith("  ca_subject = {}\n"));
  ASSERT_EQ(empty_subject.warnings.size(), 1u);
  EXPECT_EQ(empty_subject.warnings[0],
            "server.conf:4: server.ca_subject: empty subject; using SPIRE's default C=US, "
            "O=SPIFFE");
  EXPECT_EQ(empty_subject.ca_subject.organization, std::vector<std::string>{"SPIFFE"});
}

// ---- server errors ----------------------------------------------------------------------------

struct BadCase {
  std::string name;
  std::string text;
  std::string error;
};

TEST(SpireConfTest, ServerErrors) {
  const std::string two_plugin_lines = "    }\n  }\n";
  const std::vector<BadCase> cases = {
      // Unknown and unsupported keys.
      {"unknown server key", serverWith("  bind_prot = 1\n"),
       "server.conf:4: server.bind_prot: unknown key (did you mean \"bind_port\"?)"},
      {"unknown server key without a near name", serverWith("  colour = \"red\"\n"),
       "server.conf:4: server.colour: unknown key (known keys: bind_address, bind_port, "
       "trust_domain, data_dir, log_level, ca_ttl, default_x509_svid_ttl, ca_key_type, "
       "ca_subject, socket_path)"},
      {"unknown plugin_data key",
       pluginsWith("  DataStore \"sql\" {\n"
                   "    plugin_data {\n"
                   "      database_typ = \"sqlite3\"\n" +
                       two_plugin_lines + "  NodeAttestor \"join_token\" {}\n" +
                       "  KeyManager \"memory\" {}\n",
                   false),
       "server.conf:8: plugins.DataStore \"sql\".plugin_data.database_typ: unknown key (did you "
       "mean \"database_type\"?)"},
      {"unknown top-level block", serverWith("") + "metrics {}\n",
       "server.conf:10: metrics: unknown key (known keys: server, plugins, health_checks)"},
      {"telemetry refused", serverWith("") + "telemetry {\n  Prometheus { port = 9988 }\n}\n",
       "server.conf:10: telemetry: SPIRE's metrics settings are not supported by mutual"},
      {"agent block in server.conf", "agent {}\n",
       "server.conf:1: agent: an agent.conf block; this file is read as server.conf"},
      {"SPIRE option mutual lacks", serverWith("  jwt_issuer = \"https://x\"\n"),
       "server.conf:4: server.jwt_issuer: a SPIRE option mutual does not support (see "
       "docs/spire-config.md)"},
      {"removed SPIRE option", serverWith("  default_svid_ttl = \"1h\"\n"),
       "server.conf:4: server.default_svid_ttl: SPIRE's former name of default_x509_svid_ttl, no "
       "longer accepted: use default_x509_svid_ttl"},
      {"key with a label", serverWith("  ca_subject \"x\" {}\n"),
       "server.conf:4: server.ca_subject \"x\": unexpected block label (ca_subject takes none)"},
      {"unknown ca_subject key", serverWith("  ca_subject = { organisation = [\"x\"] }\n"),
       "server.conf:4: server.ca_subject.organisation: unknown key (did you mean "
       "\"organization\"?)"},
      {"unknown health_checks key", serverWith("") + "health_checks {\n  port = 80\n}\n",
       "server.conf:11: health_checks.port: unknown key (known keys: listener_enabled, "
       "bind_address, bind_port, live_path, ready_path)"},

      // Plugins: names, types, counts.
      {"unknown plugin name", pluginsWith("  NodeAttestor \"join-token\" {}\n"),
       "server.conf:9: plugins.NodeAttestor \"join-token\": unknown NodeAttestor plugin (did you "
       "mean \"join_token\"?); supported: join_token, x509pop, k8s_psat"},
      {"SPIRE plugin mutual lacks", pluginsWith("  NodeAttestor \"aws_iid\" {}\n"),
       "server.conf:9: plugins.NodeAttestor \"aws_iid\": a SPIRE NodeAttestor plugin mutual does "
       "not support; supported: join_token, x509pop, k8s_psat"},
      {"unknown KeyManager", pluginsWith("  KeyManager \"hsm\" {}\n"),
       "server.conf:9: plugins.KeyManager \"hsm\": unknown KeyManager plugin; supported: memory, "
       "disk"},
      {"unknown plugin type", pluginsWith("  Datastore \"sql\" {}\n"),
       "server.conf:9: plugins.Datastore \"sql\": unknown plugin type (did you mean "
       "\"DataStore\"?)"},
      {"SPIRE plugin type mutual lacks", pluginsWith("  Notifier \"k8sbundle\" {}\n"),
       "server.conf:9: plugins.Notifier \"k8sbundle\": a SPIRE plugin type mutual does not "
       "support"},
      {"agent plugin type in server.conf", pluginsWith("  WorkloadAttestor \"unix\" {}\n"),
       "server.conf:9: plugins.WorkloadAttestor \"unix\": an agent plugin type; this file is "
       "read as server.conf"},
      {"second DataStore",
       pluginsWith("  DataStore \"sql\" { plugin_data { database_type = \"postgres\", "
                   "connection_string = \"dbname=spire\" } }\n"),
       "server.conf:9: plugins.DataStore \"sql\": a second DataStore (the first is at line 6); "
       "SPIRE takes exactly one"},
      {"second KeyManager",
       pluginsWith("  KeyManager \"disk\" { plugin_data { keys_path = \"k.json\" } }\n"),
       "server.conf:9: plugins.KeyManager \"disk\": a second KeyManager (the first is at line "
       "8); SPIRE takes exactly one"},
      {"second UpstreamAuthority",
       pluginsWith("  UpstreamAuthority \"disk\" { plugin_data { key_file_path = \"k\", "
                   "cert_file_path = \"c\" } }\n"
                   "  UpstreamAuthority \"disk\" { plugin_data { key_file_path = \"k\", "
                   "cert_file_path = \"c\" } }\n"),
       "server.conf:10: plugins.UpstreamAuthority \"disk\": a second UpstreamAuthority (the "
       "first is at line 9); SPIRE takes at most one"},
      {"same NodeAttestor twice", pluginsWith("  NodeAttestor \"join_token\" {}\n"),
       "server.conf:9: plugins.NodeAttestor \"join_token\": duplicate plugin (first at line 7)"},
      {"no DataStore",
       pluginsWith("  NodeAttestor \"join_token\" {}\n  KeyManager \"memory\" {}\n", false),
       "server.conf:5: plugins: a DataStore is required: DataStore \"sql\" { ... }"},
      {"no KeyManager",
       pluginsWith("  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\", "
                   "connection_string = \"x\" } }\n  NodeAttestor \"join_token\" {}\n",
                   false),
       "server.conf:5: plugins: a KeyManager is required: KeyManager \"disk\" or \"memory\""},
      {"no NodeAttestor",
       pluginsWith("  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\", "
                   "connection_string = \"x\" } }\n  KeyManager \"memory\" {}\n",
                   false),
       "server.conf:5: plugins: at least one NodeAttestor is required"},
      {"two labels", pluginsWith("  NodeAttestor \"x509pop\" \"extra\" {}\n"),
       "server.conf:9: plugins.NodeAttestor \"x509pop\" \"extra\": a plugin takes one label, its "
       "name: NodeAttestor \"name\" { ... }"},
      {"plugin type given a string", pluginsWith("  UpstreamAuthority = \"disk\"\n"),
       "server.conf:9: plugins.UpstreamAuthority: expected a plugin block UpstreamAuthority "
       "\"name\" { ... }, got the string \"disk\""},
      {"external plugin", pluginsWith("  NodeAttestor \"x509pop\" { plugin_cmd = \"/bin/x\" }\n"),
       "server.conf:9: plugins.NodeAttestor \"x509pop\".plugin_cmd: external plugins are not "
       "supported by mutual: only built-in plugins"},
      {"plugin_data not a block",
       pluginsWith("  NodeAttestor \"x509pop\" { plugin_data = \"ca.pem\" }\n"),
       "server.conf:9: plugins.NodeAttestor \"x509pop\".plugin_data: expected a block { ... }, "
       "got the string \"ca.pem\""},
      {"settings on join_token",
       pluginsWith("  NodeAttestor \"join_token\" { plugin_data { ttl = \"1h\" } }\n"
                   "  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\", "
                   "connection_string = \"x\" } }\n  KeyManager \"memory\" {}\n",
                   false),
       "server.conf:6: plugins.NodeAttestor \"join_token\".plugin_data.ttl: unknown key (this "
       "plugin takes no settings)"},
      {"mysql",
       pluginsWith("  DataStore \"sql\" { plugin_data { database_type = \"mysql\" } }\n", false),
       "server.conf:6: plugins.DataStore \"sql\".plugin_data.database_type: \"mysql\" is not "
       "supported by mutual; supported: sqlite3, postgres"},
      {"unknown database type",
       pluginsWith("  DataStore \"sql\" { plugin_data { database_type = \"sqlite\" } }\n", false),
       "server.conf:6: plugins.DataStore \"sql\".plugin_data.database_type: unknown value "
       "\"sqlite\" (did you mean \"sqlite3\"?); allowed: sqlite3, postgres"},
      {"missing connection_string",
       pluginsWith("  DataStore \"sql\" {\n    plugin_data {\n      database_type = \"sqlite3\"\n" +
                       two_plugin_lines,
                   false),
       "server.conf:7: plugins.DataStore \"sql\".plugin_data.connection_string: required key is "
       "missing"},
      {"missing plugin_data", pluginsWith("  DataStore \"sql\" {}\n", false),
       "server.conf:6: plugins.DataStore \"sql\".plugin_data.database_type: required key is "
       "missing"},
      {"x509pop without ca_bundle_path", pluginsWith("  NodeAttestor \"x509pop\" {}\n"),
       "server.conf:9: plugins.NodeAttestor \"x509pop\".plugin_data.ca_bundle_path: required key "
       "is missing"},
      {"x509pop option mutual lacks",
       pluginsWith("  NodeAttestor \"x509pop\" { plugin_data { ca_bundle_paths = [\"a\"] } }\n"),
       "server.conf:9: plugins.NodeAttestor \"x509pop\".plugin_data.ca_bundle_paths: not "
       "supported by mutual: use one ca_bundle_path"},
      {"disk KeyManager without keys_path",
       pluginsWith("  KeyManager \"disk\" { plugin_data {} }\n"
                   "  DataStore \"sql\" { plugin_data { database_type = \"sqlite3\", "
                   "connection_string = \"x\" } }\n  NodeAttestor \"join_token\" {}\n",
                   false),
       "server.conf:6: plugins.KeyManager \"disk\".plugin_data.keys_path: required key is "
       "missing"},
      {"upstream without cert",
       pluginsWith("  UpstreamAuthority \"disk\" {\n    plugin_data {\n"
                   "      key_file_path = \"k\"\n" +
                   two_plugin_lines),
       "server.conf:10: plugins.UpstreamAuthority \"disk\".plugin_data.cert_file_path: required "
       "key is missing"},
      {"upstream ttl",
       pluginsWith("  UpstreamAuthority \"disk\" { plugin_data { ttl = \"1h\" } }\n"),
       "server.conf:9: plugins.UpstreamAuthority \"disk\".plugin_data.ttl: removed from SPIRE: "
       "the CA lifetime is server.ca_ttl"},
      {"SPIRE upstream mutual lacks", pluginsWith("  UpstreamAuthority \"vault\" {}\n"),
       "server.conf:9: plugins.UpstreamAuthority \"vault\": a SPIRE UpstreamAuthority plugin "
       "mutual does not support; supported: disk"},

      // k8s_psat.
      {"k8s_psat empty allow list",
       pluginsWith("  NodeAttestor \"k8s_psat\" { plugin_data { clusters = { c1 = {\n"
                   "    service_account_allow_list = []\n  } } } }\n"),
       "server.conf:10: plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters.c1."
       "service_account_allow_list: at least one \"namespace:service-account\" is required"},
      {"k8s_psat allow list entry",
       pluginsWith("  NodeAttestor \"k8s_psat\" { plugin_data { clusters = { c1 = {\n"
                   "    service_account_allow_list = [\"spire:agent\",\n \"spire-agent\"]\n"
                   "  } } } }\n"),
       "server.conf:11: plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters.c1."
       "service_account_allow_list[1]: expected \"namespace:service-account\", got "
       "\"spire-agent\""},
      {"k8s_psat old allow list name",
       pluginsWith("  NodeAttestor \"k8s_psat\" { plugin_data { clusters = { c1 = {\n"
                   "    service_account_whitelist = [\"spire:agent\"]\n  } } } }\n"),
       "server.conf:10: plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters.c1."
       "service_account_whitelist: SPIRE's former name of service_account_allow_list: use "
       "service_account_allow_list"},
      {"k8s_psat missing allow list",
       pluginsWith("  NodeAttestor \"k8s_psat\" { plugin_data { clusters = {\n"
                   "    c1 = {}\n  } } }\n"),
       "server.conf:10: plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters.c1."
       "service_account_allow_list: required key is missing"},
      {"k8s_psat duplicate cluster",
       pluginsWith("  NodeAttestor \"k8s_psat\" { plugin_data { clusters = {\n"
                   "    c1 = { service_account_allow_list = [\"a:b\"] }\n"
                   "    c1 = { service_account_allow_list = [\"a:b\"] }\n  } } }\n"),
       "server.conf:11: plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters.c1: duplicate "
       "cluster (first at line 10)"},
      {"k8s_psat clusters not an object",
       pluginsWith("  NodeAttestor \"k8s_psat\" { plugin_data { clusters = [\"c1\"] } }\n"),
       "server.conf:9: plugins.NodeAttestor \"k8s_psat\".plugin_data.clusters: expected a block "
       "{ ... }, got a list"},

      // Required values, types and values.
      {"no server block", kDefaultPlugins, "server.conf: server: required block is missing"},
      {"no plugins block", std::string(kServerHead) + "}\n",
       "server.conf: plugins: required block is missing"},
      {"server given twice", serverWith("") + "server {}\n",
       "server.conf:10: server: duplicate key (first set at line 1)"},
      {"missing trust_domain", "server {\n  data_dir = \"d\"\n}\n" + std::string(kDefaultPlugins),
       "server.conf:1: server.trust_domain: required key is missing"},
      {"missing data_dir",
       "server {\n  trust_domain = \"example.org\"\n}\n" + std::string(kDefaultPlugins),
       "server.conf:1: server.data_dir: required key is missing"},
      {"empty data_dir",
       "server {\n  trust_domain = \"example.org\"\n  data_dir = \"\"\n}\n" +
           std::string(kDefaultPlugins),
       "server.conf:3: server.data_dir: must not be empty"},
      {"bad trust domain",
       "server {\n  trust_domain = \"Example.org\"\n  data_dir = \"d\"\n}\n" +
           std::string(kDefaultPlugins),
       "server.conf:2: server.trust_domain: invalid trust domain \"Example.org\": trust domain "
       "characters are limited to lowercase letters, numbers, dots, dashes, and underscores"},
      {"unexpanded variable",
       "server {\n  trust_domain = \"${TRUST_DOMAIN}\"\n  data_dir = \"d\"\n}\n" +
           std::string(kDefaultPlugins),
       "server.conf:2: server.trust_domain: invalid trust domain \"${TRUST_DOMAIN}\": trust "
       "domain characters are limited to lowercase letters, numbers, dots, dashes, and "
       "underscores"},
      {"duplicate key", serverWith("  data_dir = \"other\"\n"),
       "server.conf:4: server.data_dir: duplicate key (first set at line 3)"},
      {"bad duration", serverWith("  ca_ttl = \"1d\"\n"),
       "server.conf:4: server.ca_ttl: invalid duration \"1d\": unknown unit \"d\" (use h, m, s "
       "or ms)"},
      {"duration as a number", serverWith("  ca_ttl = 24\n"),
       "server.conf:4: server.ca_ttl: invalid duration \"24\": missing unit (use h, m, s or ms)"},
      {"zero duration", serverWith("  default_x509_svid_ttl = \"0\"\n"),
       "server.conf:4: server.default_x509_svid_ttl: must be longer than 0s"},
      {"negative duration", serverWith("  default_x509_svid_ttl = \"-1h\"\n"),
       "server.conf:4: server.default_x509_svid_ttl: duration \"-1h\" is negative"},
      {"duration of wrong type", serverWith("  ca_ttl = [\"24h\"]\n"),
       "server.conf:4: server.ca_ttl: expected a string, got a list"},
      {"port not a number", serverWith("  bind_port = \"http\"\n"),
       "server.conf:4: server.bind_port: expected an integer, got the string \"http\""},
      {"port a float", serverWith("  bind_port = 80.5\n"),
       "server.conf:4: server.bind_port: expected an integer, got the number 80.5"},
      {"port out of range", serverWith("  bind_port = \"70000\"\n"),
       "server.conf:4: server.bind_port: port 70000 is out of range (0-65535)"},
      {"string given a bool", serverWith("  bind_address = true\n"),
       "server.conf:4: server.bind_address: expected a string, got true"},
      {"string given an object", serverWith("  socket_path { }\n"),
       "server.conf:4: server.socket_path: expected a string, got an object"},
      {"bad log level", serverWith("  log_level = \"VERBOSE\"\n"),
       "server.conf:4: server.log_level: unknown value \"VERBOSE\"; allowed: DEBUG, INFO, WARN, "
       "ERROR"},
      {"log level typo", serverWith("  log_level = \"DEBG\"\n"),
       "server.conf:4: server.log_level: unknown value \"DEBG\" (did you mean \"DEBUG\"?); "
       "allowed: DEBUG, INFO, WARN, ERROR"},
      {"bad key type", serverWith("  ca_key_type = \"ec-p521\"\n"),
       "server.conf:4: server.ca_key_type: unknown value \"ec-p521\"; allowed: ec-p256, ec-p384, "
       "rsa-2048, rsa-4096"},
      {"ca_subject not a block", serverWith("  ca_subject = \"C=US\"\n"),
       "server.conf:4: server.ca_subject: expected a block { ... }, got the string \"C=US\""},
      {"ca_subject country a string", serverWith("  ca_subject = {\n    country = \"US\"\n  }\n"),
       "server.conf:5: server.ca_subject.country: expected a list of strings, got the string "
       "\"US\""},
      {"ca_subject list element", serverWith("  ca_subject { organization = [\"a\", 1.5] }\n"),
       "server.conf:4: server.ca_subject.organization[1]: expected a string, got the number 1.5"},
      {"health listener not a bool",
       serverWith("") + "health_checks {\n"
                        "  listener_enabled = \"yes\"\n}\n",
       "server.conf:11: health_checks.listener_enabled: expected true or false, got the string "
       "\"yes\""},
      {"nul byte in a value", serverWith("  socket_path = \"a\\x00b\"\n"),
       "server.conf:4: server.socket_path: contains a NUL byte"},

      // Syntax errors come through with the file name.
      {"syntax error", serverWith("  bind_port = \n}"),
       "server.conf:5: expected a value (a string, number, true, false, list or object), found "
       "'}'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = parseServerConf(c.text, "server.conf");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().message, c.error) << c.text;
  }
}

// ---- agent ------------------------------------------------------------------------------------

TEST(SpireConfTest, AgentDefaults) {
  const AgentConf conf = must(parseAgentConf(agentWith(""), "agent.conf"));
  EXPECT_EQ(conf.data_dir, ".");
  EXPECT_EQ(conf.log_level, LogLevel::kInfo);
  EXPECT_EQ(conf.server_address, "spire-server");
  EXPECT_EQ(conf.server_port, 8081);
  EXPECT_EQ(conf.socket_path, "/tmp/spire-agent/public/api.sock");
  EXPECT_EQ(conf.trust_bundle_path, "./bootstrap.crt");
  EXPECT_FALSE(conf.insecure_bootstrap);
  EXPECT_EQ(conf.node_attestor.kind, AgentNodeAttestor::Kind::kJoinToken);
  EXPECT_EQ(conf.node_attestor.name, "join_token");
  EXPECT_EQ(conf.key_manager.kind, AgentKeyManager::Kind::kMemory);
  ASSERT_EQ(conf.workload_attestors.size(), 1u);
  EXPECT_FALSE(conf.workload_attestors[0].discover_workload_path);
  EXPECT_EQ(conf.workload_attestors[0].workload_size_limit, 0);
  EXPECT_EQ(conf.trustDomain().name(), "example.org");
}

TEST(SpireConfTest, AgentJoinTokenAndInsecureBootstrap) {
  const AgentConf conf =
      must(parseAgentConf("agent {\n"
                          "  trust_domain = \"example.org\"\n"
                          "  server_address = \"10.0.0.1\"\n"
                          "  server_port = 9081\n"
                          "  insecure_bootstrap = \"true\"\n"
                          "  join_token = \"2b5f1a2c\"\n"
                          "}\n" +
                              std::string(kAgentPlugins),
                          "agent.conf"));
  EXPECT_TRUE(conf.insecure_bootstrap);
  EXPECT_TRUE(conf.trust_bundle_path.empty());
  EXPECT_EQ(conf.join_token, "2b5f1a2c");
  EXPECT_EQ(conf.server_port, 9081);
}

TEST(SpireConfTest, AgentErrors) {
  const std::vector<BadCase> cases = {
      {"unknown agent key", agentWith("  server_adress = \"x\"\n"),
       "agent.conf:5: agent.server_adress: unknown key (did you mean \"server_address\"?)"},
      {"SPIRE agent option mutual lacks", agentWith("  sds { default_svid_name = \"x\" }\n"),
       "agent.conf:5: agent.sds: a SPIRE option mutual does not support (see "
       "docs/spire-config.md)"},
      {"server block in agent.conf", "server {}\n",
       "agent.conf:1: server: a server.conf block; this file is read as agent.conf"},
      {"missing agent block", kAgentPlugins, "agent.conf: agent: required block is missing"},
      {"missing server_address",
       "agent {\n  trust_domain = \"example.org\"\n  insecure_bootstrap = true\n}\n" +
           std::string(kAgentPlugins),
       "agent.conf:1: agent.server_address: required key is missing"},
      {"missing trust_domain",
       "agent {\n  server_address = \"s\"\n  insecure_bootstrap = true\n}\n" +
           std::string(kAgentPlugins),
       "agent.conf:1: agent.trust_domain: required key is missing"},
      {"no trust bundle",
       "agent {\n  trust_domain = \"example.org\"\n  server_address = \"s\"\n}\n" +
           std::string(kAgentPlugins),
       "agent.conf:1: agent.trust_bundle_path: required unless insecure_bootstrap is set (the "
       "server's CA bundle, PEM)"},
      {"empty trust bundle path",
       "agent {\n  trust_domain = \"example.org\"\n  server_address = \"s\"\n"
       "  trust_bundle_path = \"\"\n}\n" +
           std::string(kAgentPlugins),
       "agent.conf:4: agent.trust_bundle_path: required unless insecure_bootstrap is set (the "
       "server's CA bundle, PEM)"},
      {"bundle and insecure bootstrap", agentWith("  insecure_bootstrap = true\n"),
       "agent.conf:5: agent.insecure_bootstrap: only one of insecure_bootstrap or "
       "trust_bundle_path can be specified, not both"},
      {"insecure_bootstrap not a bool", agentWith("  insecure_bootstrap = \"maybe\"\n"),
       "agent.conf:5: agent.insecure_bootstrap: expected true or false, got the string "
       "\"maybe\""},
      {"server_port zero", agentWith("  server_port = 0\n"),
       "agent.conf:5: agent.server_port: port 0 is out of range (1-65535)"},
      {"no NodeAttestor",
       agentPluginsWith("  KeyManager \"memory\" {}\n  WorkloadAttestor \"unix\" {}\n"),
       "agent.conf:6: plugins: a NodeAttestor is required: \"join_token\" or \"x509pop\""},
      {"two NodeAttestors",
       agentPluginsWith("  NodeAttestor \"join_token\" {}\n"
                        "  NodeAttestor \"x509pop\" { plugin_data { private_key_path = \"k\", "
                        "certificate_path = \"c\" } }\n"),
       "agent.conf:8: plugins.NodeAttestor \"x509pop\": a second NodeAttestor (the first is at "
       "line 7); SPIRE takes exactly one"},
      {"no WorkloadAttestor",
       agentPluginsWith("  NodeAttestor \"join_token\" {}\n  KeyManager \"memory\" {}\n"),
       "agent.conf:6: plugins: at least one WorkloadAttestor is required: WorkloadAttestor "
       "\"unix\""},
      {"no KeyManager",
       agentPluginsWith("  NodeAttestor \"join_token\" {}\n  WorkloadAttestor \"unix\" {}\n"),
       "agent.conf:6: plugins: a KeyManager is required: KeyManager \"disk\" or \"memory\""},
      {"k8s workload attestor",
       agentPluginsWith("  NodeAttestor \"join_token\" {}\n  KeyManager \"memory\" {}\n"
                        "  WorkloadAttestor \"k8s\" {}\n"),
       "agent.conf:9: plugins.WorkloadAttestor \"k8s\": a SPIRE WorkloadAttestor plugin mutual "
       "does not support; supported: unix"},
      {"server plugin type in agent.conf", agentPluginsWith("  DataStore \"sql\" {}\n"),
       "agent.conf:7: plugins.DataStore \"sql\": a server plugin type; this file is read as "
       "agent.conf"},
      {"x509pop without certificate",
       agentPluginsWith("  NodeAttestor \"x509pop\" {\n    plugin_data {\n"
                        "      private_key_path = \"k\"\n    }\n  }\n"),
       "agent.conf:8: plugins.NodeAttestor \"x509pop\".plugin_data.certificate_path: required "
       "key is missing"},
      {"x509pop server option on the agent",
       agentPluginsWith("  NodeAttestor \"x509pop\" { plugin_data { ca_bundle_path = \"c\" } }\n"),
       "agent.conf:7: plugins.NodeAttestor \"x509pop\".plugin_data.ca_bundle_path: unknown key "
       "(known keys: private_key_path, certificate_path)"},
      {"disk KeyManager without directory", agentPluginsWith("  KeyManager \"disk\" {}\n"),
       "agent.conf:7: plugins.KeyManager \"disk\".plugin_data.directory: required key is "
       "missing"},
      {"unix option typo",
       agentPluginsWith("  WorkloadAttestor \"unix\" { plugin_data { discover_workload_paths = "
                        "true } }\n"),
       "agent.conf:7: plugins.WorkloadAttestor \"unix\".plugin_data.discover_workload_paths: "
       "unknown key (did you mean \"discover_workload_path\"?)"},
      {"unix option type",
       agentPluginsWith("  WorkloadAttestor \"unix\" { plugin_data { discover_workload_path = "
                        "1 } }\n"),
       "agent.conf:7: plugins.WorkloadAttestor \"unix\".plugin_data.discover_workload_path: "
       "expected true or false, got the number 1"},
      {"k8s_psat on the agent", agentPluginsWith("  NodeAttestor \"k8s_psat\" {}\n"),
       "agent.conf:7: plugins.NodeAttestor \"k8s_psat\": a SPIRE NodeAttestor plugin mutual "
       "does not support; supported: join_token, x509pop"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = parseAgentConf(c.text, "agent.conf");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().message, c.error) << c.text;
  }
}

// ---- environment, files, paths ----------------------------------------------------------------

TEST(SpireConfTest, ExpandEnvLikeGo) {
  const EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "TD") return "example.org";
    if (name == "DIR") return "/var/lib/spire";
    if (name == "1") return "one";
    if (name == "*") return "star";
    return std::nullopt;
  };
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"trust_domain = \"${TD}\"", "trust_domain = \"example.org\""},
      {"$DIR/data", "/var/lib/spire/data"},
      {"${DIR}x $DIRx", "/var/lib/spirex "},
      {"$UNSET|${UNSET}|", "||"},
      {"cost $5 and $", "cost  and $"},
      {"$1 ${1} $* ${*}", "one one star star"},
      {"a $ b $. c $/d", "a $ b $. c $/d"},
      {"${} gone", " gone"},
      {"open ${DIR", "open DIR"},
      {"${a b}", ""},
      {"$$", ""},
      {"no variables", "no variables"},
      {"", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(expandEnv(c.in, env), c.out);
  }
}

TEST(SpireConfTest, ExpandEnvOption) {
  ::setenv("MUTUAL_SPIRE_TEST_TD", "env.example.org", 1);
  ::setenv("MUTUAL_SPIRE_TEST_DIR", "/srv/spire", 1);
  const std::string text =
      "server {\n"
      "  trust_domain = \"${MUTUAL_SPIRE_TEST_TD}\"\n"
      "  data_dir = \"$MUTUAL_SPIRE_TEST_DIR/data\"\n"
      "}\n" +
      std::string(kDefaultPlugins);
  const ServerConf expanded = must(parseServerConf(text, "server.conf", {.expand_env = true}));
  EXPECT_EQ(expanded.trust_domain, "env.example.org");
  EXPECT_EQ(expanded.data_dir, "/srv/spire/data");
  // Without the option the text stays: here an invalid trust domain.
  EXPECT_FALSE(parseServerConf(text, "server.conf"));
  ::unsetenv("MUTUAL_SPIRE_TEST_TD");
  ::unsetenv("MUTUAL_SPIRE_TEST_DIR");
}

TEST(SpireConfTest, LoadNamesThePathAsGiven) {
  TempDir dir;
  const auto file = dir.write("conf/server.conf", serverWith("  bind_port = \"x\"\n"));
  auto r = loadServerConf(file.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            file.string() + ":4: server.bind_port: expected an integer, got the string \"x\"");

  auto missing = loadAgentConf((dir.path() / "nope.conf").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST(SpireConfTest, ResolvePath) {
  EXPECT_EQ(resolvePath("./data/server", "/srv/spire").string(), "/srv/spire/data/server");
  EXPECT_EQ(resolvePath("data/../keys.json", "/srv/spire").string(), "/srv/spire/keys.json");
  EXPECT_EQ(resolvePath("/etc/spire/ca.pem", "/srv/spire").string(), "/etc/spire/ca.pem");
  EXPECT_EQ(resolvePath("data", "relative/base").string(), "relative/base/data");
  EXPECT_EQ(resolvePath("", "/srv/spire").string(), "");
}

}  // namespace
}  // namespace mutual::config::spire
