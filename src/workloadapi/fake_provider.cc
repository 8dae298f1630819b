#include "workloadapi/fake_provider.h"

namespace mutual::workloadapi::testing {

FakeIdentityProvider::FakeIdentityProvider(ca::Authority ca, Options options, const Clock& clock,
                                           crypto::PrivateKey jwt_key, spiffe::JwtBundle jwt_bundle)
    : ca_(std::move(ca)),
      options_(std::move(options)),
      clock_(clock),
      jwt_key_(std::move(jwt_key)),
      jwt_bundle_(std::move(jwt_bundle)) {}

Result<std::unique_ptr<FakeIdentityProvider>> FakeIdentityProvider::create(ca::Authority ca,
                                                                           Options options,
                                                                           const Clock& clock) {
  auto jwt_key = crypto::PrivateKey::generate(crypto::KeyType::kEcP256);
  if (!jwt_key) return fail(jwt_key.error());
  spiffe::JwtBundle bundle(options.id.trustDomain());
  if (auto added = bundle.add(options.jwt_key_id, *jwt_key); !added) return fail(added.error());
  std::unique_ptr<FakeIdentityProvider> provider(new FakeIdentityProvider(
      std::move(ca), std::move(options), clock, std::move(*jwt_key), std::move(bundle)));
  if (auto first = provider->rotate(); !first) return fail(first.error());
  return provider;
}

Result<void> FakeIdentityProvider::rotate() {
  const ca::WorkloadOptions request{options_.id,  {}, {},
                                    options_.ttl, {}, crypto::KeyType::kEcP256};
  auto issued = ca::issueWorkload(ca_, request, clock_);
  if (!issued) return fail(issued.error());
  std::vector<crypto::Certificate> chain{issued->cert};
  chain.insert(chain.end(), issued->chain.begin(), issued->chain.end());
  {
    std::lock_guard lock(mu_);
    svid_ = X509Svid{options_.id, std::move(chain),
                     std::make_shared<const crypto::PrivateKey>(std::move(issued->key)),
                     issued->bundle, options_.hint};
    ++rotations_;
  }
  signal_.notify();
  return {};
}

void FakeIdentityProvider::setReady(bool ready) {
  {
    std::lock_guard lock(mu_);
    ready_ = ready;
  }
  signal_.notify();
}

void FakeIdentityProvider::setEntitled(bool entitled) {
  {
    std::lock_guard lock(mu_);
    entitled_ = entitled;
  }
  signal_.notify();
}

void FakeIdentityProvider::setFederated(const spiffe::TrustDomain& td,
                                        std::vector<crypto::Certificate> certs) {
  {
    std::lock_guard lock(mu_);
    if (certs.empty()) {
      federated_.erase(td);
    } else {
      federated_.insert_or_assign(td, std::move(certs));
    }
  }
  signal_.notify();
}

std::vector<Caller> FakeIdentityProvider::callers() const {
  std::lock_guard lock(mu_);
  return callers_;
}

X509Svid FakeIdentityProvider::current() const {
  std::lock_guard lock(mu_);
  return *svid_;
}

int FakeIdentityProvider::rotations() const {
  std::lock_guard lock(mu_);
  return rotations_;
}

Result<void> FakeIdentityProvider::check(const Caller& caller) {
  std::lock_guard lock(mu_);
  callers_.push_back(caller);
  if (!ready_) return fail(Code::kUnavailable, "identity not available yet");
  return {};
}

Result<X509Context> FakeIdentityProvider::x509Context(const Caller& caller) {
  if (auto ok = check(caller); !ok) return fail(ok.error());
  std::lock_guard lock(mu_);
  X509Context out;
  if (!entitled_) return out;
  out.svids.push_back(*svid_);
  out.federated_bundles = federated_;
  return out;
}

Result<X509Bundles> FakeIdentityProvider::x509Bundles(const Caller& caller) {
  if (auto ok = check(caller); !ok) return fail(ok.error());
  std::lock_guard lock(mu_);
  X509Bundles out;
  if (!entitled_) return out;
  out.bundles = federated_;
  out.bundles.insert_or_assign(options_.id.trustDomain(), svid_->bundle);
  return out;
}

Result<std::vector<JwtSvidToken>> FakeIdentityProvider::jwtSvids(
    const Caller& caller, const std::vector<std::string>& audience,
    const std::optional<spiffe::SpiffeId>& id) {
  if (auto ok = check(caller); !ok) return fail(ok.error());
  {
    std::lock_guard lock(mu_);
    if (!entitled_) return std::vector<JwtSvidToken>{};
  }
  if (id && *id != options_.id) return std::vector<JwtSvidToken>{};
  const TimePoint now = clock_.now();
  auto token = spiffe::signJwtSvid(
      {options_.id, audience, now, now + options_.jwt_ttl, options_.jwt_key_id}, jwt_key_);
  if (!token) return fail(token.error());
  return std::vector<JwtSvidToken>{{options_.id, std::move(*token), options_.hint}};
}

Result<spiffe::JwtBundles> FakeIdentityProvider::jwtBundles(const Caller& caller) {
  if (auto ok = check(caller); !ok) return fail(ok.error());
  std::lock_guard lock(mu_);
  spiffe::JwtBundles out;
  if (!entitled_) return out;
  out.emplace(jwt_bundle_.trustDomain(), jwt_bundle_);
  return out;
}

Result<ValidatedJwt> FakeIdentityProvider::validateJwt(const Caller& caller, std::string_view token,
                                                       const std::string& audience) {
  if (auto ok = check(caller); !ok) return fail(ok.error());
  spiffe::JwtBundles bundles;
  bundles.emplace(jwt_bundle_.trustDomain(), jwt_bundle_);
  auto svid = spiffe::validateJwtSvid(token, bundles, {audience}, clock_.now());
  if (!svid) return fail(svid.error());
  return ValidatedJwt{svid->id, svid->claims};
}

}  // namespace mutual::workloadapi::testing
