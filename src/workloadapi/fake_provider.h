#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "ca/authority.h"
#include "workloadapi/server.h"

// TEST FIXTURE ONLY (library mutual_workloadapi_testing): a fake IdentityProvider for the unit
// tests and for the `workloadapi_test_server` binary of the integration tests. It is not an
// agent: every caller gets the same identity, signed by a CA held in memory.
namespace mutual::workloadapi::testing {

class FakeIdentityProvider final : public IdentityProvider {
 public:
  struct Options {
    explicit Options(spiffe::SpiffeId identity) : id(std::move(identity)) {}
    spiffe::SpiffeId id;                  // the identity every caller gets (required)
    Seconds ttl = std::chrono::hours(1);  // of each X509-SVID
    std::string hint;                     // X509-SVID and JWT-SVID hint
    std::string jwt_key_id = "fake-jwt-key-1";
    Seconds jwt_ttl = std::chrono::minutes(5);
  };

  // Issues the first SVID from `ca` (which must be able to sign for options.id's trust
  // domain) and makes a P-256 JWT signing key.
  static Result<std::unique_ptr<FakeIdentityProvider>> create(ca::Authority ca, Options options,
                                                              const Clock& clock);

  // Issues a new X509-SVID (new key, new serial) and wakes open streams.
  Result<void> rotate();
  // Not ready: every method answers Unavailable "identity not available yet".
  void setReady(bool ready);
  // Not entitled: empty answers, so the server says PermissionDenied "no identity issued".
  void setEntitled(bool entitled);
  // Adds (or with an empty list removes) a federated trust domain's CA certificates.
  void setFederated(const spiffe::TrustDomain& td, std::vector<crypto::Certificate> certs);

  // Every caller the provider was asked about, oldest first.
  std::vector<Caller> callers() const;
  // The current X509-SVID.
  X509Svid current() const;
  int rotations() const;

  Result<X509Context> x509Context(const Caller& caller) override;
  Result<X509Bundles> x509Bundles(const Caller& caller) override;
  Result<std::vector<JwtSvidToken>> jwtSvids(const Caller& caller,
                                             const std::vector<std::string>& audience,
                                             const std::optional<spiffe::SpiffeId>& id) override;
  Result<spiffe::JwtBundles> jwtBundles(const Caller& caller) override;
  Result<ValidatedJwt> validateJwt(const Caller& caller, std::string_view token,
                                   const std::string& audience) override;
  uint64_t generation() const override { return signal_.generation(); }
  uint64_t waitForChange(uint64_t seen, std::chrono::milliseconds timeout) override {
    return signal_.waitForChange(seen, timeout);
  }

 private:
  FakeIdentityProvider(ca::Authority ca, Options options, const Clock& clock,
                       crypto::PrivateKey jwt_key, spiffe::JwtBundle jwt_bundle);
  Result<void> check(const Caller& caller);  // records the caller; Unavailable when not ready

  ca::Authority ca_;
  Options options_;
  const Clock& clock_;
  crypto::PrivateKey jwt_key_;
  spiffe::JwtBundle jwt_bundle_;
  ChangeSignal signal_;

  mutable std::mutex mu_;
  std::optional<X509Svid> svid_;
  X509BundleMap federated_;
  std::vector<Caller> callers_;
  bool ready_ = true;
  bool entitled_ = true;
  int rotations_ = 0;
};

}  // namespace mutual::workloadapi::testing
