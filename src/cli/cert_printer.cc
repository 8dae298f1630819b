#include "cli/cert_printer.h"

#include <sstream>

#include "base/duration.h"
#include "base/time.h"
#include "spiffe/spiffe_id.h"

namespace mutual::cli {

using crypto::Certificate;

namespace {

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string lifetime(const Certificate& cert, TimePoint now) {
  const auto left = std::chrono::duration_cast<Seconds>(cert.notAfter() - now);
  if (now < cert.notBefore()) {
    return "not valid for another " +
           formatDurationShort(std::chrono::duration_cast<Seconds>(cert.notBefore() - now));
  }
  if (left.count() <= 0) return "EXPIRED " + formatDurationShort(-left) + " ago";
  return "expires in " + formatDurationShort(left);
}

}  // namespace

std::string certificateRole(const Certificate& cert) {
  if (!cert.isCa()) return "leaf";
  return cert.isSelfIssued() ? "root" : "intermediate";
}

std::string spiffeIdOf(const Certificate& cert) {
  const auto uris = cert.uriSans();
  if (uris.size() != 1) return "";
  auto id = spiffe::SpiffeId::parse(uris.front());
  return id ? id->str() : "";
}

std::string certificateSummary(const Certificate& cert, TimePoint now) {
  std::ostringstream out;
  const auto row = [&](const char* label, const std::string& value) {
    if (!value.empty()) out << "  " << label << std::string(20 - std::string(label).size(), ' ')
                            << value << "\n";
  };
  row("Role:", certificateRole(cert));
  row("Subject:", cert.subject().empty() ? "(empty)" : cert.subject());
  row("Issuer:", cert.issuer().empty() ? "(empty)" : cert.issuer());
  row("Serial:", cert.serialHex());
  row("Not before:", formatRfc3339(cert.notBefore()));
  row("Not after:", formatRfc3339(cert.notAfter()) + " (" + lifetime(cert, now) + ")");
  row("SPIFFE ID:", spiffeIdOf(cert));
  row("URIs:", join(cert.uriSans()));
  row("DNS names:", join(cert.dnsSans()));
  row("IP addresses:", join(cert.ipSans()));
  row("Emails:", join(cert.emailSans()));
  std::string ca = cert.isCa() ? "true" : "false";
  if (cert.isCa()) {
    ca += cert.pathLen() ? " (path length " + std::to_string(*cert.pathLen()) + ")"
                         : " (no path length limit)";
  }
  row("CA:", ca);
  if (const auto ku = cert.keyUsage()) {
    row("Key usage:", join(crypto::keyUsageNames(*ku)) +
                          (cert.keyUsageCritical() ? " (critical)" : " (not critical)"));
  } else {
    row("Key usage:", "(none)");
  }
  if (const auto eku = cert.extendedKeyUsage()) row("Extended usage:", join(*eku));
  row("Name constraints:", join(cert.permittedUriConstraints()));
  row("Public key:", cert.publicKeyDescription());
  row("Signature:", cert.signatureAlgorithm());
  row("Subject key ID:", cert.subjectKeyId());
  row("Authority key ID:", cert.authorityKeyId());
  row("SHA-256:", cert.sha256Fingerprint());
  return out.str();
}

nlohmann::json certificateJson(const Certificate& cert, TimePoint now) {
  nlohmann::json j;
  j["role"] = certificateRole(cert);
  j["subject"] = cert.subject();
  j["issuer"] = cert.issuer();
  j["serial"] = cert.serialHex();
  j["not_before"] = formatRfc3339(cert.notBefore());
  j["not_after"] = formatRfc3339(cert.notAfter());
  j["remaining_seconds"] =
      std::chrono::duration_cast<Seconds>(cert.notAfter() - now).count();
  j["expired"] = now >= cert.notAfter();
  const std::string id = spiffeIdOf(cert);
  j["spiffe_id"] = id.empty() ? nlohmann::json() : nlohmann::json(id);
  j["uris"] = cert.uriSans();
  j["dns_names"] = cert.dnsSans();
  j["ip_addresses"] = cert.ipSans();
  j["emails"] = cert.emailSans();
  j["is_ca"] = cert.isCa();
  j["path_len"] = cert.pathLen() ? nlohmann::json(*cert.pathLen()) : nlohmann::json();
  const auto ku = cert.keyUsage();
  j["key_usage"] = ku ? crypto::keyUsageNames(*ku) : std::vector<std::string>{};
  j["key_usage_critical"] = cert.keyUsageCritical();
  const auto eku = cert.extendedKeyUsage();
  j["extended_key_usage"] = eku ? *eku : std::vector<std::string>{};
  j["permitted_uri_constraints"] = cert.permittedUriConstraints();
  j["public_key"] = cert.publicKeyDescription();
  j["signature_algorithm"] = cert.signatureAlgorithm();
  j["subject_key_id"] = cert.subjectKeyId();
  j["authority_key_id"] = cert.authorityKeyId();
  j["sha256_fingerprint"] = cert.sha256Fingerprint();
  return j;
}

}  // namespace mutual::cli
