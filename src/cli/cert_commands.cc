#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/file.h"
#include "base/time.h"
#include "ca/authority.h"
#include "cli/cert_printer.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "crypto/chain_verify.h"
#include "spiffe/bundle.h"
#include "spiffe/x509_svid.h"

namespace mutual::cli {

namespace fs = std::filesystem;
using crypto::Certificate;
using nlohmann::json;

namespace {

// ---- shared helpers --------------------------------------------------------------------------

Result<std::vector<Certificate>> readCertificates(const std::string& path) {
  auto data = readFile(path);
  if (!data) return fail(data.error());
  auto certs = crypto::parseCertificates(*data);
  if (!certs) return fail(certs.error().prefix(path));
  return certs;
}

Result<ca::Usages> parseUsages(const std::string& text) {
  ca::Usages usages{false, false, 0};
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    if (item == "server") {
      usages.server_auth = true;
    } else if (item == "client") {
      usages.client_auth = true;
    } else {
      return invalidArgument("--usage: unknown usage \"" + item + "\" (expected server, client "
                             "or server,client)");
    }
    start = comma + 1;
  }
  return usages;
}

// ---- cert issue ------------------------------------------------------------------------------

struct IssueFlags {
  std::string ca;
  std::string spiffe_id;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  std::string ttl = "1h";
  std::string usage = "server,client";
  std::string key = "ec-p256";
  std::string out;
};

int runIssue(const IssueFlags& f) {
  if (f.out.empty()) {
    return reportError(Error{Code::kInvalidArgument,
                             "--out: must not be empty (write \".\" for the current directory)",
                             ""});
  }
  auto id = spiffe::SpiffeId::parse(f.spiffe_id);
  if (!id) return reportError(id.error().prefix("--spiffe-id"));
  auto ttl = parseTtl(f.ttl, std::chrono::system_clock::now());
  if (!ttl) return reportError(ttl.error());
  auto key = crypto::parseKeyType(f.key);
  if (!key) return reportError(key.error().prefix("--key"));
  auto usages = parseUsages(f.usage);
  if (!usages) return reportError(usages.error());
  // The rule `cert verify` (and any peer) applies to dNSName SANs, and `apply`'s: never sign
  // what would then be refused.
  for (const auto& name : f.dns) {
    if (!crypto::isPreferredDnsName(name)) {
      return reportError(Error{Code::kInvalidArgument,
                               "--dns: invalid DNS name \"" + name + "\" (dot-separated labels "
                               "of letters, digits, inner hyphens; \"*\" only as a whole "
                               "leftmost label)",
                               ""});
    }
  }
  auto authority = ca::loadAuthority(f.ca);
  if (!authority) return reportError(authority.error());
  RealClock clock;
  ca::WorkloadOptions options{*id, f.dns, f.ips, *ttl, *usages, *key};
  auto issued = ca::issueWorkload(*authority, options, clock);
  if (!issued) return reportError(issued.error());
  if (auto ok = ca::writeLeaf(f.out, *issued); !ok) return reportError(ok.error());
  if (!issued->note.empty()) std::cerr << "warning: " << issued->note << "\n";
  const fs::path out = f.out;
  std::cout << "Issued X509-SVID " << id->str() << "\n"
            << "  certificate  " << (out / "tls.crt").string() << " (leaf + "
            << issued->chain.size() << " intermediate" << (issued->chain.size() == 1 ? "" : "s")
            << ")\n"
            << "  private key  " << (out / "tls.key").string() << " (mode 0600)\n"
            << "  bundle       " << (out / "ca.crt").string() << "\n"
            << "  serial       " << issued->cert.serialHex() << "\n"
            << "  valid until  " << formatRfc3339(issued->cert.notAfter()) << "\n";
  return kExitOk;
}

// ---- cert inspect ----------------------------------------------------------------------------

struct InspectFlags {
  std::string file;
  std::string output = "text";
};

int runInspect(const InspectFlags& f) {
  auto output = parseOutput(f.output, {"text", "json"});
  if (!output) return reportError(output.error());
  auto data = readFile(f.file);
  if (!data) return reportError(data.error());
  std::vector<Certificate> certs;
  const auto first = data->find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (*data)[first] == '{') {
    // A SPIFFE bundle: its authorities are what there is to inspect.
    auto bundle = spiffe::parseSpiffeBundle(*spiffe::TrustDomain::parse("bundle"), *data);
    if (!bundle) return reportError(bundle.error().prefix(f.file));
    certs = std::move(bundle->authorities);
    if (certs.empty()) return reportError(Error{Code::kInvalidArgument, f.file + ": the bundle "
                                                "holds no X.509 authorities", ""});
  } else {
    auto parsed = crypto::parseCertificates(*data);
    if (!parsed) return reportError(parsed.error().prefix(f.file));
    certs = std::move(*parsed);
  }
  const TimePoint now = std::chrono::system_clock::now();
  if (*output == Output::kJson) {
    json list = json::array();
    for (const auto& c : certs) list.push_back(certificateJson(c, now));
    std::cout << json{{"file", f.file}, {"certificates", list}}.dump(2) << "\n";
    return kExitOk;
  }
  for (size_t i = 0; i < certs.size(); ++i) {
    if (i > 0) std::cout << "\n";
    std::cout << "Certificate " << i + 1 << " of " << certs.size() << "\n"
              << certificateSummary(certs[i], now) << "\n"
              << certs[i].text();
  }
  return kExitOk;
}

