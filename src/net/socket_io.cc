#include "net/socket_io.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/err.h>

namespace mutual::net {

// What the BIO reads before it reads the fd: the sniffed prefix, then a received block.
struct FdBioState {
  int fd = -1;
  std::string prefix;
  size_t offset = 0;
  BufferPool::Block input;
  size_t input_begin = 0;
  size_t input_end = 0;
  bool eof = false;
  bool more = false;  // more records follow the one being written: MSG_MORE
  // False during the handshake: OpenSSL reads only what a receive brought in (see handshake).
  bool direct_reads = true;

  bool buffered() const { return offset < prefix.size() || input_begin < input_end; }
};

namespace {

constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxRecordPlaintext = 16384;  // TLS's limit, OpenSSL's default fragment

// ---- a BIO over the socket fd that first serves what was read ahead of OpenSSL -------------

int fdBioWrite(BIO* bio, const char* data, size_t len, size_t* written) {
  auto* state = static_cast<FdBioState*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  ssize_t n = ::send(state->fd, data, len, MSG_NOSIGNAL | (state->more ? MSG_MORE : 0));
  if (n >= 0) {
    *written = static_cast<size_t>(n);
    return 1;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(bio);
  return 0;
}

int fdBioRead(BIO* bio, char* out, size_t len, size_t* read_bytes) {
  auto* state = static_cast<FdBioState*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (state->offset < state->prefix.size()) {
    size_t n = std::min(len, state->prefix.size() - state->offset);
    std::memcpy(out, state->prefix.data() + state->offset, n);
    state->offset += n;
    if (state->offset == state->prefix.size()) std::string().swap(state->prefix);
    *read_bytes = n;
    return 1;
  }
  if (state->input_begin < state->input_end) {
    size_t n = std::min(len, state->input_end - state->input_begin);
    std::memcpy(out, state->input.get() + state->input_begin, n);
    state->input_begin += n;
    if (state->input_begin == state->input_end) {
      state->input.reset();  // back to the pool: an idle connection holds no block
      state->input_begin = state->input_end = 0;
    }
    *read_bytes = n;
    return 1;
  }
  if (state->eof) return 0;
  if (!state->direct_reads) {
    BIO_set_retry_read(bio);
    return 0;
  }
  ssize_t n = ::recv(state->fd, out, len, 0);
  if (n > 0) {
    *read_bytes = static_cast<size_t>(n);
    return 1;
  }
  if (n == 0) {
    state->eof = true;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    BIO_set_retry_read(bio);
  }
  return 0;
}

long fdBioCtrl(BIO* bio, int cmd, long, void*) {
  auto* state = static_cast<FdBioState*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_EOF: return state != nullptr && state->eof ? 1 : 0;
    case BIO_CTRL_PENDING:
      return state != nullptr ? static_cast<long>(state->prefix.size() - state->offset +
                                                  state->input_end - state->input_begin)
                              : 0;
    default: return 0;
  }
}

int fdBioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int fdBioDestroy(BIO* bio) {
  delete static_cast<FdBioState*>(BIO_get_data(bio));
  BIO_set_data(bio, nullptr);
  return 1;
}

const BIO_METHOD* fdBioMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mutual socket");
    BIO_meth_set_write_ex(m, fdBioWrite);
    BIO_meth_set_read_ex(m, fdBioRead);
    BIO_meth_set_ctrl(m, fdBioCtrl);
    BIO_meth_set_create(m, fdBioCreate);
    BIO_meth_set_destroy(m, fdBioDestroy);
    return m;
  }();
  return method;
}

// ---- the per-thread buffer pool -------------------------------------------------------------

// Free blocks kept per thread and size: enough for the connections a worker moves data on at
// once; the 64 KiB ones are held only during bulk transfers.
constexpr size_t kPooledBlocks = 256;
constexpr size_t kPooledLargeBlocks = 32;
thread_local std::vector<char*> free_blocks;
thread_local std::vector<char*> free_small_blocks;
thread_local std::vector<char*> free_large_blocks;

struct PoolCleaner {
  ~PoolCleaner() {
    for (auto* list : {&free_blocks, &free_small_blocks, &free_large_blocks}) {
      for (char* block : *list) delete[] block;
      list->clear();
    }
  }
};
thread_local PoolCleaner pool_cleaner;

size_t sizeClass(size_t size) {
  if (size == BufferPool::kSmallBlockSize || size == BufferPool::kLargeBlockSize) return size;
  return BufferPool::kBlockSize;
}

std::vector<char*>& freeList(size_t size) {
  if (size == BufferPool::kSmallBlockSize) return free_small_blocks;
  if (size == BufferPool::kLargeBlockSize) return free_large_blocks;
  return free_blocks;
}

}  // namespace

void BufferPool::Release::operator()(char* block) const noexcept {
  (void)&pool_cleaner;  // makes sure the thread's cleaner exists
  auto& list = freeList(size);
  if (list.size() < (size == kLargeBlockSize ? kPooledLargeBlocks : kPooledBlocks)) {
    list.push_back(block);
  } else {
    delete[] block;
  }
}

