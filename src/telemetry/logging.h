#pragma once

#include <string_view>

#include <spdlog/common.h>

#include "base/error.h"

namespace mutual::telemetry {

// Operational logging (not the access log). Installs spdlog's default logger writing to
// stderr (or to `sink`, for tests) with the pattern
//
//   2026-11-28T18:00:00.123Z info [12345] <message>
//
// (UTC time, level, thread id). Callers add key=value fields to the message, starting with
// `conn=<id>` for anything about one connection:
//   spdlog::debug("conn={} handshake failed reason={}", id, reason);
// `level` is one of the names setLevel accepts; an unknown name changes nothing and fails.
Result<void> setupLogging(std::string_view level, spdlog::sink_ptr sink = nullptr);

// Changes the default logger's level at run time (admin `/logging?level=debug`). Accepts
// trace, debug, info, warning (or warn), error, critical, off; anything else is
// kInvalidArgument naming the accepted values, and the level stays as it was.
Result<void> setLevel(std::string_view level);

// The default logger's current level name ("info", "warning", ...).
std::string_view logLevel();

}  // namespace mutual::telemetry
