#include "config/cert_manager.h"

#include <arpa/inet.h>
#include <algorithm>
#include <array>

#include "base/encoding.h"
#include "crypto/chain_verify.h"
#include "spiffe/spiffe_id.h"

namespace mutual::config {

namespace {

std::string inQuotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

// --- shared checks --------------------------------------------------------------------------

void checkApiVersion(const Manifest& m, std::string_view expected) {
  if (m.api_version == expected) return;
  m.root()
      .get("apiVersion")
      .fail("apiVersion " + inQuotes(m.api_version) + " is not supported for " + m.kind + "; use " +
            inQuotes(expected));
}

void checkKind(const Manifest& m, std::initializer_list<std::string_view> kinds) {
  if (std::find(kinds.begin(), kinds.end(), m.kind) != kinds.end()) return;
  m.root().get("kind").fail("expected kind " + std::string(*kinds.begin()) + ", got " +
                            inQuotes(m.kind));
}

std::string namespaceOrDefault(const Manifest& m) {
  return m.metadata.namespace_name.empty() ? std::string(kDefaultNamespace)
                                           : m.metadata.namespace_name;
}

std::string subdomainField(const Field& field) {
  std::string value = field.nonEmptyString();
  if (!isDns1123Subdomain(value)) {
    field.fail("invalid name " + inQuotes(value) +
               ": must be lowercase letters, digits, '-' and '.', starting and ending with a "
               "letter or digit (a DNS-1123 subdomain)");
  }
  return value;
}

// "Not supported" is different from "unknown": the field is valid cert-manager, mutual just
// does not implement it, and silently ignoring it would issue something the user did not ask.
void refuseUnsupported(const Field& parent, std::initializer_list<std::string_view> fields,
                       std::string_view why) {
  for (auto name : fields) {
    const Field f = parent.get(name);
    if (!f.isNull()) f.fail("not supported by mutual apply (" + std::string(why) + ")");
  }
}

// --- Issuer ---------------------------------------------------------------------------------

Issuer issuerFrom(const Manifest& m) {
  checkKind(m, {"Issuer", "ClusterIssuer"});
  checkApiVersion(m, kCertManagerApiVersion);
  const Field root = m.root();
  root.allowOnly({"apiVersion", "kind", "metadata", "spec", "status"});
  Issuer out;
  out.kind = m.kind == "ClusterIssuer" ? IssuerKind::kClusterIssuer : IssuerKind::kIssuer;
  out.name = m.metadata.name;
  // A ClusterIssuer is cluster-scoped: like the API server, ignore a namespace on it.
  out.namespace_name = out.kind == IssuerKind::kClusterIssuer ? "" : namespaceOrDefault(m);
  out.location = m.location;
  const Field spec = root.require("spec");
  spec.allowOnly({"ca", "acme", "vault", "selfSigned", "venafi"});
  for (auto type : {"acme", "vault", "selfSigned", "venafi"}) {
    const Field f = spec.get(type);
    if (!f.isNull()) {
      f.fail(std::string("issuer type ") + inQuotes(type) +
             " is not supported by mutual apply; only \"ca\" issuers are");
    }
  }
  const Field ca = spec.get("ca");
  if (ca.isNull()) spec.fail("no issuer type set; mutual apply supports \"ca\"");
  ca.allowOnly({"secretName", "crlDistributionPoints", "ocspServers", "issuingCertificateURLs"});
  refuseUnsupported(ca, {"crlDistributionPoints", "ocspServers", "issuingCertificateURLs"},
                    "it issues certificates without CRL, OCSP or AIA extensions");
  const Field secret = ca.require("secretName");
  out.secret_name = subdomainField(secret);
  out.secret_name_location = secret.location();
  return out;
}

// --- Secret ---------------------------------------------------------------------------------

bool isSecretKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

void checkSecretKey(const std::string& key, const Field& where) {
  if (key.empty() || key.size() > 253 || key == "." || key == ".." ||
      !std::all_of(key.begin(), key.end(), isSecretKeyChar)) {
    where.fail("invalid key " + inQuotes(key) +
               ": Secret keys are letters, digits, '-', '_' and '.'");
  }
}

Secret secretFrom(const Manifest& m) {
  checkKind(m, {"Secret"});
  checkApiVersion(m, "v1");
  const Field root = m.root();
  root.allowOnly({"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"});
  Secret out;
  out.name = m.metadata.name;
  out.namespace_name = namespaceOrDefault(m);
  out.labels = m.metadata.labels;
  out.annotations = m.metadata.annotations;
  out.location = m.location;
  const Field type = root.get("type");
  if (!type.isNull()) out.type = type.nonEmptyString();
  (void)root.get("immutable").boolean();
  for (const auto& [key, value] : root.get("data").entries()) {
    checkSecretKey(key, value);
    auto decoded = base64Decode(value.string());
    if (!decoded) value.fail("invalid base64 (" + decoded.error().message + ")");
    out.data[key] = std::move(*decoded);
    out.data_locations[key] = value.location();
  }
  for (const auto& [key, value] : root.get("stringData").entries()) {
    checkSecretKey(key, value);
    out.data[key] = value.string();
    out.data_locations[key] = value.location();
  }
  if (out.type == kTlsSecretType) {
    for (const char* key : {"tls.crt", "tls.key"}) {
      if (!out.data.count(key)) {
        const Field data = root.get("data");
        (data.isNull() ? root : data)
            .fail(std::string("a kubernetes.io/tls Secret must hold ") + key +
                  " (in data or stringData)");
      }
    }
  }
  return out;
}

// --- Certificate ----------------------------------------------------------------------------

struct UsageInfo {
  std::string_view name;
  unsigned key_usage;
  bool server_auth;
  bool client_auth;
  bool supported;
};

constexpr std::array<UsageInfo, 23> kUsages = {{
    {"signing", crypto::kDigitalSignature, false, false, true},
    {"digital signature", crypto::kDigitalSignature, false, false, true},
    {"content commitment", crypto::kContentCommitment, false, false, true},
    {"key encipherment", crypto::kKeyEncipherment, false, false, true},
    {"key agreement", crypto::kKeyAgreement, false, false, true},
    {"data encipherment", crypto::kDataEncipherment, false, false, true},
    {"cert sign", crypto::kKeyCertSign, false, false, true},
    {"crl sign", crypto::kCrlSign, false, false, true},
    {"encipher only", crypto::kEncipherOnly, false, false, true},
    {"decipher only", crypto::kDecipherOnly, false, false, true},
    {"server auth", 0, true, false, true},
    {"client auth", 0, false, true, true},
    {"any", 0, false, false, false},
    {"code signing", 0, false, false, false},
    {"email protection", 0, false, false, false},
    {"s/mime", 0, false, false, false},
    {"ipsec end system", 0, false, false, false},
    {"ipsec tunnel", 0, false, false, false},
    {"ipsec user", 0, false, false, false},
    {"timestamping", 0, false, false, false},
    {"ocsp signing", 0, false, false, false},
    {"microsoft sgc", 0, false, false, false},
    {"netscape sgc", 0, false, false, false},
}};

const UsageInfo* findUsage(std::string_view name) {
  for (const auto& u : kUsages) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

// A list of strings, item by item (for per-item checks with the item's own line).
std::vector<Field> stringItems(const Field& field) {
  (void)field.strings();
  return field.items();
}

Seconds durationField(const Field& field) {
  auto d = parseDuration(field.nonEmptyString());
  if (!d) field.fail(d.error().message);
  return *d;
}

PrivateKeySpec privateKeyFrom(const Field& pk) {
  pk.allowOnly({"algorithm", "size", "rotationPolicy", "encoding"});
  PrivateKeySpec out;
  const Field algorithm = pk.get("algorithm");
  if (!algorithm.isNull()) {
    const std::string a = algorithm.string();
    if (a == "RSA") {
      out.algorithm = KeyAlgorithm::kRsa;
    } else if (a == "ECDSA") {
      out.algorithm = KeyAlgorithm::kEcdsa;
    } else if (a == "Ed25519") {
      out.algorithm = KeyAlgorithm::kEd25519;
    } else {
      algorithm.fail("unknown algorithm " + inQuotes(a) + " (one of RSA, ECDSA, Ed25519)");
    }
  }
  const Field size = pk.get("size");
  const int64_t bits = size.integer();
  switch (out.algorithm) {
    case KeyAlgorithm::kRsa:
      out.size = bits == 0 ? 2048 : static_cast<int>(bits);
      if (out.size < 2048 || out.size > 8192) {
        size.fail("must be between 2048 and 8192 for RSA, got " + std::to_string(bits));
      }
      if (out.size == 2048) {
        out.key_type = ca::KeyType::kRsa2048;
      } else if (out.size == 3072) {
        out.key_type = ca::KeyType::kRsa3072;
      } else if (out.size == 4096) {
        out.key_type = ca::KeyType::kRsa4096;
      } else {
        size.fail("RSA " + std::to_string(bits) +
                  " is not supported by mutual apply (2048, 3072 or 4096)");
      }
      break;
    case KeyAlgorithm::kEcdsa:
      out.size = bits == 0 ? 256 : static_cast<int>(bits);
      if (out.size == 256) {
        out.key_type = ca::KeyType::kEcP256;
      } else if (out.size == 384) {
        out.key_type = ca::KeyType::kEcP384;
      } else if (out.size == 521) {
        size.fail("ECDSA P-521 is not supported by mutual apply (256 or 384)");
      } else {
        size.fail("must be 256, 384 or 521 for ECDSA, got " + std::to_string(bits));
      }
      break;
    case KeyAlgorithm::kEd25519:
      out.size = 0;  // cert-manager ignores size for Ed25519
      out.key_type = ca::KeyType::kEd25519;
      break;
  }
  const Field rotation = pk.get("rotationPolicy");
  if (!rotation.isNull()) {
    const std::string r = rotation.string();
    if (r == "Always") {
      out.rotation_policy = RotationPolicy::kAlways;
    } else if (r == "Never") {
      out.rotation_policy = RotationPolicy::kNever;
    } else {
      rotation.fail("unknown rotationPolicy " + inQuotes(r) + " (Always or Never)");
    }
  }
  const Field encoding = pk.get("encoding");
  if (!encoding.isNull()) {
    const std::string e = encoding.string();
    if (e == "PKCS1") {
      encoding.fail(
          "PKCS1 is not supported by mutual apply, which writes PKCS#8 keys; set "
          "encoding: PKCS8");
    } else if (e != "PKCS8") {
      encoding.fail("unknown encoding " + inQuotes(e) + " (PKCS1 or PKCS8)");
    }
  }
  return out;
}

IssuerRef issuerRefFrom(const Field& ref) {
  ref.allowOnly({"name", "kind", "group"});
  IssuerRef out;
  out.location = ref.location();
  out.name = subdomainField(ref.require("name"));
  const Field kind = ref.get("kind");
  if (!kind.isNull()) {
    const std::string k = kind.string();
    if (k == "Issuer") {
      out.kind = IssuerKind::kIssuer;
    } else if (k == "ClusterIssuer") {
      out.kind = IssuerKind::kClusterIssuer;
    } else {
      kind.fail("kind " + inQuotes(k) +
                " is not supported by mutual apply (Issuer or ClusterIssuer)");
    }
  }
  const Field group = ref.get("group");
  if (!group.isNull()) {
    out.group = group.string();
    if (out.group != kCertManagerGroup) {
      group.fail("external issuers (group " + inQuotes(out.group) +
                 ") are not supported by mutual apply; use group cert-manager.io");
    }
  }
  return out;
}

bool isIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool isEmail(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= s.size()) return false;
  if (s.find('@', at + 1) != std::string_view::npos) return false;
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return c <= ' ' || c == '<' || c == '>' || c == 0x7f; });
}

