// mutual.v1.Node: what agents call (proto/mutual/v1/node.proto).
#include <grpc/grpc_security_constants.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include "base/time.h"
#include "server/control_plane.h"
#include "server/jwt.h"
#include "server/proto_convert.h"

namespace mutual::server {

namespace {

using grpc::Status;

constexpr size_t kPeerCacheLimit = 4096;
constexpr size_t kMaxSvidsPerCall = 1000;

Status status(const Error& error) { return proto::toStatus(error); }

std::string peerAddress(const grpc::ServerContextBase& context) { return context.peer(); }

}  // namespace

// --- ControlPlane ---------------------------------------------------------------------------

std::shared_ptr<const spiffe::BundleSet> ControlPlane::bundles() const {
  std::lock_guard lock(mu_);
  return bundles_;
}

uint64_t ControlPlane::bundleSequence() const {
  std::lock_guard lock(mu_);
  return bundle_sequence_;
}

Result<bool> ControlPlane::refreshBundles() {
  auto bundle = store->fetchBundle(td.name());
  if (!bundle) return fail(bundle.error());
  {
    std::lock_guard lock(mu_);
    if (have_bundle_ && bundle->sequence_number == bundle_sequence_) return false;
  }
  std::vector<crypto::Certificate> roots;
  for (const auto& der : bundle->x509_authorities_der) {
    auto cert = crypto::Certificate::fromDer(der);
    if (cert) roots.push_back(std::move(*cert));
  }
  auto set = std::make_shared<spiffe::BundleSet>();
  if (!roots.empty()) {
    if (auto ok = set->put(
            spiffe::X509Bundle{td, std::move(roots), bundle->sequence_number, std::nullopt, {}});
        !ok) {
      return fail(ok.error());
    }
  }
  std::lock_guard lock(mu_);
  bundles_ = std::move(set);
  bundle_sequence_ = bundle->sequence_number;
  have_bundle_ = true;
  peer_cache_.clear();
  return true;
}

std::shared_ptr<ControlPlane::PeerEntry> ControlPlane::peerEntry(
    const grpc::ServerContextBase& context) {
  auto auth = context.auth_context();
  if (!auth) return nullptr;
  // The leaf is its own property; the chain property holds what OpenSSL reports as the peer's
  // chain, which on a server leaves the leaf out (SSL_get_peer_cert_chain).
  auto leaf = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (leaf.empty()) return nullptr;
  auto chain = auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
  std::string key(leaf.front().data(), leaf.front().size());
  if (!chain.empty()) key.append(chain.front().data(), chain.front().size());
  {
    std::lock_guard lock(mu_);
    if (auto it = peer_cache_.find(key); it != peer_cache_.end()) return it->second;
  }
  auto leaf_certs =
      crypto::parsePemCertificates(std::string(leaf.front().data(), leaf.front().size()));
  if (!leaf_certs || leaf_certs->empty()) return nullptr;
  auto entry = std::make_shared<PeerEntry>();
  entry->chain.push_back(leaf_certs->front());
  if (!chain.empty()) {
    auto rest =
        crypto::parsePemCertificates(std::string(chain.front().data(), chain.front().size()));
    if (rest) {
      for (auto& c : *rest) {
        if (c.sha256Fingerprint() != entry->chain.front().sha256Fingerprint())
          entry->chain.push_back(std::move(c));
      }
    }
  }
  entry->valid_from = entry->chain.front().notBefore();
  entry->valid_until = entry->chain.front().notAfter();
  for (const auto& c : entry->chain) {
    entry->valid_from = std::max(entry->valid_from, c.notBefore());
    entry->valid_until = std::min(entry->valid_until, c.notAfter());
  }
  std::lock_guard lock(mu_);
  if (peer_cache_.size() >= kPeerCacheLimit) peer_cache_.clear();
  return peer_cache_.emplace(std::move(key), std::move(entry)).first->second;
}

Result<ControlPlane::VerifiedPeer> ControlPlane::verifiedAgentPeer(
    const grpc::ServerContextBase& context, TimePoint now) {
  auto entry = peerEntry(context);
  std::shared_ptr<const spiffe::BundleSet> set;
  {
    std::lock_guard lock(mu_);
    if (entry && entry->verified && now >= entry->valid_from && now < entry->valid_until) {
      return *entry->verified;
    }
    set = bundles_;
  }
  if (!set) return fail(Code::kUnavailable, "the server has no trust bundle yet");
  static const std::vector<crypto::Certificate> kNone;
  auto id = verifyAgentSvid(*set, td, entry ? entry->chain : kNone, now);
  if (!id) return fail(id.error());
  VerifiedPeer peer{std::move(*id), entry->chain.front().serialHex()};
  std::lock_guard lock(mu_);
  // Kept only if the bundle it was verified against is still the current one.
  if (bundles_ == set) entry->verified = peer;
  return peer;
}

Result<std::shared_ptr<const ControlPlane::EntryList>> ControlPlane::signingAuthorization(
    const std::string& agent_id, TimePoint now, bool fresh) {
  const auto steady_now = std::chrono::steady_clock::now();
  uint64_t generation = 0;
  {
    std::lock_guard lock(auth_mu_);
    if (!fresh) {
      if (auto it = authorizations_.find(agent_id);
          it != authorizations_.end() && steady_now < it->second.until) {
        return it->second.entries;
      }
    }
    generation = auth_generation_;
  }
  auto entries = authorizedEntries(*store, td, agent_id, now);
  if (!entries) return fail(entries.error());
  auto shared = std::make_shared<const EntryList>(std::move(*entries));
  std::lock_guard lock(auth_mu_);
  // Not kept when the admin API changed something while it was being computed.
  if (generation == auth_generation_) {
    if (authorizations_.size() >= kPeerCacheLimit) authorizations_.clear();
    authorizations_.insert_or_assign(agent_id,
                                     Authorization{shared, steady_now + kAuthorizationTtl});
  }
  return shared;
}

void ControlPlane::forgetAuthorizations() {
  std::lock_guard lock(auth_mu_);
  authorizations_.clear();
  checked_nodes_.clear();
  ++auth_generation_;
}

Result<AuthenticatedAgent> ControlPlane::checkedAgentNode(spiffe::SpiffeId id,
                                                          const std::string& serial) {
  const auto steady_now = std::chrono::steady_clock::now();
  uint64_t generation = 0;
  {
    std::lock_guard lock(auth_mu_);
    if (auto it = checked_nodes_.find(id.str()); it != checked_nodes_.end() &&
                                                 it->second.agent.serial_hex == serial &&
                                                 steady_now < it->second.until) {
      return it->second.agent;
    }
    generation = auth_generation_;
  }
  const std::string key = id.str();
  auto agent = checkAgentNode(*store, std::move(id), serial);
  if (!agent) return agent;
  std::lock_guard lock(auth_mu_);
  if (generation == auth_generation_) {
    if (checked_nodes_.size() >= kPeerCacheLimit) checked_nodes_.clear();
    // One serial per agent: a renewed SVID that was just promoted replaces the old one.
    checked_nodes_.insert_or_assign(key, CheckedNode{*agent, steady_now + kAuthorizationTtl});
  }
  return agent;
}

// --- Helpers --------------------------------------------------------------------------------

namespace {

void fillSvid(const SignedSvid& svid, const std::vector<std::string>& chain_der,
              mutual::v1::AgentSvid* out) {
  out->set_spiffe_id(svid.spiffe_id);
  out->add_cert_chain(svid.cert_der);
  for (const auto& der : chain_der) out->add_cert_chain(der);
  out->set_expires_at(toUnix(svid.not_after));
}

Result<void> fillBundles(ControlPlane& plane, const std::set<std::string>& federated,
                         mutual::v1::Bundle* own,
                         google::protobuf::RepeatedPtrField<mutual::v1::Bundle>* others) {
  auto bundle = plane.store->fetchBundle(plane.td.name());
  if (!bundle) return fail(bundle.error().prefix("reading the trust bundle"));
  proto::toProto(*bundle, own);
  if (others == nullptr) return {};
  auto all = plane.store->listBundles();
  if (!all) return fail(all.error().prefix("reading federated bundles"));
  for (const auto& b : *all) {
    if (b.trust_domain == plane.td.name()) continue;
    if (!federated.empty() && federated.count(b.trust_domain) == 0) continue;
    proto::toProto(b, others->Add());
  }
  return {};
}

}  // namespace

// --- The service ----------------------------------------------------------------------------
//
// Where each call runs. gRPC's callback threads are few (two on this 2-core machine: gRPC 1.51
// runs callbacks on max(2, cores / 2) threads of its own), and every datastore operation
// takes the store's one connection under a mutex, which the issued-records writer holds for
// a whole batch commit (an fsync, ~4 ms here). So:
// - inline, on the callback thread that read the call: SignX509Svids and SignJwtSvid, the
//   calls agents make all the time. They are answered from the peer, agent-check and
//   authorization caches and the in-process signer (records are written behind); the
//   datastore is read only when a cached check is older than kAuthorizationTtl (once per
//   agent per second) or an entry is missing from the kept authorization.
// - on blocking_: AttestAgent, RenewAgent, SyncEntries and FetchBundles, which read or write
//   the datastore on every call (SyncEntries one query per entry), come once per agent or
//   every few seconds, and would otherwise hold a callback thread for the length of a
//   transaction, stalling the signing calls queued behind it. FetchBundles needs no client
//   certificate: inline, anyone could keep the callback threads waiting on the datastore.
//   The Admin API's calls (admin_service.cc) run there too.
grpc::ServerUnaryReactor* finishBlocking(asio::thread_pool& blocking,
                                         grpc::CallbackServerContext* context,
                                         std::function<grpc::Status()> handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Finish may come before this returns: the reactor takes it either way.
  asio::post(blocking, [reactor, handler = std::move(handler)] { reactor->Finish(handler()); });
  return reactor;
}

Result<AuthenticatedAgent> NodeService::authenticate(const grpc::ServerContextBase& context) {
  auto peer = plane_.verifiedAgentPeer(context, plane_.clock->now());
  Result<AuthenticatedAgent> agent =
      peer ? plane_.checkedAgentNode(std::move(peer->id), peer->serial_hex)
           : Result<AuthenticatedAgent>(fail(peer.error()));
  if (!agent) {
    spdlog::info("node API: {} refused: {}", peerAddress(context), agent.error().message);
  }
  return agent;
}

// --- AttestAgent ----------------------------------------------------------------------------

// The conversation of proto/mutual/v1/node.proto as a reactor: read the parameters, for
// x509pop write a challenge and read its response, then answer with the SVID. The reactions
// only hand the next step to the blocking threads, which do the attestation, the datastore
// work and the next read, write or Finish. At most one operation or step is pending at any
// time, so the members need no lock: gRPC's and Asio's queues order each step after the
// previous one.
class NodeService::Attestation final
    : public grpc::ServerBidiReactor<mutual::v1::AttestAgentRequest,
                                     mutual::v1::AttestAgentResponse> {
 public:
  Attestation(NodeService& service, grpc::CallbackServerContext* context)
      : service_(service), plane_(service.plane_), context_(*context) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    read_ok_ = ok;
    if (!challenge_) {
      asio::post(service_.blocking_, [this] { begin(); });
    } else {
      asio::post(service_.blocking_, [this] { answered(); });
    }
  }

