#include "app/apply.h"

#include <pthread.h>
#include <signal.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/file.h"
#include "base/time.h"
#include "ca/authority.h"
#include "cli/output.h"
#include "config/cert_manager.h"
#include "config/manifest.h"
#include "crypto/certificate.h"
#include "crypto/key.h"

namespace mutual::app {

namespace fs = std::filesystem;
using config::Location;
using crypto::Certificate;
using crypto::PrivateKey;
using nlohmann::json;

namespace {

constexpr char kStateFile[] = ".mutual-spec.json";
constexpr int kStateVersion = 1;

Error at(const Location& where, std::string_view path, std::string_view message) {
  return config::fieldError(where, path, message);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

// ---- issuers and their CAs -------------------------------------------------------------------

// An issuer ready to sign: the authority from its Secret and fingerprints that identify it.
struct IssuerCa {
  const config::Issuer* issuer = nullptr;
  ca::Authority authority;
  std::string ca_fingerprint;
  std::vector<std::string> root_fingerprints;
  std::string roots_pem;
};

Result<const config::Issuer*> findIssuer(const config::CertManagerResources& resources,
                                         const config::Certificate& cert) {
  using config::IssuerKind;
  const auto& ref = cert.issuer_ref;
  if (const auto* issuer = resources.findIssuer(ref.kind, ref.name, cert.namespace_name)) {
    return issuer;
  }
  std::string message =
      std::string(config::issuerKindName(ref.kind)) + " \"" + ref.name + "\" not found";
  if (ref.kind == IssuerKind::kIssuer) message += " in namespace \"" + cert.namespace_name + "\"";
  message += " among the inputs";
  if (ref.kind == IssuerKind::kIssuer) {
    if (resources.findIssuer(IssuerKind::kClusterIssuer, ref.name, "")) {
      message +=
          "; there is a ClusterIssuer \"" + ref.name + "\": set issuerRef.kind: ClusterIssuer";
    } else {
      for (const auto& other : resources.issuers) {
        if (other.kind == IssuerKind::kIssuer && other.name == ref.name) {
          message += "; an Issuer of that name is in namespace \"" + other.namespace_name +
                     "\", but an Issuer serves only its own namespace";
          break;
        }
      }
    }
  } else if (resources.findIssuer(IssuerKind::kIssuer, ref.name, cert.namespace_name)) {
    message += "; there is an Issuer \"" + ref.name + "\" in namespace \"" + cert.namespace_name +
               "\": set issuerRef.kind: Issuer";
  }
  return fail(at(ref.location, "spec.issuerRef", message));
}

Result<const config::Secret*> findCaSecret(const config::CertManagerResources& resources,
                                           const config::Issuer& issuer) {
  const std::string& name = issuer.secret_name;
  const Location& where = issuer.secret_name_location;
  if (issuer.kind == config::IssuerKind::kIssuer) {
    if (const auto* secret = resources.findSecret(name, issuer.namespace_name)) return secret;
    return fail(at(where, "spec.ca.secretName",
                   "Secret \"" + name + "\" not found in namespace \"" + issuer.namespace_name +
                       "\" among the inputs (an Issuer's CA Secret is in the Issuer's namespace)"));
  }
  const std::string home(config::kClusterResourceNamespace);
  if (const auto* secret = resources.findSecret(name, home)) return secret;
  const auto named = resources.findSecretsNamed(name);
  if (named.size() == 1) return named.front();
  if (named.empty()) {
    return fail(at(where, "spec.ca.secretName",
                   "Secret \"" + name +
                       "\" not found among the inputs (a ClusterIssuer's CA "
                       "Secret belongs in namespace \"" +
                       home + "\")"));
  }
  std::vector<std::string> namespaces;
  for (const auto* secret : named) namespaces.push_back(secret->namespace_name);
  return fail(at(where, "spec.ca.secretName",
                 "Secret \"" + name + "\" is in several namespaces (" + join(namespaces, ", ") +
                     ") and not in \"" + home + "\"; put the ClusterIssuer's Secret in \"" + home +
                     "\""));
}

Result<IssuerCa> loadIssuerCa(const config::Issuer& issuer, const config::Secret& secret) {
  const std::string whose = " (the CA Secret of " + issuer.describe() + ")";
  for (const char* key : {"tls.crt", "tls.key"}) {
    if (!secret.data.count(key)) {
      return fail(at(secret.location, "data", std::string("has no ") + key + whose));
    }
  }
  const Location crt_at = secret.locate("tls.crt");
  const Location key_at = secret.locate("tls.key");
  auto certs = crypto::parsePemCertificates(secret.data.at("tls.crt"));
  if (!certs) return fail(at(crt_at, "data[tls.crt]", certs.error().message + whose));
  auto key = PrivateKey::fromPem(secret.data.at("tls.key"));
  if (!key) return fail(at(key_at, "data[tls.key]", key.error().message + whose));
  const Certificate cert = certs->front();
  if (!cert.matchesKey(*key)) {
    return fail(at(key_at, "data[tls.key]", "does not match the certificate in tls.crt" + whose));
  }
  if (!cert.isCa()) {
    return fail(at(crt_at, "data[tls.crt]",
                   "the certificate (" + cert.subject() +
                       ") is not a CA (basicConstraints cA=false), so it cannot sign" + whose));
  }
  if (const auto ku = cert.keyUsage(); ku && (*ku & crypto::kKeyCertSign) == 0) {
    return fail(
        at(crt_at, "data[tls.crt]",
           "the CA certificate (" + cert.subject() + ") lacks keyUsage keyCertSign" + whose));
  }
  IssuerCa out{&issuer, ca::Authority{cert, std::move(*key), {}, {}}, "", {}, ""};
  auto& authority = out.authority;
  if (!cert.isSelfIssued()) {
    // An intermediate: it and the intermediates above it, not the root, go beside each leaf.
    authority.chain.push_back(cert);
    for (size_t i = 1; i < certs->size(); ++i) {
      if (!(*certs)[i].isSelfIssued()) authority.chain.push_back((*certs)[i]);
    }
  }
  if (secret.data.count("ca.crt")) {
    auto roots = crypto::parsePemCertificates(secret.data.at("ca.crt"));
    if (!roots) {
      return fail(at(secret.locate("ca.crt"), "data[ca.crt]", roots.error().message + whose));
    }
    authority.roots = std::move(*roots);
  } else if (cert.isSelfIssued()) {
    authority.roots = {cert};
  } else if (certs->back().isSelfIssued()) {
    authority.roots = {certs->back()};
  } else {
    return fail(at(crt_at, "data[tls.crt]",
                   "the CA is an intermediate and the Secret has no ca.crt with its root" + whose +
                       "; add ca.crt"));
  }
  out.ca_fingerprint = cert.sha256Fingerprint();
  for (const auto& root : authority.roots) {
    out.root_fingerprints.push_back(root.sha256Fingerprint());
  }
  auto pem = crypto::toPem(authority.roots);
  if (!pem) return fail(pem.error());
  out.roots_pem = std::move(*pem);
  return out;
}

// ---- what is on disk ---------------------------------------------------------------------------

std::optional<std::string> readIfPresent(const fs::path& path) {
  auto text = readFile(path);
  if (!text) return std::nullopt;
  return std::move(*text);
}

struct Existing {
  bool any = false;  // any of the files is there
  std::optional<std::string> tls_crt;
  std::optional<std::string> tls_key;
  std::optional<std::string> ca_crt;
  std::optional<std::string> secret_yaml;
  std::optional<Certificate> leaf;
  std::optional<PrivateKey> key;
  std::string problem;  // why the files are not a usable certificate; "" when they are
  std::optional<json> state;
};

Existing readExisting(const fs::path& dir) {
  Existing out;
  out.tls_crt = readIfPresent(dir / "tls.crt");
  out.tls_key = readIfPresent(dir / "tls.key");
  out.ca_crt = readIfPresent(dir / "ca.crt");
  out.secret_yaml = readIfPresent(dir / "secret.yaml");
  const auto state_text = readIfPresent(dir / kStateFile);
  out.any = out.tls_crt || out.tls_key || out.ca_crt || state_text;
  if (state_text) {
    auto parsed = json::parse(*state_text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.value("version", 0) == kStateVersion) {
      out.state = std::move(parsed);
    }
  }
  if (out.tls_key) {
    auto key = PrivateKey::fromPem(*out.tls_key);
    if (key) {
      out.key = std::move(*key);
    } else {
      out.problem = "tls.key is not a valid private key";
    }
  } else {
    out.problem = "tls.key is missing";
  }
  if (out.tls_crt) {
    auto certs = crypto::parsePemCertificates(*out.tls_crt);
    if (certs) {
      out.leaf = certs->front();
    } else {
      out.problem = "tls.crt is not a valid certificate";
    }
  } else {
    out.problem = "tls.crt is missing";
  }
  if (out.problem.empty() && !out.leaf->matchesKey(*out.key)) {
    out.problem = "tls.key does not match tls.crt";
  }
  if (out.problem.empty() && !out.ca_crt) out.problem = "ca.crt is missing";
  return out;
}

// ---- decisions ---------------------------------------------------------------------------------

// Everything about a Certificate that shapes the certificate itself. renewBefore,
// rotationPolicy and secretTemplate are left out on purpose: changing them does not reissue
// (as in cert-manager).
json normalizedSpec(const config::Certificate& cert) {
  std::vector<std::string> usages = cert.usages;
  std::sort(usages.begin(), usages.end());
  return json{
      {"commonName", cert.common_name},
      {"dnsNames", cert.dns_names},
      {"uris", cert.uris},
      {"ipAddresses", cert.ip_addresses},
      {"emailAddresses", cert.email_addresses},
      {"duration", formatDuration(cert.duration)},
      {"usages", usages},
      {"isCA", cert.is_ca},
      {"privateKey",
       {{"algorithm", config::keyAlgorithmName(cert.private_key.algorithm)},
        {"size", cert.private_key.size}}},
      {"issuerRef",
       {{"kind", config::issuerKindName(cert.issuer_ref.kind)},
        {"name", cert.issuer_ref.name},
        {"group", cert.issuer_ref.group}}},
  };
}

struct Decision {
  bool issue = false;
  ApplyAction action = ApplyAction::kUpToDate;
  std::string reason;
};

Decision decide(const config::Certificate& cert, const IssuerCa& ca, const Existing& existing,
                const json& spec, TimePoint now) {
  const auto renew = [](std::string reason) {
    return Decision{true, ApplyAction::kRenewed, std::move(reason)};
  };
  if (!existing.problem.empty()) {
    if (!existing.any) return {true, ApplyAction::kIssued, "new certificate"};
    return {true, ApplyAction::kIssued, existing.problem};
  }
  if (!existing.state) {
    return renew(std::string("no record of what tls.crt was issued for (") + kStateFile +
                 " missing or unreadable)");
  }
  const json& state = *existing.state;
  const json old_spec = state.value("spec", json::object());
  if (old_spec != spec) {
    std::vector<std::string> changed;
    for (const auto& [key, value] : spec.items()) {
      if (!old_spec.contains(key) || old_spec[key] != value) changed.push_back(key);
    }
    return renew("spec changed: " + join(changed, ", "));
  }
  const json issuer = state.value("issuer", json::object());
  if (issuer.value("caFingerprint", "") != ca.ca_fingerprint ||
      issuer.value("rootFingerprints", json::array()) != json(ca.root_fingerprints)) {
    return renew("the issuer's CA changed");
  }
  if (state.value("serial", "") != existing.leaf->serialHex()) {
    return renew("tls.crt is not the certificate mutual issued (serial differs from " +
                 std::string(kStateFile) + ")");
  }
  if (*existing.ca_crt != ca.roots_pem) return renew("ca.crt does not hold the issuer's roots");
  const TimePoint not_after = existing.leaf->notAfter();
  if (now >= not_after) return renew("expired at " + formatRfc3339(not_after));
  const TimePoint renew_at = cert.renewalTime(existing.leaf->notBefore(), not_after);
  if (now >= renew_at) return renew("due for renewal since " + formatRfc3339(renew_at));
  return {};
}

// ---- what gets written -------------------------------------------------------------------------

struct LeafPem {
  std::string tls_crt;
  std::string tls_key;
  std::string ca_crt;
};

Result<LeafPem> renderIssued(const ca::Issued& issued) {
  std::vector<Certificate> full{issued.cert};
  for (const auto& cert : issued.chain) {
    // A CA issued here has itself first in its chain; it is already the first block.
    if (cert.sha256Fingerprint() != issued.cert.sha256Fingerprint()) full.push_back(cert);
  }
  auto crt = crypto::toPem(full);
  if (!crt) return fail(crt.error());
  auto key = issued.key.toPkcs8Pem();
  if (!key) return fail(key.error());
  auto ca = crypto::toPem(issued.bundle);
  if (!ca) return fail(ca.error());
  return LeafPem{std::move(*crt), std::move(*key), std::move(*ca)};
}

// The kubernetes.io/tls Secret cert-manager would have written, with its annotations.
std::string renderSecretYaml(const config::Certificate& cert, const config::Issuer& issuer,
                             const Certificate& leaf, const LeafPem& pem) {
  config::Secret secret;
  secret.name = cert.secret_name;
  secret.namespace_name = cert.namespace_name;
  secret.type = std::string(config::kTlsSecretType);
  secret.labels = cert.secret_labels;
  secret.annotations = cert.secret_annotations;
  const std::map<std::string, std::string> managed = {
      {"cert-manager.io/certificate-name", cert.name},
      {"cert-manager.io/issuer-name", issuer.name},
      {"cert-manager.io/issuer-kind", std::string(config::issuerKindName(issuer.kind))},
      {"cert-manager.io/issuer-group", cert.issuer_ref.group},
      {"cert-manager.io/common-name", leaf.commonName()},
      {"cert-manager.io/alt-names", join(leaf.dnsSans(), ",")},
      {"cert-manager.io/ip-sans", join(leaf.ipSans(), ",")},
      {"cert-manager.io/uri-sans", join(leaf.uriSans(), ",")},
  };
  for (const auto& [key, value] : managed) secret.annotations[key] = value;
  secret.data = {{"ca.crt", pem.ca_crt}, {"tls.crt", pem.tls_crt}, {"tls.key", pem.tls_key}};
  return config::renderSecret(secret);
}

std::string renderState(const config::Certificate& cert, const IssuerCa& ca, const json& spec,
                        const Certificate& leaf, TimePoint now) {
  const json state = {
      {"version", kStateVersion},
      {"certificate", {{"namespace", cert.namespace_name}, {"name", cert.name}}},
      {"source", cert.location.str()},
      {"spec", spec},
      {"issuer",
       {{"kind", config::issuerKindName(ca.issuer->kind)},
        {"name", ca.issuer->name},
        {"caFingerprint", ca.ca_fingerprint},
        {"rootFingerprints", ca.root_fingerprints}}},
      {"serial", leaf.serialHex()},
      {"notBefore", formatRfc3339(leaf.notBefore())},
      {"notAfter", formatRfc3339(leaf.notAfter())},
      {"issuedAt", formatRfc3339(now)},
  };
  return state.dump(2) + "\n";
}

Error issueError(const config::Certificate& cert, const Error& error) {
  if (error.reason == "trust_domain_mismatch")
    return at(cert.uris_location, "spec.uris", error.message);
  if (error.reason == "duration_too_large")
    return at(cert.duration_location, "spec.duration", error.message);
  Error out = error;
  out.message = cert.location.str() + ": " + cert.describe() + ": " + error.message;
  return out;
}

}  // namespace

std::string_view actionName(ApplyAction action) {
  switch (action) {
    case ApplyAction::kIssued:
      return "issued";
    case ApplyAction::kRenewed:
      return "renewed";
    case ApplyAction::kUpToDate:
      return "up-to-date";
  }
  return "?";
}

std::optional<TimePoint> ApplyReport::nextRenewal() const {
  std::optional<TimePoint> next;
  for (const auto& c : certificates) {
    if (!next || c.renew_at < *next) next = c.renew_at;
  }
  return next;
}

bool ApplyReport::changed() const {
  return std::any_of(certificates.begin(), certificates.end(),
                     [](const auto& c) { return c.action != ApplyAction::kUpToDate; });
}

Result<ApplyReport> reconcile(const ApplyInputs& inputs, const fs::path& state,
                              const Clock& clock) {
  auto manifests = config::loadManifests(inputs.paths);
  if (!manifests) return fail(manifests.error());
  auto resources = config::parseCertManagerResources(*manifests);
  if (!resources) return fail(resources.error());
  std::error_code ec;
  if (fs::exists(state, ec) && !fs::is_directory(state, ec)) {
    return invalidArgument("--state " + state.string() + ": not a directory");
  }
  const TimePoint now = clock.now();

  // 1. Resolve every Certificate's issuer and CA, and read what is on disk.
  std::map<const config::Issuer*, IssuerCa> cas;
  struct Plan {
    const config::Certificate* cert;
    const IssuerCa* ca;
    fs::path dir;
    json spec;
    Existing existing;
    Decision decision;
  };
  std::vector<Plan> plans;
  for (const auto& cert : resources->certificates) {
    auto issuer = findIssuer(*resources, cert);
    if (!issuer) return fail(issuer.error());
    auto it = cas.find(*issuer);
    if (it == cas.end()) {
      auto secret = findCaSecret(*resources, **issuer);
      if (!secret) return fail(secret.error());
      auto loaded = loadIssuerCa(**issuer, **secret);
      if (!loaded) return fail(loaded.error());
      it = cas.emplace(*issuer, std::move(*loaded)).first;
    }
    const fs::path dir = state / cert.namespace_name / cert.secret_name;
    Plan plan{&cert, &it->second, dir, normalizedSpec(cert), readExisting(dir), {}};
    plan.decision = decide(cert, it->second, plan.existing, plan.spec, now);
    plans.push_back(std::move(plan));
  }

  // 2. Sign everything that needs it, in memory.
  ApplyReport report;
  std::vector<FileWrite> writes;
  for (auto& plan : plans) {
    const auto& cert = *plan.cert;
    CertificateOutcome outcome;
    outcome.namespace_name = cert.namespace_name;
    outcome.name = cert.name;
    outcome.secret_name = cert.secret_name;
    outcome.dir = plan.dir;
    outcome.action = plan.decision.action;
    outcome.reason = plan.decision.reason;
    if (!plan.decision.issue) {
      const Certificate& leaf = *plan.existing.leaf;
      LeafPem pem{*plan.existing.tls_crt, *plan.existing.tls_key, *plan.existing.ca_crt};
      const std::string secret_yaml = renderSecretYaml(cert, *plan.ca->issuer, leaf, pem);
      if (plan.existing.secret_yaml != secret_yaml) {
        writes.push_back({plan.dir / "secret.yaml", secret_yaml, kPrivateKeyMode});
        outcome.reason = "secret.yaml rewritten";
      }
      outcome.serial = leaf.serialHex();
      outcome.not_before = leaf.notBefore();
      outcome.not_after = leaf.notAfter();
      outcome.renew_at = cert.renewalTime(outcome.not_before, outcome.not_after);
      report.certificates.push_back(std::move(outcome));
      continue;
    }
    std::optional<PrivateKey> reuse;
    if (cert.private_key.rotation_policy == config::RotationPolicy::kNever && plan.existing.key) {
      const auto type = plan.existing.key->type();
      if (!type || *type != cert.private_key.key_type) {
        return fail(at(cert.location, "spec.privateKey",
                       "rotationPolicy is Never but the existing key " +
                           (plan.dir / "tls.key").string() + " is " +
                           plan.existing.key->describe() + " and the spec asks for " +
                           std::string(crypto::keyTypeName(cert.private_key.key_type)) +
                           "; delete that key or set rotationPolicy: Always"));
      }
      reuse = std::move(plan.existing.key);
    }
    auto issued = ca::issueCertificate(plan.ca->authority, cert.request, clock, std::move(reuse));
    if (!issued) return fail(issueError(cert, issued.error()));
    auto pem = renderIssued(*issued);
    if (!pem) return fail(pem.error());
    writes.push_back({plan.dir / "ca.crt", pem->ca_crt, 0644});
    writes.push_back({plan.dir / "tls.crt", pem->tls_crt, 0644});
    writes.push_back({plan.dir / "tls.key", pem->tls_key, kPrivateKeyMode});
    writes.push_back({plan.dir / "secret.yaml",
                      renderSecretYaml(cert, *plan.ca->issuer, issued->cert, *pem),
                      kPrivateKeyMode});
    // Last: a crash before this leaves a record that no longer matches, so the next run
    // reissues rather than trusting half-written files.
    writes.push_back(
        {plan.dir / kStateFile, renderState(cert, *plan.ca, plan.spec, issued->cert, now), 0644});
    outcome.serial = issued->cert.serialHex();
    outcome.not_before = issued->cert.notBefore();
    outcome.not_after = issued->cert.notAfter();
    outcome.renew_at = cert.renewalTime(outcome.not_before, outcome.not_after);
    outcome.note = issued->note;
    report.certificates.push_back(std::move(outcome));
  }

  // 3. Write, as one set: every file is staged before any is renamed, so a failure (no
  // space, a directory in the way) leaves all the old files. Only I/O can fail from here on.
  if (auto ok = writeFilesAtomic(writes); !ok) {
    Error error = ok.error();
    error.code = Code::kInternal;
    return fail(std::move(error));
  }
  return report;
}

void printReportTable(std::ostream& out, const ApplyReport& report) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : report.certificates) {
    rows.push_back({c.namespace_name, c.name, c.secret_name, std::string(actionName(c.action)),
                    formatRfc3339(c.not_after), formatRfc3339(c.renew_at), c.reason});
  }
  cli::printTable(out, {"namespace", "name", "secret", "action", "not after", "renew at", "reason"},
                  rows);
}

