#include "server/node_client.h"

#include <map>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "base/time.h"
#include "mutual/v1/node.grpc.pb.h"
#include "server/attestation.h"
#include "server/proto_convert.h"

namespace mutual::server {

namespace {

// Accepts the server only when its certificate carries spiffe://<td>/spire/server. gRPC has
// already verified the chain against the trust bundle (verify_server_certs).
class ServerIdVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit ServerIdVerifier(std::string expected) : expected_(std::move(expected)) {}
  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    for (const auto& uri : request->uri_names()) {
      if (std::string_view(uri.data(), uri.size()) == expected_) {
        *sync_status = grpc::Status::OK;
        return true;
      }
    }
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                "the server's certificate is not " + expected_);
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  std::string expected_;
};

Result<std::vector<crypto::Certificate>> certsFromDer(
    const google::protobuf::RepeatedPtrField<std::string>& ders) {
  std::vector<crypto::Certificate> out;
  for (const auto& der : ders) {
    auto cert = crypto::Certificate::fromDer(der);
    if (!cert) return fail(cert.error().prefix("the server sent a malformed certificate"));
    out.push_back(std::move(*cert));
  }
  return out;
}

}  // namespace

struct NodeClient::Impl {
  NodeClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<mutual::v1::Node::Stub> stub;

  void prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + options.timeout);
  }

  Error error(const grpc::Status& status, std::string_view call) const {
    Error e = proto::fromStatus(status, call);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      e.message = std::string(call) + ": server " + options.address +
                  " unavailable: " + status.error_message();
      const std::string& m = status.error_message();
      if (m.find("andshake") != std::string::npos || m.find("ertificate") != std::string::npos ||
          m.find("SSL") != std::string::npos) {
        e.message +=
            " (TLS failed: the server's certificate must chain to the trust bundle and "
            "name spiffe://" +
            options.trust_domain.name() + "/spire/server)";
      }
    } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      e.message = std::string(call) + ": server " + options.address + " did not answer within " +
                  std::to_string(options.timeout.count()) + " ms";
    }
    return e;
  }

  Result<void> needsSvid(std::string_view call) const {
    if (options.svid_chain.empty()) {
      return fail(Code::kFailedPrecondition,
                  std::string(call) +
                      " needs the agent's SVID: connect with svid_chain and "
                      "svid_key after attestation");
    }
    return {};
  }

  Result<AgentSvid> agentSvid(const mutual::v1::AgentSvid& in) const {
    auto chain = certsFromDer(in.cert_chain());
    if (!chain) return fail(chain.error());
    if (chain->empty()) return fail(Code::kInternal, "the server sent an empty agent SVID");
    return AgentSvid{in.spiffe_id(), std::move(*chain), fromUnix(in.expires_at()),
                     in.reattestable(), proto::fromProto(in.bundle())};
  }

  Result<AgentSvid> attest(const mutual::v1::AttestationParams& params,
                           const crypto::PrivateKey* pop_key) const {
    grpc::ClientContext context;
    prepare(context);
    auto stream = stub->AttestAgent(&context);
    mutual::v1::AttestAgentRequest first;
    *first.mutable_params() = params;
    mutual::v1::AttestAgentResponse response;
    if (stream->Write(first)) {
      while (stream->Read(&response)) {
        if (response.has_result()) break;
        if (response.step_case() != mutual::v1::AttestAgentResponse::kChallenge) continue;
        if (pop_key == nullptr) {
          context.TryCancel();
          break;
        }
        auto signature = signX509PopChallenge(*pop_key, response.challenge());
        if (!signature) {
          context.TryCancel();
          (void)stream->Finish();
          return fail(signature.error());
        }
        mutual::v1::AttestAgentRequest answer;
        answer.set_challenge_response(*signature);
        if (!stream->Write(answer)) break;
      }
    }
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (!status.ok()) return fail(error(status, "AttestAgent"));
    if (!response.has_result()) {
      return fail(Code::kInternal, "AttestAgent: the server ended without an SVID");
    }
    return agentSvid(response.result());
  }
};

