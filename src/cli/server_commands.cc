// `mutual server entry|token|bundle|authority|agent|healthcheck ...`: one-shot admin commands
// against a running server over its admin socket (SPIRE's `spire-server <noun> <verb>`).
// docs/server.md documents them with real output.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/encoding.h"
#include "base/file.h"
#include "base/time.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "config/spire_conf.h"
#include "server/admin_client.h"
#include "server/bundle_format.h"

namespace mutual::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using datastore::RegistrationEntry;
using server::AdminClient;
using server::AuthorityInfo;

constexpr char kDefaultSocket[] = "/tmp/spire-server/private/api.sock";

// Flags every admin command takes.
struct Common {
  std::string socket;  // empty: from --config, else SPIRE's default
  std::string config;
  std::string output = "table";
};

struct EntryFlags {
  std::string entry_id;
  std::string spiffe_id;
  std::string parent_id;
  bool node = false;  // parent = the server (a node alias entry)
  std::vector<std::string> selectors;
  std::string selector_match = "superset";  // SPIRE's -matchSelectorsOn default
  std::string x509_svid_ttl;  // seconds, or a duration ("1h")
  std::string jwt_svid_ttl;
  std::vector<std::string> dns_names;
  std::vector<std::string> federates_with;
  int64_t admin = 0;       // +1 --admin, -1 --no-admin
  int64_t downstream = 0;  // +1 --downstream, -1 --no-downstream
  std::string hint;
  bool hint_set = false;
  std::string expires_at;
};

void addCommon(CLI::App* cmd, Common& c, bool output = true) {
  cmd->add_option("--socket", c.socket,
                  "The server's admin socket (default: socket_path of --config, else " +
                      std::string(kDefaultSocket) + ")");
  cmd->add_option("-c,--config", c.config, "Take the admin socket from this server.conf");
  if (output) cmd->add_option("-o,--output", c.output, "table|json")->capture_default_str();
}

Result<std::string> socketPath(const Common& c) {
  if (!c.socket.empty()) return c.socket;
  if (!c.config.empty()) {
    auto conf = config::spire::loadServerConf(c.config);
    if (!conf) return fail(conf.error());
    fs::path base = fs::path(c.config).parent_path();
    if (base.empty()) base = ".";
    return config::spire::resolvePath(conf->socket_path, base).string();
  }
  return std::string(kDefaultSocket);
}

Result<std::unique_ptr<AdminClient>> connect(const Common& c) {
  auto path = socketPath(c);
  if (!path) return fail(path.error());
  return AdminClient::connect(*path);
}

// What a command that prints the server's reply works with.
struct Session {
  std::unique_ptr<AdminClient> admin;
  Output output = Output::kTable;
};

// The start of such a command: -o (table|json), then `flags` (the outcome of the command's own
// flag checks), then a client of the server; an error of the first that fails.
Result<Session> open(const Common& c, const Result<void>& flags = {}) {
  auto output = parseOutput(c.output, {"table", "json"});
  if (!output) return fail(output.error());
  if (!flags) return fail(flags.error());
  auto admin = connect(c);
  if (!admin) return fail(admin.error());
  return Session{std::move(*admin), *output};
}

// Finishes the verb `cmd` whose own options are added: the flags every admin command takes
// (last, so that --help lists them last), and `run` with `common` and `flags` (shared by the
// verbs of one noun: only the chosen one runs) setting `exit_code`.
template <typename Flags>
void runs(CLI::App* cmd, int (*run)(const Common&, const Flags&), std::shared_ptr<Common> common,
          std::shared_ptr<Flags> flags, int& exit_code, bool output = true) {
  addCommon(cmd, *common, output);
  cmd->callback([run, common, flags, &exit_code] { exit_code = run(*common, *flags); });
}

Result<int32_t> parseTtl(const std::string& text, const char* flag) {
  if (text.empty()) return 0;
  bool digits =
      std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (digits) {
    try {
      return static_cast<int32_t>(std::stol(text));
    } catch (...) {
      return invalidArgument(std::string(flag) + " " + text + ": out of range");
    }
  }
  auto d = parseDuration(text);
  if (!d) return fail(d.error().prefix(std::string(flag) + " " + text));
  return static_cast<int32_t>(d->count());
}

