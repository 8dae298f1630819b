#pragma once

// Internal to the server module: what the Node and Admin services share, and the services.

#include <chrono>
#include <functional>
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

namespace asio {
class thread_pool;
}

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
  Result<VerifiedPeer> verifiedAgentPeer(const grpc::ServerContextBase& context, TimePoint now);

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
  std::shared_ptr<PeerEntry> peerEntry(const grpc::ServerContextBase& context);

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

// Both services are on gRPC's callback API: a call is handled on the gRPC thread that read it,
// with no hand-off to a sync-server thread (half the futex calls per signing call, ~13% less
// server CPU per certificate in bench/sign_compare.sh; docs/benchmarks.md). Calls that wait on
// the datastore are finished on `blocking` instead (finishBlocking); node_service.cc says
// which and why.
//
// Runs `handler` on `blocking` and finishes the call with its status. The call's context,
// request and response live until then.
grpc::ServerUnaryReactor* finishBlocking(asio::thread_pool& blocking,
                                         grpc::CallbackServerContext* context,
                                         std::function<grpc::Status()> handler);

class NodeService final : public mutual::v1::Node::CallbackService {
 public:
  NodeService(ControlPlane& plane, asio::thread_pool& blocking)
      : plane_(plane), blocking_(blocking) {}

  grpc::ServerBidiReactor<mutual::v1::AttestAgentRequest, mutual::v1::AttestAgentResponse>*
  AttestAgent(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* RenewAgent(grpc::CallbackServerContext* context,
                                       const mutual::v1::RenewAgentRequest* request,
                                       mutual::v1::RenewAgentResponse* response) override;
  grpc::ServerUnaryReactor* SyncEntries(grpc::CallbackServerContext* context,
                                        const mutual::v1::SyncEntriesRequest* request,
                                        mutual::v1::SyncEntriesResponse* response) override;
  grpc::ServerUnaryReactor* SignX509Svids(grpc::CallbackServerContext* context,
                                          const mutual::v1::SignX509SvidsRequest* request,
                                          mutual::v1::SignX509SvidsResponse* response) override;
  grpc::ServerUnaryReactor* SignJwtSvid(grpc::CallbackServerContext* context,
                                        const mutual::v1::SignJwtSvidRequest* request,
                                        mutual::v1::SignJwtSvidResponse* response) override;
  grpc::ServerUnaryReactor* FetchBundles(grpc::CallbackServerContext* context,
                                         const mutual::v1::FetchBundlesRequest* request,
                                         mutual::v1::FetchBundlesResponse* response) override;

 private:
  class Attestation;  // AttestAgent's reactor

  grpc::Status renewAgent(const grpc::CallbackServerContext& context,
                          const mutual::v1::RenewAgentRequest& request,
                          mutual::v1::RenewAgentResponse& response);
  grpc::Status syncEntries(const grpc::CallbackServerContext& context,
                           mutual::v1::SyncEntriesResponse& response);
  grpc::Status signX509Svids(const grpc::CallbackServerContext& context,
                             const mutual::v1::SignX509SvidsRequest& request,
                             mutual::v1::SignX509SvidsResponse& response);
  grpc::Status signJwtSvid(const grpc::CallbackServerContext& context,
                           const mutual::v1::SignJwtSvidRequest& request,
                           mutual::v1::SignJwtSvidResponse& response);
  grpc::Status fetchBundles(mutual::v1::FetchBundlesResponse& response);

  Result<AuthenticatedAgent> authenticate(const grpc::ServerContextBase& context);

  ControlPlane& plane_;
  asio::thread_pool& blocking_;
};

// Every call on the blocking threads: they all read or write the datastore or the CA.
class AdminService final : public mutual::v1::Admin::CallbackService {
 public:
  AdminService(ControlPlane& plane, asio::thread_pool& blocking)
      : plane_(plane), blocking_(blocking) {}

