#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "base/error.h"
#include "config/yaml_field.h"
#include "spiffe/spiffe_id.h"

// SPIRE's server.conf and agent.conf, read strictly into typed values. docs/spire-config.md
// lists every supported option, its default and the errors.
//
// As SPIRE does, unknown keys, blocks and plugin names are errors. Options SPIRE has and
// mutual does not implement are errors too, saying so, rather than being silently ignored.
// Every error is InvalidArgument "<file>:<line>: <path>: <message>", where the path names the
// setting as written: `plugins.DataStore "sql".plugin_data.database_type`.
namespace mutual::config::spire {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
// "DEBUG", "INFO", "WARN", "ERROR".
std::string_view logLevelName(LogLevel level);

enum class CaKeyType { kEcP256, kEcP384, kRsa2048, kRsa4096 };
// "ec-p256", "ec-p384", "rsa-2048", "rsa-4096".
std::string_view caKeyTypeName(CaKeyType type);

// The subject of the server's CA certificates.
struct CaSubject {
  std::vector<std::string> country;
  std::vector<std::string> organization;
  std::string common_name;
};

// `health_checks { ... }`, SPIRE's HTTP liveness/readiness listener. Defaults are SPIRE's.
struct HealthChecks {
  bool listener_enabled = false;
  std::string bind_address = "localhost";
  int bind_port = 80;
  std::string live_path = "/live";
  std::string ready_path = "/ready";
  Location location;  // the block
};

// DataStore "sql".
struct SqlDataStore {
  enum class DatabaseType { kSqlite3, kPostgres };
  DatabaseType database_type = DatabaseType::kSqlite3;
  // sqlite3: a file name or a `file:` URI; postgres: a libpq connection string. Kept as
  // written (the server resolves a relative file name as any other path: resolvePath).
  std::string connection_string;
  Location location;  // the plugin block
};

// One cluster of the k8s_psat node attestor (`clusters = { "<name>" = { ... } }`).
struct K8sPsatCluster {
  std::string name;
  std::vector<std::string> service_account_allow_list;  // "namespace:name", at least one
  std::vector<std::string> audience = {"spire-server"};
  std::string kube_config_file;  // empty: in-cluster configuration
  std::vector<std::string> allowed_node_label_keys;
  std::vector<std::string> allowed_pod_label_keys;
  bool use_pod_uid_for_agent_id = false;
  Location location;
};

// A server NodeAttestor plugin.
struct ServerNodeAttestor {
  enum class Kind { kJoinToken, kX509Pop, kK8sPsat };
  Kind kind = Kind::kJoinToken;
  std::string name;                      // "join_token", "x509pop", "k8s_psat"
  std::string ca_bundle_path;            // x509pop: PEM file of the CAs agent certificates chain to
  std::vector<K8sPsatCluster> clusters;  // k8s_psat, in file order (may be empty)
  Location location;
};

// KeyManager "memory" or "disk".
struct ServerKeyManager {
  enum class Kind { kMemory, kDisk };
  Kind kind = Kind::kMemory;
  std::string keys_path;  // disk: the JSON key file
  Location location;
};

// UpstreamAuthority "disk".
struct DiskUpstreamAuthority {
  std::string key_file_path;
  std::string cert_file_path;
  std::string bundle_file_path;  // empty: the certificate is a self-signed root
  Location location;
};

// A parsed server.conf. Paths are kept as written; see resolvePath().
struct ServerConf {
  std::string file;

  std::string bind_address = "0.0.0.0";
  int bind_port = 8081;  // 0 picks a free port
  // Validated with spiffe::TrustDomain::parse; its name ("spiffe://example.org" gives
  // "example.org").
  std::string trust_domain;
  std::string data_dir;
  LogLevel log_level = LogLevel::kInfo;
  Seconds ca_ttl{24 * 3600};
  Seconds default_x509_svid_ttl{3600};
  CaKeyType ca_key_type = CaKeyType::kEcP256;
  CaSubject ca_subject = {{"US"}, {"SPIFFE"}, ""};
  std::string socket_path = "/tmp/spire-server/private/api.sock";

