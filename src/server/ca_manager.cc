#include "server/ca_manager.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/file.h"
#include "base/time.h"
#include "ca/validity.h"
#include "crypto/cert_builder.h"

namespace mutual::server {

namespace {

using crypto::Certificate;
using std::chrono::days;
using std::chrono::duration_cast;

constexpr Seconds kThirtyDays = duration_cast<Seconds>(days(30));
constexpr Seconds kSevenDays = duration_cast<Seconds>(days(7));
constexpr Seconds kPruneInterval{3600};

Seconds lifetime(TimePoint not_before, TimePoint not_after) {
  return duration_cast<Seconds>(not_after - not_before);
}

std::string randomHex(size_t bytes) {
  auto serial = crypto::randomSerial();  // 16 random bytes
  std::string raw = serial ? std::string(serial->begin(), serial->end()) : datastore::newUuid();
  return hex(raw).substr(0, bytes * 2);
}

std::string certsPem(const std::vector<Certificate>& certs) {
  auto pem = crypto::toPem(certs);
  return pem ? *pem : std::string();
}

Result<std::vector<Certificate>> readCerts(const std::filesystem::path& path) {
  auto text = readFile(path);
  if (!text) return fail(text.error());
  auto certs = crypto::parsePemCertificates(*text);
  if (!certs) return fail(certs.error().prefix(path.string()));
  return certs;
}

std::string derOf(const Certificate& cert) {
  auto der = cert.toDer();
  return der ? *der : std::string();
}

// What the roots and the authorities of `config` have in common: its subject with a fresh
// serial number, the public key of `key`, the trust domain's URI; and the validity given.
Result<CaCertSpec> caSpec(const CaManagerConfig& config, const crypto::PrivateKey& key,
                          TimePoint not_before, TimePoint not_after) {
  auto spki = publicKeyInfo(key);
  if (!spki) return fail(spki.error());
  auto serial = crypto::randomSerial();
  if (!serial) return fail(serial.error());
  CaCertSpec spec;
  spec.subject = config.subject;
  spec.serial.assign(serial->begin(), serial->end());
  spec.subject.serial_number = hex(spec.serial);
  spec.spki_der = std::move(*spki);
  spec.not_before = not_before;
  spec.not_after = not_after;
  spec.uri = config.trust_domain.idString();
  return spec;
}

}  // namespace

TimePoint prepareTime(TimePoint not_before, TimePoint not_after) {
  return not_after - std::min(lifetime(not_before, not_after) / 2, kThirtyDays);
}

TimePoint activateTime(TimePoint not_before, TimePoint not_after) {
  return not_after - std::min(lifetime(not_before, not_after) / 6, kSevenDays);
}

Seconds maxUncappedSvidTtl(Seconds ca_ttl) { return std::min(ca_ttl / 6, kSevenDays); }

std::string_view authorityStatusName(AuthorityStatus status) {
  switch (status) {
    case AuthorityStatus::kPrepared:
      return "prepared";
    case AuthorityStatus::kActive:
      return "active";
    case AuthorityStatus::kOld:
      return "old";
  }
  return "unknown";
}

CaManager::CaManager(CaManagerConfig config, datastore::DataStore& store, KeyManager& keys,
                     std::shared_ptr<const Clock> clock)
    : config_(std::move(config)), store_(store), keys_(keys), clock_(std::move(clock)) {
  if (config_.root_ttl <= Seconds(0)) config_.root_ttl = config_.ca_ttl * 10;
}

void CaManager::setOnChange(std::function<void()> callback) {
  std::lock_guard lock(snapshot_mu_);
  on_change_ = std::move(callback);
}

void CaManager::notify() {
  std::function<void()> callback;
  {
    std::lock_guard lock(snapshot_mu_);
    callback = on_change_;
  }
  if (callback) callback();
}

std::shared_ptr<const SigningCa> CaManager::current() const {
  std::lock_guard lock(snapshot_mu_);
  return current_;
}

std::shared_ptr<const JwtKey> CaManager::currentJwt() const {
  std::lock_guard lock(snapshot_mu_);
  return current_jwt_;
}

std::vector<std::string> CaManager::taintedAuthorityIds() const {
  std::lock_guard lock(snapshot_mu_);
  return tainted_;
}

void CaManager::publishSnapshot() {
  std::shared_ptr<const SigningCa> signing;
  std::shared_ptr<const JwtKey> jwt;
  std::vector<std::string> tainted;
  for (const auto& a : authorities_) {
    if (a.status == AuthorityStatus::kActive) {
      signing = a.signing;
      jwt = a.jwt;
    }
    if (a.tainted && !a.revoked) tainted.push_back(a.id);
  }
  std::lock_guard lock(snapshot_mu_);
  current_ = std::move(signing);
  current_jwt_ = std::move(jwt);
  tainted_ = std::move(tainted);
}

CaManager::Authority* CaManager::findLocked(AuthorityStatus status) {
  for (auto& a : authorities_) {
    if (a.status == status) return &a;
  }
  return nullptr;
}

CaManager::Authority* CaManager::findByIdLocked(const std::string& id) {
  for (auto& a : authorities_) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

// --- Journal --------------------------------------------------------------------------------

Result<void> CaManager::saveJournal() {
  nlohmann::json journal;
  journal["version"] = 1;
  journal["trust_domain"] = config_.trust_domain.name();
  journal["roots"] = nlohmann::json::array();
  for (const auto& r : roots_) {
    journal["roots"].push_back({{"id", r.id},
                                {"cert", certsPem({r.cert})},
                                {"key_id", r.key_id},
                                {"tainted", r.tainted},
                                {"revoked", r.revoked}});
  }
  journal["authorities"] = nlohmann::json::array();
  for (const auto& a : authorities_) {
    journal["authorities"].push_back({{"id", a.id},
                                      {"status", authorityStatusName(a.status)},
                                      {"chain", certsPem(a.chain)},
                                      {"root_id", a.root_id},
                                      {"upstream_id", a.upstream_id},
                                      {"key_id", a.key_id},
                                      {"jwt_key_id", a.jwt_key_id},
                                      {"jwt_kid", a.jwt_kid},
                                      {"jwt_public_key", base64Encode(a.jwt_public_key_der)},
                                      {"tainted", a.tainted},
                                      {"revoked", a.revoked}});
  }
  if (auto ok = store_.setCaJournal(config_.server_id, journal.dump()); !ok) {
    return fail(ok.error().prefix("saving the CA journal"));
  }
  return {};
}

Result<void> CaManager::loadKeys(Authority& a) {
  a.signing = nullptr;
  a.jwt = nullptr;
  auto key = keys_.get(a.key_id);
  if (!key) return fail(key.error());
  auto signing = makeSigningCa(a.chain, *key);
  if (!signing) return fail(signing.error().prefix("authority " + a.id));
  auto jwt_key = keys_.get(a.jwt_key_id);
  if (!jwt_key) return fail(jwt_key.error());
  a.signing = std::move(*signing);
  a.jwt = std::make_shared<const JwtKey>(
      JwtKey{a.jwt_kid, std::move(*jwt_key), a.jwt_public_key_der, a.notAfter()});
  return {};
}

Result<void> CaManager::loadJournal() {
  auto data = store_.fetchCaJournal(config_.server_id);
  if (!data) {
    if (data.error().code == Code::kNotFound) return {};
    return fail(data.error().prefix("loading the CA journal"));
  }
  auto journal = nlohmann::json::parse(*data, nullptr, false);
  if (journal.is_discarded() || !journal.is_object() || journal.value("version", 0) != 1) {
    return fail(Code::kDataLoss, "the CA journal of server " + config_.server_id +
                                     " in the datastore is not readable (version 1 JSON)");
  }
  const auto str = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  try {
    for (const auto& r : journal.at("roots")) {
      auto certs = crypto::parsePemCertificates(str(r, "cert"));
      if (!certs) return fail(certs.error().prefix("CA journal: root " + str(r, "id")));
      Root root{str(r, "id"),
                certs->front(),
                str(r, "key_id"),
                r.value("tainted", false),
                r.value("revoked", false),
                nullptr};
      if (auto key = keys_.get(root.key_id)) {
        if (auto signer = CertSigner::create(*key)) root.signer = std::move(*signer);
      }
      roots_.push_back(std::move(root));
    }
    for (const auto& j : journal.at("authorities")) {
      auto chain = crypto::parsePemCertificates(str(j, "chain"));
      if (!chain) return fail(chain.error().prefix("CA journal: authority " + str(j, "id")));
      const std::string status = str(j, "status");
      auto jwt_public = base64Decode(str(j, "jwt_public_key"));
      Authority a{str(j, "id"),
                  status == "active"     ? AuthorityStatus::kActive
                  : status == "prepared" ? AuthorityStatus::kPrepared
                                         : AuthorityStatus::kOld,
                  std::move(*chain),
                  str(j, "root_id"),
                  str(j, "upstream_id"),
                  str(j, "key_id"),
                  str(j, "jwt_key_id"),
                  str(j, "jwt_kid"),
                  jwt_public ? *jwt_public : std::string(),
                  j.value("tainted", false),
                  j.value("revoked", false),
                  nullptr,
                  nullptr};
      if (auto ok = loadKeys(a); !ok && a.status != AuthorityStatus::kOld) {
        spdlog::warn("CA authority {} ({}): keys unavailable ({}); a new authority replaces it",
                     a.id, authorityStatusName(a.status), ok.error().message);
      }
      authorities_.push_back(std::move(a));
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(Code::kDataLoss, std::string("CA journal: ") + e.what());
  }
  // A prepared authority without keys never signed anything: drop it. An active one becomes
  // old; it stays trusted (its root is in the bundle) until it expires.
  std::erase_if(authorities_, [](const Authority& a) {
    return a.status == AuthorityStatus::kPrepared && !a.signing;
  });
  for (auto& a : authorities_) {
    if (a.status == AuthorityStatus::kActive && !a.signing) a.status = AuthorityStatus::kOld;
  }
  return {};
}

// --- Creating authorities -------------------------------------------------------------------

Result<CaManager::Root*> CaManager::createRoot(TimePoint now) {
  const std::string key_id = "x509-root-" + datastore::newUuid();
  auto key = keys_.generate(key_id, config_.key_type);
  if (!key) return fail(key.error().prefix("generating the root CA key"));
  auto signer = CertSigner::create(*key);
  if (!signer) return fail(signer.error());
  auto spec = caSpec(config_, **key, now - ca::kBackdate, now + config_.root_ttl);
  if (!spec) return fail(spec.error());
  auto cert = buildCaCertificate(*spec, **signer);
  if (!cert) return fail(cert.error().prefix("creating the root CA"));
  Root root{hex(subjectKeyIdBytes(*cert)), *cert, key_id, false, false, std::move(*signer)};
  spdlog::info("CA: created root {} valid until {}", root.id, formatRfc3339(cert->notAfter()));
  if (!config_.data_dir.empty()) {
    auto pem = cert->toPem();
    if (pem) {
      if (auto ok = writeFileAtomic(config_.data_dir / "root_ca.crt", *pem, 0644); !ok) {
        spdlog::warn("CA: {}", ok.error().message);
      }
    }
  }
  roots_.push_back(std::move(root));
  return &roots_.back();
}

Result<CaManager::Root*> CaManager::rootForNext(TimePoint now, bool new_root) {
  Root* newest = nullptr;
  for (auto& r : roots_) {
    if (!r.revoked) newest = &r;
  }
  // The root must outlive a full authority signed now, or its authority would be cut short.
  const bool usable = newest != nullptr && newest->signer && !newest->tainted &&
                      newest->cert.notAfter() >= now + config_.ca_ttl + ca::kBackdate;
  if (usable && !new_root) return newest;
  return createRoot(now);
}

Result<CaManager::Authority*> CaManager::prepareLocked(TimePoint now, bool new_root) {
  std::vector<Certificate> issuer_chain;  // the issuer first, then what is above it
  std::vector<Certificate> bundle_roots;
  std::shared_ptr<const CertSigner> issuer_signer;
  std::string root_id;
  std::string upstream_id;
  if (config_.upstream) {
    const auto& up = *config_.upstream;
    auto certs = readCerts(up.cert_file);
    if (!certs) return fail(certs.error().prefix("UpstreamAuthority \"disk\""));
    auto key_pem = readFile(up.key_file);
    if (!key_pem) return fail(key_pem.error().prefix("UpstreamAuthority \"disk\""));
    auto key = crypto::PrivateKey::fromPem(*key_pem);
    if (!key) return fail(key.error().prefix(up.key_file.string()));
    if (!certs->front().matchesKey(*key)) {
      return invalidArgument(up.key_file.string() + ": does not match the certificate in " +
                             up.cert_file.string());
    }
    if (!certs->front().isCa()) {
      return fail(Code::kFailedPrecondition,
                  up.cert_file.string() + ": the upstream certificate is not a CA");
    }
    if (up.bundle_file.empty()) {
      if (!certs->front().isSelfIssued()) {
        return invalidArgument(up.cert_file.string() +
                               ": not self-signed, so bundle_file_path must name its roots");
      }
      bundle_roots = {certs->front()};
    } else {
      auto roots = readCerts(up.bundle_file);
      if (!roots) return fail(roots.error().prefix("UpstreamAuthority \"disk\""));
      bundle_roots = std::move(*roots);
    }
    for (const auto& c : *certs) {
      if (!c.isSelfIssued()) issuer_chain.push_back(c);
    }
    if (issuer_chain.empty()) issuer_chain.push_back(certs->front());
    auto signer = CertSigner::create(std::make_shared<const crypto::PrivateKey>(std::move(*key)));
    if (!signer) return fail(signer.error());
    issuer_signer = std::move(*signer);
    upstream_id = hex(subjectKeyIdBytes(certs->front()));
  } else {
    auto root = rootForNext(now, new_root);
    if (!root) return fail(root.error());
    issuer_chain = {(*root)->cert};
    bundle_roots = {(*root)->cert};
    issuer_signer = (*root)->signer;
    root_id = (*root)->id;
  }
  const Certificate& issuer = issuer_chain.front();
  if (now >= issuer.notAfter()) {
    return fail(Code::kFailedPrecondition, "the issuing CA " + issuer.subject() + " expired at " +
                                               formatRfc3339(issuer.notAfter()));
  }

  // A prepared authority that is replaced never signed anything: forget it and its keys.
  if (Authority* old = findLocked(AuthorityStatus::kPrepared)) {
    (void)keys_.remove(old->key_id);
    (void)keys_.remove(old->jwt_key_id);
    const std::string id = old->id;
    std::erase_if(authorities_, [&id](const Authority& a) { return a.id == id; });
  }

  const std::string key_id = "x509-CA-" + datastore::newUuid();
  auto key = keys_.generate(key_id, config_.key_type);
  if (!key) return fail(key.error().prefix("generating the CA key"));
  auto spec = caSpec(config_, **key, std::max(now - ca::kBackdate, issuer.notBefore()),
                     std::min(now + config_.ca_ttl, issuer.notAfter()));
  if (!spec) return fail(spec.error());
  spec->path_len = 0;  // it signs SVIDs only
  spec->issuer = &issuer;
  auto cert = buildCaCertificate(*spec, *issuer_signer);
  if (!cert) return fail(cert.error().prefix("creating the signing CA"));

  const std::string jwt_key_id = "JWT-Signer-" + datastore::newUuid();
  auto jwt_key = keys_.generate(jwt_key_id, config_.jwt_key_type);
  if (!jwt_key) return fail(jwt_key.error().prefix("generating the JWT key"));
  auto jwt_public = publicKeyInfo(**jwt_key);
  if (!jwt_public) return fail(jwt_public.error());

  std::vector<Certificate> chain{*cert};
  chain.insert(chain.end(), issuer_chain.begin(), issuer_chain.end());
  // A self-signed issuer is a root: agents have it in the bundle, it is not sent.
  std::erase_if(chain, [](const Certificate& c) { return c.isSelfIssued(); });
  Authority a{hex(subjectKeyIdBytes(*cert)),
              AuthorityStatus::kPrepared,
              std::move(chain),
              root_id,
              upstream_id,
              key_id,
              jwt_key_id,
              randomHex(16),
              std::move(*jwt_public),
              false,
              false,
              nullptr,
              nullptr};
  if (auto ok = loadKeys(a); !ok) return fail(ok.error());

  // Publish first: the new authority's roots are in every bundle before it signs anything.
  datastore::Bundle bundle;
  bundle.trust_domain = config_.trust_domain.name();
  for (const auto& r : bundle_roots) bundle.x509_authorities_der.push_back(derOf(r));
  bundle.jwt_authorities.push_back({a.jwt_kid, a.jwt_public_key_der, toUnix(a.notAfter())});
  if (auto ok = store_.appendBundle(bundle); !ok) {
    return fail(ok.error().prefix("publishing the new authority in the bundle"));
  }
  spdlog::info("CA: prepared authority {} valid {} .. {}", a.id, formatRfc3339(a.notBefore()),
               formatRfc3339(a.notAfter()));
  authorities_.push_back(std::move(a));
  return &authorities_.back();
}

Result<void> CaManager::publish(const Authority& a) {
  datastore::Bundle bundle;
  bundle.trust_domain = config_.trust_domain.name();
  if (!a.root_id.empty()) {
    for (const auto& r : roots_) {
      if (r.id == a.root_id && !r.revoked) bundle.x509_authorities_der.push_back(derOf(r.cert));
    }
  } else if (config_.upstream) {
    std::vector<Certificate> roots;
    if (!config_.upstream->bundle_file.empty()) {
      auto read = readCerts(config_.upstream->bundle_file);
      if (!read) return fail(read.error());
      roots = std::move(*read);
    } else {
      auto read = readCerts(config_.upstream->cert_file);
      if (!read) return fail(read.error());
      roots = {read->front()};
    }
    for (const auto& r : roots) bundle.x509_authorities_der.push_back(derOf(r));
  }
  if (!a.revoked) {
    bundle.jwt_authorities.push_back({a.jwt_kid, a.jwt_public_key_der, toUnix(a.notAfter())});
  }
  if (bundle.x509_authorities_der.empty() && bundle.jwt_authorities.empty()) return {};
  auto ok = store_.appendBundle(bundle);
  if (!ok) return fail(ok.error());
  return {};
}

Result<void> CaManager::activateLocked(Authority& next) {
  if (!next.signing) {
    return fail(Code::kFailedPrecondition, "authority " + next.id + " has no keys");
  }
  for (auto& a : authorities_) {
    if (a.status == AuthorityStatus::kActive) a.status = AuthorityStatus::kOld;
  }
  next.status = AuthorityStatus::kActive;
  spdlog::info("CA: activated authority {} (valid until {})", next.id,
               formatRfc3339(next.notAfter()));
  publishSnapshot();
  return {};
}

// --- The rotator ----------------------------------------------------------------------------

void CaManager::pruneLocked(TimePoint now) {
  const TimePoint horizon = now - kPruneSafetyMargin;
  std::vector<std::string> gone;
  for (const auto& a : authorities_) {
    if (a.status == AuthorityStatus::kOld && a.notAfter() < horizon) {
      (void)keys_.remove(a.key_id);
      (void)keys_.remove(a.jwt_key_id);
      gone.push_back(a.id);
    }
  }
  std::erase_if(authorities_, [&gone](const Authority& a) {
    return std::find(gone.begin(), gone.end(), a.id) != gone.end();
  });
  const Root* newest = nullptr;
  for (const auto& r : roots_) {
    if (!r.revoked) newest = &r;
  }
  std::vector<std::string> unused_roots;
  for (const auto& r : roots_) {
    const bool referenced = std::any_of(authorities_.begin(), authorities_.end(),
                                        [&r](const Authority& a) { return a.root_id == r.id; });
    if (!referenced && &r != newest && r.cert.notAfter() < horizon) {
      (void)keys_.remove(r.key_id);
      unused_roots.push_back(r.id);
    }
  }
  std::erase_if(roots_, [&unused_roots](const Root& r) {
    return std::find(unused_roots.begin(), unused_roots.end(), r.id) != unused_roots.end();
  });
  if (auto pruned = store_.pruneBundle(config_.trust_domain.name(), horizon); !pruned) {
    if (pruned.error().code != Code::kFailedPrecondition) {
      spdlog::warn("CA: pruning the bundle: {}", pruned.error().message);
    }
  } else if (*pruned) {
    spdlog::info("CA: removed authorities expired before {} from the bundle",
                 formatRfc3339(horizon));
  }
  last_prune_ = now;
}

Result<bool> CaManager::rotateLocked(TimePoint now) {
  bool changed = false;
  bool dirty = false;
  Authority* active = findLocked(AuthorityStatus::kActive);
  if (active == nullptr || !active->signing || now >= active->notAfter()) {
    Authority* next = findLocked(AuthorityStatus::kPrepared);
    if (next == nullptr || !next->signing || now >= next->notAfter()) {
      auto prepared = prepareLocked(now, false);
      if (!prepared) return fail(prepared.error());
      next = *prepared;
    }
    if (auto ok = activateLocked(*next); !ok) return fail(ok.error());
    active = next;
    changed = dirty = true;
  }
  const TimePoint active_not_before = active->notBefore();
  const TimePoint active_not_after = active->notAfter();
  if (findLocked(AuthorityStatus::kPrepared) == nullptr &&
      now >= prepareTime(active_not_before, active_not_after)) {
    auto prepared = prepareLocked(now, false);
    if (!prepared) return fail(prepared.error());
    dirty = true;
  }
  Authority* next = findLocked(AuthorityStatus::kPrepared);
  if (next != nullptr && now >= activateTime(active_not_before, active_not_after)) {
    if (auto ok = activateLocked(*next); !ok) return fail(ok.error());
    changed = dirty = true;
  }
  if (now - last_prune_ >= kPruneInterval) {
    const size_t before = authorities_.size() + roots_.size();
    pruneLocked(now);
    dirty = dirty || before != authorities_.size() + roots_.size();
  }
  if (dirty) {
    if (auto ok = saveJournal(); !ok) return fail(ok.error());
  }
  return changed;
}

Result<void> CaManager::initialize() {
  {
    std::lock_guard lock(mu_);
    roots_.clear();
    authorities_.clear();
    if (auto ok = loadJournal(); !ok) return ok;
    const TimePoint now = clock_->now();
    if (auto rotated = rotateLocked(now); !rotated) return fail(rotated.error());
    // The datastore may have lost what was published (a restored database): publish again.
    for (const auto& a : authorities_) {
      if (a.status == AuthorityStatus::kOld && a.notAfter() < now) continue;
      if (auto ok = publish(a); !ok) return fail(ok.error().prefix("publishing the bundle"));
    }
    if (auto ok = saveJournal(); !ok) return ok;
    publishSnapshot();
  }
  notify();
  return {};
}

Result<bool> CaManager::rotate() {
  Result<bool> changed = false;
  {
    std::lock_guard lock(mu_);
    changed = rotateLocked(clock_->now());
  }
  if (changed && *changed) notify();
  return changed;
}

// --- Operator actions -----------------------------------------------------------------------

AuthorityInfo CaManager::infoLocked(const Authority& a) const {
  AuthorityInfo info;
  info.authority_id = a.id;
  info.status = a.status;
  info.tainted = a.tainted;
  info.revoked = a.revoked;
  info.not_before = a.notBefore();
  info.not_after = a.notAfter();
  info.subject = a.chain.front().subject();
  info.root_id = a.root_id;
  info.upstream_authority_id = a.upstream_id;
  info.jwt_key_id = a.jwt_kid;
  info.keys_present = a.signing != nullptr;
  if (a.status == AuthorityStatus::kActive) {
    info.prepare_at = prepareTime(info.not_before, info.not_after);
    info.activate_at = activateTime(info.not_before, info.not_after);
  }
  return info;
}

std::vector<AuthorityInfo> CaManager::authorities() const {
  std::lock_guard lock(mu_);
  std::vector<AuthorityInfo> out;
  for (auto status : {AuthorityStatus::kActive, AuthorityStatus::kPrepared}) {
    for (const auto& a : authorities_) {
      if (a.status == status) out.push_back(infoLocked(a));
    }
  }
  for (auto it = authorities_.rbegin(); it != authorities_.rend(); ++it) {
    if (it->status == AuthorityStatus::kOld) out.push_back(infoLocked(*it));
  }
  return out;
}

Result<AuthorityInfo> CaManager::prepare(bool new_root) {
  AuthorityInfo info;
  {
    std::lock_guard lock(mu_);
    if (new_root && config_.upstream) {
      return fail(Code::kFailedPrecondition,
                  "--new-root: the server's authorities are signed by the UpstreamAuthority; "
                  "it has no root of its own");
    }
    auto prepared = prepareLocked(clock_->now(), new_root);
    if (!prepared) return fail(prepared.error());
    info = infoLocked(**prepared);
    if (auto ok = saveJournal(); !ok) return fail(ok.error());
  }
  notify();
  return info;
}

Result<AuthorityInfo> CaManager::activate(const std::string& authority_id) {
  AuthorityInfo info;
  {
    std::lock_guard lock(mu_);
    Authority* next = findLocked(AuthorityStatus::kPrepared);
    if (next == nullptr) {
      return fail(Code::kFailedPrecondition,
                  "no prepared authority to activate; run `mutual server authority prepare` first");
    }
    if (!authority_id.empty() && next->id != authority_id) {
      return fail(Code::kFailedPrecondition, "authority " + authority_id +
                                                 " is not the prepared authority (" + next->id +
                                                 "); only the prepared authority can be activated");
    }
    if (auto ok = activateLocked(*next); !ok) return fail(ok.error());
    info = infoLocked(*next);
    if (auto ok = saveJournal(); !ok) return fail(ok.error());
  }
  notify();
  return info;
}

Result<AuthorityInfo> CaManager::taint(const std::string& authority_id) {
  return changeOldAuthority(authority_id, OldAuthorityAction::kTaint);
}

Result<AuthorityInfo> CaManager::revoke(const std::string& authority_id) {
  return changeOldAuthority(authority_id, OldAuthorityAction::kRevoke);
}

Result<AuthorityInfo> CaManager::changeOldAuthority(const std::string& authority_id,
                                                    OldAuthorityAction action) {
  const bool tainting = action == OldAuthorityAction::kTaint;
  AuthorityInfo info;
  {
    std::lock_guard lock(mu_);
    Authority* a = findByIdLocked(authority_id);
    if (a == nullptr) return fail(Code::kNotFound, "no authority with ID " + authority_id);
    if (a->status != AuthorityStatus::kOld) {
      const std::string why =
          tainting ? "only an old authority can be tainted (prepare and activate a new one first)"
                   : "it cannot be revoked";
      return fail(Code::kFailedPrecondition, "authority " + authority_id + " is " +
                                                 std::string(authorityStatusName(a->status)) +
                                                 "; " + why);
    }
    auto changed = tainting ? taintLocked(*a) : revokeLocked(*a);
    if (!changed) return fail(changed.error());
    info = infoLocked(*a);
    publishSnapshot();
    if (auto ok = saveJournal(); !ok) return fail(ok.error());
  }
  notify();
  return info;
}

Result<void> CaManager::taintLocked(Authority& a) {
  if (a.tainted) {
    return fail(Code::kFailedPrecondition, "authority " + a.id + " is already tainted");
  }
  a.tainted = true;
  for (auto& r : roots_) {
    if (r.id == a.root_id) r.tainted = true;  // the next prepare makes a new root
  }
  spdlog::warn("CA: authority {} tainted", a.id);
  return {};
}

Result<void> CaManager::revokeLocked(Authority& a) {
  if (!a.tainted) {
    return fail(Code::kFailedPrecondition,
                "authority " + a.id + " is not tainted; taint it before revoking it");
  }
  if (a.revoked) {
    return fail(Code::kFailedPrecondition, "authority " + a.id + " is already revoked");
  }
  if (a.root_id.empty()) {
    return fail(Code::kFailedPrecondition,
                "authority " + a.id +
                    " is signed by the UpstreamAuthority, whose roots form the bundle; "
                    "revoke the upstream root at its source");
  }
  for (const auto& other : authorities_) {
    if (other.root_id == a.root_id && other.status != AuthorityStatus::kOld) {
      return fail(Code::kFailedPrecondition,
                  "authority " + a.id + " shares its root " + a.root_id + " with the " +
                      std::string(authorityStatusName(other.status)) + " authority " + other.id +
                      "; run `mutual server authority prepare --new-root` and activate it "
                      "before revoking");
    }
  }
  // Revoking removes the root: every authority under it stops being trusted. An old authority
  // under it that is not tainted still signs SVIDs agents hold and have no reason to replace;
  // revoking would cut them off (and agents whose node SVID it signed), so the operator taints
  // it first.
  for (const auto& other : authorities_) {
    if (&other != &a && other.root_id == a.root_id && !other.tainted && !other.revoked) {
      return fail(Code::kFailedPrecondition,
                  "authority " + a.id + " shares its root " + a.root_id +
                      " with the untainted old authority " + other.id +
                      ", whose SVIDs revoking would stop being trusted; taint it too (`mutual "
                      "server authority taint --authority-id " + other.id +
                      "`), wait for agents to re-sign, then revoke");
    }
  }
  auto bundle = store_.fetchBundle(config_.trust_domain.name());
  if (!bundle) return fail(bundle.error().prefix("revoking"));
  std::string root_der;
  for (auto& r : roots_) {
    if (r.id == a.root_id) {
      r.revoked = true;
      r.tainted = true;
      root_der = derOf(r.cert);
    }
  }
  std::vector<std::string> revoked_kids;
  for (auto& other : authorities_) {
    if (other.root_id == a.root_id) {
      other.revoked = true;
      other.tainted = true;
      revoked_kids.push_back(other.jwt_kid);
    }
  }
  std::erase(bundle->x509_authorities_der, root_der);
  std::erase_if(bundle->jwt_authorities, [&revoked_kids](const datastore::JwtAuthority& j) {
    return std::find(revoked_kids.begin(), revoked_kids.end(), j.key_id) != revoked_kids.end();
  });
  bundle->sequence_number += 1;
  if (auto ok = store_.updateBundle(*bundle); !ok) return fail(ok.error().prefix("revoking"));
  spdlog::warn("CA: authority {} revoked; root {} removed from the bundle", a.id, a.root_id);
  return {};
}

}  // namespace mutual::server
