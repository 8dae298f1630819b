#include "config/mesh.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "base/encoding.h"
#include "config/cert_manager.h"
#include "spiffe/spiffe_id.h"

namespace mutual::config {

namespace {

using Severity = Finding::Severity;

constexpr std::string_view kIstioSecurity = "security.istio.io";
constexpr std::string_view kIstioNetworking = "networking.istio.io";
constexpr std::string_view kLinkerdPolicy = "policy.linkerd.io";
constexpr std::string_view kMutualGroup = "mutual.dev";
constexpr std::string_view kDefaultRootNamespace = "istio-system";
constexpr std::string_view kPortRange = "port must be in range 1..65535";

std::string inQuotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// --- findings --------------------------------------------------------------------------------

// The findings of one document. Structural problems (a wrong type, an unknown field) throw
// FieldError from the Field accessors and end the walk of that document; rule violations are
// added here and the walk goes on, so that every violation is reported, as Istio's validation
// appends every error. Any error leaves the document out of the result.
class Checker {
 public:
  explicit Checker(std::vector<Finding>& out) : out_(out) {}

  void error(const Field& at, std::string message) {
    add(Severity::kError, at.location(), at.path(), std::move(message));
  }
  void warning(const Field& at, std::string message) {
    add(Severity::kWarning, at.location(), at.path(), std::move(message));
  }
  void add(Severity severity, Location where, std::string field, std::string message) {
    if (severity == Severity::kError) failed_ = true;
    out_.push_back(Finding{severity, std::move(where), std::move(field), std::move(message)});
  }
  void add(const FieldError& e, const Location& fallback) {
    if (e.detail().empty()) {
      add(Severity::kError, fallback, "", e.error().message);
    } else {
      add(Severity::kError, e.where(), e.path(), e.detail());
    }
  }
  bool failed() const { return failed_; }

 private:
  std::vector<Finding>& out_;
  bool failed_ = false;
};

// Runs `parse(manifest, checker)`; the value when the document has no error.
template <typename Parse>
auto parseDocument(const Manifest& m, std::vector<Finding>& findings, Parse&& parse)
    -> std::optional<decltype(parse(m, std::declval<Checker&>()))> {
  Checker check(findings);
  try {
    auto value = parse(m, check);
    if (check.failed()) return std::nullopt;
    return value;
  } catch (const FieldError& e) {
    check.add(e, m.location);
    return std::nullopt;
  }
}

// --- shared pieces ---------------------------------------------------------------------------

void checkApiVersion(const Manifest& m, std::initializer_list<std::string_view> versions) {
  if (std::find(versions.begin(), versions.end(), m.api_version) != versions.end()) return;
  std::string names;
  for (auto v : versions) names += (names.empty() ? "" : " or ") + inQuotes(v);
  m.root()
      .get("apiVersion")
      .fail("apiVersion " + inQuotes(m.api_version) + " is not supported for " + m.kind + "; use " +
            names);
}

PolicyMeta metaOf(const Manifest& m) {
  PolicyMeta out;
  out.name = m.metadata.name;
  out.namespace_name = m.metadata.namespace_name.empty() ? std::string(kDefaultNamespace)
                                                         : m.metadata.namespace_name;
  out.creation_timestamp = m.metadata.creation_timestamp;
  out.location = m.location;
  return out;
}

// The top level of the Istio, Linkerd and mutual kinds; `status` is server state, ignored.
void allowTopLevel(const Field& root) {
  root.allowOnly({"apiVersion", "kind", "metadata", "spec", "status"});
}

// An enum written as a string; an unknown value is an error naming the allowed ones (and the
// closest, for case slips and typos such as "strict" or "STRICTLY").
template <typename E, size_t N>
std::optional<E> enumValue(const Field& f,
                           const std::array<std::pair<std::string_view, E>, N>& values,
                           Checker& check) {
  const std::string text = f.string();
  for (const auto& [name, value] : values) {
    if (name == text) return value;
  }
  std::string all;
  std::string hint;
  size_t best = 3;
  for (const auto& [name, value] : values) {
    all += (all.empty() ? "" : ", ") + std::string(name);
    const size_t d = editDistance(upper(text), upper(name));
    if (d < best) {
      best = d;
      hint = " (did you mean " + inQuotes(name) + "?)";
    }
  }
  check.error(f, "unknown value " + inQuotes(text) + hint + "; allowed: " + all);
  return std::nullopt;
}

// Linkerd's default inbound policies, as its policy controller spells them (defaults.rs).
constexpr std::array<std::pair<std::string_view, LinkerdDefaultPolicy>, 6> kLinkerdDefaultPolicies =
    {{
        {"all-unauthenticated", LinkerdDefaultPolicy::kAllUnauthenticated},
        {"all-authenticated", LinkerdDefaultPolicy::kAllAuthenticated},
        {"cluster-unauthenticated", LinkerdDefaultPolicy::kClusterUnauthenticated},
        {"cluster-authenticated", LinkerdDefaultPolicy::kClusterAuthenticated},
        {"deny", LinkerdDefaultPolicy::kDeny},
        {"audit", LinkerdDefaultPolicy::kAudit},
    }};

// An integer port; out of range is an error (and nullopt).
std::optional<uint32_t> portNumber(const Field& f, Checker& check) {
  const int64_t value = f.integer();
  if (value < 1 || value > 65535) {
    check.error(f, std::string(kPortRange) + ", got " + std::to_string(value));
    return std::nullopt;
  }
  return static_cast<uint32_t>(value);
}

// A port written as a map key ("8080" or 8080 both arrive as text).
std::optional<uint32_t> portKey(const std::string& key, const Field& where, Checker& check) {
  std::string_view digits = key;
  const bool negative = digits.starts_with('-');
  if (negative || digits.starts_with('+')) digits.remove_prefix(1);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    check.error(where, "port must be a number, got " + inQuotes(key));
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (negative || ec != std::errc() || end != digits.data() + digits.size() || value < 1 ||
      value > 65535) {
    check.error(where, std::string(kPortRange) + ", got " + key);
    return std::nullopt;
  }
  return static_cast<uint32_t>(value);
}

// A Kubernetes int-or-string port: a number, or the name of a container port.
void intOrStringPort(const Field& f, uint32_t& number, std::string& name, Checker& check) {
  if (f.isNull()) return;
  if (f.describe().starts_with("the string")) {
    name = f.nonEmptyString();
  } else if (auto port = portNumber(f, check)) {
    number = *port;
  }
}

// Istio's workload selector (`selector`, `workloadSelector`): `matchLabels` only, no empty
// keys and no wildcards (validation.go validateWorkloadSelector; the CRD's CEL rules). nullopt
// when absent.
std::optional<Labels> workloadSelector(const Field& selector, Checker& check) {
  if (selector.isNull()) return std::nullopt;
  selector.allowOnly({"matchLabels"});
  Labels out;
  for (const auto& [key, value] : selector.get("matchLabels").entries()) {
    std::string text = value.string();
    if (key.empty()) check.error(value, "empty key is not supported in selector");
    if (key.find('*') != std::string::npos || text.find('*') != std::string::npos) {
      check.error(value, "wildcard is not supported in selector: " + inQuotes(key + "=" + text));
    }
    out[key] = std::move(text);
  }
  if (out.empty()) check.warning(selector, "workload selector specified without labels");
  return out;
}

bool isLabelNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// A Kubernetes label name or value part: at most 63 of [A-Za-z0-9-_.], alphanumeric at both
// ends (empty allowed for values).
bool isLabelPart(std::string_view s, bool allow_empty) {
  if (s.empty()) return allow_empty;
  if (s.size() > 63) return false;
  if (!std::isalnum(static_cast<unsigned char>(s.front())) ||
      !std::isalnum(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), isLabelNameChar);
}

// Kubernetes label syntax, as Istio checks subset labels (labels.Instance.Validate).
Labels checkedLabels(const Field& labels, Checker& check) {
  Labels out;
  for (const auto& [key, value] : labels.entries()) {
    std::string text = value.string();
    const auto slash = key.find('/');
    const std::string_view prefix =
        slash == std::string::npos ? std::string_view() : std::string_view(key).substr(0, slash);
    const std::string_view name = slash == std::string::npos
                                      ? std::string_view(key)
                                      : std::string_view(key).substr(slash + 1);
    if ((slash != std::string::npos && !isDns1123Subdomain(prefix)) || !isLabelPart(name, false)) {
      check.error(value, "invalid label key " + inQuotes(key) +
                             ": an optional DNS-1123 prefix and '/', then at most 63 letters, "
                             "digits, '-', '_' or '.', starting and ending with a letter or digit");
    } else if (!isLabelPart(text, true)) {
      check.error(value, "invalid label value " + inQuotes(text) +
                             ": at most 63 letters, digits, '-', '_' or '.', starting and ending "
                             "with a letter or digit");
    }
    out[key] = std::move(text);
  }
  return out;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A list of strings, item by item, so that each complaint names the item's line.
std::vector<std::string> stringList(const Field& f, Checker& check, bool allow_empty_items) {
  std::vector<std::string> out;
  if (!f.isNull() && !f.isList()) f.fail("expected a list of strings, got " + f.describe());
  for (const auto& item : f.items()) {
    std::string text = item.string();
    if (text.empty() && !allow_empty_items) check.error(item, "empty value not allowed");
    out.push_back(std::move(text));
  }
  return out;
}

// --- PeerAuthentication ----------------------------------------------------------------------

constexpr std::array<std::pair<std::string_view, MtlsMode>, 4> kMtlsModes = {{
    {"UNSET", MtlsMode::kUnset},
    {"DISABLE", MtlsMode::kDisable},
    {"PERMISSIVE", MtlsMode::kPermissive},
    {"STRICT", MtlsMode::kStrict},
}};

MtlsMode mtlsModeOf(const Field& mtls, Checker& check) {
  mtls.allowOnly({"mode"});
  const Field mode = mtls.get("mode");
  if (mode.isNull()) return MtlsMode::kUnset;
  return enumValue(mode, kMtlsModes, check).value_or(MtlsMode::kUnset);
}

PeerAuthentication peerAuthenticationFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"security.istio.io/v1", "security.istio.io/v1beta1"});
  const Field root = m.root();
  allowTopLevel(root);
  PeerAuthentication out;
  out.meta = metaOf(m);
  const Field spec = root.get("spec");
  spec.allowOnly({"selector", "mtls", "portLevelMtls"});
  out.selector = workloadSelector(spec.get("selector"), check);
  out.mode = mtlsModeOf(spec.get("mtls"), check);

