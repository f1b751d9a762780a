#pragma once

#include <string_view>
#include <utility>

#include "core/config/config.h"

// Internal to datarefresh::config: the YAML spelling of every enum, in one place, used by the
// parser (accepted values), the dump and to_string().
namespace datarefresh::config::detail {

template <class E>
struct EnumNames;

#define DR_ENUM_NAMES(E, ...)                                                  \
  template <>                                                                  \
  struct EnumNames<E> {                                                        \
    static constexpr std::pair<E, std::string_view> kValues[] = {__VA_ARGS__}; \
  };

DR_ENUM_NAMES(LogLevel, {LogLevel::kDebug, "debug"}, {LogLevel::kInfo, "info"}, {LogLevel::kWarn, "warn"}, {LogLevel::kError, "error"})
DR_ENUM_NAMES(LogFormat, {LogFormat::kJson, "json"}, {LogFormat::kText, "text"})
DR_ENUM_NAMES(SecurityProtocol, {SecurityProtocol::kPlaintext, "plaintext"}, {SecurityProtocol::kSsl, "ssl"},
              {SecurityProtocol::kSaslPlaintext, "sasl_plaintext"}, {SecurityProtocol::kSaslSsl, "sasl_ssl"})
DR_ENUM_NAMES(SaslMechanism, {SaslMechanism::kPlain, "PLAIN"}, {SaslMechanism::kScramSha256, "SCRAM-SHA-256"},
              {SaslMechanism::kScramSha512, "SCRAM-SHA-512"})
DR_ENUM_NAMES(AssignmentStrategy, {AssignmentStrategy::kCooperativeSticky, "cooperative-sticky"}, {AssignmentStrategy::kRange, "range"},
              {AssignmentStrategy::kRoundRobin, "roundrobin"})
DR_ENUM_NAMES(LockScope, {LockScope::kEnvironment, "environment"}, {LockScope::kMediaType, "media_type"})
DR_ENUM_NAMES(CopyMode, {CopyMode::kAdvanced, "advanced"}, {CopyMode::kBasic, "basic"})
DR_ENUM_NAMES(NotifyLevel, {NotifyLevel::kVerbose, "verbose"}, {NotifyLevel::kInfo, "info"}, {NotifyLevel::kError, "error"})

#undef DR_ENUM_NAMES

template <class E>
constexpr std::string_view enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (v == value) return name;
  }
  return "?";
}

}  // namespace datarefresh::config::detail
