#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/duration.h"
#include "core/common/error.h"
#include "core/common/log.h"
#include "core/config/secret.h"

namespace datarefresh::config {

// The whole configuration of every datarefresh process, as plain values. Built only by
// load_config()/load_config_from_string(), which validate every key against the key table in
// config_loader.cpp (config/datarefresh.yaml documents each key; a test keeps the two in sync).

enum class SecurityProtocol { kPlaintext, kSsl, kSaslPlaintext, kSaslSsl };
enum class SaslMechanism { kPlain, kScramSha256, kScramSha512 };
enum class AssignmentStrategy { kCooperativeSticky, kRange, kRoundRobin };
enum class LockScope { kEnvironment, kMediaType };
enum class CopyMode { kAdvanced, kBasic };
enum class NotifyLevel { kVerbose, kInfo, kError };

// The spelling used in YAML, which is also what librdkafka expects for the Kafka enums.
std::string_view to_string(LogLevel v);
std::string_view to_string(LogFormat v);
std::string_view to_string(SecurityProtocol v);
std::string_view to_string(SaslMechanism v);
std::string_view to_string(AssignmentStrategy v);
std::string_view to_string(LockScope v);
std::string_view to_string(CopyMode v);
std::string_view to_string(NotifyLevel v);

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kJson;
  bool operator==(const LoggingConfig&) const = default;
};

// How a service process stops.
struct ServiceConfig {
  Duration shutdown_grace = std::chrono::seconds(50);
  bool operator==(const ServiceConfig&) const = default;
};

struct TopicConfig {
  int partitions = 1;
  int replication_factor = 3;
  bool operator==(const TopicConfig&) const = default;
};

// The five topics of the Kafka contract (DESIGN.md); names are kafka.topic_prefix + topic_suffix().
enum class Topic { kRequests, kRefreshJobs, kShardJobs, kEvents, kDeadLetter };
std::string_view topic_suffix(Topic topic);  // "requests", "refresh-jobs", "shard-jobs", "events", "dead-letter"

struct TopicsConfig {
  TopicConfig requests{1, 3};
  TopicConfig refresh_jobs{1, 3};
  TopicConfig shard_jobs{12, 3};
  TopicConfig events{3, 3};
  TopicConfig dead_letter{1, 3};
  const TopicConfig& get(Topic topic) const;
  bool operator==(const TopicsConfig&) const = default;
};

struct KafkaConsumerConfig {
  Duration session_timeout = std::chrono::seconds(30);
  Duration lag_interval = std::chrono::seconds(15);  // consumer lag metric refresh; 0 = off
  Duration max_poll_interval = std::chrono::minutes(5);
  Duration stall_timeout = std::chrono::seconds(30);  // 0 = off
  AssignmentStrategy assignment_strategy = AssignmentStrategy::kCooperativeSticky;
  bool operator==(const KafkaConsumerConfig&) const = default;
};

struct KafkaProducerConfig {
  Duration linger = std::chrono::milliseconds(5);
  Duration delivery_timeout = std::chrono::minutes(2);
  bool operator==(const KafkaProducerConfig&) const = default;
};

struct KafkaConfig {
  std::string bootstrap_servers;
  std::string client_id = "datarefresh";
  std::string topic_prefix = "datarefresh.";
  SecurityProtocol security_protocol = SecurityProtocol::kPlaintext;
  SaslMechanism sasl_mechanism = SaslMechanism::kPlain;
  std::string sasl_username;
  Secret sasl_password;
  std::string ssl_ca_location;
  std::map<std::string, std::string> properties;  // passed through to librdkafka as-is
  TopicsConfig topics;
  KafkaConsumerConfig consumer;
  KafkaProducerConfig producer;

  // Full topic name: topic_prefix + topic_suffix(topic).
  std::string topic_name(Topic topic) const;
  bool operator==(const KafkaConfig&) const = default;
};

