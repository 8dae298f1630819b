// mutual.v1.Admin: what `mutual server ...` commands call over the admin socket
// (proto/mutual/v1/admin.proto).
#include <spdlog/spdlog.h>

#include "base/time.h"
#include "server/control_plane.h"
#include "server/proto_convert.h"

namespace mutual::server {

namespace {

using grpc::Status;

constexpr Seconds kDefaultTokenTtl{600};

Status status(const Error& error) { return proto::toStatus(error); }

Result<datastore::Match> parseMatch(const std::string& text, const char* field) {
  if (text.empty() || text == "exact") return datastore::Match::kExact;
  if (text == "subset") return datastore::Match::kSubset;
  if (text == "superset") return datastore::Match::kSuperset;
  if (text == "any") return datastore::Match::kAny;
  return invalidArgument(std::string(field) + ": \"" + text +
                         "\" is not one of exact, subset, superset, any");
}

void toProto(const datastore::AttestedNode& node, const std::vector<datastore::Selector>& selectors,
             mutual::v1::Agent* out) {
  out->set_spiffe_id(node.spiffe_id);
  out->set_attestation_type(node.attestation_type);
  out->set_cert_serial(node.cert_serial);
  out->set_cert_not_after(node.cert_not_after);
  out->set_banned(node.banned());
  out->set_can_reattest(node.can_reattest);
  for (const auto& s : selectors) {
    auto* sel = out->add_selectors();
    sel->set_type(s.type);
    sel->set_value(s.value);
  }
}

}  // namespace

Result<void> validateEntry(const datastore::RegistrationEntry& e, const spiffe::TrustDomain& td) {
  auto id = spiffe::SpiffeId::parse(e.spiffe_id);
  if (!id) return invalidArgument("spiffe_id \"" + e.spiffe_id + "\": " + id.error().message);
  if (!id->memberOf(td)) {
    return invalidArgument("spiffe_id " + e.spiffe_id + " is not in the server's trust domain " +
                           td.name());
  }
  if (id->isRoot()) {
    return invalidArgument("spiffe_id " + e.spiffe_id + " has no path; a workload ID needs one");
  }
  if (id->path() == "/spire" || id->path().rfind("/spire/", 0) == 0) {
    return invalidArgument("spiffe_id " + e.spiffe_id +
                           ": paths under /spire are reserved for the server and agents");
  }
  auto parent = spiffe::SpiffeId::parse(e.parent_id);
  if (!parent)
    return invalidArgument("parent_id \"" + e.parent_id + "\": " + parent.error().message);
  if (!parent->memberOf(td)) {
    return invalidArgument("parent_id " + e.parent_id + " is not in the server's trust domain " +
                           td.name());
  }
  if (e.selectors.empty()) {
    return invalidArgument("selectors: at least one is required (e.g. unix:uid:1000)");
  }
  for (const auto& s : e.selectors) {
    if (s.type.empty() || s.value.empty()) {
      return invalidArgument("selector \"" + s.str() + "\": expected type:value");
    }
  }
  if (e.x509_svid_ttl < 0) return invalidArgument("x509_svid_ttl must not be negative");
  if (e.jwt_svid_ttl < 0) return invalidArgument("jwt_svid_ttl must not be negative");
  for (const auto& dns : e.dns_names) {
    if (dns.empty() || dns.find_first_of(" \t/:@") != std::string::npos) {
      return invalidArgument("dns_names: \"" + dns + "\" is not a DNS name");
    }
  }
  for (const auto& f : e.federates_with) {
    auto other = spiffe::TrustDomain::parse(f);
    if (!other) return invalidArgument("federates_with \"" + f + "\": " + other.error().message);
    if (*other == td) {
      return invalidArgument("federates_with " + f + " is the server's own trust domain");
    }
  }
  if (e.hint.size() > 1024) return invalidArgument("hint is longer than 1024 bytes");
  return {};
}

Status AdminService::createEntry(const mutual::v1::CreateEntryRequest* req,
                                 mutual::v1::Entry* out) {
  datastore::RegistrationEntry entry = proto::fromProto(req->entry());
  if (auto ok = validateEntry(entry, plane_.td); !ok) return status(ok.error());
  auto created = plane_.store->createEntry(entry);
  if (!created) return status(created.error());
  plane_.forgetAuthorizations();
  spdlog::info("entry {} created: {} parent {}", created->id, created->spiffe_id,
               created->parent_id);
  proto::toProto(*created, out);
  return Status::OK;
}

Status AdminService::listEntries(const mutual::v1::ListEntriesRequest* req,
                                 mutual::v1::ListEntriesResponse* out) {
  if (!req->by_entry_id().empty()) {
    auto entry = plane_.store->fetchEntry(req->by_entry_id());
    if (!entry) return status(entry.error());
    proto::toProto(*entry, out->add_entries());
    return Status::OK;
  }
  datastore::ListEntriesRequest list;
  if (!req->by_spiffe_id().empty()) list.by_spiffe_id = req->by_spiffe_id();
  if (!req->by_parent_id().empty()) list.by_parent_id = req->by_parent_id();
  if (req->by_selectors_size() > 0) {
    auto match = parseMatch(req->selector_match(), "selector_match");
    if (!match) return status(match.error());
    datastore::ListEntriesRequest::BySelectors by{{}, *match};
    for (const auto& s : req->by_selectors()) by.selectors.push_back({s.type(), s.value()});
    list.by_selectors = std::move(by);
  }
  if (req->by_federates_with_size() > 0) {
    auto match = parseMatch(req->federates_with_match(), "federates_with_match");
    if (!match) return status(match.error());
    list.by_federates_with = datastore::ListEntriesRequest::ByFederatesWith{
        {req->by_federates_with().begin(), req->by_federates_with().end()}, *match};
  }
  if (req->by_downstream() == "true") list.by_downstream = true;
  if (req->by_downstream() == "false") list.by_downstream = false;
  auto listed = plane_.store->listEntries(list);
  if (!listed) return status(listed.error());
  for (const auto& e : listed->entries) proto::toProto(e, out->add_entries());
  return Status::OK;
}

Status AdminService::updateEntry(const mutual::v1::UpdateEntryRequest* req,
                                 mutual::v1::Entry* out) {
  datastore::RegistrationEntry entry = proto::fromProto(req->entry());
  if (entry.id.empty()) return status(Error{Code::kInvalidArgument, "entry id is required", ""});
  if (auto ok = validateEntry(entry, plane_.td); !ok) return status(ok.error());
  auto updated = plane_.store->updateEntry(entry);
  if (!updated) return status(updated.error());
  plane_.forgetAuthorizations();
  spdlog::info("entry {} updated (revision {})", updated->id, updated->revision_number);
  proto::toProto(*updated, out);
  return Status::OK;
}

Status AdminService::deleteEntry(const mutual::v1::DeleteEntryRequest* req,
                                 mutual::v1::Entry* out) {
  auto deleted = plane_.store->deleteEntry(req->id());
  if (!deleted) return status(deleted.error());
  plane_.forgetAuthorizations();
  spdlog::info("entry {} deleted", deleted->id);
  proto::toProto(*deleted, out);
  return Status::OK;
}

Status AdminService::createJoinToken(const mutual::v1::CreateJoinTokenRequest* req,
                                     mutual::v1::CreateJoinTokenResponse* out) {
  if (req->ttl_seconds() < 0) {
    return status(Error{Code::kInvalidArgument, "ttl must not be negative", ""});
  }
  const Seconds ttl = req->ttl_seconds() == 0 ? kDefaultTokenTtl : Seconds(req->ttl_seconds());
  const std::string token = datastore::newUuid();
  const std::string agent_id = plane_.td.idString() + agentPathPrefix() + "join_token/" + token;
  if (!req->spiffe_id().empty()) {
    // SPIRE's `token generate -spiffeID`: an entry giving the agent an alias ID.
    datastore::RegistrationEntry alias;
    alias.spiffe_id = req->spiffe_id();
    alias.parent_id = agent_id;
    alias.selectors = {{"spiffe_id", agent_id}};
    if (auto ok = validateEntry(alias, plane_.td); !ok) return status(ok.error());
  }
  const TimePoint expiry = plane_.clock->now() + ttl;
  if (auto ok = plane_.store->createJoinToken({token, toUnix(expiry)}); !ok) {
    return status(ok.error());
  }
  if (!req->spiffe_id().empty()) {
    datastore::RegistrationEntry alias;
    alias.spiffe_id = req->spiffe_id();
    alias.parent_id = agent_id;
    alias.selectors = {{"spiffe_id", agent_id}};
    auto created = plane_.store->createEntry(alias);
    if (!created) return status(created.error());
    out->set_entry_id(created->id);
  }
  out->set_token(token);
  out->set_expires_at(toUnix(expiry));
  spdlog::info("join token generated, valid until {}", formatRfc3339(expiry));
  return Status::OK;
}

Status AdminService::getBundle(const mutual::v1::GetBundleRequest*, mutual::v1::Bundle* out) {
  auto bundle = plane_.store->fetchBundle(plane_.td.name());
  if (!bundle) return status(bundle.error());
  proto::toProto(*bundle, out);
  return Status::OK;
}

Status AdminService::listFederatedBundles(const mutual::v1::ListFederatedBundlesRequest*,
                                          mutual::v1::ListFederatedBundlesResponse* out) {
  auto all = plane_.store->listBundles();
  if (!all) return status(all.error());
  for (const auto& b : *all) {
    if (b.trust_domain != plane_.td.name()) proto::toProto(b, out->add_bundles());
  }
  return Status::OK;
}

Status AdminService::setFederatedBundle(const mutual::v1::Bundle* req, mutual::v1::Bundle* out) {
  auto td = spiffe::TrustDomain::parse(req->trust_domain());
  if (!td) return status(td.error().prefix("trust domain \"" + req->trust_domain() + "\""));
  if (*td == plane_.td) {
    return status(Error{Code::kInvalidArgument,
                        "the server's own bundle (" + td->name() +
                            ") is managed by its CA; only federated bundles can be set",
                        ""});
  }
  if (req->x509_authorities_size() == 0) {
    return status(Error{Code::kInvalidArgument, "the bundle has no X.509 authority", ""});
  }
  datastore::Bundle bundle = proto::fromProto(*req);
  bundle.trust_domain = td->name();
  auto existing = plane_.store->fetchBundle(bundle.trust_domain);
  bundle.sequence_number = existing ? existing->sequence_number + 1 : 1;
  auto stored = plane_.store->setBundle(bundle);
  if (!stored) return status(stored.error());
  spdlog::info("federated bundle of {} set ({} authorities)", bundle.trust_domain,
               bundle.x509_authorities_der.size());
  proto::toProto(*stored, out);
  return Status::OK;
}

Status AdminService::deleteFederatedBundle(const mutual::v1::DeleteFederatedBundleRequest* req,
                                           mutual::v1::DeleteFederatedBundleResponse*) {
  auto td = spiffe::TrustDomain::parse(req->trust_domain());
  if (!td) return status(td.error().prefix("trust domain \"" + req->trust_domain() + "\""));
  if (*td == plane_.td) {
    return status(Error{Code::kInvalidArgument, "the server's own bundle cannot be deleted", ""});
  }
  datastore::DeleteBundleMode mode = datastore::DeleteBundleMode::kRestrict;
  if (req->mode() == "delete") {
    mode = datastore::DeleteBundleMode::kDelete;
  } else if (req->mode() == "dissociate") {
    mode = datastore::DeleteBundleMode::kDissociate;
  } else if (!req->mode().empty() && req->mode() != "restrict") {
    return status(Error{Code::kInvalidArgument,
                        "mode \"" + req->mode() + "\": expected restrict, delete or dissociate",
                        ""});
  }
  if (auto ok = plane_.store->deleteBundle(td->name(), mode); !ok) return status(ok.error());
  return Status::OK;
}

Status AdminService::listAuthorities(const mutual::v1::ListAuthoritiesRequest*,
                                     mutual::v1::ListAuthoritiesResponse* out) {
  for (const auto& a : plane_.ca->authorities()) proto::toProto(a, out->add_authorities());
  return Status::OK;
}

Status AdminService::prepareAuthority(const mutual::v1::PrepareAuthorityRequest* req,
                                      mutual::v1::Authority* out) {
  auto info = plane_.ca->prepare(req->new_root());
  if (!info) return status(info.error());
  proto::toProto(*info, out);
  return Status::OK;
}

Status AdminService::activateAuthority(const mutual::v1::AuthorityRequest* req,
                                       mutual::v1::Authority* out) {
  auto info = plane_.ca->activate(req->authority_id());
  if (!info) return status(info.error());
  proto::toProto(*info, out);
  return Status::OK;
}

Status AdminService::taintAuthority(const mutual::v1::AuthorityRequest* req,
                                    mutual::v1::Authority* out) {
  auto info = plane_.ca->taint(req->authority_id());
  if (!info) return status(info.error());
  proto::toProto(*info, out);
  return Status::OK;
}

Status AdminService::revokeAuthority(const mutual::v1::AuthorityRequest* req,
                                     mutual::v1::Authority* out) {
  auto info = plane_.ca->revoke(req->authority_id());
  if (!info) return status(info.error());
  proto::toProto(*info, out);
  (void)plane_.refreshBundles();
  return Status::OK;
}

Status AdminService::listAgents(const mutual::v1::ListAgentsRequest*,
                                mutual::v1::ListAgentsResponse* out) {
  auto nodes = plane_.store->listAttestedNodes({});
  if (!nodes) return status(nodes.error());
  for (const auto& node : nodes->nodes) {
    auto selectors = plane_.store->getNodeSelectors(node.spiffe_id);
    toProto(node, selectors ? *selectors : std::vector<datastore::Selector>{}, out->add_agents());
  }
  return Status::OK;
}

Status AdminService::evictAgent(const mutual::v1::AgentRequest* req, mutual::v1::Agent* out) {
  auto deleted = plane_.store->deleteAttestedNode(req->spiffe_id());
  if (!deleted) return status(deleted.error());
  (void)plane_.store->setNodeSelectors(req->spiffe_id(), {});
  plane_.forgetAuthorizations();
  spdlog::info("agent {} evicted", req->spiffe_id());
  toProto(*deleted, {}, out);
  return Status::OK;
}

Status AdminService::banAgent(const mutual::v1::AgentRequest* req, mutual::v1::Agent* out) {
  auto node = plane_.store->fetchAttestedNode(req->spiffe_id());
  if (!node) return status(node.error());
  node->cert_serial.clear();
  node->new_cert_serial.clear();
  auto updated = plane_.store->updateAttestedNode(*node);
  if (!updated) return status(updated.error());
  plane_.forgetAuthorizations();
  spdlog::info("agent {} banned", req->spiffe_id());
  toProto(*updated, {}, out);
  return Status::OK;
}

Status AdminService::healthcheck(const mutual::v1::HealthcheckRequest*,
                                 mutual::v1::HealthcheckResponse* out) {
  bool healthy = true;
  out->set_trust_domain(plane_.td.name());
  if (auto count = plane_.store->countBundles(); count) {
    out->add_checks(std::string("datastore (") + std::string(plane_.store->backend()) + "): ok");
  } else {
    healthy = false;
    out->add_checks("datastore: " + count.error().message);
  }
  auto ca = plane_.ca->current();
  const TimePoint now = plane_.clock->now();
  if (!ca) {
    healthy = false;
    out->add_checks("ca: no active authority");
  } else if (now >= ca->not_after) {
    healthy = false;
    out->add_checks("ca: the active authority " + ca->authority_id + " expired at " +
                    formatRfc3339(ca->not_after));
  } else {
    out->add_checks("ca: active authority " + ca->authority_id + " valid until " +
                    formatRfc3339(ca->not_after));
  }
  out->set_healthy(healthy);
  return Status::OK;
}

// --- The calls, each run on the blocking threads -------------------------------------------

grpc::ServerUnaryReactor* AdminService::CreateEntry(grpc::CallbackServerContext* context,
                                                    const mutual::v1::CreateEntryRequest* request,
                                                    mutual::v1::Entry* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return createEntry(request, response); });
}