  // Only the challenge is written with StartWrite (the result goes with Finish).
  void OnWriteDone(bool ok) override {
    if (ok) {
      StartRead(&answer_);
      return;
    }
    asio::post(service_.blocking_, [this] { complete(expectedChallengeResponse()); });
  }

  void OnDone() override { delete this; }

 private:
  static Result<AttestedAgent> expectedChallengeResponse() {
    return fail(Code::kInvalidArgument,
                "x509pop: expected the challenge response as the second message");
  }

  // The first message has been read (or the stream ended).
  void begin() {
    if (!read_ok_ || !request_.has_params()) {
      Finish(status(Error{Code::kInvalidArgument,
                          "AttestAgent: the first message must carry the attestation parameters",
                          ""}));
      return;
    }
    const mutual::v1::AttestationParams& params = request_.params();
    if (params.csr().empty()) {
      Finish(
          status(Error{Code::kInvalidArgument, "AttestAgent: csr is required (PKCS#10, DER)", ""}));
      return;
    }
    const std::string& type = params.attestation_type();
    const TimePoint now = plane_.clock->now();
    if (type == "join_token") {
      if (!plane_.join_token_enabled) {
        complete(fail(Code::kPermissionDenied,
                      "node attestor \"join_token\" is not enabled in this server's "
                      "configuration"));
      } else {
        complete(attestJoinToken(*plane_.store, plane_.td, params.join_token(), now));
      }
    } else if (type == "x509pop") {
      if (!plane_.x509pop) {
        complete(fail(Code::kPermissionDenied,
                      "node attestor \"x509pop\" is not enabled in this server's configuration"));
        return;
      }
      std::vector<std::string> chain(params.x509pop_chain().begin(), params.x509pop_chain().end());
      auto challenge = plane_.x509pop->begin(chain, now);
      if (!challenge) {
        complete(fail(challenge.error()));
        return;
      }
      challenge_ = std::move(*challenge);
      ask_.set_challenge(challenge_->nonce);
      StartWrite(&ask_);
    } else if (type == "k8s_psat") {
      complete(fail(Code::kPermissionDenied,
                    plane_.k8s_psat_enabled ? "k8s_psat: no Kubernetes API reachable"
                                            : "node attestor \"k8s_psat\" is not enabled in this "
                                              "server's configuration"));
    } else {
      complete(fail(Code::kInvalidArgument,
                    "unknown attestation_type \"" + type + "\" (join_token, x509pop or k8s_psat)"));
    }
  }

