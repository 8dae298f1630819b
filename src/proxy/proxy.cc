#include "proxy/proxy.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "base/time.h"
#include "config/manifest.h"
#include "proxy/worker.h"
#include "spiffe/bundle.h"

namespace mutual::proxy {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(250);

Result<tcp::endpoint> resolve(const config::HostPort& address) {
  std::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return tcp::endpoint(ip, address.port);
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec || results.empty()) {
    return fail(Code::kInvalidArgument, address.str() + ": cannot resolve: " + ec.message());
  }
  return results.begin()->endpoint();
}

// A listener per worker on the same address with SO_REUSEPORT, so the kernel spreads
// connections and no worker hands them to another. Port 0: the first bind picks the port, the
// others reuse it.
Result<void> listenAll(std::vector<std::unique_ptr<Worker>>& workers, tcp::endpoint endpoint,
                       bool inbound, const std::string& what) {
  const auto failed = [&](const std::error_code& ec) {
    return fail(Code::kUnavailable, what + " " + endpoint.address().to_string() + ":" +
                                        std::to_string(endpoint.port()) + ": " + ec.message());
  };
  if (endpoint.port() != 0) {
    // SO_REUSEPORT would also let this bind join another process's listeners on the port (of
    // the same user: a second proxy started by mistake) and take part of its connections. A
    // bind without it fails when anyone listens there.
    asio::io_context io;
    tcp::acceptor probe(io);
    std::error_code ec;
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) return failed(ec);
  }
  for (auto& worker : workers) {
    auto acceptor = std::make_unique<tcp::acceptor>(worker->io);
    std::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        ec = std::error_code(errno, std::system_category());
      }
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt here
    // instead of one per connection.
    if (!ec) acceptor->set_option(tcp::no_delay(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return failed(ec);
    endpoint = acceptor->local_endpoint();
    (inbound ? worker->inbound_acceptors : worker->outbound_acceptors).push_back(std::move(acceptor));
  }
  return {};
}

// Size, mtime and inode of each file (or of each file in a folder): cheap to compare, and a
// Kubernetes-style symlink swap changes it.
std::string signatureOf(const std::vector<std::string>& paths) {
  std::string signature;
  for (const auto& path : paths) {
    std::vector<std::string> files{path};
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      files.clear();
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        files.push_back(entry.path().string());
      }
      std::sort(files.begin(), files.end());
    }
    for (const auto& file : files) {
      struct stat st{};
      if (::stat(file.c_str(), &st) != 0) {
        signature += file + ":missing;";
        continue;
      }
      signature += file + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) +
                   ":" + std::to_string(st.st_mtim.tv_sec) + "." +
                   std::to_string(st.st_mtim.tv_nsec) + ";";
    }
  }
  return signature;
}

nlohmann::json certificateJson(const crypto::Certificate& cert) {
  return {{"subject", cert.subject()},
          {"issuer", cert.issuer()},
          {"serial", cert.serialHex()},
          {"not_before", formatRfc3339(cert.notBefore())},
          {"not_after", formatRfc3339(cert.notAfter())},
          {"uri_sans", cert.uriSans()},
          {"dns_sans", cert.dnsSans()},
          {"sha256_fingerprint", cert.sha256Fingerprint()},
          {"public_key", cert.publicKeyDescription()}};
}

}  // namespace

// ---- Worker -----------------------------------------------------------------------------------

Worker::Worker(Proxy& proxy_, const Routes& routes_, size_t index_)
    : proxy(proxy_), routes(routes_), index(index_), metrics(proxy_.metrics().shard(index_)) {}

void Worker::start() {
  for (size_t i = 0; i < inbound_acceptors.size(); ++i) {
    asio::co_spawn(io, acceptLoop(*this, *inbound_acceptors[i], true, i), asio::detached);
  }
  // Workers start their rotations at different endpoints.
  for (const auto& listener_endpoints : routes.outbound_endpoints) {
    endpoints.emplace_back(listener_endpoints.size(), index);
  }
  for (size_t i = 0; i < outbound_acceptors.size(); ++i) {
    asio::co_spawn(io, acceptLoop(*this, *outbound_acceptors[i], false, i), asio::detached);
  }
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io);
    io.run();
  });
}