// ---- cert verify -----------------------------------------------------------------------------

struct VerifyFlags {
  std::string file;
  std::string bundle;
  std::string untrusted;
  std::vector<std::string> spiffe_ids;
  std::string trust_domain;
  std::string dns;
  std::string ip;
  std::string at;
  std::string purpose = "any";
  int max_intermediates = -1;
  std::string output = "text";
};

struct VerifyInput {
  std::vector<Certificate> chain;  // leaf first
  std::vector<Certificate> bundle_certs;
  bool bundle_is_json = false;
  std::string bundle_text;
  crypto::ChainOptions chain_options;
  spiffe::SvidOptions svid_options;
  bool svid = false;
};

Result<VerifyInput> readVerifyInput(const VerifyFlags& f) {
  VerifyInput in;
  auto chain = readCertificates(f.file);
  if (!chain) return fail(chain.error());
  in.chain = std::move(*chain);
  if (!f.untrusted.empty()) {
    auto extra = readCertificates(f.untrusted);
    if (!extra) return fail(extra.error());
    in.chain.insert(in.chain.end(), extra->begin(), extra->end());
  }
  auto bundle_text = readFile(f.bundle);
  if (!bundle_text) return fail(bundle_text.error());
  const auto first = bundle_text->find_first_not_of(" \t\r\n");
  in.bundle_is_json = first != std::string::npos && (*bundle_text)[first] == '{';
  in.bundle_text = *bundle_text;
  if (!in.bundle_is_json) {
    auto roots = crypto::parseCertificates(*bundle_text);
    if (!roots) return fail(roots.error().prefix(f.bundle));
    in.bundle_certs = std::move(*roots);
  }
  TimePoint at = std::chrono::system_clock::now();
  if (!f.at.empty()) {
    auto parsed = parseTime(f.at);
    if (!parsed) return fail(parsed.error().prefix("--at"));
    at = *parsed;
  }
  crypto::Purpose purpose;
  if (f.purpose == "server") {
    purpose = crypto::Purpose::kServerAuth;
  } else if (f.purpose == "client") {
    purpose = crypto::Purpose::kClientAuth;
  } else if (f.purpose == "any") {
    purpose = crypto::Purpose::kAny;
  } else {
    return invalidArgument("--purpose: expected server, client or any, got \"" + f.purpose + "\"");
  }
  in.chain_options.at = at;
  in.chain_options.purpose = purpose;
  if (!f.dns.empty()) in.chain_options.dns_name = f.dns;
  if (!f.ip.empty()) in.chain_options.ip_address = f.ip;
  if (f.max_intermediates >= 0) in.chain_options.max_intermediates = f.max_intermediates;
  in.svid_options.at = at;
  in.svid_options.purpose = purpose;
  in.svid_options.dns_name = in.chain_options.dns_name;
  in.svid_options.max_intermediates = in.chain_options.max_intermediates;
  for (const auto& text : f.spiffe_ids) {
    auto id = spiffe::SpiffeId::parse(text);
    if (!id) return fail(id.error().prefix("--spiffe-id"));
    in.svid_options.allowed_ids.push_back(*id);
  }
  if (!f.trust_domain.empty()) {
    auto td = spiffe::TrustDomain::parse(f.trust_domain);
    if (!td) return fail(td.error().prefix("--trust-domain"));
    in.svid_options.trust_domain = *td;
  }
  // SPIFFE rules apply when asked for, or when the leaf carries a spiffe:// URI.
  bool leaf_has_spiffe_uri = false;
  for (const auto& uri : in.chain.front().uriSans()) {
    leaf_has_spiffe_uri = leaf_has_spiffe_uri || uri.rfind("spiffe://", 0) == 0;
  }
  in.svid = leaf_has_spiffe_uri || !f.spiffe_ids.empty() || !f.trust_domain.empty();
  if (in.svid && in.chain_options.ip_address) {
    return invalidArgument("--ip applies to plain X.509 verification, not to X509-SVIDs");
  }
  if (in.bundle_is_json && !in.svid) {
    return invalidArgument("--bundle " + f.bundle + " is a SPIFFE bundle, but the certificate has "
                           "no SPIFFE ID; pass a PEM bundle or --trust-domain");
  }
  return in;
}