void printReportJson(std::ostream& out, const ApplyReport& report, bool pretty) {
  json certificates = json::array();
  for (const auto& c : report.certificates) {
    certificates.push_back({
        {"namespace", c.namespace_name},
        {"name", c.name},
        {"secretName", c.secret_name},
        {"action", actionName(c.action)},
        {"reason", c.reason},
        {"path", c.dir.string()},
        {"serial", c.serial},
        {"notBefore", formatRfc3339(c.not_before)},
        {"notAfter", formatRfc3339(c.not_after)},
        {"renewAt", formatRfc3339(c.renew_at)},
        {"note", c.note},
    });
  }
  json doc = {{"certificates", certificates}};
  const auto next = report.nextRenewal();
  doc["nextRenewal"] = next ? json(formatRfc3339(*next)) : json(nullptr);
  out << doc.dump(pretty ? 2 : -1) << "\n";
}

namespace {

// ---- the command -------------------------------------------------------------------------------

struct ApplyFlags {
  std::vector<std::string> files;
  std::string state;
  bool watch = false;
  std::string output = "table";
};

// How often --watch looks at the manifest files, and how often it reconciles anyway (to
// notice deleted or damaged output files).
constexpr std::chrono::seconds kPollInterval{2};
constexpr std::chrono::seconds kResyncInterval{60};

ApplyInputs inputsOf(const ApplyFlags& flags) {
  ApplyInputs inputs;
  for (const auto& file : flags.files) inputs.paths.emplace_back(file);
  return inputs;
}

void printReport(const ApplyReport& report, cli::Output output, bool pretty) {
  if (output == cli::Output::kJson) {
    printReportJson(std::cout, report, pretty);
  } else {
    printReportTable(std::cout, report);
  }
  std::cout.flush();
  for (const auto& c : report.certificates) {
    if (!c.note.empty()) {
      std::cerr << "mutual: note: Certificate " << c.namespace_name << "/" << c.name << ": "
                << c.note << "\n";
    }
  }
}

int runOnce(const ApplyFlags& flags, cli::Output output) {
  RealClock clock;
  auto report = reconcile(inputsOf(flags), flags.state, clock);
  if (!report) return cli::reportError(report.error());
  printReport(*report, output, /*pretty=*/true);
  return kExitOk;
}

// The manifests' bytes, to notice edits (content, not mtimes: `cp -p` and quick saves keep
// those).
std::string inputSnapshot(const ApplyInputs& inputs) {
  auto files = config::manifestFiles(inputs.paths);
  if (!files) return "error: " + files.error().message;
  std::string out;
  for (const auto& file : *files) {
    out += file.string() + '\0';
    out += readFile(file).value_or("<unreadable>") + '\0';
  }
  return out;
}

// Blocks SIGINT and SIGTERM in this thread for its lifetime and waits for them synchronously,
// so --watch needs no async-signal handler or global flag.
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SignalWaiter() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // Waits up to `timeout`; the signal number, or 0 when the time ran out.
  int wait(std::chrono::milliseconds timeout) {
    const auto ms = std::max<int64_t>(0, timeout.count());
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
    while (true) {
      const int sig = sigtimedwait(&set_, nullptr, &ts);
      if (sig > 0) return sig;
      if (errno != EINTR) return 0;
    }
  }

