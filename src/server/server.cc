#include "server/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <atomic>
#include <thread>

#include <absl/synchronization/mutex.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>
#include <asio.hpp>

#include "admin/health_listener.h"
#include "base/file.h"
#include "base/time.h"
#include "crypto/csr.h"
#include "server/control_plane.h"
#include "server/issued_recorder.h"
#include "server/key_manager.h"

namespace mutual::server {

namespace fs = std::filesystem;
using config::spire::ServerConf;

namespace {

constexpr Seconds kPruneEvery{3600};
// gRPC re-reads the TLS files this often.
constexpr unsigned kTlsRefreshSeconds = 1;
// Threads for the calls that wait on the datastore (node_service.cc): the store serializes
// its transactions on one connection, so more would mostly wait.
constexpr int kBlockingThreads = 4;

crypto::KeyType keyTypeOf(config::spire::CaKeyType type) {
  switch (type) {
    case config::spire::CaKeyType::kEcP256:
      return crypto::KeyType::kEcP256;
    case config::spire::CaKeyType::kEcP384:
      return crypto::KeyType::kEcP384;
    case config::spire::CaKeyType::kRsa2048:
      return crypto::KeyType::kRsa2048;
    case config::spire::CaKeyType::kRsa4096:
      return crypto::KeyType::kRsa4096;
  }
  return crypto::KeyType::kEcP256;
}

std::string hostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

// A directory that only its owner may enter (the admin socket's; SPIRE's private/).
Result<void> makePrivateDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail(Code::kFailedPrecondition, "cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return fail(Code::kFailedPrecondition, "cannot chmod 0700 " + dir.string());
  }
  return {};
}

}  // namespace

// gRPC's own log lines, through spdlog. A client sending an IP address as TLS server name makes
// gRPC's server log "No match found for server name" at ERROR for every handshake although
// nothing is wrong (the one certificate is used): that one is debug.
void grpcLog(gpr_log_func_args* args) {
  std::string_view message(args->message);
  if (message.find("No match found for server name") != std::string_view::npos) {
    spdlog::debug("grpc: {}", message);
    return;
  }
  switch (args->severity) {
    case GPR_LOG_SEVERITY_ERROR:
      spdlog::warn("grpc: {}", message);
      break;
    case GPR_LOG_SEVERITY_INFO:
      spdlog::info("grpc: {}", message);
      break;
    default:
      spdlog::debug("grpc: {}", message);
      break;
  }
}

Result<std::string> loadOrCreateServerId(const fs::path& data_dir) {
  const fs::path file = data_dir / "server_id";
  std::error_code ec;
  if (fs::exists(file, ec)) {
    auto text = readFile(file);
    if (!text) return fail(text.error());
    std::string id = *text;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (id.empty()) return invalidArgument(file.string() + ": empty server ID");
    return id;
  }
  std::string id = datastore::newUuid();
  if (auto ok = writeFileAtomic(file, id + "\n", 0644); !ok) return fail(ok.error());
  return id;
}

struct Server::State {
  ServerConf conf;
  fs::path base_dir;
  fs::path data_dir;
  fs::path tls_dir;
  fs::path socket_path;
  std::shared_ptr<const Clock> clock;
  Seconds tick{10};
  std::string server_id;
  // data_dir/server.lock, held for the server's life: a second server on the same data_dir
  // would share the datastore and the CA journal and rewrite the TLS files.
  std::optional<FileLock> data_dir_lock;
  ino_t socket_inode = 0;  // the admin socket this server bound (removed at shutdown if still it)

  std::unique_ptr<datastore::DataStore> store;
  std::unique_ptr<KeyManager> keys;
  std::unique_ptr<CaManager> ca;
  std::unique_ptr<IssuedRecorder> recorder;
  std::unique_ptr<SvidSigner> signer;
  std::unique_ptr<ControlPlane> plane_owner;
  ControlPlane* plane_ptr = nullptr;
  // The services' threads for calls that wait on the datastore (control_plane.h); outlives
  // the gRPC servers, whose Shutdown waits until every call is finished.
  std::unique_ptr<asio::thread_pool> blocking;
  std::unique_ptr<NodeService> node_service;
  std::unique_ptr<AdminService> admin_service;
  std::unique_ptr<grpc::Server> node_server;
  std::unique_ptr<grpc::Server> admin_server;
  int node_port = 0;