// The trust domain whose bundle a SPIFFE JSON file describes: --trust-domain, else the leaf's.
Result<spiffe::TrustDomain> bundleTrustDomain(const VerifyInput& in) {
  if (in.svid_options.trust_domain) return *in.svid_options.trust_domain;
  for (const auto& uri : in.chain.front().uriSans()) {
    if (auto id = spiffe::SpiffeId::parse(uri)) return id->trustDomain();
  }
  return invalidArgument("cannot tell the bundle's trust domain: pass --trust-domain");
}

// The bundles --bundle stands for. The certificates are grouped by the SPIFFE IDs they carry
// (mutual's CAs name their trust domain in a URI SAN), so a root of other.org never vouches
// for a leaf claiming spiffe://example.org (X509-SVID §5: a leaf is checked against its own
// trust domain's bundle only), whatever --trust-domain says and whether the file is PEM or a
// SPIFFE bundle. Certificates without an ID join the bundle of `td` (--trust-domain, else the
// leaf's): nothing else says where they belong.
Result<spiffe::BundleSet> bundlesByTrustDomain(const std::vector<Certificate>& certs,
                                               const spiffe::TrustDomain& td) {
  std::map<spiffe::TrustDomain, std::vector<Certificate>> groups;
  for (const auto& cert : certs) {
    std::optional<spiffe::TrustDomain> cert_td;
    for (const auto& uri : cert.uriSans()) {
      if (auto id = spiffe::SpiffeId::parse(uri); id && !cert_td) cert_td = id->trustDomain();
    }
    groups[cert_td.value_or(td)].push_back(cert);
  }
  spiffe::BundleSet set;
  for (auto& [td, authorities] : groups) {
    if (auto ok = set.put({td, std::move(authorities), std::nullopt, std::nullopt, {}}); !ok) {
      return fail(ok.error());
    }
  }
  return set;
}

