#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/chain_verify.h"
#include "crypto/key.h"
#include "datastore/datastore.h"
#include "spiffe/bundle.h"
#include "spiffe/spiffe_id.h"

// Node attestation (SPIRE's NodeAttestor plugins, server side) and the authentication of
// attested agents on later calls. Independent of gRPC: the Node service drives these.
namespace mutual::server {

// An agent that proved who it is.
struct AttestedAgent {
  spiffe::SpiffeId id;
  std::string attestation_type;                // "join_token", "x509pop"
  std::vector<datastore::Selector> selectors;  // node selectors the attestor produced
  bool reattestable = false;                   // x509pop: may attest again with the same ID
};

// "spiffe://<td>/spire/agent/join_token/<token>" and the like (SPIRE's idutil).
std::string agentPathPrefix();                        // "/spire/agent/"
std::string serverId(const spiffe::TrustDomain& td);  // spiffe://<td>/spire/server

// join_token: consumes the token (single use even across servers sharing a database). Errors
// are PermissionDenied with a message saying which: the token does not exist; it expired
// (it is deleted all the same); it was already used, naming the agent that used it.
// InvalidArgument for an empty token or one that cannot be a path segment.
Result<AttestedAgent> attestJoinToken(datastore::DataStore& store, const spiffe::TrustDomain& td,
                                      const std::string& token, TimePoint now);

// x509pop: the agent proves possession of the key of a certificate that chains to the CAs in
// ca_bundle_path. Two steps: begin() checks the chain and makes a random challenge; finish()
// checks the agent's signature over it. The agent ID is
// spiffe://<td>/spire/agent/x509pop/<SHA-1 of the leaf DER, hex>; selectors
// x509pop:subject:cn:<cn>, x509pop:ca:fingerprint:<SHA-1 of each CA in the path>,
// x509pop:serialnumber:<leaf serial hex>.
class X509PopAttestor {
 public:
  // Reads the PEM bundle; errors name the file.
  static Result<X509PopAttestor> load(const std::filesystem::path& ca_bundle_path,
                                      spiffe::TrustDomain td);

  struct Challenge {
    std::string nonce;                      // 32 random bytes
    std::vector<crypto::Certificate> path;  // leaf first, anchor last
  };
  // PermissionDenied (reason as crypto::verifyChain's) when the chain does not verify at `now`
  // or the leaf lacks keyUsage digitalSignature; InvalidArgument for malformed DER.
  Result<Challenge> begin(const std::vector<std::string>& chain_der, TimePoint now) const;
  // PermissionDenied when the signature does not verify with the leaf's key.
  Result<AttestedAgent> finish(const Challenge& challenge, std::string_view response) const;

 private:
  X509PopAttestor(crypto::TrustStore trust, spiffe::TrustDomain td)
      : trust_(std::move(trust)), td_(std::move(td)) {}
  crypto::TrustStore trust_;
  spiffe::TrustDomain td_;
};

// The bytes an x509pop agent signs: "mutual x509pop challenge\0" || nonce.
std::string x509PopSigningInput(std::string_view nonce);
// The agent's side: signs the challenge with its certificate's key (SHA-256; none for
// Ed25519).
Result<std::string> signX509PopChallenge(const crypto::PrivateKey& key, std::string_view nonce);

// SHA-1 of `der`, lowercase hex (x509pop agent IDs, SPIRE's Fingerprint()).
std::string sha1Hex(std::string_view der);

// An agent calling with its X509-SVID, checked.
struct AuthenticatedAgent {
  spiffe::SpiffeId id;
  datastore::AttestedNode node;
  std::string serial_hex;
};

// Authenticates an agent from the certificate chain it presented over mTLS: a valid
// X509-SVID of the server's trust domain under /spire/agent/ that chains to `bundles` at
// `now`, whose agent is attested, not banned, and whose serial is the node's current one, or
// the new one from a renewal (which then becomes current, as SPIRE does). Unauthenticated
// when there is no certificate or it does not verify; PermissionDenied for an unknown
// (evicted), banned or superseded agent.
Result<AuthenticatedAgent> authenticateAgent(datastore::DataStore& store,
                                             const spiffe::BundleSet& bundles,
                                             const spiffe::TrustDomain& td,
                                             const std::vector<crypto::Certificate>& chain,
                                             TimePoint now);

// The two halves of authenticateAgent. verifyAgentSvid: the certificate checks only (a valid
// X509-SVID of `td` under /spire/agent/ chaining to `bundles` at `now`), no datastore; its
// result holds for as long as the chain is valid and the bundle unchanged, which lets the
// server verify each distinct client chain once instead of on every call. checkAgentNode:
// the datastore checks for an agent whose SVID (serial `serial_hex`, lowercase) verified.
Result<spiffe::SpiffeId> verifyAgentSvid(const spiffe::BundleSet& bundles,
                                         const spiffe::TrustDomain& td,
                                         const std::vector<crypto::Certificate>& chain,
                                         TimePoint now);
Result<AuthenticatedAgent> checkAgentNode(datastore::DataStore& store, spiffe::SpiffeId id,
                                          const std::string& serial_hex);

// The registration entries an agent may serve (SPIRE's authorized entries): entries whose
// parent is the agent; node-alias entries (parent spiffe://<td>/spire/server) whose selectors
// are all among the agent's node selectors; and, recursively, entries whose parent is the
// SPIFFE ID of any entry already included. Expired entries (expires_at in the past) are
// left out. Ordered by entry ID.
Result<std::vector<datastore::RegistrationEntry>> authorizedEntries(datastore::DataStore& store,
                                                                    const spiffe::TrustDomain& td,
                                                                    const std::string& agent_id,
                                                                    TimePoint now);

}  // namespace mutual::server
