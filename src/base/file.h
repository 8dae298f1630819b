#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "base/error.h"

namespace mutual {

// Reads a whole file. NotFound when it does not exist; the message names the path.
Result<std::string> readFile(const std::filesystem::path& path);

// Replaces `path` with `content` atomically: write a temporary file in the same directory
// with `mode`, fsync it, rename it over the target, fsync the directory. A crash leaves either
// the old file or the new one, never a mix. Creates missing parent directories (mode 0755).
Result<void> writeFileAtomic(const std::filesystem::path& path, std::string_view content,
                             mode_t mode = 0644);

// Private keys are written with this mode.
inline constexpr mode_t kPrivateKeyMode = 0600;

}  // namespace mutual
