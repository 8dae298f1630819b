#include "server/admin_client.h"

#include <sys/stat.h>

#include <grpcpp/grpcpp.h>

#include "base/time.h"
#include "mutual/v1/admin.grpc.pb.h"
#include "server/proto_convert.h"

namespace mutual::server {

namespace {

AgentInfo agentInfo(const mutual::v1::Agent& a) {
  AgentInfo info;
  info.node.spiffe_id = a.spiffe_id();
  info.node.attestation_type = a.attestation_type();
  info.node.cert_serial = a.cert_serial();
  info.node.cert_not_after = a.cert_not_after();
  info.node.can_reattest = a.can_reattest();
  for (const auto& s : a.selectors()) info.selectors.push_back({s.type(), s.value()});
  return info;
}

}  // namespace

struct AdminClient::Impl {
  std::string socket_path;
  std::chrono::milliseconds timeout;
  std::unique_ptr<mutual::v1::Admin::Stub> stub;

  template <typename Request, typename Response, typename Method>
  Result<Response> call(Method method, const Request& request, std::string_view what) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    Response response;
    grpc::Status status = ((*stub).*method)(&context, request, &response);
    if (status.ok()) return response;
    Error e{static_cast<Code>(status.error_code()), status.error_message(), status.error_details()};
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      e.code = Code::kUnavailable;
      // A status the server sent carries its Error's reason (proto::toStatus), e.g. a datastore
      // that is down; gRPC's own failures (no connection, no answer in time) carry none.
      e.message = status.error_details().empty()
                      ? std::string(what) + ": the server's admin socket " + socket_path +
                            " does not answer (" + status.error_message() + ")"
                      : std::string(what) + ": the server at " + socket_path +
                            " answered that it is not ready: " + status.error_message();
    }
    return fail(std::move(e));
  }
};

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() = default;

Result<std::unique_ptr<AdminClient>> AdminClient::connect(const std::string& socket_path,
                                                          std::chrono::milliseconds timeout) {
  struct stat st {};
  if (::stat(socket_path.c_str(), &st) != 0) {
    return fail(Code::kUnavailable,
                "no server admin socket at " + socket_path +
                    " (is `mutual server run` running? pass its socket_path with --socket)");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return fail(Code::kInvalidArgument, socket_path + " is not a unix socket");
  }
  auto impl = std::make_unique<Impl>();
  impl->socket_path = socket_path;
  impl->timeout = timeout;
  impl->stub = mutual::v1::Admin::NewStub(
      grpc::CreateChannel("unix:" + socket_path, grpc::InsecureChannelCredentials()));
  return std::unique_ptr<AdminClient>(new AdminClient(std::move(impl)));
}

using Stub = mutual::v1::Admin::Stub;

