#include "base/file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace mutual {

namespace fs = std::filesystem;

Result<std::string> readFile(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return fail(Code::kInvalidArgument, path.string() + ": is a directory, expected a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return fail(err == ENOENT ? Code::kNotFound : Code::kPermissionDenied,
                path.string() + ": " + std::strerror(err));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return fail(Code::kDataLoss, path.string() + ": read error");
  return out.str();
}

namespace {

// `path` names the target: the temporary file's name means nothing to the user.
Result<void> sysFail(const std::string& what, const fs::path& path) {
  return fail(Code::kInternal, path.string() + ": " + what + ": " + std::strerror(errno));
}

fs::path parentOf(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

// Writes `content` to a new temporary file beside `path` with `mode`, fsynced and closed.
Result<fs::path> stage(const fs::path& path, std::string_view content, mode_t mode) {
  const fs::path dir = parentOf(path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Code::kInternal, dir.string() + ": cannot create directory: " + ec.message());
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) return fail(sysFail("cannot create temporary file", path).error());
  const fs::path tmp = tmpl;
  const auto cleanup = [&](Result<void> err) -> Result<fs::path> {
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(err.error());
  };
  if (::fchmod(fd, mode) != 0) return cleanup(sysFail("chmod", path));
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup(sysFail("write", path));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return cleanup(sysFail("fsync", path));
  if (::close(fd) != 0) {
    const auto err = sysFail("close", path);
    ::unlink(tmp.c_str());
    return fail(err.error());
  }
  return tmp;
}

void fsyncDir(const fs::path& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

Result<void> writeFileAtomic(const fs::path& path, std::string_view content, mode_t mode) {
  auto tmp = stage(path, content, mode);
  if (!tmp) return fail(tmp.error());
  if (::rename(tmp->c_str(), path.c_str()) != 0) {
    const auto err = sysFail("rename", path);
    ::unlink(tmp->c_str());
    return err;
  }
  fsyncDir(parentOf(path));
  return {};
}

Result<void> writeFilesAtomic(const std::vector<FileWrite>& files) {
  std::vector<fs::path> staged;
  const auto discard = [&](size_t from) {
    for (size_t i = from; i < staged.size(); ++i) ::unlink(staged[i].c_str());
  };
  for (const auto& file : files) {
    std::error_code ec;
    if (fs::is_directory(file.path, ec)) {
      discard(0);
      return fail(Code::kInternal, file.path.string() + ": is a directory, cannot replace it");
    }
    auto tmp = stage(file.path, file.content, file.mode);
    if (!tmp) {
      discard(0);
      return fail(tmp.error());
    }
    staged.push_back(std::move(*tmp));
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (::rename(staged[i].c_str(), files[i].path.c_str()) != 0) {
      const auto err = sysFail("rename", files[i].path);
      discard(i);
      return err;
    }
  }
  std::vector<fs::path> dirs;
  for (const auto& file : files) {
    const fs::path dir = parentOf(file.path);
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  }
  for (const auto& dir : dirs) fsyncDir(dir);
  return {};
}

Result<FileLock> FileLock::acquire(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail(sysFail("cannot open the lock file", path).error());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[32] = {};
    if (const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0); n > 0) {
      holder = std::string(buf, static_cast<size_t>(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    }
    ::close(fd);
    if (err != EWOULDBLOCK) {
      errno = err;
      return fail(sysFail("cannot lock", path).error());
    }
    return fail(Code::kAlreadyExists,
                path.string() + " is locked by another process" +
                    (holder.empty() ? std::string() : " (pid " + holder + ")"));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Only the message of a refused process needs the pid: without it the lock holds all the same.
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return FileLock(fd);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> clearStaleSocket(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& text = path.native();
  if (text.empty() || text.size() >= sizeof addr.sun_path) {
    return fail(Code::kInvalidArgument, "socket path \"" + text + "\": empty or longer than " +
                                            std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, text.data(), text.size());
  struct stat st {};
  if (::lstat(text.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode)) {
    return fail(Code::kFailedPrecondition, text + ": exists and is not a socket; refusing to replace it");
  }
  // A socket file: stale (its server crashed) unless something still answers on it.
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live =
      probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (probe >= 0) ::close(probe);
  if (live) return fail(Code::kAlreadyExists, text + ": another server is listening on it");
  if (::unlink(text.c_str()) != 0 && errno != ENOENT) {
    return sysFail("cannot remove the stale socket", path);
  }
  return {};
}

}  // namespace mutual
