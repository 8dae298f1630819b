// `mutual agent api fetch x509|jwt`, `mutual agent api validate jwt`, `mutual agent api watch`:
// a Workload API client on the command line, as `spire-agent api ...` (docs/workload-api.md).
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/file.h"
#include "base/time.h"
#include "cli/cert_printer.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "workloadapi/client.h"

namespace mutual::cli {
namespace {

using nlohmann::json;
using workloadapi::X509Context;

struct Flags {
  std::string socket;  // "" -> $SPIFFE_ENDPOINT_SOCKET
  std::string timeout = "5s";
  std::string output = "table";
  std::string write_dir;
  std::vector<std::string> audience;
  std::string spiffe_id;
  std::string svid;
  int count = 0;
};

struct Session {
  std::unique_ptr<workloadapi::Client> client;
  std::chrono::milliseconds timeout{5000};
  Output output = Output::kTable;
};

Result<Session> open(const Flags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return fail(output.error());
  auto timeout = parseDuration(f.timeout);
  if (!timeout) return fail(timeout.error().prefix("--timeout"));
  if (timeout->count() <= 0) return invalidArgument("--timeout must be at least 1s");
  auto client = workloadapi::Client::create(f.socket);
  if (!client) return fail(client.error());
  return Session{std::move(*client),
                 std::chrono::duration_cast<std::chrono::milliseconds>(*timeout), *output};
}

std::string elapsedSince(std::chrono::steady_clock::time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start);
  return std::to_string(ms.count()) + "ms";
}

json certsJson(const std::vector<crypto::Certificate>& certs, TimePoint now) {
  json out = json::array();
  for (const auto& cert : certs) out.push_back(certificateJson(cert, now));
  return out;
}

json x509Json(const X509Context& context, TimePoint now) {
  json svids = json::array();
  for (const auto& svid : context.svids) {
    svids.push_back({{"spiffe_id", svid.id.str()},
                     {"hint", svid.hint},
                     {"serial", svid.leaf().serialHex()},
                     {"not_before", formatRfc3339(svid.leaf().notBefore())},
                     {"not_after", formatRfc3339(svid.leaf().notAfter())},
                     {"key", svid.key->describe()},
                     {"chain", certsJson(svid.chain, now)},
                     {"bundle", certsJson(svid.bundle, now)}});
  }
  json federated = json::object();
  for (const auto& [td, certs] : context.federated_bundles)
    federated[td.name()] = certsJson(certs, now);
  return {{"svids", svids}, {"federated_bundles", federated}, {"crls", context.crls.size()}};
}

void printX509Table(const X509Context& context) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& svid : context.svids) {
    rows.push_back({svid.id.str(), svid.hint.empty() ? "-" : svid.hint, svid.leaf().serialHex(),
                    formatRfc3339(svid.leaf().notBefore()), formatRfc3339(svid.leaf().notAfter()),
                    std::to_string(svid.chain.size() - 1)});
  }
  printTable(std::cout,
             {"spiffe id", "hint", "serial", "valid after", "valid until", "intermediates"}, rows);
  std::cout << "\n";
  rows.clear();
  std::set<std::string> seen;
  const auto addRoots = [&](const std::string& td, const char* kind,
                            const std::vector<crypto::Certificate>& certs) {
    if (!seen.insert(td).second) return;
    for (const auto& cert : certs) {
      rows.push_back({td, kind, cert.subject().empty() ? "-" : cert.subject(), cert.serialHex(),
                      formatRfc3339(cert.notBefore()), formatRfc3339(cert.notAfter())});
    }
  };
  for (const auto& svid : context.svids)
    addRoots(svid.id.trustDomain().name(), "bundle", svid.bundle);
  for (const auto& [td, certs] : context.federated_bundles) addRoots(td.name(), "federated", certs);
  printTable(std::cout, {"trust domain", "kind", "subject", "serial", "valid after", "valid until"},
             rows);
}

