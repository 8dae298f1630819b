#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "tls/context.h"

// Byte streams over a connected, non-blocking TCP socket, with readiness waits so that an idle
// connection holds no buffer (design-notes §3.5): `waitReadable` parks without memory, then the
// caller borrows a block and calls `readNow`. Both kinds share one shape so the proxy's pump is
// written once.
namespace mutual::net {

using asio::ip::tcp;

// The outcome of a non-blocking read.
struct ReadResult {
  enum Kind { kData, kWouldBlock, kEof, kError } kind = kData;
  size_t bytes = 0;
  std::error_code error;
};

// Plaintext: the socket itself.
class PlainStream {
 public:
  explicit PlainStream(tcp::socket& socket) : socket_(socket) {}
  asio::awaitable<std::error_code> waitReadable();
  ReadResult readNow(std::span<char> buffer);
  asio::awaitable<std::error_code> writeAll(std::span<const char> data);
  // Half-close: FIN to the peer; reading continues.
  void shutdownWrite();
  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket& socket_;
};

// TLS on the socket's file descriptor, no intermediate buffers: OpenSSL reads and writes the fd
// through a BIO that first serves `prefix` (bytes already read while sniffing the
// ClientHello). The SSL comes from a tls context and is owned here.
class TlsStream {
 public:
  TlsStream(tcp::socket& socket, tls::SslPtr ssl, std::string prefix);

  // Runs the handshake to completion; returns 0 or the SSL_get_error value that ended it
  // (SSL_ERROR_SYSCALL when a wait failed or was cancelled). OpenSSL's error queue is left
  // for tls::recordHandshakeFailure.
  asio::awaitable<int> handshake();
  asio::awaitable<std::error_code> waitReadable();
  ReadResult readNow(std::span<char> buffer);
  asio::awaitable<std::error_code> writeAll(std::span<const char> data);
  // Sends close_notify (best effort, never waits long) and a TCP FIN.
  void shutdownWrite();
  SSL* ssl() const { return ssl_.get(); }

 private:
  tcp::socket& socket_;
  tls::SslPtr ssl_;
  bool want_write_for_read_ = false;
};

// Per-thread free list of 16 KiB blocks (one TLS record of plaintext). Lock-free because each
// worker thread has its own; a block goes back to the thread that returns it.
class BufferPool {
 public:
  static constexpr size_t kBlockSize = 16 * 1024;
  struct Release {
    void operator()(char* block) const noexcept;
  };
  using Block = std::unique_ptr<char[], Release>;
  static Block get();
};

}  // namespace mutual::net
