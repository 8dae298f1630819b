#pragma once

// Internal to the server module: what the Node and Admin services share, and the services.

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

  // The client certificate chain of a call (leaf first), parsed once per distinct chain.
  std::vector<crypto::Certificate> peerChain(const grpc::ServerContext& context);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const spiffe::BundleSet> bundles_;
  uint64_t bundle_sequence_ = 0;
  bool have_bundle_ = false;
  std::map<std::string, std::vector<crypto::Certificate>> peer_cache_;
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
