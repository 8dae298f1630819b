#include "agent/agent.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/file.h"
#include "base/rotation.h"
#include "base/time.h"
#include "crypto/csr.h"
#include "server/bundle_format.h"

namespace mutual::agent {
namespace {

namespace fs = std::filesystem;

std::vector<crypto::Certificate> fromDer(const std::vector<std::string>& ders) {
  std::vector<crypto::Certificate> out;
  for (const auto& der : ders) {
    if (auto cert = crypto::Certificate::fromDer(der)) out.push_back(std::move(*cert));
  }
  return out;
}

// A synced bundle's JWT keys, as the Workload API serves them (FetchJWTBundles) and checks
// tokens with (ValidateJWTSVID). A key that cannot be read is skipped, and said.
spiffe::JwtBundle jwtBundleOf(const spiffe::TrustDomain& td, const server::Bundle& bundle) {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& authority : bundle.jwt_authorities) {
    auto jwk = server::jwtAuthorityJwk(authority);
    if (!jwk) {
      spdlog::warn("bundle of {}: JWT key {} skipped: {}", td.name(), authority.key_id,
                   jwk.error().message);
      continue;
    }
    keys.push_back(nlohmann::json::parse(*jwk));
  }
  auto parsed = spiffe::JwtBundle::parse(td, nlohmann::json{{"keys", keys}}.dump());
  if (!parsed) {
    spdlog::warn("bundle of {}: JWT keys skipped: {}", td.name(), parsed.error().message);
    return spiffe::JwtBundle(td);
  }
  return std::move(*parsed);
}

// The server no longer accepts this node SVID (the agent was evicted or banned, the SVID was
// superseded or its authority revoked): only a new attestation can help.
bool nodeRefused(const Error& error) {
  return error.code == Code::kPermissionDenied || error.code == Code::kUnauthenticated;
}

Entry toEntry(const server::Entry& entry) {
  Entry out{entry.id, *spiffe::SpiffeId::parse(entry.spiffe_id), {}, entry.federates_with,
            entry.dns_names, entry.x509_svid_ttl, entry.jwt_svid_ttl, entry.hint};
  for (const auto& selector : entry.selectors) out.selectors.push_back(selector.str());
  return out;
}

}  // namespace

namespace {

// "<agent.conf>:<line>: <field>": where a setting is, for messages about the file it names.
std::string fieldAt(const config::spire::AgentConf& conf, const std::string& field) {
  return conf.at(field).str() + ": " + field;
}

constexpr std::string_view kX509PopData = "plugins.NodeAttestor \"x509pop\".plugin_data.";

std::string resolveIn(const std::string& base_dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || base_dir.empty()) return p;
  return (fs::path(base_dir) / p).string();
}

}  // namespace

std::vector<std::string> Agent::checkFiles(const config::spire::AgentConf& conf,
                                           const std::string& base_dir, bool with_trust_bundle) {
  std::vector<std::string> problems;
  // Reads `file`, then `check`s its text; a problem names the field.
  const auto check = [&](const std::string& field, const std::string& file,
                         Result<void> (*parse)(const std::string&)) {
    const std::string resolved = resolveIn(base_dir, file);
    auto text = readFile(resolved);
    if (!text) {
      problems.push_back(fieldAt(conf, field) + ": " + text.error().message);
      return;
    }
    if (auto ok = parse(*text); !ok) {
      problems.push_back(fieldAt(conf, field) + ": " + resolved + ": " + ok.error().message);
    }
  };
  const auto certificates = [](const std::string& pem) -> Result<void> {
    auto certs = crypto::parsePemCertificates(pem);
    if (!certs) return fail(certs.error());
    if (certs->empty()) return fail(Code::kInvalidArgument, "no PEM certificate in it");
    return {};
  };
  const auto key = [](const std::string& pem) -> Result<void> {
    auto parsed = crypto::PrivateKey::fromPem(pem);
    if (!parsed) return fail(parsed.error());
    return {};
  };
  if (with_trust_bundle && !conf.insecure_bootstrap) {
    check("agent.trust_bundle_path", conf.trust_bundle_path, certificates);
  }
  if (conf.node_attestor.kind == config::spire::AgentNodeAttestor::Kind::kX509Pop) {
    check(std::string(kX509PopData) + "certificate_path", conf.node_attestor.certificate_path,
          certificates);
    check(std::string(kX509PopData) + "private_key_path", conf.node_attestor.private_key_path,
          key);
  }
  return problems;
}

std::vector<std::pair<size_t, size_t>> callRanges(size_t count, size_t per_call) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t begin = 0; begin < count; begin += per_call) {
    out.emplace_back(begin, std::min(count, begin + per_call));
  }
  return out;
}

