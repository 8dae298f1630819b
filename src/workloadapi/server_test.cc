#include "workloadapi/server.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "base/testing.h"
#include "ca/authority.h"
#include "spiffe/workload.grpc.pb.h"
#include "workloadapi/client.h"
#include "workloadapi/fake_provider.h"

// The Workload API server with a fake identity provider on a temp socket, driven by our own
// client (and by a raw gRPC stub where the client would not misbehave): what is served, the
// security header, PermissionDenied / Unavailable, streams pushing rotations and ending on
// shutdown, and the caller recorded from SO_PEERCRED.

namespace mutual::workloadapi {
namespace {

using mutual::testing::must;
using mutual::testing::TempDir;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeIdentityProvider;

spiffe::TrustDomain td(const char* name) { return must(spiffe::TrustDomain::parse(name)); }
spiffe::SpiffeId id(const char* text) { return must(spiffe::SpiffeId::parse(text)); }

template <typename T>
Code codeOf(const Result<T>& r) {
  return r ? Code::kOk : r.error().code;
}
template <typename T>
std::string messageOf(const Result<T>& r) {
  return r ? std::string("(succeeded)") : r.error().message;
}

// What a watch delivered, for a test thread to wait on.
class Inbox {
 public:
  void update(X509Context context) {
    std::lock_guard lock(mu_);
    updates_.push_back(std::move(context));
    cv_.notify_all();
  }
  void error(const Error& error) {
    std::lock_guard lock(mu_);
    errors_.push_back(error);
    cv_.notify_all();
  }
  // Waits (up to 10 s, never expected to be reached) for the n-th update, 1-based.
  std::optional<X509Context> waitUpdate(size_t n) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, seconds(10), [&] { return updates_.size() >= n; })) return std::nullopt;
    return updates_[n - 1];
  }
  std::optional<Error> waitError(size_t n) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, seconds(10), [&] { return errors_.size() >= n; })) return std::nullopt;
    return errors_[n - 1];
  }
  size_t updates() {
    std::lock_guard lock(mu_);
    return updates_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<X509Context> updates_;
  std::vector<Error> errors_;
};

class WorkloadApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = must(ca::createRoot(
        {td("example.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""}, clock_));
    root_ = root.cert;
    FakeIdentityProvider::Options options{id("spiffe://example.org/ns/shop/sa/cart")};
    options.hint = "internal";
    provider_ = must(FakeIdentityProvider::create(std::move(root), options, clock_));
    socket_ = (dir_.path() / "agent" / "public" / "api.sock").string();
    server_ = must(WorkloadApiServer::start({socket_}, *provider_));
    client_ = must(Client::create("unix://" + socket_));
  }

  // A raw stub, to send what our client never would.
  std::unique_ptr<::SpiffeWorkloadAPI::Stub> rawStub() {
    return ::SpiffeWorkloadAPI::NewStub(
        grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials()));
  }

  RealClock clock_;
  TempDir dir_;
  crypto::Certificate root_{nullptr};
  std::unique_ptr<FakeIdentityProvider> provider_;
  std::string socket_;
  std::unique_ptr<WorkloadApiServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(WorkloadApiServerTest, ServesX509Svid) {
  auto context = must(client_->fetchX509());
  ASSERT_EQ(context.svids.size(), 1u);
  const X509Svid& svid = context.svids[0];
  EXPECT_EQ(svid.id.str(), "spiffe://example.org/ns/shop/sa/cart");
  EXPECT_EQ(svid.hint, "internal");
  EXPECT_EQ(svid.leaf().serialHex(), provider_->current().leaf().serialHex());
  EXPECT_TRUE(svid.leaf().matchesKey(*svid.key));
  ASSERT_EQ(svid.bundle.size(), 1u);
  EXPECT_EQ(svid.bundle[0].sha256Fingerprint(), root_.sha256Fingerprint());
  EXPECT_TRUE(context.federated_bundles.empty());
}

TEST_F(WorkloadApiServerTest, SocketIsWorldConnectableInCreatedDirectory) {
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0777u);
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() / "agent" / "public"));
}