bool hasUriScheme(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size()) return false;
  const auto scheme = s.substr(0, colon);
  if (!std::isalpha(static_cast<unsigned char>(scheme.front()))) return false;
  return std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

std::map<std::string, std::string> templateAnnotations(const Field& field) {
  auto out = field.stringMap();
  for (const auto& [key, value] : field.entries()) {
    if (key.starts_with("cert-manager.io/")) {
      value.fail("cert-manager.io/ annotations are set by the issuer and cannot be templated");
    }
  }
  return out;
}

Certificate certificateFrom(const Manifest& m) {
  checkKind(m, {"Certificate"});
  checkApiVersion(m, kCertManagerApiVersion);
  const Field root = m.root();
  root.allowOnly({"apiVersion", "kind", "metadata", "spec", "status"});
  Certificate out;
  out.name = m.metadata.name;
  out.namespace_name = namespaceOrDefault(m);
  out.location = m.location;
  const Field spec = root.require("spec");
  spec.allowOnly({"secretName", "commonName", "dnsNames", "uris", "ipAddresses", "emailAddresses",
                  "duration", "renewBefore", "renewBeforePercentage", "usages", "isCA",
                  "privateKey", "issuerRef", "secretTemplate", "revisionHistoryLimit",
                  "encodeUsagesInRequest",
                  // cert-manager fields mutual refuses below
                  "additionalOutputFormats", "keystores", "literalSubject", "nameConstraints",
                  "otherNames", "renewal", "signatureAlgorithm", "subject"});
  refuseUnsupported(spec, {"subject", "literalSubject", "otherNames", "nameConstraints"},
                    "it sets only commonName and the SANs listed in the spec");
  refuseUnsupported(spec, {"keystores", "additionalOutputFormats"}, "it writes PEM files only");
  refuseUnsupported(spec, {"renewal"}, "renewal windows are not implemented");
  refuseUnsupported(spec, {"signatureAlgorithm"},
                    "the signature algorithm follows the CA key: SHA-256 for P-256 and RSA");

  out.secret_name = subdomainField(spec.require("secretName"));
  const Field cn = spec.get("commonName");
  out.common_name = cn.string();
  if (out.common_name.size() > 64) {
    cn.fail("must be at most 64 characters, got " + std::to_string(out.common_name.size()));
  }
  for (const auto& item : stringItems(spec.get("dnsNames"))) {
    std::string name = item.string();
    if (!crypto::isPreferredDnsName(name)) item.fail("invalid DNS name " + inQuotes(name));
    out.dns_names.push_back(std::move(name));
  }
  const Field uris = spec.get("uris");
  out.uris_location = uris.location();
  size_t spiffe_ids = 0;
  for (const auto& item : stringItems(uris)) {
    std::string uri = item.string();
    if (uri.starts_with("spiffe:")) {
      auto id = spiffe::SpiffeId::parse(uri);
      if (!id) item.fail(id.error().message);
      ++spiffe_ids;
    } else if (!hasUriScheme(uri)) {
      item.fail("invalid URI " + inQuotes(uri) + ": expected scheme:rest, e.g. spiffe://td/path");
    }
    out.uris.push_back(std::move(uri));
  }
  for (const auto& item : stringItems(spec.get("ipAddresses"))) {
    std::string ip = item.string();
    if (!isIp(ip)) item.fail("invalid IP address " + inQuotes(ip));
    out.ip_addresses.push_back(std::move(ip));
  }
  for (const auto& item : stringItems(spec.get("emailAddresses"))) {
    std::string email = item.string();
    if (!isEmail(email)) item.fail("invalid email address " + inQuotes(email));
    out.email_addresses.push_back(std::move(email));
  }

  const Field is_ca = spec.get("isCA");
  out.is_ca = is_ca.boolean();
  if (spiffe_ids > 0 && !out.is_ca) {
    if (out.uris.size() != 1) {
      uris.fail("an X509-SVID carries exactly one URI SAN (its SPIFFE ID); found " +
                std::to_string(out.uris.size()) + " URIs");
    }
    if (auto id = spiffe::SpiffeId::parse(out.uris.front()); id && id->isRoot()) {
      uris.items().front().fail("SPIFFE ID " + id->str() +
                                " has no path; a workload ID needs one, e.g. " + id->str() +
                                "/ns/" + out.namespace_name + "/sa/NAME");
    }
  }

  const Field duration = spec.get("duration");
  out.duration_location = duration.isNull() ? out.location : duration.location();
  if (!duration.isNull()) {
    out.duration = durationField(duration);
    if (out.duration < kMinimumDuration) {
      duration.fail("must be at least 1h (cert-manager's minimum), got " +
                    formatDuration(out.duration));
    }
  }
  const Field renew_before = spec.get("renewBefore");
  const Field percentage = spec.get("renewBeforePercentage");
  if (!renew_before.isNull() && !percentage.isNull()) {
    percentage.fail("cannot be set together with spec.renewBefore");
  }
  if (!renew_before.isNull()) {
    out.renew_before = durationField(renew_before);
    if (*out.renew_before < kMinimumRenewBefore) {
      renew_before.fail("must be at least 5m (cert-manager's minimum), got " +
                        formatDuration(*out.renew_before));
    }
    if (*out.renew_before >= out.duration) {
      renew_before.fail("must be shorter than the duration (" + formatDuration(out.duration) +
                        "), got " + formatDuration(*out.renew_before));
    }
  }
  if (!percentage.isNull()) {
    const int64_t pct = percentage.integer();
    if (pct <= 0 || pct >= 100) {
      percentage.fail("must be between 1 and 99, got " + std::to_string(pct));
    }
    out.renew_before_percentage = static_cast<int>(pct);
    if (out.duration / 100 * pct < kMinimumRenewBefore) {  // no overflow for huge durations
      percentage.fail(std::to_string(pct) + "% of " + formatDuration(out.duration) +
                      " is less than 5m, cert-manager's minimum renewBefore");
    }
  }
  const Field history = spec.get("revisionHistoryLimit");
  if (!history.isNull() && history.integer() < 1) history.fail("must be 1 or more");
  (void)spec.get("encodeUsagesInRequest").boolean();

  out.private_key = privateKeyFrom(spec.get("privateKey"));
  out.issuer_ref = issuerRefFrom(spec.require("issuerRef"));

  const Field tmpl = spec.get("secretTemplate");
  tmpl.allowOnly({"labels", "annotations"});
  out.secret_labels = tmpl.get("labels").stringMap();
  out.secret_annotations = templateAnnotations(tmpl.get("annotations"));

  const Field usages = spec.get("usages");
  std::vector<std::string> names;
  for (const auto& item : stringItems(usages)) {
    std::string name = item.string();
    const UsageInfo* info = findUsage(name);
    if (!info) {
      std::string all;
      for (const auto& u : kUsages) all += (all.empty() ? "" : ", ") + std::string(u.name);
      item.fail("unknown usage " + inQuotes(name) + " (one of: " + all + ")");
    }
    if (!info->supported) {
      item.fail("usage " + inQuotes(name) +
                " is not supported by mutual apply, which issues only the \"server auth\" and "
                "\"client auth\" extended key usages");
    }
    if (info->key_usage == crypto::kKeyCertSign && !out.is_ca) {
      item.fail(
          "usage \"cert sign\" needs isCA: true (a certificate that signs certificates "
          "must be a CA)");
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(std::move(name));
    }
  }
  if (names.empty()) names = defaultUsages(spiffe_ids > 0 && !out.is_ca);
  if (out.is_ca && std::find(names.begin(), names.end(), "cert sign") == names.end()) {
    names.emplace_back("cert sign");
  }
  out.usages = std::move(names);
  auto mapped = mapUsages(out.usages, out.private_key.algorithm);
  if (!mapped) usages.fail(mapped.error().message);

  // Checked last, so that a wrong field is reported before this whole-spec rule.
  if (out.common_name.empty() && out.dns_names.empty() && out.uris.empty() &&
      out.ip_addresses.empty() && out.email_addresses.empty()) {
    spec.fail(
        "at least one of commonName, dnsNames, uris, ipAddresses or emailAddresses must "
        "be set");
  }

  out.request.common_name = out.common_name;
  out.request.dns_names = out.dns_names;
  out.request.uris = out.uris;
  out.request.ip_addresses = out.ip_addresses;
  out.request.emails = out.email_addresses;
  out.request.ttl = out.duration;
  out.request.usages = *mapped;
  out.request.is_ca = out.is_ca;
  out.request.key_type = out.private_key.key_type;
  return out;
}

