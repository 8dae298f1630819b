#include "workloadapi/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include "base/file.h"
#include "workloadapi/convert.h"

namespace mutual::workloadapi {

// ---- ChangeSignal ---------------------------------------------------------------------------

void ChangeSignal::notify() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

uint64_t ChangeSignal::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

uint64_t ChangeSignal::waitForChange(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return generation_ != seen; });
  return generation_;
}

namespace {

grpc::Status toStatus(const Error& error) {
  return grpc::Status(static_cast<grpc::StatusCode>(error.code), error.message);
}

const grpc::Status kNoIdentity(grpc::StatusCode::PERMISSION_DENIED, "no identity issued");
const grpc::Status kShuttingDown(grpc::StatusCode::UNAVAILABLE,
                                 "the Workload API is shutting down");

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

// Parses gRPC's peer string of an fd channel, "fd:<n>".
std::optional<int> fdOfPeer(std::string_view peer) {
  if (!peer.starts_with("fd:")) return std::nullopt;
  int fd = -1;
  auto [ptr, ec] = std::from_chars(peer.data() + 3, peer.data() + peer.size(), fd);
  if (ec != std::errc() || ptr != peer.data() + peer.size() || fd < 0) return std::nullopt;
  return fd;
}

// An open stream, as the server sees it: woken on provider changes, ended on shutdown.
class StreamBase {
 public:
  virtual ~StreamBase() = default;
  virtual void wake() = 0;
  virtual void shutdown() = 0;
};

}  // namespace

struct WorkloadApiServer::Impl {
  Impl(ServerOptions opts, IdentityProvider& p) : options(std::move(opts)), provider(p) {}

  ServerOptions options;
  IdentityProvider& provider;
  int listen_fd = -1;
  int wake_fd = -1;
  ino_t socket_inode = 0;
  std::unique_ptr<::SpiffeWorkloadAPI::CallbackService> service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::thread accept_thread;
  std::thread notifier_thread;
  std::atomic<bool> stopping{false};
  std::once_flag stop_once;

  // Connections accepted and handed to gRPC, by descriptor. An entry is replaced when the
  // kernel hands out the same descriptor for a new connection (the old one was closed by
  // gRPC first) and dropped when the descriptor no longer holds the recorded socket.
  struct Connection {
    Caller caller;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  mutable std::mutex connections_mu;
  std::map<int, Connection> connections;

  std::mutex streams_mu;
  std::set<StreamBase*> streams;  // guarded by streams_mu
  bool streams_closed = false;    // guarded by streams_mu: stop() has ended every stream

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> refused{0};

  Result<void> listen();
  void acceptLoop();
  void adopt(int fd);
  void pruneConnections();
  void notifierLoop();
  void stop();

  Result<Caller> callerForPeer(std::string_view peer) const;
  // The header check and the caller of a call (re-checked against procfs).
  Result<Caller> authorize(grpc::CallbackServerContext* ctx);

  // False once stop() ended the streams: the new stream must finish at once.
  bool registerStream(StreamBase* stream) {
    std::lock_guard lock(streams_mu);
    if (streams_closed) return false;
    streams.insert(stream);
    return true;
  }
  void unregisterStream(StreamBase* stream) {
    std::lock_guard lock(streams_mu);
    streams.erase(stream);
  }
};

namespace {

// A server-streaming call: the first message at once, then one whenever the provider's answer
// changes (compared byte for byte, so an unrelated change sends nothing), until the client
// goes away, the answer becomes an error, or the server stops. Every StartWrite and Finish
// happens under mu_ (gRPC never runs a write reactor's reactions inline, so no reaction can
// re-enter it); at most one write is in flight, and a Finish asked for during a write waits
// for that write.
template <typename Response>
class Stream final : public grpc::ServerWriteReactor<Response>, public StreamBase {
 public:
  using Compute = Result<Response> (*)(WorkloadApiServer::Impl&, const Caller&);

  Stream(WorkloadApiServer::Impl& impl, grpc::CallbackServerContext* ctx, Compute compute)
      : impl_(impl), compute_(compute) {
    auto caller = impl_.authorize(ctx);
    if (!caller) {
      impl_.refused++;
      finish(toStatus(caller.error()));
      return;
    }
    caller_ = std::move(*caller);
    if (!impl_.registerStream(this)) {
      finish(kShuttingDown);
      return;
    }
    wake();
  }

  void wake() override {
    std::lock_guard lock(mu_);
    sendLocked();
  }

  void shutdown() override { finish(kShuttingDown); }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (pending_finish_) {
      this->Finish(*pending_finish_);
      pending_finish_.reset();
      return;
    }
    if (!ok) {  // the client is gone
      finishLocked(grpc::Status::CANCELLED);
      return;
    }
    if (dirty_) {
      dirty_ = false;
      sendLocked();
    }
  }

