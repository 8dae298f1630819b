#include "spiffe/x509_svid.h"

namespace mutual::spiffe {

using crypto::Certificate;

namespace {

tl::unexpected<Error> reject(std::string reason, std::string message) {
  return fail(Code::kPermissionDenied, std::move(message), std::move(reason));
}

}  // namespace

Result<SpiffeId> checkLeafProfile(const Certificate& leaf) {
  const auto uris = leaf.uriSans();
  if (uris.empty()) {
    return reject("no_uri_san", "leaf certificate has no URI SAN, so it carries no SPIFFE ID");
  }
  if (uris.size() > 1) {
    return reject("multiple_uri_sans", "leaf certificate has " + std::to_string(uris.size()) +
                                           " URI SANs; an X509-SVID has exactly one");
  }
  auto id = SpiffeId::parse(uris.front());
  if (!id) return reject("invalid_spiffe_id", "leaf URI SAN: " + id.error().message);
  if (id->isRoot()) {
    return reject("id_without_path", "leaf SPIFFE ID " + id->str() +
                                         " has no path; only signing certificates may use the "
                                         "trust domain's own ID");
  }
  if (leaf.isCa()) {
    return reject("leaf_is_ca", "leaf certificate " + id->str() +
                                    " is a CA (basicConstraints cA=true); a CA cannot be an "
                                    "X509-SVID");
  }
  const auto ku = leaf.keyUsage();
  if (!ku) return reject("leaf_no_key_usage", "leaf certificate has no keyUsage extension");
  if (!leaf.keyUsageCritical()) {
    return reject("leaf_key_usage_not_critical", "leaf certificate's keyUsage is not critical");
  }
  if ((*ku & crypto::kDigitalSignature) == 0) {
    return reject("leaf_no_digital_signature", "leaf keyUsage lacks digitalSignature");
  }
  if (*ku & crypto::kKeyCertSign) {
    return reject("leaf_key_cert_sign", "leaf keyUsage has keyCertSign; leaves must not sign "
                                        "certificates");
  }
  if (*ku & crypto::kCrlSign) {
    return reject("leaf_crl_sign", "leaf keyUsage has cRLSign; leaves must not sign CRLs");
  }
  return *id;
}

Result<void> checkSigningProfile(const Certificate& ca, int depth) {
  const std::string who = "signing certificate at depth " + std::to_string(depth) +
                          (ca.subject().empty() ? "" : " (" + ca.subject() + ")");
  if (!ca.isCa()) return reject("signing_cert_not_ca", who + " is not a CA");
  // X509-SVID §4.3: keyUsage MUST be present and set keyCertSign; an absent extension is no
  // exception (RFC 5280 would allow any use, which the SPIFFE profile does not).
  const auto ku = ca.keyUsage();
  if (!ku || (*ku & crypto::kKeyCertSign) == 0) {
    return reject("signing_cert_no_key_cert_sign",
                  who + (ku ? " lacks keyUsage keyCertSign" : " has no keyUsage extension"));
  }
  for (const auto& uri : ca.uriSans()) {
    auto id = SpiffeId::parse(uri);
    if (id && !id->isRoot()) {
      return reject("signing_cert_id_has_path",
                    who + " has SPIFFE ID " + id->str() + " with a path; a CA's ID has none");
    }
  }
  return {};
}

namespace {

Result<void> checkTrustDomain(const SpiffeId& id, const SvidOptions& options) {
  if (options.trust_domain && !id.memberOf(*options.trust_domain)) {
    return reject("trust_domain_mismatch", "SPIFFE ID " + id.str() +
                                               " is not in the expected trust domain " +
                                               options.trust_domain->name());
  }
  return {};
}

Result<void> checkAllowedIds(const SpiffeId& id, const SvidOptions& options) {
  if (!options.allowed_ids.empty()) {
    bool allowed = false;
    for (const auto& want : options.allowed_ids) allowed = allowed || want == id;
    if (!allowed) {
      std::string expected;
      for (const auto& want : options.allowed_ids) {
        expected += (expected.empty() ? "" : ", ") + want.str();
      }
      return reject("id_not_allowed",
                    "SPIFFE ID " + id.str() + " is not allowed (expected " + expected + ")");
    }
  }
  return {};
}

}  // namespace

Result<void> checkExpectedId(const SpiffeId& id, const SvidOptions& options) {
  if (auto expected = checkTrustDomain(id, options); !expected) return expected;
  return checkAllowedIds(id, options);
}

Result<VerifiedSvid> verifyX509Svid(const std::vector<Certificate>& chain, const BundleSet& bundles,
                                    const SvidOptions& options) {
  if (chain.empty()) return reject("no_certificate", "no certificate presented");
  auto id = checkLeafProfile(chain.front());
  if (!id) return fail(id.error());
  if (auto expected = checkTrustDomain(*id, options); !expected) return fail(expected.error());
  const crypto::TrustStore* store = bundles.trustStore(id->trustDomain());
  if (store == nullptr) {
    return reject("unknown_trust_domain",
                  "no X.509 bundle found for trust domain \"" + id->trustDomain().name() + "\"");
  }
  const std::vector<Certificate> intermediates(chain.begin() + 1, chain.end());
  crypto::ChainOptions chain_options;
  chain_options.at = options.at;
  chain_options.purpose = options.purpose;
  chain_options.dns_name = options.dns_name;
  chain_options.max_intermediates = options.max_intermediates;
  auto path = crypto::verifyChain(chain.front(), intermediates, *store, chain_options);
  if (!path) return fail(path.error());
  for (size_t i = 1; i < path->size(); ++i) {
    if (auto ok = checkSigningProfile((*path)[i], static_cast<int>(i)); !ok) {
      return fail(ok.error());
    }
  }
  if (auto allowed = checkAllowedIds(*id, options); !allowed) return fail(allowed.error());
  return VerifiedSvid{std::move(*id), std::move(*path)};
}

}  // namespace mutual::spiffe