grpc::ServerUnaryReactor* AdminService::ListEntries(grpc::CallbackServerContext* context,
                                                    const mutual::v1::ListEntriesRequest* request,
                                                    mutual::v1::ListEntriesResponse* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return listEntries(request, response); });
}

grpc::ServerUnaryReactor* AdminService::UpdateEntry(grpc::CallbackServerContext* context,
                                                    const mutual::v1::UpdateEntryRequest* request,
                                                    mutual::v1::Entry* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return updateEntry(request, response); });
}

grpc::ServerUnaryReactor* AdminService::DeleteEntry(grpc::CallbackServerContext* context,
                                                    const mutual::v1::DeleteEntryRequest* request,
                                                    mutual::v1::Entry* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return deleteEntry(request, response); });
}

grpc::ServerUnaryReactor* AdminService::CreateJoinToken(
    grpc::CallbackServerContext* context, const mutual::v1::CreateJoinTokenRequest* request,
    mutual::v1::CreateJoinTokenResponse* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return createJoinToken(request, response); });
}

grpc::ServerUnaryReactor* AdminService::GetBundle(grpc::CallbackServerContext* context,
                                                  const mutual::v1::GetBundleRequest* request,
                                                  mutual::v1::Bundle* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return getBundle(request, response); });
}

grpc::ServerUnaryReactor* AdminService::ListFederatedBundles(
    grpc::CallbackServerContext* context, const mutual::v1::ListFederatedBundlesRequest* request,
    mutual::v1::ListFederatedBundlesResponse* response) {
  return finishBlocking(blocking_, context, [this, request, response] {
    return listFederatedBundles(request, response);
  });
}