  void OnCancel() override { finish(grpc::Status::CANCELLED); }

  void OnDone() override {
    impl_.unregisterStream(this);
    // Whoever last held mu_ has released it before we can take it; then nobody else can.
    { std::lock_guard lock(mu_); }
    delete this;
  }

 private:
  void sendLocked() {
    if (finished_) return;
    if (writing_) {
      dirty_ = true;
      return;
    }
    if (auto alive = recheckCaller(caller_); !alive) {
      impl_.refused++;
      finishLocked(toStatus(alive.error()));
      return;
    }
    auto response = compute_(impl_, caller_);
    if (!response) {
      impl_.refused++;
      finishLocked(toStatus(response.error()));
      return;
    }
    std::string bytes = internal::deterministicBytes(*response);
    if (sent_any_ && bytes == last_) return;
    sent_any_ = true;
    last_ = std::move(bytes);
    response_ = std::move(*response);
    writing_ = true;
    impl_.messages++;
    this->StartWrite(&response_);
  }

  void finish(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    finishLocked(status);
  }

  void finishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    if (writing_) {
      pending_finish_ = status;
      return;
    }
    this->Finish(status);
  }

  WorkloadApiServer::Impl& impl_;
  Compute compute_;
  Caller caller_;
  std::mutex mu_;
  bool finished_ = false;  // Finish called or pending: no more writes
  bool writing_ = false;
  bool dirty_ = false;  // a change arrived during a write
  bool sent_any_ = false;
  std::optional<grpc::Status> pending_finish_;
  Response response_;
  std::string last_;
};

Result<::X509SVIDResponse> computeX509Svid(WorkloadApiServer::Impl& impl, const Caller& caller) {
  auto context = impl.provider.x509Context(caller);
  if (!context) return fail(context.error());
  if (context->svids.empty()) return fail(Code::kPermissionDenied, "no identity issued");
  return internal::toProto(*context);
}

Result<::X509BundlesResponse> computeX509Bundles(WorkloadApiServer::Impl& impl,
                                                 const Caller& caller) {
  auto bundles = impl.provider.x509Bundles(caller);
  if (!bundles) return fail(bundles.error());
  if (bundles->bundles.empty()) return fail(Code::kPermissionDenied, "no identity issued");
  return internal::toProto(*bundles);
}

Result<::JWTBundlesResponse> computeJwtBundles(WorkloadApiServer::Impl& impl,
                                               const Caller& caller) {
  auto bundles = impl.provider.jwtBundles(caller);
  if (!bundles) return fail(bundles.error());
  if (bundles->empty()) return fail(Code::kPermissionDenied, "no identity issued");
  return internal::toProto(*bundles);
}

class Service final : public ::SpiffeWorkloadAPI::CallbackService {
 public:
  explicit Service(WorkloadApiServer::Impl& impl) : impl_(impl) {}

  grpc::ServerWriteReactor<::X509SVIDResponse>* FetchX509SVID(grpc::CallbackServerContext* ctx,
                                                              const ::X509SVIDRequest*) override {
    return new Stream<::X509SVIDResponse>(impl_, ctx, &computeX509Svid);
  }

  grpc::ServerWriteReactor<::X509BundlesResponse>* FetchX509Bundles(
      grpc::CallbackServerContext* ctx, const ::X509BundlesRequest*) override {
    return new Stream<::X509BundlesResponse>(impl_, ctx, &computeX509Bundles);
  }

  grpc::ServerWriteReactor<::JWTBundlesResponse>* FetchJWTBundles(
      grpc::CallbackServerContext* ctx, const ::JWTBundlesRequest*) override {
    return new Stream<::JWTBundlesResponse>(impl_, ctx, &computeJwtBundles);
  }

  grpc::ServerUnaryReactor* FetchJWTSVID(grpc::CallbackServerContext* ctx,
                                         const ::JWTSVIDRequest* request,
                                         ::JWTSVIDResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(fetchJwtSvid(ctx, *request, *response));
    return reactor;
  }

  grpc::ServerUnaryReactor* ValidateJWTSVID(grpc::CallbackServerContext* ctx,
                                            const ::ValidateJWTSVIDRequest* request,
                                            ::ValidateJWTSVIDResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(validateJwtSvid(ctx, *request, *response));
    return reactor;
  }

 private:
  grpc::Status refuse(const Error& error) {
    impl_.refused++;
    return toStatus(error);
  }