  // The server's own SVID (the Node API's TLS certificate). The key lives as long as the
  // process; only the certificate is replaced, so the file watcher never pairs a new key with
  // an old certificate.
  std::unique_ptr<crypto::PrivateKey> tls_key;
  std::string svid_issuer;
  TimePoint svid_not_before{};
  TimePoint svid_not_after{};
  TimePoint last_prune{};
  uint64_t bundle_file_sequence = 0;  // of the bundle in tls/bundle.crt

  // health_checks { listener_enabled = true }: SPIRE's HTTP liveness and readiness.
  std::unique_ptr<admin::HealthListener> health;

  asio::io_context io;
  std::unique_ptr<asio::steady_timer> timer;
  std::thread control;
  std::atomic<bool> stopped{false};

  Result<void> writeBundleFile();
  bool ready(std::string& why) const;
  Result<void> renewServerSvid();
  void tick_once();
  void schedule();
};

Result<void> Server::State::writeBundleFile() {
  auto bundle = store->fetchBundle(plane_ptr->td.name());
  if (!bundle) return fail(bundle.error());
  std::vector<crypto::Certificate> roots;
  for (const auto& der : bundle->x509_authorities_der) {
    auto cert = crypto::Certificate::fromDer(der);
    if (cert) roots.push_back(std::move(*cert));
  }
  auto pem = crypto::toPem(roots);
  if (!pem) return fail(pem.error());
  if (auto ok = writeFileAtomic(tls_dir / "bundle.crt", *pem, 0644); !ok) return ok;
  bundle_file_sequence = bundle->sequence_number;
  return {};
}

Result<void> Server::State::renewServerSvid() {
  auto current = ca->current();
  if (!current) return fail(Code::kUnavailable, "no active CA");
  auto csr = crypto::createCsr(*tls_key);
  if (!csr) return fail(csr.error());
  auto svid = signer->sign({*csr, serverId(plane_ptr->td), {}, conf.default_x509_svid_ttl});
  if (!svid) return fail(svid.error().prefix("signing the server's SVID"));
  auto leaf = crypto::Certificate::fromDer(svid->cert_der);
  if (!leaf) return fail(leaf.error());
  std::vector<crypto::Certificate> chain{*leaf};
  chain.insert(chain.end(), svid->issuer->chain.begin(), svid->issuer->chain.end());
  auto pem = crypto::toPem(chain);
  if (!pem) return fail(pem.error());
  // New roots first: a client must be able to verify the certificate that follows.
  if (auto ok = writeBundleFile(); !ok) return ok;
  if (auto ok = writeFileAtomic(tls_dir / "server.crt", *pem, 0644); !ok) return ok;
  svid_issuer = svid->issuer->authority_id;
  svid_not_before = svid->not_before;
  svid_not_after = svid->not_after;
  spdlog::debug("server SVID {} renewed, valid until {}", serverId(plane_ptr->td),
                formatRfc3339(svid_not_after));
  return {};
}

bool Server::State::ready(std::string& why) const {
  auto current = ca->current();
  if (!current || clock->now() >= current->not_after) {
    why = "no valid signing authority";
    return false;
  }
  if (auto count = store->countBundles(); !count) {
    why = "datastore: " + count.error().message;
    return false;
  }
  return true;
}

void Server::State::tick_once() {
  const TimePoint now = clock->now();
  if (auto rotated = ca->rotate(); !rotated) {
    spdlog::error("CA rotation: {}", rotated.error().message);
  }
  // The admin API may have refreshed the bundle already (a revocation): compare with what the
  // file holds, not with what the last refresh saw.
  if (auto refreshed = plane_ptr->refreshBundles(); !refreshed) {
    spdlog::warn("trust bundle: {}", refreshed.error().message);
  } else if (plane_ptr->bundleSequence() != bundle_file_sequence) {
    if (auto ok = writeBundleFile(); !ok) spdlog::warn("trust bundle file: {}", ok.error().message);
  }
  auto current = ca->current();
  const bool half_life = now >= svid_not_before + (svid_not_after - svid_not_before) / 2;
  if (current && (current->authority_id != svid_issuer || half_life)) {
    if (auto ok = renewServerSvid(); !ok) spdlog::error("server SVID: {}", ok.error().message);
  }
  if (now - last_prune >= kPruneEvery) {
    last_prune = now;
    if (auto pruned = store->pruneJoinTokens(now); pruned && *pruned > 0) {
      spdlog::info("pruned {} expired join tokens", *pruned);
    }
    if (auto pruned = store->pruneIssued(now - kPruneSafetyMargin); pruned && *pruned > 0) {
      spdlog::debug("pruned {} records of expired certificates", *pruned);
    }
  }
}