// Kinds that other parts of mutual read; `mutual apply` skips them.
bool isOtherKnownKind(const Manifest& m) {
  static const std::array<std::pair<std::string_view, std::string_view>, 17> kKinds = {{
      {"", "Namespace"},
      {"", "Service"},
      {"", "Pod"},
      {"", "ServiceAccount"},
      {"", "ConfigMap"},
      {"apps", "Deployment"},
      {"apps", "StatefulSet"},
      {"apps", "DaemonSet"},
      {"security.istio.io", "PeerAuthentication"},
      {"security.istio.io", "AuthorizationPolicy"},
      {"networking.istio.io", "DestinationRule"},
      {"policy.linkerd.io", "Server"},
      {"policy.linkerd.io", "AuthorizationPolicy"},
      {"policy.linkerd.io", "ServerAuthorization"},
      {"policy.linkerd.io", "MeshTLSAuthentication"},
      {"policy.linkerd.io", "NetworkAuthentication"},
      {"cert-manager.io", "CertificateRequest"},
  }};
  const std::string group = m.group();
  for (const auto& [g, k] : kKinds) {
    if (g == group && k == m.kind) return true;
  }
  return false;
}

}  // namespace

std::string_view issuerKindName(IssuerKind kind) {
  return kind == IssuerKind::kClusterIssuer ? "ClusterIssuer" : "Issuer";
}