NodeClient::NodeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeClient::~NodeClient() = default;
const NodeClientOptions& NodeClient::options() const { return impl_->options; }

Result<std::unique_ptr<NodeClient>> NodeClient::connect(NodeClientOptions options) {
  if (options.address.empty()) return invalidArgument("the server address is empty");
  if (options.trust_bundle.empty() && !options.insecure_bootstrap) {
    return invalidArgument(
        "no trust bundle to verify the server with (set trust_bundle_path, "
        "or insecure_bootstrap for a first attestation)");
  }
  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!options.svid_chain.empty()) {
    if (!options.svid_key || !options.svid_chain.front().matchesKey(*options.svid_key)) {
      return invalidArgument("the agent SVID's key is missing or does not match the SVID");
    }
    auto chain = crypto::toPem(options.svid_chain);
    auto key = options.svid_key->toPkcs8Pem();
    if (!chain) return fail(chain.error());
    if (!key) return fail(key.error());
    identity.push_back({*key, *chain});
  }
  std::string roots;
  if (!options.trust_bundle.empty()) {
    auto pem = crypto::toPem(options.trust_bundle);
    if (!pem) return fail(pem.error());
    roots = *pem;
  }
  auto provider =
      std::make_shared<grpc::experimental::StaticDataCertificateProvider>(roots, identity);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  if (!roots.empty()) tls.watch_root_certs();
  if (!identity.empty()) tls.watch_identity_key_cert_pairs();
  tls.set_check_call_host(false);
  if (options.insecure_bootstrap) {
    tls.set_verify_server_certs(false);
    tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  } else {
    tls.set_verify_server_certs(true);
    tls.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<ServerIdVerifier>(
            serverId(options.trust_domain)));
  }
  grpc::ChannelArguments args;
  // One connection per client: credentials differ between an attesting and an attested agent.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(options.address, grpc::experimental::TlsCredentials(tls), args);
  auto stub = mutual::v1::Node::NewStub(channel);
  auto impl = std::make_unique<Impl>(Impl{std::move(options), std::move(channel), std::move(stub)});
  return std::unique_ptr<NodeClient>(new NodeClient(std::move(impl)));
}

Result<AgentSvid> NodeClient::attestJoinToken(const std::string& token,
                                              const std::string& csr_der) {
  mutual::v1::AttestationParams params;
  params.set_attestation_type("join_token");
  params.set_join_token(token);
  params.set_csr(csr_der);
  return impl_->attest(params, nullptr);
}

Result<AgentSvid> NodeClient::attestX509Pop(const std::vector<crypto::Certificate>& chain,
                                            const crypto::PrivateKey& key,
                                            const std::string& csr_der) {
  mutual::v1::AttestationParams params;
  params.set_attestation_type("x509pop");
  for (const auto& cert : chain) {
    auto der = cert.toDer();
    if (!der) return fail(der.error());
    params.add_x509pop_chain(*der);
  }
  params.set_csr(csr_der);
  return impl_->attest(params, &key);
}

Result<AgentSvid> NodeClient::attestK8sPsat(const std::string& token, const std::string& csr_der) {
  mutual::v1::AttestationParams params;
  params.set_attestation_type("k8s_psat");
  params.set_k8s_psat_token(token);
  params.set_csr(csr_der);
  return impl_->attest(params, nullptr);
}

Result<AgentSvid> NodeClient::renew(const std::string& csr_der) {
  if (auto ok = impl_->needsSvid("RenewAgent"); !ok) return fail(ok.error());
  grpc::ClientContext context;
  impl_->prepare(context);
  mutual::v1::RenewAgentRequest request;
  request.set_csr(csr_der);
  mutual::v1::RenewAgentResponse response;
  grpc::Status status = impl_->stub->RenewAgent(&context, request, &response);
  if (!status.ok()) return fail(impl_->error(status, "RenewAgent"));
  return impl_->agentSvid(response.svid());
}