  grpc::ServerUnaryReactor* CreateEntry(grpc::CallbackServerContext*,
                                        const mutual::v1::CreateEntryRequest*,
                                        mutual::v1::Entry*) override;
  grpc::ServerUnaryReactor* ListEntries(grpc::CallbackServerContext*,
                                        const mutual::v1::ListEntriesRequest*,
                                        mutual::v1::ListEntriesResponse*) override;
  grpc::ServerUnaryReactor* UpdateEntry(grpc::CallbackServerContext*,
                                        const mutual::v1::UpdateEntryRequest*,
                                        mutual::v1::Entry*) override;
  grpc::ServerUnaryReactor* DeleteEntry(grpc::CallbackServerContext*,
                                        const mutual::v1::DeleteEntryRequest*,
                                        mutual::v1::Entry*) override;
  grpc::ServerUnaryReactor* CreateJoinToken(grpc::CallbackServerContext*,
                                            const mutual::v1::CreateJoinTokenRequest*,
                                            mutual::v1::CreateJoinTokenResponse*) override;
  grpc::ServerUnaryReactor* GetBundle(grpc::CallbackServerContext*,
                                      const mutual::v1::GetBundleRequest*,
                                      mutual::v1::Bundle*) override;
  grpc::ServerUnaryReactor* ListFederatedBundles(
      grpc::CallbackServerContext*, const mutual::v1::ListFederatedBundlesRequest*,
      mutual::v1::ListFederatedBundlesResponse*) override;
  grpc::ServerUnaryReactor* SetFederatedBundle(grpc::CallbackServerContext*,
                                               const mutual::v1::Bundle*,
                                               mutual::v1::Bundle*) override;
  grpc::ServerUnaryReactor* DeleteFederatedBundle(
      grpc::CallbackServerContext*, const mutual::v1::DeleteFederatedBundleRequest*,
      mutual::v1::DeleteFederatedBundleResponse*) override;
  grpc::ServerUnaryReactor* ListAuthorities(grpc::CallbackServerContext*,
                                            const mutual::v1::ListAuthoritiesRequest*,
                                            mutual::v1::ListAuthoritiesResponse*) override;
  grpc::ServerUnaryReactor* PrepareAuthority(grpc::CallbackServerContext*,
                                             const mutual::v1::PrepareAuthorityRequest*,
                                             mutual::v1::Authority*) override;
  grpc::ServerUnaryReactor* ActivateAuthority(grpc::CallbackServerContext*,
                                              const mutual::v1::AuthorityRequest*,
                                              mutual::v1::Authority*) override;
  grpc::ServerUnaryReactor* TaintAuthority(grpc::CallbackServerContext*,
                                           const mutual::v1::AuthorityRequest*,
                                           mutual::v1::Authority*) override;
  grpc::ServerUnaryReactor* RevokeAuthority(grpc::CallbackServerContext*,
                                            const mutual::v1::AuthorityRequest*,
                                            mutual::v1::Authority*) override;
  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext*,
                                       const mutual::v1::ListAgentsRequest*,
                                       mutual::v1::ListAgentsResponse*) override;
  grpc::ServerUnaryReactor* EvictAgent(grpc::CallbackServerContext*,
                                       const mutual::v1::AgentRequest*,
                                       mutual::v1::Agent*) override;
  grpc::ServerUnaryReactor* BanAgent(grpc::CallbackServerContext*, const mutual::v1::AgentRequest*,
                                     mutual::v1::Agent*) override;
  grpc::ServerUnaryReactor* Healthcheck(grpc::CallbackServerContext*,
                                        const mutual::v1::HealthcheckRequest*,
                                        mutual::v1::HealthcheckResponse*) override;

 private:
  grpc::Status createEntry(const mutual::v1::CreateEntryRequest*, mutual::v1::Entry*);
  grpc::Status listEntries(const mutual::v1::ListEntriesRequest*, mutual::v1::ListEntriesResponse*);
  grpc::Status updateEntry(const mutual::v1::UpdateEntryRequest*, mutual::v1::Entry*);
  grpc::Status deleteEntry(const mutual::v1::DeleteEntryRequest*, mutual::v1::Entry*);
  grpc::Status createJoinToken(const mutual::v1::CreateJoinTokenRequest*,
                               mutual::v1::CreateJoinTokenResponse*);
  grpc::Status getBundle(const mutual::v1::GetBundleRequest*, mutual::v1::Bundle*);
  grpc::Status listFederatedBundles(const mutual::v1::ListFederatedBundlesRequest*,
                                    mutual::v1::ListFederatedBundlesResponse*);
  grpc::Status setFederatedBundle(const mutual::v1::Bundle*, mutual::v1::Bundle*);
  grpc::Status deleteFederatedBundle(const mutual::v1::DeleteFederatedBundleRequest*,
                                     mutual::v1::DeleteFederatedBundleResponse*);
  grpc::Status listAuthorities(const mutual::v1::ListAuthoritiesRequest*,
                               mutual::v1::ListAuthoritiesResponse*);
  grpc::Status prepareAuthority(const mutual::v1::PrepareAuthorityRequest*, mutual::v1::Authority*);
  grpc::Status activateAuthority(const mutual::v1::AuthorityRequest*, mutual::v1::Authority*);
  grpc::Status taintAuthority(const mutual::v1::AuthorityRequest*, mutual::v1::Authority*);
  grpc::Status revokeAuthority(const mutual::v1::AuthorityRequest*, mutual::v1::Authority*);
  grpc::Status listAgents(const mutual::v1::ListAgentsRequest*, mutual::v1::ListAgentsResponse*);
  grpc::Status evictAgent(const mutual::v1::AgentRequest*, mutual::v1::Agent*);
  grpc::Status banAgent(const mutual::v1::AgentRequest*, mutual::v1::Agent*);
  grpc::Status healthcheck(const mutual::v1::HealthcheckRequest*, mutual::v1::HealthcheckResponse*);

  ControlPlane& plane_;
  asio::thread_pool& blocking_;
};

// Checks an entry an operator submits, naming the field at fault: SPIFFE ID (in the server's
// trust domain, with a path, not under /spire), parent ID, at least one selector, TTLs not
// negative, DNS names, federated trust domains, hint length.
Result<void> validateEntry(const datastore::RegistrationEntry& entry,
                           const spiffe::TrustDomain& td);

}  // namespace mutual::server