struct PostgresDatabaseConfig {
  Secret dsn;
  bool operator==(const PostgresDatabaseConfig&) const = default;
};

// How the API database reaches the upstream database through postgres_fdw (may differ from how
// this process reaches it, e.g. inside a cluster network).
struct FdwConfig {
  std::string host;
  int port = 5432;
  std::string dbname;
  std::string user;
  Secret password;
  bool operator==(const FdwConfig&) const = default;
};

struct PostgresConfig {
  PostgresDatabaseConfig api;
  PostgresDatabaseConfig upstream;
  FdwConfig fdw;
  Duration connect_timeout = std::chrono::seconds(10);
  int connect_attempts = 10;
  Duration statement_timeout = Duration(0);  // 0 = none
  Duration lock_timeout = std::chrono::seconds(10);
  Duration copy_timeout = std::chrono::hours(12);
  bool operator==(const PostgresConfig&) const = default;
};

struct BulkConfig {
  std::int64_t max_bytes = 8'388'608;
  int max_docs = 5000;
  int concurrency = 4;
  Duration backoff_initial = std::chrono::milliseconds(500);
  Duration backoff_max = std::chrono::seconds(60);
  Duration deadline = std::chrono::minutes(30);
  bool operator==(const BulkConfig&) const = default;
};

struct SearchConfig {
  std::string url;
  std::string username;
  Secret password;
  Secret api_key;
  bool tls_verify = true;
  std::string ca_file;
  Duration connect_timeout = std::chrono::seconds(10);
  Duration request_timeout = std::chrono::minutes(2);
  int replicas_after_load = 1;
  std::string refresh_interval_after_load = "1s";  // an Elasticsearch time value, or "-1"
  Duration health_timeout = std::chrono::hours(12);
  BulkConfig bulk;
  bool operator==(const SearchConfig&) const = default;
};

struct FilteredIndexConfig {
  bool enabled = true;
  double requests_per_second = 20000;  // -1 = unthrottled
  std::string slices = "auto";         // "auto" or a positive integer
  bool operator==(const FilteredIndexConfig&) const = default;
};

struct IncrementalConfig {
  // How far before the watermark an incremental refresh looks for rows with a newer updated_on.
  Duration overlap = std::chrono::hours(1);
  bool operator==(const IncrementalConfig&) const = default;
};

struct RefreshConfig {
  LockScope lock_scope = LockScope::kEnvironment;
  std::int64_t rows_per_shard = 200'000;
  std::int64_t row_limit = 0;  // 0 = no limit
  int max_shard_attempts = 3;
  Duration shard_stall_timeout = std::chrono::minutes(10);
  Duration shard_unclaimed_timeout = std::chrono::minutes(30);
  Duration leftover_sweep_interval = std::chrono::seconds(30);
  Duration keep_previous = Duration(0);  // 0 = the previous generation is deleted at promotion
  Duration transient_retry_deadline = std::chrono::minutes(10);
  Duration schedule_misfire_grace = std::chrono::hours(1);
  Duration progress_interval = std::chrono::seconds(5);
  int copy_parallelism = 2;
  double dead_letter_budget = 0.0;
  std::string sensitive_terms_file = "config/sensitive_terms.txt";
  FilteredIndexConfig filtered_index;
  IncrementalConfig incremental;
  std::string index_settings_dir = "schemas";
  bool operator==(const RefreshConfig&) const = default;
};

// A table copied besides the main one (e.g. audio's audioset view).
struct ExtraTableConfig {
  std::string upstream;
  std::string downstream;
  CopyMode copy = CopyMode::kAdvanced;
  bool operator==(const ExtraTableConfig&) const = default;
};

