#include "workloadapi/client.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "workloadapi/convert.h"

namespace mutual::workloadapi {

namespace {

Error fromStatus(const grpc::Status& status) {
  return Error{static_cast<Code>(status.error_code()), status.error_message(), ""};
}

std::chrono::system_clock::time_point deadlineIn(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

void prepare(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.AddMetadata(std::string(kSecurityHeader), std::string(kSecurityHeaderValue));
  ctx.set_deadline(deadlineIn(timeout));
}

}  // namespace

Result<std::string> resolveAddress(std::string_view address) {
  std::string text(address);
  if (text.empty()) {
    const char* env = std::getenv(kEndpointSocketEnv);
    if (env == nullptr || *env == '\0') {
      return invalidArgument(std::string("no Workload API address: give one or set ") +
                             kEndpointSocketEnv);
    }
    text = env;
  }
  std::string path;
  if (text.starts_with("unix://")) {
    path = text.substr(7);
    if (!path.starts_with("/")) {
      return invalidArgument("Workload API address \"" + text +
                             "\": expected unix:///absolute/path (no authority)");
    }
  } else if (text.starts_with("unix:")) {
    return invalidArgument("Workload API address \"" + text +
                           "\": expected unix:///absolute/path, not an opaque unix: URI");
  } else if (text.find("://") != std::string::npos) {
    return invalidArgument("Workload API address \"" + text +
                           "\": only unix domain sockets are supported (unix:///path or /path)");
  } else {
    path = text;
    if (!path.starts_with("/")) {
      return invalidArgument("Workload API address \"" + text +
                             "\": a socket path must be absolute");
    }
  }
  if (path.find_first_of("?#") != std::string::npos) {
    return invalidArgument("Workload API address \"" + text +
                           "\": a query or fragment is not allowed");
  }
  return "unix://" + path;
}

struct Client::Impl {
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::shared_ptr<::SpiffeWorkloadAPI::Stub> stub;  // shared with watches, which may outlive us