std::string selectorsText(const std::vector<datastore::Selector>& selectors) {
  std::string out;
  for (const auto& s : selectors) out += (out.empty() ? "" : ",") + s.str();
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out.empty() ? "-" : out;
}

// Prints `items` as a JSON array, each as `to_json` makes it.
template <typename T>
void printJsonList(const std::vector<T>& items, json (*to_json)(const T&)) {
  json list = json::array();
  for (const auto& item : items) list.push_back(to_json(item));
  std::cout << list.dump(2) << "\n";
}

json entryJson(const RegistrationEntry& e) {
  json selectors = json::array();
  for (const auto& s : e.selectors) selectors.push_back({{"type", s.type}, {"value", s.value}});
  return {{"id", e.id},
          {"spiffe_id", e.spiffe_id},
          {"parent_id", e.parent_id},
          {"selectors", selectors},
          {"x509_svid_ttl", e.x509_svid_ttl},
          {"jwt_svid_ttl", e.jwt_svid_ttl},
          {"dns_names", e.dns_names},
          {"federates_with", e.federates_with},
          {"admin", e.admin},
          {"downstream", e.downstream},
          {"expires_at",
           e.expires_at == 0 ? json(nullptr) : json(formatRfc3339(fromUnix(e.expires_at)))},
          {"hint", e.hint},
          {"created_at", formatRfc3339(fromUnix(e.created_at))},
          {"revision_number", e.revision_number}};
}

void printEntries(const std::vector<RegistrationEntry>& entries, Output output) {
  if (output == Output::kJson) {
    printJsonList(entries, entryJson);
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : entries) {
    std::string flags;
    if (e.admin) flags += "admin";
    if (e.downstream) flags += std::string(flags.empty() ? "" : ",") + "downstream";
    rows.push_back({e.id, e.spiffe_id, e.parent_id, selectorsText(e.selectors),
                    e.x509_svid_ttl == 0 ? "default" : std::to_string(e.x509_svid_ttl),
                    joined(e.dns_names), joined(e.federates_with), flags.empty() ? "-" : flags,
                    std::to_string(e.revision_number)});
  }
  printTable(std::cout,
             {"ENTRY ID", "SPIFFE ID", "PARENT ID", "SELECTORS", "X509 TTL", "DNS NAMES",
              "FEDERATES WITH", "FLAGS", "REVISION"},
             rows);
}

// Applies the flags that were given to `entry` (all of them for create).
Result<void> applyEntryFlags(const EntryFlags& f, const std::string& server_id,
                             RegistrationEntry& entry, bool create) {
  if (!f.spiffe_id.empty()) entry.spiffe_id = f.spiffe_id;
  if (f.node) {
    if (!f.parent_id.empty()) return invalidArgument("--node and --parent-id exclude each other");
    entry.parent_id = server_id;
  } else if (!f.parent_id.empty()) {
    entry.parent_id = f.parent_id;
  }
  if (!f.selectors.empty()) {
    entry.selectors.clear();
    for (const auto& text : f.selectors) {
      auto s = datastore::Selector::parse(text);
      if (!s) return fail(s.error().prefix("--selector " + text));
      entry.selectors.push_back(std::move(*s));
    }
  }
  if (!f.x509_svid_ttl.empty()) {
    auto ttl = parseTtl(f.x509_svid_ttl, "--x509-svid-ttl");
    if (!ttl) return fail(ttl.error());
    entry.x509_svid_ttl = *ttl;
  }
  if (!f.jwt_svid_ttl.empty()) {
    auto ttl = parseTtl(f.jwt_svid_ttl, "--jwt-svid-ttl");
    if (!ttl) return fail(ttl.error());
    entry.jwt_svid_ttl = *ttl;
  }
  if (!f.dns_names.empty()) entry.dns_names = f.dns_names;
  if (!f.federates_with.empty()) entry.federates_with = f.federates_with;
  if (f.admin != 0) entry.admin = f.admin > 0;
  if (f.downstream != 0) entry.downstream = f.downstream > 0;
  if (f.hint_set) entry.hint = f.hint;
  if (!f.expires_at.empty()) {
    auto t = parseTime(f.expires_at);
    if (!t) return fail(t.error().prefix("--entry-expiry"));
    entry.expires_at = toUnix(*t);
  }
  if (create) {
    if (entry.spiffe_id.empty()) return invalidArgument("--spiffe-id is required");
    if (entry.parent_id.empty()) return invalidArgument("--parent-id (or --node) is required");
    if (entry.selectors.empty()) {
      return invalidArgument("at least one --selector is required (e.g. --selector unix:uid:1000)");
    }
  }
  return {};
}