Agent::Agent(config::spire::AgentConf conf, Options options)
    : conf_(std::move(conf)), options_(std::move(options)), trust_domain_(conf_.trustDomain()) {}

Agent::~Agent() { stop(); }

std::string Agent::path(const std::string& p) const { return resolveIn(options_.base_dir, p); }

std::string Agent::agentId() const {
  std::lock_guard lock(mu_);
  return agent_id_;
}

Result<std::unique_ptr<Agent>> Agent::start(config::spire::AgentConf conf, Options options) {
  std::unique_ptr<Agent> agent(new Agent(std::move(conf), std::move(options)));
  auto& a = *agent;
  std::error_code ec;
  fs::create_directories(a.path(a.conf_.data_dir), ec);
  if (ec) return fail(Code::kFailedPrecondition, a.path(a.conf_.data_dir) + ": " + ec.message());
  // Two agents on one data_dir would overwrite each other's bundle.pem and node SVID.
  auto lock = FileLock::acquire(fs::path(a.path(a.conf_.data_dir)) / "agent.lock");
  if (!lock) {
    return fail(lock.error().code, a.conf_.at("agent.data_dir").str() +
                                       ": agent.data_dir: another mutual agent is running with "
                                       "data_dir " + a.path(a.conf_.data_dir) + " (" +
                                       lock.error().message +
                                       "); stop it first, or give this agent its own data_dir");
  }
  a.data_dir_lock_.emplace(std::move(*lock));
  // The bundle of the last sync, saved in data_dir, when there is one (as SPIRE's agent does):
  // after a CA rotation the bootstrap bundle (trust_bundle_path) may no longer verify the server.
  const std::string saved_bundle = a.path(a.conf_.data_dir) + "/bundle.pem";
  if (auto pem = readFile(saved_bundle)) {
    auto roots = crypto::parsePemCertificates(*pem);
    if (roots && !roots->empty()) {
      a.trust_bundle_ = std::move(*roots);
      a.trust_bundle_file_ = saved_bundle;
    } else {
      spdlog::warn("agent: {}: ignored ({}); using trust_bundle_path", saved_bundle,
                   roots ? "no certificate" : roots.error().message);
    }
  }
  if (a.trust_bundle_.empty() && !a.conf_.insecure_bootstrap) {
    const std::string where = fieldAt(a.conf_, "agent.trust_bundle_path");
    auto pem = readFile(a.path(a.conf_.trust_bundle_path));
    if (!pem) return fail(pem.error().prefix(where));
    auto roots = crypto::parsePemCertificates(*pem);
    if (!roots) return fail(roots.error().prefix(where + ": " + a.path(a.conf_.trust_bundle_path)));
    if (roots->empty()) {
      return fail(Code::kInvalidArgument,
                  where + ": " + a.path(a.conf_.trust_bundle_path) + ": no PEM certificate");
    }
    a.trust_bundle_ = std::move(*roots);
    a.trust_bundle_file_ = a.path(a.conf_.trust_bundle_path);
  }
  if (!a.trust_bundle_file_.empty()) {
    spdlog::info("agent: verifying the server with {} ({} root(s))", a.trust_bundle_file_,
                 a.trust_bundle_.size());
  }
  // x509pop's files: a missing or unreadable one is an error at start naming its field, not a
  // retry every sync.
  if (auto problems = checkFiles(a.conf_, a.options_.base_dir, false); !problems.empty()) {
    return fail(Code::kInvalidArgument, problems.front());
  }
  UnixAttestorOptions attestor;
  if (!a.conf_.workload_attestors.empty()) {
    attestor.discover_workload_path = a.conf_.workload_attestors.front().discover_workload_path;
    attestor.workload_size_limit = a.conf_.workload_attestors.front().workload_size_limit;
  }
  Agent* self = agent.get();
  a.cache_ = std::make_unique<Cache>(
      a.trust_domain_, attestor, a.clock_,
      [self](const Entry& entry, const std::vector<std::string>& audience)
          -> Result<workloadapi::JwtSvidToken> {
        std::lock_guard lock(self->mu_);
        if (!self->client_) return fail(Code::kUnavailable, "not connected to the server");
        auto jwt = self->client_->signJwt(entry.id, audience);
        if (!jwt) return fail(jwt.error());
        return workloadapi::JwtSvidToken{entry.spiffe_id, jwt->token, entry.hint};
      });
  a.socket_path_ = a.path(a.conf_.socket_path);
  auto api = workloadapi::WorkloadApiServer::start({a.socket_path_}, *a.cache_);
  if (!api) return fail(api.error());
  a.api_ = std::move(*api);
  if (a.conf_.health_checks && a.conf_.health_checks->listener_enabled) {
    auto health = admin::HealthListener::start(
        *a.conf_.health_checks, [self](std::string& why) { return self->ready(why); });
    if (!health) {
      a.api_->stop();
      return fail(health.error());
    }
    a.health_ = std::move(*health);
    spdlog::info("agent: health checks on http://{}{} and {}", a.health_->address(),
                 a.conf_.health_checks->live_path, a.conf_.health_checks->ready_path);
  }
  a.thread_ = std::thread([self] { self->run(); });
  return agent;
}