  // validation.go ValidatePeerAuthentication; peer_authentication.proto (MinProperties=1,
  // CEL "portLevelMtls requires selector").
  const Field ports = spec.get("portLevelMtls");
  if (ports.isNull()) return out;
  const auto entries = ports.entries();
  if (!out.selector || out.selector->empty()) {
    check.error(ports, "mesh/namespace peer authentication cannot have port level mTLS");
  }
  if (entries.empty()) {
    check.error(ports, "port level mTLS, if defined, must have at least one element");
  }
  for (const auto& [key, value] : entries) {
    const auto port = portKey(key, value, check);
    const MtlsMode mode = mtlsModeOf(value, check);
    if (port) out.port_level[*port] = mode;
  }
  return out;
}

// --- DestinationRule -------------------------------------------------------------------------

constexpr std::array<std::pair<std::string_view, ClientTlsMode>, 4> kClientTlsModes = {{
    {"DISABLE", ClientTlsMode::kDisable},
    {"SIMPLE", ClientTlsMode::kSimple},
    {"MUTUAL", ClientTlsMode::kMutual},
    {"ISTIO_MUTUAL", ClientTlsMode::kIstioMutual},
}};

// The rules of Istio's agent.ValidateTLS, plus ISTIO_MUTUAL's "other cert fields must be
// empty" (destination_rule.proto ClientTLSSettings; istio-mtls.md §2.1).
void checkClientTls(const Field& tls, const ClientTls& t, Checker& check) {
  const bool simple = t.mode == ClientTlsMode::kSimple;
  const bool mutual = t.mode == ClientTlsMode::kMutual;
  if (t.insecure_skip_verify) {
    const Field skip = tls.get("insecureSkipVerify");
    if (simple && (!t.ca_certificates.empty() || !t.credential_name.empty() ||
                   !t.subject_alt_names.empty())) {
      check.error(skip,
                  "cannot specify caCertificates, credentialName or subjectAltNames when "
                  "insecureSkipVerify is true");
    }
    if (mutual && (!t.ca_certificates.empty() || !t.subject_alt_names.empty())) {
      check.error(skip,
                  "cannot specify caCertificates or subjectAltNames when insecureSkipVerify is "
                  "true");
    }
  }
  if ((simple || mutual) && !t.credential_name.empty()) {
    if (!t.client_certificate.empty() || !t.ca_certificates.empty() || !t.private_key.empty() ||
        !t.ca_crl.empty()) {
      check.error(tls.get("credentialName"),
                  "cannot specify clientCertificate, privateKey, caCertificates or caCrl when "
                  "credentialName is set");
    }
    return;  // the credential supplies the key, certificate and CA
  }
  if (mutual) {
    if (t.client_certificate.empty()) {
      check.error(tls.get("clientCertificate"),
                  "clientCertificate is required for mode MUTUAL (or set credentialName)");
    }
    if (t.private_key.empty()) {
      check.error(tls.get("privateKey"),
                  "privateKey is required for mode MUTUAL (or set credentialName)");
    }
  }
  if (t.mode == ClientTlsMode::kIstioMutual) {
    for (const char* name :
         {"clientCertificate", "privateKey", "caCertificates", "credentialName"}) {
      const Field f = tls.get(name);
      if (!f.isNull()) {
        check.error(f,
                    "must be empty with mode ISTIO_MUTUAL, which uses the sidecar's own workload "
                    "certificate and the mesh CA");
      }
    }
  }
}

ClientTls clientTlsFrom(const Field& tls, Checker& check) {
  tls.allowOnly({"mode", "clientCertificate", "privateKey", "caCertificates", "credentialName",
                 "subjectAltNames", "sni", "insecureSkipVerify", "caCrl"});
  ClientTls out;  // a block without `mode` is DISABLE, the proto default
  const Field mode = tls.get("mode");
  if (!mode.isNull()) out.mode = enumValue(mode, kClientTlsModes, check).value_or(out.mode);
  out.client_certificate = tls.get("clientCertificate").string();
  out.private_key = tls.get("privateKey").string();
  out.ca_certificates = tls.get("caCertificates").string();
  out.credential_name = tls.get("credentialName").string();
  out.subject_alt_names = stringList(tls.get("subjectAltNames"), check, false);
  out.sni = tls.get("sni").string();
  out.insecure_skip_verify = tls.get("insecureSkipVerify").boolean();
  out.ca_crl = tls.get("caCrl").string();
  checkClientTls(tls, out, check);
  return out;
}

// Traffic policy fields mutual does not model: their field names are still checked (typos are
// errors as everywhere else), their values are not.
void checkConnectionPool(const Field& f) {
  f.allowOnly({"http", "tcp"});
  const Field http = f.get("http");
  http.allowOnly({"h2UpgradePolicy", "http1MaxPendingRequests", "http2MaxRequests", "idleTimeout",
                  "maxConcurrentStreams", "maxRequestsPerConnection", "maxRetries",
                  "useClientProtocol", "http2KeepAlive"});
  http.get("http2KeepAlive").allowOnly({"interval", "timeout"});
  const Field tcp = f.get("tcp");
  tcp.allowOnly(
      {"connectTimeout", "idleTimeout", "maxConnectionDuration", "maxConnections", "tcpKeepalive"});
  tcp.get("tcpKeepalive").allowOnly({"interval", "probes", "time"});
}

void checkLoadBalancer(const Field& f) {
  f.allowOnly({"simple", "consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup",
               "zoneAwareLbSetting"});
  (void)f.get("simple").string();
  const Field hash = f.get("consistentHash");
  hash.allowOnly({"httpCookie", "httpHeaderName", "httpQueryParameterName", "maglev",
                  "minimumRingSize", "ringHash", "useSourceIp"});
  hash.get("httpCookie").allowOnly({"name", "path", "ttl", "attributes"});
  for (const auto& a : hash.get("httpCookie").get("attributes").items()) {
    a.allowOnly({"name", "value"});
  }
  hash.get("maglev").allowOnly({"tableSize"});
  hash.get("ringHash").allowOnly({"minimumRingSize"});
  const Field locality = f.get("localityLbSetting");
  locality.allowOnly({"distribute", "enabled", "failover", "failoverPriority"});
  for (const auto& d : locality.get("distribute").items()) d.allowOnly({"from", "to"});
  for (const auto& d : locality.get("failover").items()) d.allowOnly({"from", "to"});
  f.get("warmup").allowOnly({"aggression", "duration", "minimumPercent"});
  const Field zone = f.get("zoneAwareLbSetting");
  zone.allowOnly({"enabled", "failover", "failoverPriority", "minClusterSize"});
  for (const auto& d : zone.get("failover").items()) d.allowOnly({"from", "to"});
}

void checkOutlierDetection(const Field& f) {
  f.allowOnly({"baseEjectionTime", "consecutive5xxErrors", "consecutiveErrors",
               "consecutiveGatewayErrors", "consecutiveLocalOriginFailures", "interval",
               "maxEjectionPercent", "minHealthPercent", "outlierDetectionHttpErrorCodes",
               "splitExternalLocalOriginErrors"});
}

// The fields of a port-level entry other than `port` and `tls`, and whether any is set.
bool checkCommonTrafficFields(const Field& f) {
  checkConnectionPool(f.get("connectionPool"));
  checkLoadBalancer(f.get("loadBalancer"));
  checkOutlierDetection(f.get("outlierDetection"));
  return !f.get("connectionPool").isNull() || !f.get("loadBalancer").isNull() ||
         !f.get("outlierDetection").isNull();
}

// validation.go validateTrafficPolicy / validatePortTrafficPolicies.
TrafficPolicy trafficPolicyFrom(const Field& policy, Checker& check) {
  policy.allowOnly({"connectionPool", "loadBalancer", "outlierDetection", "tls",
                    "portLevelSettings", "tunnel", "proxyProtocol", "retryBudget"});
  TrafficPolicy out;
  if (policy.entries().empty()) check.error(policy, "traffic policy must have at least one field");
  checkCommonTrafficFields(policy);
  const Field tunnel = policy.get("tunnel");
  tunnel.allowOnly({"protocol", "targetHost", "targetPort"});
  const Field proxy_protocol = policy.get("proxyProtocol");
  proxy_protocol.allowOnly({"version"});
  policy.get("retryBudget").allowOnly({"budgetInterval", "minRetryConcurrency", "percent"});
  if (!tunnel.isNull() && !proxy_protocol.isNull()) {
    check.error(proxy_protocol, "tunnel and proxyProtocol must not be set together");
  }
  const Field tls = policy.get("tls");
  if (!tls.isNull()) out.tls = clientTlsFrom(tls, check);

  std::map<uint32_t, int> first_line;
  for (const auto& entry : policy.get("portLevelSettings").items()) {
    entry.allowOnly({"port", "connectionPool", "loadBalancer", "outlierDetection", "tls"});
    const bool other = checkCommonTrafficFields(entry);
    const Field port = entry.get("port");
    port.allowOnly({"number"});
    std::optional<uint32_t> number;
    if (port.get("number").isNull()) {
      check.error(port.get("number"), "portTrafficPolicy must have valid port");
    } else {
      number = portNumber(port.get("number"), check);
    }
    const Field entry_tls = entry.get("tls");
    std::optional<ClientTls> port_tls;
    if (!entry_tls.isNull()) port_tls = clientTlsFrom(entry_tls, check);
    if (entry_tls.isNull() && !other) {
      check.error(entry, "port traffic policy must have at least one field");
    }
    if (!number) continue;
    if (auto [it, inserted] = first_line.emplace(*number, port.line()); !inserted) {
      // Istio picks the first entry for a port (GetPortLevelTrafficPolicy).
      check.warning(port.get("number"),
                    "port " + std::to_string(*number) + " is already set at line " +
                        std::to_string(it->second) + "; Istio uses the first entry");
      continue;
    }
    out.port_level[*number] = std::move(port_tls);
  }
  return out;
}