  grpc::Status fetchJwtSvid(grpc::CallbackServerContext* ctx, const ::JWTSVIDRequest& request,
                            ::JWTSVIDResponse& response) {
    auto caller = impl_.authorize(ctx);
    if (!caller) return refuse(caller.error());
    std::vector<std::string> audience(request.audience().begin(), request.audience().end());
    if (audience.empty()) return refuse({Code::kInvalidArgument, "audience must be specified", ""});
    for (const auto& a : audience) {
      if (a.empty()) return refuse({Code::kInvalidArgument, "audience must not be empty", ""});
    }
    std::optional<spiffe::SpiffeId> id;
    if (!request.spiffe_id().empty()) {
      auto parsed = spiffe::SpiffeId::parse(request.spiffe_id());
      if (!parsed) {
        return refuse(
            {Code::kInvalidArgument, "invalid requested SPIFFE ID: " + parsed.error().message, ""});
      }
      id = *parsed;
    }
    auto svids = impl_.provider.jwtSvids(*caller, audience, id);
    if (!svids) return refuse(svids.error());
    if (svids->empty()) {
      impl_.refused++;
      return kNoIdentity;
    }
    response = internal::toProto(*svids);
    return grpc::Status::OK;
  }

  grpc::Status validateJwtSvid(grpc::CallbackServerContext* ctx,
                               const ::ValidateJWTSVIDRequest& request,
                               ::ValidateJWTSVIDResponse& response) {
    auto caller = impl_.authorize(ctx);
    if (!caller) return refuse(caller.error());
    if (request.audience().empty()) {
      return refuse({Code::kInvalidArgument, "audience must be specified", ""});
    }
    if (request.svid().empty())
      return refuse({Code::kInvalidArgument, "svid must be specified", ""});
    auto validated = impl_.provider.validateJwt(*caller, request.svid(), request.audience());
    if (!validated) return refuse(validated.error());
    auto out = internal::toProto(*validated);
    if (!out) return refuse(out.error());
    response = std::move(*out);
    return grpc::Status::OK;
  }

  WorkloadApiServer::Impl& impl_;
};

}  // namespace

// ---- Callers --------------------------------------------------------------------------------

Result<Caller> WorkloadApiServer::Impl::callerForPeer(std::string_view peer) const {
  auto fd = fdOfPeer(peer);
  if (!fd)
    return fail(Code::kNotFound, "not a connection of this server: \"" + std::string(peer) + "\"");
  std::lock_guard lock(connections_mu);
  auto it = connections.find(*fd);
  if (it == connections.end()) {
    return fail(Code::kNotFound, "no connection recorded for " + std::string(peer));
  }
  // The descriptor must still hold the socket we recorded: gRPC may have closed it and
  // something else in the process opened another file under the same number.
  struct stat st {};
  if (fstat(*fd, &st) != 0 || st.st_dev != it->second.dev || st.st_ino != it->second.ino) {
    return fail(Code::kNotFound, "the connection of " + std::string(peer) + " is gone");
  }
  return it->second.caller;
}

Result<Caller> WorkloadApiServer::Impl::authorize(grpc::CallbackServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto range =
      metadata.equal_range(grpc::string_ref(kSecurityHeader.data(), kSecurityHeader.size()));
  size_t values = 0;
  bool valid = false;
  for (auto it = range.first; it != range.second; ++it) {
    ++values;
    valid = std::string_view(it->second.data(), it->second.size()) == kSecurityHeaderValue;
  }
  if (values != 1 || !valid) {
    return fail(Code::kInvalidArgument, "security header missing from request");
  }
  auto caller = callerForPeer(ctx->peer());
  if (!caller) {
    return fail(Code::kUnavailable, "workload attestation failed: " + caller.error().message);
  }
  if (auto alive = recheckCaller(*caller); !alive) return fail(alive.error());
  return caller;
}

// ---- Socket ---------------------------------------------------------------------------------

Result<void> WorkloadApiServer::Impl::listen() {
  const std::string& path = options.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return fail(Code::kInvalidArgument, "Workload API socket path \"" + path +
                                            "\": empty or longer than " +
                                            std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return fail(Code::kInternal, path + ": cannot create the directory: " + ec.message());
    ::chmod(parent.c_str(), 0755);
  }

  // A stale socket left by a crashed server is replaced; a live one is not.
  if (auto free = clearStaleSocket(path); !free) return fail(free.error());

  listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd < 0) return fail(Code::kInternal, errnoText("socket"));
  if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(Code::kInternal, errnoText(path + ": bind"));
  }
  // Everyone may connect: callers are told apart by their credentials.
  if (::chmod(path.c_str(), 0777) != 0) return fail(Code::kInternal, errnoText(path + ": chmod"));
  if (struct stat st {}; ::stat(path.c_str(), &st) == 0) socket_inode = st.st_ino;
  if (::listen(listen_fd, SOMAXCONN) != 0)
    return fail(Code::kInternal, errnoText(path + ": listen"));
  wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return fail(Code::kInternal, errnoText("eventfd"));
  return {};
}