bool Agent::ready(std::string& why) const {
  if (cache_->ready()) return true;
  std::lock_guard lock(mu_);
  why = "not synced with the server yet" +
        (last_sync_error_.empty() ? std::string() : ": " + last_sync_error_);
  return false;
}

std::string Agent::healthAddress() const { return health_ ? health_->address() : ""; }

void Agent::stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (health_) health_->stop();
  if (thread_.joinable()) thread_.join();
  if (api_) api_->stop();
}

std::string Agent::nodeSvidDir() const {
  if (conf_.key_manager.kind != config::spire::AgentKeyManager::Kind::kDisk) return "";
  return path(conf_.key_manager.directory);
}

Result<void> Agent::ensureNodeSvid() {
  const std::string dir = nodeSvidDir();
  const std::string svid_path = dir + "/agent_svid.pem";
  const std::string key_path = dir + "/agent_svid.key";
  // A node SVID from an earlier run, still valid: no new attestation (a join token is single
  // use, so a restarted agent must not need it again).
  if (node_chain_.empty() && !dir.empty()) {
    auto chain_pem = readFile(svid_path);
    auto key_pem = readFile(key_path);
    if (chain_pem && key_pem) {
      auto chain = crypto::parsePemCertificates(*chain_pem);
      auto key = crypto::PrivateKey::fromPem(*key_pem);
      if (chain && key && !chain->empty() && clock_.now() < chain->front().notAfter()) {
        std::lock_guard lock(mu_);
        node_chain_ = std::move(*chain);
        node_key_ = std::make_shared<const crypto::PrivateKey>(std::move(*key));
        agent_id_ = node_chain_.front().uriSans().empty() ? "" : node_chain_.front().uriSans().front();
      }
    }
  }
  if (!node_chain_.empty() && clock_.now() >= node_chain_.front().notAfter()) {
    dropNodeSvid("the node SVID expired at " + formatRfc3339(node_chain_.front().notAfter()));
  }
  // Renewed at half-life, and at once when its authority was tainted (the sync lists tainted
  // authorities): a revoke of that authority would otherwise lock the agent out, and a join
  // token agent cannot attest again by itself.
  const bool tainted = !node_chain_.empty() && cache_->issuedByTainted(node_chain_);
  bool renew = !node_chain_.empty() &&
               (tainted || shouldRenew(clock_.now(), node_chain_.front().notBefore(),
                                       node_chain_.front().notAfter(), 0.0));
  if (!node_chain_.empty() && !renew) return {};

  auto key = crypto::PrivateKey::generate(crypto::KeyType::kEcP256);
  if (!key) return fail(key.error());
  auto csr = crypto::createCsr(*key);
  if (!csr) return fail(csr.error());
  server::NodeClientOptions options{conf_.server_address + ":" + std::to_string(conf_.server_port),
                                    trust_domain_};
  options.trust_bundle = trust_bundle_;
  options.insecure_bootstrap = conf_.insecure_bootstrap && trust_bundle_.empty();
  Result<server::AgentSvid> svid = fail(Code::kInternal, "no attestation");
  if (renew) {
    options.svid_chain = node_chain_;
    options.svid_key = node_key_;
    auto client = server::NodeClient::connect(options);
    if (!client) return fail(client.error());
    svid = (*client)->renew(*csr);
    if (!svid && nodeRefused(svid.error())) dropNodeSvid(svid.error().message);
  } else {
    auto client = server::NodeClient::connect(options);
    if (!client) return fail(client.error());
    if (conf_.node_attestor.kind == config::spire::AgentNodeAttestor::Kind::kX509Pop) {
      const std::string cert_field = fieldAt(conf_, std::string(kX509PopData) + "certificate_path");
      const std::string key_field = fieldAt(conf_, std::string(kX509PopData) + "private_key_path");
      auto cert_pem = readFile(path(conf_.node_attestor.certificate_path));
      auto key_pem = readFile(path(conf_.node_attestor.private_key_path));
      if (!cert_pem) return fail(cert_pem.error().prefix(cert_field));
      if (!key_pem) return fail(key_pem.error().prefix(key_field));
      auto chain = crypto::parsePemCertificates(*cert_pem);
      auto pop_key = crypto::PrivateKey::fromPem(*key_pem);
      if (!chain) return fail(chain.error().prefix(cert_field));
      if (!pop_key) return fail(pop_key.error().prefix(key_field));
      svid = (*client)->attestX509Pop(*chain, *pop_key, *csr);
    } else {
      if (conf_.join_token.empty()) {
        return fail(Code::kFailedPrecondition,
                    (dir.empty() ? std::string("no node SVID (KeyManager \"memory\")")
                                 : "no node SVID in " + dir) +
                        " and no join_token in agent.conf to attest with");
      }
      svid = (*client)->attestJoinToken(conf_.join_token, *csr);
    }
  }
  if (!svid) {
    // Most often a server this bundle does not verify: say which bundle it was.
    if (svid.error().code == Code::kUnavailable && !trust_bundle_file_.empty()) {
      return fail(svid.error().prefix("verifying the server with " + trust_bundle_file_));
    }
    return fail(svid.error());
  }
  auto key_pem = key->toPkcs8Pem();
  auto chain_pem = crypto::toPem(svid->chain);
  if (!key_pem || !chain_pem) return fail(Code::kInternal, "cannot encode the node SVID");
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail(Code::kFailedPrecondition, dir + ": " + ec.message());
    if (auto w = writeFileAtomic(key_path, *key_pem, kPrivateKeyMode); !w) return fail(w.error());
    if (auto w = writeFileAtomic(svid_path, *chain_pem, 0644); !w) return fail(w.error());
  }
  keepTrustBundle(fromDer(svid->bundle.x509_authorities_der));
  std::lock_guard lock(mu_);
  node_chain_ = svid->chain;
  node_key_ = std::make_shared<const crypto::PrivateKey>(std::move(*key));
  agent_id_ = svid->spiffe_id;
  client_.reset();  // reconnect with the new SVID
  spdlog::info("agent: {} as {} (expires {}){}", renew ? "renewed" : "attested", svid->spiffe_id,
               formatRfc3339(node_chain_.front().notAfter()),
               tainted ? " replacing a node SVID signed by a tainted authority" : "");
  return {};
}