bool isWildcardHostLabel(std::string_view label) {
  if (label == "*") return true;
  if (label.starts_with("*-")) {
    label.remove_prefix(2);
  } else if (label.starts_with('*')) {
    label.remove_prefix(1);
  }
  return isLabelPart(label, false) && label.find('_') == std::string_view::npos &&
         label.find('.') == std::string_view::npos;
}

// agent.ValidateWildcardDomain: DNS labels, a wildcard only in the first one.
void checkHost(const Field& f, const std::string& host, Checker& check) {
  if (host.size() > 255) {
    check.error(f, "domain name " + inQuotes(host) + " too long (max 255)");
    return;
  }
  size_t start = 0;
  bool first = true;
  while (true) {
    const size_t dot = host.find('.', start);
    const std::string_view label = std::string_view(host).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool ok = first
                        ? isWildcardHostLabel(label)
                        : isLabelPart(label, false) && label.find('_') == std::string_view::npos &&
                              label.find('.') == std::string_view::npos;
    if (!ok) {
      check.error(
          f, "domain name " + inQuotes(host) + " invalid (label " + inQuotes(label) + " invalid)");
      return;
    }
    if (dot == std::string::npos) return;
    start = dot + 1;
    first = false;
  }
}

// validation.go validateExportTo (for a DestinationRule) with visibility.Instance.Validate.
void checkExportTo(const Field& export_to, const std::string& ns, bool has_selector,
                   Checker& check) {
  const auto items = export_to.items();
  std::set<std::string> seen;
  for (const auto& item : items) {
    if (item.isNull()) {
      check.error(item,
                  "exportTo ~ (none) is not allowed for Istio configuration objects (and an "
                  "unquoted ~ is YAML null)");
      continue;
    }
    const std::string e = item.string();
    const std::string key = e == "." ? ns : e;
    if (seen.count(key)) {
      check.error(item, key != e ? "duplicate entries in exportTo: . and current namespace " + ns
                                 : "duplicate entries in exportTo for entry " + e);
      continue;
    }
    if (e == "~") {
      check.error(item, "exportTo ~ (none) is not allowed for Istio configuration objects");
    } else if (e != "." && e != "*" && !isDns1123Label(e)) {
      check.error(item, "only ., *, or a valid DNS 1123 label is allowed as exportTo entry");
    } else {
      seen.insert(key);
    }
  }
  if (has_selector && !seen.empty()) {
    if (!seen.count(ns)) {
      check.error(export_to,
                  "destination rule with workload selector cannot have exportTo beyond current "
                  "namespace");
    } else if (seen.size() > 1) {
      check.error(export_to,
                  "destination rule with workload selector cannot have multiple entries in "
                  "exportTo");
    }
  }
  if (seen.count("*") && items.size() > 1) {
    check.error(export_to,
                "cannot have both public (*) and non-public exportTo values for a resource");
  }
}

DestinationRule destinationRuleFrom(const Manifest& m, Checker& check) {
  checkApiVersion(
      m, {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"});
  const Field root = m.root();
  allowTopLevel(root);
  DestinationRule out;
  out.meta = metaOf(m);
  const Field spec = root.require("spec");
  spec.allowOnly({"host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"});
  const Field host = spec.require("host");
  out.host = host.nonEmptyString();
  checkHost(host, out.host, check);
  const Field policy = spec.get("trafficPolicy");
  if (!policy.isNull()) out.traffic_policy = trafficPolicyFrom(policy, check);

  std::map<std::string, int> subset_lines;
  for (const auto& item : spec.get("subsets").items()) {
    item.allowOnly({"name", "labels", "trafficPolicy"});
    Subset subset;
    const Field name = item.require("name");
    subset.name = name.nonEmptyString();
    if (!isDns1123Label(subset.name)) {
      check.error(name, "subset name is invalid: " + subset.name +
                            " (a DNS-1123 label: lowercase letters, digits and '-')");
    }
    if (auto [it, inserted] = subset_lines.emplace(subset.name, name.line()); !inserted) {
      check.error(name, "duplicate subset names: " + subset.name + " (also at line " +
                            std::to_string(it->second) + ")");
    }
    subset.labels = checkedLabels(item.get("labels"), check);
    const Field subset_policy = item.get("trafficPolicy");
    if (!subset_policy.isNull()) subset.traffic_policy = trafficPolicyFrom(subset_policy, check);
    out.subsets.push_back(std::move(subset));
  }

  out.workload_selector = workloadSelector(spec.get("workloadSelector"), check);
  const Field export_to = spec.get("exportTo");
  if (!export_to.isNull() && !export_to.isList()) {
    export_to.fail("expected a list of strings, got " + export_to.describe());
  }
  for (const auto& item : export_to.items()) out.export_to.push_back(item.string());
  checkExportTo(export_to, out.meta.namespace_name, out.workload_selector.has_value(), check);
  return out;
}

// --- AuthorizationPolicy ---------------------------------------------------------------------

constexpr std::array<std::pair<std::string_view, AuthzAction>, 4> kAuthzActions = {{
    {"ALLOW", AuthzAction::kAllow},
    {"DENY", AuthzAction::kDeny},
    {"AUDIT", AuthzAction::kAudit},
    {"CUSTOM", AuthzAction::kCustom},
}};

// serviceAccounts ("ns/sa", or "sa" in the policy's namespace) as the principal patterns they
// match: any trust domain, that namespace and service account (Istio's serviceAccounts matcher).
void addServiceAccounts(const Field& f, const std::string& policy_ns,
                        std::vector<std::string>& principals, Checker& check) {
  const auto names = stringList(f, check, false);
  if (names.size() > 16)
    check.error(f, "at most 16 service accounts, got " + std::to_string(names.size()));
  const auto items = f.items();
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& sa = names[i];
    if (sa.empty()) continue;
    if (sa.find('*') != std::string::npos) {
      check.error(items[i], "wildcards are not allowed in service accounts, got " + inQuotes(sa));
      continue;
    }
    const auto slash = sa.find('/');
    if (slash != std::string::npos &&
        (slash == 0 || slash + 1 == sa.size() || sa.find('/', slash + 1) != std::string::npos)) {
      check.error(items[i],
                  "service account must be \"NAMESPACE/NAME\" or \"NAME\", got " + inQuotes(sa));
      continue;
    }
    principals.push_back(slash == std::string::npos
                             ? "*/ns/" + policy_ns + "/sa/" + sa
                             : "*/ns/" + sa.substr(0, slash) + "/sa/" + sa.substr(slash + 1));
  }
}

constexpr std::string_view kCidrShape =
    "an IPv4 or IPv6 network such as 10.0.0.0/8 or fd00::/8, or one address";

// One CIDR written as a string; an error (and nullopt) when invalid.
std::optional<IpNetwork> cidrField(const Field& at, Checker& check) {
  const std::string text = at.nonEmptyString();
  auto parsed = IpNetwork::parse(text);
  if (!parsed) check.error(at, "invalid CIDR " + inQuotes(text) + ": " + std::string(kCidrShape));
  return parsed;
}

// A list of CIDRs (ipBlocks and the like); invalid entries are errors and left out.
std::vector<IpNetwork> cidrList(const Field& f, Checker& check) {
  std::vector<IpNetwork> out;
  if (!f.isNull() && !f.isList()) f.fail("expected a list of strings, got " + f.describe());
  for (const auto& item : f.items()) {
    if (auto net = cidrField(item, check)) out.push_back(std::move(*net));
  }
  return out;
}

AuthzSource sourceFrom(const Field& source, const std::string& policy_ns, Checker& check) {
  source.allowOnly({"principals", "notPrincipals", "namespaces", "notNamespaces", "serviceAccounts",
                    "notServiceAccounts", "ipBlocks", "notIpBlocks", "remoteIpBlocks",
                    "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals",
                    "trustDomains", "notTrustDomains"});
  AuthzSource out;
  out.principals = stringList(source.get("principals"), check, false);
  out.not_principals = stringList(source.get("notPrincipals"), check, false);
  out.namespaces = stringList(source.get("namespaces"), check, false);
  out.not_namespaces = stringList(source.get("notNamespaces"), check, false);
  for (const auto* list : {&out.principals, &out.not_principals}) {
    for (const auto& principal : *list) {
      if (principal.starts_with("spiffe://")) {
        check.warning(source, "principal \"" + principal + "\" starts with spiffe://: Istio "
                      "writes principals without it (cluster.local/ns/NS/sa/SA), so it never "
                      "matches");
      }
    }
  }
  const Field sas = source.get("serviceAccounts");
  const Field not_sas = source.get("notServiceAccounts");
  if ((!sas.isNull() || !not_sas.isNull()) &&
      (!out.principals.empty() || !out.not_principals.empty() || !out.namespaces.empty() ||
       !out.not_namespaces.empty())) {
    check.error(source, "cannot set serviceAccounts with namespaces or principals");
  }
  addServiceAccounts(sas, policy_ns, out.principals, check);
  addServiceAccounts(not_sas, policy_ns, out.not_principals, check);
  out.trust_domains = stringList(source.get("trustDomains"), check, false);
  out.not_trust_domains = stringList(source.get("notTrustDomains"), check, false);
  out.ip_blocks = cidrList(source.get("ipBlocks"), check);
  out.not_ip_blocks = cidrList(source.get("notIpBlocks"), check);
  out.remote_ip_blocks = cidrList(source.get("remoteIpBlocks"), check);
  out.not_remote_ip_blocks = cidrList(source.get("notRemoteIpBlocks"), check);
  for (const char* jwt : {"requestPrincipals", "notRequestPrincipals"}) {
    if (!stringList(source.get(jwt), check, false).empty()) out.http_only = true;
  }
  if (source.entries().empty()) check.error(source, "`from.source` must not be empty");
  return out;
}

// security.ValidatePorts: decimal numbers up to 65535.
std::vector<std::string> authzPorts(const Field& f, Checker& check) {
  auto ports = stringList(f, check, false);
  const auto items = f.items();
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string& p = ports[i];
    uint32_t value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (!p.empty() && (ec != std::errc() || end != p.data() + p.size() || value > 65535)) {
      check.error(items[i], "invalid port " + inQuotes(p) + ": must be a number up to 65535");
    }
  }
  return ports;
}

