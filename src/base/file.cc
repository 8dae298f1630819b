#include "base/file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
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

Result<void> sysFail(const std::string& what, const fs::path& path) {
  return fail(Code::kInternal, path.string() + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

Result<void> writeFileAtomic(const fs::path& path, std::string_view content, mode_t mode) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Code::kInternal, dir.string() + ": cannot create directory: " + ec.message());

  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) return sysFail("cannot create temporary file", path);
  const fs::path tmp = tmpl;
  const auto cleanup = [&](Result<void> err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  };
  if (::fchmod(fd, mode) != 0) return cleanup(sysFail("chmod", tmp));
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup(sysFail("write", tmp));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return cleanup(sysFail("fsync", tmp));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return sysFail("close", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto err = sysFail("rename", path);
    ::unlink(tmp.c_str());
    return err;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace mutual