TEST_F(WorkloadApiServerTest, RefusesASecondServerAndNonSockets) {
  auto second = WorkloadApiServer::start({socket_}, *provider_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Code::kAlreadyExists) << second.error().message;

  const std::string file = (dir_.path() / "not-a-socket").string();
  std::ofstream(file) << "keep me";
  auto refused = WorkloadApiServer::start({file}, *provider_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(WorkloadApiServerTest, ReplacesAStaleSocket) {
  // A socket file whose server is gone (bound, then closed without unlink).
  const std::string stale = (dir_.path() / "stale.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, stale.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  auto server = must(WorkloadApiServer::start({stale}, *provider_));
  auto client = must(Client::create(stale));
  EXPECT_TRUE(client->fetchX509());
  server->stop();
  EXPECT_FALSE(std::filesystem::exists(stale)) << "stop() removes the socket";
}

TEST_F(WorkloadApiServerTest, RecordsTheCallerFromPeerCredentials) {
  must(client_->fetchX509());
  auto callers = provider_->callers();
  ASSERT_FALSE(callers.empty());
  const Caller& caller = callers.back();
  EXPECT_EQ(caller.pid, ::getpid());
  EXPECT_EQ(caller.uid, ::getuid());
  EXPECT_EQ(caller.gid, ::getgid());
  EXPECT_EQ(caller.binary_path, std::filesystem::read_symlink("/proc/self/exe").string());
  EXPECT_EQ(caller.start_time, must(processStartTime(::getpid())));
  const passwd* pw = ::getpwuid(::getuid());
  EXPECT_EQ(caller.user_name, pw != nullptr ? pw->pw_name : "");
  const group* gr = ::getgrgid(::getgid());
  EXPECT_EQ(caller.group_name, gr != nullptr ? gr->gr_name : "");

  // gRPC 1.51 names the peer of an fd channel "fd:<n>": the call above was only answered
  // because the server found the caller under that name. Find the descriptor.
  int found = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    auto recorded = server_->callerForPeer("fd:" + std::to_string(fd));
    if (recorded && recorded->pid == ::getpid()) ++found;
  }
  EXPECT_EQ(found, 1);
  EXPECT_FALSE(server_->callerForPeer("unix:/tmp/x.sock"));
  EXPECT_FALSE(server_->callerForPeer("fd:"));
  EXPECT_FALSE(server_->callerForPeer("fd:-1"));
  EXPECT_FALSE(server_->callerForPeer("fd:1x"));
}

TEST_F(WorkloadApiServerTest, RefusesCallsWithoutTheSecurityHeader) {
  auto stub = rawStub();
  auto expectRefused = [&](const std::vector<std::pair<std::string, std::string>>& metadata,
                           const char* what) {
    grpc::ClientContext ctx;
    for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(5));
    auto reader = stub->FetchX509SVID(&ctx, ::X509SVIDRequest());
    ::X509SVIDResponse response;
    EXPECT_FALSE(reader->Read(&response)) << what;
    grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
    EXPECT_EQ(status.error_message(), "security header missing from request") << what;
  };
  expectRefused({}, "no header");
  expectRefused({{"workload.spiffe.io", "false"}}, "header false");
  expectRefused({{"workload.spiffe.io", "True"}}, "header True");
  expectRefused({{"workload.spiffe.io", "true"}, {"workload.spiffe.io", "true"}}, "header twice");

  grpc::ClientContext ctx;
  ::JWTSVIDRequest request;
  request.add_audience("db");
  ::JWTSVIDResponse response;
  grpc::Status status = stub->FetchJWTSVID(&ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "security header missing from request");

  // With the header the same raw stub is served.
  grpc::ClientContext ok;
  ok.AddMetadata("workload.spiffe.io", "true");
  auto reader = stub->FetchX509SVID(&ok, ::X509SVIDRequest());
  ::X509SVIDResponse x509;
  EXPECT_TRUE(reader->Read(&x509));
  ok.TryCancel();
  reader->Finish();
}

TEST_F(WorkloadApiServerTest, PermissionDeniedWithoutIdentity) {
  provider_->setEntitled(false);
  auto x509 = client_->fetchX509();
  EXPECT_EQ(codeOf(x509), Code::kPermissionDenied);
  EXPECT_EQ(messageOf(x509), "no identity issued");
  auto bundles = client_->fetchBundles();
  EXPECT_EQ(codeOf(bundles), Code::kPermissionDenied);
  EXPECT_EQ(messageOf(bundles), "no identity issued");
  auto jwt_bundles = client_->fetchJwtBundles();
  EXPECT_EQ(codeOf(jwt_bundles), Code::kPermissionDenied);
  EXPECT_EQ(messageOf(jwt_bundles), "no identity issued");
  auto jwt = client_->fetchJwt({"db"});
  EXPECT_EQ(codeOf(jwt), Code::kPermissionDenied);
  EXPECT_EQ(messageOf(jwt), "no identity issued");
}

TEST_F(WorkloadApiServerTest, UnavailableWhileNotReady) {
  provider_->setReady(false);
  auto x509 = client_->fetchX509();
  ASSERT_FALSE(x509);
  EXPECT_EQ(x509.error().code, Code::kUnavailable);
  EXPECT_EQ(x509.error().message, "identity not available yet");
  EXPECT_EQ(codeOf(client_->fetchJwt({"db"})), Code::kUnavailable);
  provider_->setReady(true);
  EXPECT_TRUE(client_->fetchX509());
}

TEST_F(WorkloadApiServerTest, UnavailableWhenNothingListens) {
  auto client = must(Client::create((dir_.path() / "nobody.sock").string()));
  auto x509 = client->fetchX509(seconds(2));
  ASSERT_FALSE(x509);
  EXPECT_EQ(x509.error().code, Code::kUnavailable) << x509.error().message;
}

TEST_F(WorkloadApiServerTest, RotationPushesANewMessageOnTheOpenStream) {
  Inbox inbox;
  auto watch = client_->watchX509([&](X509Context c) { inbox.update(std::move(c)); },
                                  [&](const Error& e) { inbox.error(e); });
  auto first = inbox.waitUpdate(1);
  ASSERT_TRUE(first);
  const uint64_t connections = server_->stats().connections;
  must(provider_->rotate());
  auto second = inbox.waitUpdate(2);
  ASSERT_TRUE(second);
  EXPECT_NE(second->svids[0].leaf().serialHex(), first->svids[0].leaf().serialHex());
  EXPECT_EQ(second->svids[0].leaf().serialHex(), provider_->current().leaf().serialHex());
  EXPECT_EQ(server_->stats().connections, connections) << "the same stream, no reconnect";
  EXPECT_EQ(server_->stats().open_streams, 1u);

  // A federated bundle appears in the next message, and goes away again.
  auto other = must(ca::createRoot(
      {td("other.org"), std::chrono::hours(24), crypto::KeyType::kEcP256, ""}, clock_));
  provider_->setFederated(td("other.org"), {other.cert});
  auto third = inbox.waitUpdate(3);
  ASSERT_TRUE(third);
  ASSERT_EQ(third->federated_bundles.count(td("other.org")), 1u);
  EXPECT_EQ(third->federated_bundles.at(td("other.org"))[0].sha256Fingerprint(),
            other.cert.sha256Fingerprint());
  provider_->setFederated(td("other.org"), {});
  auto fourth = inbox.waitUpdate(4);
  ASSERT_TRUE(fourth);
  EXPECT_TRUE(fourth->federated_bundles.empty());
  watch->stop();
}

TEST_F(WorkloadApiServerTest, StreamEndsWithPermissionDeniedWhenIdentityIsRevoked) {
  Inbox inbox;
  auto watch = client_->watchX509([&](X509Context c) { inbox.update(std::move(c)); },
                                  [&](const Error& e) { inbox.error(e); },
                                  Backoff{milliseconds(50), milliseconds(50), milliseconds(100)});
  ASSERT_TRUE(inbox.waitUpdate(1));
  provider_->setEntitled(false);
  auto error = inbox.waitError(1);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, Code::kPermissionDenied);
  // The watch keeps retrying and recovers once the identity is back.
  provider_->setEntitled(true);
  EXPECT_TRUE(inbox.waitUpdate(2));
  EXPECT_FALSE(watch->ended());
}

