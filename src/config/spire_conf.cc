#include "config/spire_conf.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <set>
#include <span>
#include <utility>

#include "base/encoding.h"
#include "base/file.h"
#include "config/hcl.h"

namespace mutual::config::spire {

namespace {

using hcl::Item;
using hcl::Value;

// A key (or plugin type or name) SPIRE knows and mutual refuses, with the reason.
struct Note {
  std::string_view key;
  std::string_view message;
};

constexpr std::string_view kNotSupported =
    "a SPIRE option mutual does not support (see docs/spire-config.md)";

// ---- paths and messages -----------------------------------------------------------------------

bool isIdentifier(std::string_view s) {
  if (s.empty()) return false;
  const auto letter = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (!letter(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return letter(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

// A key as written in a path: bare when it reads as an identifier, else quoted.
std::string keyText(std::string_view key) {
  return isIdentifier(key) ? std::string(key) : hcl::quote(key);
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? keyText(key) : path + "." + keyText(key);
}

std::string withLabels(std::string path, const std::vector<std::string>& labels) {
  for (const auto& label : labels) path += " " + hcl::quote(label);
  return path;
}

Location itemLocation(const Item& item) {
  return {item.value.file ? *item.value.file : std::string(), item.line};
}

[[noreturn]] void failAt(const Location& where, const std::string& path, std::string message) {
  throw FieldError(where, path, std::move(message));
}

[[noreturn]] void failValue(const Value& v, const std::string& path, std::string message) {
  failAt(v.location(), path, std::move(message));
}

std::string listNames(std::span<const std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// " (did you mean \"x\"?)" for the closest of `candidates`, or "".
std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates) {
  std::string hint;
  size_t best = std::numeric_limits<size_t>::max();
  const std::string low = asciiLower(word);
  for (auto candidate : candidates) {
    const size_t d = std::min(editDistance(word, candidate), editDistance(low, asciiLower(candidate)));
    if (d < best && d <= std::max<size_t>(2, candidate.size() / 3)) {
      best = d;
      hint = " (did you mean \"" + std::string(candidate) + "\"?)";
    }
  }
  return hint;
}

const Note* findNote(std::span<const Note> notes, std::string_view key) {
  for (const auto& note : notes) {
    if (note.key == key) return &note;
  }
  return nullptr;
}

// ---- typed values -----------------------------------------------------------------------------
//
// Values are typed as hcl v1's decoder (with SPIRE's structs) reads them: a number where a
// string is expected is taken as written ("8081"), a string of digits where an integer is
// expected is parsed, and "true"/"false" strings are booleans.

std::string stringValue(const Value& v, const std::string& path) {
  if (v.type == Value::Type::kString || v.type == Value::Type::kInt) {
    if (v.text.find('\0') != std::string::npos) failValue(v, path, "contains a NUL byte");
    return v.text;
  }
  failValue(v, path, "expected a string, got " + v.describe());
}

std::string nonEmptyString(const Value& v, const std::string& path) {
  std::string s = stringValue(v, path);
  if (s.empty()) failValue(v, path, "must not be empty");
  return s;
}

int64_t intValue(const Value& v, const std::string& path) {
  if (v.type == Value::Type::kInt) return v.int_value;
  if (v.type == Value::Type::kString) {
    std::string_view s = v.text;
    int64_t out = 0;
    const char* first = s.data();
    if (!s.empty() && s.front() == '+') ++first;
    const auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), out);
    if (!s.empty() && ec == std::errc() && ptr == s.data() + s.size()) return out;
  }
  failValue(v, path, "expected an integer, got " + v.describe());
}

int portValue(const Value& v, const std::string& path, int min) {
  const int64_t port = intValue(v, path);
  if (port < min || port > 65535) {
    failValue(
        v, path,
        "port " + std::to_string(port) + " is out of range (" + std::to_string(min) + "-65535)");
  }
  return static_cast<int>(port);
}

bool boolValue(const Value& v, const std::string& path) {
  if (v.type == Value::Type::kBool) return v.bool_value;
  if (v.type == Value::Type::kString) {
    // Go's strconv.ParseBool, which hcl v1 applies to strings.
    static constexpr std::array<std::string_view, 6> kTrue = {"1",    "t",    "T",
                                                              "TRUE", "true", "True"};
    static constexpr std::array<std::string_view, 6> kFalse = {"0",     "f",     "F",
                                                               "FALSE", "false", "False"};
    if (std::find(kTrue.begin(), kTrue.end(), v.text) != kTrue.end()) return true;
    if (std::find(kFalse.begin(), kFalse.end(), v.text) != kFalse.end()) return false;
  }
  failValue(v, path, "expected true or false, got " + v.describe());
}

std::vector<std::string> stringList(const Value& v, const std::string& path) {
  if (v.type != Value::Type::kList) {
    failValue(v, path, "expected a list of strings, got " + v.describe());
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v.list.size(); ++i) {
    out.push_back(stringValue(v.list[i], path + "[" + std::to_string(i) + "]"));
  }
  return out;
}

Seconds positiveDuration(const Value& v, const std::string& path) {
  const std::string text = stringValue(v, path);
  auto d = parseDuration(text);
  if (!d) failValue(v, path, d.error().message);
  if (d->count() <= 0) failValue(v, path, "must be longer than 0s");
  return *d;
}

const Value& objectValue(const Value& v, const std::string& path) {
  if (v.type != Value::Type::kObject) {
    failValue(v, path, "expected a block { ... }, got " + v.describe());
  }
  return v;
}

template <typename E>
struct Choice {
  std::string_view name;
  E value;
};

// One of `choices` (exact, or ignoring case when `any_case`); `refused` are SPIRE values mutual
// does not support.
template <typename E, size_t N>
E enumValue(const Value& v, const std::string& path, const std::array<Choice<E>, N>& choices,
            bool any_case, std::span<const std::string_view> refused = {}) {
  const std::string text = stringValue(v, path);
  for (const auto& c : choices) {
    if (text == c.name || (any_case && asciiLower(text) == asciiLower(c.name))) return c.value;
  }
  std::vector<std::string_view> names;
  for (const auto& c : choices) names.push_back(c.name);
  if (std::find(refused.begin(), refused.end(), text) != refused.end()) {
    failValue(v, path,
              hcl::quote(text) + " is not supported by mutual; supported: " + listNames(names));
  }
  failValue(v, path,
            "unknown value " + hcl::quote(text) + didYouMean(text, names) +
                "; allowed: " + listNames(names));
}

// ---- objects ----------------------------------------------------------------------------------

// A checked view of one object while a typed parser walks it: every key is known, none is
// repeated, none carries labels. Reading a key records where it was written.
class Fields {
 public:
  Fields(const Value& obj, std::string path, std::initializer_list<std::string_view> known,
         std::span<const Note> notes, std::map<std::string, Location>& record,
         std::string_view no_keys_hint = {})
      : obj_(obj), path_(std::move(path)), record_(record) {
    const std::vector<std::string_view> known_list(known);
    std::map<std::string_view, int> first_line;
    for (const auto& item : obj.items) {
      const std::string key_path = join(path_, item.key);
      if (!item.labels.empty()) {
        failAt(itemLocation(item), withLabels(key_path, item.labels),
               "unexpected block label (" + keyText(item.key) + " takes none)");
      }
      if (std::find(known_list.begin(), known_list.end(), item.key) == known_list.end()) {
        if (const Note* note = findNote(notes, item.key)) {
          failAt(itemLocation(item), key_path, std::string(note->message));
        }
        std::string hint = didYouMean(item.key, known_list);
        if (hint.empty()) {
          hint = known_list.empty() ? std::string(no_keys_hint)
                                    : " (known keys: " + listNames(known_list) + ")";
        }
        failAt(itemLocation(item), key_path, "unknown key" + hint);
      }
      if (auto [pos, inserted] = first_line.emplace(item.key, item.line); !inserted) {
        failAt(itemLocation(item), key_path,
               "duplicate key (first set at line " + std::to_string(pos->second) + ")");
      }
      items_.emplace(item.key, &item);
    }
  }

  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return join(path_, key); }
  Location location() const { return obj_.location(); }

  // The value of `key`, or nullptr when absent.
  const Value* get(std::string_view key) const {
    const auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    record_[path(key)] = itemLocation(*it->second);
    return &it->second->value;
  }

  const Value& require(std::string_view key, std::string_view what = "key") const {
    const Value* v = get(key);
    if (v == nullptr) {
      failAt(obj_.location(), path(key), "required " + std::string(what) + " is missing");
    }
    return *v;
  }

  void str(std::string_view key, std::string& out) const {
    if (const Value* v = get(key)) out = stringValue(*v, path(key));
  }
  void nonEmpty(std::string_view key, std::string& out) const {
    if (const Value* v = get(key)) out = nonEmptyString(*v, path(key));
  }
  std::string requireNonEmpty(std::string_view key) const {
    return nonEmptyString(require(key), path(key));
  }
  void boolean(std::string_view key, bool& out) const {
    if (const Value* v = get(key)) out = boolValue(*v, path(key));
  }
  void port(std::string_view key, int& out, int min) const {
    if (const Value* v = get(key)) out = portValue(*v, path(key), min);
  }
  void strings(std::string_view key, std::vector<std::string>& out) const {
    if (const Value* v = get(key)) out = stringList(*v, path(key));
  }
  void duration(std::string_view key, Seconds& out) const {
    if (const Value* v = get(key)) out = positiveDuration(*v, path(key));
  }

 private:
  const Value& obj_;
  std::string path_;
  std::map<std::string, Location>& record_;
  std::map<std::string_view, const Item*> items_;
};

// ---- plugins ----------------------------------------------------------------------------------

// One `Type "name" { ... }` inside `plugins { }`, also written `Type { name { ... } }`.
struct PluginEntry {
  std::string type;
  std::string name;
  const Value* body = nullptr;
  Location location;
  std::string path;  // plugins.Type "name"
};

// How many plugins of a type SPIRE takes, when limited.
struct Limit {
  std::string_view type;
  std::string_view how_many;  // "exactly one", "at most one"
};

std::vector<PluginEntry> pluginEntries(const Value& plugins, const std::string& path,
                                       std::span<const std::string_view> types,
                                       std::span<const Note> type_notes) {
  std::vector<PluginEntry> out;
  for (const auto& item : plugins.items) {
    const std::string type_path = join(path, item.key);
    if (std::find(types.begin(), types.end(), item.key) == types.end()) {
      const std::string p = withLabels(type_path, item.labels);
      if (const Note* note = findNote(type_notes, item.key)) {
        failAt(itemLocation(item), p, std::string(note->message));
      }
      std::string hint = didYouMean(item.key, types);
      if (hint.empty()) hint = " (known types: " + listNames(types) + ")";
      failAt(itemLocation(item), p, "unknown plugin type" + hint);
    }
    if (item.labels.size() > 1) {
      failAt(itemLocation(item), withLabels(type_path, item.labels),
             "a plugin takes one label, its name: " + item.key + " \"name\" { ... }");
    }
    if (item.labels.size() == 1) {
      out.push_back({item.key, item.labels[0], &item.value, itemLocation(item),
                     withLabels(type_path, item.labels)});
      continue;
    }
    if (item.value.type != Value::Type::kObject) {
      failValue(item.value, type_path,
                "expected a plugin block " + item.key + " \"name\" { ... }, got " +
                    item.value.describe());
    }
    for (const auto& inner : item.value.items) {
      const std::string entry_path = type_path + " " + hcl::quote(inner.key);
      if (!inner.labels.empty()) {
        failAt(itemLocation(inner), withLabels(entry_path, inner.labels), "unexpected block label");
      }
      if (inner.value.type != Value::Type::kObject) {
        failValue(inner.value, entry_path,
                  "expected a plugin block { ... }, got " + inner.value.describe());
      }
      out.push_back({item.key, inner.key, &inner.value, itemLocation(inner), entry_path});
    }
  }
  return out;
}

// A Type and name pair may appear once; limited types once whatever the name.
void checkCounts(const std::vector<PluginEntry>& entries, std::span<const Limit> limits) {
  std::map<std::pair<std::string, std::string>, int> seen;
  std::map<std::string, int> seen_type;
  for (const auto& e : entries) {
    const auto [first, inserted] = seen_type.emplace(e.type, e.location.line);
    if (!inserted) {
      for (const auto& limit : limits) {
        if (limit.type != e.type) continue;
        failAt(e.location, e.path,
               "a second " + e.type + " (the first is at line " + std::to_string(first->second) +
                   "); SPIRE takes " + std::string(limit.how_many));
      }
    }
    if (auto [pos, ok] = seen.emplace(std::make_pair(e.type, e.name), e.location.line); !ok) {
      failAt(e.location, e.path,
             "duplicate plugin (first at line " + std::to_string(pos->second) + ")");
    }
  }
}

constexpr std::array<Note, 4> kPluginBodyNotes = {{
    {"plugin_cmd", "external plugins are not supported by mutual: only built-in plugins"},
    {"plugin_checksum", "external plugins are not supported by mutual: only built-in plugins"},
    {"plugin_args", "external plugins are not supported by mutual: only built-in plugins"},
    {"plugin_data_file",
     "not supported by mutual: write the settings inline in plugin_data { ... }"},
}};

// The body of one plugin: `enabled` and `plugin_data`.
struct PluginBody {
  bool enabled = true;
  Value data;  // the plugin_data object (empty, at the plugin's line, when absent)
};

PluginBody pluginBody(const PluginEntry& e, std::map<std::string, Location>& record) {
  const Fields f(*e.body, e.path, {"plugin_data", "enabled"}, kPluginBodyNotes, record);
  PluginBody out;
  f.boolean("enabled", out.enabled);
  if (const Value* data = f.get("plugin_data")) {
    out.data = objectValue(*data, f.path("plugin_data"));
  } else {
    out.data.type = Value::Type::kObject;
    out.data.file = e.body->file;
    out.data.line = e.location.line;
  }
  return out;
}

// Fails unless `e.name` is one of `names`; `refused` are SPIRE plugins mutual does not have.
void checkPluginName(const PluginEntry& e, std::span<const std::string_view> names,
                     std::span<const std::string_view> refused) {
  if (std::find(names.begin(), names.end(), e.name) != names.end()) return;
  if (std::find(refused.begin(), refused.end(), e.name) != refused.end()) {
    failAt(e.location, e.path,
           "a SPIRE " + e.type + " plugin mutual does not support; supported: " + listNames(names));
  }
  failAt(e.location, e.path,
         "unknown " + e.type + " plugin" + didYouMean(e.name, names) +
             "; supported: " + listNames(names));
}

constexpr std::string_view kNoSettings = " (this plugin takes no settings)";

// ---- shared blocks ----------------------------------------------------------------------------

constexpr std::array<Choice<LogLevel>, 4> kLogLevels = {{
    {"DEBUG", LogLevel::kDebug},
    {"INFO", LogLevel::kInfo},
    {"WARN", LogLevel::kWarn},
    {"ERROR", LogLevel::kError},
}};

void logLevel(const Fields& f, LogLevel& out) {
  if (const Value* v = f.get("log_level"))
    out = enumValue(*v, f.path("log_level"), kLogLevels, true);
}

HealthChecks healthChecks(const Value& v, const std::string& path,
                          std::map<std::string, Location>& record) {
  const Fields f(objectValue(v, path), path,
                 {"listener_enabled", "bind_address", "bind_port", "live_path", "ready_path"}, {},
                 record);
  HealthChecks out;
  out.location = v.location();
  f.boolean("listener_enabled", out.listener_enabled);
  f.nonEmpty("bind_address", out.bind_address);
  f.port("bind_port", out.bind_port, 0);
  f.nonEmpty("live_path", out.live_path);
  f.nonEmpty("ready_path", out.ready_path);
  return out;
}

std::string trustDomain(const Fields& f) {
  const Value& v = f.require("trust_domain");
  const std::string text = stringValue(v, f.path("trust_domain"));
  auto td = spiffe::TrustDomain::parse(text);
  if (!td) failValue(v, f.path("trust_domain"), td.error().message);
  return td->name();
}

Location locationIn(const std::map<std::string, Location>& locations, const std::string& file,
                    std::string_view path) {
  const auto it = locations.find(std::string(path));
  return it != locations.end() ? it->second : Location{file, 0};
}

std::string warning(const Location& where, std::string_view path, std::string_view message) {
  return fieldError(where, path, message).message;
}

// ---- server.conf ------------------------------------------------------------------------------

constexpr std::array<Note, 4> kServerRootNotes = {{
    {"agent", "an agent.conf block; this file is read as server.conf"},
    {"telemetry", "SPIRE's metrics settings are not supported by mutual"},
    {"plugin_dir", "not supported by mutual"},
    {"plugin_config", "not supported by mutual"},
}};

constexpr std::array<Note, 24> kServerNotes = {{
    {"default_svid_ttl",
     "SPIRE's former name of default_x509_svid_ttl, no longer accepted: use "
     "default_x509_svid_ttl"},
    {"registration_uds_path", "SPIRE's former name of socket_path: use socket_path"},
    {"upstream_bundle", "removed from SPIRE"},
    {"svid_ttl", "not a SPIRE option: use default_x509_svid_ttl"},
    {"log_format", kNotSupported},
    {"log_file", kNotSupported},
    {"log_source_location", kNotSupported},
    {"default_jwt_svid_ttl", kNotSupported},
    {"agent_ttl", kNotSupported},
    {"jwt_key_type", kNotSupported},
    {"jwt_issuer", kNotSupported},
    {"federation", kNotSupported},
    {"admin_ids", kNotSupported},
    {"ratelimit", kNotSupported},
    {"experimental", kNotSupported},
    {"audit_log_enabled", kNotSupported},
    {"cache_reload_interval", kNotSupported},
    {"prune_events_older_than", kNotSupported},
    {"profiling_enabled", kNotSupported},
    {"profiling_port", kNotSupported},
    {"profiling_freq", kNotSupported},
    {"profiling_names", kNotSupported},
    {"allow_agentless_node_attestors", kNotSupported},
    {"use_legacy_downstream_x509_ca_ttl", kNotSupported},
}};

constexpr std::array<Choice<CaKeyType>, 4> kCaKeyTypes = {{
    {"ec-p256", CaKeyType::kEcP256},
    {"ec-p384", CaKeyType::kEcP384},
    {"rsa-2048", CaKeyType::kRsa2048},
    {"rsa-4096", CaKeyType::kRsa4096},
}};

void serverBlock(const Value& v, ServerConf& conf) {
  const std::string path = "server";
  const Fields f(objectValue(v, path), path,
                 {"bind_address", "bind_port", "trust_domain", "data_dir", "log_level", "ca_ttl",
                  "default_x509_svid_ttl", "ca_key_type", "ca_subject", "socket_path"},
                 kServerNotes, conf.locations);
  f.nonEmpty("bind_address", conf.bind_address);
  f.port("bind_port", conf.bind_port, 0);
  conf.trust_domain = trustDomain(f);
  conf.data_dir = f.requireNonEmpty("data_dir");
  logLevel(f, conf.log_level);
  f.duration("ca_ttl", conf.ca_ttl);
  f.duration("default_x509_svid_ttl", conf.default_x509_svid_ttl);
  if (const Value* kt = f.get("ca_key_type")) {
    conf.ca_key_type = enumValue(*kt, f.path("ca_key_type"), kCaKeyTypes, true);
  }
  if (const Value* s = f.get("ca_subject")) {
    const std::string sp = f.path("ca_subject");
    const Fields sf(objectValue(*s, sp), sp, {"country", "organization", "common_name"}, {},
                    conf.locations);
    CaSubject subject;
    sf.strings("country", subject.country);
    sf.strings("organization", subject.organization);
    sf.str("common_name", subject.common_name);
    if (subject.country.empty() && subject.organization.empty() && subject.common_name.empty()) {
      conf.warnings.push_back(
          warning(s->location(), sp, "empty subject; using SPIRE's default C=US, O=SPIFFE"));
    } else {
      conf.ca_subject = std::move(subject);
    }
  }
  f.nonEmpty("socket_path", conf.socket_path);
}

constexpr std::array<std::string_view, 4> kServerPluginTypes = {
    "DataStore", "KeyManager", "NodeAttestor", "UpstreamAuthority"};
constexpr std::array<Note, 7> kServerTypeNotes = {{
    {"Notifier", "a SPIRE plugin type mutual does not support"},
    {"CredentialComposer", "a SPIRE plugin type mutual does not support"},
    {"BundlePublisher", "a SPIRE plugin type mutual does not support"},
    {"NodeResolver", "removed from SPIRE; node attestors produce the selectors"},
    {"UpstreamCA", "SPIRE's former name of UpstreamAuthority: use UpstreamAuthority"},
    {"WorkloadAttestor", "an agent plugin type; this file is read as server.conf"},
    {"SVIDStore", "an agent plugin type; this file is read as server.conf"},
}};

constexpr std::array<std::string_view, 1> kDataStores = {"sql"};
constexpr std::array<std::string_view, 3> kServerAttestors = {"join_token", "x509pop", "k8s_psat"};
constexpr std::array<std::string_view, 9> kRefusedAttestors = {
    "aws_iid", "azure_msi", "azure_imds",     "gcp_iit", "k8s_sat",
    "sshpop",  "tpm_devid", "http_challenge", "jwt_svid"};
constexpr std::array<std::string_view, 2> kKeyManagers = {"memory", "disk"};
constexpr std::array<std::string_view, 3> kRefusedKeyManagers = {"aws_kms", "gcp_kms",
                                                                 "azure_key_vault"};
constexpr std::array<std::string_view, 1> kUpstreams = {"disk"};
constexpr std::array<std::string_view, 8> kRefusedUpstreams = {
    "aws_pca", "awssecret", "gcp_cas", "vault", "spire", "cert-manager", "ejbca", "aws_secret"};

constexpr std::array<Note, 9> kSqlNotes = {{
    {"ro_connection_string", kNotSupported},
    {"max_open_conns", kNotSupported},
    {"max_idle_conns", kNotSupported},
    {"conn_max_lifetime", kNotSupported},
    {"disable_migration", kNotSupported},
    {"root_ca_path", kNotSupported},
    {"client_cert_path", kNotSupported},
    {"client_key_path", kNotSupported},
    {"log_sql", kNotSupported},
}};

constexpr std::array<Choice<SqlDataStore::DatabaseType>, 2> kDatabaseTypes = {{
    {"sqlite3", SqlDataStore::DatabaseType::kSqlite3},
    {"postgres", SqlDataStore::DatabaseType::kPostgres},
}};
constexpr std::array<std::string_view, 1> kRefusedDatabaseTypes = {"mysql"};

constexpr std::array<Note, 4> kX509PopServerNotes = {{
    {"ca_bundle_paths", "not supported by mutual: use one ca_bundle_path"},
    {"mode", kNotSupported},
    {"svid_prefix", kNotSupported},
    {"agent_path_template", kNotSupported},
}};

constexpr std::array<Note, 2> kK8sClusterNotes = {{
    {"service_account_whitelist",
     "SPIRE's former name of service_account_allow_list: use service_account_allow_list"},
    {"use_token_review_api_validation", "removed from SPIRE: the TokenReview API is always used"},
}};

constexpr std::array<Note, 1> kDiskUpstreamNotes = {{
    {"ttl", "removed from SPIRE: the CA lifetime is server.ca_ttl"},
}};

K8sPsatCluster k8sCluster(const Item& item, const std::string& path,
                          std::map<std::string, Location>& record) {
  const Fields f(objectValue(item.value, path), path,
                 {"service_account_allow_list", "audience", "kube_config_file",
                  "allowed_node_label_keys", "allowed_pod_label_keys", "use_pod_uid_for_agent_id"},
                 kK8sClusterNotes, record);
  K8sPsatCluster c;
  c.name = item.key;
  c.location = itemLocation(item);
  const std::string list_path = f.path("service_account_allow_list");
  c.service_account_allow_list = stringList(f.require("service_account_allow_list"), list_path);
  if (c.service_account_allow_list.empty()) {
    failValue(*f.get("service_account_allow_list"), list_path,
              "at least one \"namespace:service-account\" is required");
  }
  const Value& list = *f.get("service_account_allow_list");
  for (size_t i = 0; i < c.service_account_allow_list.size(); ++i) {
    const std::string& sa = c.service_account_allow_list[i];
    const size_t colon = sa.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == sa.size() ||
        sa.find(':', colon + 1) != std::string::npos) {
      failValue(list.list[i], list_path + "[" + std::to_string(i) + "]",
                "expected \"namespace:service-account\", got " + hcl::quote(sa));
    }
  }
  f.strings("audience", c.audience);
  f.str("kube_config_file", c.kube_config_file);
  f.strings("allowed_node_label_keys", c.allowed_node_label_keys);
  f.strings("allowed_pod_label_keys", c.allowed_pod_label_keys);
  f.boolean("use_pod_uid_for_agent_id", c.use_pod_uid_for_agent_id);
  return c;
}

ServerNodeAttestor serverAttestor(const PluginEntry& e, const Value& data,
                                  std::map<std::string, Location>& record) {
  const std::string path = e.path + ".plugin_data";
  ServerNodeAttestor out;
  out.name = e.name;
  out.location = e.location;
  if (e.name == "join_token") {
    out.kind = ServerNodeAttestor::Kind::kJoinToken;
    [[maybe_unused]] const Fields none(data, path, {}, {}, record, kNoSettings);
  } else if (e.name == "x509pop") {
    out.kind = ServerNodeAttestor::Kind::kX509Pop;
    const Fields f(data, path, {"ca_bundle_path"}, kX509PopServerNotes, record);
    out.ca_bundle_path = f.requireNonEmpty("ca_bundle_path");
  } else {
    out.kind = ServerNodeAttestor::Kind::kK8sPsat;
    const Fields f(data, path, {"clusters"}, {}, record);
    if (const Value* clusters = f.get("clusters")) {
      const std::string cp = f.path("clusters");
      const Value& obj = objectValue(*clusters, cp);
      std::map<std::string_view, int> seen;
      for (const auto& item : obj.items) {
        const std::string item_path = join(cp, item.key);
        if (!item.labels.empty()) {
          failAt(itemLocation(item), withLabels(item_path, item.labels), "unexpected block label");
        }
        if (auto [pos, inserted] = seen.emplace(item.key, item.line); !inserted) {
          failAt(itemLocation(item), item_path,
                 "duplicate cluster (first at line " + std::to_string(pos->second) + ")");
        }
        out.clusters.push_back(k8sCluster(item, item_path, record));
      }
    }
  }
  return out;
}

void serverPlugins(const Value& v, ServerConf& conf) {
  const std::string path = "plugins";
  const Value& plugins = objectValue(v, path);
  static constexpr std::array<Limit, 3> kLimits = {{
      {"DataStore", "exactly one"},
      {"KeyManager", "exactly one"},
      {"UpstreamAuthority", "at most one"},
  }};
  bool data_store = false;
  bool key_manager = false;
  const auto entries = pluginEntries(plugins, path, kServerPluginTypes, kServerTypeNotes);
  for (const auto& e : entries) {
    if (e.type == "DataStore") checkPluginName(e, kDataStores, {});
    if (e.type == "KeyManager") checkPluginName(e, kKeyManagers, kRefusedKeyManagers);
    if (e.type == "NodeAttestor") checkPluginName(e, kServerAttestors, kRefusedAttestors);
    if (e.type == "UpstreamAuthority") checkPluginName(e, kUpstreams, kRefusedUpstreams);
  }
  checkCounts(entries, kLimits);
  for (const auto& e : entries) {
    PluginBody body;
    if (e.type == "DataStore") {
      body = pluginBody(e, conf.locations);
      const std::string dp = e.path + ".plugin_data";
      const Fields f(body.data, dp, {"database_type", "connection_string"}, kSqlNotes,
                     conf.locations);
      SqlDataStore ds;
      ds.location = e.location;
      ds.database_type = enumValue(f.require("database_type"), f.path("database_type"),
                                   kDatabaseTypes, false, kRefusedDatabaseTypes);
      ds.connection_string = f.requireNonEmpty("connection_string");
      if (!body.enabled) continue;
      data_store = true;
      conf.data_store = std::move(ds);
    } else if (e.type == "KeyManager") {
      body = pluginBody(e, conf.locations);
      const std::string dp = e.path + ".plugin_data";
      ServerKeyManager km;
      km.location = e.location;
      if (e.name == "disk") {
        km.kind = ServerKeyManager::Kind::kDisk;
        const Fields f(body.data, dp, {"keys_path"}, {}, conf.locations);
        km.keys_path = f.requireNonEmpty("keys_path");
      } else {
        [[maybe_unused]] const Fields none(body.data, dp, {}, {}, conf.locations, kNoSettings);
      }
      if (!body.enabled) continue;
      key_manager = true;
      conf.key_manager = std::move(km);
    } else if (e.type == "NodeAttestor") {
      body = pluginBody(e, conf.locations);
      ServerNodeAttestor na = serverAttestor(e, body.data, conf.locations);
      if (body.enabled) conf.node_attestors.push_back(std::move(na));
    } else {  // UpstreamAuthority
      body = pluginBody(e, conf.locations);
      const Fields f(body.data, e.path + ".plugin_data",
                     {"key_file_path", "cert_file_path", "bundle_file_path"}, kDiskUpstreamNotes,
                     conf.locations);
      DiskUpstreamAuthority ua;
      ua.location = e.location;
      ua.key_file_path = f.requireNonEmpty("key_file_path");
      ua.cert_file_path = f.requireNonEmpty("cert_file_path");
      f.nonEmpty("bundle_file_path", ua.bundle_file_path);
      if (body.enabled) conf.upstream_authority = std::move(ua);
    }
  }
  const Location where = plugins.location();
  if (!data_store) failAt(where, path, "a DataStore is required: DataStore \"sql\" { ... }");
  if (!key_manager) {
    failAt(where, path, "a KeyManager is required: KeyManager \"disk\" or \"memory\"");
  }
  if (conf.node_attestors.empty()) failAt(where, path, "at least one NodeAttestor is required");
}

ServerConf parseServer(const Value& root, const std::string& file) {
  ServerConf conf;
  conf.file = file;
  const Fields top(root, "", {"server", "plugins", "health_checks"}, kServerRootNotes,
                   conf.locations);
  serverBlock(top.require("server", "block"), conf);
  serverPlugins(top.require("plugins", "block"), conf);
  if (const Value* hc = top.get("health_checks")) {
    conf.health_checks = healthChecks(*hc, "health_checks", conf.locations);
  }
  // SPIRE activates a new CA when min(ca_ttl/6, 7 days) of the old one is left; an SVID longer
  // than that is cut short at the old CA's expiry.
  const Seconds max_svid = std::min<Seconds>(conf.ca_ttl / 6, Seconds(7 * 24 * 3600));
  if (conf.default_x509_svid_ttl > max_svid) {
    const char* path = "server.default_x509_svid_ttl";
    Location where = conf.at(path);
    if (where.line == 0) where = conf.at("server.ca_ttl");
    conf.warnings.push_back(
        warning(where, path,
                formatDuration(conf.default_x509_svid_ttl) +
                    " is longer than min(ca_ttl/6, 7 days) (" + formatDuration(max_svid) +
                    "): SVIDs issued shortly before a CA rotation will be shortened"));
  }
  return conf;
}

// ---- agent.conf -------------------------------------------------------------------------------

constexpr std::array<Note, 4> kAgentRootNotes = {{
    {"server", "a server.conf block; this file is read as agent.conf"},
    {"telemetry", "SPIRE's metrics settings are not supported by mutual"},
    {"plugin_dir", "not supported by mutual"},
    {"plugin_config", "not supported by mutual"},
}};

constexpr std::array<Note, 23> kAgentNotes = {{
    {"log_format", kNotSupported},
    {"log_file", kNotSupported},
    {"log_source_location", kNotSupported},
    {"trust_bundle_url", kNotSupported},
    {"trust_bundle_format", kNotSupported},
    {"trust_bundle_unix_socket", kNotSupported},
    {"join_token_file", kNotSupported},
    {"admin_socket_path", kNotSupported},
    {"allow_unauthenticated_verifiers", kNotSupported},
    {"allowed_foreign_jwt_claims", kNotSupported},
    {"authorized_delegates", kNotSupported},
    {"availability_target", kNotSupported},
    {"x509_svid_cache_max_size", kNotSupported},
    {"jwt_svid_cache_max_size", kNotSupported},
    {"workload_x509_svid_key_type", kNotSupported},
    {"sds", kNotSupported},
    {"experimental", kNotSupported},
    {"retry_bootstrap", kNotSupported},
    {"profiling_enabled", kNotSupported},
    {"profiling_port", kNotSupported},
    {"profiling_freq", kNotSupported},
    {"profiling_names", kNotSupported},
    {"bind_address", "a server.conf option; the agent listens on socket_path"},
}};

constexpr std::array<std::string_view, 3> kAgentPluginTypes = {"NodeAttestor", "KeyManager",
                                                               "WorkloadAttestor"};
constexpr std::array<Note, 6> kAgentTypeNotes = {{
    {"SVIDStore", "a SPIRE plugin type mutual does not support"},
    {"NodeResolver", "removed from SPIRE"},
    {"DataStore", "a server plugin type; this file is read as agent.conf"},
    {"UpstreamAuthority", "a server plugin type; this file is read as agent.conf"},
    {"Notifier", "a server plugin type; this file is read as agent.conf"},
    {"CredentialComposer", "a server plugin type; this file is read as agent.conf"},
}};
constexpr std::array<std::string_view, 2> kAgentAttestors = {"join_token", "x509pop"};
constexpr std::array<std::string_view, 10> kRefusedAgentAttestors = {
    "k8s_psat", "aws_iid",   "azure_msi",      "azure_imds", "gcp_iit",
    "k8s_sat",  "tpm_devid", "http_challenge", "sshpop",     "jwt_svid"};
constexpr std::array<std::string_view, 1> kWorkloadAttestors = {"unix"};
constexpr std::array<std::string_view, 4> kRefusedWorkloadAttestors = {"k8s", "docker", "systemd",
                                                                       "windows"};
constexpr std::array<Note, 1> kX509PopAgentNotes = {{{"intermediates_path", kNotSupported}}};

void agentBlock(const Value& v, AgentConf& conf) {
  const std::string path = "agent";
  const Fields f(objectValue(v, path), path,
                 {"data_dir", "log_level", "server_address", "server_port", "socket_path",
                  "trust_bundle_path", "trust_domain", "join_token", "insecure_bootstrap"},
                 kAgentNotes, conf.locations);
  f.nonEmpty("data_dir", conf.data_dir);
  logLevel(f, conf.log_level);
  conf.server_address = f.requireNonEmpty("server_address");
  f.port("server_port", conf.server_port, 1);
  f.nonEmpty("socket_path", conf.socket_path);
  f.str("trust_bundle_path", conf.trust_bundle_path);
  conf.trust_domain = trustDomain(f);
  f.str("join_token", conf.join_token);
  f.boolean("insecure_bootstrap", conf.insecure_bootstrap);
  if (conf.insecure_bootstrap && !conf.trust_bundle_path.empty()) {
    failAt(conf.at("agent.insecure_bootstrap"), f.path("insecure_bootstrap"),
           "only one of insecure_bootstrap or trust_bundle_path can be specified, not both");
  }
  if (!conf.insecure_bootstrap && conf.trust_bundle_path.empty()) {
    failAt(f.get("trust_bundle_path") ? conf.at("agent.trust_bundle_path") : f.location(),
           f.path("trust_bundle_path"),
           "required unless insecure_bootstrap is set (the server's CA bundle, PEM)");
  }
}

void agentPlugins(const Value& v, AgentConf& conf) {
  const std::string path = "plugins";
  const Value& plugins = objectValue(v, path);
  static constexpr std::array<Limit, 2> kLimits = {{
      {"NodeAttestor", "exactly one"},
      {"KeyManager", "exactly one"},
  }};
  bool attestor = false;
  bool key_manager = false;
  const auto entries = pluginEntries(plugins, path, kAgentPluginTypes, kAgentTypeNotes);
  for (const auto& e : entries) {
    if (e.type == "NodeAttestor") checkPluginName(e, kAgentAttestors, kRefusedAgentAttestors);
    if (e.type == "KeyManager") checkPluginName(e, kKeyManagers, {});
    if (e.type == "WorkloadAttestor") {
      checkPluginName(e, kWorkloadAttestors, kRefusedWorkloadAttestors);
    }
  }
  checkCounts(entries, kLimits);
  for (const auto& e : entries) {
    const std::string dp = e.path + ".plugin_data";
    if (e.type == "NodeAttestor") {
      const PluginBody body = pluginBody(e, conf.locations);
      AgentNodeAttestor na;
      na.name = e.name;
      na.location = e.location;
      if (e.name == "x509pop") {
        na.kind = AgentNodeAttestor::Kind::kX509Pop;
        const Fields f(body.data, dp, {"private_key_path", "certificate_path"}, kX509PopAgentNotes,
                       conf.locations);
        na.private_key_path = f.requireNonEmpty("private_key_path");
        na.certificate_path = f.requireNonEmpty("certificate_path");
      } else {
        na.kind = AgentNodeAttestor::Kind::kJoinToken;
        [[maybe_unused]] const Fields none(body.data, dp, {}, {}, conf.locations, kNoSettings);
      }
      if (!body.enabled) continue;
      attestor = true;
      conf.node_attestor = std::move(na);
    } else if (e.type == "KeyManager") {
      const PluginBody body = pluginBody(e, conf.locations);
      AgentKeyManager km;
      km.location = e.location;
      if (e.name == "disk") {
        km.kind = AgentKeyManager::Kind::kDisk;
        const Fields f(body.data, dp, {"directory"}, {}, conf.locations);
        km.directory = f.requireNonEmpty("directory");
      } else {
        [[maybe_unused]] const Fields none(body.data, dp, {}, {}, conf.locations, kNoSettings);
      }
      if (!body.enabled) continue;
      key_manager = true;
      conf.key_manager = std::move(km);
    } else {  // WorkloadAttestor
      const PluginBody body = pluginBody(e, conf.locations);
      const Fields f(body.data, dp, {"discover_workload_path", "workload_size_limit"}, {},
                     conf.locations);
      UnixWorkloadAttestor wa;
      wa.location = e.location;
      f.boolean("discover_workload_path", wa.discover_workload_path);
      if (const Value* limit = f.get("workload_size_limit")) {
        wa.workload_size_limit = intValue(*limit, f.path("workload_size_limit"));
      }
      if (body.enabled) conf.workload_attestors.push_back(wa);
    }
  }
  const Location where = plugins.location();
  if (!attestor) failAt(where, path, "a NodeAttestor is required: \"join_token\" or \"x509pop\"");
  if (!key_manager) {
    failAt(where, path, "a KeyManager is required: KeyManager \"disk\" or \"memory\"");
  }
  if (conf.workload_attestors.empty()) {
    failAt(where, path, "at least one WorkloadAttestor is required: WorkloadAttestor \"unix\"");
  }
}

AgentConf parseAgent(const Value& root, const std::string& file) {
  AgentConf conf;
  conf.file = file;
  const Fields top(root, "", {"agent", "plugins", "health_checks"}, kAgentRootNotes,
                   conf.locations);
  agentBlock(top.require("agent", "block"), conf);
  agentPlugins(top.require("plugins", "block"), conf);
  if (const Value* hc = top.get("health_checks")) {
    conf.health_checks = healthChecks(*hc, "health_checks", conf.locations);
  }
  return conf;
}

template <typename Conf>
Result<Conf> parseWith(std::string_view text, const std::string& file_name,
                       const SpireConfOptions& options,
                       Conf (*walk)(const Value&, const std::string&)) {
  std::string expanded;
  if (options.expand_env) {
    expanded = expandEnv(text);
    text = expanded;
  }
  auto root = hcl::parse(text, file_name);
  if (!root) return fail(root.error());
  return parseStrict([&] { return walk(*root, file_name); });
}

bool isShellSpecial(char c) {
  switch (c) {
    case '*':
    case '#':
    case '$':
    case '@':
    case '!':
    case '?':
    case '-':
      return true;
    default:
      return c >= '0' && c <= '9';
  }
}

bool isAlnumUnderscore(char c) {
  return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

std::string_view logLevelName(LogLevel level) {
  for (const auto& c : kLogLevels) {
    if (c.value == level) return c.name;
  }
  return "INFO";
}

std::string_view caKeyTypeName(CaKeyType type) {
  for (const auto& c : kCaKeyTypes) {
    if (c.value == type) return c.name;
  }
  return "ec-p256";
}

spiffe::TrustDomain ServerConf::trustDomain() const {
  return spiffe::TrustDomain::parse(trust_domain).value();
}

Location ServerConf::at(std::string_view path) const { return locationIn(locations, file, path); }

spiffe::TrustDomain AgentConf::trustDomain() const {
  return spiffe::TrustDomain::parse(trust_domain).value();
}

Location AgentConf::at(std::string_view path) const { return locationIn(locations, file, path); }

Result<ServerConf> parseServerConf(std::string_view text, const std::string& file_name,
                                   const SpireConfOptions& options) {
  return parseWith<ServerConf>(text, file_name, options, parseServer);
}

Result<ServerConf> loadServerConf(const std::string& path, const SpireConfOptions& options) {
  auto text = readFile(path);
  if (!text) return fail(text.error());
  return parseServerConf(*text, path, options);
}

Result<AgentConf> parseAgentConf(std::string_view text, const std::string& file_name,
                                 const SpireConfOptions& options) {
  return parseWith<AgentConf>(text, file_name, options, parseAgent);
}

Result<AgentConf> loadAgentConf(const std::string& path, const SpireConfOptions& options) {
  auto text = readFile(path);
  if (!text) return fail(text.error());
  return parseAgentConf(*text, path, options);
}

std::string expandEnv(std::string_view s, const EnvLookup& lookup) {
  const auto value = [&](const std::string& name) -> std::string {
    if (lookup) return lookup(name).value_or("");
    const char* v = std::getenv(name.c_str());
    return v ? v : "";
  };
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '$' || i + 1 == s.size()) {
      out += s[i++];
      continue;
    }
    // As Go's getShellName: the name after '$' and how many bytes it spans.
    const std::string_view rest = s.substr(i + 1);
    std::string_view name;
    size_t width = 0;
    if (rest[0] == '{') {
      if (rest.size() > 2 && isShellSpecial(rest[1]) && rest[2] == '}') {
        name = rest.substr(1, 1);
        width = 3;
      } else {
        const size_t close = rest.find('}', 1);
        if (close == std::string_view::npos) {
          width = 1;  // bad syntax: drop "${"
        } else if (close == 1) {
          width = 2;  // bad syntax: drop "${}"
        } else {
          name = rest.substr(1, close - 1);
          width = close + 1;
        }
      }
    } else if (isShellSpecial(rest[0])) {
      name = rest.substr(0, 1);
      width = 1;
    } else {
      while (width < rest.size() && isAlnumUnderscore(rest[width])) ++width;
      name = rest.substr(0, width);
    }
    if (!name.empty()) {
      out += value(std::string(name));
    } else if (width == 0) {
      out += '$';  // a '$' not followed by a name stays
    }
    i += 1 + width;
  }
  return out;
}

std::filesystem::path resolvePath(std::string_view path, const std::filesystem::path& base_dir) {
  if (path.empty()) return {};
  const std::filesystem::path p(path);
  if (p.is_absolute()) return p;
  return (base_dir / p).lexically_normal();
}

}  // namespace mutual::config::spire
