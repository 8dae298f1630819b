#pragma once

// Internal to the server module: what the Node and Admin services share, and the services.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "base/clock.h"
#include "config/spire_conf.h"
#include "datastore/datastore.h"
#include "mutual/v1/admin.grpc.pb.h"
#include "mutual/v1/node.grpc.pb.h"
#include "server/attestation.h"
#include "server/ca_manager.h"
#include "server/svid_signer.h"
#include "spiffe/bundle.h"

namespace mutual::server {

// Everything a request handler needs, owned by the Server.
struct ControlPlane {
  explicit ControlPlane(spiffe::TrustDomain trust_domain) : td(std::move(trust_domain)) {}

  config::spire::ServerConf conf;
  spiffe::TrustDomain td;
  datastore::DataStore* store = nullptr;
  CaManager* ca = nullptr;
  SvidSigner* signer = nullptr;
  std::shared_ptr<const Clock> clock;
  bool join_token_enabled = false;
  bool k8s_psat_enabled = false;
  std::optional<X509PopAttestor> x509pop;
  Seconds agent_ttl{3600};
  Seconds default_jwt_ttl{300};  // SPIRE's default_jwt_svid_ttl

  // The trust domain's bundle as agents are authenticated against it; refreshed by the
  // control thread when the stored bundle's sequence number changes. Null before the first.
  std::shared_ptr<const spiffe::BundleSet> bundles() const;
  // Reloads from the datastore when the sequence number moved; returns whether it changed.
  Result<bool> refreshBundles();
  // The sequence number of the bundle bundles() holds.
  uint64_t bundleSequence() const;

  // The agent ID and SVID serial of a call's client chain, verified with verifyAgentSvid
  // against bundles(). Each distinct chain is verified once and the result kept while every
  // certificate of the chain is valid, until the bundle changes (refreshBundles) or the cache
  // fills; failures are not kept. The handshake already verified the chain to the bundle, and
  // a verification is two ECDSA verifications, more than signing an SVID. The datastore
  // checks (checkAgentNode: evicted, banned, superseded) are not cached.
  struct VerifiedPeer {
    spiffe::SpiffeId id;
    std::string serial_hex;
  };
  Result<VerifiedPeer> verifiedAgentPeer(const grpc::ServerContext& context, TimePoint now);

  // What an agent may serve, for the signing calls (SignX509Svids, SignJwtSvid), which would
  // otherwise run authorizedEntries' queries on every call: the result is kept per agent for
  // kAuthorizationTtl of steady time. `fresh` recomputes it (and keeps the new result): the
  // signing calls ask again with fresh = true when an entry they are asked about is missing,
  // SyncEntries always does, so a new entry is signable at once. The admin API forgets every
  // kept result when it changes entries or agents (forgetAuthorizations), so on this server a
  // deleted entry stops being signable at once; through another server sharing the database
  // it may be signed for up to kAuthorizationTtl more (SPIRE's server entry cache has the
  // same window, 5 s by default). Agent checks (ban, eviction, superseded SVID) have the same
  // window: see checkedAgentNode.
  using EntryList = std::vector<datastore::RegistrationEntry>;
  static constexpr std::chrono::milliseconds kAuthorizationTtl{1000};
  Result<std::shared_ptr<const EntryList>> signingAuthorization(const std::string& agent_id,
                                                                TimePoint now, bool fresh);
  void forgetAuthorizations();
  // checkAgentNode (attested, not banned, current serial) with its successes kept per agent
  // and serial for kAuthorizationTtl, like the authorizations and dropped with them by
  // forgetAuthorizations (evict and ban through the admin API act at once on this server;
  // through another server sharing the database within kAuthorizationTtl). A success with a
  // new serial drops the agent's other serials (a renewed SVID in use retires the old one).
  Result<AuthenticatedAgent> checkedAgentNode(spiffe::SpiffeId id, const std::string& serial);

 private:
  struct PeerEntry {
    std::vector<crypto::Certificate> chain;
    std::optional<VerifiedPeer> verified{};  // set once verified
    TimePoint valid_from{};                  // the latest notBefore of the chain
    TimePoint valid_until{};                 // the earliest notAfter of the chain
  };
  // Finds or parses the chain of a call (leaf first), once per distinct chain; null when the
  // call has no client certificate.
  std::shared_ptr<PeerEntry> peerEntry(const grpc::ServerContext& context);

  mutable std::mutex mu_;
  std::shared_ptr<const spiffe::BundleSet> bundles_;
  uint64_t bundle_sequence_ = 0;
  bool have_bundle_ = false;
  // By the chain's PEM. Entries are immutable once published except `verified`, which is
  // written under mu_.
  std::map<std::string, std::shared_ptr<PeerEntry>> peer_cache_;

  struct Authorization {
    std::shared_ptr<const EntryList> entries;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex auth_mu_;
  std::map<std::string, Authorization> authorizations_;  // by agent ID
  struct CheckedNode {
    AuthenticatedAgent agent;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, CheckedNode> checked_nodes_;  // by agent ID; one serial each
  uint64_t auth_generation_ = 0;                      // bumped by forgetAuthorizations
};

class NodeService final : public mutual::v1::Node::Service {
 public:
  explicit NodeService(ControlPlane& plane) : plane_(plane) {}