void Server::State::schedule() {
  timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(tick));
  timer->async_wait([this](const asio::error_code& ec) {
    if (ec || stopped) return;
    tick_once();
    schedule();
  });
}

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() { shutdown(); }

Result<std::unique_ptr<Server>> Server::startFromFile(const std::string& conf_path,
                                                      ServerOptions options) {
  auto conf = config::spire::loadServerConf(conf_path);
  if (!conf) return fail(conf.error());
  fs::path base = fs::path(conf_path).parent_path();
  if (base.empty()) base = ".";
  return start(std::move(*conf), fs::absolute(base), std::move(options));
}

Result<std::unique_ptr<Server>> Server::start(ServerConf conf, const fs::path& base_dir,
                                              ServerOptions options) {
  gpr_set_log_function(grpcLog);
  // Debian builds Abseil without NDEBUG, so every absl::Mutex that gRPC takes also records the
  // lock order for deadlock detection under a global lock, a debugging aid that NDEBUG builds
  // leave off: 1-2% of the server's CPU per signing call in bench/sign_compare.sh.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto s = std::make_unique<State>();
  s->clock = options.clock ? options.clock : std::make_shared<RealClock>();
  s->tick = options.tick;
  s->base_dir = base_dir;
  s->conf = conf;
  const auto resolve = [&](const std::string& p) {
    return config::spire::resolvePath(p, base_dir);
  };
  const auto where = [&conf](std::string_view path) { return conf.at(path).str() + ": "; };

  // data_dir, the server's identity, the datastore.
  if (conf.data_dir.empty()) return invalidArgument(conf.file + ": server.data_dir is required");
  s->data_dir = resolve(conf.data_dir);
  std::error_code ec;
  fs::create_directories(s->data_dir, ec);
  if (ec) {
    return fail(Code::kFailedPrecondition, where("server.data_dir") + "cannot create " +
                                               s->data_dir.string() + ": " + ec.message());
  }
  // Before anything in data_dir (or the admin socket) is touched.
  auto lock = FileLock::acquire(s->data_dir / "server.lock");
  if (!lock) {
    return fail(lock.error().code,
                where("server.data_dir") + "another mutual server is running with data_dir " +
                    s->data_dir.string() + " (" + lock.error().message +
                    "); stop it first, or give this server its own data_dir");
  }
  s->data_dir_lock.emplace(std::move(*lock));
  // The admin socket: another server's live socket is not taken over (gRPC would unlink it
  // and bind its own), a stale one is removed.
  s->socket_path = resolve(conf.socket_path);
  if (auto ok = makePrivateDir(s->socket_path.parent_path()); !ok) {
    return fail(ok.error().prefix(conf.at("server.socket_path").str()));
  }
  if (auto ok = clearStaleSocket(s->socket_path); !ok) {
    return fail(ok.error().prefix(conf.at("server.socket_path").str()));
  }

  s->tls_dir = s->data_dir / "tls";
  if (auto ok = makePrivateDir(s->tls_dir); !ok) return fail(ok.error());
  auto server_id = loadOrCreateServerId(s->data_dir);
  if (!server_id) return fail(server_id.error());
  s->server_id = *server_id;

  std::string connection = conf.data_store.connection_string;
  const bool sqlite =
      conf.data_store.database_type == config::spire::SqlDataStore::DatabaseType::kSqlite3;
  if (sqlite && connection.rfind("file:", 0) != 0 && connection != ":memory:") {
    connection = resolve(connection).string();
  }
  datastore::OpenOptions open_options;
  open_options.clock = s->clock;
  auto store = datastore::openDataStore(sqlite ? "sqlite3" : "postgres", connection, open_options);
  if (!store) {
    return fail(store.error().prefix(conf.data_store.location.str() + ": DataStore \"sql\""));
  }
  s->store = std::move(*store);

  // Keys and the CA.
  if (conf.key_manager.kind == config::spire::ServerKeyManager::Kind::kDisk) {
    auto keys = makeDiskKeyManager(resolve(conf.key_manager.keys_path));
    if (!keys)
      return fail(keys.error().prefix(conf.key_manager.location.str() + ": KeyManager \"disk\""));
    s->keys = std::move(*keys);
  } else {
    s->keys = makeMemoryKeyManager();
  }
  CaManagerConfig ca_config{.trust_domain = conf.trustDomain()};
  ca_config.ca_ttl = conf.ca_ttl;
  ca_config.key_type = keyTypeOf(conf.ca_key_type);
  ca_config.subject = NameSpec{conf.ca_subject.country, conf.ca_subject.organization, "",
                               conf.ca_subject.common_name};
  if (conf.upstream_authority) {
    const auto& up = *conf.upstream_authority;
    ca_config.upstream =
        UpstreamDisk{resolve(up.cert_file_path), resolve(up.key_file_path),
                     up.bundle_file_path.empty() ? fs::path() : resolve(up.bundle_file_path)};
  }
  ca_config.server_id = s->server_id;
  ca_config.data_dir = s->data_dir;
  s->ca = std::make_unique<CaManager>(std::move(ca_config), *s->store, *s->keys, s->clock);
  if (auto ok = s->ca->initialize(); !ok) {
    return fail(ok.error().prefix(conf.upstream_authority
                                      ? conf.upstream_authority->location.str() +
                                            ": UpstreamAuthority \"disk\""
                                      : "CA"));
  }
  s->recorder = std::make_unique<IssuedRecorder>(*s->store);
  CaManager* ca = s->ca.get();
  s->signer = std::make_unique<SvidSigner>([ca] { return ca->current(); }, *s->store, s->clock,
                                           conf.default_x509_svid_ttl, s->recorder.get());

  // What the services share.
  s->plane_owner = std::make_unique<ControlPlane>(conf.trustDomain());
  s->plane_ptr = s->plane_owner.get();
  ControlPlane& plane = *s->plane_ptr;
  plane.store = s->store.get();
  plane.ca = s->ca.get();
  plane.signer = s->signer.get();
  plane.clock = s->clock;
  plane.agent_ttl = conf.default_x509_svid_ttl;
  for (const auto& attestor : conf.node_attestors) {
    switch (attestor.kind) {
      case config::spire::ServerNodeAttestor::Kind::kJoinToken:
        plane.join_token_enabled = true;
        break;
      case config::spire::ServerNodeAttestor::Kind::kX509Pop: {
        auto x509pop = X509PopAttestor::load(resolve(attestor.ca_bundle_path), plane.td);
        if (!x509pop) {
          return fail(
              x509pop.error().prefix(attestor.location.str() + ": NodeAttestor \"x509pop\""));
        }
        plane.x509pop.emplace(std::move(*x509pop));
        break;
      }
      case config::spire::ServerNodeAttestor::Kind::kK8sPsat:
        plane.k8s_psat_enabled = true;
        break;
    }
  }
  if (auto ok = plane.refreshBundles(); !ok) return fail(ok.error());

  // The Node API's TLS files, then the server.
  auto tls_key = crypto::PrivateKey::generate(crypto::KeyType::kEcP256);
  if (!tls_key) return fail(tls_key.error());
  s->tls_key = std::make_unique<crypto::PrivateKey>(std::move(*tls_key));
  auto key_pem = s->tls_key->toPkcs8Pem();
  if (!key_pem) return fail(key_pem.error());
  if (auto ok = writeFileAtomic(s->tls_dir / "server.key", *key_pem, kPrivateKeyMode); !ok) {
    return fail(ok.error());
  }
  if (auto ok = s->renewServerSvid(); !ok) return fail(ok.error());
  plane.conf = conf;

  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      (s->tls_dir / "server.key").string(), (s->tls_dir / "server.crt").string(),
      (s->tls_dir / "bundle.crt").string(), kTlsRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  // Bootstrap calls (AttestAgent, FetchBundles) come without a certificate; the handlers of
  // the other calls require one. A certificate that is sent must chain to the bundle.
  tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  s->blocking = std::make_unique<asio::thread_pool>(kBlockingThreads);
  s->node_service = std::make_unique<NodeService>(plane, *s->blocking);
  grpc::ServerBuilder node_builder;
  // gRPC sets SO_REUSEPORT by default: a second server on the same port would then listen
  // beside this one (and take some of its agents) instead of failing "address in use".
  node_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const std::string listen = hostPort(conf.bind_address, conf.bind_port);
  node_builder.AddListeningPort(listen, grpc::experimental::TlsServerCredentials(tls),
                                &s->node_port);
  // Callback services only (control_plane.h), on both servers: a sync server's pollers would
  // poll the process's one epoll set and read the Node API's calls too, handing each over to
  // a callback thread.
  node_builder.RegisterService(s->node_service.get());
  s->node_server = node_builder.BuildAndStart();
  if (!s->node_server || s->node_port == 0) {
    return fail(Code::kUnavailable, where("server.bind_port") + "cannot listen on " + listen +
                                        " (address in use, or not an address of this host)");
  }

  // The Admin API on the unix socket (checked free above).
  s->admin_service = std::make_unique<AdminService>(plane, *s->blocking);
  grpc::ServerBuilder admin_builder;
  admin_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int admin_ok = 0;
  admin_builder.AddListeningPort("unix:" + s->socket_path.string(),
                                 grpc::InsecureServerCredentials(), &admin_ok);
  admin_builder.RegisterService(s->admin_service.get());
  s->admin_server = admin_builder.BuildAndStart();
  if (!s->admin_server || admin_ok == 0) {
    s->node_server->Shutdown();
    return fail(Code::kUnavailable,
                where("server.socket_path") + "cannot listen on " + s->socket_path.string());
  }
  ::chmod(s->socket_path.c_str(), 0600);
  if (struct stat st {}; ::stat(s->socket_path.c_str(), &st) == 0) s->socket_inode = st.st_ino;

  if (conf.health_checks && conf.health_checks->listener_enabled) {
    const State* raw = s.get();
    auto health = admin::HealthListener::start(
        *conf.health_checks, [raw](std::string& why) { return raw->ready(why); });
    if (!health) {
      s->node_server->Shutdown();
      s->admin_server->Shutdown();
      return fail(health.error());
    }
    s->health = std::move(*health);
  }

  // The control thread.
  s->timer = std::make_unique<asio::steady_timer>(s->io);
  s->last_prune = s->clock->now();
  State* raw = s.get();
  s->ca->setOnChange([raw] {
    asio::post(raw->io, [raw] {
      if (!raw->stopped) raw->tick_once();
    });
  });
  s->schedule();
  s->control = std::thread([raw] { raw->io.run(); });

  spdlog::info(
      "mutual server {} for trust domain {}: node API on {}, admin socket {}, "
      "datastore {}, CA authority {}",
      s->server_id, plane.td.name(), hostPort(conf.bind_address, s->node_port),
      s->socket_path.string(), s->store->backend(), s->ca->current()->authority_id);
  if (s->health) {
    spdlog::info("health checks on http://{}{} and {}", s->health->address(),
                 conf.health_checks->live_path, conf.health_checks->ready_path);
  }
  for (const auto& warning : conf.warnings) spdlog::warn("{}", warning);
  return std::unique_ptr<Server>(new Server(std::move(s)));
}

