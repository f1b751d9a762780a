#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "core/common/duration.h"

namespace datarefresh::kafka {

// Connection settings shared by every Kafka client we create (producer, group consumer, admin).
// `properties` passes any librdkafka property through (security.protocol, sasl.*, ssl.*, tuning);
// properties datarefresh manages itself (delivery guarantees, offsets, group id) are rejected by
// validate() so a config file cannot silently weaken them. Plain value; copyable.
struct ClientOptions {
  std::string bootstrap_servers;
  std::string client_id = "datarefresh";
  std::map<std::string, std::string> properties;
  // When > 0 and on_statistics is set, librdkafka's statistics JSON (consumer lag, queue depths,
  // broker round trips) is handed to on_statistics every interval, on the client's poll thread.
  Duration statistics_interval{0};
  std::function<void(std::string_view stats_json)> on_statistics;
};

// Throws ConfigError naming the key under `key_prefix` ("kafka.bootstrap_servers is empty: ...").
void validate(const ClientOptions& options, std::string_view key_prefix = "kafka");

// Properties that carry credentials; their values are never logged or put in error messages.
bool is_secret_property(std::string_view key);

// The properties with secret values replaced by "***", for logging the effective configuration.
std::map<std::string, std::string> redacted_properties(const ClientOptions& options);

}  // namespace datarefresh::kafka
