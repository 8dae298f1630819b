#include "telemetry/logging.h"

#include <memory>
#include <string>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace mutual::telemetry {

namespace {

constexpr char kPattern[] = "%Y-%m-%dT%H:%M:%S.%eZ %l [%t] %v";

Result<spdlog::level::level_enum> parseLevel(std::string_view name) {
  using spdlog::level::level_enum;
  struct Name {
    std::string_view name;
    level_enum level;
  };
  static constexpr Name kNames[] = {
      {"trace", level_enum::trace},       {"debug", level_enum::debug}, {"info", level_enum::info},
      {"warning", level_enum::warn},      {"warn", level_enum::warn},   {"error", level_enum::err},
      {"critical", level_enum::critical}, {"off", level_enum::off},
  };
  for (const auto& n : kNames) {
    if (n.name == name) return n.level;
  }
  return invalidArgument("unknown log level \"" + std::string(name) +
                         "\": use trace, debug, info, warning, error, critical or off");
}

}  // namespace

Result<void> setupLogging(std::string_view level, spdlog::sink_ptr sink) {
  auto parsed = parseLevel(level);
  if (!parsed) return fail(parsed.error());
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("mutual", std::move(sink));
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(kPattern, spdlog::pattern_time_type::utc));
  logger->set_level(*parsed);
  // Warnings and errors reach the file or pipe at once; stderr itself is unbuffered.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return {};
}

Result<void> setLevel(std::string_view level) {
  auto parsed = parseLevel(level);
  if (!parsed) return fail(parsed.error());
  spdlog::default_logger_raw()->set_level(*parsed);
  return {};
}

std::string_view logLevel() {
  const auto name = spdlog::level::to_string_view(spdlog::default_logger_raw()->level());
  return std::string_view(name.data(), name.size());
}

}  // namespace mutual::telemetry