void Worker::stopAccepting() {
  asio::post(io, [this] {
    for (auto& acceptor : inbound_acceptors) acceptor->close();
    for (auto& acceptor : outbound_acceptors) acceptor->close();
  });
}

void Worker::closeConnections() {
  asio::post(io, [this] {
    for (tcp::socket* socket : live_sockets) {
      std::error_code ignored;
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->cancel(ignored);
    }
  });
}

void Worker::join() {
  io.stop();
  if (thread_.joinable()) thread_.join();
}

// ---- Proxy ------------------------------------------------------------------------------------

Proxy::Proxy(config::ProxyConfig config) : config_(std::move(config)) {}

Proxy::~Proxy() { shutdown(); }

Result<std::unique_ptr<Proxy>> Proxy::create(config::ProxyConfig config) {
  std::unique_ptr<Proxy> proxy(new Proxy(std::move(config)));
  auto& cfg = proxy->config_;
  unsigned workers = cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  telemetry::MetricsOptions metrics_options;
  metrics_options.workers = workers;
  proxy->metrics_ = std::make_unique<telemetry::Metrics>(metrics_options);
  if (cfg.access_log) {
    auto log = telemetry::AccessLog::open(cfg.access_log->resolved);
    if (!log) return fail(log.error().prefix(cfg.access_log_location.str() + ": access_log"));
    proxy->access_log_ = std::move(*log);
    auto* raw = proxy->access_log_.get();
    proxy->metrics_->setAccessLogDroppedSource([raw] { return raw->dropped(); });
  }
  if (auto loaded = proxy->reloadPolicies(); !loaded) {
    return fail(loaded.error().prefix(cfg.file.empty() ? "policies" : cfg.file + ": policies"));
  }
  if (std::holds_alternative<config::FileCredentials>(cfg.credentials)) {
    proxy->reloadCredentialFiles();
  }
  if (auto bound = proxy->bind(); !bound) return fail(bound.error());
  proxy->publish();
  return proxy;
}

Result<void> Proxy::bind() {
  routes_ = std::make_unique<Routes>();
  for (const auto& listener : config_.inbound) {
    auto forward = resolve(listener.forward);
    if (!forward) return fail(forward.error().prefix("inbound " + listener.listen.str() + " forward"));
    routes_->inbound_forward.push_back(*forward);
  }
  for (const auto& listener : config_.outbound) {
    std::vector<tcp::endpoint> endpoints;
    for (const auto& endpoint : listener.endpoints) {
      auto resolved = resolve(endpoint);
      if (!resolved) return fail(resolved.error().prefix("outbound " + listener.listen.str() + " endpoint"));
      endpoints.push_back(*resolved);
    }
    routes_->outbound_endpoints.push_back(std::move(endpoints));
  }
  unsigned count = static_cast<unsigned>(metrics_->shardCount());
  for (unsigned i = 0; i < count; ++i) workers_.push_back(std::make_unique<Worker>(*this, *routes_, i));
  for (const auto& listener : config_.inbound) {
    auto endpoint = resolve(listener.listen);
    if (!endpoint) return fail(endpoint.error());
    if (auto ok = listenAll(workers_, *endpoint, true, "inbound listener"); !ok) return ok;
  }
  for (const auto& listener : config_.outbound) {
    auto endpoint = resolve(listener.listen);
    if (!endpoint) return fail(endpoint.error());
    if (auto ok = listenAll(workers_, *endpoint, false, "outbound listener"); !ok) return ok;
  }
  return {};
}

void Proxy::start() {
  if (started_.exchange(true)) return;
  for (auto& worker : workers_) worker->start();
  control_thread_ = std::thread([this] { controlLoop(); });
  metrics_->setReady(ready());
}