// The trust domain's server ID, for --node: from the SPIFFE ID given.
std::string serverIdFor(const std::string& spiffe_id) {
  auto id = spiffe::SpiffeId::parse(spiffe_id);
  return id ? id->trustDomain().idString() + "/spire/server" : std::string();
}

// The filter of `entry show`: the flags given.
Result<void> applyFilterFlags(const EntryFlags& f, server::EntryFilter& filter) {
  filter.entry_id = f.entry_id;
  filter.spiffe_id = f.spiffe_id;
  filter.parent_id = f.node ? serverIdFor(f.spiffe_id) : f.parent_id;
  for (const auto& text : f.selectors) {
    auto s = datastore::Selector::parse(text);
    if (!s) return fail(s.error().prefix("--selector " + text));
    filter.selectors.push_back(std::move(*s));
  }
  filter.selector_match = f.selector_match;
  filter.federates_with = f.federates_with;
  if (f.downstream != 0) filter.downstream = f.downstream > 0;
  return {};
}

// `entry update` and `entry delete` name the entry they change.
Result<void> requireEntryId(const EntryFlags& f) {
  if (f.entry_id.empty()) return invalidArgument("--entry-id is required");
  return {};
}

// The entry as the server stored it (`entry create` and `entry update`).
int printStored(const Result<RegistrationEntry>& stored, Output output) {
  if (!stored) return reportError(stored.error());
  printEntries({*stored}, output);
  return kExitOk;
}

int runEntryCreate(const Common& c, const EntryFlags& f) {
  RegistrationEntry entry;
  entry.id = f.entry_id;
  auto session = open(c, applyEntryFlags(f, serverIdFor(f.spiffe_id), entry, true));
  if (!session) return reportError(session.error());
  return printStored(session->admin->createEntry(entry), session->output);
}

int runEntryShow(const Common& c, const EntryFlags& f) {
  server::EntryFilter filter;
  auto session = open(c, applyFilterFlags(f, filter));
  if (!session) return reportError(session.error());
  auto entries = session->admin->listEntries(filter);
  if (!entries) return reportError(entries.error());
  printEntries(*entries, session->output);
  if (session->output == Output::kTable)
    std::cout << "Found " << entries->size() << " entr" << (entries->size() == 1 ? "y" : "ies")
              << "\n";
  return kExitOk;
}

int runEntryUpdate(const Common& c, const EntryFlags& f) {
  auto session = open(c, requireEntryId(f));
  if (!session) return reportError(session.error());
  auto existing = session->admin->listEntries({.entry_id = f.entry_id});
  if (!existing) return reportError(existing.error());
  RegistrationEntry entry = existing->front();
  if (auto ok = applyEntryFlags(f, serverIdFor(entry.spiffe_id), entry, false); !ok) {
    return reportError(ok.error());
  }
  return printStored(session->admin->updateEntry(entry), session->output);
}

int runEntryDelete(const Common& c, const EntryFlags& f) {
  auto session = open(c, requireEntryId(f));
  if (!session) return reportError(session.error());
  auto deleted = session->admin->deleteEntry(f.entry_id);
  if (!deleted) return reportError(deleted.error());
  if (session->output == Output::kJson) {
    std::cout << entryJson(*deleted).dump(2) << "\n";
  } else {
    std::cout << "Deleted entry " << deleted->id << " (" << deleted->spiffe_id << ")\n";
  }
  return kExitOk;
}

