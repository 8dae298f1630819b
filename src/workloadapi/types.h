#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/certificate.h"
#include "crypto/key.h"
#include "spiffe/jwt_svid.h"
#include "spiffe/spiffe_id.h"

// What the Workload API carries, as our own types (the generated protobuf code stays in the
// .cc files). Shared by the server, the client and the identity provider.
namespace mutual::workloadapi {

// Every request carries this gRPC metadata, exactly once, with exactly this value.
inline constexpr std::string_view kSecurityHeader = "workload.spiffe.io";
inline constexpr std::string_view kSecurityHeaderValue = "true";
// The address clients use when none is given ("unix:///path" or "/path").
inline constexpr const char* kEndpointSocketEnv = "SPIFFE_ENDPOINT_SOCKET";

// Certificates of trust domains, keyed by trust domain.
using X509BundleMap = std::map<spiffe::TrustDomain, std::vector<crypto::Certificate>>;

// One X509-SVID with its key and the bundle of its own trust domain.
struct X509Svid {
  spiffe::SpiffeId id;
  std::vector<crypto::Certificate> chain;         // leaf first, then intermediates
  std::shared_ptr<const crypto::PrivateKey> key;  // never null in a valid SVID
  std::vector<crypto::Certificate> bundle;        // CA certificates of id's trust domain
  std::string hint;                               // operator label; "" when unset

  const crypto::Certificate& leaf() const { return chain.front(); }
};

// One FetchX509SVID message: the complete current state, never a delta.
struct X509Context {
  std::vector<X509Svid> svids;      // the first is the default identity
  X509BundleMap federated_bundles;  // foreign trust domains the caller trusts
  std::vector<std::string> crls;    // DER
};

// One FetchX509Bundles message: every trust domain's CA certificates, the caller's own
// included.
struct X509Bundles {
  X509BundleMap bundles;
  std::vector<std::string> crls;  // DER
};

// One JWT-SVID as FetchJWTSVID returns it.
struct JwtSvidToken {
  spiffe::SpiffeId id;
  std::string token;  // JWS compact serialization
  std::string hint;
};

// ValidateJWTSVID's answer.
struct ValidatedJwt {
  spiffe::SpiffeId id;
  nlohmann::json claims;  // every claim of the token (numbers may come back as doubles)
};

}  // namespace mutual::workloadapi
