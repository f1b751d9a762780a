#include "core/common/log.h"

#include <atomic>
#include <chrono>
#include <mutex>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace datarefresh {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};

std::shared_ptr<spdlog::logger> sink_logger() {
  // One stderr logger shared by all modules; the formatting is ours, spdlog only serialises writes.
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("datarefresh", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return logger;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)),
                     static_cast<int>(ms.count()));
}

}  // namespace

void configure_logging(LogLevel level, LogFormat format) {
  g_level = level;
  g_format = format;
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn" || text == "warning") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return std::nullopt;
}

Logger::Logger(std::string name) : name_(std::move(name)) {}

bool Logger::enabled(LogLevel level) const { return level >= g_level.load(); }

void Logger::debug(std::string_view msg, const nlohmann::json& fields) const { write(LogLevel::kDebug, msg, fields); }
void Logger::info(std::string_view msg, const nlohmann::json& fields) const { write(LogLevel::kInfo, msg, fields); }
void Logger::warn(std::string_view msg, const nlohmann::json& fields) const { write(LogLevel::kWarn, msg, fields); }
void Logger::error(std::string_view msg, const nlohmann::json& fields) const { write(LogLevel::kError, msg, fields); }

void Logger::write(LogLevel level, std::string_view msg, const nlohmann::json& fields) const {
  if (!enabled(level)) return;
  std::string line;
  if (g_format.load() == LogFormat::kJson) {
    nlohmann::json j = {{"ts", timestamp()}, {"level", level_name(level)}, {"logger", name_}, {"msg", msg}};
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) j[k] = v;
    }
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{} {:<5} [{}] {}", timestamp(), level_name(level), name_, msg);
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items()) {
        line += fmt::format(" {}={}", k, v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
  }
  sink_logger()->info(line);
}

}  // namespace datarefresh