  // x509pop: the second message has been read (or the stream ended).
  void answered() {
    if (!read_ok_ || answer_.step_case() != mutual::v1::AttestAgentRequest::kChallengeResponse) {
      complete(expectedChallengeResponse());
      return;
    }
    complete(plane_.x509pop->finish(*challenge_, answer_.challenge_response()));
  }

  // Records the attested agent and answers with its SVID, or fails the call.
  void complete(Result<AttestedAgent> attested) {
    const mutual::v1::AttestationParams& params = request_.params();
    const std::string& type = params.attestation_type();
    if (!attested) {
      spdlog::warn("node attestation from {} ({}) failed: {}", peerAddress(context_),
                   type.empty() ? "no type" : type, attested.error().message);
      Finish(status(attested.error()));
      return;
    }
    const std::string agent_id = attested->id.str();
    auto existing = plane_.store->fetchAttestedNode(agent_id);
    if (existing && existing->banned()) {
      Finish(status(Error{Code::kPermissionDenied, "agent " + agent_id + " is banned", ""}));
      return;
    }
    if (existing && !existing->can_reattest) {
      Finish(
          status(Error{Code::kPermissionDenied,
                       "agent " + agent_id + " is already attested and may not attest again", ""}));
      return;
    }
    auto svid = plane_.signer->sign({params.csr(), agent_id, {}, plane_.agent_ttl});
    if (!svid) {
      Finish(status(svid.error().prefix("signing the agent SVID")));
      return;
    }
    datastore::AttestedNode node{
        agent_id, attested->attestation_type, svid->serial_hex, toUnix(svid->not_after), "",
        0,        attested->reattestable};
    auto stored =
        existing ? plane_.store->updateAttestedNode(node) : plane_.store->createAttestedNode(node);
    if (!stored) {
      Finish(status(stored.error().prefix("recording the agent")));
      return;
    }
    if (auto ok = plane_.store->setNodeSelectors(agent_id, attested->selectors); !ok) {
      Finish(status(ok.error().prefix("recording the agent's selectors")));
      return;
    }
    plane_.forgetAuthorizations();  // its node aliases may have changed
    auto* result = done_.mutable_result();
    fillSvid(*svid, svid->issuer->chain_der, result);
    result->set_reattestable(attested->reattestable);
    if (auto ok = fillBundles(plane_, {}, result->mutable_bundle(), nullptr); !ok) {
      Finish(status(ok.error()));
      return;
    }
    spdlog::info("agent {} attested ({}) from {}", agent_id, attested->attestation_type,
                 peerAddress(context_));
    StartWriteAndFinish(&done_, grpc::WriteOptions(), Status::OK);
  }