grpc::ServerUnaryReactor* AdminService::SetFederatedBundle(grpc::CallbackServerContext* context,
                                                           const mutual::v1::Bundle* request,
                                                           mutual::v1::Bundle* response) {
  return finishBlocking(blocking_, context, [this, request, response] {
    return setFederatedBundle(request, response);
  });
}

grpc::ServerUnaryReactor* AdminService::DeleteFederatedBundle(
    grpc::CallbackServerContext* context, const mutual::v1::DeleteFederatedBundleRequest* request,
    mutual::v1::DeleteFederatedBundleResponse* response) {
  return finishBlocking(blocking_, context, [this, request, response] {
    return deleteFederatedBundle(request, response);
  });
}

grpc::ServerUnaryReactor* AdminService::ListAuthorities(
    grpc::CallbackServerContext* context, const mutual::v1::ListAuthoritiesRequest* request,
    mutual::v1::ListAuthoritiesResponse* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return listAuthorities(request, response); });
}

grpc::ServerUnaryReactor* AdminService::PrepareAuthority(
    grpc::CallbackServerContext* context, const mutual::v1::PrepareAuthorityRequest* request,
    mutual::v1::Authority* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return prepareAuthority(request, response); });
}

grpc::ServerUnaryReactor* AdminService::ActivateAuthority(
    grpc::CallbackServerContext* context, const mutual::v1::AuthorityRequest* request,
    mutual::v1::Authority* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return activateAuthority(request, response); });
}

