// `mutual check mode|tls|migrate|validate`: the policy engine (src/policy) over manifest files.
// Semantics: ../shared/reference/istio-mtls.md; user guide: docs/policy.md.

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "config/manifest.h"
#include "config/mesh.h"
#include "policy/peer_authn.h"
#include "policy/tls_check.h"
#include "spiffe/spiffe_id.h"

namespace mutual::cli {

namespace fs = std::filesystem;
using config::Finding;
using config::MtlsMode;
using nlohmann::ordered_json;

namespace {

// ---- inputs shared by every `check` verb ------------------------------------------------------

struct MeshFlags {
  std::vector<std::string> paths;
  std::string root_namespace;  // "" = from a mesh settings document, else istio-system
  std::string trust_domain;    // "" = from a mesh settings document, else cluster.local
  std::string auto_mtls;       // "", "true" or "false"
};

void addMeshFlags(CLI::App* cmd, MeshFlags& f) {
  cmd->add_option("-f,--filename", f.paths, "Manifest files or folders (*.yaml, *.yml, *.json)")
      ->required();
  cmd->add_option("--root-namespace", f.root_namespace,
                  "Istio root namespace (default: the mesh settings in the inputs, else "
                  "istio-system)");
  cmd->add_option("--trust-domain", f.trust_domain,
                  "Mesh trust domain (default: the mesh settings, else cluster.local)");
  cmd->add_option("--auto-mtls", f.auto_mtls,
                  "Auto-mTLS on or off (default: the mesh settings, "
                  "else true)")
      ->check(CLI::IsMember({"true", "false"}));
}

struct Inputs {
  config::MeshConfig mesh;
  config::MeshSettings settings;
  size_t files = 0;
  size_t documents = 0;
  std::vector<Finding> findings;  // unreadable YAML first, then the parser's findings
};

// A YAML error of a whole file ("<file>:<line>: invalid YAML: ...") as a finding.
Finding loadFinding(const std::string& file, const Error& error) {
  Finding f;
  f.severity = Finding::Severity::kError;
  f.location.file = file;
  std::string message = error.message;
  if (message.rfind(file + ":", 0) == 0) {
    message.erase(0, file.size() + 1);
    int line = 0;
    const auto [end, ec] = std::from_chars(message.data(), message.data() + message.size(), line);
    if (ec == std::errc() && end < message.data() + message.size() && *end == ':') {
      f.location.line = line;
      message.erase(0, static_cast<size_t>(end - message.data()) + 1);
      // "<line>:<column>: ..." for YAML syntax errors: the column goes into the message.
      int column = 0;
      const auto [col_end, col_ec] =
          std::from_chars(message.data(), message.data() + message.size(), column);
      if (col_ec == std::errc() && col_end < message.data() + message.size() && *col_end == ':') {
        message.erase(0, static_cast<size_t>(col_end - message.data()) + 1);
        if (!message.empty() && message.front() == ' ') message.erase(0, 1);
        message = "column " + std::to_string(column) + ": " + message;
      }
    }
    if (!message.empty() && message.front() == ' ') message.erase(0, 1);
  }
  f.message = message;
  return f;
}

bool isError(const Finding& f) { return f.severity == Finding::Severity::kError; }

// Reads every file of `f.paths`; a file that is not valid YAML becomes an error finding and the
// others are still read, so `check validate` can list every problem at once. A missing path or
// a bad flag value is an error (exit 2).
Result<Inputs> readInputs(const MeshFlags& f) {
  std::vector<fs::path> paths(f.paths.begin(), f.paths.end());
  auto files = config::manifestFiles(paths);
  if (!files) return fail(files.error());
  Inputs in;
  in.files = files->size();
  std::vector<config::Manifest> manifests;
  for (const auto& file : *files) {
    auto loaded = config::loadManifests({file});
    if (!loaded) {
      if (loaded.error().code == Code::kInvalidArgument) {
        in.findings.push_back(loadFinding(file.string(), loaded.error()));
        continue;
      }
      return fail(loaded.error());
    }
    manifests.insert(manifests.end(), std::make_move_iterator(loaded->begin()),
                     std::make_move_iterator(loaded->end()));
  }
  in.documents = manifests.size();
  in.mesh = config::parseMeshManifests(manifests);
  in.findings.insert(in.findings.end(), in.mesh.findings.begin(), in.mesh.findings.end());

  in.settings = in.mesh.settings.value_or(config::MeshSettings{});
  if (!f.root_namespace.empty()) {
    if (!config::isDns1123Label(f.root_namespace)) {
      return invalidArgument("--root-namespace " + f.root_namespace +
                             ": not a Kubernetes namespace name");
    }
    in.settings.root_namespace = f.root_namespace;
  }
  if (!f.trust_domain.empty()) {
    auto td = spiffe::TrustDomain::parse(f.trust_domain);
    if (!td) return fail(td.error().prefix("--trust-domain"));
    in.settings.trust_domain = f.trust_domain;
  }
  if (!f.auto_mtls.empty()) in.settings.auto_mtls = f.auto_mtls == "true";
  return in;
}

// For mode/tls/migrate: warnings go to stderr; any error finding prints every finding and the
// command stops with exit 2 (an invalid document would be rejected by Istio's admission).
std::optional<int> rejectInvalid(const Inputs& in) {
  const bool invalid = std::any_of(in.findings.begin(), in.findings.end(), isError);
  for (const auto& f : in.findings) {
    if (invalid || !isError(f)) std::cerr << "mutual: " << f.str() << "\n";
  }
  if (!invalid) return std::nullopt;
  std::cerr << "mutual: the inputs hold invalid documents (see above); `mutual check validate` "
               "lists the same findings\n";
  return kExitBadInput;
}

// The mesh settings in effect, and Linkerd's cluster settings (its defaults when the inputs
// have no linkerd-config).
ordered_json settingsJson(const Inputs& in) {
  const config::MeshSettings& s = in.settings;
  const config::LinkerdSettings linkerd = in.mesh.linkerd.value_or(config::LinkerdSettings{});
  ordered_json networks = ordered_json::array();
  for (const auto& net : linkerd.cluster_networks) networks.push_back(net.text);
  return {{"root_namespace", s.root_namespace},
          {"trust_domain", s.trust_domain},
          {"auto_mtls", s.auto_mtls},
          {"linkerd",
           {{"default_inbound_policy",
             config::linkerdDefaultPolicyName(linkerd.default_inbound_policy)},
            {"cluster_networks", std::move(networks)}}}};
}

ordered_json orNull(const std::string& value) {
  return value.empty() || value == "-" ? ordered_json() : ordered_json(value);
}

std::string qualified(const config::PolicyMeta& meta) {
  return meta.namespace_name + "/" + meta.name;
}

// ---- check mode -------------------------------------------------------------------------------

struct ModeFlags {
  MeshFlags mesh;
  std::string namespace_name;
  std::string labels;
  uint32_t port = 0;
  std::string output = "table";
};

Result<config::Labels> parseLabels(const std::string& text) {
  config::Labels labels;
  size_t start = 0;
  while (start < text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return invalidArgument("--labels: expected key=value[,key=value], got \"" + item + "\"");
    }
    labels[item.substr(0, eq)] = item.substr(eq + 1);
    start = comma + 1;
  }
  return labels;
}

std::string labelsText(const config::Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}

// One PeerAuthentication that could apply to the workload, and whether it did.
struct Candidate {
  std::string level;  // "mesh", "namespace", "workload", "port"
  std::string policy;
  std::string mode;
  bool used = false;
  std::string note;
  std::optional<uint32_t> port;  // for level "port"
};

int levelRank(policy::Level level) {
  switch (level) {
    case policy::Level::kMesh:
      return 0;
    case policy::Level::kNamespace:
      return 1;
    case policy::Level::kWorkload:
      return 2;
    case policy::Level::kPort:
      return 3;
    case policy::Level::kDefault:
      break;
  }
  return -1;
}

// The note of a policy used at its level (rank 0..3) given the decision.
std::string usedNote(MtlsMode mode, int rank, const policy::ModeDecision& d) {
  if (mode == MtlsMode::kUnset) {
    return rank == 3 ? "UNSET: inherits the workload level" : "UNSET: inherits the wider level";
  }
  const int decided = levelRank(d.level);
  if (rank == decided) return "decides";
  return "overridden by the " + std::string(policy::levelName(d.level)) + " level";
}

// Every PeerAuthentication that could apply to a workload, level by level (mesh, namespace,
// workload, the workload policy's port entry), the used one first in each, then root-namespace
// policies whose selector matches (ignored by Istio); "none" rows for empty levels.
std::vector<Candidate> modeCandidates(const config::MeshConfig& mesh,
                                      const config::MeshSettings& settings, const std::string& ns,
                                      const config::Labels& labels, uint32_t port,
                                      const policy::ModeDecision& d) {
  const auto selected = policy::selectPeerAuthentications(mesh.peer_authentications,
                                                          settings.root_namespace, ns, labels);
  const config::PeerAuthentication* chosen[3] = {selected.mesh, selected.namespace_level,
                                                 selected.workload};
  // Per level (mesh, namespace, workload, ignored root-namespace selectors).
  std::vector<const config::PeerAuthentication*> levels[4];
  for (const auto& p : mesh.peer_authentications) {
    const bool has_selector = p.selector && !p.selector->empty();
    const bool in_root = p.meta.namespace_name == settings.root_namespace;
    if (in_root && !has_selector) {
      levels[0].push_back(&p);
    } else if (in_root) {
      if (policy::selectorMatches(*p.selector, labels)) levels[3].push_back(&p);
    } else if (p.meta.namespace_name == ns) {
      if (!has_selector) {
        levels[1].push_back(&p);
      } else if (policy::selectorMatches(*p.selector, labels)) {
        levels[2].push_back(&p);
      }
    }
  }
  const char* names[4] = {"mesh", "namespace", "workload", "workload"};
  std::vector<Candidate> out;
  for (int level = 0; level < 4; ++level) {
    auto& list = levels[level];
    std::sort(list.begin(), list.end(),
              [](const auto* a, const auto* b) { return policy::olderThan(a->meta, b->meta); });
    if (list.empty() && level < 3) out.push_back({names[level], "-", "-", false, "none", {}});
    for (const auto* p : list) {
      Candidate c{
          names[level], qualified(p->meta), std::string(policy::modeName(p->mode)), false, "", {}};
      if (level == 3) {
        c.note = "ignored: a selector in the root namespace makes a policy apply to nothing";
      } else if (p == chosen[level]) {
        c.used = true;
        c.note = usedNote(p->mode, level, d);
      } else {
        c.note = "ignored: " + qualified(chosen[level]->meta) +
                 " is older (one policy per level, the oldest wins)";
      }
      out.push_back(c);
      if (level != 2 || p != chosen[2]) continue;
      auto it = p->port_level.find(port);
      if (it == p->port_level.end()) continue;
      out.push_back({"port", qualified(p->meta), std::string(policy::modeName(it->second)), true,
                     usedNote(it->second, 3, d), port});
    }
  }
  return out;
}

std::string decidedBy(const policy::ModeDecision& d) {
  switch (d.level) {
    case policy::Level::kDefault:
      return "no PeerAuthentication sets a mode: Istio's default";
    case policy::Level::kPort:
      return "portLevelMtls entry " + std::to_string(*d.port_entry) + " of " + d.policy;
    default:
      break;
  }
  std::string out = std::string(policy::levelName(d.level)) + "-level policy " + d.policy;
  if (d.port_entry) {
    out += " (portLevelMtls entry " + std::to_string(*d.port_entry) + " is UNSET and inherits it)";
  }
  return out;
}

int runMode(const ModeFlags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return reportError(output.error());
  if (!config::isDns1123Label(f.namespace_name)) {
    return reportError(Error{Code::kInvalidArgument,
                             "--namespace " + f.namespace_name + ": not a namespace name", ""});
  }
  if (f.port == 0 || f.port > 65535) {
    return reportError(Error{Code::kInvalidArgument,
                             "--port " + std::to_string(f.port) + ": expected 1..65535", ""});
  }
  auto labels = parseLabels(f.labels);
  if (!labels) return reportError(labels.error());
  auto in = readInputs(f.mesh);
  if (!in) return reportError(in.error());
  if (auto rc = rejectInvalid(*in)) return *rc;

  const policy::Simulator sim(in->mesh, in->settings);
  const policy::ModeDecision d = sim.mode(f.namespace_name, *labels, f.port);
  const auto candidates =
      modeCandidates(in->mesh, in->settings, f.namespace_name, *labels, f.port, d);

  if (*output == Output::kJson) {
    ordered_json list = ordered_json::array();
    for (const auto& c : candidates) {
      if (c.policy == "-") continue;
      list.push_back({{"level", c.level},
                      {"port", c.port ? ordered_json(*c.port) : ordered_json()},
                      {"policy", c.policy},
                      {"mode", c.mode},
                      {"used", c.used},
                      {"note", orNull(c.note)}});
    }
    ordered_json j{{"namespace", f.namespace_name},
                   {"labels", *labels},
                   {"port", f.port},
                   {"mode", policy::modeName(d.mode)},
                   {"level", policy::levelName(d.level)},
                   {"policy", orNull(d.policy)},
                   {"port_entry", d.port_entry ? ordered_json(*d.port_entry) : ordered_json()},
                   {"decided_by", decidedBy(d)},
                   {"policies", list},
                   {"mesh", settingsJson(*in)}};
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : candidates) {
    rows.push_back(
        {c.port ? "port " + std::to_string(*c.port) : c.level, c.policy, c.mode, c.note});
  }
  rows.push_back({"effective", d.policy.empty() ? "-" : d.policy,
                  std::string(policy::modeName(d.mode)), decidedBy(d)});
  std::cout << "Workload " << f.namespace_name << " {" << labelsText(*labels) << "} port " << f.port
            << " (a workload port: the container port, the Service's targetPort)\n";
  printTable(std::cout, {"level", "policy", "mode", "note"}, rows);
  return kExitOk;
}

// ---- check tls --------------------------------------------------------------------------------

struct TlsFlags {
  MeshFlags mesh;
  std::string from;
  std::string to;
  std::string output = "table";
};

std::string serverText(const policy::CheckRow& row) {
  if (row.server.empty()) return "-";
  return row.server + ":" + std::to_string(row.target_port);
}

std::string hostPort(const policy::CheckRow& row) {
  return row.host + ":" + std::to_string(row.port);
}

// Output for up to millions of rows: written in chunks as it is built, never held whole.
class Writer {
 public:
  explicit Writer(std::ostream& out) : out_(out) { buf_.reserve(kChunk + 4096); }
  ~Writer() { flush(); }
  std::string& buf() { return buf_; }
  void maybeFlush() {
    if (buf_.size() >= kChunk) flush();
  }
  void flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  std::ostream& out_;
  std::string buf_;
};

void appendJsonString(std::string& out, std::string_view s) { appendQuoted(out, s); }

// A string field, null when empty or "-".
void appendField(std::string& out, std::string_view key, std::string_view value,
                 bool first = false) {
  if (!first) out += ", ";
  appendJsonString(out, key);
  out += ": ";
  if (value.empty() || value == "-") {
    out += "null";
  } else {
    appendJsonString(out, value);
  }
}

void appendField(std::string& out, std::string_view key, uint32_t value) {
  out += ", ";
  appendJsonString(out, key);
  out += ": ";
  out += std::to_string(value);
}

// One connection as a one-line JSON object (the fields of docs/policy.md).
void appendRowJson(std::string& out, const policy::CheckRow& row) {
  out += '{';
  appendField(out, "client", row.client, true);
  appendField(out, "host", row.host);
  appendField(out, "port", row.port);
  appendField(out, "server", row.server);
  appendField(out, "target_port", row.target_port);
  appendField(out, "server_mode", row.server_mode);
  appendField(out, "client_tls", row.client_tls);
  appendField(out, "destination_rule", row.destination_rule);
  appendField(out, "policy", row.policy);
  appendField(out, "authz", row.authz);
  appendField(out, "status", policy::statusName(row.status));
  appendField(out, "outcome", policy::outcomeName(row.outcome));
  appendField(out, "reason", row.reason);
  out += '}';
}

// The cells of one `check tls` table row, into reusable strings.
void tlsCells(const policy::CheckRow& row, std::array<std::string, 9>& cells) {
  cells[0] = row.client;
  cells[1] = row.host;
  cells[1] += ':';
  cells[1] += std::to_string(row.port);
  if (row.server.empty()) {
    cells[2] = "-";
  } else {
    cells[2] = row.server;
    cells[2] += ':';
    cells[2] += std::to_string(row.target_port);
  }
  cells[3] = row.server_mode;
  cells[4] = row.client_tls;
  cells[5] = row.destination_rule;
  cells[6] = policy::statusName(row.status);
  cells[7] = policy::outcomeName(row.outcome);
  cells[8] = row.reason;
}

// Counts per outcome, for the summary line.
struct Tally {
  size_t total = 0;
  size_t failed = 0;
  std::array<size_t, 8> by_outcome{};  // indexed by policy::Outcome