void addEntryFilterFlags(CLI::App* cmd, EntryFlags& f) {
  cmd->add_option("--entry-id", f.entry_id, "Entry ID");
  cmd->add_option("--spiffe-id", f.spiffe_id, "SPIFFE ID of the entry");
  cmd->add_option("--parent-id", f.parent_id, "SPIFFE ID of the parent (an agent or node alias)");
  cmd->add_flag("--node", f.node, "The parent is the server: a node alias entry");
  cmd->add_option("--selector", f.selectors, "type:value, e.g. unix:uid:1000 (repeatable)");
  cmd->add_option("--federates-with", f.federates_with, "Federated trust domain (repeatable)");
}

void registerEntry(CLI::App& server, int& exit_code) {
  CLI::App* entry = server.add_subcommand("entry", "Registration entries");
  entry->require_subcommand(1);
  auto common = std::make_shared<Common>();
  auto flags = std::make_shared<EntryFlags>();
  const auto settable = [&](CLI::App* cmd) {
    cmd->add_option("--x509-svid-ttl", flags->x509_svid_ttl,
                    "X509-SVID TTL: seconds or a duration (default: the server's)");
    cmd->add_option("--jwt-svid-ttl", flags->jwt_svid_ttl, "JWT-SVID TTL: seconds or a duration");
    cmd->add_option("--dns", flags->dns_names, "DNS name (repeatable; the first becomes the CN)");
    cmd->add_flag("--admin,!--no-admin", flags->admin, "The SVID may call admin APIs");
    cmd->add_flag("--downstream,!--no-downstream", flags->downstream,
                  "The SVID may sign a downstream server's CA");
    cmd->add_option("--hint", flags->hint, "Operator hint (at most 1024 bytes)")
        ->each([flags](const std::string&) { flags->hint_set = true; });
    cmd->add_option("--entry-expiry", flags->expires_at, "When the entry expires (RFC 3339)");
  };

  CLI::App* create = entry->add_subcommand("create", "Create an entry");
  addEntryFilterFlags(create, *flags);
  settable(create);
  runs(create, runEntryCreate, common, flags, exit_code);

  CLI::App* show = entry->add_subcommand("show", "List entries, all or those matching the filters");
  addEntryFilterFlags(show, *flags);
  show->add_option("--match-selectors-on", flags->selector_match, "exact|subset|superset|any")
      ->capture_default_str();
  show->add_flag("--downstream,!--no-downstream", flags->downstream,
                 "Only (non-)downstream entries");
  runs(show, runEntryShow, common, flags, exit_code);

  CLI::App* update =
      entry->add_subcommand("update", "Change an entry: the fields given replace the stored ones");
  addEntryFilterFlags(update, *flags);
  settable(update);
  runs(update, runEntryUpdate, common, flags, exit_code);

  CLI::App* del = entry->add_subcommand("delete", "Delete an entry");
  del->add_option("--entry-id", flags->entry_id, "Entry ID")->required();
  runs(del, runEntryDelete, common, flags, exit_code);
}

// --- token ----------------------------------------------------------------------------------

struct TokenFlags {
  std::string spiffe_id;
  std::string ttl = "600";
};

int runTokenGenerate(const Common& c, const TokenFlags& f) {
  auto output = parseOutput(c.output, {"table", "json"});
  if (!output) return reportError(output.error());
  auto ttl = parseTtl(f.ttl, "--ttl");
  if (!ttl) return reportError(ttl.error());
  if (*ttl <= 0) return reportError(Error{Code::kInvalidArgument, "--ttl must be positive", ""});
  auto admin = connect(c);
  if (!admin) return reportError(admin.error());
  auto token = (*admin)->createJoinToken(Seconds(*ttl), f.spiffe_id);
  if (!token) return reportError(token.error());
  if (*output == Output::kJson) {
    json out = {{"token", token->token}, {"expires_at", formatRfc3339(token->expires_at)}};
    if (!token->entry_id.empty()) out["entry_id"] = token->entry_id;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "Token: " << token->token << "\n";
  }
  return kExitOk;
}

