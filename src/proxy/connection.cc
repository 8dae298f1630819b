// The connection pipeline (ARCHITECTURE.md, "A connection"): admit, sniff, mode, handshake,
// identity, authorize, upstream, splice, close. Coroutines are named functions taking their
// arguments by value, or by reference when the caller's frame provably outlives them
// (design-notes §3.4); none throws on the data path.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include <asio/experimental/as_tuple.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <openssl/err.h>
#include <spdlog/spdlog.h>

#include "net/client_hello.h"
#include "net/socket_io.h"
#include "policy/authz.h"
#include "policy/linkerd_authz.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"

namespace mutual::proxy {
namespace {

using namespace asio::experimental::awaitable_operators;
using SteadyClock = std::chrono::steady_clock;
using telemetry::ConnectionRecord;
using telemetry::Direction;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleepFor(SteadyClock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  co_await timer.async_wait(kNoThrow);
}

std::string addressOf(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  return address.is_v6() ? "[" + address.to_string() + "]:" + std::to_string(endpoint.port())
                         : address.to_string() + ":" + std::to_string(endpoint.port());
}

std::string localOf(const tcp::socket& socket) {
  std::error_code ec;
  auto endpoint = socket.local_endpoint(ec);
  return ec ? "" : addressOf(endpoint);
}

// Our streams call recv and send on the descriptor, so it must be non-blocking. Asio's own
// flag for that is set once: async_connect has already set it on upstream sockets, and setting
// it here spares the ioctl Asio would repeat at the first asynchronous operation.
void makeNonBlocking(tcp::socket& socket) {
  std::error_code ignored;
  if (!socket.native_non_blocking()) socket.native_non_blocking(true, ignored);
}

// An accepted socket inherits TCP_NODELAY from its listener (Linux; see Worker's listeners).
void prepareAccepted(tcp::socket& socket) { makeNonBlocking(socket); }

void prepareConnected(tcp::socket& socket) {
  makeNonBlocking(socket);
  std::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
}

// The metric reason of a handshake failure (telemetry's fixed set).
std::string handshakeReason(tls::Failure failure) {
  switch (failure) {
    case tls::Failure::kNoCertificateLoaded: return std::string(telemetry::kHandshakeNoCertificateLoaded);
    case tls::Failure::kPlaintextUnderStrict: return std::string(telemetry::kHandshakePlaintextUnderStrict);
    case tls::Failure::kUnknownCa: return std::string(telemetry::kHandshakeUnknownCa);
    case tls::Failure::kExpired: return std::string(telemetry::kHandshakeExpired);
    case tls::Failure::kIdNotAllowed: return std::string(telemetry::kHandshakeSpiffeIdNotAllowed);
    default: return std::string(tls::failureMetricReason(failure));
  }
}

// The failure reason of the access log: the named reason, then what OpenSSL or the
// verification said.
std::string failureText(const tls::PeerCheck& check) {
  std::string text(tls::failureName(check.failure));
  if (!check.detail.empty() && check.detail != text) text += ": " + check.detail;
  return text;
}

// Sockets of open connections, so the end of a drain can close them.
class LiveSockets {
 public:
  explicit LiveSockets(Worker& worker) : worker_(worker) {}
  ~LiveSockets() {
    for (tcp::socket* socket : mine_) worker_.live_sockets.erase(socket);
  }
  void add(tcp::socket& socket) {
    worker_.live_sockets.insert(&socket);
    mine_.push_back(&socket);
  }