TEST_F(WorkloadApiServerTest, ShutdownEndsOpenStreams) {
  Inbox inbox;
  auto watch = client_->watchX509([&](X509Context c) { inbox.update(std::move(c)); },
                                  [&](const Error& e) { inbox.error(e); });
  ASSERT_TRUE(inbox.waitUpdate(1));
  ASSERT_EQ(server_->stats().open_streams, 1u);
  server_->stop();
  auto error = inbox.waitError(1);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, Code::kUnavailable);
  EXPECT_EQ(error->message, "the Workload API is shutting down");
  EXPECT_EQ(server_->stats().open_streams, 0u);
  EXPECT_FALSE(std::filesystem::exists(socket_));
  server_->stop();  // idempotent
  watch->stop();
}

TEST_F(WorkloadApiServerTest, X509BundlesStream) {
  auto bundles = must(client_->fetchBundles());
  ASSERT_EQ(bundles.bundles.count(td("example.org")), 1u);
  EXPECT_EQ(bundles.bundles.at(td("example.org"))[0].sha256Fingerprint(),
            root_.sha256Fingerprint());
}

TEST_F(WorkloadApiServerTest, JwtSvidsAndValidation) {
  auto svids = must(client_->fetchJwt({"db", "cache"}));
  ASSERT_EQ(svids.size(), 1u);
  EXPECT_EQ(svids[0].id.str(), "spiffe://example.org/ns/shop/sa/cart");
  EXPECT_EQ(svids[0].hint, "internal");

  // Checked locally against the JWT bundles the server hands out...
  auto bundles = must(client_->fetchJwtBundles());
  ASSERT_EQ(bundles.count(td("example.org")), 1u);
  auto local = must(spiffe::validateJwtSvid(svids[0].token, bundles, {"cache"}, clock_.now()));
  EXPECT_EQ(local.id.str(), "spiffe://example.org/ns/shop/sa/cart");

  // ... and by the server.
  auto validated = must(client_->validateJwt(svids[0].token, "db"));
  EXPECT_EQ(validated.id.str(), "spiffe://example.org/ns/shop/sa/cart");
  EXPECT_EQ(validated.claims["sub"], "spiffe://example.org/ns/shop/sa/cart");
  EXPECT_EQ(validated.claims["aud"], nlohmann::json::array({"db", "cache"}));
  EXPECT_TRUE(validated.claims["exp"].is_number());

  auto wrong = client_->validateJwt(svids[0].token, "other");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Code::kInvalidArgument);
  EXPECT_EQ(messageOf(client_->validateJwt("", "db")), "svid must be specified");
  EXPECT_EQ(messageOf(client_->validateJwt(svids[0].token, "")), "audience must be specified");

  // Asking for an identity the caller does not have.
  auto other = client_->fetchJwt({"db"}, id("spiffe://example.org/admin"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Code::kPermissionDenied);

  // An empty audience is refused by the server (through a raw stub: our client refuses it).
  auto stub = rawStub();
  grpc::ClientContext ctx;
  ctx.AddMetadata("workload.spiffe.io", "true");
  ::JWTSVIDResponse response;
  grpc::Status status = stub->FetchJWTSVID(&ctx, ::JWTSVIDRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "audience must be specified");
}

