#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <sys/types.h>
#include <vector>

#include "base/error.h"

namespace mutual {

// Reads a whole file. NotFound when it does not exist; the message names the path.
Result<std::string> readFile(const std::filesystem::path& path);

// Replaces `path` with `content` atomically: write a temporary file in the same directory
// with `mode`, fsync it, rename it over the target, fsync the directory. A crash leaves either
// the old file or the new one, never a mix. Creates missing parent directories (mode 0755).
Result<void> writeFileAtomic(const std::filesystem::path& path, std::string_view content,
                             mode_t mode = 0644);

// One file of a set written together.
struct FileWrite {
  std::filesystem::path path;
  std::string content;
  mode_t mode = 0644;
};

// Replaces several files as a set (a certificate and its key): every file is first written to
// a temporary file beside its target and fsynced; only when all are staged are they renamed
// into place, in the order given (put a private key after its certificates). When staging
// fails (no space, a missing or unwritable directory) or a target is a directory, nothing is
// renamed: the temporary files are removed and the old files are untouched. Only a rename
// failing part-way (a race with another writer) can leave some files replaced and not others.
// Errors name the target file, never the temporary one. Creates missing parent directories.
Result<void> writeFilesAtomic(const std::vector<FileWrite>& files);

// Private keys are written with this mode.
inline constexpr mode_t kPrivateKeyMode = 0600;

// An exclusive advisory lock (flock) on a file, held until the object is destroyed (or the
// process exits: the kernel drops it with the descriptor, so a crash never leaves it behind).
// Keeps a second process from using the same state directory.
class FileLock {
 public:
  // Creates `path` (0644) when missing, locks it without waiting and writes this process's pid
  // into it. AlreadyExists when another process holds it: the message names `path` and, when
  // the file says it, the holder's pid (as "pid N"). Internal when the file cannot be opened.
  static Result<FileLock> acquire(const std::filesystem::path& path);

  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Makes `path` free for a unix socket to be bound there: nothing there, or a stale socket left
// by a process that crashed (removed). AlreadyExists ("another server is listening on it") when
// something accepts connections on it; FailedPrecondition when `path` is not a socket;
// InvalidArgument when it is too long for a socket address. Messages name the path.
Result<void> clearStaleSocket(const std::filesystem::path& path);

}  // namespace mutual
