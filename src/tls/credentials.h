#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/certificate.h"
#include "crypto/key.h"
#include "spiffe/bundle.h"
#include "spiffe/spiffe_id.h"

namespace mutual::tls {

// A workload's identity as the data plane uses it: its X509-SVID (leaf first, then the
// intermediates to send), the private key, and the trust bundles peers are verified against.
// Immutable once built; shared by every context made from it.
struct Credentials {
  std::vector<crypto::Certificate> chain;
  std::shared_ptr<const crypto::PrivateKey> key;
  spiffe::SpiffeId id;
  spiffe::BundleSet bundles;
  std::string source;  // "files certs/tls.crt ...", "workload_api unix:///..."; for /certs

  const crypto::Certificate& leaf() const { return chain.front(); }
};

// Where a credentials feed delivers (the proxy's setCredentials and credentialsFailed): plain
// callbacks, so a feed built apart from the proxy (the Workload API's, in another shared
// object) never runs a copy of the proxy's code on the proxy's state.
struct CredentialSink {
  std::function<void(std::shared_ptr<const Credentials>)> update;
  std::function<void(const std::string& why)> failed;  // bad material: keep what is loaded
};

// Checks and assembles credentials: the key matches the leaf, the leaf is a valid X509-SVID in
// `trust_domain` that chains to that trust domain's bundle at `now` (so a half-rotated set of
// files, a garbage file or an expired certificate is refused and the caller keeps serving the
// previous credentials). Anchors in `chain` are dropped from what is sent: a peer never needs
// its own root from us.
Result<Credentials> makeCredentials(std::vector<crypto::Certificate> chain,
                                    crypto::PrivateKey key, spiffe::BundleSet bundles,
                                    const spiffe::TrustDomain& trust_domain, TimePoint now,
                                    std::string source);

// Reads PEM files (the proxy's `credentials.files`): cert (leaf and intermediates), key, and
// bundle (the trust domain's roots). Errors name the file.
Result<Credentials> loadCredentialFiles(const std::string& cert_path, const std::string& key_path,
                                        const std::string& bundle_path,
                                        const spiffe::TrustDomain& trust_domain, TimePoint now);

}  // namespace mutual::tls