void Agent::dropNodeSvid(const std::string& why) {
  if (const std::string dir = nodeSvidDir(); !dir.empty()) {
    std::error_code ignored;
    fs::remove(dir + "/agent_svid.pem", ignored);
    fs::remove(dir + "/agent_svid.key", ignored);
  }
  {
    std::lock_guard lock(mu_);
    node_chain_.clear();
    node_key_.reset();
    agent_id_.clear();
    client_.reset();
  }
  if (conf_.node_attestor.kind == config::spire::AgentNodeAttestor::Kind::kX509Pop) {
    spdlog::warn("agent: node SVID dropped ({}); attesting again with x509pop", why);
  } else if (conf_.join_token.empty()) {
    spdlog::error(
        "agent: node SVID dropped ({}); a new join token is needed to attest again: generate "
        "one with `mutual server token generate`, set join_token in agent.conf and restart the "
        "agent",
        why);
  } else {
    // A join token is single use: the configured one most likely attested this agent already.
    spdlog::warn(
        "agent: node SVID dropped ({}); attesting again with agent.conf's join_token, which "
        "works only if it is unused: if it is refused, a new join token is needed (`mutual "
        "server token generate`; set join_token and restart the agent)",
        why);
  }
}

void Agent::keepTrustBundle(std::vector<crypto::Certificate> roots) {
  if (roots.empty()) return;
  auto pem = crypto::toPem(roots);
  if (!pem) return;
  std::lock_guard lock(mu_);
  if (auto held = crypto::toPem(trust_bundle_); held && *held == *pem) return;
  // Atomic: a crash mid-write must not leave a restarted agent unable to verify the server.
  if (auto w = writeFileAtomic(path(conf_.data_dir) + "/bundle.pem", *pem, 0644); !w) {
    spdlog::warn("agent: trust bundle not saved: {}", w.error().message);
  }
  trust_bundle_ = std::move(roots);
  trust_bundle_file_ = path(conf_.data_dir) + "/bundle.pem";
  // The client verifies the server with the bundle it was made with; the next sync makes a new
  // one (not now: the current call may still be using it). Kept, the old bundle would refuse a
  // server restarted with a certificate from a new root.
  client_stale_ = true;
  spdlog::info("agent: trust bundle updated ({} root(s))", trust_bundle_.size());
}

