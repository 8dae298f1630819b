#include "server/attestation.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base/file.h"
#include "base/time.h"
#include "crypto/handles.h"
#include "crypto/openssl_error.h"
#include "server/x509.h"
#include "spiffe/x509_svid.h"

namespace mutual::server {

namespace {

using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, crypto::Deleter<EVP_MD_CTX_free>>;

constexpr char kChallengeContext[] = "mutual x509pop challenge";
// Deep enough for any real hierarchy; stops a cycle of entries parenting each other.
constexpr int kMaxEntryDepth = 16;

const EVP_MD* digestFor(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
      return nullptr;
    default:
      return EVP_sha256();
  }
}

Error denied(std::string message, std::string reason = "") {
  return Error{Code::kPermissionDenied, std::move(message), std::move(reason)};
}

}  // namespace

std::string agentPathPrefix() { return "/spire/agent/"; }

std::string serverId(const spiffe::TrustDomain& td) { return td.idString() + "/spire/server"; }

std::string sha1Hex(std::string_view der) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(der.data(), der.size(), md, &len, EVP_sha1(), nullptr) != 1) return {};
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

// --- join_token -----------------------------------------------------------------------------

Result<AttestedAgent> attestJoinToken(datastore::DataStore& store, const spiffe::TrustDomain& td,
                                      const std::string& token, TimePoint now) {
  if (token.empty()) return invalidArgument("join_token: the token is empty");
  auto id = spiffe::SpiffeId::fromPath(td, agentPathPrefix() + "join_token/" + token);
  if (!id || token.find('/') != std::string::npos)
    return invalidArgument("join_token: \"" + token + "\" is not a token");
  auto consumed = store.consumeJoinToken(token, now);
  if (!consumed) {
    const Error& e = consumed.error();
    if (e.code == Code::kFailedPrecondition && e.reason == "expired") {
      return fail(
          denied("join_token: the token expired; generate a new one with "
                 "`mutual server token generate`",
                 "token_expired"));
    }
    if (e.code == Code::kNotFound) {
      if (auto node = store.fetchAttestedNode(id->str())) {
        return fail(denied("join_token: the token was already used (by agent " + id->str() +
                               "); a join token attests one agent once",
                           "token_used"));
      }
      return fail(
          denied("join_token: unknown token (never generated, or used and the agent "
                 "since evicted)",
                 "token_unknown"));
    }
    return fail(e);
  }
  return AttestedAgent{std::move(*id), "join_token", {}, false};
}

// --- x509pop --------------------------------------------------------------------------------

Result<X509PopAttestor> X509PopAttestor::load(const std::filesystem::path& ca_bundle_path,
                                              spiffe::TrustDomain td) {
  auto text = readFile(ca_bundle_path);
  if (!text) return fail(text.error().prefix("x509pop ca_bundle_path"));
  auto certs = crypto::parsePemCertificates(*text);
  if (!certs) return fail(certs.error().prefix(ca_bundle_path.string()));
  auto store = crypto::TrustStore::create(*certs);
  if (!store) return fail(store.error().prefix(ca_bundle_path.string()));
  return X509PopAttestor(std::move(*store), std::move(td));
}

Result<X509PopAttestor::Challenge> X509PopAttestor::begin(const std::vector<std::string>& chain_der,
                                                          TimePoint now) const {
  if (chain_der.empty()) return invalidArgument("x509pop: no certificate sent");
  std::vector<crypto::Certificate> chain;
  for (size_t i = 0; i < chain_der.size(); ++i) {
    auto cert = crypto::Certificate::fromDer(chain_der[i]);
    if (!cert) return fail(cert.error().prefix("x509pop: certificate " + std::to_string(i)));
    chain.push_back(std::move(*cert));
  }
  const crypto::Certificate& leaf = chain.front();
  if (auto ku = leaf.keyUsage(); ku && (*ku & crypto::kDigitalSignature) == 0) {
    return fail(denied("x509pop: the agent certificate lacks keyUsage digitalSignature",
                       "leaf_no_digital_signature"));
  }
  crypto::ChainOptions options;
  options.at = now;
  options.max_intermediates = 4;  // SPIRE's max_intermediates default
  options.strict = false;         // as SPIRE (Go's x509.Verify): a fleet CA without keyUsage is fine
  std::vector<crypto::Certificate> intermediates(chain.begin() + 1, chain.end());
  auto path = crypto::verifyChain(leaf, intermediates, trust_, options);
  if (!path) {
    return fail(denied(
        "x509pop: agent certificate " + leaf.subject() + " is not trusted: " + path.error().message,
        path.error().reason));
  }
  Challenge challenge;
  challenge.nonce.resize(32);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(challenge.nonce.data()), 32) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "random number generator failed"));
  }
  challenge.path = std::move(*path);
  return challenge;
}