 private:
  Worker& worker_;
  std::vector<tcp::socket*> mine_;
};

// One connection's bookkeeping: the record, the admission slot and the metrics; finishing it
// writes the access-log line, the metrics and the edge exactly once.
class Tracker {
 public:
  // `peer`: the downstream's address, as accept returned it.
  Tracker(Worker& worker, Direction direction, std::string listener, const tcp::socket& socket,
          const tcp::endpoint& peer)
      : worker_(worker), started_(SteadyClock::now()) {
    record.connection_id = worker.proxy.nextConnectionId();
    record.start_time = std::chrono::system_clock::now();
    record.direction = direction;
    record.listener = std::move(listener);
    record.downstream_remote_address = addressOf(peer);
    // Local addresses are for the access log only: a getsockname each.
    if (worker.proxy.accessLog() != nullptr) record.downstream_local_address = localOf(socket);
    record.connection_security_policy = "unknown";
    worker.metrics.connectionOpened(direction, record.listener);
  }
  ~Tracker() {
    record.duration = SteadyClock::now() - started_;
    worker_.metrics.connectionClosed(record);
    if (auto* log = worker_.proxy.accessLog()) log->write(telemetry::accessLogJson(record));
    worker_.proxy.edgeTable().record(record);
    if (admitted_) worker_.proxy.release();
  }
  // Takes a slot under the connection limit; without one, records the rejection (UO).
  bool admit() {
    admitted_ = worker_.proxy.admit();
    if (!admitted_) {
      record.response_flags = "UO";
      record.connection_termination_details = "connection_limit";
      worker_.metrics.connectionRejected();
    }
    return admitted_;
  }
  // A failed dial of the upstream: the record says UF and why.
  void upstreamConnectFailed(const std::error_code& ec) {
    record.response_flags = "UF";
    record.upstream_transport_failure_reason = "upstream_connect_failure: " + ec.message();
  }
  void noteUpstreamLocal(const tcp::socket& up) {
    if (worker_.proxy.accessLog() != nullptr) record.upstream_local_address = localOf(up);
  }
  void handshakeStarted() {
    record.handshake.attempted = true;
    handshake_started_ = SteadyClock::now();
  }
  void handshakeDone(const tls::PeerCheck& check, const tls::PeerInfo* peer) {
    record.handshake.duration = SteadyClock::now() - handshake_started_;
    record.handshake.ok = peer != nullptr;
    if (peer == nullptr) {
      record.handshake.reason = handshakeReason(check.failure);
      // docs/metrics.md: a failed handshake where mTLS was expected is tls="no_identity", its
      // named failure the no_tls_reason (a fixed set, so the label stays bounded).
      record.tls = "no_identity";
      record.no_tls_reason = std::string(tls::failureName(check.failure));
      return;
    }
    record.handshake.session_resumed = peer->resumed;
    record.tls_version = peer->version;
    record.tls_cipher = peer->cipher;
    record.alpn = peer->alpn;
    if (record.requested_server_name.empty()) record.requested_server_name = peer->sni;
    record.peer_principal = peer->id ? peer->id->str() : "";
    if (peer->certificate && worker_.proxy.accessLog() != nullptr) {
      record.peer_cert_serial = peer->certificate->serialHex();
      record.peer_cert_fingerprint_sha256 = peer->certificate->sha256Hex();
    }
  }

  ConnectionRecord record;