  NodeService& service_;
  ControlPlane& plane_;
  grpc::CallbackServerContext& context_;
  mutual::v1::AttestAgentRequest request_;
  mutual::v1::AttestAgentRequest answer_;
  mutual::v1::AttestAgentResponse ask_;
  mutual::v1::AttestAgentResponse done_;
  std::optional<X509PopAttestor::Challenge> challenge_;  // set once the challenge is sent
  bool read_ok_ = false;
};

grpc::ServerBidiReactor<mutual::v1::AttestAgentRequest, mutual::v1::AttestAgentResponse>*
NodeService::AttestAgent(grpc::CallbackServerContext* context) {
  return new Attestation(*this, context);
}

// --- Calls of attested agents ---------------------------------------------------------------

grpc::ServerUnaryReactor* NodeService::RenewAgent(grpc::CallbackServerContext* context,
                                                  const mutual::v1::RenewAgentRequest* request,
                                                  mutual::v1::RenewAgentResponse* response) {
  return finishBlocking(blocking_, context, [this, context, request, response] {
    return renewAgent(*context, *request, *response);
  });
}

Status NodeService::renewAgent(const grpc::CallbackServerContext& context,
                               const mutual::v1::RenewAgentRequest& request,
                               mutual::v1::RenewAgentResponse& response) {
  auto agent = authenticate(context);
  if (!agent) return status(agent.error());
  if (request.csr().empty()) {
    return status(Error{Code::kInvalidArgument, "RenewAgent: csr is required", ""});
  }
  auto svid = plane_.signer->sign({request.csr(), agent->id.str(), {}, plane_.agent_ttl});
  if (!svid) return status(svid.error().prefix("signing the agent SVID"));
  datastore::AttestedNode node = agent->node;
  node.new_cert_serial = svid->serial_hex;
  node.new_cert_not_after = toUnix(svid->not_after);
  datastore::AttestedNodeMask mask;
  mask.attestation_type = mask.cert_serial = mask.cert_not_after = mask.can_reattest = false;
  if (auto ok = plane_.store->updateAttestedNode(node, mask); !ok) {
    return status(ok.error().prefix("recording the renewal"));
  }
  auto* out = response.mutable_svid();
  fillSvid(*svid, svid->issuer->chain_der, out);
  out->set_reattestable(node.can_reattest);
  if (auto ok = fillBundles(plane_, {}, out->mutable_bundle(), nullptr); !ok) {
    return status(ok.error());
  }
  return Status::OK;
}