std::string_view keyAlgorithmName(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kRsa:
      return "RSA";
    case KeyAlgorithm::kEcdsa:
      return "ECDSA";
    case KeyAlgorithm::kEd25519:
      return "Ed25519";
  }
  return "?";
}

std::string Issuer::describe() const {
  if (kind == IssuerKind::kClusterIssuer) return "ClusterIssuer \"" + name + "\"";
  return "Issuer \"" + name + "\" in namespace \"" + namespace_name + "\"";
}

Location Secret::locate(const std::string& key) const {
  const auto it = data_locations.find(key);
  return it == data_locations.end() ? location : it->second;
}

std::string Certificate::describe() const { return "Certificate " + namespace_name + "/" + name; }

bool Certificate::isSvid() const {
  return !is_ca && std::any_of(uris.begin(), uris.end(),
                               [](const std::string& u) { return u.starts_with("spiffe:"); });
}

TimePoint Certificate::renewalTime(TimePoint not_before, TimePoint not_after) const {
  const auto lifetime = std::chrono::duration_cast<Seconds>(not_after - not_before);
  Seconds before = lifetime / 3;
  if (renew_before && *renew_before < lifetime) {
    before = *renew_before;
  } else if (!renew_before && renew_before_percentage) {
    before = lifetime * *renew_before_percentage / 100;
  }
  return not_after - before;
}

