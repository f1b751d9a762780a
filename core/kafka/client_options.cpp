#include "core/kafka/client_options.h"

#include <array>
#include <cctype>

#include <fmt/format.h>

#include "core/common/error.h"

namespace datarefresh::kafka {
namespace {

// Set by the clients themselves: overriding them would break delivery or commit guarantees.
constexpr std::array<std::string_view, 16> kManagedProperties = {
    "bootstrap.servers",
    "client.id",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.idempotence",
    "partition.assignment.strategy",
    "acks",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "enable.partition.eof",
    "message.timeout.ms",
    "linger.ms",
    "statistics.interval.ms",
};

}  // namespace

bool is_secret_property(std::string_view key) {
  return key.find("password") != std::string_view::npos || key.find("secret") != std::string_view::npos ||
         key == "ssl.key.pem" || key == "ssl_key" || key == "sasl.oauthbearer.config" ||
         key == "ssl.keystore.location.password";
}

void validate(const ClientOptions& options, std::string_view key_prefix) {
  const auto env_prefix = [&] {
    std::string env = "DATAREFRESH_";
    for (char c : key_prefix) env += (c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return env;
  }();
  if (options.bootstrap_servers.empty()) {
    throw ConfigError(
        fmt::format("{}.bootstrap_servers is empty: set it in config or {}_BOOTSTRAP_SERVERS", key_prefix, env_prefix));
  }
  if (options.client_id.empty()) {
    throw ConfigError(
        fmt::format("{}.client_id is empty: set it in config or leave it out for \"datarefresh\"", key_prefix));
  }
  for (const auto& [key, value] : options.properties) {
    if (key.empty()) {
      throw ConfigError(fmt::format("{}.properties has an empty key: remove it", key_prefix));
    }
    for (auto managed : kManagedProperties) {
      if (key == managed) {
        throw ConfigError(
            fmt::format("{}.properties.{} is managed by datarefresh and cannot be overridden: remove it "
                        "(each has its own key: bootstrap_servers, client_id, group_id, session_timeout, ...)",
                        key_prefix, key));
      }
    }
  }
  if (options.statistics_interval.count() < 0) {
    throw ConfigError(
        fmt::format("{}.statistics_interval is negative: use 0 to disable or a duration like 30s", key_prefix));
  }
}

std::map<std::string, std::string> redacted_properties(const ClientOptions& options) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : options.properties) out[key] = is_secret_property(key) ? "***" : value;
  return out;
}

}  // namespace datarefresh::kafka