void WorkloadApiServer::Impl::pruneConnections() {
  std::lock_guard lock(connections_mu);
  for (auto it = connections.begin(); it != connections.end();) {
    struct stat st {};
    const bool same =
        fstat(it->first, &st) == 0 && st.st_dev == it->second.dev && st.st_ino == it->second.ino;
    it = same ? std::next(it) : connections.erase(it);
  }
}

void WorkloadApiServer::Impl::adopt(int fd) {
  auto caller = callerFromSocket(fd);
  if (!caller) {
    spdlog::warn("workload API: dropping a connection: {}", caller.error().message);
    ::close(fd);
    return;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return;
  }
  spdlog::debug("workload API: connection from pid {} uid {} gid {} ({})", caller->pid, caller->uid,
                caller->gid, caller->binary_path.empty() ? "binary unknown" : caller->binary_path);
  pruneConnections();
  {
    std::lock_guard lock(connections_mu);
    connections[fd] = Connection{std::move(*caller), st.st_dev, st.st_ino};
  }
  accepted++;
  // gRPC owns the descriptor from here on and closes it when the connection ends.
  grpc::AddInsecureChannelFromFd(grpc_server.get(), fd);
}

void WorkloadApiServer::Impl::acceptLoop() {
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  while (!stopping.load()) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("workload API: poll: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (stopping.load()) break;
    for (;;) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        adopt(fd);
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors or memory: back off instead of spinning.
      spdlog::warn("workload API: accept: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      break;
    }
  }
}

void WorkloadApiServer::Impl::notifierLoop() {
  uint64_t seen = provider.generation();
  while (!stopping.load()) {
    const uint64_t now = provider.waitForChange(seen, std::chrono::milliseconds(100));
    if (now == seen || stopping.load()) continue;
    seen = now;
    std::lock_guard lock(streams_mu);
    for (StreamBase* stream : streams) stream->wake();
  }
}

void WorkloadApiServer::Impl::stop() {
  std::call_once(stop_once, [this] {
    stopping = true;
    if (wake_fd >= 0) {
      const uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
    }
    if (accept_thread.joinable()) accept_thread.join();
    if (notifier_thread.joinable()) notifier_thread.join();
    if (listen_fd >= 0) {
      ::close(listen_fd);
      listen_fd = -1;
      // Remove the socket only if it is still ours (not a successor's).
      struct stat st {};
      if (::lstat(options.socket_path.c_str(), &st) == 0 && st.st_ino == socket_inode) {
        ::unlink(options.socket_path.c_str());
      }
    }
    {
      std::lock_guard lock(streams_mu);
      streams_closed = true;
      for (StreamBase* stream : streams) stream->shutdown();
    }
    if (grpc_server) {
      grpc_server->Shutdown(std::chrono::system_clock::now() + options.shutdown_grace);
      grpc_server.reset();
    }
    if (wake_fd >= 0) {
      ::close(wake_fd);
      wake_fd = -1;
    }
    std::lock_guard lock(connections_mu);
    connections.clear();
  });
}

// ---- WorkloadApiServer ----------------------------------------------------------------------

Result<std::unique_ptr<WorkloadApiServer>> WorkloadApiServer::start(ServerOptions options,
                                                                    IdentityProvider& provider) {
  auto impl = std::make_unique<Impl>(std::move(options), provider);
  std::unique_ptr<WorkloadApiServer> server(new WorkloadApiServer(std::move(impl)));
  Impl& s = *server->impl_;
  if (auto listening = s.listen(); !listening) return fail(listening.error());

  s.service = std::make_unique<Service>(s);
  grpc::ServerBuilder builder;
  builder.RegisterService(s.service.get());
  s.grpc_server = builder.BuildAndStart();
  if (!s.grpc_server) return fail(Code::kInternal, "cannot start the gRPC server");
  s.notifier_thread = std::thread([&s] { s.notifierLoop(); });
  s.accept_thread = std::thread([&s] { s.acceptLoop(); });
  spdlog::info("workload API: serving on {}", s.options.socket_path);
  return server;
}

WorkloadApiServer::WorkloadApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WorkloadApiServer::~WorkloadApiServer() { stop(); }

void WorkloadApiServer::stop() { impl_->stop(); }

const std::string& WorkloadApiServer::socketPath() const { return impl_->options.socket_path; }

ServerStats WorkloadApiServer::stats() const {
  ServerStats out;
  out.connections = impl_->accepted.load();
  out.stream_messages = impl_->messages.load();
  out.refused_calls = impl_->refused.load();
  std::lock_guard lock(impl_->streams_mu);
  out.open_streams = impl_->streams.size();
  return out;
}

Result<Caller> WorkloadApiServer::callerForPeer(std::string_view peer) const {
  return impl_->callerForPeer(peer);
}

}  // namespace mutual::workloadapi