Result<AttestedAgent> X509PopAttestor::finish(const Challenge& challenge,
                                              std::string_view response) const {
  const crypto::Certificate& leaf = challenge.path.front();
  EVP_PKEY* key = X509_get0_pubkey(leaf.get());
  if (key == nullptr) {
    ERR_clear_error();
    return fail(denied("x509pop: the agent certificate's key is unreadable"));
  }
  const std::string input = x509PopSigningInput(challenge.nonce);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, digestFor(key), nullptr, key) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(response.data()),
                       response.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1) {
    ERR_clear_error();
    return fail(denied("x509pop: the challenge response does not verify with the key of " +
                           leaf.subject() + " (no proof of possession)",
                       "bad_challenge_response"));
  }
  auto der = leaf.toDer();
  if (!der) return fail(der.error());
  auto id = spiffe::SpiffeId::fromPath(td_, agentPathPrefix() + "x509pop/" + sha1Hex(*der));
  if (!id) return fail(id.error());
  AttestedAgent agent{std::move(*id), "x509pop", {}, true};
  if (!leaf.commonName().empty()) {
    agent.selectors.push_back({"x509pop", "subject:cn:" + leaf.commonName()});
  }
  for (size_t i = 1; i < challenge.path.size(); ++i) {
    auto ca_der = challenge.path[i].toDer();
    if (ca_der) agent.selectors.push_back({"x509pop", "ca:fingerprint:" + sha1Hex(*ca_der)});
  }
  agent.selectors.push_back({"x509pop", "serialnumber:" + leaf.serialHex()});
  std::sort(agent.selectors.begin(), agent.selectors.end());
  return agent;
}

std::string x509PopSigningInput(std::string_view nonce) {
  std::string input(kChallengeContext, sizeof(kChallengeContext));  // with the NUL
  input.append(nonce);
  return input;
}

Result<std::string> signX509PopChallenge(const crypto::PrivateKey& key, std::string_view nonce) {
  const std::string input = x509PopSigningInput(nonce);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, digestFor(key.get()), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "x509pop: cannot sign the challenge"));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, data,
                     input.size()) != 1) {
    return fail(crypto::openSslError(Code::kInternal, "x509pop: cannot sign the challenge"));
  }
  signature.resize(len);
  return signature;
}

// --- Authenticated agents -------------------------------------------------------------------

Result<spiffe::SpiffeId> verifyAgentSvid(const spiffe::BundleSet& bundles,
                                         const spiffe::TrustDomain& td,
                                         const std::vector<crypto::Certificate>& chain,
                                         TimePoint now) {
  if (chain.empty()) {
    return fail(Code::kUnauthenticated,
                "this call needs the agent's X509-SVID as TLS client certificate (attest first)");
  }
  spiffe::SvidOptions options;
  options.at = now;
  options.trust_domain = td;
  auto verified = spiffe::verifyX509Svid(chain, bundles, options);
  if (!verified) {
    return fail(Code::kUnauthenticated,
                "the client certificate is not a valid agent SVID: " + verified.error().message,
                verified.error().reason);
  }
  if (verified->id.path().rfind(agentPathPrefix(), 0) != 0) {
    return fail(denied("caller " + verified->id.str() +
                       " is not an agent (agent IDs are under /spire/agent/)"));
  }
  return std::move(verified->id);
}