void Proxy::shutdown() {
  if (!started_.load() || stopped_.exchange(true)) return;
  draining_ = true;
  metrics_->setReady(false);
  for (auto& worker : workers_) worker->stopAccepting();
  auto deadline = std::chrono::steady_clock::now() + config_.timeouts.drain;
  while (active_connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (active_connections_.load() > 0) {
    spdlog::info("drain: closing {} connections still open after {}", active_connections_.load(),
                 formatDuration(config_.timeouts.drain));
    for (auto& worker : workers_) worker->closeConnections();
    auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (active_connections_.load() > 0 && std::chrono::steady_clock::now() < grace) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  {
    std::lock_guard lock(control_mu_);
    control_stop_ = true;
  }
  control_cv_.notify_all();
  if (control_thread_.joinable()) control_thread_.join();
  for (auto& worker : workers_) worker->join();
  if (access_log_) access_log_->flush();
}

bool Proxy::admit() {
  uint32_t now = active_connections_.fetch_add(1, std::memory_order_relaxed);
  if (now >= config_.max_connections) {
    active_connections_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void Proxy::release() { active_connections_.fetch_sub(1, std::memory_order_relaxed); }

std::string Proxy::notReadyReason() const {
  std::lock_guard lock(mu_);
  if (!started_.load()) return "starting";
  if (draining_.load()) return "draining";
  if (credentials_ == nullptr) {
    return "no SVID loaded yet" + (credentials_error_.empty() ? "" : ": " + credentials_error_);
  }
  // Fail closed once the SVID has expired and nothing replaced it: peers refuse it anyway.
  if (std::chrono::system_clock::now() > credentials_->leaf().notAfter()) {
    return expiredReason() +
           (credentials_error_.empty() ? "" : "; the last refused update: " + credentials_error_);
  }
  return "";
}

std::string Proxy::expiredReason() const {
  return "the SVID expired at " + formatRfc3339(credentials_->leaf().notAfter());
}

void Proxy::checkExpiry() {
  {
    std::lock_guard lock(mu_);
    const bool expired =
        credentials_ && std::chrono::system_clock::now() > credentials_->leaf().notAfter();
    if (expired == credentials_expired_) return;
    credentials_expired_ = expired;
    if (expired) {
      spdlog::error("credentials: {} and nothing valid replaced it: refusing mTLS (fail closed) "
                    "until a valid SVID arrives", expiredReason());
    }
  }
  publish();
}

// ---- the control thread -----------------------------------------------------------------------

void Proxy::controlLoop() {
  std::unique_lock lock(control_mu_);
  while (!control_stop_) {
    control_cv_.wait_for(lock, kPollInterval);
    if (control_stop_) break;
    lock.unlock();
    pollFiles();
    lock.lock();
  }
}

void Proxy::pollFiles() {
  bool changed = false;
  if (const auto* files = std::get_if<config::FileCredentials>(&config_.credentials)) {
    std::string signature = signatureOf({files->cert.resolved, files->key.resolved, files->bundle.resolved});
    bool differs;
    {
      std::lock_guard lock(mu_);
      differs = signature != file_signature_;
    }
    if (differs) {
      reloadCredentialFiles();
      changed = true;
    }
  }
  std::vector<std::string> policy_paths;
  for (const auto& path : config_.policies) policy_paths.push_back(path.resolved);
  bool differs;
  {
    std::lock_guard lock(mu_);
    policy_paths.insert(policy_paths.end(), tls_files_.begin(), tls_files_.end());
    differs = signatureOf(policy_paths) != policy_signature_;
  }
  if (differs) {
    if (auto loaded = reloadPolicies(); !loaded) {
      spdlog::warn("policies: keeping the previous set: {}", loaded.error().message);
    } else {
      spdlog::info("policies reloaded");
    }
    changed = true;
  }
  if (changed) publish();
  checkExpiry();
  metrics_->setReady(ready());
}

Result<void> Proxy::reloadPolicies() {
  std::vector<std::string> paths;
  std::vector<std::filesystem::path> fs_paths;
  for (const auto& path : config_.policies) {
    paths.push_back(path.resolved);
    fs_paths.push_back(path.resolved);
  }
  // Taken before the files are read: a change while they are read is seen at the next poll.
  const std::string files_signature = signatureOf(paths);
  auto fail_with = [&](Error error) -> Result<void> {
    std::lock_guard lock(mu_);
    // Do not retry until the files change again.
    policy_signature_ = files_signature + signatureOf(tls_files_);
    policies_error_ = error.message;
    return fail(std::move(error));
  };
  config::MeshConfig mesh;
  if (!fs_paths.empty()) {
    auto manifests = config::loadManifests(fs_paths);
    if (!manifests) return fail_with(manifests.error());
    mesh = config::parseMeshManifests(*manifests);
    for (const auto& finding : mesh.findings) {
      if (finding.severity == config::Finding::Severity::kError) {
        return fail_with(Error{Code::kInvalidArgument, finding.str(), ""});
      }
      spdlog::warn("policies: {}", finding.str());
    }
  }
  auto files = filesNamedBy(mesh, config_.base_dir);
  std::string signature = files_signature + signatureOf(files);  // before the snapshot reads them
  std::lock_guard lock(mu_);
  policies_ = std::move(mesh);
  tls_files_ = std::move(files);
  policy_signature_ = std::move(signature);
  policies_error_.clear();
  return {};
}

void Proxy::reloadCredentialFiles() {
  const auto& files = std::get<config::FileCredentials>(config_.credentials);
  std::string signature = signatureOf({files.cert.resolved, files.key.resolved, files.bundle.resolved});
  auto td = spiffe::TrustDomain::parse(config_.trust_domain);
  Result<tls::Credentials> loaded =
      td ? tls::loadCredentialFiles(files.cert.resolved, files.key.resolved, files.bundle.resolved,
                                    *td, std::chrono::system_clock::now())
         : fail(td.error());
  {
    std::lock_guard lock(mu_);
    file_signature_ = signature;
  }
  if (!loaded) {
    credentialsFailed(loaded.error().message);
    return;
  }
  setCredentials(std::make_shared<const tls::Credentials>(std::move(*loaded)));
}

void Proxy::setCredentials(std::shared_ptr<const tls::Credentials> credentials) {
  std::string id = credentials->id.str();
  if (id != config_.workloadSpiffeId()) {
    spdlog::warn("credentials: the SVID is {}, the workload's identity would be {}", id,
                 config_.workloadSpiffeId());
  }
  {
    std::lock_guard lock(mu_);
    if (credentials_) metrics_->removeSvid(credentials_->id.str());
    credentials_ = credentials;
    credentials_error_.clear();
    credentials_expired_ = false;
    rotations_++;
  }
  metrics_->setSvidExpiry(id, std::chrono::duration_cast<std::chrono::seconds>(
                                  credentials->leaf().notAfter().time_since_epoch())
                                  .count());
  for (const auto& td : credentials->bundles.trustDomains()) {
    metrics_->setBundleRoots(td.name(), static_cast<int64_t>(credentials->bundles.find(td)->authorities.size()));
  }
  metrics_->countRotation("success");
  spdlog::info("credentials: loaded {} (serial {}, expires {})", id, credentials->leaf().serialHex(),
               formatRfc3339(credentials->leaf().notAfter()));
  if (started_.load()) publish();
}

tls::CredentialSink Proxy::credentialSink() {
  return {[this](std::shared_ptr<const tls::Credentials> credentials) {
            setCredentials(std::move(credentials));
          },
          [this](const std::string& why) { credentialsFailed(why); }};
}

void Proxy::credentialsFailed(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    credentials_error_ = why;
  }
  metrics_->countRotation("failure");
  spdlog::warn("credentials: keeping the current ones: {}", why);
}

void Proxy::publish() {
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard lock(mu_);
    snapshot = credentials_expired_
                   ? buildSnapshot(config_, nullptr, policies_, ++generation_, expiredReason())
                   : buildSnapshot(config_, credentials_, policies_, ++generation_);
    snapshot_ = snapshot;
  }
  for (auto& worker : workers_) {
    if (!started_.load()) {
      worker->snapshot = snapshot;  // threads not running yet
    } else {
      Worker* w = worker.get();
      asio::post(w->io, [w, snapshot] { w->snapshot = snapshot; });
    }
  }
}

// ---- admin views ------------------------------------------------------------------------------

nlohmann::json Proxy::certs() const {
  std::lock_guard lock(mu_);
  nlohmann::json out;
  out["ready"] = started_.load() && !draining_.load() && credentials_ != nullptr &&
                 !credentials_expired_;
  out["rotations"] = rotations_;
  out["last_error"] = credentials_error_;
  if (!credentials_) {
    out["identity"] = nullptr;
    out["chain"] = nlohmann::json::array();
    out["bundles"] = nlohmann::json::array();
    return out;
  }
  out["identity"] = credentials_->id.str();
  out["source"] = credentials_->source;
  out["serial"] = credentials_->leaf().serialHex();
  out["not_before"] = formatRfc3339(credentials_->leaf().notBefore());
  out["not_after"] = formatRfc3339(credentials_->leaf().notAfter());
  out["expired"] = credentials_expired_;  // then not served: mTLS is refused until a new SVID
  auto& chain = out["chain"] = nlohmann::json::array();
  for (const auto& cert : credentials_->chain) chain.push_back(certificateJson(cert));
  auto& bundles = out["bundles"] = nlohmann::json::array();
  for (const auto& td : credentials_->bundles.trustDomains()) {
    nlohmann::json roots = nlohmann::json::array();
    for (const auto& root : credentials_->bundles.find(td)->authorities) roots.push_back(certificateJson(root));
    bundles.push_back({{"trust_domain", td.name()}, {"roots", roots}});
  }
  return out;
}

nlohmann::json Proxy::configDump() const {
  nlohmann::json out;
  out["config"] = config::toJson(config_);
  std::lock_guard lock(mu_);
  out["snapshot"] = snapshot_ ? toJson(*snapshot_) : nlohmann::json();
  out["policies"] = {{"peer_authentications", policies_.peer_authentications.size()},
                     {"destination_rules", policies_.destination_rules.size()},
                     {"authorization_policies", policies_.authorization_policies.size()},
                     {"linkerd_servers", policies_.linkerd_servers.size()},
                     {"linkerd_server_authorizations",
                      policies_.linkerd_server_authorizations.size()},
                     {"linkerd_authorization_policies",
                      policies_.linkerd_authorization_policies.size()},
                     {"meshtls_authentications", policies_.meshtls_authentications.size()},
                     {"network_authentications", policies_.network_authentications.size()},
                     {"last_error", policies_error_}};
  return out;
}

nlohmann::json Proxy::edges() const { return edges_.toJson(); }

std::string Proxy::metricsText() const { return metrics_->renderPrometheus(); }

std::vector<std::string> Proxy::inboundAddresses() const {
  std::vector<std::string> out;
  if (workers_.empty()) return out;
  for (const auto& acceptor : workers_.front()->inbound_acceptors) {
    std::error_code ec;
    auto endpoint = acceptor->local_endpoint(ec);
    out.push_back(endpoint.address().to_string() + ":" + std::to_string(endpoint.port()));
  }
  return out;
}

std::vector<std::string> Proxy::outboundAddresses() const {
  std::vector<std::string> out;
  if (workers_.empty()) return out;
  for (const auto& acceptor : workers_.front()->outbound_acceptors) {
    std::error_code ec;
    auto endpoint = acceptor->local_endpoint(ec);
    out.push_back(endpoint.address().to_string() + ":" + std::to_string(endpoint.port()));
  }
  return out;
}

}  // namespace mutual::proxy