AuthzOperation operationFrom(const Field& op, Checker& check) {
  op.allowOnly(
      {"hosts", "notHosts", "methods", "notMethods", "paths", "notPaths", "ports", "notPorts"});
  AuthzOperation out;
  out.ports = authzPorts(op.get("ports"), check);
  out.not_ports = authzPorts(op.get("notPorts"), check);
  for (const char* http : {"hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"}) {
    if (!stringList(op.get(http), check, false).empty()) out.http_only = true;
  }
  if (op.entries().empty()) check.error(op, "`to.operation` must not be empty");
  return out;
}

AuthzRule ruleFrom(const Field& rule, const std::string& policy_ns, Checker& check) {
  rule.allowOnly({"from", "to", "when"});
  AuthzRule out;
  const Field from = rule.get("from");
  if (from.isList() && from.items().empty()) check.error(from, "`from` must not be empty");
  for (const auto& item : from.items()) {
    item.allowOnly({"source"});
    const Field source = item.get("source");
    if (source.isNull()) {
      check.error(source, "`from.source` must not be nil");
      continue;
    }
    out.from.push_back(sourceFrom(source, policy_ns, check));
  }
  const Field to = rule.get("to");
  if (to.isList() && to.items().empty()) check.error(to, "`to` must not be empty");
  for (const auto& item : to.items()) {
    item.allowOnly({"operation"});
    const Field op = item.get("operation");
    if (op.isNull()) {
      check.error(op, "`to.operation` must not be nil");
      continue;
    }
    out.to.push_back(operationFrom(op, check));
  }
  for (const auto& condition : rule.get("when").items()) {
    condition.allowOnly({"key", "values", "notValues"});
    const Field key = condition.require("key");
    AuthzCondition c;
    c.key = key.nonEmptyString();
    c.values = stringList(condition.get("values"), check, true);
    c.not_values = stringList(condition.get("notValues"), check, true);
    if (c.values.empty() && c.not_values.empty()) {
      check.error(condition, "at least one of `values` or `notValues` must be set for key " + c.key);
    }
    if (c.key == "source.ip" || c.key == "remote.ip" || c.key == "destination.ip") {
      for (const char* list : {"values", "notValues"}) {
        for (const auto& item : condition.get(list).items()) (void)cidrField(item, check);
      }
    }
    out.when.push_back(std::move(c));
  }
  return out;
}

AuthorizationPolicy authorizationPolicyFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"security.istio.io/v1", "security.istio.io/v1beta1"});
  const Field root = m.root();
  allowTopLevel(root);
  AuthorizationPolicy out;
  out.meta = metaOf(m);
  const Field spec = root.get("spec");
  spec.allowOnly({"selector", "targetRef", "targetRefs", "action", "provider", "rules"});
  out.selector = workloadSelector(spec.get("selector"), check);
  for (const char* target : {"targetRef", "targetRefs"}) {
    const Field f = spec.get(target);
    if (!f.isNull()) {
      check.error(f,
                  "not supported by mutual (a targetRef binds the policy to a gateway or "
                  "waypoint; mutual models sidecars, which Istio selects with `selector`)");
    }
  }
  const Field action = spec.get("action");
  if (!action.isNull()) out.action = enumValue(action, kAuthzActions, check).value_or(out.action);
  const Field provider = spec.get("provider");
  provider.allowOnly({"name"});
  const std::string provider_name = provider.get("name").string();
  out.provider = provider_name;

  const Field rules = spec.get("rules");
  for (const auto& rule : rules.items())
    out.rules.push_back(ruleFrom(rule, out.meta.namespace_name, check));

  // validation.go ValidateAuthorizationPolicy.
  const bool no_rules = rules.isNull();
  if (out.action == AuthzAction::kDeny && no_rules) {
    check.error(rules,
                "DENY action without `rules` is meaningless as it will never be triggered, add an "
                "empty rule `{}` if you want it be triggered for every request");
  }
  if (out.action == AuthzAction::kCustom) {
    if (no_rules) {
      check.error(rules,
                  "CUSTOM action without `rules` is meaningless as it will never be triggered, "
                  "add an empty rule `{}` if you want it be triggered for every request");
    } else if (provider_name.empty()) {
      check.error(provider.get("name"), "`provider.name` must not be empty");
    }
  } else if (!provider.isNull()) {
    check.error(provider, "`provider` must not be with non CUSTOM action, found " +
                              std::string(kAuthzActions[static_cast<size_t>(out.action)].first));
  }
  return out;
}

// --- Linkerd Server --------------------------------------------------------------------------

bool isIanaServiceName(std::string_view s) {
  if (s.empty() || s.size() > 15) return false;
  if (s.front() == '-' || s.back() == '-' || s.find("--") != std::string_view::npos) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
  }
  return letter;
}

LinkerdServer linkerdServerFrom(const Manifest& m, Checker& check) {
  checkApiVersion(
      m, {"policy.linkerd.io/v1beta1", "policy.linkerd.io/v1beta2", "policy.linkerd.io/v1beta3"});
  const Field root = m.root();
  allowTopLevel(root);
  LinkerdServer out;
  out.meta = metaOf(m);
  out.labels = m.metadata.labels;
  const Field spec = root.require("spec");
  spec.allowOnly(
      {"podSelector", "externalWorkloadSelector", "port", "proxyProtocol", "accessPolicy"});
  const Field external = spec.get("externalWorkloadSelector");
  if (!external.isNull()) {
    check.error(external, "not supported by mutual (it models pods, not external workloads)");
  }
  const Field selector = spec.require("podSelector");
  selector.allowOnly({"matchLabels", "matchExpressions"});
  if (!selector.get("matchExpressions").isNull()) {
    check.error(selector.get("matchExpressions"),
                "not supported by mutual; select pods with matchLabels");
  }
  out.pod_selector = selector.get("matchLabels").stringMap();
  const Field port = spec.require("port");
  uint32_t number = 0;
  intOrStringPort(port, number, out.port_name, check);
  if (number != 0) out.port = number;
  if (!out.port_name.empty() && !isIanaServiceName(out.port_name)) {
    check.error(port, "invalid port name " + inQuotes(out.port_name) +
                          ": at most 15 lowercase letters, digits and '-', with a letter");
  }
  const Field protocol = spec.get("proxyProtocol");
  static constexpr std::array<std::pair<std::string_view, int>, 6> kProtocols = {
      {{"unknown", 0}, {"HTTP/1", 1}, {"HTTP/2", 2}, {"gRPC", 3}, {"opaque", 4}, {"TLS", 5}}};
  out.proxy_protocol = "unknown";
  if (!protocol.isNull()) {
    if (auto p = enumValue(protocol, kProtocols, check)) {
      out.proxy_protocol = std::string(kProtocols[static_cast<size_t>(*p)].first);
    }
  }
  // Server.accessPolicy: decides for the clients no authorization admits; "deny" by default.
  // Only v1beta3 has the field: the API server drops it from older versions, so it is ignored
  // there (with a warning) as the cluster would ignore it.
  const Field access = spec.get("accessPolicy");
  if (!access.isNull()) {
    const auto policy = enumValue(access, kLinkerdDefaultPolicies, check);
    if (m.api_version != "policy.linkerd.io/v1beta3") {
      check.warning(access,
                    "accessPolicy exists only in policy.linkerd.io/v1beta3; the API "
                    "server drops it from " +
                        m.api_version + ", so the Server denies what no authorization admits");
    } else if (policy) {
      out.access_policy = *policy;
    }
  }
  return out;
}

// --- Linkerd authorization -------------------------------------------------------------------
// policy.linkerd.io ServerAuthorization, AuthorizationPolicy, MeshTLSAuthentication and
// NetworkAuthentication: the CRD schemas (charts/linkerd-crds/templates/policy/) and the
// rules of Linkerd's admission webhook (policy-controller/src/admission.rs) and index.

constexpr std::string_view kCoreGroup = "core";
constexpr std::string_view kGatewayGroup = "gateway.networking.k8s.io";

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct GroupKind {
  std::string_view group;  // "core" for the core API group
  std::string_view kind;
};

// The entry of `known` a reference (group, kind) names, as Linkerd's `targets_kind` compares
// them: case-insensitive, an absent or empty group is the core group. nullopt (and an error)
// for anything else.
template <size_t N>
std::optional<size_t> referencedKind(const Field& ref, const std::array<GroupKind, N>& known,
                                     std::string_view what, Checker& check) {
  const Field group_field = ref.get("group");
  std::string group = group_field.string();
  if (group.empty()) group = std::string(kCoreGroup);
  const Field kind_field = ref.require("kind");
  const std::string kind = kind_field.nonEmptyString();
  std::string allowed;
  for (size_t i = 0; i < N; ++i) {
    allowed += (i == 0 ? "" : ", ") + std::string(known[i].kind) + " (" +
               std::string(known[i].group) + ")";
  }
  bool kind_known = false;
  for (size_t i = 0; i < N; ++i) {
    if (!equalsIgnoreCase(kind, known[i].kind)) continue;
    kind_known = true;
    if (equalsIgnoreCase(group, known[i].group)) return i;
  }
  if (kind_known) {
    check.error(group_field.isNull() ? ref : group_field,
                "group " + inQuotes(group) + " has no kind " + inQuotes(kind) + "; allowed: " +
                    allowed + (group_field.isNull() ? " (an absent group is the core group)" : ""));
  } else {
    check.error(kind_field, "unsupported " + std::string(what) + " kind " + inQuotes(kind) +
                                "; allowed: " + allowed);
  }
  return std::nullopt;
}

// A name that must be a DNS-1123 label (the CRDs' pattern for names and namespaces).
std::string labelName(const Field& f, Checker& check) {
  std::string name = f.nonEmptyString();
  if (!isDns1123Label(name)) {
    check.error(f, "invalid name " + inQuotes(name) +
                       " (a DNS-1123 label: lowercase letters, digits and '-')");
  }
  return name;
}

