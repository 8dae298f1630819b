#include "tls/credentials.h"

#include "base/file.h"
#include "spiffe/x509_svid.h"

namespace mutual::tls {

Result<Credentials> makeCredentials(std::vector<crypto::Certificate> chain,
                                    crypto::PrivateKey key, spiffe::BundleSet bundles,
                                    const spiffe::TrustDomain& trust_domain, TimePoint now,
                                    std::string source) {
  if (chain.empty()) return invalidArgument("no certificate");
  if (!chain.front().matchesKey(key)) {
    return fail(Code::kInvalidArgument, "the private key does not match the certificate",
                "key_mismatch");
  }
  if (bundles.find(trust_domain) == nullptr) {
    return fail(Code::kInvalidArgument,
                "no trust bundle for trust domain " + trust_domain.name(), "unknown_trust_domain");
  }
  spiffe::SvidOptions options;
  options.at = now;
  options.trust_domain = trust_domain;
  auto verified = spiffe::verifyX509Svid(chain, bundles, options);
  if (!verified) return fail(verified.error().prefix("the certificate is not a valid SVID"));

  // Send the leaf and the intermediates the peer needs, never a trust anchor.
  std::vector<crypto::Certificate> to_send;
  for (const auto& cert : verified->path) {
    if (&cert != &verified->path.back()) to_send.push_back(cert);
  }
  return Credentials{std::move(to_send), std::make_shared<const crypto::PrivateKey>(std::move(key)),
                     verified->id, std::move(bundles), std::move(source)};
}

Result<Credentials> loadCredentialFiles(const std::string& cert_path, const std::string& key_path,
                                        const std::string& bundle_path,
                                        const spiffe::TrustDomain& trust_domain, TimePoint now) {
  auto cert_pem = readFile(cert_path);
  if (!cert_pem) return fail(cert_pem.error());
  auto chain = crypto::parsePemCertificates(*cert_pem);
  if (!chain) return fail(chain.error().prefix(cert_path));
  auto key_pem = readFile(key_path);
  if (!key_pem) return fail(key_pem.error());
  auto key = crypto::PrivateKey::fromPem(*key_pem);
  if (!key) return fail(key.error().prefix(key_path));
  auto bundle_pem = readFile(bundle_path);
  if (!bundle_pem) return fail(bundle_pem.error());
  auto bundle = spiffe::parsePemBundle(trust_domain, *bundle_pem);
  if (!bundle) return fail(bundle.error().prefix(bundle_path));
  spiffe::BundleSet bundles;
  if (auto put = bundles.put(std::move(*bundle)); !put) return fail(put.error().prefix(bundle_path));
  auto credentials = makeCredentials(std::move(*chain), std::move(*key), std::move(bundles),
                                     trust_domain, now,
                                     "files " + cert_path + " " + key_path + " " + bundle_path);
  if (!credentials) {
    // Name the file to look at: the key for a mismatch, else the certificate and the bundle
    // it was checked against (either may be the one that changed).
    Error error = credentials.error();
    if (error.reason == "key_mismatch") {
      error.message = key_path + ": does not match the certificate in " + cert_path;
      return fail(error);
    }
    return fail(error.prefix(cert_path + " (checked against " + bundle_path + ")"));
  }
  return credentials;
}

}  // namespace mutual::tls
