#pragma once

#include <ostream>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json_fwd.hpp>

namespace datarefresh::config {

// A credential read from configuration (DSN, password, token, webhook). Owns the value and where
// it came from; every way of printing it (operator<<, fmt, nlohmann::json) yields "***", so a
// Secret that reaches a log line or a dump does not leak. Only reveal() returns the value, for the
// one call that hands it to a client library. Immutable value type; thread-safe to share.
class Secret {
 public:
  static constexpr const char* kRedacted = "***";

  Secret() = default;
  // `source` describes the origin without the value, e.g. "env API_DATABASE_URL" or "file /run/x".
  Secret(std::string value, std::string source) : value_(std::move(value)), source_(std::move(source)) {}

  bool empty() const { return value_.empty(); }
  const std::string& reveal() const { return value_; }
  const std::string& source() const { return source_; }
  // "***" when set, "" when empty: what dumps and logs show.
  std::string redacted() const { return value_.empty() ? std::string() : std::string(kRedacted); }

  bool operator==(const Secret& other) const { return value_ == other.value_; }

  friend std::ostream& operator<<(std::ostream& os, const Secret& s) { return os << s.redacted(); }

 private:
  std::string value_;
  std::string source_;
};

// nlohmann::json conversion: serialises as "***" (never the value). Found by ADL.
void to_json(nlohmann::json& j, const Secret& secret);

}  // namespace datarefresh::config

template <>
struct fmt::formatter<datarefresh::config::Secret> : fmt::formatter<std::string> {
  template <typename FormatContext>
  auto format(const datarefresh::config::Secret& s, FormatContext& ctx) const {
    return fmt::formatter<std::string>::format(s.redacted(), ctx);
  }
};