  // Reads the first message of a server stream, then cancels the stream.
  template <typename Request, typename Response, typename Method>
  Result<Response> first(Method method, std::chrono::milliseconds timeout) {
    grpc::ClientContext ctx;
    prepare(ctx, timeout);
    Request request;
    auto reader = ((*stub).*method)(&ctx, request);
    Response response;
    if (reader->Read(&response)) {
      ctx.TryCancel();
      reader->Finish();
      return response;
    }
    grpc::Status status = reader->Finish();
    if (status.ok()) {
      return fail(Code::kUnavailable, "the Workload API closed the stream without a message");
    }
    return fail(fromStatus(status));
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(std::string_view address) {
  auto target = resolveAddress(address);
  if (!target) return fail(target.error());
  auto impl = std::make_unique<Impl>();
  impl->target = *target;
  grpc::ChannelArguments args;
  // One connection per client, not shared with other channels of the process: the server
  // attests callers per connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after the agent restarts (gRPC's default starts at 1 s and grows to
  // 120 s); a local socket is cheap to retry. Our watch adds its own backoff on top.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  impl->channel = grpc::CreateCustomChannel(impl->target, grpc::InsecureChannelCredentials(), args);
  impl->stub = ::SpiffeWorkloadAPI::NewStub(impl->channel);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::target() const { return impl_->target; }

Result<X509Context> Client::fetchX509(std::chrono::milliseconds timeout) {
  auto response = impl_->first<::X509SVIDRequest, ::X509SVIDResponse>(
      &::SpiffeWorkloadAPI::Stub::FetchX509SVID, timeout);
  if (!response) return fail(response.error());
  return internal::fromProto(*response);
}

Result<X509Bundles> Client::fetchBundles(std::chrono::milliseconds timeout) {
  auto response = impl_->first<::X509BundlesRequest, ::X509BundlesResponse>(
      &::SpiffeWorkloadAPI::Stub::FetchX509Bundles, timeout);
  if (!response) return fail(response.error());
  return internal::fromProto(*response);
}

Result<spiffe::JwtBundles> Client::fetchJwtBundles(std::chrono::milliseconds timeout) {
  auto response = impl_->first<::JWTBundlesRequest, ::JWTBundlesResponse>(
      &::SpiffeWorkloadAPI::Stub::FetchJWTBundles, timeout);
  if (!response) return fail(response.error());
  return internal::fromProto(*response);
}

Result<std::vector<JwtSvidToken>> Client::fetchJwt(const std::vector<std::string>& audience,
                                                   const std::optional<spiffe::SpiffeId>& id,
                                                   std::chrono::milliseconds timeout) {
  if (audience.empty()) return invalidArgument("a JWT-SVID needs at least one audience");
  grpc::ClientContext ctx;
  prepare(ctx, timeout);
  ::JWTSVIDRequest request;
  for (const auto& a : audience) request.add_audience(a);
  if (id) request.set_spiffe_id(id->str());
  ::JWTSVIDResponse response;
  grpc::Status status = impl_->stub->FetchJWTSVID(&ctx, request, &response);
  if (!status.ok()) return fail(fromStatus(status));
  return internal::fromProto(response);
}

Result<ValidatedJwt> Client::validateJwt(std::string_view token, const std::string& audience,
                                         std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  prepare(ctx, timeout);
  ::ValidateJWTSVIDRequest request;
  request.set_audience(audience);
  request.set_svid(std::string(token));
  ::ValidateJWTSVIDResponse response;
  grpc::Status status = impl_->stub->ValidateJWTSVID(&ctx, request, &response);
  if (!status.ok()) return fail(fromStatus(status));
  return internal::fromProto(response);
}

// ---- Watch ----------------------------------------------------------------------------------

namespace {

class X509Watch final : public Watch {
 public:
  X509Watch(std::shared_ptr<::SpiffeWorkloadAPI::Stub> stub,
            std::function<void(X509Context)> on_update, std::function<void(const Error&)> on_error,
            Backoff backoff)
      : stub_(std::move(stub)),
        on_update_(std::move(on_update)),
        on_error_(std::move(on_error)),
        backoff_(backoff) {
    thread_ = std::thread([this] { run(); });
  }
  ~X509Watch() override { stop(); }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  bool ended() const override { return ended_.load(); }

 private:
  void report(const Error& error) {
    if (on_error_) on_error_(error);
  }

  void run() {
    std::chrono::milliseconds wait = backoff_.initial;
    for (;;) {
      grpc::ClientContext ctx;
      ctx.AddMetadata(std::string(kSecurityHeader), std::string(kSecurityHeaderValue));
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        ctx_ = &ctx;
      }
      ::X509SVIDRequest request;
      // Fail fast: nothing listening is an error now, retried after the backoff wait.
      auto reader = stub_->FetchX509SVID(&ctx, request);
      ::X509SVIDResponse response;
      while (reader->Read(&response)) {
        auto context = internal::fromProto(response);
        if (!context) {
          report(context.error());
          continue;
        }
        wait = backoff_.initial;  // a good message resets the backoff
        {
          std::lock_guard lock(mu_);
          if (stopping_) break;
        }
        on_update_(std::move(*context));
      }
      grpc::Status status = reader->Finish();
      {
        std::lock_guard lock(mu_);
        ctx_ = nullptr;
        if (stopping_) return;
      }
      Error error = status.ok()
                        ? Error{Code::kUnavailable, "the Workload API closed the stream", ""}
                        : fromStatus(status);
      report(error);
      if (error.code == Code::kInvalidArgument) {
        ended_ = true;
        return;
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [this] { return stopping_; });
      if (stopping_) return;
      wait = std::min(wait + backoff_.step, backoff_.max);
    }
  }

  std::shared_ptr<::SpiffeWorkloadAPI::Stub> stub_;
  std::function<void(X509Context)> on_update_;
  std::function<void(const Error&)> on_error_;
  Backoff backoff_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;               // guarded by mu_
  grpc::ClientContext* ctx_ = nullptr;  // the open stream's, guarded by mu_
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Watch> Client::watchX509(std::function<void(X509Context)> on_update,
                                         std::function<void(const Error&)> on_error,
                                         Backoff backoff) {
  return std::make_unique<X509Watch>(impl_->stub, std::move(on_update), std::move(on_error),
                                     backoff);
}

}  // namespace mutual::workloadapi