// networks[]: {cidr, except[]}; Linkerd's admission refuses an exception outside its network
// and one that negates it entirely.
std::vector<LinkerdNetwork> linkerdNetworks(const Field& f, Checker& check) {
  std::vector<LinkerdNetwork> out;
  const auto network = [&](const Field& at) { return cidrField(at, check); };
  for (const auto& item : f.items()) {
    item.allowOnly({"cidr", "except"});
    auto cidr = network(item.require("cidr"));
    LinkerdNetwork net;
    if (cidr) net.cidr = *cidr;
    for (const auto& e : item.get("except").items()) {
      auto except = network(e);
      if (!except || !cidr) continue;
      if (except->contains(*cidr)) {
        check.error(e, "cidr " + inQuotes(cidr->text) + " is completely negated by exception " +
                           inQuotes(except->text));
      } else if (!cidr->contains(*except)) {
        check.error(e, "cidr " + inQuotes(cidr->text) + " does not include exception " +
                           inQuotes(except->text));
      }
      net.except.push_back(std::move(*except));
    }
    out.push_back(std::move(net));
  }
  return out;
}

bool isIdentityLabel(std::string_view s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::vector<std::string_view> splitLabels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

std::string joinLabels(const std::vector<std::string_view>& labels, size_t from) {
  std::string out;
  for (size_t i = from; i < labels.size(); ++i) {
    out += (i == from ? "" : ".") + std::string(labels[i]);
  }
  return out;
}

// One meshTLS / MeshTLSAuthentication identity: "*", a SPIFFE ID (which mutual also accepts), or
// a name of the CRD's pattern, mapped onto SPIFFE IDs where it has Linkerd's service account
// shape "<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>" (or a "*." prefix
// of it). Other names are valid Linkerd but name nothing mutual issues: a warning.
LinkerdIdentity linkerdIdentity(const Field& f, Checker& check) {
  LinkerdIdentity out;
  out.text = f.nonEmptyString();
  const std::string& text = out.text;
  if (text == "*") {
    out.kind = LinkerdIdentity::Kind::kAny;
    return out;
  }
  if (text.starts_with("spiffe://")) {
    auto id = spiffe::SpiffeId::parse(text);
    if (!id) {
      check.error(f, id.error().message);  // names the ID
      return out;
    }
    out.trust_domain = id->trustDomain().name();
    const auto parts = [&] {
      std::vector<std::string_view> segments;
      std::string_view path = id->path();
      while (!path.empty()) {
        path.remove_prefix(1);  // '/'
        const size_t slash = path.find('/');
        segments.push_back(path.substr(0, slash));
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
      }
      return segments;
    }();
    if (parts.size() == 4 && parts[0] == "ns" && parts[2] == "sa") {
      out.kind = LinkerdIdentity::Kind::kServiceAccount;
      out.namespace_name = std::string(parts[1]);
      out.service_account = std::string(parts[3]);
    } else {
      out.kind = LinkerdIdentity::Kind::kSpiffeId;
    }
    return out;
  }
  const auto labels = splitLabels(text);
  bool valid = true;
  for (size_t i = 0; i < labels.size(); ++i) {
    valid = valid && ((i == 0 && labels[i] == "*") || isIdentityLabel(labels[i]));
  }
  if (!valid) {
    check.error(f, "invalid identity " + inQuotes(text) +
                       ": \"*\", a SPIFFE ID, or DNS labels (lowercase letters, digits and '-') "
                       "separated by '.', the first of which may be \"*\"");
    return out;
  }
  const bool wildcard = labels[0] == "*";
  if (wildcard && labels.size() >= 6 && labels[2] == "serviceaccount" && labels[3] == "identity") {
    out.kind = LinkerdIdentity::Kind::kNamespace;  // *.<ns>.serviceaccount.identity.<cp>.<td>
    out.namespace_name = std::string(labels[1]);
    out.trust_domain = joinLabels(labels, 5);
  } else if (wildcard && labels.size() >= 5 && labels[1] == "serviceaccount" &&
             labels[2] == "identity") {
    out.kind = LinkerdIdentity::Kind::kTrustDomain;  // *.serviceaccount.identity.<cp>.<td>
    out.trust_domain = joinLabels(labels, 4);
  } else if (!wildcard && labels.size() >= 6 && labels[2] == "serviceaccount" &&
             labels[3] == "identity") {
    out.kind = LinkerdIdentity::Kind::kServiceAccount;  // <sa>.<ns>.serviceaccount.identity...
    out.service_account = std::string(labels[0]);
    out.namespace_name = std::string(labels[1]);
    out.trust_domain = joinLabels(labels, 5);
  } else {
    check.warning(f, "identity " + inQuotes(text) +
                         " is not a Linkerd service account identity "
                         "(<sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>, "
                         "or \"*.\" and a suffix of one from <ns> or serviceaccount on) nor a "
                         "SPIFFE ID: mutual cannot map it to SPIFFE IDs, so it admits no client");
  }
  return out;
}

std::vector<LinkerdIdentity> linkerdIdentities(const Field& f, Checker& check) {
  if (!f.isNull() && !f.isList()) f.fail("expected a list of strings, got " + f.describe());
  std::vector<LinkerdIdentity> out;
  for (const auto& item : f.items()) out.push_back(linkerdIdentity(item, check));
  return out;
}

LinkerdIdentity serviceAccountIdentity(std::string ns, std::string sa) {
  LinkerdIdentity out;
  out.kind = LinkerdIdentity::Kind::kServiceAccount;
  out.namespace_name = std::move(ns);
  out.service_account = std::move(sa);
  return out;
}

LinkerdServerAuthorization serverAuthorizationFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"policy.linkerd.io/v1beta1", "policy.linkerd.io/v1alpha1"});
  const Field root = m.root();
  allowTopLevel(root);
  if (m.api_version == "policy.linkerd.io/v1alpha1") {
    check.warning(root.get("apiVersion"),
                  "policy.linkerd.io/v1alpha1 ServerAuthorization is deprecated; use "
                  "policy.linkerd.io/v1beta1 ServerAuthorization");
  }
  LinkerdServerAuthorization out;
  out.meta = metaOf(m);
  const Field spec = root.require("spec");
  spec.allowOnly({"server", "client"});

  const Field server = spec.require("server");
  server.allowOnly({"name", "selector"});
  const Field name = server.get("name");
  const Field selector = server.get("selector");
  if (!name.isNull() && !selector.isNull()) {
    check.error(server, "only one of `name` or `selector` may be specified");
  } else if (name.isNull() && selector.isNull()) {
    check.error(server, "one of `name` or `selector` is required");
  }
  if (!name.isNull()) out.server_name = labelName(name, check);
  if (!selector.isNull()) {
    selector.allowOnly({"matchLabels", "matchExpressions"});
    if (!selector.get("matchExpressions").isNull()) {
      check.error(selector.get("matchExpressions"),
                  "not supported by mutual; select Servers with matchLabels");
    }
    out.server_selector = selector.get("matchLabels").stringMap();
  }

  // Linkerd's index (server_authorization.rs client_authz) and admission webhook.
  const Field client = spec.require("client");
  client.allowOnly({"networks", "unauthenticated", "meshTLS"});
  out.networks = linkerdNetworks(client.get("networks"), check);
  const Field unauthenticated = client.get("unauthenticated");
  if (!unauthenticated.isNull()) out.unauthenticated = unauthenticated.boolean();
  const Field mesh_tls = client.get("meshTLS");
  if (!mesh_tls.isNull()) {
    mesh_tls.allowOnly({"unauthenticatedTLS", "identities", "serviceAccounts"});
    if (out.unauthenticated) {
      check.error(unauthenticated, "`unauthenticated` must be false if `meshTLS` is specified");
    }
    const Field tls = mesh_tls.get("unauthenticatedTLS");
    if (!tls.isNull()) out.unauthenticated_tls = tls.boolean();
    out.identities = linkerdIdentities(mesh_tls.get("identities"), check);
    for (const auto& sa : mesh_tls.get("serviceAccounts").items()) {
      sa.allowOnly({"name", "namespace"});
      std::string sa_name = labelName(sa.require("name"), check);
      const Field ns = sa.get("namespace");
      std::string sa_ns = ns.isNull() ? out.meta.namespace_name : labelName(ns, check);
      out.identities.push_back(serviceAccountIdentity(std::move(sa_ns), std::move(sa_name)));
    }
    if (out.unauthenticated_tls && !out.identities.empty()) {
      check.error(tls,
                  "`unauthenticatedTLS` must be false if any `identities` or `serviceAccounts` "
                  "is specified");
    } else if (!out.unauthenticated_tls && out.identities.empty()) {
      check.error(mesh_tls,
                  "authorizes no clients: set `identities`, `serviceAccounts` or "
                  "`unauthenticatedTLS: true`");
    }
  } else if (!out.unauthenticated) {
    check.error(client,
                "no client authentication configured: set `meshTLS` or `unauthenticated: true`");
  }
  return out;
}

