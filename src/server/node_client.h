#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/key.h"
#include "datastore/datastore.h"
#include "spiffe/spiffe_id.h"

// The agent's side of the Node API (proto/mutual/v1/node.proto), in our own types: the only
// header the agent needs to talk to `mutual server`. Link mutual_server_client.
//
// Every call has a deadline (NodeClientOptions::timeout) and returns the server's status as
// an Error with the same code: Unavailable when the server cannot be reached or the TLS
// handshake fails (the message says which and names the address), DeadlineExceeded when it
// did not answer in time, PermissionDenied / Unauthenticated / InvalidArgument as the server
// decided (with its message). Thread-safe: calls may run concurrently on one client.
//
// Typical use:
//   auto key = crypto::PrivateKey::generate(KeyType::kEcP256);
//   auto client = NodeClient::connect({.address = "server:8081", .trust_domain = td,
//                                      .trust_bundle = roots});
//   auto svid = client->attestJoinToken(token, *crypto::createCsr(*key));
//   auto authed = NodeClient::connect({..., .svid_chain = svid->chain, .svid_key = key});
//   auto entries = authed->sync();
namespace mutual::server {

struct NodeClientOptions {
  std::string address;  // "host:port" of the server's bind_address/bind_port
  spiffe::TrustDomain trust_domain;
  // The CAs the server's certificate must chain to (agent.conf's trust_bundle_path, later the
  // bundle the server sent). The server must present spiffe://<td>/spire/server.
  std::vector<crypto::Certificate> trust_bundle{};
  // SPIRE's insecure_bootstrap: accept any server certificate. Only for a first attestation
  // when no bundle is available; the bundle the server returns should then be kept.
  bool insecure_bootstrap = false;
  // The agent's SVID (leaf first) and key, sent as TLS client certificate: needed by renew,
  // sync, signX509 and signJwt. Empty for attestation.
  std::vector<crypto::Certificate> svid_chain{};
  std::shared_ptr<const crypto::PrivateKey> svid_key{};
  std::chrono::milliseconds timeout{10000};  // deadline of each call
};

// A trust domain's bundle: X.509 authorities (DER) and JWT keys, as stored by the server.
using Bundle = datastore::Bundle;
using Entry = datastore::RegistrationEntry;

struct AgentSvid {
  std::string spiffe_id;                   // spiffe://<td>/spire/agent/...
  std::vector<crypto::Certificate> chain;  // the SVID first, then intermediates
  TimePoint expires_at;
  bool reattestable = false;
  Bundle bundle;  // the server's trust domain bundle
};

struct SyncResult {
  std::vector<Entry> entries;  // what this agent may serve, ordered by entry ID
  Bundle bundle;
  std::vector<Bundle> federated_bundles;  // of trust domains the entries federate with
  // Authorities (SKI hex) the operator tainted: SVIDs whose issuer's SKI is listed must be
  // re-signed.
  std::vector<std::string> tainted_authority_ids;
};

struct X509SvidRequest {
  std::string entry_id;
  std::string csr_der;  // crypto::createCsr; the SPIFFE ID comes from the entry
};

struct X509Svid {
  std::string entry_id;
  std::string spiffe_id;
  std::vector<crypto::Certificate> chain;  // the SVID first, then intermediates
  TimePoint expires_at;
};

struct JwtSvid {
  std::string token;
  std::string spiffe_id;
  TimePoint issued_at;
  TimePoint expires_at;
};

struct Bundles {
  Bundle bundle;
  std::vector<Bundle> federated_bundles;
};

class NodeClient {
 public:
  // Makes the channel; does not wait for the server (the first call does). InvalidArgument for
  // an empty address, an empty trust_bundle without insecure_bootstrap, or an svid_chain
  // without a matching svid_key.
  static Result<std::unique_ptr<NodeClient>> connect(NodeClientOptions options);
  ~NodeClient();
  NodeClient(const NodeClient&) = delete;
  NodeClient& operator=(const NodeClient&) = delete;

  // join_token attestation. PermissionDenied: unknown, expired or already used token.
  Result<AgentSvid> attestJoinToken(const std::string& token, const std::string& csr_der);
  // x509pop attestation: `chain` (leaf first) is the agent's provisioning certificate, `key`
  // its private key (it answers the server's challenge; it is never sent).
  Result<AgentSvid> attestX509Pop(const std::vector<crypto::Certificate>& chain,
                                  const crypto::PrivateKey& key, const std::string& csr_der);
  // k8s_psat attestation with a projected service account token. The server validates it with
  // the Kubernetes TokenReview API; without one reachable it answers PermissionDenied
  // "k8s_psat: no Kubernetes API reachable".
  Result<AgentSvid> attestK8sPsat(const std::string& token, const std::string& csr_der);
  // A new agent SVID (needs svid_chain/svid_key). Reconnect with it afterwards.
  Result<AgentSvid> renew(const std::string& csr_der);
  Result<SyncResult> sync();
  // All or nothing: PermissionDenied names the first entry this agent may not serve.
  Result<std::vector<X509Svid>> signX509(const std::vector<X509SvidRequest>& requests);
  Result<JwtSvid> signJwt(const std::string& entry_id, const std::vector<std::string>& audience);
  // Needs no client certificate.
  Result<Bundles> fetchBundles();

  const NodeClientOptions& options() const;

 private:
  struct Impl;
  explicit NodeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mutual::server