grpc::ServerUnaryReactor* AdminService::TaintAuthority(grpc::CallbackServerContext* context,
                                                       const mutual::v1::AuthorityRequest* request,
                                                       mutual::v1::Authority* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return taintAuthority(request, response); });
}

grpc::ServerUnaryReactor* AdminService::RevokeAuthority(grpc::CallbackServerContext* context,
                                                        const mutual::v1::AuthorityRequest* request,
                                                        mutual::v1::Authority* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return revokeAuthority(request, response); });
}

grpc::ServerUnaryReactor* AdminService::ListAgents(grpc::CallbackServerContext* context,
                                                   const mutual::v1::ListAgentsRequest* request,
                                                   mutual::v1::ListAgentsResponse* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return listAgents(request, response); });
}

grpc::ServerUnaryReactor* AdminService::EvictAgent(grpc::CallbackServerContext* context,
                                                   const mutual::v1::AgentRequest* request,
                                                   mutual::v1::Agent* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return evictAgent(request, response); });
}

grpc::ServerUnaryReactor* AdminService::BanAgent(grpc::CallbackServerContext* context,
                                                 const mutual::v1::AgentRequest* request,
                                                 mutual::v1::Agent* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return banAgent(request, response); });
}

grpc::ServerUnaryReactor* AdminService::Healthcheck(grpc::CallbackServerContext* context,
                                                    const mutual::v1::HealthcheckRequest* request,
                                                    mutual::v1::HealthcheckResponse* response) {
  return finishBlocking(blocking_, context,
                        [this, request, response] { return healthcheck(request, response); });
}

}  // namespace mutual::server