grpc::ServerUnaryReactor* NodeService::SyncEntries(
    grpc::CallbackServerContext* context, const mutual::v1::SyncEntriesRequest* /*request*/,
    mutual::v1::SyncEntriesResponse* response) {
  return finishBlocking(blocking_, context,
                        [this, context, response] { return syncEntries(*context, *response); });
}

Status NodeService::syncEntries(const grpc::CallbackServerContext& context,
                                mutual::v1::SyncEntriesResponse& response) {
  auto agent = authenticate(context);
  if (!agent) return status(agent.error());
  auto entries = plane_.signingAuthorization(agent->id.str(), plane_.clock->now(), true);
  if (!entries) return status(entries.error());
  std::set<std::string> federated;
  for (const auto& e : **entries) {
    proto::toProto(e, response.add_entries());
    federated.insert(e.federates_with.begin(), e.federates_with.end());
  }
  if (federated.empty()) federated.insert("");  // none: filter everything out
  if (auto ok = fillBundles(plane_, federated, response.mutable_bundle(),
                            response.mutable_federated_bundles());
      !ok) {
    return status(ok.error());
  }
  for (const auto& id : plane_.ca->taintedAuthorityIds()) response.add_tainted_authority_ids(id);
  return Status::OK;
}

grpc::ServerUnaryReactor* NodeService::SignX509Svids(
    grpc::CallbackServerContext* context, const mutual::v1::SignX509SvidsRequest* request,
    mutual::v1::SignX509SvidsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(signX509Svids(*context, *request, *response));
  return reactor;
}

Status NodeService::signX509Svids(const grpc::CallbackServerContext& context,
                                  const mutual::v1::SignX509SvidsRequest& request,
                                  mutual::v1::SignX509SvidsResponse& response) {
  auto agent = authenticate(context);
  if (!agent) return status(agent.error());
  if (request.requests_size() == 0) return Status::OK;
  if (static_cast<size_t>(request.requests_size()) > kMaxSvidsPerCall) {
    return status(Error{
        Code::kInvalidArgument,
        "SignX509Svids: at most " + std::to_string(kMaxSvidsPerCall) + " requests per call", ""});
  }
  const TimePoint now = plane_.clock->now();
  auto entries = plane_.signingAuthorization(agent->id.str(), now, false);
  if (!entries) return status(entries.error());
  std::map<std::string_view, const datastore::RegistrationEntry*> by_id;
  for (const auto& e : **entries) by_id.emplace(e.id, &e);
  const bool all_known = std::all_of(request.requests().begin(), request.requests().end(),
                                     [&](const auto& r) { return by_id.count(r.entry_id()) != 0; });
  if (!all_known) {  // maybe an entry newer than the kept authorization: ask the datastore
    entries = plane_.signingAuthorization(agent->id.str(), now, true);
    if (!entries) return status(entries.error());
    by_id.clear();
    for (const auto& e : **entries) by_id.emplace(e.id, &e);
  }
  std::vector<SvidRequest> requests;
  requests.reserve(static_cast<size_t>(request.requests_size()));
  for (const auto& r : request.requests()) {
    auto it = by_id.find(r.entry_id());
    if (it == by_id.end()) {
      spdlog::warn("agent {} asked for entry {} it may not serve", agent->id.str(), r.entry_id());
      return status(Error{Code::kPermissionDenied,
                          "entry \"" + r.entry_id() + "\" is not authorized for agent " +
                              agent->id.str() + " (unknown, or not parented by it)",
                          "entry_not_authorized"});
    }
    const datastore::RegistrationEntry& e = *it->second;
    requests.push_back({r.csr(), e.spiffe_id, e.dns_names, Seconds(e.x509_svid_ttl)});
  }
  auto svids = plane_.signer->signBatch(requests);
  if (!svids) return status(svids.error());
  for (size_t i = 0; i < svids->size(); ++i) {
    const SignedSvid& svid = (*svids)[i];
    auto* out = response.add_svids();
    out->set_entry_id(request.requests(static_cast<int>(i)).entry_id());
    out->set_spiffe_id(svid.spiffe_id);
    out->add_cert_chain(svid.cert_der);
    for (const auto& der : svid.issuer->chain_der) out->add_cert_chain(der);
    out->set_expires_at(toUnix(svid.not_after));
  }
  return Status::OK;
}