BufferPool::Block BufferPool::get(size_t size) {
  (void)&pool_cleaner;
  size = sizeClass(size);
  auto& list = freeList(size);
  if (!list.empty()) {
    char* block = list.back();
    list.pop_back();
    return Block(block, Release{size});
  }
  return Block(new char[size], Release{size});
}

namespace {

// Asio's receive: speculative, then parked on the edge-triggered registration (no epoll_ctl).
ReadResult receiveResult(const std::error_code& ec, size_t n) {
  if (!ec) return {ReadResult::kData, n, {}};
  if (ec == asio::error::eof) return {ReadResult::kEof, 0, {}};
  return {ReadResult::kError, 0, ec};
}

}  // namespace

// ---- PlainStream ------------------------------------------------------------------------------

asio::awaitable<std::error_code> PlainStream::waitReadable() {
  auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, kNoThrow);
  co_return ec;
}

ReadResult PlainStream::readNow(std::span<char> buffer) {
  ssize_t n = ::recv(socket_.native_handle(), buffer.data(), buffer.size(), 0);
  if (n > 0) return {ReadResult::kData, static_cast<size_t>(n), {}};
  if (n == 0) return {ReadResult::kEof, 0, {}};
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {ReadResult::kWouldBlock, 0, {}};
  return {ReadResult::kError, 0, std::error_code(errno, std::system_category())};
}

asio::awaitable<ReadResult> PlainStream::read(BufferPool::Block& block, size_t size) {
  block = BufferPool::get(size);
  auto [ec, n] = co_await socket_.async_receive(
      asio::buffer(block.get(), BufferPool::sizeOf(block)), kNoThrow);
  co_return receiveResult(ec, n);
}

asio::awaitable<std::error_code> PlainStream::writeAll(std::span<const char> data) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                                            kNoThrow);
  co_return ec;
}

void PlainStream::shutdownWrite() {
  std::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

// ---- TlsStream --------------------------------------------------------------------------------

TlsStream::TlsStream(tcp::socket& socket, tls::SslPtr ssl, std::string prefix)
    : socket_(socket), ssl_(std::move(ssl)) {
  BIO* bio = BIO_new(fdBioMethod());
  auto* state = new FdBioState;
  state->fd = socket.native_handle();
  state->prefix = std::move(prefix);
  BIO_set_data(bio, state);
  bio_state_ = state;
  SSL_set_bio(ssl_.get(), bio, bio);
}

TlsStream::~TlsStream() {
  // OpenSSL drops a session from the server's cache when a connection that used it ends
  // without close_notify (SSL_free treats it as possibly truncated). Mesh sessions are shared
  // by many connections and TLS 1.3 resumption does not depend on a clean close, so one
  // reset connection must not cost every later connection a full handshake.
  if (SSL_is_init_finished(ssl_.get()) == 1) {
    SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
}

asio::awaitable<int> TlsStream::handshake() {
  // The peer's flight is received in one go and OpenSSL reads it from the block (not a recv
  // per record header and body, then one more answering EAGAIN). The block is taken only once
  // the flight has arrived: a handshake waits a round trip for it, and in a burst of new
  // connections the blocks of every waiting handshake would set the heap's high-water mark
  // (one readiness wait, an EPOLL_CTL_MOD, per flight is the price). Reads go back to the
  // socket itself once the handshake is over.
  struct DirectReadsAfter {
    FdBioState* state;
    ~DirectReadsAfter() { state->direct_reads = true; }
  } restore{bio_state_};
  bio_state_->direct_reads = false;
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc == 1) co_return 0;
    int error = SSL_get_error(ssl_.get(), rc);
    if (error == SSL_ERROR_WANT_READ) {
      // OpenSSL wants more only once the BIO has served everything received.
      if (bio_state_->buffered()) co_return SSL_ERROR_SYSCALL;
      // After the readiness event Asio's receive reads at once, without parking.
      auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, kNoThrow);
      if (!ec) ec = co_await receiveCiphertext(BufferPool::kBlockSize);
      if (ec == asio::error::eof) {
        bio_state_->eof = true;  // OpenSSL sees the end of stream and says what it cut short
      } else if (ec) {
        co_return SSL_ERROR_SYSCALL;
      }
    } else if (error == SSL_ERROR_WANT_WRITE) {
      auto [ec] = co_await socket_.async_wait(tcp::socket::wait_write, kNoThrow);
      if (ec) co_return SSL_ERROR_SYSCALL;
    } else {
      co_return error;
    }
  }
}

asio::awaitable<std::error_code> TlsStream::waitReadable() {
  if (SSL_has_pending(ssl_.get()) == 1 || bio_state_->buffered()) co_return std::error_code{};
  auto wait = want_write_for_read_ ? tcp::socket::wait_write : tcp::socket::wait_read;
  auto [ec] = co_await socket_.async_wait(wait, kNoThrow);
  co_return ec;
}

