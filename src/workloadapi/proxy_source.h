#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "spiffe/spiffe_id.h"
#include "tls/credentials.h"
#include "workloadapi/client.h"
#include "workloadapi/types.h"

// The proxy's `credentials.workload_api` (docs/proxy.md, "Identity from the Workload API").
namespace mutual::workloadapi {

// Builds the proxy's credentials from one FetchX509SVID message: the first SVID of
// `trust_domain` (the default identity when it is the first), its chain and key, the bundle
// of its own trust domain plus every federated bundle, each kept apart in the BundleSet.
// Checked by tls::makeCredentials at `now` (key matches, valid SVID chaining to its trust
// domain's bundle). InvalidArgument when no SVID is of `trust_domain` or the material is bad.
Result<tls::Credentials> credentialsFromX509Context(const X509Context& context,
                                                    const spiffe::TrustDomain& trust_domain,
                                                    TimePoint now, const std::string& source);

// Watches the Workload API and feeds every update into `sink.update` (the proxy's
// setCredentials), or `sink.failed` when the update is unusable (the proxy keeps what it has).
// Stream errors (agent down, no identity yet) are logged and retried with backoff; they do not
// touch the proxy's credentials: an SVID already loaded keeps serving until it expires.
class ProxyCredentialSource {
 public:
  // `address`: "unix:///path" or "/path"; "" means $SPIFFE_ENDPOINT_SOCKET. InvalidArgument
  // for an unusable address. What the sink calls must outlive the source.
  static Result<std::unique_ptr<ProxyCredentialSource>> start(
      std::string_view address, const spiffe::TrustDomain& trust_domain, tls::CredentialSink sink,
      const Clock& clock, Backoff backoff = {});
  ~ProxyCredentialSource();  // stop()
  // Stops watching; no call into the sink happens after it returns. Idempotent.
  void stop();
  const std::string& target() const;

 private:
  ProxyCredentialSource(std::unique_ptr<Client> client, spiffe::TrustDomain trust_domain,
                        tls::CredentialSink sink, const Clock& clock);
  void onUpdate(X509Context context);
  void onError(const Error& error);

  std::unique_ptr<Client> client_;
  spiffe::TrustDomain trust_domain_;
  tls::CredentialSink sink_;
  const Clock& clock_;
  std::unique_ptr<Watch> watch_;
  std::mutex mu_;
  std::string last_error_;  // to log a repeated error once
};

}  // namespace mutual::workloadapi
