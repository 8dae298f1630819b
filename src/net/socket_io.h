#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "tls/context.h"

// Byte streams over a connected, non-blocking TCP socket. Two ways to read, with one shape for
// both kinds so the proxy's pump is written once:
//  - `waitReadable` then `readNow`: parks without memory (design-notes §3.5), for connections
//    that may stay idle. Asio re-arms epoll (EPOLL_CTL_MOD) for every such wait.
//  - `read`: a receive into a pooled block, Asio's edge-triggered path with no epoll_ctl at
//    all once the socket is registered; for connections that are moving data.
namespace mutual::net {

using asio::ip::tcp;

// Per-thread free lists of blocks in three sizes: 2 KiB for small messages, so a long-lived
// connection that goes quiet after small exchanges parks a small block; 16 KiB (one TLS record
// of plaintext) once messages fill that; and 64 KiB for bulk transfers, plaintext and
// ciphertext (a record is 16,406 bytes on the wire: a 16 KiB receive would take two system
// calls per record, a 64 KiB one takes about four records, and the other side then sends
// them as one write). Lock-free because each worker thread has its own lists; a block goes
// back to the list of the thread that returns it.
class BufferPool {
 public:
  static constexpr size_t kBlockSize = 16 * 1024;
  static constexpr size_t kSmallBlockSize = 2 * 1024;
  static constexpr size_t kLargeBlockSize = 64 * 1024;
  struct Release {
    size_t size = kBlockSize;
    void operator()(char* block) const noexcept;
  };
  using Block = std::unique_ptr<char[], Release>;
  // `size` is kSmallBlockSize, kBlockSize or kLargeBlockSize.
  static Block get(size_t size = kBlockSize);
  static size_t sizeOf(const Block& block) { return block.get_deleter().size; }
};

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
  // Borrows a block of `size` into `block` and receives into it.
  asio::awaitable<ReadResult> read(BufferPool::Block& block, size_t size);
  asio::awaitable<std::error_code> writeAll(std::span<const char> data);
  // Half-close: FIN to the peer; reading continues.
  void shutdownWrite();
  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket& socket_;
};

struct FdBioState;

// TLS on the socket's file descriptor: OpenSSL writes the fd directly and reads through a BIO
// that serves, in order, `prefix` (bytes already read while sniffing the ClientHello), the
// bytes of the last `read`'s receive, then the fd itself. The SSL comes from a tls context and
// is owned here.
class TlsStream {
 public:
  TlsStream(tcp::socket& socket, tls::SslPtr ssl, std::string prefix);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Runs the handshake to completion; returns 0 or the SSL_get_error value that ended it
  // (SSL_ERROR_SYSCALL when a wait failed or was cancelled). OpenSSL's error queue is left
  // for tls::recordHandshakeFailure.
  asio::awaitable<int> handshake();
  asio::awaitable<std::error_code> waitReadable();
  ReadResult readNow(std::span<char> buffer);
  // Receives ciphertext (into a pooled block the BIO holds until OpenSSL has taken it), then
  // borrows `block` of `size` and decrypts into it every record already received that fits.
  asio::awaitable<ReadResult> read(BufferPool::Block& block, size_t size);
  asio::awaitable<std::error_code> writeAll(std::span<const char> data);
  // Sends close_notify (best effort, never waits long) and a TCP FIN.
  void shutdownWrite();
  SSL* ssl() const { return ssl_.get(); }

 private:
  // Receives into a fresh pooled block of `block_size` that the BIO serves to OpenSSL.
  asio::awaitable<std::error_code> receiveCiphertext(size_t block_size);

  tcp::socket& socket_;
  tls::SslPtr ssl_;
  struct FdBioState* bio_state_ = nullptr;  // owned by the SSL's BIO
  bool want_write_for_read_ = false;
};

}  // namespace mutual::net
