#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "base/error.h"

namespace mutual::telemetry {

struct AccessLogOptions {
  // Bytes of lines accepted and not yet written. A line that does not fit is dropped and
  // counted (drop newest); so is a line longer than this.
  size_t buffer_bytes = 4 << 20;
  // How long the writer gathers lines before writing them (Envoy's file_flush_interval). It
  // writes sooner when the buffer is half full, and on flush(), reopen() and close(). Batching
  // spares the workers a system call (waking the writer) per line.
  std::chrono::milliseconds flush_interval{100};
};

// The access log: one line per connection, written by one background thread so a worker never
// waits for the disk or a slow stdout reader. write() copies the line into a buffer under a
// mutex held for that copy, and wakes the writer (a system call) only when the writer was idle
// or the buffer reaches half its size.
class AccessLog {
 public:
  // Opens `path` for appending (created with mode 0640 if missing, umask applies) and starts
  // the writer thread. "/dev/stdout" and "/dev/stderr" duplicate the process's descriptor
  // instead of opening the path, which works when they are a socket (systemd's journal) too.
  // Fails (kNotFound, kPermissionDenied, kUnavailable) when the file cannot be opened.
  static Result<std::unique_ptr<AccessLog>> open(std::string path, AccessLogOptions options = {});
  // What open() would say about `path`, without creating or opening anything (for validate):
  // the file is writable, or it is missing and its folder exists and is writable.
  static Result<void> checkWritable(const std::string& path);

  // Writes every line accepted so far, then closes (the same as close()).
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Any thread; never blocks on I/O. `line` has no trailing newline (one is added) and must
  // not contain one. When the buffer is full the line is dropped and counted; after close()
  // every line is.
  void write(std::string_view line);

  // For logrotate's `postrotate` (SIGHUP): opens the path again and swaps it in; lines being
  // written at that moment may still land in the old (renamed) file, later ones go to the new
  // one. On failure returns the open error and keeps writing to the current file. A no-op for
  // /dev/stdout and /dev/stderr.
  Result<void> reopen();

  // Blocks until every line accepted before the call is written (or failed).
  void flush();

  // Writes every accepted line, stops the writer thread and closes the file. Idempotent.
  void close();

  // Lines dropped: buffer full, write errors, written after close().
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Lines handed to the kernel.
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }

 private:
  AccessLog(std::string path, int fd, AccessLogOptions options);
  void run();
  void writeOut(size_t lines);

  const std::string path_;
  const AccessLogOptions options_;
  const size_t wake_at_;  // buffered bytes at which a worker wakes a gathering writer
  int fd_;                // writer thread (and close() after it stopped)

  std::mutex mu_;
  std::condition_variable wake_;      // the writer: lines, a new file, a flush or stop
  std::condition_variable progress_;  // flush(): a batch finished
  std::string pending_;               // accepted lines, '\n'-terminated
  size_t pending_lines_ = 0;
  uint64_t accepted_ = 0;      // lines ever accepted
  uint64_t finished_ = 0;      // of those, written or failed; flush() waits on it
  uint64_t flush_target_ = 0;  // the largest `accepted_` a flush() waits for
  bool idle_ = false;          // the writer sleeps with nothing pending
  bool stopping_ = false;
  int new_fd_ = -1;  // from reopen(), installed by the writer

  std::string writing_;         // writer thread only: swapped with pending_, so no allocation
  bool write_failing_ = false;  // writer thread only: warn once per failure streak

  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> written_{0};
  std::once_flag closed_;
  std::thread thread_;
};

}  // namespace mutual::telemetry
