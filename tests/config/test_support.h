#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/config/config.h"

namespace datarefresh::config::testing {

// The smallest valid configuration: only the required keys.
inline constexpr const char* kMinimalYaml = R"(
kafka: {bootstrap_servers: "127.0.0.1:9092"}
postgres:
  api: {dsn: {env: API_DSN}}
  upstream: {dsn: {env: UPSTREAM_DSN}}
search: {url: "http://127.0.0.1:9200"}
)";

// kMinimalYaml (same lines) with extra entries in its kafka and search mappings, and more keys after.
inline std::string minimal_yaml_with(const std::string& kafka_extra, const std::string& search_extra, const std::string& rest = "") {
  return "\nkafka: {bootstrap_servers: \"127.0.0.1:9092\"" + (kafka_extra.empty() ? "" : ", " + kafka_extra) +
         "}\npostgres:\n  api: {dsn: {env: API_DSN}}\n  upstream: {dsn: {env: UPSTREAM_DSN}}\nsearch: {url: \"http://127.0.0.1:9200\"" +
         (search_extra.empty() ? "" : ", " + search_extra) + "}\n" + rest;
}

inline Environment minimal_env() {
  return {{"API_DSN", "postgresql://api:s3cret-api@127.0.0.1/api"}, {"UPSTREAM_DSN", "postgresql://up:s3cret-up@127.0.0.1/up"}};
}

inline std::filesystem::path source_dir() {
  const char* dir = std::getenv("DATAREFRESH_SOURCE_DIR");
  return dir ? std::filesystem::path(dir) : std::filesystem::path(DATAREFRESH_TEST_SOURCE_DIR);
}

// The problems of an invalid configuration, or a test failure if it loads.
inline std::vector<std::string> problems_of(const std::string& yaml, const Environment& env = minimal_env()) {
  try {
    load_config_from_string(yaml, env);
  } catch (const InvalidConfig& e) {
    return e.problems();
  }
  ADD_FAILURE() << "expected the configuration to be rejected:\n" << yaml;
  return {};
}

}  // namespace datarefresh::config::testing