Result<datastore::RegistrationEntry> AdminClient::createEntry(
    const datastore::RegistrationEntry& entry) {
  mutual::v1::CreateEntryRequest request;
  proto::toProto(entry, request.mutable_entry());
  auto r = impl_->call<mutual::v1::CreateEntryRequest, mutual::v1::Entry>(&Stub::CreateEntry,
                                                                          request, "entry create");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<std::vector<datastore::RegistrationEntry>> AdminClient::listEntries(const EntryFilter& f) {
  mutual::v1::ListEntriesRequest request;
  request.set_by_entry_id(f.entry_id);
  request.set_by_spiffe_id(f.spiffe_id);
  request.set_by_parent_id(f.parent_id);
  for (const auto& s : f.selectors) {
    auto* sel = request.add_by_selectors();
    sel->set_type(s.type);
    sel->set_value(s.value);
  }
  request.set_selector_match(f.selector_match);
  for (const auto& td : f.federates_with) request.add_by_federates_with(td);
  request.set_federates_with_match(f.federates_with_match);
  if (f.downstream) request.set_by_downstream(*f.downstream ? "true" : "false");
  auto r = impl_->call<mutual::v1::ListEntriesRequest, mutual::v1::ListEntriesResponse>(
      &Stub::ListEntries, request, "entry show");
  if (!r) return fail(r.error());
  std::vector<datastore::RegistrationEntry> out;
  for (const auto& e : r->entries()) out.push_back(proto::fromProto(e));
  return out;
}

Result<datastore::RegistrationEntry> AdminClient::updateEntry(
    const datastore::RegistrationEntry& entry) {
  mutual::v1::UpdateEntryRequest request;
  proto::toProto(entry, request.mutable_entry());
  auto r = impl_->call<mutual::v1::UpdateEntryRequest, mutual::v1::Entry>(&Stub::UpdateEntry,
                                                                          request, "entry update");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<datastore::RegistrationEntry> AdminClient::deleteEntry(const std::string& id) {
  mutual::v1::DeleteEntryRequest request;
  request.set_id(id);
  auto r = impl_->call<mutual::v1::DeleteEntryRequest, mutual::v1::Entry>(&Stub::DeleteEntry,
                                                                          request, "entry delete");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<JoinTokenInfo> AdminClient::createJoinToken(Seconds ttl, const std::string& spiffe_id) {
  mutual::v1::CreateJoinTokenRequest request;
  request.set_ttl_seconds(static_cast<int32_t>(ttl.count()));
  request.set_spiffe_id(spiffe_id);
  auto r = impl_->call<mutual::v1::CreateJoinTokenRequest, mutual::v1::CreateJoinTokenResponse>(
      &Stub::CreateJoinToken, request, "token generate");
  if (!r) return fail(r.error());
  return JoinTokenInfo{r->token(), fromUnix(r->expires_at()), r->entry_id()};
}

Result<datastore::Bundle> AdminClient::getBundle() {
  auto r = impl_->call<mutual::v1::GetBundleRequest, mutual::v1::Bundle>(
      &Stub::GetBundle, mutual::v1::GetBundleRequest{}, "bundle show");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<std::vector<datastore::Bundle>> AdminClient::listFederatedBundles() {
  auto r = impl_->call<mutual::v1::ListFederatedBundlesRequest,
                       mutual::v1::ListFederatedBundlesResponse>(
      &Stub::ListFederatedBundles, mutual::v1::ListFederatedBundlesRequest{}, "bundle list");
  if (!r) return fail(r.error());
  std::vector<datastore::Bundle> out;
  for (const auto& b : r->bundles()) out.push_back(proto::fromProto(b));
  return out;
}

Result<datastore::Bundle> AdminClient::setFederatedBundle(const datastore::Bundle& bundle) {
  mutual::v1::Bundle request;
  proto::toProto(bundle, &request);
  auto r = impl_->call<mutual::v1::Bundle, mutual::v1::Bundle>(&Stub::SetFederatedBundle, request,
                                                               "bundle set");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<void> AdminClient::deleteFederatedBundle(const std::string& trust_domain,
                                                const std::string& mode) {
  mutual::v1::DeleteFederatedBundleRequest request;
  request.set_trust_domain(trust_domain);
  request.set_mode(mode);
  auto r = impl_->call<mutual::v1::DeleteFederatedBundleRequest,
                       mutual::v1::DeleteFederatedBundleResponse>(&Stub::DeleteFederatedBundle,
                                                                  request, "bundle delete");
  if (!r) return fail(r.error());
  return {};
}

Result<std::vector<AuthorityInfo>> AdminClient::listAuthorities() {
  auto r = impl_->call<mutual::v1::ListAuthoritiesRequest, mutual::v1::ListAuthoritiesResponse>(
      &Stub::ListAuthorities, mutual::v1::ListAuthoritiesRequest{}, "authority show");
  if (!r) return fail(r.error());
  std::vector<AuthorityInfo> out;
  for (const auto& a : r->authorities()) out.push_back(proto::fromProto(a));
  return out;
}

Result<AuthorityInfo> AdminClient::prepareAuthority(bool new_root) {
  mutual::v1::PrepareAuthorityRequest request;
  request.set_new_root(new_root);
  auto r = impl_->call<mutual::v1::PrepareAuthorityRequest, mutual::v1::Authority>(
      &Stub::PrepareAuthority, request, "authority prepare");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<AuthorityInfo> AdminClient::activateAuthority(const std::string& authority_id) {
  mutual::v1::AuthorityRequest request;
  request.set_authority_id(authority_id);
  auto r = impl_->call<mutual::v1::AuthorityRequest, mutual::v1::Authority>(
      &Stub::ActivateAuthority, request, "authority activate");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<AuthorityInfo> AdminClient::taintAuthority(const std::string& authority_id) {
  mutual::v1::AuthorityRequest request;
  request.set_authority_id(authority_id);
  auto r = impl_->call<mutual::v1::AuthorityRequest, mutual::v1::Authority>(
      &Stub::TaintAuthority, request, "authority taint");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<AuthorityInfo> AdminClient::revokeAuthority(const std::string& authority_id) {
  mutual::v1::AuthorityRequest request;
  request.set_authority_id(authority_id);
  auto r = impl_->call<mutual::v1::AuthorityRequest, mutual::v1::Authority>(
      &Stub::RevokeAuthority, request, "authority revoke");
  if (!r) return fail(r.error());
  return proto::fromProto(*r);
}

Result<std::vector<AgentInfo>> AdminClient::listAgents() {
  auto r = impl_->call<mutual::v1::ListAgentsRequest, mutual::v1::ListAgentsResponse>(
      &Stub::ListAgents, mutual::v1::ListAgentsRequest{}, "agent list");
  if (!r) return fail(r.error());
  std::vector<AgentInfo> out;
  for (const auto& a : r->agents()) out.push_back(agentInfo(a));
  return out;
}

Result<AgentInfo> AdminClient::evictAgent(const std::string& spiffe_id) {
  mutual::v1::AgentRequest request;
  request.set_spiffe_id(spiffe_id);
  auto r = impl_->call<mutual::v1::AgentRequest, mutual::v1::Agent>(&Stub::EvictAgent, request,
                                                                    "agent evict");
  if (!r) return fail(r.error());
  return agentInfo(*r);
}

Result<AgentInfo> AdminClient::banAgent(const std::string& spiffe_id) {
  mutual::v1::AgentRequest request;
  request.set_spiffe_id(spiffe_id);
  auto r = impl_->call<mutual::v1::AgentRequest, mutual::v1::Agent>(&Stub::BanAgent, request,
                                                                    "agent ban");
  if (!r) return fail(r.error());
  return agentInfo(*r);
}

Result<HealthInfo> AdminClient::healthcheck() {
  auto r = impl_->call<mutual::v1::HealthcheckRequest, mutual::v1::HealthcheckResponse>(
      &Stub::Healthcheck, mutual::v1::HealthcheckRequest{}, "healthcheck");
  if (!r) return fail(r.error());
  return HealthInfo{r->healthy(), {r->checks().begin(), r->checks().end()}, r->trust_domain()};
}

}  // namespace mutual::server