grpc::ServerUnaryReactor* NodeService::SignJwtSvid(grpc::CallbackServerContext* context,
                                                   const mutual::v1::SignJwtSvidRequest* request,
                                                   mutual::v1::SignJwtSvidResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(signJwtSvid(*context, *request, *response));
  return reactor;
}

Status NodeService::signJwtSvid(const grpc::CallbackServerContext& context,
                                const mutual::v1::SignJwtSvidRequest& request,
                                mutual::v1::SignJwtSvidResponse& response) {
  auto agent = authenticate(context);
  if (!agent) return status(agent.error());
  if (request.audience_size() == 0) {
    return status(Error{Code::kInvalidArgument, "audience must be specified", ""});
  }
  const TimePoint now = plane_.clock->now();
  const auto find = [&](const ControlPlane::EntryList& list) {
    return std::find_if(list.begin(), list.end(),
                        [&](const auto& e) { return e.id == request.entry_id(); });
  };
  auto entries = plane_.signingAuthorization(agent->id.str(), now, false);
  if (!entries) return status(entries.error());
  if (find(**entries) == (*entries)->end()) {
    entries = plane_.signingAuthorization(agent->id.str(), now, true);
    if (!entries) return status(entries.error());
  }
  const auto it = find(**entries);
  if (it == (*entries)->end()) {
    return status(
        Error{Code::kPermissionDenied,
              "entry \"" + request.entry_id() + "\" is not authorized for agent " + agent->id.str(),
              "entry_not_authorized"});
  }
  auto key = plane_.ca->currentJwt();
  if (!key) return status(Error{Code::kUnavailable, "the server has no JWT key yet", ""});
  Seconds ttl = it->jwt_svid_ttl > 0 ? Seconds(it->jwt_svid_ttl) : plane_.default_jwt_ttl;
  ttl = std::min(ttl, std::chrono::duration_cast<Seconds>(key->not_after - now));
  if (ttl <= Seconds(0)) return status(Error{Code::kUnavailable, "the JWT key expired", ""});
  std::vector<std::string> audience(request.audience().begin(), request.audience().end());
  auto token = signJwt(*key->key, key->key_id, it->spiffe_id, audience, now, ttl);
  if (!token) return status(token.error());
  response.set_token(*token);
  response.set_spiffe_id(it->spiffe_id);
  response.set_issued_at(toUnix(now));
  response.set_expires_at(toUnix(now + ttl));
  return Status::OK;
}

grpc::ServerUnaryReactor* NodeService::FetchBundles(
    grpc::CallbackServerContext* context, const mutual::v1::FetchBundlesRequest* /*request*/,
    mutual::v1::FetchBundlesResponse* response) {
  return finishBlocking(blocking_, context, [this, response] { return fetchBundles(*response); });
}

Status NodeService::fetchBundles(mutual::v1::FetchBundlesResponse& response) {
  if (auto ok =
          fillBundles(plane_, {}, response.mutable_bundle(), response.mutable_federated_bundles());
      !ok) {
    return status(ok.error());
  }
  return Status::OK;
}

}  // namespace mutual::server