struct MediaTypeConfig {
  std::string name;  // the map key: "image", "audio"
  std::string table;
  std::string index_settings;  // file name, relative to refresh.index_settings_dir
  int number_of_shards = 0;    // 0 = as in the index settings file
  std::string alias;
  std::string filtered_alias;
  std::string staging_alias;         // "" = <alias>-staging; see staging_alias_name()
  std::string schedule;              // cron, UTC, of full refreshes; "" = only on request
  std::string incremental_schedule;  // cron, UTC, of incremental refreshes; "" = none
  std::vector<ExtraTableConfig> extra_tables;
  bool operator==(const MediaTypeConfig&) const = default;

  // The alias of the staging sample index: staging_alias, or <alias>-staging.
  std::string staging_alias_name() const { return staging_alias.empty() ? alias + "-staging" : staging_alias; }
};

struct HttpConfig {
  std::string metrics_bind = "127.0.0.1";
  int metrics_port = 9464;
  std::string api_bind = "127.0.0.1";
  int api_port = 8080;
  Secret token;  // required when either bind address is not loopback
  bool operator==(const HttpConfig&) const = default;
};

struct IndexerConfig {
  int concurrency = 1;
  std::string worker_id;  // "" = the host name
  bool operator==(const IndexerConfig&) const = default;
};

struct NotifyConfig {
  Secret slack_webhook;
  NotifyLevel level = NotifyLevel::kInfo;
  Duration timeout = std::chrono::seconds(10);
  int attempts = 3;
  bool operator==(const NotifyConfig&) const = default;
};

struct Config {
  std::string environment = "local";
  LoggingConfig logging;
  ServiceConfig service;
  KafkaConfig kafka;
  PostgresConfig postgres;
  SearchConfig search;
  RefreshConfig refresh;
  std::map<std::string, MediaTypeConfig> media_types;
  HttpConfig http;
  IndexerConfig indexer;
  NotifyConfig notify;

  // The media type named `name`; throws ConfigError listing the configured ones if absent.
  const MediaTypeConfig& media_type(std::string_view name) const;
  bool operator==(const Config&) const = default;
};

// Variables visible to the loader: DATAREFRESH_* overrides and the targets of {env: VAR} secrets.
// Injectable so tests need not touch the process environment.
using Environment = std::map<std::string, std::string>;
Environment process_environment();

// Thrown when a configuration is invalid; carries every problem found, each naming its key path.
// what() is a header line followed by one problem per line.
class InvalidConfig : public ConfigError {
 public:
  InvalidConfig(std::string source, std::vector<std::string> problems);
  const std::string& source() const { return source_; }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::string source_;
  std::vector<std::string> problems_;
};

// Non-fatal findings (e.g. a secret written as a plain literal in the file).
using Warnings = std::vector<std::string>;

// Loads, validates and resolves a YAML configuration file. Throws InvalidConfig with every problem
// (unknown keys, wrong types, missing required keys, bad durations, out-of-range numbers, bad enum
// values, unresolvable secrets, cross-key rules) or ConfigError if the file cannot be read.
Config load_config(const std::filesystem::path& path, const Environment& env, Warnings* warnings = nullptr);
// Same, from YAML text; `source` names it in messages.
Config load_config_from_string(std::string_view yaml, const Environment& env, Warnings* warnings = nullptr,
                               std::string_view source = "<string>");

// The effective configuration as YAML, every key present, secrets shown as "***" (or empty).
std::string dump_effective_config(const Config& config);

// One key of the key table, for documentation and tests.
struct KeyInfo {
  std::string path;           // "kafka.topics.shard_jobs.partitions"; maps show as "media_types"
  std::string type;           // "string", "integer", "number", "boolean", "duration", "enum", "secret", "map", ...
  std::string default_value;  // canonical YAML text of the default; empty when there is none
  bool has_default = false;
  bool required = false;
  bool secret = false;
  std::string env_var;  // DATAREFRESH_<PATH>
  std::string doc;
};
std::vector<KeyInfo> config_keys();

// The reference configuration, generated from the key table: every key, its default, its doc.
std::string render_reference_config();

}  // namespace datarefresh::config
