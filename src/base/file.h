#pragma once

#include <filesystem>
#include <string>
#include <string_view>
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

}  // namespace mutual