// --- bundle ---------------------------------------------------------------------------------

struct BundleFlags {
  std::string format = "pem";
  std::string id;
  std::string path = "-";
  std::string mode = "restrict";
};

// A bundle in the fields of SPIRE's types.Bundle (what `spire-server bundle show -output json`
// prints): DER as base64, times as Unix seconds.
json bundleJson(const datastore::Bundle& bundle) {
  json x509 = json::array();
  for (const auto& der : bundle.x509_authorities_der) x509.push_back({{"asn1", base64Encode(der)}});
  json jwt = json::array();
  for (const auto& key : bundle.jwt_authorities) {
    jwt.push_back({{"public_key", base64Encode(key.public_key_der)},
                   {"key_id", key.key_id},
                   {"expires_at", key.expires_at}});
  }
  return {{"trust_domain", bundle.trust_domain},
          {"x509_authorities", x509},
          {"jwt_authorities", jwt},
          {"refresh_hint", bundle.refresh_hint},
          {"sequence_number", bundle.sequence_number}};
}

int runBundleShow(const Common& c, const BundleFlags& f) {
  Result<void> flags;
  if (f.format != "pem" && f.format != "spiffe") {
    flags = fail(Code::kInvalidArgument, "--format " + f.format + ": expected pem or spiffe");
  }
  auto session = open(c, flags);
  if (!session) return reportError(session.error());
  auto bundle = session->admin->getBundle();
  if (!bundle) return reportError(bundle.error());
  if (session->output == Output::kJson) {
    std::cout << bundleJson(*bundle).dump(2) << "\n";
    return kExitOk;
  }
  auto text =
      f.format == "pem" ? server::bundleToPem(*bundle) : server::bundleToSpiffeJson(*bundle);
  if (!text) return reportError(text.error());
  std::cout << *text;
  return kExitOk;
}

int runBundleList(const Common& c, const BundleFlags& f) {
  auto session = open(c);
  if (!session) return reportError(session.error());
  auto bundles = session->admin->listFederatedBundles();
  if (!bundles) return reportError(bundles.error());
  if (session->output == Output::kJson) {
    json list = json::array();
    for (const auto& b : *bundles) {
      auto text = f.format == "spiffe" ? server::bundleToSpiffeJson(b) : server::bundleToPem(b);
      list.push_back({{"trust_domain", b.trust_domain},
                      {"x509_authorities", b.x509_authorities_der.size()},
                      {"jwt_authorities", b.jwt_authorities.size()},
                      {"sequence_number", b.sequence_number},
                      {f.format, text ? *text : ""}});
    }
    std::cout << list.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : *bundles) {
    rows.push_back({b.trust_domain, std::to_string(b.x509_authorities_der.size()),
                    std::to_string(b.jwt_authorities.size()), std::to_string(b.sequence_number)});
  }
  printTable(std::cout, {"TRUST DOMAIN", "X509 AUTHORITIES", "JWT AUTHORITIES", "SEQUENCE"}, rows);
  return kExitOk;
}

int runBundleSet(const Common& c, const BundleFlags& f) {
  if (f.id.empty())
    return reportError(Error{Code::kInvalidArgument, "--id (the trust domain) is required", ""});
  std::string text;
  if (f.path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    auto read = readFile(f.path);
    if (!read) return reportError(read.error());
    text = std::move(*read);
  }
  auto bundle = server::parseBundle(f.id, text, f.format);
  if (!bundle) return reportError(bundle.error().prefix(f.path == "-" ? "stdin" : f.path));
  auto admin = connect(c);
  if (!admin) return reportError(admin.error());
  auto stored = (*admin)->setFederatedBundle(*bundle);
  if (!stored) return reportError(stored.error());
  std::cout << "Bundle of " << stored->trust_domain
            << " set: " << stored->x509_authorities_der.size() << " X.509 authorities, "
            << stored->jwt_authorities.size() << " JWT authorities\n";
  return kExitOk;
}