struct Verdict {
  bool valid = false;
  std::string profile;
  std::string reason;
  std::string message;
  std::string spiffe_id;
  std::vector<Certificate> path;
};

Result<Verdict> verify(const VerifyFlags& f, const VerifyInput& in) {
  Verdict v;
  if (in.svid) {
    v.profile = "x509-svid";
    // A leaf that breaks the X509-SVID profile (an ID with a port, say) is an invalid
    // certificate whatever the bundle: say so before asking which trust domain it is in.
    if (auto id = spiffe::checkLeafProfile(in.chain.front()); !id) {
      v.reason = id.error().reason;
      v.message = id.error().message;
      return v;
    }
    auto td = bundleTrustDomain(in);
    if (!td) return fail(td.error());
    std::vector<Certificate> authorities = in.bundle_certs;
    if (in.bundle_is_json) {
      auto bundle = spiffe::parseSpiffeBundle(*td, in.bundle_text);
      if (!bundle) return fail(bundle.error().prefix(f.bundle));
      authorities = std::move(bundle->authorities);
    }
    auto set = bundlesByTrustDomain(authorities, *td);
    if (!set) return fail(set.error().prefix(f.bundle));
    auto result = spiffe::verifyX509Svid(in.chain, *set, in.svid_options);
    if (!result) {
      v.reason = result.error().reason;
      v.message = result.error().message;
      return v;
    }
    v.valid = true;
    v.spiffe_id = result->id.str();
    v.path = std::move(result->path);
    return v;
  }
  v.profile = "x509";
  auto store = crypto::TrustStore::create(in.bundle_certs);
  if (!store) return fail(store.error());
  const std::vector<Certificate> untrusted(in.chain.begin() + 1, in.chain.end());
  auto path = crypto::verifyChain(in.chain.front(), untrusted, *store, in.chain_options);
  if (!path) {
    if (path.error().code == Code::kInvalidArgument) return fail(path.error());
    v.reason = path.error().reason;
    v.message = path.error().message;
    return v;
  }
  v.valid = true;
  v.path = std::move(*path);
  return v;
}

int runVerify(const VerifyFlags& f) {
  auto output = parseOutput(f.output, {"text", "json"});
  if (!output) return reportError(output.error());
  auto in = readVerifyInput(f);
  if (!in) return reportError(in.error());
  auto verdict = verify(f, *in);
  if (!verdict) return reportError(verdict.error());
  std::vector<std::string> path;
  for (const auto& c : verdict->path) {
    path.push_back(c.subject().empty() ? spiffeIdOf(c) : c.subject());
  }
  if (*output == Output::kJson) {
    json j{{"file", f.file},
           {"valid", verdict->valid},
           {"profile", verdict->profile},
           {"reason", verdict->valid ? json() : json(verdict->reason)},
           {"message", verdict->valid ? json() : json(verdict->message)},
           {"spiffe_id", verdict->spiffe_id.empty() ? json() : json(verdict->spiffe_id)},
           {"chain", path},
           {"at", formatRfc3339(in->chain_options.at)}};
    std::cout << j.dump(2) << "\n";
  } else if (verdict->valid) {
    std::cout << "OK " << f.file;
    if (!verdict->spiffe_id.empty()) std::cout << ": " << verdict->spiffe_id;
    std::cout << "\n  chain: ";
    for (size_t i = 0; i < path.size(); ++i) std::cout << (i ? " -> " : "") << path[i];
    std::cout << "\n";
  } else {
    std::cout << "INVALID " << f.file << " [" << verdict->reason << "]: " << verdict->message
              << "\n";
  }
  return verdict->valid ? kExitOk : kExitFailed;
}

// ---- cert expiry -----------------------------------------------------------------------------

struct ExpiryFlags {
  std::vector<std::string> paths;
  std::string warn = "8h";
  std::string output = "table";
};

struct Found {
  std::string file;
  size_t index;
  Certificate cert;
};