// Writes what `spire-agent api fetch x509 -write DIR` writes: svid.<i>.pem (leaf and
// intermediates), svid.<i>.key (0600), bundle.<i>.pem, federated_bundle.<i>.<j>.pem.
Result<std::vector<std::string>> writeX509(const X509Context& context, const std::string& dir) {
  std::vector<std::string> written;
  std::vector<FileWrite> writes;  // written as one set at the end
  const auto put = [&](const std::string& name, const std::string& content,
                       mode_t mode) -> Result<void> {
    const std::string path = (std::filesystem::path(dir) / name).string();
    writes.push_back({path, content, mode});
    written.push_back(path);
    return {};
  };
  for (size_t i = 0; i < context.svids.size(); ++i) {
    const auto& svid = context.svids[i];
    const std::string n = std::to_string(i);
    auto chain = crypto::toPem(svid.chain);
    auto key = svid.key->toPkcs8Pem();
    auto bundle = crypto::toPem(svid.bundle);
    if (!chain) return fail(chain.error());
    if (!key) return fail(key.error());
    if (!bundle) return fail(bundle.error());
    if (auto ok = put("svid." + n + ".pem", *chain, 0644); !ok) return fail(ok.error());
    if (auto ok = put("svid." + n + ".key", *key, kPrivateKeyMode); !ok) return fail(ok.error());
    if (auto ok = put("bundle." + n + ".pem", *bundle, 0644); !ok) return fail(ok.error());
    size_t j = 0;
    for (const auto& [td, certs] : context.federated_bundles) {
      auto pem = crypto::toPem(certs);
      if (!pem) return fail(pem.error());
      if (auto ok = put("federated_bundle." + n + "." + std::to_string(j++) + ".pem", *pem, 0644);
          !ok) {
        return fail(ok.error());
      }
    }
  }
  if (auto ok = writeFilesAtomic(writes); !ok) return fail(ok.error());
  return written;
}

int runFetchX509(const Flags& f) {
  auto session = open(f);
  if (!session) return reportError(session.error());
  const auto start = std::chrono::steady_clock::now();
  auto context = session->client->fetchX509(session->timeout);
  if (!context) return reportError(context.error());
  const std::string elapsed = elapsedSince(start);
  std::vector<std::string> written;
  if (!f.write_dir.empty()) {
    auto files = writeX509(*context, f.write_dir);
    if (!files) return reportError(files.error());
    written = std::move(*files);
  }
  const TimePoint now = std::chrono::system_clock::now();
  if (session->output == Output::kJson) {
    json out = x509Json(*context, now);
    if (!written.empty()) out["written"] = written;
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "Received " << context->svids.size() << " svid"
            << (context->svids.size() == 1 ? "" : "s") << " after " << elapsed << "\n\n";
  printX509Table(*context);
  for (const auto& path : written) std::cout << "wrote " << path << "\n";
  return kExitOk;
}

int runFetchJwt(const Flags& f) {
  auto session = open(f);
  if (!session) return reportError(session.error());
  if (f.audience.empty())
    return reportError(Error{Code::kInvalidArgument, "--audience is required", ""});
  std::optional<spiffe::SpiffeId> id;
  if (!f.spiffe_id.empty()) {
    auto parsed = spiffe::SpiffeId::parse(f.spiffe_id);
    if (!parsed) return reportError(parsed.error().prefix("--spiffe-id"));
    id = *parsed;
  }
  auto svids = session->client->fetchJwt(f.audience, id, session->timeout);
  if (!svids) return reportError(svids.error());
  auto bundles = session->client->fetchJwtBundles(session->timeout);
  if (!bundles) return reportError(bundles.error());
  if (session->output == Output::kJson) {
    json out = {{"svids", json::array()}, {"bundles", json::object()}};
    for (const auto& svid : *svids) {
      json entry = {{"spiffe_id", svid.id.str()}, {"hint", svid.hint}, {"token", svid.token}};
      if (auto parsed = spiffe::parseJwtSvidInsecure(svid.token)) {
        entry["expires_at"] = formatRfc3339(parsed->expiry);
        entry["audience"] = parsed->audience;
      }
      out["svids"].push_back(std::move(entry));
    }
    for (const auto& [td, bundle] : *bundles)
      out["bundles"][td.name()] = json::parse(bundle.toJwks());
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  // spire-agent's layout.
  for (const auto& svid : *svids)
    std::cout << "token(" << svid.id.str() << "):\n\t" << svid.token << "\n\n";
  for (const auto& [td, bundle] : *bundles) {
    std::cout << "bundle(" << td.idString() << "):\n\t" << bundle.toJwks() << "\n\n";
  }
  return kExitOk;
}

int runValidateJwt(const Flags& f) {
  auto session = open(f);
  if (!session) return reportError(session.error());
  if (f.audience.size() != 1)
    return reportError(Error{Code::kInvalidArgument, "give exactly one --audience", ""});
  auto validated = session->client->validateJwt(f.svid, f.audience.front(), session->timeout);
  if (!validated) {
    if (validated.error().code == Code::kInvalidArgument) {
      std::cerr << "mutual: SVID is not valid: " << validated.error().message << "\n";
      return kExitFailed;
    }
    return reportError(validated.error());
  }
  if (session->output == Output::kJson) {
    std::cout << json{{"valid", true},
                      {"spiffe_id", validated->id.str()},
                      {"claims", validated->claims}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << "SVID is valid.\nSPIFFE ID : " << validated->id.str()
            << "\nClaims    : " << validated->claims.dump() << "\n";
  return kExitOk;
}

// One line per update (or per error) until --count updates arrived, or forever.
int runWatch(const Flags& f) {
  auto session = open(f);
  if (!session) return reportError(session.error());
  std::mutex mu;
  std::condition_variable cv;
  int updates = 0;
  bool ended = false;
  const bool as_json = session->output == Output::kJson;
  auto on_update = [&](X509Context context) {
    const TimePoint now = std::chrono::system_clock::now();
    std::lock_guard lock(mu);
    ++updates;
    if (as_json) {
      json line = x509Json(context, now);
      line["time"] = formatRfc3339(now);
      line["update"] = updates;
      std::cout << line.dump() << std::endl;
    } else {
      for (const auto& svid : context.svids) {
        std::cout << formatRfc3339(now) << " update " << updates << ": " << svid.id.str()
                  << " serial " << svid.leaf().serialHex() << " valid until "
                  << formatRfc3339(svid.leaf().notAfter()) << ", " << svid.bundle.size()
                  << " bundle root" << (svid.bundle.size() == 1 ? "" : "s") << ", "
                  << context.federated_bundles.size() << " federated trust domain"
                  << (context.federated_bundles.size() == 1 ? "" : "s") << std::endl;
      }
    }
    cv.notify_all();
  };
  auto on_error = [&](const Error& error) {
    std::lock_guard lock(mu);
    std::cerr << formatRfc3339(std::chrono::system_clock::now())
              << " error: " << codeName(error.code) << ": " << error.message << std::endl;
    if (error.code == Code::kInvalidArgument) ended = true;
    cv.notify_all();
  };
  auto watch = session->client->watchX509(on_update, on_error);
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return ended || (f.count > 0 && updates >= f.count); });
  }
  watch->stop();
  return ended ? kExitFailed : kExitOk;
}

void addCommon(CLI::App* cmd, Flags& f, bool timeout = true) {
  cmd->add_option("--socket", f.socket,
                  "Workload API socket: /path or unix:///path (default: $SPIFFE_ENDPOINT_SOCKET)");
  if (timeout) {
    cmd->add_option("--timeout", f.timeout, "Time allowed for the call (Go duration)")
        ->capture_default_str();
  }
  cmd->add_option("-o,--output", f.output, "table|json")->capture_default_str();
}

}  // namespace

