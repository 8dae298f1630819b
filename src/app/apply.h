#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/clock.h"
#include "base/error.h"

// `mutual apply`: cert-manager for people without Kubernetes. It reads Certificate, Issuer,
// ClusterIssuer and Secret manifests and keeps, for each Certificate, the files a
// kubernetes.io/tls Secret would hold under STATE/<namespace>/<secretName>/:
//
//   tls.crt       the certificate, then the intermediates above it (0644)
//   tls.key       its PKCS#8 key (0600)
//   ca.crt        the issuer's roots (0644)
//   secret.yaml   the same as a Kubernetes Secret manifest, base64 data (0600: it holds the key)
//   .mutual-spec.json  what it was issued for: the normalized spec, the issuer and its CA
//                      fingerprints, serial and validity (0644)
//
// A certificate is (re)issued only when it is missing or invalid, its spec changed, its
// issuer or the issuer's CA changed, or it is within renewBefore of expiry; otherwise it is
// reported up to date and nothing is written.
namespace mutual::app {

struct ApplyInputs {
  std::vector<std::filesystem::path> paths;  // manifest files and folders, as for -f
};

enum class ApplyAction { kIssued, kRenewed, kUpToDate };
// "issued", "renewed", "up-to-date".
std::string_view actionName(ApplyAction action);

struct CertificateOutcome {
  std::string namespace_name;
  std::string name;
  std::string secret_name;
  ApplyAction action = ApplyAction::kUpToDate;
  // Why it was issued or renewed ("new certificate", "spec changed: duration", "due for
  // renewal", ...); for an up-to-date one, "" or what else was refreshed ("secret.yaml
  // rewritten").
  std::string reason;
  std::filesystem::path dir;
  std::string serial;  // lowercase hex
  TimePoint not_before;
  TimePoint not_after;
  TimePoint renew_at;
  // The `ca` module's note when the lifetime was capped by the CA's own expiry; only for
  // certificates issued in this run. Never dropped: the CLI prints it.
  std::string note;
};

struct ApplyReport {
  std::vector<CertificateOutcome> certificates;  // in manifest order

  // The earliest renew_at; nullopt when there are no certificates.
  std::optional<TimePoint> nextRenewal() const;
  // True when anything was issued or renewed.
  bool changed() const;
};

// Reconciles every Certificate in `inputs` to files under `state`, with `clock` as now.
//
// Everything is read, validated and resolved first (issuers, CA Secrets, existing files, and
// every new certificate is signed in memory); only then is anything written. So any bad input
// (a validation error, a Certificate naming a missing issuer, a missing or unusable CA Secret,
// rotationPolicy Never with an existing key of another type) is an error with "file:line:
// field" and nothing is written for any certificate. Those errors are InvalidArgument (or
// NotFound for a missing -f path, FailedPrecondition for an expired CA); write failures are
// Internal.
//
// Issuers: issuerRef.kind Issuer (default) is looked up in the Certificate's namespace;
// ClusterIssuer is cluster-wide. An Issuer's CA Secret must be in the Issuer's namespace. A
// ClusterIssuer's Secret is looked up in "cert-manager" (cert-manager's default cluster
// resource namespace); failing that, a Secret of that name in exactly one other namespace
// among the inputs is accepted (several: an ambiguity error).
//
// The CA Secret: tls.crt is the CA certificate, then any intermediates above it up to (not
// including) the root; tls.key its key; ca.crt, when present, the roots. Without ca.crt the
// roots are the self-signed CA itself, or a self-signed certificate at the end of tls.crt.
Result<ApplyReport> reconcile(const ApplyInputs& inputs, const std::filesystem::path& state,
                              const Clock& clock);

// The report as a table (NAMESPACE NAME SECRET ACTION NOT AFTER RENEW AT REASON) or as JSON.
void printReportTable(std::ostream& out, const ApplyReport& report);
void printReportJson(std::ostream& out, const ApplyReport& report, bool pretty);

// Registers `mutual apply -f FILE... --state DIR [--watch] [-o table|json]`; the exit code
// lands in exit_code: 0 ok, 2 bad input, 1 internal failure. TTL-capping notes go to stderr
// ("mutual: note: ...") and into the JSON.
//
// --watch reconciles, then sleeps until the earliest renewal time, polling the manifest files
// every 2 s (by content) and reconciling again when they change, and every 60 s regardless
// (to repair deleted output files). Bad input at start ends it with exit 2; later (an edit
// saved half-way) the error is printed once and the watch carries on. It prints the table
// (or one JSON line) at start and whenever something was issued or renewed. SIGINT or
// SIGTERM ends it with exit 0.
void registerApplyCommand(CLI::App& root, int& exit_code);

}  // namespace mutual::app