int runBundleDelete(const Common& c, const BundleFlags& f) {
  if (f.id.empty())
    return reportError(Error{Code::kInvalidArgument, "--id (the trust domain) is required", ""});
  auto admin = connect(c);
  if (!admin) return reportError(admin.error());
  if (auto ok = (*admin)->deleteFederatedBundle(f.id, f.mode); !ok) return reportError(ok.error());
  std::cout << "Bundle of " << f.id << " deleted\n";
  return kExitOk;
}

// --- authority ------------------------------------------------------------------------------

json authorityJson(const AuthorityInfo& a) {
  json j = {{"authority_id", a.authority_id},
            {"status", std::string(server::authorityStatusName(a.status))},
            {"tainted", a.tainted},
            {"revoked", a.revoked},
            {"not_before", formatRfc3339(a.not_before)},
            {"not_after", formatRfc3339(a.not_after)},
            {"subject", a.subject},
            {"root_id", a.root_id},
            {"upstream_authority_id", a.upstream_authority_id},
            {"jwt_key_id", a.jwt_key_id},
            {"keys_present", a.keys_present}};
  if (a.prepare_at) j["prepare_at"] = formatRfc3339(*a.prepare_at);
  if (a.activate_at) j["activate_at"] = formatRfc3339(*a.activate_at);
  return j;
}

void printAuthorities(const std::vector<AuthorityInfo>& all, Output output) {
  if (output == Output::kJson) {
    printJsonList(all, authorityJson);
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : all) {
    std::string state = std::string(server::authorityStatusName(a.status));
    if (a.revoked) {
      state += ",revoked";
    } else if (a.tainted) {
      state += ",tainted";
    }
    if (!a.keys_present) state += ",no-keys";
    rows.push_back({a.authority_id, state, formatRfc3339(a.not_before), formatRfc3339(a.not_after),
                    a.root_id.empty() ? "upstream " + a.upstream_authority_id.substr(0, 12)
                                      : a.root_id.substr(0, 16)});
  }
  printTable(std::cout, {"AUTHORITY ID", "STATUS", "NOT BEFORE", "NOT AFTER", "ROOT"}, rows);
  for (const auto& a : all) {
    if (a.status == server::AuthorityStatus::kActive && a.prepare_at && a.activate_at) {
      std::cout << "Next authority: prepared at " << formatRfc3339(*a.prepare_at)
                << ", activated at " << formatRfc3339(*a.activate_at) << "\n";
    }
  }
}

struct AuthorityFlags {
  std::string authority_id;
  bool new_root = false;
};

int runAuthority(const std::string& verb, const Common& c, const AuthorityFlags& f) {
  auto session = open(c);
  if (!session) return reportError(session.error());
  AdminClient& admin = *session->admin;
  if (verb == "show") {
    auto all = admin.listAuthorities();
    if (!all) return reportError(all.error());
    printAuthorities(*all, session->output);
    return kExitOk;
  }
  if (verb != "prepare" && verb != "activate" && f.authority_id.empty()) {
    return reportError(Error{Code::kInvalidArgument,
                             "--authority-id is required (see `mutual server authority show`)",
                             ""});
  }
  Result<AuthorityInfo> info = verb == "prepare"    ? admin.prepareAuthority(f.new_root)
                               : verb == "activate" ? admin.activateAuthority(f.authority_id)
                               : verb == "taint"    ? admin.taintAuthority(f.authority_id)
                                                    : admin.revokeAuthority(f.authority_id);
  if (!info) return reportError(info.error());
  printAuthorities({*info}, session->output);
  return kExitOk;
}

// --- agent ----------------------------------------------------------------------------------