void registerAgentApiCommands(CLI::App& agent, int& exit_code) {
  CLI::App* api = agent.add_subcommand("api", "Call the SPIFFE Workload API (as a workload would)");
  api->require_subcommand(1);
  CLI::App* fetch = api->add_subcommand("fetch", "Fetch SVIDs and bundles");
  fetch->require_subcommand(1);

  auto x509 = std::make_shared<Flags>();
  CLI::App* x509_cmd = fetch->add_subcommand("x509", "Fetch X509-SVIDs, their keys and bundles");
  addCommon(x509_cmd, *x509);
  x509_cmd->add_option(
      "--write", x509->write_dir,
      "Write svid.N.pem, svid.N.key (0600), bundle.N.pem, federated_bundle.N.M.pem here");
  x509_cmd->callback([x509, &exit_code] { exit_code = runFetchX509(*x509); });

  auto jwt = std::make_shared<Flags>();
  CLI::App* jwt_cmd =
      fetch->add_subcommand("jwt", "Fetch JWT-SVIDs for an audience, and the JWT bundles");
  addCommon(jwt_cmd, *jwt);
  jwt_cmd->add_option("--audience", jwt->audience, "Audience (repeatable)")->required();
  jwt_cmd->add_option("--spiffe-id", jwt->spiffe_id, "Only the JWT-SVID of this SPIFFE ID");
  jwt_cmd->callback([jwt, &exit_code] { exit_code = runFetchJwt(*jwt); });

  auto validate = std::make_shared<Flags>();
  CLI::App* validate_group =
      api->add_subcommand("validate", "Have the Workload API validate an SVID");
  validate_group->require_subcommand(1);
  CLI::App* validate_cmd =
      validate_group->add_subcommand("jwt", "Validate a JWT-SVID for an audience");
  addCommon(validate_cmd, *validate);
  validate_cmd->add_option("--audience", validate->audience, "The audience the token must carry")
      ->required();
  validate_cmd->add_option("--svid", validate->svid, "The JWT-SVID")->required();
  validate_cmd->callback([validate, &exit_code] { exit_code = runValidateJwt(*validate); });

  auto watch = std::make_shared<Flags>();
  CLI::App* watch_cmd =
      api->add_subcommand("watch", "Print a line on every X509-SVID update (until Ctrl-C)");
  addCommon(watch_cmd, *watch, /*timeout=*/false);
  watch_cmd->add_option("--count", watch->count, "Exit after this many updates (0: never)")
      ->capture_default_str();
  watch_cmd->callback([watch, &exit_code] { exit_code = runWatch(*watch); });
}

}  // namespace mutual::cli