std::vector<std::string> defaultUsages(bool svid) {
  if (svid) return {"digital signature", "key encipherment", "server auth", "client auth"};
  return {"digital signature", "key encipherment"};
}

Result<ca::Usages> mapUsages(const std::vector<std::string>& usages, KeyAlgorithm algorithm) {
  ca::Usages out;
  out.server_auth = false;
  out.client_auth = false;
  for (const auto& name : usages) {
    const UsageInfo* info = findUsage(name);
    if (!info) return invalidArgument("unknown usage \"" + name + "\"");
    if (!info->supported) {
      return invalidArgument("usage \"" + name + "\" is not supported by mutual apply");
    }
    out.server_auth = out.server_auth || info->server_auth;
    out.client_auth = out.client_auth || info->client_auth;
    unsigned bits = info->key_usage;
    if (algorithm != KeyAlgorithm::kRsa) {
      bits &= ~static_cast<unsigned>(crypto::kKeyEncipherment | crypto::kDataEncipherment);
    }
    out.extra_key_usage |= bits;
  }
  return out;
}

Result<Issuer> parseIssuer(const Manifest& manifest) {
  return parseStrict([&] { return issuerFrom(manifest); });
}

Result<Secret> parseSecret(const Manifest& manifest) {
  return parseStrict([&] { return secretFrom(manifest); });
}