  void add(const policy::CheckRow& row) {
    ++total;
    if (!policy::succeeded(row.outcome)) ++failed;
    ++by_outcome[static_cast<size_t>(row.outcome)];
  }
  // The outcomes that occur, by name.
  std::vector<std::pair<std::string, size_t>> outcomes() const {
    std::vector<std::pair<std::string, size_t>> out;
    for (size_t i = 0; i < by_outcome.size(); ++i) {
      if (by_outcome[i] == 0) continue;
      out.emplace_back(policy::outcomeName(static_cast<policy::Outcome>(i)), by_outcome[i]);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

constexpr std::array<std::string_view, 9> kTlsHeaders = {
    "CLIENT",           "HOST:PORT", "SERVER",  "SERVER MODE", "CLIENT TLS",
    "DESTINATION RULE", "STATUS",    "OUTCOME", "REASON"};

// printTable's format (upper-case headers, two spaces between columns, no trailing blanks),
// streamed from the simulator: a first pass measures the columns, a second writes them, so
// the rows of a large mesh are never held (that costs more than computing them twice).
struct TlsTable {
  std::array<size_t, 9> width{};
  std::array<std::string, 9> cells;

  TlsTable() {
    for (size_t i = 0; i < kTlsHeaders.size(); ++i) width[i] = kTlsHeaders[i].size();
  }
  void measure(const policy::CheckRow& row) {
    tlsCells(row, cells);
    for (size_t i = 0; i < cells.size(); ++i) width[i] = std::max(width[i], cells[i].size());
  }
  template <typename Cells>
  void write(Writer& w, const Cells& c) const {
    std::string& buf = w.buf();
    const size_t start = buf.size();
    for (size_t i = 0; i < c.size(); ++i) {
      buf += c[i];
      if (i + 1 < c.size()) buf.append(width[i] - std::string_view(c[i]).size() + 2, ' ');
    }
    while (buf.size() > start && buf.back() == ' ') buf.pop_back();
    buf += '\n';
    w.maybeFlush();
  }
  void write(Writer& w, const policy::CheckRow& row) {
    tlsCells(row, cells);
    write(w, cells);
  }
};

// `--to` for a host that is plainly meant to be in the cluster (name.ns, ...svc...) but names
// no Service is a typo, not an external host.
std::optional<Error> checkTo(const Inputs& in, const std::string& to) {
  const auto colon = to.rfind(':');
  if (colon == std::string::npos) return std::nullopt;  // the simulator explains
  const std::string host = to.substr(0, colon);
  const std::string suffix = ".svc." + in.settings.domain_suffix;
  const bool cluster_name =
      (host.size() > suffix.size() &&
       host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) ||
      (host.size() > 4 && host.compare(host.size() - 4, 4, ".svc") == 0);
  std::set<std::string> namespaces;
  for (const auto& s : in.mesh.services) namespaces.insert(s.meta.namespace_name);
  const auto dot = host.find('.');
  const bool name_ns = dot != std::string::npos && host.find('.', dot + 1) == std::string::npos &&
                       namespaces.count(host.substr(dot + 1)) > 0;
  if (!cluster_name && !name_ns) return std::nullopt;
  for (const auto& s : in.mesh.services) {
    const std::string base = s.meta.name + "." + s.meta.namespace_name;
    if (host == base || host == base + ".svc" || host == base + suffix) return std::nullopt;
  }
  return Error{Code::kNotFound,
               "--to " + to + ": no Service " + host +
                   " in the inventory (an external host is "
                   "written as its DNS name, e.g. api.example.com:443)",
               ""};
}

int runTls(const TlsFlags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return reportError(output.error());
  auto in = readInputs(f.mesh);
  if (!in) return reportError(in.error());
  if (auto rc = rejectInvalid(*in)) return *rc;
  if (!f.to.empty()) {
    if (auto e = checkTo(*in, f.to)) return reportError(*e);
  }
  const policy::Simulator sim(in->mesh, in->settings);
  const std::optional<std::string> from = f.from.empty() ? std::nullopt : std::optional(f.from);
  const std::optional<std::string> to = f.to.empty() ? std::nullopt : std::optional(f.to);
  Tally tally;

  if (*output == Output::kJson) {
    // One connection per line: the output for a large mesh is big, and greppable this way.
    {
      Writer w(std::cout);
      w.buf() += "{\n  \"connections\": [";
      auto n = sim.forEachRow(from, to, [&](policy::CheckRow&& row) {
        w.buf() += tally.total == 0 ? "\n    " : ",\n    ";
        appendRowJson(w.buf(), row);
        w.maybeFlush();
        tally.add(row);
      });
      if (!n) {
        w.buf().clear();
        return reportError(n.error());
      }
      w.buf() += tally.total == 0 ? "],\n" : "\n  ],\n";
    }
    ordered_json counts = ordered_json::object();
    for (const auto& [name, n] : tally.outcomes()) counts[name] = n;
    const ordered_json summary{{"total", tally.total},
                               {"succeeded", tally.total - tally.failed},
                               {"failed", tally.failed},
                               {"outcomes", counts}};
    std::cout << "  \"summary\": " << summary.dump() << ",\n"
              << "  \"mesh\": " << settingsJson(*in).dump() << "\n}\n";
    return tally.failed > 0 ? kExitCheckFailed : kExitOk;
  }

  TlsTable table;
  auto n = sim.forEachRow(from, to, [&](policy::CheckRow&& row) {
    table.measure(row);
    tally.add(row);
  });
  if (!n) return reportError(n.error());
  {
    Writer w(std::cout);
    table.write(w, kTlsHeaders);
    (void)sim.forEachRow(from, to, [&](policy::CheckRow&& row) { table.write(w, row); });
  }
  std::string counts;
  for (const auto& [name, count] : tally.outcomes()) {
    counts += (counts.empty() ? "" : ", ") + std::to_string(count) + " " + name;
  }
  std::cout << "\n"
            << tally.total << " connection" << (tally.total == 1 ? "" : "s") << ": "
            << (counts.empty() ? "none" : counts) << "; "
            << (tally.failed == 0 ? "none fails" : std::to_string(tally.failed) + " would fail")
            << "\n";
  return tally.failed > 0 ? kExitCheckFailed : kExitOk;
}

// ---- check migrate ----------------------------------------------------------------------------

struct MigrateFlags {
  MeshFlags mesh;
  std::string namespace_name;
  bool whole_mesh = false;
  std::string to;
  std::string output = "table";
};

// A workload port in the scope that still accepts plaintext after the move, and why.
struct NotStrict {
  std::string workload;
  uint32_t port = 0;
  std::string mode;  // DISABLE, PERMISSIVE, or "-" (no sidecar on that port)
  std::string reason;
};

// The PeerAuthentications after the move (as policy::migrateToStrict builds them).
std::vector<config::PeerAuthentication> movedPolicies(
    const std::vector<config::PeerAuthentication>& all, const std::string& scope) {
  std::vector<config::PeerAuthentication> moved;
  for (const auto& p : all) {
    if (p.meta.namespace_name == scope && (!p.selector || p.selector->empty())) continue;
    moved.push_back(p);
  }
  config::PeerAuthentication strict;
  strict.meta.name = "mutual-migrate-strict";
  strict.meta.namespace_name = scope;
  strict.mode = MtlsMode::kStrict;
  moved.push_back(strict);
  return moved;
}

// The ports a workload serves: its container ports and the targetPorts of Services selecting it.
std::set<uint32_t> servedPorts(const config::MeshConfig& mesh, const config::Workload& w) {
  std::set<uint32_t> ports;
  for (const auto& cp : w.ports) ports.insert(cp.port);
  for (const auto& s : mesh.services) {
    if (s.meta.namespace_name != w.meta.namespace_name || !s.selector || s.selector->empty() ||
        !policy::selectorMatches(*s.selector, w.labels)) {
      continue;
    }
    for (const auto& p : s.ports) {
      uint32_t port = p.target_port != 0 ? p.target_port : p.port;
      if (p.target_port == 0 && !p.target_port_name.empty()) {
        for (const auto& cp : w.ports) {
          if (cp.name == p.target_port_name) port = cp.port;
        }
      }
      ports.insert(port);
    }
  }
  return ports;
}

std::vector<NotStrict> notStrictAfter(const config::MeshConfig& mesh,
                                      const config::MeshSettings& settings,
                                      const std::vector<config::PeerAuthentication>& moved,
                                      const std::string& namespace_name) {
  std::vector<NotStrict> out;
  for (const auto& w : mesh.workloads) {
    if (!namespace_name.empty() && w.meta.namespace_name != namespace_name) continue;
    const std::string name = qualified(w.meta);
    if (!w.sidecar) {
      out.push_back({name, 0, "-", "no sidecar: STRICT does not apply, it accepts plaintext"});
      continue;
    }
    for (uint32_t port : servedPorts(mesh, w)) {
      if (std::find(w.linkerd_skip_inbound_ports.begin(), w.linkerd_skip_inbound_ports.end(),
                    port) != w.linkerd_skip_inbound_ports.end()) {
        out.push_back(
            {name, port, "-", "in config.linkerd.io/skip-inbound-ports: bypasses the proxy"});
        continue;
      }
      const auto d = policy::effectiveMode(moved, settings.root_namespace, w.meta.namespace_name,
                                           w.labels, port);
      if (d.mode == MtlsMode::kStrict) continue;
      out.push_back({name, port, std::string(policy::modeName(d.mode)), decidedBy(d)});
    }
  }
  return out;
}

int runMigrate(const MigrateFlags& f) {
  auto output = parseOutput(f.output, {"table", "json"});
  if (!output) return reportError(output.error());
  if (f.to != "STRICT") {
    return reportError(
        Error{Code::kInvalidArgument, "--to " + f.to + ": only STRICT is supported", ""});
  }
  if (f.whole_mesh == !f.namespace_name.empty()) {
    return reportError(
        Error{Code::kInvalidArgument, "give exactly one of --namespace NS or --mesh", ""});
  }
  auto in = readInputs(f.mesh);
  if (!in) return reportError(in.error());
  if (auto rc = rejectInvalid(*in)) return *rc;
  const auto& mesh = in->mesh;
  const auto& settings = in->settings;
  if (!f.whole_mesh) {
    const bool known = std::any_of(
        mesh.workloads.begin(), mesh.workloads.end(),
        [&](const config::Workload& w) { return w.meta.namespace_name == f.namespace_name; });
    if (!known) {
      return reportError(Error{
          Code::kNotFound,
          "--namespace " + f.namespace_name + ": no workload of the inventory is in that namespace",
          ""});
    }
  }
  const std::string scope = f.whole_mesh ? settings.root_namespace : f.namespace_name;
  const auto current = policy::selectPeerAuthentications(mesh.peer_authentications,
                                                         settings.root_namespace, scope, {});
  const config::PeerAuthentication* replaced =
      f.whole_mesh ? current.mesh : current.namespace_level;
  auto breaks = policy::migrateToStrict(mesh, settings, f.whole_mesh ? "" : f.namespace_name);
  if (!breaks) return reportError(breaks.error());
  const auto not_strict = notStrictAfter(
      mesh, settings, movedPolicies(mesh.peer_authentications, scope), f.namespace_name);
  const int rc = breaks->empty() ? kExitOk : kExitCheckFailed;

  if (*output == Output::kJson) {
    ordered_json list = ordered_json::array();
    for (const auto& b : *breaks) {
      list.push_back({{"client", b.after.client},
                      {"host", b.after.host},
                      {"port", b.after.port},
                      {"server", orNull(b.after.server)},
                      {"target_port", b.after.target_port},
                      {"client_tls", orNull(b.after.client_tls)},
                      {"destination_rule", orNull(b.after.destination_rule)},
                      {"before",
                       {{"server_mode", orNull(b.before.server_mode)},
                        {"status", policy::statusName(b.before.status)},
                        {"outcome", policy::outcomeName(b.before.outcome)}}},
                      {"after",
                       {{"server_mode", orNull(b.after.server_mode)},
                        {"status", policy::statusName(b.after.status)},
                        {"outcome", policy::outcomeName(b.after.outcome)},
                        {"policy", orNull(b.after.policy)}}},
                      {"reason", b.why}});
    }
    ordered_json remaining = ordered_json::array();
    for (const auto& n : not_strict) {
      remaining.push_back({{"workload", n.workload},
                           {"port", n.port == 0 ? ordered_json() : ordered_json(n.port)},
                           {"mode", orNull(n.mode)},
                           {"reason", n.reason}});
    }
    ordered_json j{
        {"scope", f.whole_mesh ? "mesh" : "namespace"},
        {"namespace", scope},
        {"to", "STRICT"},
        {"replaces", replaced ? ordered_json(qualified(replaced->meta)) : ordered_json()},
        {"breaks", std::move(list)},
        {"not_strict", std::move(remaining)},
        {"mesh", settingsJson(*in)}};
    std::cout << j.dump(2) << "\n";
    return rc;
  }

  const std::string what = f.whole_mesh ? "the mesh (" + scope + ")" : "namespace " + scope;
  std::string change;
  if (replaced == nullptr) {
    change = "adds a " + std::string(f.whole_mesh ? "mesh" : "namespace") +
             "-wide STRICT PeerAuthentication";
  } else if (replaced->mode == MtlsMode::kStrict) {
    change = qualified(replaced->meta) + " is already STRICT";
  } else {
    change = "replaces " + qualified(replaced->meta) + " (" +
             std::string(policy::modeName(replaced->mode)) + ")";
  }
  std::cout << "Moving " << what << " to STRICT: " << change
            << "; narrower policies stay as they are.\n\n";
  if (breaks->empty()) {
    std::cout << "Nothing breaks: no connection that works today would fail.\n";
  } else {
    std::cout << breaks->size() << " connection" << (breaks->size() == 1 ? "" : "s") << " that work"
              << (breaks->size() == 1 ? "s" : "") << " today would fail:\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : *breaks) {
      rows.push_back({b.after.client, hostPort(b.after), serverText(b.after),
                      std::string(policy::outcomeName(b.before.outcome)),
                      std::string(policy::outcomeName(b.after.outcome)), b.why});
    }
    printTable(std::cout, {"client", "host:port", "server", "now", "after", "why"}, rows);
  }
  if (!not_strict.empty()) {
    std::cout << "\nStill accepting plaintext after the move:\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : not_strict) {
      rows.push_back({n.workload, n.port == 0 ? "*" : std::to_string(n.port), n.mode, n.reason});
    }
    printTable(std::cout, {"workload", "port", "mode", "why"}, rows);
  }
  return rc;
}

// ---- check validate ---------------------------------------------------------------------------

struct ValidateFlags {
  MeshFlags mesh;
  std::string output = "text";
};

int runValidate(const ValidateFlags& f) {
  auto output = parseOutput(f.output, {"text", "json"});
  if (!output) return reportError(output.error());
  auto in = readInputs(f.mesh);
  if (!in) return reportError(in.error());
  const size_t errors =
      static_cast<size_t>(std::count_if(in->findings.begin(), in->findings.end(), isError));
  const size_t warnings = in->findings.size() - errors;
  const int rc = errors > 0 ? kExitFailed : kExitOk;
  const auto& m = in->mesh;
  const std::vector<std::pair<std::string, size_t>> kinds{
      {"PeerAuthentication", m.peer_authentications.size()},
      {"DestinationRule", m.destination_rules.size()},
      {"AuthorizationPolicy", m.authorization_policies.size()},
      {"Server", m.linkerd_servers.size()},
      {"ServerAuthorization", m.linkerd_server_authorizations.size()},
      {"AuthorizationPolicy.policy.linkerd.io", m.linkerd_authorization_policies.size()},
      {"MeshTLSAuthentication", m.meshtls_authentications.size()},
      {"NetworkAuthentication", m.network_authentications.size()},
      {"Service", m.services.size()},
      {"workloads", m.workloads.size()}};

  if (*output == Output::kJson) {
    ordered_json list = ordered_json::array();
    for (const auto& finding : in->findings) {
      list.push_back({{"severity", isError(finding) ? "error" : "warning"},
                      {"file", finding.location.file},
                      {"line", finding.location.line},
                      {"field", orNull(finding.field)},
                      {"message", finding.message}});
    }
    ordered_json counts = ordered_json::object();
    for (const auto& [kind, n] : kinds) counts[kind] = n;
    ordered_json j{{"valid", errors == 0}, {"files", in->files},   {"documents", in->documents},
                   {"errors", errors},     {"warnings", warnings}, {"findings", std::move(list)},
                   {"read", counts}};
    std::cout << j.dump(2) << "\n";
    return rc;
  }
  for (const auto& finding : in->findings) std::cout << finding.str() << "\n";
  std::string read;
  for (const auto& [kind, n] : kinds) {
    const std::string label = kind == "workloads" && n == 1 ? "workload" : kind;
    if (n > 0) read += (read.empty() ? "" : ", ") + std::to_string(n) + " " + label;
  }
  std::cout << (errors > 0 ? "invalid: " : "valid: ") << in->documents << " document"
            << (in->documents == 1 ? "" : "s") << " in " << in->files << " file"
            << (in->files == 1 ? "" : "s");
  if (errors > 0) std::cout << ", " << errors << " error" << (errors == 1 ? "" : "s");
  if (warnings > 0) std::cout << ", " << warnings << " warning" << (warnings == 1 ? "" : "s");
  std::cout << (read.empty() ? "" : " (" + read + ")") << "\n";
  return rc;
}

}  // namespace

void registerCheckCommands(CLI::App& root, int& exit_code) {
  CLI::App* check = root.add_subcommand(
      "check",
      "Check mesh policy offline: effective mTLS modes, client x server outcomes, "
      "STRICT migrations, manifest validation");
  check->require_subcommand(1);

  auto mode = std::make_shared<ModeFlags>();
  CLI::App* mode_cmd = check->add_subcommand(
      "mode", "The effective PeerAuthentication mode of a workload port, and what decided it");
  addMeshFlags(mode_cmd, mode->mesh);
  mode_cmd->add_option("--namespace", mode->namespace_name, "The workload's namespace")->required();
  mode_cmd->add_option("--labels", mode->labels, "The workload's labels: k=v[,k=v]");
  mode_cmd->add_option("--port", mode->port, "The workload (container) port")->required();
  mode_cmd->add_option("-o,--output", mode->output, "table|json")->capture_default_str();
  mode_cmd->callback([mode, &exit_code] { exit_code = runMode(*mode); });

  auto tls = std::make_shared<TlsFlags>();
  CLI::App* tls_cmd = check->add_subcommand(
      "tls", "What happens on the wire for every client x service port (exit 3 if any fails)");
  addMeshFlags(tls_cmd, tls->mesh);
  tls_cmd->add_option("--from", tls->from, "Only this client: NAMESPACE/WORKLOAD");
  tls_cmd->add_option("--to", tls->to,
                      "Only this destination: HOST:PORT (name.namespace, its FQDN, or an "
                      "external host)");
  tls_cmd->add_option("-o,--output", tls->output, "table|json")->capture_default_str();
  tls_cmd->callback([tls, &exit_code] { exit_code = runTls(*tls); });

  auto migrate = std::make_shared<MigrateFlags>();
  CLI::App* migrate_cmd = check->add_subcommand(
      "migrate", "What would break if a namespace or the mesh moved to STRICT (exit 3 if any)");
  addMeshFlags(migrate_cmd, migrate->mesh);
  migrate_cmd->add_option("--namespace", migrate->namespace_name, "The namespace to move");
  migrate_cmd->add_flag("--mesh", migrate->whole_mesh, "Move the whole mesh (root namespace)");
  migrate_cmd->add_option("--to", migrate->to, "The target mode: STRICT")->required();
  migrate_cmd->add_option("-o,--output", migrate->output, "table|json")->capture_default_str();
  migrate_cmd->callback([migrate, &exit_code] { exit_code = runMigrate(*migrate); });

  auto validate = std::make_shared<ValidateFlags>();
  CLI::App* validate_cmd = check->add_subcommand(
      "validate", "Validate mesh manifests: exit 0 valid, 1 invalid, listing every finding");
  addMeshFlags(validate_cmd, validate->mesh);
  validate_cmd->add_option("-o,--output", validate->output, "text|json")->capture_default_str();
  validate_cmd->callback([validate, &exit_code] { exit_code = runValidate(*validate); });
}

}  // namespace mutual::cli