LinkerdAuthorizationPolicy linkerdAuthorizationPolicyFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"policy.linkerd.io/v1alpha1"});
  const Field root = m.root();
  allowTopLevel(root);
  LinkerdAuthorizationPolicy out;
  out.meta = metaOf(m);
  const Field spec = root.require("spec");
  spec.allowOnly({"targetRef", "requiredAuthenticationRefs"});

  // admission.rs validate_policy_target; authorization_policy.rs target.
  static constexpr std::array<GroupKind, 5> kTargets = {{
      {kLinkerdPolicy, "Server"},
      {kCoreGroup, "Namespace"},
      {kLinkerdPolicy, "HTTPRoute"},
      {kGatewayGroup, "HTTPRoute"},
      {kGatewayGroup, "GRPCRoute"},
  }};
  static constexpr std::array<LinkerdTargetKind, 5> kTargetKinds = {
      LinkerdTargetKind::kServer, LinkerdTargetKind::kNamespace, LinkerdTargetKind::kHttpRoute,
      LinkerdTargetKind::kHttpRoute, LinkerdTargetKind::kGrpcRoute};
  const Field target = spec.require("targetRef");
  target.allowOnly({"group", "kind", "name"});
  const Field target_name = target.require("name");
  out.target_name = target_name.nonEmptyString();
  if (auto kind = referencedKind(target, kTargets, "targetRef", check)) {
    out.target_kind = kTargetKinds[*kind];
    if (out.target_kind == LinkerdTargetKind::kNamespace &&
        out.target_name != out.meta.namespace_name) {
      check.error(target_name, "cannot target another namespace: " + out.target_name +
                                   " (the policy is in " + out.meta.namespace_name + ")");
    } else if (out.target_kind == LinkerdTargetKind::kHttpRoute ||
               out.target_kind == LinkerdTargetKind::kGrpcRoute) {
      check.warning(target.get("kind"),
                    "route targets are not evaluated: mutual authorizes connections (L4), not "
                    "HTTP or gRPC requests, so this policy admits no connection");
    }
  }

  // admission.rs: at most one of each kind, MeshTLSAuthentication and ServiceAccount not
  // together; an unknown kind is an error.
  static constexpr std::array<GroupKind, 3> kAuthentications = {{
      {kLinkerdPolicy, "MeshTLSAuthentication"},
      {kLinkerdPolicy, "NetworkAuthentication"},
      {kCoreGroup, "ServiceAccount"},
  }};
  static constexpr std::array<LinkerdAuthenticationKind, 3> kAuthenticationKinds = {
      LinkerdAuthenticationKind::kMeshTls, LinkerdAuthenticationKind::kNetwork,
      LinkerdAuthenticationKind::kServiceAccount};
  const Field refs = spec.require("requiredAuthenticationRefs");
  if (!refs.isList()) refs.fail("expected a list, got " + refs.describe());
  std::array<int, 3> count{};
  for (const auto& ref : refs.items()) {
    ref.allowOnly({"group", "kind", "name", "namespace"});
    LinkerdAuthenticationRef r;
    r.name = labelName(ref.require("name"), check);
    const Field ns = ref.get("namespace");
    r.namespace_name = ns.isNull() ? out.meta.namespace_name : labelName(ns, check);
    const auto kind = referencedKind(ref, kAuthentications, "authentication", check);
    if (!kind) continue;
    r.kind = kAuthenticationKinds[*kind];
    const size_t k = *kind;
    if (++count[k] > 1) {
      check.error(ref, "only a single " + std::string(kAuthentications[k].kind) + " may be set");
    } else if ((k == 0 && count[2] > 0) || (k == 2 && count[0] > 0)) {
      check.error(ref, "a MeshTLSAuthentication and ServiceAccount may not be set together");
    }
    out.required_authentication_refs.push_back(std::move(r));
  }
  return out;
}

MeshTlsAuthentication meshTlsAuthenticationFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"policy.linkerd.io/v1alpha1"});
  const Field root = m.root();
  allowTopLevel(root);
  MeshTlsAuthentication out;
  out.meta = metaOf(m);
  const Field spec = root.require("spec");
  spec.allowOnly({"identities", "identityRefs"});
  const Field identities = spec.get("identities");
  const Field refs = spec.get("identityRefs");
  if (!identities.isNull() && !refs.isNull()) {
    check.error(spec, "only one of `identities` or `identityRefs` may be specified");
  } else if (identities.isNull() && refs.isNull()) {
    check.error(spec, "one of `identities` or `identityRefs` is required");
  }
  out.identities = linkerdIdentities(identities, check);
  // admission.rs validate_identity_ref; meshtls_authentication.rs.
  static constexpr std::array<GroupKind, 2> kRefs = {{
      {kCoreGroup, "ServiceAccount"},
      {kCoreGroup, "Namespace"},
  }};
  for (const auto& ref : refs.items()) {
    ref.allowOnly({"group", "kind", "name", "namespace"});
    const auto kind = referencedKind(ref, kRefs, "identityRefs", check);
    const std::string name = labelName(ref.require("name"), check);
    const Field ns = ref.get("namespace");
    if (!kind) continue;
    if (*kind == 0) {
      out.identities.push_back(serviceAccountIdentity(
          ns.isNull() ? out.meta.namespace_name : labelName(ns, check), name));
    } else {
      if (!ns.isNull()) {
        check.error(ns, "Namespace identity_ref is cluster-scoped and cannot have a namespace");
      }
      LinkerdIdentity id;
      id.kind = LinkerdIdentity::Kind::kNamespace;
      id.namespace_name = name;
      out.identities.push_back(std::move(id));
    }
  }
  if ((!identities.isNull() || !refs.isNull()) && out.identities.empty()) {
    check.error(identities.isNull() ? refs : identities, "no identities configured");
  }
  return out;
}

NetworkAuthentication networkAuthenticationFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"policy.linkerd.io/v1alpha1"});
  const Field root = m.root();
  allowTopLevel(root);
  NetworkAuthentication out;
  out.meta = metaOf(m);
  const Field spec = root.require("spec");
  spec.allowOnly({"networks"});
  const Field networks = spec.require("networks");
  out.networks = linkerdNetworks(networks, check);
  if (out.networks.empty()) check.error(networks, "at least one network must be specified");
  return out;
}

// --- Inventory: Service, workloads -----------------------------------------------------------
// Lenient about fields (real `kubectl get -o yaml` output has many): only what mutual needs is
// read, and what is read is type-checked.

// The protocol a port name declares by Istio's convention (`<protocol>[-<suffix>]`), lowercase;
// "" when the name declares none (kube/conversion.go ConvertProtocol).
std::string protocolFromName(std::string name) {
  name = asciiLower(name);
  if (name.starts_with("grpc-web")) return "grpc-web";
  name = name.substr(0, name.find('-'));
  static constexpr std::array<std::string_view, 11> kKnown = {
      "http", "http2", "https", "tcp",   "tls",       "udp",
      "grpc", "mongo", "mysql", "redis", "http_proxy"};
  return std::find(kKnown.begin(), kKnown.end(), name) != kKnown.end() ? name : "";
}

Service serviceFrom(const Manifest& m, Checker& check) {
  const Field root = m.root();
  Service out;
  out.meta = metaOf(m);
  const Field spec = root.get("spec");
  const Field selector = spec.get("selector");
  if (!selector.isNull()) {
    Labels labels = selector.stringMap();
    if (!labels.empty()) out.selector = std::move(labels);  // {}: no selector, as Kubernetes
  }
  out.external = spec.get("type").string() == "ExternalName";
  for (const auto& item : spec.get("ports").items()) {
    ServicePort port;
    port.name = item.get("name").string();
    if (auto number = portNumber(item.require("port"), check)) port.port = *number;
    const Field target = item.get("targetPort");
    if (target.isNull()) {
      port.target_port = port.port;  // Kubernetes' default
    } else {
      intOrStringPort(target, port.target_port, port.target_port_name, check);
    }
    port.app_protocol = item.get("appProtocol").string();
    if (port.app_protocol.empty()) port.app_protocol = protocolFromName(port.name);
    (void)item.get("protocol").string();
    out.ports.push_back(std::move(port));
  }
  return out;
}

// Istio's injection decision from the pod's label or annotation sidecar.istio.io/inject: only
// y, yes, true and on (any case) inject; any other non-empty value opts out; empty is the
// default (inject: mutual assumes injection is enabled for the namespace).
bool injects(const std::string& value) {
  const std::string v = asciiLower(value);
  return v.empty() || v == "y" || v == "yes" || v == "true" || v == "on";
}

// config.linkerd.io/skip-*-ports: "8080,9090", ranges "4000-4005".
std::vector<uint32_t> skipPorts(const std::string& text, const Field& where, Checker& check) {
  std::vector<uint32_t> out;
  std::vector<bool> listed(65536);  // "1-65535" is valid: no quadratic de-duplication
  const auto number = [](std::string_view s, uint32_t& value) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size() && value >= 1 &&
           value <= 65535;
  };
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view part = trimmed(std::string_view(text).substr(start, comma - start));
    start = comma + 1;
    if (part.empty()) continue;
    const size_t dash = part.find('-');
    uint32_t low = 0;
    uint32_t high = 0;
    const bool ok = dash == std::string_view::npos
                        ? number(part, low) && (high = low, true)
                        : number(part.substr(0, dash), low) &&
                              number(part.substr(dash + 1), high) && low <= high;
    if (!ok) {
      check.error(where, "invalid port or port range " + inQuotes(part) +
                             " (expected ports and ranges in 1..65535, e.g. \"8080,4000-4005\")");
      continue;
    }
    for (uint32_t p = low; p <= high; ++p) {
      if (!listed[p]) out.push_back(p);
      listed[p] = true;
    }
  }
  return out;
}

// An annotation's value and its Field (for locations), looked up in `annotations` objects in
// order; the first that has it wins.
std::optional<std::pair<std::string, Field>> annotation(std::initializer_list<Field> maps,
                                                        std::string_view key) {
  for (const auto& map : maps) {
    for (const auto& [k, v] : map.entries()) {
      if (k == key) return std::make_pair(v.string(), v);
    }
  }
  return std::nullopt;
}

Workload workloadFrom(const Manifest& m, Checker& check) {
  const Field root = m.root();
  Workload out;
  out.meta = metaOf(m);
  out.kind = m.kind;
  const Field meta = root.get("metadata");
  // Never assign a Field: YAML::Node's assignment writes into the document.
  const Field pod = m.kind == "Pod" ? root : root.require("spec").require("template");
  const Field pod_meta = pod.get("metadata");
  const Field pod_spec = pod.get("spec");
  out.labels = pod_meta.get("labels").stringMap();
  const Field pod_annotations = pod_meta.get("annotations");
  (void)pod_annotations.stringMap();
  const Field annotations = meta.get("annotations");

  // The pod label takes precedence over the annotation, as in Istio's injector.
  std::string inject;
  if (auto it = out.labels.find("sidecar.istio.io/inject"); it != out.labels.end()) {
    inject = it->second;
  } else if (auto a = annotation({pod_annotations, annotations}, "sidecar.istio.io/inject")) {
    inject = a->first;
  }
  out.sidecar = injects(inject);
  if (auto a = annotation({pod_annotations, annotations}, "config.linkerd.io/skip-inbound-ports")) {
    out.linkerd_skip_inbound_ports = skipPorts(a->first, a->second, check);
  }
  if (auto a =
          annotation({pod_annotations, annotations}, "config.linkerd.io/skip-outbound-ports")) {
    out.linkerd_skip_outbound_ports = skipPorts(a->first, a->second, check);
  }
  if (auto a = annotation({pod_annotations, annotations}, kLinkerdDefaultInboundPolicyAnnotation)) {
    out.linkerd_default_inbound_policy = enumValue(a->second, kLinkerdDefaultPolicies, check);
  }

  std::string account = pod_spec.get("serviceAccountName").string();
  if (account.empty()) account = pod_spec.get("serviceAccount").string();  // deprecated alias
  if (!account.empty()) out.service_account = std::move(account);
  for (const auto& container : pod_spec.get("containers").items()) {
    for (const auto& item : container.get("ports").items()) {
      ContainerPort port;
      port.name = item.get("name").string();
      if (auto number = portNumber(item.require("containerPort"), check)) port.port = *number;
      out.ports.push_back(std::move(port));
    }
  }
  return out;
}