Result<AuthenticatedAgent> checkAgentNode(datastore::DataStore& store, spiffe::SpiffeId id,
                                          const std::string& serial) {
  auto node = store.fetchAttestedNode(id.str());
  if (!node) {
    if (node.error().code == Code::kNotFound) {
      return fail(denied("agent " + id.str() + " is not attested (evicted?); it must attest again",
                         "agent_not_attested"));
    }
    return fail(node.error());
  }
  if (node->banned()) {
    return fail(denied("agent " + id.str() + " is banned", "agent_banned"));
  }
  if (serial != node->cert_serial) {
    if (serial != node->new_cert_serial) {
      return fail(
          denied("agent " + id.str() + ": this SVID (serial " + serial + ") has been superseded",
                 "agent_svid_superseded"));
    }
    // The agent uses its renewed SVID: it becomes the current one (SPIRE does the same).
    node->cert_serial = node->new_cert_serial;
    node->cert_not_after = node->new_cert_not_after;
    node->new_cert_serial.clear();
    node->new_cert_not_after = 0;
    auto updated = store.updateAttestedNode(*node);
    if (!updated) return fail(updated.error());
    node = std::move(updated);
  }
  return AuthenticatedAgent{std::move(id), std::move(*node), serial};
}

Result<AuthenticatedAgent> authenticateAgent(datastore::DataStore& store,
                                             const spiffe::BundleSet& bundles,
                                             const spiffe::TrustDomain& td,
                                             const std::vector<crypto::Certificate>& chain,
                                             TimePoint now) {
  auto id = verifyAgentSvid(bundles, td, chain, now);
  if (!id) return fail(id.error());
  return checkAgentNode(store, std::move(*id), chain.front().serialHex());
}

// --- Authorized entries ---------------------------------------------------------------------

Result<std::vector<datastore::RegistrationEntry>> authorizedEntries(datastore::DataStore& store,
                                                                    const spiffe::TrustDomain& td,
                                                                    const std::string& agent_id,
                                                                    TimePoint now) {
  std::map<std::string, datastore::RegistrationEntry> found;  // by entry id
  std::set<std::string> visited{agent_id};
  std::deque<std::pair<std::string, int>> parents{{agent_id, 0}};
  const int64_t now_unix = toUnix(now);
  const auto take = [&](std::vector<datastore::RegistrationEntry> entries, int depth) {
    for (auto& e : entries) {
      if (e.expires_at > 0 && e.expires_at < now_unix) continue;
      if (found.count(e.id) != 0) continue;
      if (visited.insert(e.spiffe_id).second && depth < kMaxEntryDepth) {
        parents.emplace_back(e.spiffe_id, depth + 1);
      }
      found.emplace(e.id, std::move(e));
    }
  };

  // Node aliases: entries under the server whose selectors the agent's node has.
  auto selectors = store.getNodeSelectors(agent_id);
  if (!selectors) return fail(selectors.error());
  if (!selectors->empty()) {
    datastore::ListEntriesRequest aliases;
    aliases.by_parent_id = serverId(td);
    aliases.by_selectors =
        datastore::ListEntriesRequest::BySelectors{*selectors, datastore::Match::kSubset};
    auto listed = store.listEntries(aliases);
    if (!listed) return fail(listed.error());
    take(std::move(listed->entries), 0);
  }
  while (!parents.empty()) {
    auto [parent, depth] = parents.front();
    parents.pop_front();
    datastore::ListEntriesRequest children;
    children.by_parent_id = parent;
    auto listed = store.listEntries(children);
    if (!listed) return fail(listed.error());
    take(std::move(listed->entries), depth);
  }
  std::vector<datastore::RegistrationEntry> out;
  out.reserve(found.size());
  for (auto& [id, entry] : found) out.push_back(std::move(entry));
  return out;
}

}  // namespace mutual::server
