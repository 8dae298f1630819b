#include "config/proxy_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <limits>
#include <sstream>

#include "base/encoding.h"
#include "base/file.h"
#include "config/manifest.h"

namespace mutual::config {

namespace fs = std::filesystem;

// ---- HostPort -------------------------------------------------------------------------------

namespace {

std::string inQuotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool isIpv4(const std::string& s) {
  in_addr addr{};
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool isIpv6(const std::string& s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// A DNS host name: labels of 1..63 letters, digits and '-' (not first or last), joined by dots,
// at most 253 characters. Case is not significant in DNS, so both cases are accepted.
bool isHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label = s.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Result<uint16_t> parsePort(std::string_view text, std::string_view address, bool allow_zero) {
  if (text.empty()) {
    return invalidArgument("address " + inQuotes(address) + " has no port after ':'");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.size() > 5 || value > 65535) {
    return invalidArgument("address " + inQuotes(address) + ": invalid port " + inQuotes(text) +
                           " (expected a number from 1 to 65535)");
  }
  if (value == 0 && !allow_zero) {
    return invalidArgument("address " + inQuotes(address) +
                           ": port 0 is not allowed here (expected 1 to 65535)");
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string HostPort::str() const {
  const std::string p = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
  return host + ":" + p;
}

bool HostPort::isIp() const { return isIpv4(host) || isIpv6(host); }

Result<HostPort> parseHostPort(std::string_view text, bool allow_zero_port) {
  if (text.empty()) return invalidArgument("empty address; expected host:port");
  HostPort out;
  std::string_view port;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return invalidArgument("address " + inQuotes(text) + ": missing ']' after the IPv6 address");
    }
    out.host = std::string(text.substr(1, close - 1));
    if (!isIpv6(out.host)) {
      return invalidArgument("address " + inQuotes(text) + ": " + inQuotes(out.host) +
                             " is not an IPv6 address");
    }
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return invalidArgument("address " + inQuotes(text) +
                             ": missing port (expected [address]:port, e.g. [::1]:8080)");
    }
    port = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return invalidArgument("address " + inQuotes(text) +
                             ": missing port (expected host:port, e.g. 127.0.0.1:8080)");
    }
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (out.host.empty()) {
      return invalidArgument("address " + inQuotes(text) +
                             ": missing host (use 0.0.0.0 or [::] for every interface)");
    }
    if (out.host.find(':') != std::string::npos) {
      return invalidArgument("address " + inQuotes(text) +
                             ": an IPv6 address must be written in brackets, e.g. [::1]:8080");
    }
    const bool numeric = std::all_of(out.host.begin(), out.host.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (numeric && !isIpv4(out.host)) {
      return invalidArgument("address " + inQuotes(text) + ": " + inQuotes(out.host) +
                             " is not an IPv4 address");
    }
    if (!numeric && !isHostName(out.host)) {
      return invalidArgument("address " + inQuotes(text) + ": " + inQuotes(out.host) +
                             " is neither an IP address nor a DNS name");
    }
  }
  auto number = parsePort(port, text, allow_zero_port);
  if (!number) return fail(number.error());
  out.port = *number;
  return out;
}

std::string_view logLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string ProxyConfig::workloadSpiffeId() const {
  return "spiffe://" + trust_domain + "/ns/" + workload.namespace_name + "/sa/" +
         workload.service_account;
}

// ---- Parsing --------------------------------------------------------------------------------

namespace {

constexpr std::array<LogLevel, 5> kLogLevels = {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                                LogLevel::kWarn, LogLevel::kError};

// An address from a scalar; a bare number gets a hint, since `admin: 15000` is a likely slip.
HostPort hostPortField(const Field& f, bool allow_zero_port) {
  if (f.node().IsScalar() && f.describe().starts_with("the number")) {
    f.fail("expected an address host:port, e.g. 127.0.0.1:" + f.node().Scalar() + ", got " +
           f.describe());
  }
  auto parsed = parseHostPort(f.nonEmptyString(), allow_zero_port);
  if (!parsed) f.fail(parsed.error().message);
  return *parsed;
}

std::string resolvePath(const std::string& written, const std::string& base_dir) {
  const fs::path p(written);
  if (p.is_absolute() || base_dir.empty()) return written;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

ConfigPath pathField(const Field& f, const std::string& base_dir) {
  std::string written = f.nonEmptyString();
  if (written.find('\0') != std::string::npos) f.fail("a path cannot contain a NUL character");
  ConfigPath out;
  out.resolved = resolvePath(written, base_dir);
  out.written = std::move(written);
  return out;
}

// A duration: a Go duration string ("10s", "1h30m"), or a bare 0.
Seconds durationField(const Field& f) {
  if (f.node().IsScalar() && f.node().Scalar() == "0") return Seconds(0);
  if (f.node().IsScalar() && f.describe().starts_with("the number")) {
    f.fail("expected a duration with a unit such as \"30s\" or \"5m\", got " + f.describe());
  }
  auto d = parseDuration(f.nonEmptyString());
  if (!d) f.fail(d.error().message);
  return *d;
}

std::string labelField(const Field& f) {
  std::string value = f.nonEmptyString();
  if (!isDns1123Label(value)) {
    f.fail("invalid name " + inQuotes(value) +
           ": must be at most 63 lowercase letters, digits and '-', starting and ending with a "
           "letter or digit (a DNS-1123 label)");
  }
  return value;
}

std::string subdomainField(const Field& f) {
  std::string value = f.nonEmptyString();
  if (!isDns1123Subdomain(value)) {
    f.fail("invalid name " + inQuotes(value) +
           ": must be lowercase letters, digits, '-' and '.', starting and ending with a letter "
           "or digit (a DNS-1123 subdomain)");
  }
  return value;
}

// Listener names end up in metric labels and log fields: keep them plain.
std::string listenerNameField(const Field& f) {
  if (f.isNull()) return {};
  std::string value = f.nonEmptyString();
  const bool plain =
      value.size() <= 63 && std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  if (!plain) {
    f.fail("invalid name " + inQuotes(value) +
           ": use at most 63 letters, digits, '-', '_' and '.'");
  }
  return value;
}

int64_t integerIn(const Field& f, int64_t lo, int64_t hi) {
  const int64_t v = f.integer();
  if (v < lo || v > hi) {
    f.fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
           std::to_string(v));
  }
  return v;
}

ProxyWorkload workloadFrom(const Field& f) {
  f.allowOnly({"namespace", "name", "service_account", "labels", "annotations"});
  ProxyWorkload out;
  out.namespace_name = labelField(f.require("namespace"));
  out.name = subdomainField(f.require("name"));
  const Field sa = f.get("service_account");
  if (!sa.isNull()) out.service_account = subdomainField(sa);
  out.labels = f.get("labels").stringMap();
  const Field annotations = f.get("annotations");
  out.annotations = annotations.stringMap();
  // The annotations the proxy acts on are checked here, so a typo fails at start-up.
  for (const auto& [key, value] : annotations.entries()) {
    if (key != kLinkerdDefaultInboundPolicyAnnotation) continue;
    const std::string text = value.string();
    out.linkerd_default_inbound_policy = parseLinkerdDefaultPolicy(text);
    if (!out.linkerd_default_inbound_policy) {
      std::string allowed;
      for (auto p :
           {LinkerdDefaultPolicy::kAllUnauthenticated, LinkerdDefaultPolicy::kAllAuthenticated,
            LinkerdDefaultPolicy::kClusterUnauthenticated,
            LinkerdDefaultPolicy::kClusterAuthenticated, LinkerdDefaultPolicy::kDeny,
            LinkerdDefaultPolicy::kAudit}) {
        allowed += (allowed.empty() ? "" : ", ") + std::string(linkerdDefaultPolicyName(p));
      }
      value.fail("unknown default inbound policy " + inQuotes(text) + "; allowed: " + allowed);
    }
  }
  return out;
}

std::string trustDomainField(const Field& f) {
  const std::string text = f.nonEmptyString();
  auto td = spiffe::TrustDomain::parse(text);
  if (!td) f.fail(td.error().message);
  if (td->name() != text) {
    f.fail("expected a trust domain name such as \"cluster.local\", not the SPIFFE ID " +
           inQuotes(text));
  }
  return text;
}

WorkloadApiCredentials workloadApiFrom(const Field& f) {
  f.allowOnly({"socket"});
  const Field socket = f.require("socket");
  WorkloadApiCredentials out;
  out.socket = socket.nonEmptyString();
  if (out.socket.starts_with("unix://")) {
    out.path = out.socket.substr(7);
    if (!out.path.starts_with("/")) {
      socket.fail("expected unix:///absolute/path (three slashes), got " + inQuotes(out.socket));
    }
  } else if (out.socket.starts_with("unix:") || out.socket.find("://") != std::string::npos) {
    socket.fail(
        "only unix domain sockets are supported: write unix:///path/to/socket or an "
        "absolute path, got " +
        inQuotes(out.socket));
  } else {
    out.path = out.socket;
    if (!out.path.starts_with("/")) {
      socket.fail("must be an absolute path or unix:///path, got " + inQuotes(out.socket));
    }
  }
  return out;
}

ProxyCredentials credentialsFrom(const Field& f, const std::string& base_dir) {
  f.allowOnly({"files", "workload_api"});
  const Field files = f.get("files");
  const Field api = f.get("workload_api");
  if (!files.isNull() && !api.isNull()) {
    api.fail("set exactly one of credentials.files and credentials.workload_api, not both");
  }
  if (!api.isNull()) return workloadApiFrom(api);
  if (files.isNull()) {
    f.fail("set one of files {cert, key, bundle} or workload_api {socket}");
  }
  files.allowOnly({"cert", "key", "bundle"});
  FileCredentials out;
  out.cert = pathField(files.require("cert"), base_dir);
  out.key = pathField(files.require("key"), base_dir);
  out.bundle = pathField(files.require("bundle"), base_dir);
  return out;
}

MeshSettings meshFrom(const Field& f, const std::string& trust_domain) {
  f.allowOnly({"root_namespace", "domain_suffix", "auto_mtls"});
  MeshSettings out;
  out.trust_domain = trust_domain;
  const Field root = f.get("root_namespace");
  if (!root.isNull()) out.root_namespace = labelField(root);
  const Field suffix = f.get("domain_suffix");
  if (!suffix.isNull()) out.domain_suffix = subdomainField(suffix);
  const Field auto_mtls = f.get("auto_mtls");
  if (!auto_mtls.isNull()) out.auto_mtls = auto_mtls.boolean();
  return out;
}

// An address the proxy binds, remembered to find two listeners on one address.
struct Bound {
  HostPort address;
  std::string path;  // "inbound[0].listen"
  Location where;
};

// The host as the kernel compares it: IP literals in canonical form, names lowercased.
std::string canonicalHost(const std::string& host) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return inet_ntop(AF_INET6, &v6, text.data(), text.size()) ? text.data() : host;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return inet_ntop(AF_INET, &v4, text.data(), text.size()) ? text.data() : host;
  }
  return asciiLower(host);
}

// Whether binding both would clash. Port 0 never clashes (each gets a free port). "::" takes
// every address (dual stack), 0.0.0.0 every IPv4 address and any name (which may resolve to
// one). With SO_REUSEPORT, which the proxy sets, a clash would not even fail to bind: the
// kernel would split connections between the two listeners.
bool clash(const HostPort& a, const HostPort& b) {
  if (a.port == 0 || a.port != b.port) return false;
  const std::string ha = canonicalHost(a.host);
  const std::string hb = canonicalHost(b.host);
  if (ha == hb || ha == "::" || hb == "::") return true;
  const auto v4_or_name = [](const std::string& h) { return !isIpv6(h); };
  return (ha == "0.0.0.0" && v4_or_name(hb)) || (hb == "0.0.0.0" && v4_or_name(ha));
}

void checkAddresses(const std::vector<Bound>& bound) {
  for (size_t i = 0; i < bound.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (!clash(bound[i].address, bound[j].address)) continue;
      const std::string mine = bound[i].address.str();
      const std::string theirs = bound[j].address.str();
      std::string message = "address " + mine + " is already used by " + bound[j].path;
      if (mine != theirs) message += " (" + theirs + ")";
      if (!bound[j].where.file.empty()) message += " at " + bound[j].where.str();
      throw FieldError(bound[i].where, bound[i].path, message);
    }
  }
}

InboundListener inboundFrom(const Field& f) {
  f.allowOnly({"name", "port", "listen", "forward"});
  InboundListener out;
  out.location = f.location();
  out.name = listenerNameField(f.get("name"));
  out.port = static_cast<uint16_t>(integerIn(f.require("port"), 1, 65535));
  out.listen = hostPortField(f.require("listen"), true);
  out.forward = hostPortField(f.require("forward"), false);
  return out;
}

OutboundListener outboundFrom(const Field& f) {
  f.allowOnly({"name", "listen", "destination", "endpoints", "identities"});
  OutboundListener out;
  out.location = f.location();
  out.name = listenerNameField(f.get("name"));
  out.listen = hostPortField(f.require("listen"), true);
  out.destination = hostPortField(f.require("destination"), false);
  const Field endpoints = f.require("endpoints");
  for (const auto& item : endpoints.items()) {
    out.endpoints.push_back(hostPortField(item, false));
  }
  if (out.endpoints.empty()) endpoints.fail("at least one endpoint is required");
  const Field identities = f.get("identities");
  (void)identities.strings();
  for (const auto& item : identities.items()) {
    const std::string text = item.nonEmptyString();
    auto id = spiffe::SpiffeId::parse(text);
    if (!id) item.fail(id.error().message);
    out.identities.push_back(std::move(*id));
  }
  return out;
}

// One YAML document: a second non-empty one is an error rather than silently ignored.
Result<YAML::Node> loadDocument(std::string_view text, const std::string& file) {
  if (auto ok = checkYamlText(text, file, "proxy.yaml"); !ok) return fail(ok.error());
  try {
    std::istringstream in{std::string(text)};
    return YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return fail(yamlSyntaxError(e, file));
  }
}

ProxyConfig proxyConfigFrom(const YAML::Node& doc, const std::string& file,
                            const std::string& base_dir) {
  const Field root(doc, file);
  if (root.isNull()) {
    root.fail("empty configuration: workload, trust_domain and credentials are required");
  }
  root.allowOnly({"version", "workload", "trust_domain", "credentials", "policies", "mesh",
                  "inbound", "outbound", "admin", "access_log", "log_level", "workers",
                  "max_connections", "timeouts", "tls"});
  ProxyConfig out;
  out.file = file;
  out.base_dir = base_dir;

  const Field version = root.get("version");
  if (!version.isNull() && version.integer() != 1) {
    version.fail("unsupported version " + std::to_string(version.integer()) +
                 "; this mutual reads version 1");
  }
  out.workload = workloadFrom(root.require("workload"));
  out.trust_domain = trustDomainField(root.require("trust_domain"));
  out.credentials = credentialsFrom(root.require("credentials"), base_dir);
  for (const auto& item : root.get("policies").items()) {
    out.policies.push_back(pathField(item, base_dir));
  }
  out.mesh = meshFrom(root.get("mesh"), out.trust_domain);

  // The admin address first, so that a listener on the default one is the field blamed.
  const Field admin = root.get("admin");
  if (!admin.isNull()) out.admin = hostPortField(admin, true);
  std::vector<Bound> bound;
  if (admin.isNull()) {
    bound.push_back({out.admin, "the default admin address (set admin to move it)", Location{}});
  } else {
    bound.push_back({out.admin, "admin", admin.location()});
  }
  std::vector<std::pair<std::string, Location>> names;  // listener names in use
  const auto claimName = [&names](const std::string& name, const Field& item) {
    if (name.empty()) return;
    for (const auto& [other, where] : names) {
      if (other == name) {
        item.get("name").fail("listener name " + inQuotes(name) + " is already used at " +
                              where.str());
      }
    }
    names.emplace_back(name, item.get("name").location());
  };

  const auto inbound_items = root.get("inbound").items();
  for (size_t i = 0; i < inbound_items.size(); ++i) {
    const Field& item = inbound_items[i];
    InboundListener in = inboundFrom(item);
    for (const auto& other : out.inbound) {
      if (other.port == in.port) {
        item.get("port").fail("workload port " + std::to_string(in.port) +
                              " is already served by the inbound listener at " +
                              other.location.str());
      }
    }
    claimName(in.name, item);
    bound.push_back({in.listen, item.path() + ".listen", item.get("listen").location()});
    out.inbound.push_back(std::move(in));
  }
  const auto outbound_items = root.get("outbound").items();
  for (const auto& item : outbound_items) {
    OutboundListener o = outboundFrom(item);
    claimName(o.name, item);
    bound.push_back({o.listen, item.path() + ".listen", item.get("listen").location()});
    out.outbound.push_back(std::move(o));
  }

  checkAddresses(bound);
  // Forwarding to one of our own inbound listeners would loop forever.
  for (size_t i = 0; i < out.inbound.size(); ++i) {
    for (const auto& in : out.inbound) {
      if (clash(out.inbound[i].forward, in.listen)) {
        inbound_items[i].get("forward").fail(
            "forwards to " + out.inbound[i].forward.str() +
            ", where this proxy's own inbound listener at " + in.location.str() +
            " accepts (a loop); forward to the application's address");
      }
    }
  }

  const Field access_log = root.get("access_log");
  if (!access_log.isNull()) {
    const std::string& scalar = access_log.node().IsScalar() ? access_log.node().Scalar() : "";
    if (access_log.node().IsScalar() &&
        (scalar == "off" || scalar == "Off" || scalar == "OFF" || scalar.empty())) {
      out.access_log.reset();
    } else if (access_log.describe().starts_with("the boolean")) {
      access_log.fail("expected a file path or off, got " + access_log.describe());
    } else {
      out.access_log = pathField(access_log, base_dir);
    }
  }
  out.access_log_location = access_log.location();

  const Field level = root.get("log_level");
  if (!level.isNull()) {
    std::string name = level.string();
    if (name == "warning") name = "warn";  // spdlog's name, which GET /logging reports
    const auto it = std::find_if(kLogLevels.begin(), kLogLevels.end(),
                                 [&name](LogLevel l) { return logLevelName(l) == name; });
    if (it == kLogLevels.end()) {
      level.fail("unknown log level " + inQuotes(name) +
                 " (one of: trace, debug, info, warn, error)");
    }
    out.log_level = *it;
  }
  const Field workers = root.get("workers");
  if (!workers.isNull()) out.workers = static_cast<unsigned>(integerIn(workers, 0, 1024));
  const Field max_connections = root.get("max_connections");
  if (!max_connections.isNull()) {
    out.max_connections =
        static_cast<uint32_t>(integerIn(max_connections, 1, std::numeric_limits<uint32_t>::max()));
  }

  const Field timeouts = root.get("timeouts");
  timeouts.allowOnly({"handshake", "connect", "idle", "drain"});
  const auto setTimeout = [&timeouts](std::string_view key, Seconds& value, bool positive) {
    const Field f = timeouts.get(key);
    if (f.isNull()) return;
    value = durationField(f);
    if (positive && value < Seconds(1)) {
      f.fail("must be at least 1s (durations are counted in whole seconds)");
    }
  };
  setTimeout("handshake", out.timeouts.handshake, true);
  setTimeout("connect", out.timeouts.connect, true);
  setTimeout("idle", out.timeouts.idle, false);
  setTimeout("drain", out.timeouts.drain, false);

  const Field tls = root.get("tls");
  tls.allowOnly({"session_resumption", "session_cache_size"});
  if (const Field resumption = tls.get("session_resumption"); !resumption.isNull()) {
    out.tls.session_resumption = resumption.boolean();
  }
  if (const Field cache = tls.get("session_cache_size"); !cache.isNull()) {
    out.tls.session_cache_size = static_cast<uint32_t>(integerIn(cache, 1, 1'000'000));
  }
  return out;
}

}  // namespace