json agentJson(const server::AgentInfo& a) {
  return {{"spiffe_id", a.node.spiffe_id},
          {"attestation_type", a.node.attestation_type},
          {"cert_serial", a.node.cert_serial},
          {"cert_not_after",
           a.node.cert_not_after == 0 ? "" : formatRfc3339(fromUnix(a.node.cert_not_after))},
          {"banned", a.node.banned()},
          {"can_reattest", a.node.can_reattest},
          {"selectors", selectorsText(a.selectors)}};
}

int runAgent(const std::string& verb, const Common& c, const std::string& spiffe_id) {
  auto session = open(c);
  if (!session) return reportError(session.error());
  AdminClient& admin = *session->admin;
  std::vector<server::AgentInfo> agents;
  if (verb == "list") {
    auto all = admin.listAgents();
    if (!all) return reportError(all.error());
    agents = std::move(*all);
  } else {
    if (spiffe_id.empty())
      return reportError(Error{Code::kInvalidArgument, "--spiffe-id is required", ""});
    auto one = verb == "evict" ? admin.evictAgent(spiffe_id) : admin.banAgent(spiffe_id);
    if (!one) return reportError(one.error());
    agents.push_back(std::move(*one));
  }
  if (session->output == Output::kJson) {
    printJsonList(agents, agentJson);
    return kExitOk;
  }
  if (verb != "list") {
    std::cout << "Agent " << spiffe_id << (verb == "evict" ? " evicted" : " banned") << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : agents) {
    rows.push_back(
        {a.node.spiffe_id, a.node.attestation_type, a.node.banned() ? "banned" : "attested",
         a.node.cert_not_after == 0 ? "-" : formatRfc3339(fromUnix(a.node.cert_not_after)),
         a.selectors.empty() ? "-" : selectorsText(a.selectors)});
  }
  printTable(std::cout, {"SPIFFE ID", "ATTESTATION", "STATUS", "SVID NOT AFTER", "SELECTORS"},
             rows);
  return kExitOk;
}

// --- healthcheck ----------------------------------------------------------------------------

int runHealthcheck(const Common& c, bool verbose) {
  auto output = parseOutput(c.output, {"table", "json"});
  if (!output) return reportError(output.error());
  auto admin = connect(c);
  Result<server::HealthInfo> health = admin ? (*admin)->healthcheck() : fail(admin.error());
  if (*output == Output::kJson) {
    json out = {{"healthy", health && health->healthy}};
    if (health) {
      out["checks"] = health->checks;
      out["trust_domain"] = health->trust_domain;
    } else {
      out["error"] = health.error().message;
    }
    std::cout << out.dump(2) << "\n";
  } else if (!health) {
    std::cerr << "Server is unhealthy: " << health.error().message << "\n";
  } else {
    if (verbose || !health->healthy) {
      for (const auto& check : health->checks) std::cout << "  " << check << "\n";
    }
    std::cout << (health->healthy ? "Server is healthy." : "Server is unhealthy.") << "\n";
  }
  return health && health->healthy ? kExitOk : kExitFailed;
}

}  // namespace