TEST_F(WorkloadApiServerTest, ClientTakesTheEndpointFromTheEnvironment) {
  ::setenv(kEndpointSocketEnv, ("unix://" + socket_).c_str(), 1);
  auto client = must(Client::create());
  ::unsetenv(kEndpointSocketEnv);
  EXPECT_EQ(client->target(), "unix://" + socket_);
  EXPECT_TRUE(client->fetchX509());
}

// ---- Caller facts ---------------------------------------------------------------------------

TEST(CallerTest, ParsesStartTimeAfterTrickyCommandNames) {
  // Field 22 is starttime; the command name (field 2) may hold spaces and parentheses.
  const std::string tail = " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21";
  EXPECT_EQ(must(parseStartTime("123 (cat)" + tail)), 424242u);
  EXPECT_EQ(must(parseStartTime("123 (a) b (c))" + tail)), 424242u);
  EXPECT_FALSE(parseStartTime("123 cat S 1 2"));
  EXPECT_FALSE(parseStartTime("123 (cat) S 1 2 3"));
  EXPECT_FALSE(parseStartTime("123 (cat) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x 20"));
}

TEST(CallerTest, RecheckRefusesAReusedPid) {
  Caller self = describeProcess(::getpid(), ::getuid(), ::getgid());
  EXPECT_TRUE(recheckCaller(self));
  Caller reused = self;
  reused.start_time += 1;  // same pid, another process
  auto refused = recheckCaller(reused);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kUnavailable);
  EXPECT_NE(refused.error().message.find("workload attestation failed"), std::string::npos);

  // A process that has exited.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  Caller gone = describeProcess(child, ::getuid(), ::getgid());
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_FALSE(recheckCaller(gone));
  Caller nopid;
  EXPECT_FALSE(recheckCaller(nopid));
}

TEST(ResolveAddressTest, Forms) {
  EXPECT_EQ(must(resolveAddress("/run/agent.sock")), "unix:///run/agent.sock");
  EXPECT_EQ(must(resolveAddress("unix:///run/agent.sock")), "unix:///run/agent.sock");
  for (const char* bad :
       {"run/agent.sock", "unix:run/agent.sock", "unix://host/agent.sock", "unix://",
        "tcp://127.0.0.1:8000", "unix:///a.sock?x=1", "unix:///a.sock#f", "http://x"}) {
    auto r = resolveAddress(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    }
  }
  ::unsetenv(kEndpointSocketEnv);
  EXPECT_FALSE(resolveAddress(""));
}

}  // namespace
}  // namespace mutual::workloadapi