 private:
  sigset_t set_;
  sigset_t old_;
};

int runWatch(const ApplyFlags& flags, cli::Output output) {
  SignalWaiter signals;
  RealClock clock;
  const ApplyInputs inputs = inputsOf(flags);
  std::string last_snapshot;
  std::string last_error;
  std::optional<TimePoint> next_renewal;
  TimePoint next_resync{};
  bool first = true;
  while (true) {
    const TimePoint now = clock.now();
    std::string snapshot = inputSnapshot(inputs);
    const bool due = first || snapshot != last_snapshot || (next_renewal && now >= *next_renewal) ||
                     now >= next_resync;
    if (due) {
      last_snapshot = std::move(snapshot);
      next_resync = now + kResyncInterval;
      auto report = reconcile(inputs, flags.state, clock);
      if (!report) {
        // At start, bad input ends the command; later (an edit half saved) it is reported once
        // and the watch goes on with the files as they are.
        if (first) return cli::reportError(report.error());
        if (report.error().message != last_error) {
          cli::reportError(report.error());
          last_error = report.error().message;
        }
      } else {
        last_error.clear();
        if (first || report->changed()) printReport(*report, output, /*pretty=*/false);
        next_renewal = report->nextRenewal();
      }
      first = false;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kPollInterval);
    if (next_renewal) {
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(*next_renewal - clock.now());
      wait = std::clamp(until, std::chrono::milliseconds(0), wait);
    }
    if (const int sig = signals.wait(wait)) {
      std::cerr << "mutual: apply --watch: " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                << ", stopping\n";
      return kExitOk;
    }
  }
}

}  // namespace