// Collects certificates from files and (recursively) folders. A file named on the command line
// must hold certificates. Inside folders, files that are not certificates are skipped: quietly
// when they do not mention a PEM certificate, with a one-line warning on stderr when they do
// but cannot be read as certificates (a text quoting the marker, a binary, a truncated .pem),
// so one odd file never hides the others' expiry.
Result<std::vector<Found>> collect(const std::vector<std::string>& paths) {
  std::vector<Found> found;
  const auto scan = [&](const fs::path& file, bool named) -> Result<void> {
    auto data = readFile(file);
    if (!data) {
      if (named) return fail(data.error());
      std::cerr << "mutual: warning: skipped " << data.error().message << "\n";
      return {};
    }
    const bool looks_pem = data->find("-----BEGIN CERTIFICATE-----") != std::string::npos;
    if (!named && !looks_pem) return {};
    auto certs = crypto::parseCertificates(*data);
    if (!certs) {
      if (named) return fail(certs.error().prefix(file.string()));
      std::cerr << "mutual: warning: skipped " << file.string() << ": " << certs.error().message
                << "\n";
      return {};
    }
    for (size_t i = 0; i < certs->size(); ++i) found.push_back({file.string(), i + 1, (*certs)[i]});
    return {};
  };
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::end(it);
           it.increment(ec)) {
        if (it->is_regular_file()) files.push_back(it->path());
      }
      if (ec) return fail(Code::kInvalidArgument, p + ": " + ec.message());
      std::sort(files.begin(), files.end());
      for (const auto& file : files) {
        if (auto ok = scan(file, false); !ok) return fail(ok.error());
      }
    } else if (auto ok = scan(p, true); !ok) {
      return fail(ok.error());
    }
  }
  return found;
}

int runExpiry(const ExpiryFlags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return reportError(output.error());
  auto warn = parseDuration(f.warn);
  if (!warn) return reportError(warn.error().prefix("--warn"));
  auto found = collect(f.paths);
  if (!found) return reportError(found.error());
  std::stable_sort(found->begin(), found->end(), [](const Found& a, const Found& b) {
    return a.cert.notAfter() < b.cert.notAfter();
  });
  const TimePoint now = std::chrono::system_clock::now();
  bool any_problem = false;
  json list = json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : *found) {
    const auto left = std::chrono::duration_cast<Seconds>(item.cert.notAfter() - now);
    std::string status = "ok";
    if (left.count() <= 0) {
      status = "expired";
    } else if (left <= *warn) {
      status = "expiring";
    } else if (now < item.cert.notBefore()) {
      status = "not_yet_valid";
    }
    any_problem = any_problem || status == "expired" || status == "expiring";
    std::string name = item.cert.isCa() ? item.cert.subject() : spiffeIdOf(item.cert);
    if (name.empty()) name = item.cert.subject();
    if (*output == Output::kJson) {
      json j = certificateJson(item.cert, now);
      j["file"] = item.file;
      j["index"] = item.index;
      j["status"] = status;
      list.push_back(std::move(j));
    } else {
      std::string upper = status;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      rows.push_back({upper, left.count() <= 0 ? "-" : formatDurationShort(left),
                      formatRfc3339(item.cert.notAfter()), certificateRole(item.cert), name,
                      item.file + (item.index > 1 ? "#" + std::to_string(item.index) : "")});
    }
  }
  if (*output == Output::kJson) {
    std::cout << json{{"warn_seconds", warn->count()}, {"certificates", list}}.dump(2) << "\n";
  } else if (rows.empty()) {
    std::cout << "no certificates found\n";
  } else {
    printTable(std::cout, {"status", "expires in", "not after", "role", "name", "file"}, rows);
  }
  return any_problem ? kExitFailed : kExitOk;
}

}  // namespace