Result<Certificate> parseCertificate(const Manifest& manifest) {
  return parseStrict([&] { return certificateFrom(manifest); });
}

const Issuer* CertManagerResources::findIssuer(IssuerKind kind, std::string_view name,
                                               std::string_view namespace_name) const {
  for (const auto& issuer : issuers) {
    if (issuer.kind != kind || issuer.name != name) continue;
    if (kind == IssuerKind::kIssuer && issuer.namespace_name != namespace_name) continue;
    return &issuer;
  }
  return nullptr;
}

const Secret* CertManagerResources::findSecret(std::string_view name,
                                               std::string_view namespace_name) const {
  for (const auto& secret : secrets) {
    if (secret.name == name && secret.namespace_name == namespace_name) return &secret;
  }
  return nullptr;
}

std::vector<const Secret*> CertManagerResources::findSecretsNamed(std::string_view name) const {
  std::vector<const Secret*> out;
  for (const auto& secret : secrets) {
    if (secret.name == name) out.push_back(&secret);
  }
  return out;
}

Result<CertManagerResources> parseCertManagerResources(const std::vector<Manifest>& manifests) {
  CertManagerResources out;
  // "<kind>/<namespace>/<name>" -> where it was first defined.
  std::map<std::string, Location> seen;
  std::map<std::string, Location> secret_owners;
  const auto claim = [&](std::string key, const std::string& what,
                         const Location& where) -> Result<void> {
    if (auto [it, inserted] = seen.emplace(std::move(key), where); !inserted) {
      return fail(fieldError(where, "metadata.name",
                             what + " is defined twice (also at " + it->second.str() + ")"));
    }
    return {};
  };
  for (const auto& m : manifests) {
    const bool cert_manager = m.group() == kCertManagerGroup;
    if (cert_manager &&
        (m.kind == "Certificate" || m.kind == "Issuer" || m.kind == "ClusterIssuer")) {
      if (m.kind == "Certificate") {
        auto cert = parseCertificate(m);
        if (!cert) return fail(cert.error());
        const std::string key = "Certificate/" + cert->namespace_name + "/" + cert->name;
        if (auto ok = claim(key, cert->describe(), cert->location); !ok) return fail(ok.error());
        const std::string secret = cert->namespace_name + "/" + cert->secret_name;
        if (auto [it, inserted] = secret_owners.emplace(secret, cert->location); !inserted) {
          return fail(fieldError(cert->location, "spec.secretName",
                                 "Secret " + inQuotes(cert->secret_name) + " in namespace " +
                                     inQuotes(cert->namespace_name) +
                                     " is already written by the Certificate at " +
                                     it->second.str()));
        }
        out.certificates.push_back(std::move(*cert));
        continue;
      } else {
        auto issuer = parseIssuer(m);
        if (!issuer) return fail(issuer.error());
        const std::string key = std::string(issuerKindName(issuer->kind)) + "/" +
                                issuer->namespace_name + "/" + issuer->name;
        if (auto ok = claim(key, m.kind + " " + inQuotes(issuer->name), issuer->location); !ok) {
          return fail(ok.error());
        }
        out.issuers.push_back(std::move(*issuer));
        continue;
      }
    }
    if (m.kind == "Secret" && m.group().empty()) {
      auto secret = parseSecret(m);
      if (!secret) return fail(secret.error());
      const std::string key = "Secret/" + secret->namespace_name + "/" + secret->name;
      if (auto ok =
              claim(key, "Secret " + secret->namespace_name + "/" + secret->name, secret->location);
          !ok) {
        return fail(ok.error());
      }
      out.secrets.push_back(std::move(*secret));
      continue;
    }
    if (isOtherKnownKind(m)) continue;
    return fail(fieldError(m.root().get("kind").location(), "kind",
                           "unknown kind " + inQuotes(m.kind) + " (apiVersion " +
                               inQuotes(m.api_version) +
                               "); mutual apply reads Certificate, Issuer and ClusterIssuer "
                               "(cert-manager.io/v1) and Secret (v1)"));
  }
  return out;
}