// A Namespace: lenient like the rest of the inventory; only its default inbound policy is read.
Namespace namespaceFrom(const Manifest& m, Checker& check) {
  Namespace out;
  out.name = m.metadata.name;
  out.location = m.location;
  const Field annotations = m.root().get("metadata").get("annotations");
  (void)annotations.stringMap();
  if (auto a = annotation({annotations}, kLinkerdDefaultInboundPolicyAnnotation)) {
    out.linkerd_default_inbound_policy = enumValue(a->second, kLinkerdDefaultPolicies, check);
  }
  return out;
}

// --- Mesh settings ---------------------------------------------------------------------------

// What a settings document sets: the mesh settings, Linkerd's, or both.
struct SettingsDocument {
  std::optional<MeshSettings> mesh;
  std::optional<LinkerdSettings> linkerd;
};

void checkSettings(const Field& root_namespace, const Field& trust_domain,
                   const Field& domain_suffix, const MeshSettings& s, Checker& check) {
  if (!isDns1123Label(s.root_namespace)) {
    check.error(root_namespace, "invalid namespace " + inQuotes(s.root_namespace) +
                                    " (a DNS-1123 label: lowercase letters, digits and '-')");
  }
  if (auto td = spiffe::TrustDomain::parse(s.trust_domain); !td) {
    check.error(trust_domain,
                "invalid trust domain " + inQuotes(s.trust_domain) + ": " + td.error().message);
  }
  if (!isDns1123Subdomain(s.domain_suffix)) {
    check.error(domain_suffix,
                "invalid domain suffix " + inQuotes(s.domain_suffix) + " (a DNS-1123 subdomain)");
  }
}

// mutual.dev/v1alpha1 MeshSettings: strict. `linkerd` holds Linkerd's two cluster settings
// under the names of Linkerd's values, clusterNetworks as a list rather than one string.
SettingsDocument meshSettingsFrom(const Manifest& m, Checker& check) {
  checkApiVersion(m, {"mutual.dev/v1alpha1"});
  const Field root = m.root();
  allowTopLevel(root);
  const Field spec = root.get("spec");
  spec.allowOnly({"rootNamespace", "trustDomain", "autoMtls", "domainSuffix", "linkerd"});
  SettingsDocument doc;
  const Field linkerd = spec.get("linkerd");
  if (!linkerd.isNull()) {
    linkerd.allowOnly({"defaultInboundPolicy", "clusterNetworks"});
    LinkerdSettings l;
    l.location = m.location;
    const Field policy = linkerd.get("defaultInboundPolicy");
    if (!policy.isNull()) {
      l.default_inbound_policy =
          enumValue(policy, kLinkerdDefaultPolicies, check).value_or(l.default_inbound_policy);
    }
    const Field networks = linkerd.get("clusterNetworks");
    if (!networks.isNull()) {
      if (!networks.isList()) {
        networks.fail("expected a list of CIDRs such as [10.0.0.0/8, fd00::/8], got " +
                      networks.describe());
      }
      l.cluster_networks.clear();
      for (const auto& item : networks.items()) {
        if (auto net = cidrField(item, check)) l.cluster_networks.push_back(std::move(*net));
      }
      if (networks.items().empty()) check.error(networks, "at least one network is required");
    }
    doc.linkerd = std::move(l);
  }
  MeshSettings out;
  const Field root_ns = spec.get("rootNamespace");
  const Field td = spec.get("trustDomain");
  const Field suffix = spec.get("domainSuffix");
  const Field auto_mtls = spec.get("autoMtls");
  if (!root_ns.isNull()) out.root_namespace = root_ns.string();
  if (!td.isNull()) out.trust_domain = td.string();
  if (!suffix.isNull()) out.domain_suffix = suffix.string();
  if (!auto_mtls.isNull()) out.auto_mtls = auto_mtls.boolean();
  checkSettings(root_ns, td, suffix, out, check);
  doc.mesh = std::move(out);
  return doc;
}

// A YAML document held in a string field of a ConfigMap (`istio`'s data.mesh,
// `linkerd-config`'s data.values), handed to `read` as a Field with its own Checker. Lenient:
// those documents have many fields; `read` looks only at the ones it needs. Complaints inside
// the string name "<field>.<inner field>" and the line in the file when the string is a block
// scalar.
template <typename Read>
void embeddedYaml(const Field& field, std::string_view what, Checker& check, Read&& read) {
  const std::string text = field.string();
  const bool block = text.find('\n') != std::string::npos;
  const auto where = [&](int inner_line) {
    return Location{field.location().file,
                    block && inner_line > 0 ? field.line() + inner_line : field.line()};
  };
  const YAML::Node node = [&] {
    try {
      return YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw FieldError(where(e.mark.line >= 0 ? e.mark.line + 1 : 0), field.path(),
                       "invalid YAML in the " + std::string(what) + ": " + e.msg);
    }
  }();
  // Complaints are made on copies of the inner fields re-pathed and re-located into the file.
  std::vector<Finding> inner_findings;
  Checker inner(inner_findings);
  try {
    const Field config(node, field.location().file);
    if (!config.isNull() && !config.isMap()) {
      config.fail("expected an object, got " + config.describe());
    }
    read(config, inner);
  } catch (const FieldError& e) {
    inner.add(e, Location{field.location().file, 0});
  }
  for (auto& f : inner_findings) {
    const int line =
        f.location.file == field.location().file && f.location.line > 0 ? f.location.line : 0;
    check.add(f.severity, where(line), field.path() + (f.field.empty() ? "" : "." + f.field),
              f.message);
  }
}

// The `istio` ConfigMap: data.mesh is Istio's MeshConfig as a YAML string, of which
// rootNamespace, trustDomain and enableAutoMtls are read and type-checked.
SettingsDocument istioConfigMapFrom(const Manifest& m, Checker& check) {
  const Field mesh = m.root().get("data").get("mesh");
  MeshSettings out;
  if (!mesh.isNull()) {
    embeddedYaml(mesh, "mesh config", check, [&](const Field& config, Checker& inner) {
      const Field root_ns = config.get("rootNamespace");
      const Field td = config.get("trustDomain");
      const Field auto_mtls = config.get("enableAutoMtls");
      if (!root_ns.isNull()) out.root_namespace = root_ns.string();
      if (!td.isNull()) out.trust_domain = td.string();
      if (!auto_mtls.isNull()) out.auto_mtls = auto_mtls.boolean();
      checkSettings(root_ns, td, Field(YAML::Node(), ""), out, inner);
    });
  }
  return {std::move(out), std::nullopt};
}

// The `linkerd-config` ConfigMap: data.values is the control plane's Helm values as a YAML
// string, of which clusterNetworks (one comma-separated string, as Linkerd writes it) and
// proxy.defaultInboundPolicy are read and type-checked. Absent ones keep Linkerd's defaults.
SettingsDocument linkerdConfigMapFrom(const Manifest& m, Checker& check) {
  const Field values = m.root().get("data").get("values");
  LinkerdSettings out;
  out.location = m.location;
  if (!values.isNull()) {
    embeddedYaml(values, "Linkerd values", check, [&](const Field& config, Checker& inner) {
      const Field networks = config.get("clusterNetworks");
      if (!networks.isNull()) {
        const std::string text = networks.string();
        out.cluster_networks.clear();
        size_t start = 0;
        while (start <= text.size()) {
          const size_t comma = std::min(text.find(',', start), text.size());
          const std::string_view part =
              trimmed(std::string_view(text).substr(start, comma - start));
          start = comma + 1;
          if (part.empty()) continue;
          if (auto net = IpNetwork::parse(part)) {
            out.cluster_networks.push_back(std::move(*net));
          } else {
            inner.error(networks, "invalid CIDR " + inQuotes(part) + ": " +
                                      std::string(kCidrShape) +
                                      " (clusterNetworks separates them with commas)");
          }
        }
        if (out.cluster_networks.empty() && !inner.failed()) {
          inner.error(networks,
                      "no network: write comma-separated CIDRs such as "
                      "\"10.0.0.0/8,fd00::/8\"");
        }
      }
      const Field policy = config.get("proxy").get("defaultInboundPolicy");
      if (!policy.isNull()) {
        out.default_inbound_policy =
            enumValue(policy, kLinkerdDefaultPolicies, inner).value_or(out.default_inbound_policy);
      }
    });
  }
  return {std::nullopt, std::move(out)};
}

// --- kinds -----------------------------------------------------------------------------------

// Kinds of the Istio and Linkerd groups that mutual does not read: skipped. Any other kind in
// those groups is a typo or a kind that does not exist, reported as an error.
constexpr std::array<std::pair<std::string_view, std::string_view>, 21> kOtherKinds = {{
    {kIstioSecurity, "PeerAuthentication"},
    {kIstioSecurity, "AuthorizationPolicy"},
    {kIstioSecurity, "RequestAuthentication"},
    {kIstioNetworking, "DestinationRule"},
    {kIstioNetworking, "VirtualService"},
    {kIstioNetworking, "Gateway"},
    {kIstioNetworking, "ServiceEntry"},
    {kIstioNetworking, "Sidecar"},
    {kIstioNetworking, "WorkloadEntry"},
    {kIstioNetworking, "WorkloadGroup"},
    {kIstioNetworking, "EnvoyFilter"},
    {kIstioNetworking, "ProxyConfig"},
    {kLinkerdPolicy, "Server"},
    {kLinkerdPolicy, "ServerAuthorization"},
    {kLinkerdPolicy, "AuthorizationPolicy"},
    {kLinkerdPolicy, "MeshTLSAuthentication"},
    {kLinkerdPolicy, "NetworkAuthentication"},
    {kLinkerdPolicy, "HTTPRoute"},
    {kLinkerdPolicy, "GRPCRoute"},
    {kLinkerdPolicy, "EgressNetwork"},
    {kLinkerdPolicy, "HTTPLocalRateLimitPolicy"},
}};