  SqlDataStore data_store;
  std::vector<ServerNodeAttestor> node_attestors;  // at least one, in file order
  ServerKeyManager key_manager;
  std::optional<DiskUpstreamAuthority> upstream_authority;
  std::optional<HealthChecks> health_checks;

  // Where each setting was written, by path ("server.ca_ttl",
  // "plugins.KeyManager \"disk\".plugin_data.keys_path"), for later complaints about values
  // (a missing file, an unwritable directory).
  std::map<std::string, Location> locations;
  // "<file>:<line>: <path>: <message>" for settings SPIRE accepts with a warning (an SVID TTL
  // too long for the CA TTL).
  std::vector<std::string> warnings;

  // The trust domain as a value; never fails on a parsed config.
  spiffe::TrustDomain trustDomain() const;
  // The location of `path` (see locations); just the file when it was not written.
  Location at(std::string_view path) const;
};

// An agent NodeAttestor plugin.
struct AgentNodeAttestor {
  enum class Kind { kJoinToken, kX509Pop };
  Kind kind = Kind::kJoinToken;
  std::string name;
  std::string private_key_path;  // x509pop
  std::string certificate_path;  // x509pop
  Location location;
};

// KeyManager "memory" or "disk" on the agent.
struct AgentKeyManager {
  enum class Kind { kMemory, kDisk };
  Kind kind = Kind::kMemory;
  std::string directory;  // disk
  Location location;
};

// WorkloadAttestor "unix".
struct UnixWorkloadAttestor {
  bool discover_workload_path = false;
  int64_t workload_size_limit = 0;  // bytes hashed for unix:sha256; 0 unlimited, <0 never
  Location location;
};

// A parsed agent.conf.
struct AgentConf {
  std::string file;

  std::string data_dir = ".";
  LogLevel log_level = LogLevel::kInfo;
  std::string server_address;  // required
  int server_port = 8081;
  std::string socket_path = "/tmp/spire-agent/public/api.sock";
  std::string trust_bundle_path;  // required unless insecure_bootstrap
  std::string trust_domain;       // required, validated as on the server
  std::string join_token;
  bool insecure_bootstrap = false;

  AgentNodeAttestor node_attestor;
  AgentKeyManager key_manager;
  std::vector<UnixWorkloadAttestor> workload_attestors;  // at least one
  std::optional<HealthChecks> health_checks;

  std::map<std::string, Location> locations;
  std::vector<std::string> warnings;

  spiffe::TrustDomain trustDomain() const;
  Location at(std::string_view path) const;
};

struct SpireConfOptions {
  // SPIRE's -expandEnv: replace $VAR and ${VAR} in the whole text from the environment
  // before parsing (see expandEnv).
  bool expand_env = false;
};

// Parses server.conf text; `file_name` names it in errors and locations.
Result<ServerConf> parseServerConf(std::string_view text, const std::string& file_name,
                                   const SpireConfOptions& options = {});
// Reads and parses a file; errors name the path as given. NotFound when it does not exist.
Result<ServerConf> loadServerConf(const std::string& path, const SpireConfOptions& options = {});

Result<AgentConf> parseAgentConf(std::string_view text, const std::string& file_name,
                                 const SpireConfOptions& options = {});
Result<AgentConf> loadAgentConf(const std::string& path, const SpireConfOptions& options = {});

// The value of an environment variable, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Go's os.ExpandEnv, which SPIRE's -expandEnv applies: ${NAME} and $NAME (letters, digits,
// '_') become the variable's value, empty when unset; $1, $*, $# and the like (one special
// character) likewise. A '$' before anything else stays; "${}" and an unclosed "${" are
// dropped. There is no escape for a literal "${". `lookup` defaults to the process
// environment.
std::string expandEnv(std::string_view text, const EnvLookup& lookup = {});

// `path` as SPIRE would open it from `base_dir`: absolute paths unchanged, relative ones
// joined to `base_dir` (SPIRE resolves them against its working directory). Empty stays empty.
std::filesystem::path resolvePath(std::string_view path, const std::filesystem::path& base_dir);

}  // namespace mutual::config::spire