std::string Server::nodeAddress() const {
  std::string host = state_->conf.bind_address;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  return hostPort(host, state_->node_port);
}

int Server::nodePort() const { return state_->node_port; }
std::string Server::adminSocket() const { return state_->socket_path.string(); }
const spiffe::TrustDomain& Server::trustDomain() const { return state_->plane_ptr->td; }
const fs::path& Server::dataDir() const { return state_->data_dir; }

void Server::shutdown(std::chrono::seconds grace) {
  if (!state_ || state_->stopped.exchange(true)) return;
  const auto deadline = std::chrono::system_clock::now() + grace;
  if (state_->node_server) state_->node_server->Shutdown(deadline);
  if (state_->admin_server) state_->admin_server->Shutdown(deadline);
  if (state_->blocking) state_->blocking->join();
  if (state_->health) state_->health->stop();
  state_->ca->setOnChange(nullptr);
  state_->io.stop();
  if (state_->control.joinable()) state_->control.join();
  if (state_->recorder) {
    if (auto ok = state_->recorder->flush(); !ok) {
      spdlog::error("issued certificates: {}", ok.error().message);
    }
  }
  // Only the socket this server bound: never one another process has made there since.
  if (struct stat st {}; ::lstat(state_->socket_path.c_str(), &st) == 0 &&
                         st.st_ino == state_->socket_inode) {
    std::error_code ec;
    fs::remove(state_->socket_path, ec);
  }
  spdlog::info("server stopped");
}

}  // namespace mutual::server