void registerServerAdminCommands(CLI::App& server, int& exit_code) {
  registerEntry(server, exit_code);

  CLI::App* token = server.add_subcommand("token", "Join tokens for node attestation");
  token->require_subcommand(1);
  auto token_common = std::make_shared<Common>();
  auto token_flags = std::make_shared<TokenFlags>();
  CLI::App* generate = token->add_subcommand("generate", "Generate a single-use join token");
  generate->add_option("--spiffe-id", token_flags->spiffe_id,
                       "Also create an entry giving the agent this ID as an alias");
  generate->add_option("--ttl", token_flags->ttl, "Seconds (or a duration) the token is valid")
      ->capture_default_str();
  runs(generate, runTokenGenerate, token_common, token_flags, exit_code);

  CLI::App* bundle = server.add_subcommand("bundle", "Trust bundles");
  bundle->require_subcommand(1);
  auto bundle_common = std::make_shared<Common>();
  auto bundle_flags = std::make_shared<BundleFlags>();
  CLI::App* show = bundle->add_subcommand("show", "The server's own trust bundle");
  show->add_option("--format", bundle_flags->format, "pem|spiffe (table output)")
      ->capture_default_str();
  runs(show, runBundleShow, bundle_common, bundle_flags, exit_code);
  CLI::App* list = bundle->add_subcommand("list", "Federated bundles");
  list->add_option("--format", bundle_flags->format, "pem|spiffe (with -o json)")
      ->capture_default_str();
  runs(list, runBundleList, bundle_common, bundle_flags, exit_code);
  CLI::App* set = bundle->add_subcommand("set", "Set a federated trust domain's bundle");
  set->add_option("--id", bundle_flags->id, "The federated trust domain")->required();
  set->add_option("--path", bundle_flags->path, "Bundle file, - for stdin")->capture_default_str();
  set->add_option("--format", bundle_flags->format, "pem|spiffe")->capture_default_str();
  runs(set, runBundleSet, bundle_common, bundle_flags, exit_code, false);
  CLI::App* del = bundle->add_subcommand("delete", "Delete a federated trust domain's bundle");
  del->add_option("--id", bundle_flags->id, "The federated trust domain")->required();
  del->add_option("--mode", bundle_flags->mode, "restrict|delete|dissociate")
      ->capture_default_str();
  runs(del, runBundleDelete, bundle_common, bundle_flags, exit_code, false);

  CLI::App* authority = server.add_subcommand(
      "authority", "The server's X.509 signing authorities (SPIRE's localauthority x509)");
  authority->require_subcommand(1);
  auto authority_common = std::make_shared<Common>();
  auto authority_flags = std::make_shared<AuthorityFlags>();
  for (auto [verb, help] :
       {std::pair{"show", "The active, prepared and old authorities"},
        std::pair{"prepare", "Prepare the next authority now (published in the bundle at once)"},
        std::pair{"activate", "Make the prepared authority the active one"},
        std::pair{"taint", "Mark an old authority tainted: agents re-sign what it signed"},
        std::pair{"revoke", "Remove a tainted old authority from the bundle"}}) {
    CLI::App* cmd = authority->add_subcommand(verb, help);
    const std::string v = verb;
    if (v == "prepare") {
      cmd->add_flag("--new-root", authority_flags->new_root,
                    "Sign the new authority with a new root (self-signed mode)");
    }
    if (v == "activate" || v == "taint" || v == "revoke") {
      cmd->add_option("--authority-id", authority_flags->authority_id,
                      v == "activate" ? "The prepared authority (default: whichever it is)"
                                      : "The authority's ID (`authority show`)");
    }
    addCommon(cmd, *authority_common);
    cmd->callback([v, authority_common, authority_flags, &exit_code] {
      exit_code = runAuthority(v, *authority_common, *authority_flags);
    });
  }

  CLI::App* agent = server.add_subcommand("agent", "Attested agents");
  agent->require_subcommand(1);
  auto agent_common = std::make_shared<Common>();
  auto agent_id = std::make_shared<std::string>();
  for (auto [verb, help] : {std::pair{"list", "Attested agents"},
                            std::pair{"evict", "Forget an agent: it must attest again"},
                            std::pair{"ban", "Refuse an agent until it is evicted"}}) {
    CLI::App* cmd = agent->add_subcommand(verb, help);
    const std::string v = verb;
    if (v != "list") cmd->add_option("--spiffe-id", *agent_id, "The agent's SPIFFE ID")->required();
    addCommon(cmd, *agent_common);
    cmd->callback([v, agent_common, agent_id, &exit_code] {
      exit_code = runAgent(v, *agent_common, *agent_id);
    });
  }

  CLI::App* health = server.add_subcommand(
      "healthcheck", "Ask the server whether it is healthy (exit 0 healthy, 1 not)");
  auto health_common = std::make_shared<Common>();
  auto verbose = std::make_shared<bool>(false);
  health->add_flag("-v,--verbose", *verbose, "Print every check");
  addCommon(health, *health_common);
  health->callback([health_common, verbose, &exit_code] {
    exit_code = runHealthcheck(*health_common, *verbose);
  });
}

}  // namespace mutual::cli