Result<void> Agent::syncOnce() {
  if (auto node = ensureNodeSvid(); !node) return node;
  server::NodeClient* client;
  {
    std::lock_guard lock(mu_);
    if (client_stale_) client_.reset();
    if (!client_) {
      client_stale_ = false;
      server::NodeClientOptions options{
          conf_.server_address + ":" + std::to_string(conf_.server_port), trust_domain_};
      options.trust_bundle = trust_bundle_;
      options.svid_chain = node_chain_;
      options.svid_key = node_key_;
      auto connected = server::NodeClient::connect(options);
      if (!connected) return fail(connected.error());
      client_ = std::move(*connected);
    }
    client = client_.get();
  }
  auto synced = client->sync();
  if (!synced) {
    if (nodeRefused(synced.error())) dropNodeSvid(synced.error().message);
    return fail(synced.error());
  }
  // The server's roots change with CA rotations: the next connection must verify against them.
  keepTrustBundle(fromDer(synced->bundle.x509_authorities_der));
  std::vector<Entry> entries;
  for (const auto& entry : synced->entries) {
    if (spiffe::SpiffeId::parse(entry.spiffe_id)) entries.push_back(toEntry(entry));
  }
  workloadapi::X509BundleMap bundles;
  spiffe::JwtBundles jwt_bundles;
  bundles[trust_domain_] = fromDer(synced->bundle.x509_authorities_der);
  jwt_bundles.emplace(trust_domain_, jwtBundleOf(trust_domain_, synced->bundle));
  for (const auto& federated : synced->federated_bundles) {
    if (auto td = spiffe::TrustDomain::parse(federated.trust_domain)) {
      bundles[*td] = fromDer(federated.x509_authorities_der);
      jwt_bundles.emplace(*td, jwtBundleOf(*td, federated));
    }
  }
  cache_->setEntries(std::move(entries));
  // Also read by the next ensureNodeSvid: a node SVID signed by a tainted authority is renewed.
  cache_->setTaintedAuthorities(synced->tainted_authority_ids);
  cache_->setBundles(std::move(bundles), std::move(jwt_bundles));

  auto due = cache_->dueForRenewal(clock_.now());
  if (!due.empty()) {
    std::vector<server::X509SvidRequest> requests;
    std::map<std::string, std::shared_ptr<const crypto::PrivateKey>> keys;
    for (const auto& entry : due) {
      auto key = crypto::PrivateKey::generate(crypto::KeyType::kEcP256);
      if (!key) return fail(key.error());
      auto csr = crypto::createCsr(*key);
      if (!csr) return fail(csr.error());
      requests.push_back({entry.id, *csr});
      keys[entry.id] = std::make_shared<const crypto::PrivateKey>(std::move(*key));
    }
    // In calls of at most kSvidsPerCall: what a call brought is kept even if a later one fails.
    size_t signed_count = 0;
    for (const auto& [begin, end] : callRanges(requests.size(), kSvidsPerCall)) {
      std::vector<server::X509SvidRequest> call(requests.begin() + static_cast<ptrdiff_t>(begin),
                                                requests.begin() + static_cast<ptrdiff_t>(end));
      auto signed_svids = client->signX509(call);
      if (!signed_svids) return fail(signed_svids.error());
      for (auto& svid : *signed_svids) {
        auto id = spiffe::SpiffeId::parse(svid.spiffe_id);
        if (!id || svid.chain.empty()) continue;
        // No bundle or hint: the cache serves the current ones (Cache::setSvid).
        cache_->setSvid(svid.entry_id,
                        workloadapi::X509Svid{*id, svid.chain, keys[svid.entry_id], {}, ""});
      }
      signed_count += signed_svids->size();
    }
    spdlog::info("agent: {} SVID(s) signed; serving {} entries", signed_count,
                 cache_->entryCount());
  }
  cache_->setReady(true);
  return {};
}

void Agent::run() {
  unsigned failures = 0;
  for (;;) {
    auto synced = syncOnce();
    std::chrono::milliseconds wait = options_.sync_interval;
    if (!synced) {
      spdlog::warn("agent: {} (serving cached SVIDs; retrying)", synced.error().message);
      {
        std::lock_guard lock(mu_);
        if (synced.error().code == Code::kUnavailable) client_.reset();
        last_sync_error_ = synced.error().message;
      }
      wait = backoffDelay(failures++, std::chrono::milliseconds(500), options_.sync_interval,
                          unitRandom());
    } else {
      failures = 0;
      std::lock_guard lock(mu_);
      last_sync_error_.clear();
    }
    std::unique_lock lock(stop_mu_);
    if (stop_cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
  }
}

}  // namespace mutual::agent
