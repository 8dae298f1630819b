#include "workloadapi/proxy_source.h"

#include <spdlog/spdlog.h>

#include "spiffe/bundle.h"

namespace mutual::workloadapi {

Result<tls::Credentials> credentialsFromX509Context(const X509Context& context,
                                                    const spiffe::TrustDomain& trust_domain,
                                                    TimePoint now, const std::string& source) {
  const X509Svid* svid = nullptr;
  for (const auto& candidate : context.svids) {
    if (candidate.id.memberOf(trust_domain)) {
      svid = &candidate;
      break;
    }
  }
  if (svid == nullptr) {
    std::string ids;
    for (const auto& s : context.svids) ids += (ids.empty() ? "" : ", ") + s.id.str();
    return fail(Code::kInvalidArgument,
                "the Workload API gave no SVID of trust domain " + trust_domain.name() + " (got " +
                    (ids.empty() ? "none" : ids) + ")",
                "unknown_trust_domain");
  }
  if (!svid->key || svid->chain.empty())
    return invalidArgument("the SVID has no key or certificate");

  spiffe::BundleSet bundles;
  if (auto put = bundles.put({trust_domain, svid->bundle, std::nullopt, std::nullopt, {}}); !put) {
    return fail(put.error().prefix("bundle of " + trust_domain.name()));
  }
  for (const auto& [td, certs] : context.federated_bundles) {
    // The SVID's own bundle is authoritative for its trust domain; a federated entry for the
    // same name must not replace it.
    if (td == trust_domain) continue;
    if (auto put = bundles.put({td, certs, std::nullopt, std::nullopt, {}}); !put) {
      return fail(put.error().prefix("federated bundle of " + td.name()));
    }
  }
  // makeCredentials takes its own key object: share the (immutable) OpenSSL key.
  EVP_PKEY* raw = svid->key->get();
  if (EVP_PKEY_up_ref(raw) != 1) return fail(Code::kInternal, "EVP_PKEY_up_ref failed");
  crypto::PrivateKey key{crypto::PKeyPtr(raw)};
  return tls::makeCredentials(svid->chain, std::move(key), std::move(bundles), trust_domain, now,
                              source);
}

ProxyCredentialSource::ProxyCredentialSource(std::unique_ptr<Client> client,
                                             spiffe::TrustDomain trust_domain,
                                             tls::CredentialSink sink, const Clock& clock)
    : client_(std::move(client)),
      trust_domain_(std::move(trust_domain)),
      sink_(std::move(sink)),
      clock_(clock) {}

Result<std::unique_ptr<ProxyCredentialSource>> ProxyCredentialSource::start(
    std::string_view address, const spiffe::TrustDomain& trust_domain, tls::CredentialSink sink,
    const Clock& clock, Backoff backoff) {
  auto client = Client::create(address);
  if (!client) return fail(client.error());
  std::unique_ptr<ProxyCredentialSource> source(
      new ProxyCredentialSource(std::move(*client), trust_domain, std::move(sink), clock));
  ProxyCredentialSource* self = source.get();
  source->watch_ = source->client_->watchX509(
      [self](X509Context context) { self->onUpdate(std::move(context)); },
      [self](const Error& error) { self->onError(error); }, backoff);
  spdlog::info("credentials: watching the Workload API at {}", source->client_->target());
  return source;
}

ProxyCredentialSource::~ProxyCredentialSource() { stop(); }

void ProxyCredentialSource::stop() {
  if (watch_) watch_->stop();
}

const std::string& ProxyCredentialSource::target() const { return client_->target(); }

void ProxyCredentialSource::onUpdate(X509Context context) {
  {
    std::lock_guard lock(mu_);
    last_error_.clear();
  }
  auto credentials = credentialsFromX509Context(context, trust_domain_, clock_.now(),
                                                "workload_api " + client_->target());
  if (!credentials) {
    sink_.failed("workload_api " + client_->target() + ": " + credentials.error().message);
    return;
  }
  sink_.update(std::make_shared<const tls::Credentials>(std::move(*credentials)));
}

void ProxyCredentialSource::onError(const Error& error) {
  const std::string text = std::string(codeName(error.code)) + ": " + error.message;
  if (error.reason == "malformed_response") {
    // A message that breaks the spec is bad material, not a connection problem.
    sink_.failed("workload_api " + client_->target() + ": " + error.message);
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (text == last_error_) {
      spdlog::debug("credentials: workload API {}: {} (retrying)", client_->target(), text);
      return;
    }
    last_error_ = text;
  }
  if (error.code == Code::kInvalidArgument) {
    spdlog::error("credentials: workload API {} refused the request: {}; not retrying",
                  client_->target(), text);
    sink_.failed("workload_api " + client_->target() + ": " + text);
    return;
  }
  spdlog::warn("credentials: workload API {}: {} (retrying with backoff)", client_->target(), text);
}

}  // namespace mutual::workloadapi