 private:
  Worker& worker_;
  SteadyClock::time_point started_;
  SteadyClock::time_point handshake_started_;
  bool admitted_ = false;
};

// ---- splicing ---------------------------------------------------------------------------------

struct Activity {
  SteadyClock::time_point last = SteadyClock::now();
};

enum class PumpEnd { kEof, kReadError, kWriteError };

// Copies `from` to `to` until EOF (then half-closes `to`) or an error (then shuts both
// sockets down, so the other direction ends as well: a reset is not a half-close). The first
// read waits without a buffer, so connections opened and left idle hold none; once data moves,
// reads are receives into pooled blocks (no epoll re-arming per read), sized by the last read
// so a connection that goes quiet after small messages parks a small block.
template <class From, class To>
asio::awaitable<PumpEnd> pump(From& from, To& to, uint64_t& bytes, Activity& activity,
                              int from_fd, int to_fd) {
  PumpEnd end = PumpEnd::kEof;
  bool moving = false;
  size_t size = net::BufferPool::kSmallBlockSize;
  for (;;) {
    net::BufferPool::Block block;
    net::ReadResult read;
    if (moving) {
      read = co_await from.read(block, size);
    } else if (co_await from.waitReadable()) {
      read.kind = net::ReadResult::kError;
    } else {
      block = net::BufferPool::get(size);
      read = from.readNow({block.get(), size});
    }
    if (read.kind == net::ReadResult::kWouldBlock) continue;
    if (read.kind == net::ReadResult::kEof) break;
    if (read.kind == net::ReadResult::kError) {
      end = PumpEnd::kReadError;
      break;
    }
    moving = true;
    // Full blocks step up (2 KiB, 16 KiB, 64 KiB for bulk transfers); smaller reads step down.
    if (read.bytes == net::BufferPool::sizeOf(block)) {
      size = size == net::BufferPool::kSmallBlockSize ? net::BufferPool::kBlockSize
                                                      : net::BufferPool::kLargeBlockSize;
    } else if (read.bytes < net::BufferPool::kSmallBlockSize) {
      size = net::BufferPool::kSmallBlockSize;
    } else if (read.bytes < net::BufferPool::kBlockSize) {
      size = net::BufferPool::kBlockSize;
    }
    bytes += read.bytes;
    activity.last = SteadyClock::now();
    if (co_await to.writeAll({block.get(), read.bytes})) {
      end = PumpEnd::kWriteError;
      break;
    }
  }
  if (end == PumpEnd::kEof) {
    to.shutdownWrite();
  } else {
    ::shutdown(from_fd, SHUT_RDWR);
    ::shutdown(to_fd, SHUT_RDWR);
  }
  co_return end;
}

// Envoy's TCP flags from how the two pumps ended: DC when the downstream connection failed
// (reading it in the first pump, writing it in the second), UC when the upstream one did. A
// write error belongs to the side written to: a client that resets mid-download makes the
// upstream-to-downstream pump fail on its write, which is the downstream's doing.
void setSpliceFlags(ConnectionRecord& record, PumpEnd down_to_up, PumpEnd up_to_down) {
  if (down_to_up == PumpEnd::kReadError || up_to_down == PumpEnd::kWriteError) {
    record.response_flags = "DC";
  } else if (down_to_up == PumpEnd::kWriteError || up_to_down == PumpEnd::kReadError) {
    record.response_flags = "UC";
  }
}

// Both directions until both end (half-close aware), or until nothing moved for `idle` (zero:
// no limit). Each direction is its own coroutine and this one only waits on a timer, woken when
// a direction ends: Asio's awaitable operators (a || watchdog over a && of the two) kept two
// parallel groups, four spawned frames and a watchdog coroutine alive per idle connection,
// about 4 KB of the ~33 KB an idle connection cost a proxy (heaptrack). The directions refer
// to this frame, so it returns only after both have ended.
template <class Down, class Up>
asio::awaitable<void> splice(Down& down, Up& up, tcp::socket& down_socket,
                             tcp::socket& up_socket, Tracker& tracker, SteadyClock::duration idle) {
  struct Direction {
    bool done = false;
    PumpEnd end = PumpEnd::kEof;
  };
  Activity activity;
  Direction to_up, to_down;
  auto& record = tracker.record;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer wake(executor);
  auto finished = [&wake](Direction& direction) {
    return [&wake, &direction](std::exception_ptr, PumpEnd end) {
      direction.end = end;  // pump does not throw
      direction.done = true;
      wake.cancel();
    };
  };
  const int down_fd = down_socket.native_handle();
  const int up_fd = up_socket.native_handle();
  asio::co_spawn(executor, pump(down, up, record.bytes_received, activity, down_fd, up_fd),
                 finished(to_up));
  asio::co_spawn(executor, pump(up, down, record.bytes_sent, activity, up_fd, down_fd),
                 finished(to_down));
  bool timed_out = false;
  while (!to_up.done || !to_down.done) {
    if (idle.count() == 0 || timed_out) {
      wake.expires_at(SteadyClock::time_point::max());
    } else if (SteadyClock::now() - activity.last >= idle) {
      // Both directions fail, as on a reset; the shutdown also ends an operation a direction
      // starts after the cancel (one whose completion was already queued).
      timed_out = true;
      std::error_code ignored;
      down_socket.cancel(ignored);
      up_socket.cancel(ignored);
      ::shutdown(down_fd, SHUT_RDWR);
      ::shutdown(up_fd, SHUT_RDWR);
      continue;
    } else {
      wake.expires_at(activity.last + idle);
    }
    co_await wake.async_wait(kNoThrow);
  }
  if (timed_out) {
    record.connection_termination_details = "idle_timeout";
  } else {
    setSpliceFlags(record, to_up.end, to_down.end);
  }
}

// Writes bytes already read from the downstream (the sniffed prefix) before splicing.
template <class Up>
asio::awaitable<bool> forwardPrefix(Up& up, const std::string& prefix, Tracker& tracker) {
  if (prefix.empty()) co_return true;
  tracker.record.bytes_received += prefix.size();
  co_return !(co_await up.writeAll({prefix.data(), prefix.size()}));
}

asio::awaitable<std::error_code> connectWithin(tcp::socket& socket, tcp::endpoint endpoint,
                                               SteadyClock::duration timeout) {
  auto result = co_await (socket.async_connect(endpoint, kNoThrow) || sleepFor(timeout));
  if (result.index() == 1) co_return std::make_error_code(std::errc::timed_out);
  co_return std::get<0>(std::get<0>(result));
}

// ---- sniffing and handshakes ------------------------------------------------------------------

struct Sniffed {
  net::SniffResult result;
  bool closed = false;  // the peer closed or failed before the ClientHello was complete
};

// Reads (and keeps in `prefix`) until the first bytes say TLS ClientHello or not.
asio::awaitable<Sniffed> sniff(tcp::socket& socket, std::string& prefix) {
  net::PlainStream stream(socket);
  for (;;) {
    auto result = net::sniffClientHello(
        {reinterpret_cast<const uint8_t*>(prefix.data()), prefix.size()});
    if (result.status != net::SniffStatus::kNeedMore) co_return Sniffed{std::move(result)};
    if (co_await stream.waitReadable()) co_return Sniffed{std::move(result), true};
    size_t want = std::max<size_t>(result.needed > prefix.size() ? result.needed - prefix.size() : 1, 512);
    want = std::min(want, net::kMaxClientHelloBytes - std::min(prefix.size(), net::kMaxClientHelloBytes) + 1);
    size_t old = prefix.size();
    prefix.resize(old + want);
    net::ReadResult read = stream.readNow({prefix.data() + old, want});
    prefix.resize(old + (read.kind == net::ReadResult::kData ? read.bytes : 0));
    if (read.kind == net::ReadResult::kEof || read.kind == net::ReadResult::kError) {
      co_return Sniffed{std::move(result), true};
    }
  }
}

asio::awaitable<int> handshakeWithin(net::TlsStream& stream, SteadyClock::duration timeout) {
  auto result = co_await (stream.handshake() || sleepFor(timeout));
  if (result.index() == 1) co_return -1;
  co_return std::get<0>(result);
}

asio::awaitable<Sniffed> sniffWithin(tcp::socket& socket, std::string& prefix,
                                     SteadyClock::duration timeout, bool& timed_out) {
  auto result = co_await (sniff(socket, prefix) || sleepFor(timeout));
  timed_out = result.index() == 1;
  if (timed_out) co_return Sniffed{{}, true};
  co_return std::get<0>(std::move(result));
}

SteadyClock::duration seconds(Seconds s) { return std::chrono::duration_cast<SteadyClock::duration>(s); }

// ---- authorization ----------------------------------------------------------------------------

// An endpoint's address as the policies compare it (an IPv4-mapped IPv6 address as the IPv4
// address it carries); nullopt when the socket no longer has one. `remote`: the peer's (the
// source of an inbound connection), else ours (the destination it connected to).
std::optional<config::IpAddress> endpointAddress(const tcp::socket& socket, bool remote) {
  std::error_code ec;
  const auto endpoint = remote ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
  if (ec) return std::nullopt;
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  config::IpAddress out;
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  } else {
    out.v6 = true;
    const auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  }
  return out;
}

// Both authorization layers, before any upstream connection: Istio's AuthorizationPolicies,
// then Linkerd's (the port's Server, its authorizations and accessPolicy, or the default
// inbound policy); a deny by either denies. Records the decision (authz_rule: the denying
// policy, else the allowing rule, Istio's first, unless a Linkerd audit let the peer in;
// authz_reason: why it was denied or audited). True when the connection may go on.
bool authorizeInbound(const Snapshot& snapshot, const InboundPlan& plan,
                      const config::ProxyWorkload& workload,
                      const std::optional<std::string>& peer_id, bool mesh_tls,
                      const tcp::socket& down, ConnectionRecord& record) {
  policy::AuthzConnection connection{.peer_id = peer_id,
                                     .source = endpointAddress(down, true),
                                     .destination = endpointAddress(down, false)};
  policy::AuthzDecision decision;
  if (!connection.source || !connection.destination) {
    // Gone already; unknown addresses would make address conditions hold (the offline rule).
    decision = {false, "", "the connection's addresses are no longer known (the peer left)"};
  } else {
    decision = policy::authorize(snapshot.authorization_policies, snapshot.mesh,
                                 workload.namespace_name, workload.labels, plan.port, connection);
  }
  if (decision.allowed && plan.linkerd.decides()) {
    policy::LinkerdPeer peer;
    if (peer_id) peer.id = *peer_id;
    peer.mesh_tls = mesh_tls;
    peer.address = connection.source;
    auto linkerd = policy::authorizeLinkerd(plan.linkerd, peer);
    if (!linkerd.allowed || decision.policy.empty() || linkerd.audit) decision = std::move(linkerd);
  }
  record.authz_decision = decision.allowed ? "allow" : "deny";
  record.authz_rule = std::move(decision.policy);
  record.authz_reason = std::move(decision.reason);
  if (decision.allowed) return true;
  record.connection_termination_details = "authz_denied";
  spdlog::debug("conn={} inbound {}: denied: {}", record.connection_id, plan.name,
                record.authz_reason);
  return false;
}

// ---- inbound ----------------------------------------------------------------------------------

// Dials inbound port `index`'s application into `up` within timeouts.connect; false (the
// record says UF and why) when that fails.
asio::awaitable<bool> connectApplication(Worker& worker, size_t index, tcp::socket& up,
                                         Tracker& tracker) {
  auto endpoint = worker.routes.inbound_forward[index];
  tracker.record.upstream_host = addressOf(endpoint);
  if (auto ec = co_await connectWithin(up, endpoint,
                                       seconds(worker.proxy.config().timeouts.connect))) {
    tracker.upstreamConnectFailed(ec);
    co_return false;
  }
  prepareConnected(up);
  tracker.noteUpstreamLocal(up);
  co_return true;
}

// Forwards a downstream that stays plaintext (DISABLE, PERMISSIVE plaintext, other TLS) to the
// application, after authorization without a peer identity.
asio::awaitable<void> forwardPlain(Worker& worker, size_t index, tcp::socket& down,
                                   std::string prefix, Tracker& tracker, LiveSockets& live,
                                   const Snapshot& snapshot) {
  const auto& config = worker.proxy.config();
  const auto& plan = snapshot.inbound[index];
  if (!authorizeInbound(snapshot, plan, config.workload, std::nullopt, false, down,
                        tracker.record)) {
    co_return;
  }
  tcp::socket up(worker.io);
  live.add(up);
  if (!co_await connectApplication(worker, index, up, tracker)) co_return;
  net::PlainStream down_stream(down), up_stream(up);
  if (!co_await forwardPrefix(up_stream, prefix, tracker)) co_return;
  co_await splice(down_stream, up_stream, down, up, tracker,
                  seconds(config.timeouts.idle));
}

asio::awaitable<void> serveInbound(Worker& worker, size_t index, tcp::socket down,
                                   tcp::endpoint downstream_peer) {
  auto snapshot = worker.snapshot;
  const auto& plan = snapshot->inbound[index];
  const auto& config = worker.proxy.config();
  Tracker tracker(worker, Direction::kInbound, plan.name, down, downstream_peer);
  auto& record = tracker.record;
  LiveSockets live(worker);
  live.add(down);
  if (snapshot->credentials) record.local_principal = snapshot->credentials->id.str();
  if (!tracker.admit()) co_return;
  prepareAccepted(down);

  if (plan.mode.mode == config::MtlsMode::kDisable) {
    record.connection_security_policy = "none";
    record.tls = "disabled";
    record.no_tls_reason = "disabled";
    co_await forwardPlain(worker, index, down, {}, tracker, live, *snapshot);
    co_return;
  }

  // One deadline for the ClientHello and the handshake together (docs/proxy.md,
  // timeouts.handshake): a client trickling its ClientHello must not earn a second full timeout
  // for the rest of the handshake.
  const auto handshake_deadline = SteadyClock::now() + seconds(config.timeouts.handshake);
  std::string prefix;
  bool timed_out = false;
  Sniffed sniffed =
      co_await sniffWithin(down, prefix, handshake_deadline - SteadyClock::now(), timed_out);
  const bool strict = plan.mode.mode == config::MtlsMode::kStrict;
  if (sniffed.closed) {
    record.handshake.attempted = strict;
    record.handshake.reason = timed_out ? std::string(telemetry::kHandshakeTimeout)
                                        : std::string(telemetry::kHandshakeProtocol);
    record.downstream_transport_failure_reason =
        timed_out ? "handshake_timeout: no ClientHello within the handshake timeout"
                  : "peer_closed: the connection ended before the first bytes were complete";
    if (!strict) record.handshake.reason.clear();
    record.tls = "no_identity";
    record.no_tls_reason = timed_out ? "handshake_timeout" : "peer_closed";
    co_return;
  }
  const bool is_tls = sniffed.result.status == net::SniffStatus::kTls;
  record.requested_server_name = sniffed.result.hello.sni;
  bool mesh_alpn = false;
  for (const auto& alpn : sniffed.result.hello.alpn) mesh_alpn = mesh_alpn || tls::isMeshAlpn(alpn);

  if (!is_tls) {
    if (strict) {
      record.connection_security_policy = "none";
      record.handshake.attempted = true;
      record.handshake.reason = handshakeReason(tls::Failure::kPlaintextUnderStrict);
      record.downstream_transport_failure_reason =
          "plaintext_under_strict: the peer sent plaintext to a STRICT port";
      record.tls = "no_identity";
      record.no_tls_reason = "plaintext_under_strict";
      co_return;
    }
    record.connection_security_policy = "none";
    record.tls = "no_identity";
    record.no_tls_reason = "no_tls_from_remote";
    co_await forwardPlain(worker, index, down, std::move(prefix), tracker, live, *snapshot);
    co_return;
  }
  if (!strict && !mesh_alpn) {
    // PERMISSIVE and TLS that is not the mesh's: the application's own TLS, passed untouched
    // (istio-mtls.md §1.6).
    record.connection_security_policy = "none";
    record.tls = "opaque";
    record.no_tls_reason = "not_mesh_tls";
    co_await forwardPlain(worker, index, down, std::move(prefix), tracker, live, *snapshot);
    co_return;
  }

  // Mesh mTLS.
  tls::PeerCheck check;
  tracker.handshakeStarted();
  if (!snapshot->server) {
    check.failure = tls::Failure::kNoCertificateLoaded;
    check.detail = snapshot->no_svid_reason + "; refusing mTLS (fail closed)";
    tracker.handshakeDone(check, nullptr);
    record.downstream_transport_failure_reason = failureText(check);
    co_return;
  }
  auto ssl = snapshot->server->newSsl(check);
  if (!ssl) {
    check.failure = tls::Failure::kConfig;
    check.detail = ssl.error().message;
    tracker.handshakeDone(check, nullptr);
    record.downstream_transport_failure_reason = failureText(check);
    co_return;
  }
  net::TlsStream tls_down(down, std::move(*ssl), std::move(prefix));
  int hs = co_await handshakeWithin(tls_down, handshake_deadline - SteadyClock::now());
  if (hs == -1) {
    check.failure = tls::Failure::kTimeout;
    check.detail = "the handshake did not finish within " + formatDuration(config.timeouts.handshake);
    ERR_clear_error();
  } else if (hs != 0) {
    tls::recordHandshakeFailure(tls_down.ssl(), hs, check);
  }
  Result<tls::PeerInfo> peer = hs == 0 ? tls::finishHandshake(tls_down.ssl(), check, true)
                                       : fail(Code::kUnauthenticated, "handshake failed");
  if (!peer) {
    if (check.failure == tls::Failure::kNone) check.failure = tls::Failure::kProtocol;
    tracker.handshakeDone(check, nullptr);
    record.downstream_transport_failure_reason = failureText(check);
    record.connection_security_policy = "mutual_tls";
    co_return;
  }
  tracker.handshakeDone(check, &*peer);
  record.connection_security_policy = "mutual_tls";
  record.tls = "true";

  if (!authorizeInbound(*snapshot, plan, config.workload,
                        peer->id ? std::optional(peer->id->str()) : std::nullopt, true, down,
                        record)) {
    tls_down.shutdownWrite();
    co_return;
  }

  tcp::socket up(worker.io);
  live.add(up);
  if (!co_await connectApplication(worker, index, up, tracker)) {
    tls_down.shutdownWrite();
    co_return;
  }
  net::PlainStream up_stream(up);
  co_await splice(tls_down, up_stream, down, up, tracker,
                  seconds(config.timeouts.idle));
}

// ---- outbound ---------------------------------------------------------------------------------

asio::awaitable<void> serveOutbound(Worker& worker, size_t index, tcp::socket down,
                                    tcp::endpoint downstream_peer) {
  auto snapshot = worker.snapshot;
  const auto& plan = snapshot->outbound[index];
  const auto& config = worker.proxy.config();
  Tracker tracker(worker, Direction::kOutbound, plan.name, down, downstream_peer);
  auto& record = tracker.record;
  LiveSockets live(worker);
  live.add(down);
  if (snapshot->credentials) record.local_principal = snapshot->credentials->id.str();
  if (!tracker.admit()) co_return;
  prepareAccepted(down);
  record.connection_security_policy = plan.kind == OutboundPlan::Kind::kPlaintext ? "none" : "mutual_tls";
  if (plan.kind == OutboundPlan::Kind::kExternal) record.connection_security_policy = "none";

  if (!plan.error.empty()) {
    record.handshake.attempted = plan.kind != OutboundPlan::Kind::kPlaintext;
    tls::PeerCheck check;
    check.failure = plan.no_svid ? tls::Failure::kNoCertificateLoaded : tls::Failure::kConfig;
    check.detail = plan.error;
    record.handshake.reason = handshakeReason(check.failure);
    record.tls = "no_identity";
    record.no_tls_reason = std::string(tls::failureName(check.failure));
    record.upstream_transport_failure_reason = failureText(check);
    record.response_flags = "UF";
    co_return;
  }

  // Dial the endpoints in the rotation's order, each at most once.
  const auto& endpoints = worker.routes.outbound_endpoints[index];
  EndpointRotation& rotation = worker.endpoints[index];
  tcp::socket up(worker.io);
  live.add(up);
  std::error_code connect_error = std::make_error_code(std::errc::host_unreachable);
  bool first = true;
  for (size_t e : rotation.order(EndpointRotation::Clock::now())) {
    record.upstream_host = addressOf(endpoints[e]);
    if (!first) {
      std::error_code ignored;
      up.close(ignored);
    }
    first = false;
    const auto dialled = EndpointRotation::Clock::now();
    connect_error = co_await connectWithin(up, endpoints[e], seconds(config.timeouts.connect));
    if (!connect_error) {
      rotation.succeeded(e, dialled);
      break;
    }
    rotation.failed(e, dialled, EndpointRotation::Clock::now());
  }
  if (connect_error) {
    tracker.upstreamConnectFailed(connect_error);
    co_return;
  }
  prepareConnected(up);
  tracker.noteUpstreamLocal(up);
  net::PlainStream down_stream(down);

  if (plan.kind == OutboundPlan::Kind::kPlaintext) {
    record.tls = "disabled";
    record.no_tls_reason = "disabled";
    net::PlainStream up_stream(up);
    co_await splice(down_stream, up_stream, down, up, tracker,
                    seconds(config.timeouts.idle));
    co_return;
  }

  tls::PeerCheck check;
  check.trust_domain = plan.trust_domain;
  check.allowed_ids = plan.allowed_ids;
  check.expected_sans = plan.expected_sans;
  check.session_key = plan.name + "|" + record.upstream_host;
  if (plan.insecure_skip_verify) {
    spdlog::warn("conn={} outbound {}: insecureSkipVerify is set by DestinationRule {}: the "
                 "server certificate is not verified",
                 record.connection_id, plan.name, plan.destination_rule);
  }
  tracker.handshakeStarted();
  record.requested_server_name = plan.sni;  // logged when the handshake fails too
  auto ssl = plan.context->newSsl(check, plan.sni);
  if (!ssl) {
    check.failure = tls::Failure::kConfig;
    check.detail = ssl.error().message;
    tracker.handshakeDone(check, nullptr);
    record.upstream_transport_failure_reason = failureText(check);
    record.response_flags = "UF";
    co_return;
  }
  net::TlsStream tls_up(up, std::move(*ssl), {});
  int hs = co_await handshakeWithin(tls_up, seconds(config.timeouts.handshake));
  if (hs == -1) {
    check.failure = tls::Failure::kTimeout;
    check.detail = "the handshake did not finish within " + formatDuration(config.timeouts.handshake);
    ERR_clear_error();
  } else if (hs != 0) {
    tls::recordHandshakeFailure(tls_up.ssl(), hs, check);
  }
  const bool mesh = plan.kind == OutboundPlan::Kind::kMesh;
  Result<tls::PeerInfo> peer = hs == 0 ? tls::finishHandshake(tls_up.ssl(), check, mesh)
                                       : fail(Code::kUnauthenticated, "handshake failed");
  if (!peer) {
    if (check.failure == tls::Failure::kNone) check.failure = tls::Failure::kProtocol;
    tracker.handshakeDone(check, nullptr);
    record.upstream_transport_failure_reason = failureText(check);
    record.response_flags = "UF";
    co_return;
  }
  tracker.handshakeDone(check, &*peer);
  record.requested_server_name = plan.sni;
  record.tls = mesh ? "true" : "no_identity";
  if (!mesh) record.no_tls_reason = "not_mesh_tls";
  co_await splice(down_stream, tls_up, down, up, tracker,
                  seconds(config.timeouts.idle));
}

}  // namespace

asio::awaitable<void> acceptLoop(Worker& worker, tcp::acceptor& acceptor, bool inbound,
                                 size_t listener) {
  tcp::endpoint peer;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(peer, kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors or memory: back off instead of spinning (ghostunnel).
      spdlog::warn("accept: {}", ec.message());
      co_await sleepFor(std::chrono::milliseconds(50));
      continue;
    }
    if (inbound) {
      asio::co_spawn(worker.io, serveInbound(worker, listener, std::move(socket), peer),
                     asio::detached);
    } else {
      asio::co_spawn(worker.io, serveOutbound(worker, listener, std::move(socket), peer),
                     asio::detached);
    }
  }
}

}  // namespace mutual::proxy