Result<SyncResult> NodeClient::sync() {
  if (auto ok = impl_->needsSvid("SyncEntries"); !ok) return fail(ok.error());
  grpc::ClientContext context;
  impl_->prepare(context);
  mutual::v1::SyncEntriesResponse response;
  grpc::Status status = impl_->stub->SyncEntries(&context, {}, &response);
  if (!status.ok()) return fail(impl_->error(status, "SyncEntries"));
  SyncResult out;
  for (const auto& e : response.entries()) out.entries.push_back(proto::fromProto(e));
  out.bundle = proto::fromProto(response.bundle());
  for (const auto& b : response.federated_bundles()) {
    out.federated_bundles.push_back(proto::fromProto(b));
  }
  out.tainted_authority_ids.assign(response.tainted_authority_ids().begin(),
                                   response.tainted_authority_ids().end());
  return out;
}

Result<std::vector<X509Svid>> NodeClient::signX509(const std::vector<X509SvidRequest>& requests) {
  if (auto ok = impl_->needsSvid("SignX509Svids"); !ok) return fail(ok.error());
  grpc::ClientContext context;
  impl_->prepare(context);
  mutual::v1::SignX509SvidsRequest request;
  for (const auto& r : requests) {
    auto* item = request.add_requests();
    item->set_entry_id(r.entry_id);
    item->set_csr(r.csr_der);
  }
  mutual::v1::SignX509SvidsResponse response;
  grpc::Status status = impl_->stub->SignX509Svids(&context, request, &response);
  if (!status.ok()) return fail(impl_->error(status, "SignX509Svids"));
  std::vector<X509Svid> out;
  // Every SVID of a batch comes with the same intermediates: each distinct one is parsed once
  // (Certificate copies share the X509). Parsing is OpenSSL 3.0's decoder path, ~half of an
  // agent's CPU when it renews many SVIDs (bench/agent_scale.sh).
  std::map<std::string, crypto::Certificate, std::less<>> intermediates;
  for (const auto& svid : response.svids()) {
    std::vector<crypto::Certificate> chain;
    for (int i = 0; i < svid.cert_chain_size(); ++i) {
      const std::string& der = svid.cert_chain(i);
      if (i > 0) {
        if (auto it = intermediates.find(der); it != intermediates.end()) {
          chain.push_back(it->second);
          continue;
        }
      }
      auto cert = crypto::Certificate::fromDer(der);
      if (!cert) return fail(cert.error().prefix("the server sent a malformed certificate"));
      if (i > 0) intermediates.emplace(der, *cert);
      chain.push_back(std::move(*cert));
    }
    out.push_back(
        {svid.entry_id(), svid.spiffe_id(), std::move(chain), fromUnix(svid.expires_at())});
  }
  return out;
}

Result<JwtSvid> NodeClient::signJwt(const std::string& entry_id,
                                    const std::vector<std::string>& audience) {
  if (auto ok = impl_->needsSvid("SignJwtSvid"); !ok) return fail(ok.error());
  grpc::ClientContext context;
  impl_->prepare(context);
  mutual::v1::SignJwtSvidRequest request;
  request.set_entry_id(entry_id);
  for (const auto& a : audience) request.add_audience(a);
  mutual::v1::SignJwtSvidResponse response;
  grpc::Status status = impl_->stub->SignJwtSvid(&context, request, &response);
  if (!status.ok()) return fail(impl_->error(status, "SignJwtSvid"));
  return JwtSvid{response.token(), response.spiffe_id(), fromUnix(response.issued_at()),
                 fromUnix(response.expires_at())};
}

Result<Bundles> NodeClient::fetchBundles() {
  grpc::ClientContext context;
  impl_->prepare(context);
  mutual::v1::FetchBundlesResponse response;
  grpc::Status status = impl_->stub->FetchBundles(&context, {}, &response);
  if (!status.ok()) return fail(impl_->error(status, "FetchBundles"));
  Bundles out;
  out.bundle = proto::fromProto(response.bundle());
  for (const auto& b : response.federated_bundles()) {
    out.federated_bundles.push_back(proto::fromProto(b));
  }
  return out;
}

}  // namespace mutual::server