namespace {

// Double-quotes a YAML scalar when a plain one would be read back differently.
std::string yamlScalar(std::string_view s) {
  if (readsAsPlainString(s)) return std::string(s);
  std::string out;
  appendQuoted(out, s);
  return out;
}

void renderMap(std::string& out, std::string_view name,
               const std::map<std::string, std::string>& values, std::string_view indent) {
  if (values.empty()) return;
  out += std::string(indent) + std::string(name) + ":\n";
  for (const auto& [key, value] : values) {
    out += std::string(indent) + "  " + yamlScalar(key) + ": " + yamlScalar(value) + "\n";
  }
}

}  // namespace

std::string renderSecret(const Secret& secret) {
  std::string out = "apiVersion: v1\nkind: Secret\nmetadata:\n";
  out += "  name: " + yamlScalar(secret.name) + "\n";
  out += "  namespace: " + yamlScalar(secret.namespace_name) + "\n";
  renderMap(out, "labels", secret.labels, "  ");
  renderMap(out, "annotations", secret.annotations, "  ");
  out += "type: " + yamlScalar(secret.type) + "\n";
  std::map<std::string, std::string> encoded;
  for (const auto& [key, value] : secret.data) encoded[key] = base64Encode(value);
  renderMap(out, "data", encoded, "");
  return out;
}

}  // namespace mutual::config