ReadResult TlsStream::readNow(std::span<char> buffer) {
  ERR_clear_error();
  size_t n = 0;
  want_write_for_read_ = false;
  int ok = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
  tls::keepNewSession(ssl_.get());
  if (ok == 1) return {ReadResult::kData, n, {}};
  switch (SSL_get_error(ssl_.get(), 0)) {
    case SSL_ERROR_WANT_READ: return {ReadResult::kWouldBlock, 0, {}};
    case SSL_ERROR_WANT_WRITE:
      want_write_for_read_ = true;
      return {ReadResult::kWouldBlock, 0, {}};
    case SSL_ERROR_ZERO_RETURN: return {ReadResult::kEof, 0, {}};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0 && (errno == 0 || n == 0)) {
        ERR_clear_error();
        return {ReadResult::kEof, 0, {}};
      }
      [[fallthrough]];
    default:
      ERR_clear_error();
      return {ReadResult::kError, 0, std::make_error_code(std::errc::protocol_error)};
  }
}

asio::awaitable<std::error_code> TlsStream::receiveCiphertext(size_t block_size) {
  FdBioState& state = *bio_state_;
  state.input = BufferPool::get(block_size);
  state.input_begin = state.input_end = 0;
  auto [ec, n] = co_await socket_.async_receive(
      asio::buffer(state.input.get(), BufferPool::sizeOf(state.input)), kNoThrow);
  state.input_end = n;
  if (n == 0) state.input.reset();
  co_return ec;
}

asio::awaitable<ReadResult> TlsStream::read(BufferPool::Block& block, size_t size) {
  for (;;) {
    if (SSL_has_pending(ssl_.get()) == 0 && !bio_state_->buffered()) {
      if (want_write_for_read_) {
        auto [ec] = co_await socket_.async_wait(tcp::socket::wait_write, kNoThrow);
        if (ec) co_return ReadResult{ReadResult::kError, 0, ec};
      } else if (auto ec = co_await receiveCiphertext(
                     // Reading full plaintext blocks is a bulk transfer: take several records.
                     size >= BufferPool::kBlockSize ? BufferPool::kLargeBlockSize : size);
                 ec && ec != asio::error::eof && ec != asio::error::connection_reset) {
        // End of stream and resets are OpenSSL's to classify (close_notify or not).
        co_return ReadResult{ReadResult::kError, 0, ec};
      }
    }
    if (!block) block = BufferPool::get(size);
    const size_t capacity = BufferPool::sizeOf(block);
    ReadResult result = readNow({block.get(), capacity});
    if (result.kind == ReadResult::kWouldBlock) continue;
    // Records already received go out with this one, in one write on the other side. What
    // ends the loop (end of stream, an error) is left for the next read, which meets it again.
    while (result.kind == ReadResult::kData && result.bytes < capacity &&
           (SSL_has_pending(ssl_.get()) == 1 || bio_state_->buffered())) {
      ReadResult more = readNow({block.get() + result.bytes, capacity - result.bytes});
      if (more.kind != ReadResult::kData) break;
      result.bytes += more.bytes;
    }
    co_return result;
  }
}

asio::awaitable<std::error_code> TlsStream::writeAll(std::span<const char> data) {
  while (!data.empty()) {
    ERR_clear_error();
    size_t n = 0;
    // Partial writes are enabled, so a retry after WANT_WRITE may pass the same (or a longer)
    // span; at most one record's worth is taken per call. While more records follow, the
    // kernel holds this one back to send them together (one wake-up of the peer, not four).
    bio_state_->more = data.size() > kMaxRecordPlaintext;
    int written = SSL_write_ex(ssl_.get(), data.data(), data.size(), &n);
    bio_state_->more = false;
    if (written == 1) {
      data = data.subspan(n);
      continue;
    }
    int error = SSL_get_error(ssl_.get(), 0);
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
      auto wait = error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read;
      auto [ec] = co_await socket_.async_wait(wait, kNoThrow);
      if (ec) co_return ec;
      continue;
    }
    ERR_clear_error();
    co_return std::make_error_code(std::errc::broken_pipe);
  }
  co_return std::error_code{};
}

void TlsStream::shutdownWrite() {
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // queues close_notify; a full socket buffer just loses it
  // The alert allocated OpenSSL's write buffer (about 13 KB, seen with heaptrack), which
  // SSL_MODE_RELEASE_BUFFERS gives back only after application data: without this a half-closed
  // connection keeps it until it ends. Only when nothing received is left to read: OpenSSL
  // checks that itself since 3.0.14, but freed a record still being read before (CVE-2024-4741).
  if (SSL_pending(ssl_.get()) == 0 && SSL_has_pending(ssl_.get()) == 0) {
    SSL_free_buffers(ssl_.get());
  }
  ERR_clear_error();
  std::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace mutual::net
