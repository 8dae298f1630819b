#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/unix_attestor.h"
#include "base/clock.h"
#include "spiffe/jwt_svid.h"
#include "workloadapi/server.h"

// The agent's view of what it may serve: the registration entries synced from the server, the
// X509-SVID it holds for each, and the trust bundles. It answers the Workload API (as its
// IdentityProvider) from memory, so workloads keep their SVIDs while the server is away.
namespace mutual::agent {

// A registration entry this node may serve, as the server synced it.
struct Entry {
  std::string id;
  spiffe::SpiffeId spiffe_id;
  std::vector<std::string> selectors;       // SPIRE's text form, "unix:uid:1000"
  std::vector<std::string> federates_with;  // trust domain names
  std::vector<std::string> dns_names;
  int32_t x509_svid_ttl = 0;                // seconds; 0: the server's default
  int32_t jwt_svid_ttl = 0;
  std::string hint;
};

// Mints a JWT-SVID for an entry (the agent asks the server). Called without the cache's lock.
using JwtMinter = std::function<Result<workloadapi::JwtSvidToken>(
    const Entry& entry, const std::vector<std::string>& audience)>;

class Cache final : public workloadapi::IdentityProvider {
 public:
  Cache(spiffe::TrustDomain trust_domain, UnixAttestorOptions attestor, const Clock& clock,
        JwtMinter minter);

  // Replaces the entries; SVIDs of entries that are gone are dropped.
  void setEntries(std::vector<Entry> entries);
  // Stores the SVID of an entry (a rotation replaces the previous one), signed for the entry as
  // last set by setEntries (unknown entry: as if signed for nothing, so it is due). Its bundle
  // and hint are ignored: x509Context serves the current bundle of its trust domain and the
  // entry's hint.
  void setSvid(const std::string& entry_id, workloadapi::X509Svid svid);
  // The authority IDs (hex SKI, as the server sends them) the operator tainted; replaces the
  // previous set.
  void setTaintedAuthorities(const std::vector<std::string>& ids);
  // Whether a tainted authority (setTaintedAuthorities) signed `chain`'s leaf or one of its
  // intermediates: the agent asks this of its own node SVID, which must be renewed too. False
  // for an empty chain.
  bool issuedByTainted(const std::vector<crypto::Certificate>& chain) const;
  // The bundles: every trust domain's CA certificates (the agent's own included) and JWT keys.
  void setBundles(workloadapi::X509BundleMap x509, spiffe::JwtBundles jwt);
  // Ready: synced at least once. Before that, every call answers Unavailable.
  void setReady(bool ready);
  bool ready() const;

  // Entries without an SVID, or whose SVID is due (half of its life, moved by a per-entry
  // jitter), or was signed for other certificate fields (SPIFFE ID, DNS names, X.509 TTL), or
  // was issued by a tainted authority.
  std::vector<Entry> dueForRenewal(TimePoint now) const;
  size_t entryCount() const;
  size_t svidCount() const;
  // The earliest notAfter among held SVIDs (nullopt: none held).
  std::optional<TimePoint> earliestExpiry() const;

  // workloadapi::IdentityProvider.
  Result<workloadapi::X509Context> x509Context(const workloadapi::Caller& caller) override;
  Result<workloadapi::X509Bundles> x509Bundles(const workloadapi::Caller& caller) override;
  Result<std::vector<workloadapi::JwtSvidToken>> jwtSvids(
      const workloadapi::Caller& caller, const std::vector<std::string>& audience,
      const std::optional<spiffe::SpiffeId>& id) override;
  Result<spiffe::JwtBundles> jwtBundles(const workloadapi::Caller& caller) override;
  Result<workloadapi::ValidatedJwt> validateJwt(const workloadapi::Caller& caller,
                                                std::string_view token,
                                                const std::string& audience) override;
  uint64_t generation() const override { return changes_.generation(); }
  uint64_t waitForChange(uint64_t seen, std::chrono::milliseconds timeout) override {
    return changes_.waitForChange(seen, timeout);
  }

 private:
  // The entries matching the caller's selectors; Unavailable before the first sync.
  Result<std::vector<Entry>> entriesFor(const workloadapi::Caller& caller) const;
  // Whether a tainted authority signed the chain's leaf or one of its intermediates. Needs mu_.
  bool issuedByTaintedLocked(const std::vector<crypto::Certificate>& chain) const;

  const spiffe::TrustDomain trust_domain_;
  const UnixAttestorOptions attestor_;
  const Clock& clock_;
  JwtMinter minter_;
  workloadapi::ChangeSignal changes_;

  mutable std::mutex mu_;
  bool ready_ = false;
  std::vector<Entry> entries_;
  std::map<std::string, workloadapi::X509Svid> svids_;  // by entry id
  std::map<std::string, Entry> signed_for_;             // by entry id, beside svids_
  std::set<std::string> tainted_;                       // lowercase hex, no colons
  std::map<std::string, double> jitter_;                 // by entry id, in [-1, 1]
  workloadapi::X509BundleMap x509_bundles_;
  spiffe::JwtBundles jwt_bundles_;
  // JWT-SVIDs minted, by entry id and audience, reused until half of their life.
  std::map<std::pair<std::string, std::string>, std::pair<workloadapi::JwtSvidToken, TimePoint>>
      jwt_cache_;
};

}  // namespace mutual::agent
