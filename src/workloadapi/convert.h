#pragma once

// Internal to the workloadapi module: our types to and from the generated protobuf messages.
// The only header that includes generated code; included by .cc files of this module only.

#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "base/error.h"
#include "crypto/key.h"
#include "spiffe/workload.grpc.pb.h"
#include "spiffe/workload.pb.h"
#include "workloadapi/types.h"

namespace mutual::workloadapi::internal {

// Server side: what we send. Errors (Internal) only for material that cannot be encoded,
// which means the identity provider handed over something broken.
Result<::X509SVIDResponse> toProto(const X509Context& context);
Result<::X509BundlesResponse> toProto(const X509Bundles& bundles);
::JWTSVIDResponse toProto(const std::vector<JwtSvidToken>& svids);
::JWTBundlesResponse toProto(const spiffe::JwtBundles& bundles);
Result<::ValidateJWTSVIDResponse> toProto(const ValidatedJwt& validated);

// Client side: what we receive, checked as the spec asks (a mandatory field left empty or
// malformed makes the whole message invalid: InvalidArgument naming the field).
// X509-SVIDs: a SPIFFE ID, a DER chain whose leaf carries that ID, an unencrypted PKCS#8 DER
// key matching the leaf, a non-empty DER bundle; at least one SVID; duplicate non-empty hints
// keep the first SVID (go-spiffe). Bundle map keys may be "spiffe://td" or "td".
Result<X509Context> fromProto(const ::X509SVIDResponse& response);
Result<X509Bundles> fromProto(const ::X509BundlesResponse& response);
Result<std::vector<JwtSvidToken>> fromProto(const ::JWTSVIDResponse& response);
Result<spiffe::JwtBundles> fromProto(const ::JWTBundlesResponse& response);
Result<ValidatedJwt> fromProto(const ::ValidateJWTSVIDResponse& response);

// An unencrypted PKCS#8 DER private key (the Workload API's form); trailing bytes refused.
Result<crypto::PrivateKey> parsePkcs8Der(std::string_view der);

// The message's bytes with map entries in a stable order, to tell whether two messages differ.
std::string deterministicBytes(const google::protobuf::Message& message);

}  // namespace mutual::workloadapi::internal