void registerApplyCommand(CLI::App& root, int& exit_code) {
  auto flags = std::make_shared<ApplyFlags>();
  CLI::App* apply = root.add_subcommand(
      "apply",
      "Issue and renew the certificates that cert-manager Certificate manifests describe, "
      "into files (cert-manager without Kubernetes)");
  apply
      ->add_option("-f,--filename", flags->files,
                   "Manifest files or folders (*.yaml, *.yml, *.json): Certificate, Issuer, "
                   "ClusterIssuer (type ca) and the CA Secret")
      ->required();
  apply
      ->add_option("--state", flags->state,
                   "Output folder: <namespace>/<secretName>/{tls.crt,tls.key,ca.crt,"
                   "secret.yaml}")
      ->required();
  apply->add_flag("--watch", flags->watch,
                  "Keep running: re-read the manifests when they change and renew each "
                  "certificate when due; stop on SIGINT or SIGTERM");
  apply->add_option("-o,--output", flags->output, "Output format: table or json")
      ->capture_default_str();
  apply->callback([flags, &exit_code] {
    auto output = cli::parseOutput(flags->output, {"table", "json"});
    if (!output) {
      exit_code = cli::reportError(output.error());
      return;
    }
    exit_code = flags->watch ? runWatch(*flags, *output) : runOnce(*flags, *output);
  });
}

}  // namespace mutual::app
