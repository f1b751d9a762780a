#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace datarefresh {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kJson, kText };

// Process-wide logging set-up; call once from main before any Logger writes. Thread-safe after.
void configure_logging(LogLevel level, LogFormat format);
std::optional<LogLevel> parse_log_level(std::string_view text);

// A named logger for one module. Writes one structured line per call: JSON lines in services
// ({"ts","level","logger","msg", ...fields}), or readable text for terminals. Cheap to copy;
// thread-safe. Never pass secrets or per-document data on the hot path.
class Logger {
 public:
  explicit Logger(std::string name);
  void debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const;
  void info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const;
  void warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const;
  void error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) const;
  bool enabled(LogLevel level) const;

 private:
  void write(LogLevel level, std::string_view msg, const nlohmann::json& fields) const;
  std::string name_;
};

}  // namespace datarefresh
