#include "workloadapi/convert.h"

#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/handles.h"
#include "crypto/openssl_error.h"

namespace mutual::workloadapi::internal {

namespace {

Result<std::string> concatDer(const std::vector<crypto::Certificate>& certs) {
  std::string out;
  for (const auto& cert : certs) {
    auto der = cert.toDer();
    if (!der) return fail(der.error());
    out += *der;
  }
  return out;
}

tl::unexpected<Error> badMessage(const std::string& message) {
  return fail(Code::kInvalidArgument, "invalid Workload API response: " + message,
              "malformed_response");
}

Result<X509BundleMap> bundleMapFrom(const google::protobuf::Map<std::string, std::string>& in,
                                    const std::string& field) {
  X509BundleMap out;
  for (const auto& [key, der] : in) {
    auto td = spiffe::TrustDomain::parse(key);
    if (!td) return badMessage(field + " key \"" + key + "\": " + td.error().message);
    auto certs = crypto::parseDerCertificates(der);
    if (!certs) return badMessage(field + "[" + key + "]: " + certs.error().message);
    if (!out.emplace(*td, std::move(*certs)).second) {
      return badMessage(field + ": trust domain " + td->name() + " appears twice");
    }
  }
  return out;
}

Result<void> putBundleMap(const X509BundleMap& in,
                          google::protobuf::Map<std::string, std::string>& out) {
  for (const auto& [td, certs] : in) {
    auto der = concatDer(certs);
    if (!der) return fail(der.error());
    out[td.idString()] = std::move(*der);
  }
  return {};
}

Result<X509Svid> svidFrom(const ::X509SVID& in, size_t index) {
  const std::string where = "svids[" + std::to_string(index) + "]";
  auto id = spiffe::SpiffeId::parse(in.spiffe_id());
  if (!id) return badMessage(where + ".spiffe_id: " + id.error().message);
  auto chain = crypto::parseDerCertificates(in.x509_svid());
  if (!chain) return badMessage(where + ".x509_svid: " + chain.error().message);
  const auto uris = chain->front().uriSans();
  if (uris.size() != 1 || uris.front() != id->str()) {
    return badMessage(where + ": the leaf certificate is not an SVID for " + id->str());
  }
  auto key = parsePkcs8Der(in.x509_svid_key());
  if (!key) return badMessage(where + ".x509_svid_key: " + key.error().message);
  if (!chain->front().matchesKey(*key)) {
    return badMessage(where + ".x509_svid_key: does not match the leaf certificate");
  }
  auto bundle = crypto::parseDerCertificates(in.bundle());
  if (!bundle) return badMessage(where + ".bundle: " + bundle.error().message);
  return X509Svid{*id, std::move(*chain),
                  std::make_shared<const crypto::PrivateKey>(std::move(*key)), std::move(*bundle),
                  in.hint()};
}

}  // namespace

Result<crypto::PrivateKey> parsePkcs8Der(std::string_view der) {
  if (der.empty()) return invalidArgument("no private key");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, crypto::Deleter<PKCS8_PRIV_KEY_INFO_free>> info(
      d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  if (!info || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    return invalidArgument("not an unencrypted PKCS#8 DER private key");
  }
  EVP_PKEY* raw = EVP_PKCS82PKEY(info.get());
  if (raw == nullptr) {
    return fail(crypto::openSslError(Code::kInvalidArgument, "unusable PKCS#8 private key"));
  }
  return crypto::PrivateKey(crypto::PKeyPtr(raw));
}

std::string deterministicBytes(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

// ---- Server side ----------------------------------------------------------------------------

Result<::X509SVIDResponse> toProto(const X509Context& context) {
  ::X509SVIDResponse out;
  for (const auto& svid : context.svids) {
    if (svid.chain.empty() || !svid.key || svid.bundle.empty()) {
      return fail(Code::kInternal,
                  "the identity provider returned an incomplete SVID for " + svid.id.str());
    }
    ::X509SVID* msg = out.add_svids();
    msg->set_spiffe_id(svid.id.str());
    auto chain = concatDer(svid.chain);
    if (!chain) return fail(chain.error());
    msg->set_x509_svid(std::move(*chain));
    auto key = svid.key->toPkcs8Der();
    if (!key) return fail(key.error());
    msg->set_x509_svid_key(std::move(*key));
    auto bundle = concatDer(svid.bundle);
    if (!bundle) return fail(bundle.error());
    msg->set_bundle(std::move(*bundle));
    msg->set_hint(svid.hint);
  }
  for (const auto& crl : context.crls) out.add_crl(crl);
  if (auto put = putBundleMap(context.federated_bundles, *out.mutable_federated_bundles()); !put) {
    return fail(put.error());
  }
  return out;
}

Result<::X509BundlesResponse> toProto(const X509Bundles& bundles) {
  ::X509BundlesResponse out;
  for (const auto& crl : bundles.crls) out.add_crl(crl);
  if (auto put = putBundleMap(bundles.bundles, *out.mutable_bundles()); !put)
    return fail(put.error());
  return out;
}

::JWTSVIDResponse toProto(const std::vector<JwtSvidToken>& svids) {
  ::JWTSVIDResponse out;
  for (const auto& svid : svids) {
    ::JWTSVID* msg = out.add_svids();
    msg->set_spiffe_id(svid.id.str());
    msg->set_svid(svid.token);
    msg->set_hint(svid.hint);
  }
  return out;
}

::JWTBundlesResponse toProto(const spiffe::JwtBundles& bundles) {
  ::JWTBundlesResponse out;
  for (const auto& [td, bundle] : bundles)
    (*out.mutable_bundles())[td.idString()] = bundle.toJwks();
  return out;
}

Result<::ValidateJWTSVIDResponse> toProto(const ValidatedJwt& validated) {
  ::ValidateJWTSVIDResponse out;
  out.set_spiffe_id(validated.id.str());
  if (validated.claims.is_object()) {
    auto status =
        google::protobuf::util::JsonStringToMessage(validated.claims.dump(), out.mutable_claims());
    if (!status.ok()) {
      return fail(Code::kInternal, "cannot encode the token's claims: " + status.ToString());
    }
  }
  return out;
}

// ---- Client side ----------------------------------------------------------------------------

Result<X509Context> fromProto(const ::X509SVIDResponse& response) {
  if (response.svids().empty()) return badMessage("no SVID in the response");
  X509Context out;
  std::set<std::string> hints;
  for (int i = 0; i < response.svids_size(); ++i) {
    auto svid = svidFrom(response.svids(i), static_cast<size_t>(i));
    if (!svid) return fail(svid.error());
    // Hints tell SVIDs apart: a repeated non-empty hint keeps the first SVID, as go-spiffe does.
    if (!svid->hint.empty() && !hints.insert(svid->hint).second) continue;
    out.svids.push_back(std::move(*svid));
  }
  auto federated = bundleMapFrom(response.federated_bundles(), "federated_bundles");
  if (!federated) return fail(federated.error());
  out.federated_bundles = std::move(*federated);
  out.crls.assign(response.crl().begin(), response.crl().end());
  return out;
}

Result<X509Bundles> fromProto(const ::X509BundlesResponse& response) {
  if (response.bundles().empty()) return badMessage("no bundle in the response");
  auto bundles = bundleMapFrom(response.bundles(), "bundles");
  if (!bundles) return fail(bundles.error());
  X509Bundles out;
  out.bundles = std::move(*bundles);
  out.crls.assign(response.crl().begin(), response.crl().end());
  return out;
}

Result<std::vector<JwtSvidToken>> fromProto(const ::JWTSVIDResponse& response) {
  if (response.svids().empty()) return badMessage("no JWT-SVID in the response");
  std::vector<JwtSvidToken> out;
  for (int i = 0; i < response.svids_size(); ++i) {
    const auto& msg = response.svids(i);
    const std::string where = "svids[" + std::to_string(i) + "]";
    auto id = spiffe::SpiffeId::parse(msg.spiffe_id());
    if (!id) return badMessage(where + ".spiffe_id: " + id.error().message);
    if (msg.svid().empty()) return badMessage(where + ".svid is empty");
    auto parsed = spiffe::parseJwtSvidInsecure(msg.svid());
    if (!parsed) return badMessage(where + ".svid: " + parsed.error().message);
    if (parsed->id != *id) {
      return badMessage(where + ": the token's subject " + parsed->id.str() + " is not " +
                        id->str());
    }
    out.push_back({*id, msg.svid(), msg.hint()});
  }
  return out;
}

Result<spiffe::JwtBundles> fromProto(const ::JWTBundlesResponse& response) {
  if (response.bundles().empty()) return badMessage("no bundle in the response");
  spiffe::JwtBundles out;
  for (const auto& [key, jwks] : response.bundles()) {
    auto td = spiffe::TrustDomain::parse(key);
    if (!td) return badMessage("bundles key \"" + key + "\": " + td.error().message);
    auto bundle = spiffe::JwtBundle::parse(*td, jwks);
    if (!bundle) return badMessage(bundle.error().message);
    if (!out.emplace(*td, std::move(*bundle)).second) {
      return badMessage("bundles: trust domain " + td->name() + " appears twice");
    }
  }
  return out;
}

Result<ValidatedJwt> fromProto(const ::ValidateJWTSVIDResponse& response) {
  auto id = spiffe::SpiffeId::parse(response.spiffe_id());
  if (!id) return badMessage("spiffe_id: " + id.error().message);
  nlohmann::json claims = nlohmann::json::object();
  if (response.has_claims()) {
    std::string text;
    auto status = google::protobuf::util::MessageToJsonString(response.claims(), &text);
    if (!status.ok()) return badMessage("claims: " + status.ToString());
    claims = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!claims.is_object()) return badMessage("claims are not a JSON object");
  }
  return ValidatedJwt{*id, std::move(claims)};
}

}  // namespace mutual::workloadapi::internal