  grpc::Status AttestAgent(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<mutual::v1::AttestAgentResponse, mutual::v1::AttestAgentRequest>*
          stream) override;
  grpc::Status RenewAgent(grpc::ServerContext* context,
                          const mutual::v1::RenewAgentRequest* request,
                          mutual::v1::RenewAgentResponse* response) override;
  grpc::Status SyncEntries(grpc::ServerContext* context,
                           const mutual::v1::SyncEntriesRequest* request,
                           mutual::v1::SyncEntriesResponse* response) override;
  grpc::Status SignX509Svids(grpc::ServerContext* context,
                             const mutual::v1::SignX509SvidsRequest* request,
                             mutual::v1::SignX509SvidsResponse* response) override;
  grpc::Status SignJwtSvid(grpc::ServerContext* context,
                           const mutual::v1::SignJwtSvidRequest* request,
                           mutual::v1::SignJwtSvidResponse* response) override;
  grpc::Status FetchBundles(grpc::ServerContext* context,
                            const mutual::v1::FetchBundlesRequest* request,
                            mutual::v1::FetchBundlesResponse* response) override;

 private:
  Result<AuthenticatedAgent> authenticate(grpc::ServerContext& context);
  ControlPlane& plane_;
};

class AdminService final : public mutual::v1::Admin::Service {
 public:
  explicit AdminService(ControlPlane& plane) : plane_(plane) {}

  grpc::Status CreateEntry(grpc::ServerContext*, const mutual::v1::CreateEntryRequest*,
                           mutual::v1::Entry*) override;
  grpc::Status ListEntries(grpc::ServerContext*, const mutual::v1::ListEntriesRequest*,
                           mutual::v1::ListEntriesResponse*) override;
  grpc::Status UpdateEntry(grpc::ServerContext*, const mutual::v1::UpdateEntryRequest*,
                           mutual::v1::Entry*) override;
  grpc::Status DeleteEntry(grpc::ServerContext*, const mutual::v1::DeleteEntryRequest*,
                           mutual::v1::Entry*) override;
  grpc::Status CreateJoinToken(grpc::ServerContext*, const mutual::v1::CreateJoinTokenRequest*,
                               mutual::v1::CreateJoinTokenResponse*) override;
  grpc::Status GetBundle(grpc::ServerContext*, const mutual::v1::GetBundleRequest*,
                         mutual::v1::Bundle*) override;
  grpc::Status ListFederatedBundles(grpc::ServerContext*,
                                    const mutual::v1::ListFederatedBundlesRequest*,
                                    mutual::v1::ListFederatedBundlesResponse*) override;
  grpc::Status SetFederatedBundle(grpc::ServerContext*, const mutual::v1::Bundle*,
                                  mutual::v1::Bundle*) override;
  grpc::Status DeleteFederatedBundle(grpc::ServerContext*,
                                     const mutual::v1::DeleteFederatedBundleRequest*,
                                     mutual::v1::DeleteFederatedBundleResponse*) override;
  grpc::Status ListAuthorities(grpc::ServerContext*, const mutual::v1::ListAuthoritiesRequest*,
                               mutual::v1::ListAuthoritiesResponse*) override;
  grpc::Status PrepareAuthority(grpc::ServerContext*, const mutual::v1::PrepareAuthorityRequest*,
                                mutual::v1::Authority*) override;
  grpc::Status ActivateAuthority(grpc::ServerContext*, const mutual::v1::AuthorityRequest*,
                                 mutual::v1::Authority*) override;
  grpc::Status TaintAuthority(grpc::ServerContext*, const mutual::v1::AuthorityRequest*,
                              mutual::v1::Authority*) override;
  grpc::Status RevokeAuthority(grpc::ServerContext*, const mutual::v1::AuthorityRequest*,
                               mutual::v1::Authority*) override;
  grpc::Status ListAgents(grpc::ServerContext*, const mutual::v1::ListAgentsRequest*,
                          mutual::v1::ListAgentsResponse*) override;
  grpc::Status EvictAgent(grpc::ServerContext*, const mutual::v1::AgentRequest*,
                          mutual::v1::Agent*) override;
  grpc::Status BanAgent(grpc::ServerContext*, const mutual::v1::AgentRequest*,
                        mutual::v1::Agent*) override;
  grpc::Status Healthcheck(grpc::ServerContext*, const mutual::v1::HealthcheckRequest*,
                           mutual::v1::HealthcheckResponse*) override;

 private:
  ControlPlane& plane_;
};

// Checks an entry an operator submits, naming the field at fault: SPIFFE ID (in the server's
// trust domain, with a path, not under /spire), parent ID, at least one selector, TTLs not
// negative, DNS names, federated trust domains, hint length.
Result<void> validateEntry(const datastore::RegistrationEntry& entry,
                           const spiffe::TrustDomain& td);

}  // namespace mutual::server
