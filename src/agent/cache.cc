#include "agent/cache.h"

#include <algorithm>
#include <cctype>

#include "base/rotation.h"

namespace mutual::agent {
namespace {

std::string audienceKey(const std::vector<std::string>& audience) {
  std::vector<std::string> sorted = audience;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const auto& a : sorted) key += a + "\n";
  return key;
}

// Lowercase hex without colons: the server's form of an authority ID.
std::string plainHex(std::string_view id) {
  std::string out;
  for (char c : id) {
    if (c != ':') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// The fields that go into the certificate; hint and federates_with are served from the
// current entry, so their changes need no new SVID.
bool sameCertificateFields(const Entry& a, const Entry& b) {
  return a.spiffe_id == b.spiffe_id && a.dns_names == b.dns_names &&
         a.x509_svid_ttl == b.x509_svid_ttl;
}

}  // namespace

Cache::Cache(spiffe::TrustDomain trust_domain, UnixAttestorOptions attestor, const Clock& clock,
             JwtMinter minter)
    : trust_domain_(std::move(trust_domain)),
      attestor_(attestor),
      clock_(clock),
      minter_(std::move(minter)) {}

void Cache::setEntries(std::vector<Entry> entries) {
  {
    std::lock_guard lock(mu_);
    std::map<std::string, workloadapi::X509Svid> kept;
    std::map<std::string, Entry> kept_signed_for;
    for (const auto& entry : entries) {
      if (auto it = svids_.find(entry.id); it != svids_.end()) kept.emplace(entry.id, it->second);
      if (auto it = signed_for_.find(entry.id); it != signed_for_.end()) {
        kept_signed_for.emplace(entry.id, it->second);
      }
      if (!jitter_.count(entry.id)) jitter_[entry.id] = unitRandom() * 2 - 1;
    }
    svids_ = std::move(kept);
    signed_for_ = std::move(kept_signed_for);
    entries_ = std::move(entries);
  }
  changes_.notify();
}

void Cache::setSvid(const std::string& entry_id, workloadapi::X509Svid svid) {
  {
    std::lock_guard lock(mu_);
    svids_.insert_or_assign(entry_id, std::move(svid));
    auto entry = std::find_if(entries_.begin(), entries_.end(),
                              [&entry_id](const Entry& e) { return e.id == entry_id; });
    if (entry != entries_.end()) {
      signed_for_.insert_or_assign(entry_id, *entry);
    } else {
      signed_for_.erase(entry_id);
    }
    for (auto it = jwt_cache_.begin(); it != jwt_cache_.end();) {
      it = it->first.first == entry_id ? jwt_cache_.erase(it) : std::next(it);
    }
  }
  changes_.notify();
}

void Cache::setBundles(workloadapi::X509BundleMap x509, spiffe::JwtBundles jwt) {
  {
    std::lock_guard lock(mu_);
    x509_bundles_ = std::move(x509);
    jwt_bundles_ = std::move(jwt);
  }
  changes_.notify();
}

void Cache::setTaintedAuthorities(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  tainted_.clear();
  for (const auto& id : ids) {
    if (!id.empty()) tainted_.insert(plainHex(id));
  }
}

void Cache::setReady(bool ready) {
  {
    std::lock_guard lock(mu_);
    if (ready_ == ready) return;
    ready_ = ready;
  }
  changes_.notify();
}

bool Cache::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

std::vector<Entry> Cache::dueForRenewal(TimePoint now) const {
  std::lock_guard lock(mu_);
  std::vector<Entry> due;
  for (const auto& entry : entries_) {
    auto it = svids_.find(entry.id);
    auto signed_for = signed_for_.find(entry.id);
    if (it == svids_.end() || it->second.id != entry.spiffe_id || signed_for == signed_for_.end() ||
        !sameCertificateFields(signed_for->second, entry) ||
        issuedByTaintedLocked(it->second.chain)) {
      due.push_back(entry);
      continue;
    }
    const auto& leaf = it->second.leaf();
    double jitter = jitter_.count(entry.id) ? jitter_.at(entry.id) : 0.0;
    if (shouldRenew(now, leaf.notBefore(), leaf.notAfter(), jitter)) due.push_back(entry);
  }
  return due;
}

bool Cache::issuedByTainted(const std::vector<crypto::Certificate>& chain) const {
  std::lock_guard lock(mu_);
  return issuedByTaintedLocked(chain);
}

bool Cache::issuedByTaintedLocked(const std::vector<crypto::Certificate>& chain) const {
  if (tainted_.empty() || chain.empty()) return false;
  // The leaf's issuer is named by its AKI; intermediates in the chain by their SKI.
  if (tainted_.count(plainHex(chain.front().authorityKeyId()))) return true;
  for (size_t i = 1; i < chain.size(); ++i) {
    if (tainted_.count(plainHex(chain[i].subjectKeyId()))) return true;
  }
  return false;
}

size_t Cache::entryCount() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

size_t Cache::svidCount() const {
  std::lock_guard lock(mu_);
  return svids_.size();
}

std::optional<TimePoint> Cache::earliestExpiry() const {
  std::lock_guard lock(mu_);
  std::optional<TimePoint> earliest;
  for (const auto& [id, svid] : svids_) {
    TimePoint t = svid.leaf().notAfter();
    if (!earliest || t < *earliest) earliest = t;
  }
  return earliest;
}

Result<std::vector<Entry>> Cache::entriesFor(const workloadapi::Caller& caller) const {
  auto selectors = unixSelectors(caller, attestor_);
  std::lock_guard lock(mu_);
  if (!ready_) return fail(Code::kUnavailable, "the agent has not synced with the server yet");
  std::vector<Entry> matched;
  for (const auto& entry : entries_) {
    if (entryMatches(entry.selectors, selectors)) matched.push_back(entry);
  }
  return matched;
}

Result<workloadapi::X509Context> Cache::x509Context(const workloadapi::Caller& caller) {
  auto entries = entriesFor(caller);
  if (!entries) return fail(entries.error());
  workloadapi::X509Context context;
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  for (const auto& entry : *entries) {
    auto it = svids_.find(entry.id);
    // Never hand out an expired SVID: the workload is better told it has none.
    if (it == svids_.end() || it->second.leaf().notAfter() <= now) continue;
    // The bundle and hint as they are now, not as they were when the SVID was signed: a root
    // added by a CA rotation reaches workloads at the next sync, not at each SVID's renewal.
    workloadapi::X509Svid svid = it->second;
    auto own = x509_bundles_.find(svid.id.trustDomain());
    svid.bundle = own != x509_bundles_.end() ? own->second : std::vector<crypto::Certificate>{};
    svid.hint = entry.hint;
    context.svids.push_back(std::move(svid));
    for (const auto& td_name : entry.federates_with) {
      auto td = spiffe::TrustDomain::parse(td_name);
      if (!td) continue;
      if (auto bundle = x509_bundles_.find(*td); bundle != x509_bundles_.end()) {
        context.federated_bundles.insert(*bundle);
      }
    }
  }
  return context;
}

Result<workloadapi::X509Bundles> Cache::x509Bundles(const workloadapi::Caller& caller) {
  auto entries = entriesFor(caller);
  if (!entries) return fail(entries.error());
  workloadapi::X509Bundles bundles;
  if (entries->empty()) return bundles;
  std::lock_guard lock(mu_);
  if (auto own = x509_bundles_.find(trust_domain_); own != x509_bundles_.end()) {
    bundles.bundles.insert(*own);
  }
  for (const auto& entry : *entries) {
    for (const auto& td_name : entry.federates_with) {
      auto td = spiffe::TrustDomain::parse(td_name);
      if (!td) continue;
      if (auto bundle = x509_bundles_.find(*td); bundle != x509_bundles_.end()) {
        bundles.bundles.insert(*bundle);
      }
    }
  }
  return bundles;
}

Result<std::vector<workloadapi::JwtSvidToken>> Cache::jwtSvids(
    const workloadapi::Caller& caller, const std::vector<std::string>& audience,
    const std::optional<spiffe::SpiffeId>& id) {
  if (audience.empty()) return invalidArgument("audience must be specified");
  auto entries = entriesFor(caller);
  if (!entries) return fail(entries.error());
  std::vector<workloadapi::JwtSvidToken> tokens;
  const std::string key = audienceKey(audience);
  for (const auto& entry : *entries) {
    if (id && entry.spiffe_id != *id) continue;
    {
      std::lock_guard lock(mu_);
      auto cached = jwt_cache_.find({entry.id, key});
      if (cached != jwt_cache_.end() && clock_.now() < cached->second.second) {
        tokens.push_back(cached->second.first);
        continue;
      }
    }
    if (!minter_) return fail(Code::kUnavailable, "JWT-SVIDs cannot be minted: no server connection");
    auto token = minter_(entry, audience);
    if (!token) return fail(token.error());
    auto parsed = spiffe::parseJwtSvidInsecure(token->token);
    if (parsed) {
      TimePoint issued = parsed->issued_at.value_or(clock_.now());
      TimePoint reuse_until = issued + (parsed->expiry - issued) / 2;
      std::lock_guard lock(mu_);
      jwt_cache_.insert_or_assign({entry.id, key}, std::make_pair(*token, reuse_until));
    }
    tokens.push_back(std::move(*token));
  }
  return tokens;
}

Result<spiffe::JwtBundles> Cache::jwtBundles(const workloadapi::Caller& caller) {
  auto entries = entriesFor(caller);
  if (!entries) return fail(entries.error());
  spiffe::JwtBundles bundles;
  if (entries->empty()) return bundles;
  std::lock_guard lock(mu_);
  return jwt_bundles_;
}

Result<workloadapi::ValidatedJwt> Cache::validateJwt(const workloadapi::Caller& caller,
                                                      std::string_view token,
                                                      const std::string& audience) {
  auto entries = entriesFor(caller);
  if (!entries) return fail(entries.error());
  if (entries->empty()) return fail(Code::kPermissionDenied, "no identity issued");
  spiffe::JwtBundles bundles;
  {
    std::lock_guard lock(mu_);
    bundles = jwt_bundles_;
  }
  auto validated = spiffe::validateJwtSvid(token, bundles, {audience}, clock_.now());
  if (!validated) return fail(Code::kInvalidArgument, validated.error().message);
  return workloadapi::ValidatedJwt{validated->id, validated->claims};
}

}  // namespace mutual::agent
