#include "telemetry/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

namespace mutual::telemetry {

namespace {

// How long the writer waits for a non-blocking stdout to drain before dropping a batch.
constexpr int kPollMillis = 1000;

int stdioFd(const std::string& path) {
  if (path == "/dev/stdout") return STDOUT_FILENO;
  if (path == "/dev/stderr") return STDERR_FILENO;
  return -1;
}

tl::unexpected<Error> openError(const std::string& path, int err) {
  Code code = Code::kUnavailable;
  if (err == ENOENT || err == ENOTDIR) code = Code::kNotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = Code::kPermissionDenied;
  return fail(code, "access log " + path + ": " + std::strerror(err));
}

Result<int> openPath(const std::string& path) {
  if (const int stdio = stdioFd(path); stdio >= 0) {
    // A socket (systemd's journal) cannot be opened through /dev/stdout: duplicate instead.
    const int fd = ::fcntl(stdio, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) return fd;
  } else {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd >= 0) return fd;
  }
  return openError(path, errno);
}

// Writes all of `data`; returns the bytes written and sets `err` on failure.
size_t writeAll(int fd, std::string_view data, int& err) {
  size_t done = 0;
  err = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Someone made the shared stdout non-blocking: wait a little, then give up.
      pollfd p{fd, POLLOUT, 0};
      const int r = ::poll(&p, 1, kPollMillis);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      err = r == 0 ? ETIMEDOUT : errno;
      return done;
    }
    err = n < 0 ? errno : EIO;
    return done;
  }
  return done;
}

}  // namespace

Result<void> AccessLog::checkWritable(const std::string& path) {
  if (stdioFd(path) >= 0) return {};
  if (::access(path.c_str(), F_OK) == 0) {
    if (::access(path.c_str(), W_OK) == 0) return {};
    return openError(path, errno);
  }
  if (errno != ENOENT) return openError(path, errno);
  const auto slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::access(folder.c_str(), W_OK | X_OK) == 0) return {};
  return openError(path, errno);
}

Result<std::unique_ptr<AccessLog>> AccessLog::open(std::string path, AccessLogOptions options) {
  auto fd = openPath(path);
  if (!fd) return fail(fd.error());
  return std::unique_ptr<AccessLog>(new AccessLog(std::move(path), *fd, options));
}

AccessLog::AccessLog(std::string path, int fd, AccessLogOptions options)
    : path_(std::move(path)),
      options_(options),
      wake_at_(std::max<size_t>(1, options.buffer_bytes / 2)),
      fd_(fd) {
  pending_.reserve(options_.buffer_bytes);
  writing_.reserve(options_.buffer_bytes);
  thread_ = std::thread(&AccessLog::run, this);
}

AccessLog::~AccessLog() { close(); }

void AccessLog::write(std::string_view line) {
  const size_t size = line.size() + 1;
  std::unique_lock lock(mu_);
  const size_t before = pending_.size();
  if (stopping_ || size > options_.buffer_bytes - before) {
    lock.unlock();
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A copy, not a move of the caller's string: the worker keeps (and frees) its own memory,
  // and the writer hands one contiguous buffer to write(2).
  pending_.append(line);
  pending_ += '\n';
  ++pending_lines_;
  ++accepted_;
  // Otherwise the writer, gathering, comes for the lines at the end of its flush interval.
  const bool wake = (before == 0 && idle_) || (before < wake_at_ && before + size >= wake_at_);
  lock.unlock();
  if (wake) wake_.notify_one();
}

Result<void> AccessLog::reopen() {
  if (stdioFd(path_) >= 0) return {};
  auto fd = openPath(path_);
  if (!fd) return fail(fd.error());
  int stale = -1;
  {
    std::lock_guard lock(mu_);
    stale = stopping_ ? *fd : std::exchange(new_fd_, *fd);
  }
  if (stale >= 0) ::close(stale);
  wake_.notify_one();
  return {};
}

void AccessLog::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = accepted_;
  // After close() nothing is accepted any more and the writer has finished everything.
  if (finished_ >= target) return;
  flush_target_ = std::max(flush_target_, target);
  wake_.notify_one();
  progress_.wait(lock, [&] { return finished_ >= target; });
}

void AccessLog::close() {
  std::call_once(closed_, [this] {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    ::close(fd_);
    fd_ = -1;
    if (new_fd_ >= 0) ::close(new_fd_);
    new_fd_ = -1;
  });
}

void AccessLog::run() {
  std::unique_lock lock(mu_);
  // Someone waits for the writer: write now rather than gather.
  const auto urgent = [this] { return stopping_ || new_fd_ >= 0 || finished_ < flush_target_; };
  for (;;) {
    if (pending_.empty() && !urgent()) {
      idle_ = true;
      wake_.wait(lock, [&] { return !pending_.empty() || urgent(); });
      idle_ = false;
    }
    if (!urgent() && pending_.size() < wake_at_) {
      wake_.wait_for(lock, options_.flush_interval,
                     [&] { return pending_.size() >= wake_at_ || urgent(); });
    }
    int retired = -1;
    if (new_fd_ >= 0) retired = std::exchange(fd_, std::exchange(new_fd_, -1));
    // O(1) under the lock: the workers go on filling the other buffer.
    pending_.swap(writing_);
    const size_t lines = std::exchange(pending_lines_, 0);
    lock.unlock();
    if (retired >= 0) ::close(retired);
    if (lines > 0) writeOut(lines);
    writing_.clear();  // keeps its capacity for the next swap
    lock.lock();
    finished_ += lines;
    progress_.notify_all();
    if (stopping_ && pending_.empty()) return;
  }
}

void AccessLog::writeOut(size_t lines) {
  int err = 0;
  const size_t done = writeAll(fd_, writing_, err);
  if (err == 0) {
    written_.fetch_add(lines, std::memory_order_relaxed);
    write_failing_ = false;
    return;
  }
  const size_t complete =
      static_cast<size_t>(std::count(writing_.begin(), writing_.begin() + done, '\n'));
  if (done > 0 && writing_[done - 1] != '\n') {
    // End the torn line so the next batch starts a line of its own.
    int ignored = 0;
    writeAll(fd_, "\n", ignored);
  }
  written_.fetch_add(complete, std::memory_order_relaxed);
  dropped_.fetch_add(lines - complete, std::memory_order_relaxed);
  if (!write_failing_) {
    spdlog::warn("access log {}: write failed: {}; dropping lines until it recovers", path_,
                 std::strerror(err));
  }
  write_failing_ = true;
}

}  // namespace mutual::telemetry