Result<ProxyConfig> parseProxyConfig(std::string_view yaml, const std::string& file_name,
                                     const std::string& base_dir) {
  auto doc = loadDocument(yaml, file_name);
  if (!doc) return fail(doc.error());
  return parseStrict([&] { return proxyConfigFrom(*doc, file_name, base_dir); });
}

Result<ProxyConfig> loadProxyConfig(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!ec && size > kMaxManifestBytes) {
    return invalidArgument(path + ": larger than " + std::to_string(kMaxManifestBytes >> 20) +
                           " MiB; not a proxy.yaml?");
  }
  auto text = readFile(path);
  if (!text) return fail(text.error());
  fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  if (ec) dir = fs::path(path).parent_path();
  return parseProxyConfig(*text, path, dir.lexically_normal().string());
}

// ---- /config_dump ---------------------------------------------------------------------------

nlohmann::json toJson(const ProxyConfig& c) {
  using nlohmann::json;
  json resolved = json::object();
  json out;
  out["version"] = c.version;
  out["workload"] = {{"namespace", c.workload.namespace_name},
                     {"name", c.workload.name},
                     {"service_account", c.workload.service_account},
                     {"labels", json(c.workload.labels)},
                     {"annotations", json(c.workload.annotations)}};
  out["trust_domain"] = c.trust_domain;
  if (const auto* files = std::get_if<FileCredentials>(&c.credentials)) {
    out["credentials"]["files"] = {{"cert", files->cert.written},
                                   {"key", files->key.written},
                                   {"bundle", files->bundle.written}};
    resolved["credentials.files.cert"] = files->cert.resolved;
    resolved["credentials.files.key"] = files->key.resolved;
    resolved["credentials.files.bundle"] = files->bundle.resolved;
  } else if (const auto* api = std::get_if<WorkloadApiCredentials>(&c.credentials)) {
    out["credentials"]["workload_api"] = {{"socket", api->socket}};
  }
  out["policies"] = json::array();
  for (size_t i = 0; i < c.policies.size(); ++i) {
    out["policies"].push_back(c.policies[i].written);
    resolved["policies[" + std::to_string(i) + "]"] = c.policies[i].resolved;
  }
  out["mesh"] = {{"root_namespace", c.mesh.root_namespace},
                 {"domain_suffix", c.mesh.domain_suffix},
                 {"auto_mtls", c.mesh.auto_mtls}};
  out["inbound"] = json::array();
  for (const auto& in : c.inbound) {
    json j = {{"port", in.port}, {"listen", in.listen.str()}, {"forward", in.forward.str()}};
    if (!in.name.empty()) j["name"] = in.name;
    out["inbound"].push_back(std::move(j));
  }
  out["outbound"] = json::array();
  for (const auto& o : c.outbound) {
    json j = {{"listen", o.listen.str()}, {"destination", o.destination.str()}};
    if (!o.name.empty()) j["name"] = o.name;
    j["endpoints"] = json::array();
    for (const auto& e : o.endpoints) j["endpoints"].push_back(e.str());
    j["identities"] = json::array();
    for (const auto& id : o.identities) j["identities"].push_back(id.str());
    out["outbound"].push_back(std::move(j));
  }
  out["admin"] = c.admin.str();
  if (c.access_log) {
    out["access_log"] = c.access_log->written;
    resolved["access_log"] = c.access_log->resolved;
  } else {
    out["access_log"] = "off";
  }
  out["log_level"] = std::string(logLevelName(c.log_level));
  out["workers"] = c.workers;
  out["max_connections"] = c.max_connections;
  out["timeouts"] = {{"handshake", formatDuration(c.timeouts.handshake)},
                     {"connect", formatDuration(c.timeouts.connect)},
                     {"idle", formatDuration(c.timeouts.idle)},
                     {"drain", formatDuration(c.timeouts.drain)}};
  out["tls"] = {{"session_resumption", c.tls.session_resumption},
                {"session_cache_size", c.tls.session_cache_size}};
  out["resolved_paths"] = std::move(resolved);
  out["source"] = {{"file", c.file}, {"base_dir", c.base_dir}};
  return out;
}

}  // namespace mutual::config