void registerCertCommands(CLI::App& root, int& exit_code) {
  CLI::App* cert = root.add_subcommand("cert", "Issue, inspect and verify certificates");
  cert->require_subcommand(1);

  auto issue = std::make_shared<IssueFlags>();
  CLI::App* issue_cmd = cert->add_subcommand("issue", "Issue a workload X509-SVID");
  issue_cmd->add_option("--ca", issue->ca, "Directory of the signing CA")->required();
  issue_cmd->add_option("--spiffe-id", issue->spiffe_id, "spiffe://TD/path")->required();
  issue_cmd->add_option("--dns", issue->dns, "DNS SAN (repeatable)");
  issue_cmd->add_option("--ip", issue->ips, "IP SAN (repeatable)");
  issue_cmd->add_option("--ttl", issue->ttl, "Lifetime (Go duration)")->capture_default_str();
  issue_cmd->add_option("--usage", issue->usage, "server, client or server,client")
      ->capture_default_str();
  issue_cmd->add_option("--key", issue->key, std::string(crypto::kKeyTypeChoices))
      ->capture_default_str();
  issue_cmd->add_option("--out", issue->out, "Directory for tls.crt, tls.key, ca.crt")
      ->required();
  issue_cmd->callback([issue, &exit_code] { exit_code = runIssue(*issue); });

  auto inspect = std::make_shared<InspectFlags>();
  CLI::App* inspect_cmd = cert->add_subcommand("inspect", "Show certificates in a file");
  inspect_cmd->add_option("file", inspect->file, "PEM, DER or SPIFFE bundle JSON")->required();
  inspect_cmd->add_option("-o,--output", inspect->output, "text|json")->capture_default_str();
  inspect_cmd->callback([inspect, &exit_code] { exit_code = runInspect(*inspect); });

  auto verify = std::make_shared<VerifyFlags>();
  CLI::App* verify_cmd =
      cert->add_subcommand("verify", "Verify a certificate chain (X509-SVID rules when SPIFFE)");
  verify_cmd->add_option("file", verify->file, "Leaf certificate, optionally followed by its chain")
      ->required();
  verify_cmd->add_option("--bundle", verify->bundle, "Trust bundle: PEM or SPIFFE bundle JSON")
      ->required();
  verify_cmd->add_option("--untrusted", verify->untrusted, "Extra intermediates (PEM)");
  auto* id_opt = verify_cmd->add_option("--spiffe-id", verify->spiffe_ids,
                                        "Expected SPIFFE ID (repeatable: any of them)");
  auto* td_opt = verify_cmd->add_option("--trust-domain", verify->trust_domain,
                                        "Expected trust domain");
  id_opt->excludes(td_opt);
  verify_cmd->add_option("--dns", verify->dns, "Expected DNS name");
  verify_cmd->add_option("--ip", verify->ip, "Expected IP address (plain X.509 only)");
  verify_cmd->add_option("--at", verify->at, "Check validity at RFC 3339 time or Unix seconds");
  verify_cmd->add_option("--purpose", verify->purpose, "server|client|any")
      ->capture_default_str();
  verify_cmd->add_option("--max-intermediates", verify->max_intermediates,
                         "Longest accepted chain of intermediates");
  verify_cmd->add_option("-o,--output", verify->output, "text|json")->capture_default_str();
  verify_cmd->callback([verify, &exit_code] { exit_code = runVerify(*verify); });

  auto expiry = std::make_shared<ExpiryFlags>();
  CLI::App* expiry_cmd =
      cert->add_subcommand("expiry", "List certificates in files and folders, soonest first");
  expiry_cmd->add_option("paths", expiry->paths, "Files or folders")->required();
  expiry_cmd->add_option("--warn", expiry->warn, "Warning window")->capture_default_str();
  expiry_cmd->add_option("-o,--output", expiry->output, "table|json")->capture_default_str();
  expiry_cmd->callback([expiry, &exit_code] { exit_code = runExpiry(*expiry); });
}

}  // namespace mutual::cli