// An error for a kind that does not exist in an Istio or Linkerd group; nothing otherwise.
void checkKindExists(const Manifest& m, std::vector<Finding>& findings) {
  const std::string group = m.group();
  if (group != kIstioSecurity && group != kIstioNetworking && group != kLinkerdPolicy) return;
  std::string names;
  std::string hint;
  size_t best = std::max<size_t>(3, m.kind.size() / 3 + 1);
  for (const auto& [g, k] : kOtherKinds) {
    if (g != group) continue;
    if (k == m.kind) return;
    names += (names.empty() ? "" : ", ") + std::string(k);
    const size_t d = editDistance(m.kind, k);
    if (d < best) {
      best = d;
      hint = " (did you mean " + inQuotes(k) + "?)";
    }
  }
  const Field kind = m.root().get("kind");
  findings.push_back(Finding{
      Severity::kError, kind.location(), "kind",
      "unknown kind " + inQuotes(m.kind) + " in " + group + hint + "; known kinds: " + names});
}

bool isWorkloadKind(const Manifest& m) {
  if (m.api_version == "v1") return m.kind == "Pod";
  if (m.api_version != "apps/v1") return false;
  return m.kind == "Deployment" || m.kind == "StatefulSet" || m.kind == "DaemonSet" ||
         m.kind == "ReplicaSet";
}

}  // namespace

std::string_view linkerdDefaultPolicyName(LinkerdDefaultPolicy policy) {
  for (const auto& [name, value] : kLinkerdDefaultPolicies) {
    if (value == policy) return name;
  }
  return "deny";
}

std::optional<LinkerdDefaultPolicy> parseLinkerdDefaultPolicy(std::string_view text) {
  for (const auto& [name, value] : kLinkerdDefaultPolicies) {
    if (name == text) return value;
  }
  return std::nullopt;
}

const std::vector<IpNetwork>& LinkerdSettings::linkerdDefaultClusterNetworks() {
  static const std::vector<IpNetwork> networks = [] {
    std::vector<IpNetwork> out;
    for (const std::string_view net :
         {"10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}) {
      out.push_back(*IpNetwork::parse(net));
    }
    return out;
  }();
  return networks;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress out;
  if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) return out;
  out.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) == 1) return out;
  return std::nullopt;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  return inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf)) ? buf : "";
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const uint32_t max = address->v6 ? 128 : 32;
  IpNetwork out;
  out.prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const char* last = digits.data() + digits.size();
    const auto [end, ec] = std::from_chars(digits.data(), last, out.prefix);
    if (digits.empty() || ec != std::errc() || end != last || out.prefix > max) {
      return std::nullopt;
    }
  }
  for (uint32_t bit = out.prefix; bit < max; ++bit) {
    address->bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  out.address = *address;
  out.text = std::string(text);
  return out;
}

bool IpNetwork::contains(const IpAddress& ip) const {
  if (ip.v6 != address.v6) return false;
  const uint32_t full = prefix / 8;
  if (!std::equal(address.bytes.begin(), address.bytes.begin() + full, ip.bytes.begin())) {
    return false;
  }
  if (prefix % 8 == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFFu << (8 - prefix % 8));
  return (ip.bytes[full] & mask) == address.bytes[full];
}

bool IpNetwork::contains(const IpNetwork& other) const {
  return other.prefix >= prefix && contains(other.address);
}

std::string Finding::str() const {
  std::string out = severity == Severity::kWarning ? "warning: " : "";
  out += location.str();
  if (!field.empty()) out += (out.empty() ? "" : ": ") + field;
  return out + (out.empty() ? "" : ": ") + message;
}

MeshConfig parseMeshManifests(const std::vector<Manifest>& manifests) {
  MeshConfig out;
  // "<kind>/<namespace>/<name>" -> where it was first defined.
  std::map<std::string, Location> seen;
  std::optional<Location> settings_at;
  std::optional<Location> linkerd_settings_at;
  std::vector<const Manifest*> peer_authn_docs;  // parallel to out.peer_authentications

  // Two objects with one kind, namespace and name: the second is reported and left out, as
  // applying both would keep only one.
  const auto claim = [&](const Manifest& m, const PolicyMeta& meta) {
    // The group too: Istio's and Linkerd's AuthorizationPolicy are different kinds.
    const std::string key = m.group() + "/" + m.kind + "/" + meta.namespace_name + "/" + meta.name;
    auto [it, inserted] = seen.emplace(key, m.location);
    if (inserted) return true;
    const Field name = m.root().get("metadata").get("name");
    const std::string ns = meta.namespace_name.empty() ? "" : meta.namespace_name + "/";
    out.findings.push_back(Finding{
        Severity::kError, name.location(), name.path(),
        m.kind + " " + ns + meta.name + " is defined twice (also at " + it->second.str() + ")"});
    return false;
  };
  // One document sets the mesh settings, one (maybe the same) Linkerd's: a second would leave
  // it unclear which applies.
  const auto settings = [&](const Manifest& m, std::optional<SettingsDocument> s) {
    if (!s) return;
    const auto twice = [&](std::string_view what, const Location& first) {
      out.findings.push_back(Finding{Severity::kError, m.location, "",
                                     std::string(what) + " are already defined at " + first.str() +
                                         "; this " + m.kind + " is ignored"});
    };
    if (s->mesh && settings_at) return twice("mesh settings", *settings_at);
    if (s->linkerd && linkerd_settings_at) return twice("Linkerd settings", *linkerd_settings_at);
    if (s->mesh) {
      settings_at = m.location;
      out.settings = std::move(s->mesh);
    }
    if (s->linkerd) {
      linkerd_settings_at = m.location;
      out.linkerd = std::move(s->linkerd);
    }
  };

  for (const auto& m : manifests) {
    const std::string group = m.group();
    if (group == kIstioSecurity && m.kind == "PeerAuthentication") {
      if (auto p = parseDocument(m, out.findings, peerAuthenticationFrom); p && claim(m, p->meta)) {
        out.peer_authentications.push_back(std::move(*p));
        peer_authn_docs.push_back(&m);
      }
    } else if (group == kIstioSecurity && m.kind == "AuthorizationPolicy") {
      if (auto p = parseDocument(m, out.findings, authorizationPolicyFrom);
          p && claim(m, p->meta)) {
        out.authorization_policies.push_back(std::move(*p));
      }
    } else if (group == kIstioNetworking && m.kind == "DestinationRule") {
      if (auto p = parseDocument(m, out.findings, destinationRuleFrom); p && claim(m, p->meta)) {
        out.destination_rules.push_back(std::move(*p));
      }
    } else if (group == kLinkerdPolicy && m.kind == "Server") {
      if (auto p = parseDocument(m, out.findings, linkerdServerFrom); p && claim(m, p->meta)) {
        out.linkerd_servers.push_back(std::move(*p));
      }
    } else if (group == kLinkerdPolicy && m.kind == "ServerAuthorization") {
      if (auto p = parseDocument(m, out.findings, serverAuthorizationFrom);
          p && claim(m, p->meta)) {
        out.linkerd_server_authorizations.push_back(std::move(*p));
      }
    } else if (group == kLinkerdPolicy && m.kind == "AuthorizationPolicy") {
      if (auto p = parseDocument(m, out.findings, linkerdAuthorizationPolicyFrom);
          p && claim(m, p->meta)) {
        out.linkerd_authorization_policies.push_back(std::move(*p));
      }
    } else if (group == kLinkerdPolicy && m.kind == "MeshTLSAuthentication") {
      if (auto p = parseDocument(m, out.findings, meshTlsAuthenticationFrom);
          p && claim(m, p->meta)) {
        out.meshtls_authentications.push_back(std::move(*p));
      }
    } else if (group == kLinkerdPolicy && m.kind == "NetworkAuthentication") {
      if (auto p = parseDocument(m, out.findings, networkAuthenticationFrom);
          p && claim(m, p->meta)) {
        out.network_authentications.push_back(std::move(*p));
      }
    } else if (m.api_version == "v1" && m.kind == "Service") {
      if (auto p = parseDocument(m, out.findings, serviceFrom); p && claim(m, p->meta)) {
        out.services.push_back(std::move(*p));
      }
    } else if (isWorkloadKind(m)) {
      if (auto p = parseDocument(m, out.findings, workloadFrom); p && claim(m, p->meta)) {
        out.workloads.push_back(std::move(*p));
      }
    } else if (m.api_version == "v1" && m.kind == "Namespace") {
      if (auto p = parseDocument(m, out.findings, namespaceFrom);
          p && claim(m, PolicyMeta{p->name, "", "", p->location})) {
        out.namespaces.push_back(std::move(*p));
      }
    } else if (m.api_version == "v1" && m.kind == "ConfigMap" && m.metadata.name == "istio") {
      settings(m, parseDocument(m, out.findings, istioConfigMapFrom));
    } else if (m.api_version == "v1" && m.kind == "ConfigMap" &&
               m.metadata.name == "linkerd-config") {
      settings(m, parseDocument(m, out.findings, linkerdConfigMapFrom));
    } else if (group == kMutualGroup && m.kind == "MeshSettings") {
      settings(m, parseDocument(m, out.findings, meshSettingsFrom));
    } else {
      checkKindExists(m, out.findings);
    }
  }

  // Classified once everything is read: the root namespace may come from a later document.
  // A workload selector in the root namespace makes Istio ignore the policy (istio-mtls.md
  // §1.3; peer_authentication.proto); it is valid, so a warning.
  const std::string root_ns =
      out.settings ? out.settings->root_namespace : std::string(kDefaultRootNamespace);
  for (size_t i = 0; i < out.peer_authentications.size(); ++i) {
    const auto& p = out.peer_authentications[i];
    if (p.meta.namespace_name != root_ns || !p.selector || p.selector->empty()) continue;
    const Field selector = peer_authn_docs[i]->root().get("spec").get("selector");
    out.findings.push_back(
        Finding{Severity::kWarning, selector.location(), selector.path(),
                "a PeerAuthentication with a workload selector in the root namespace \"" + root_ns +
                    "\" is ignored by Istio; put it in the workload's namespace"});
  }
  return out;
}

}  // namespace mutual::config
