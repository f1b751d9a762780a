#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "core/catalog/media_kind.h"
#include "core/common/shutdown.h"
#include "core/config/config.h"
#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/kafka/topics.h"
#include "core/metrics/health.h"
#include "core/metrics/ops_server.h"
#include "core/pg/connection.h"
#include "core/search/client.h"

namespace datarefresh::service {

// The consumer group of the indexers on the shard-jobs topic.
inline constexpr const char* kIndexerGroup = "datarefresh-indexers";

// Translations from the validated configuration to each client library's options. Pure.
kafka::ClientOptions kafka_client_options(const config::Config& config);
kafka::ProducerOptions kafka_producer_options(const config::Config& config);
kafka::ConsumerOptions kafka_consumer_options(const config::Config& config, const std::string& group_id,
                                              std::vector<std::string> topics);
std::vector<kafka::TopicSpec> topic_specs(const config::Config& config);
pg::ConnectionOptions api_db_options(const config::Config& config, const std::string& application_name);
pg::ConnectionOptions upstream_db_options(const config::Config& config, const std::string& application_name);
search::ClientOptions search_client_options(const config::Config& config);
metrics::OpsServerOptions ops_server_options(const config::Config& config);

// The endpoints a process depends on, for probe_endpoints().
enum Endpoint : unsigned { kApiDatabase = 1, kUpstreamDatabase = 2, kSearchEngine = 4, kKafka = 8, kAllEndpoints = 15 };

// Tries to reach each endpoint in `endpoints` (at once, each within `timeout`): a PostgreSQL
// connection, the search engine's root, a Kafka metadata request. Returns one problem per
// unreachable endpoint, each naming its configuration key ("postgres.api.dsn: ..."); empty when
// all answered. Secrets never appear in the messages.
std::vector<std::string> probe_endpoints(const config::Config& config, unsigned endpoints, Duration timeout);

// The transform a configured media type uses (by its name: image, audio).
catalog::MediaKind media_kind(const config::MediaTypeConfig& media);

// A path from configuration: absolute as is, relative to the directory of the config file
// otherwise, falling back to the working directory when that does not exist.
std::filesystem::path resolve_path(const std::filesystem::path& config_file, const std::string& path);

// What every datarefresh service process owns: its configuration, metrics registry, health
// state, /metrics-/healthz-/readyz server and shutdown watchdog (a stop requested by SIGTERM ends
// the process within service.shutdown_grace, whatever blocks; the Kafka clients bound their
// close by it). Built once in main, before any worker starts; stopped last. Not copyable; the
// members are thread-safe as documented by their types.
class ServiceContext {
 public:
  ServiceContext(std::filesystem::path config_file, config::Config config, std::string service_name);
  ~ServiceContext();

  const config::Config& config() const { return config_; }
  const std::filesystem::path& config_file() const { return config_file_; }
  const std::string& service_name() const { return service_name_; }
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  metrics::HealthState& health() { return health_; }
  std::filesystem::path resolve(const std::string& path) const { return resolve_path(config_file_, path); }

  // Starts the ops server on the configured metrics address (port 0 picks a free one).
  void start_ops_server();
  std::uint16_t ops_port() const;

  // Loads the configuration file (with DATAREFRESH_* overrides) and configures logging from it.
  static config::Config load(const std::filesystem::path& config_file);

  // Probes the endpoints this service depends on (probe_endpoints) and throws ConfigError listing
  // every unreachable one, so that a misconfigured service exits at once naming each problem
  // instead of starting half its work.
  void require_endpoints(unsigned endpoints) const;

  // Creates the topics of the Kafka contract if missing; waits (bounded) for topics another process
  // has just created to settle, then logs a partition-count mismatch, or a topic that never settled.
  void ensure_topics() const;

  // kafka_consumer_options() plus this process's lag metric: every kafka.consumer.lag_interval the
  // consumer's statistics set datarefresh_kafka_consumer_lag_messages{group, topic, partition} for
  // the partitions it is assigned (and remove the series of partitions it no longer has).
  kafka::ConsumerOptions consumer_options(const std::string& group_id, std::vector<std::string> topics);

  // Runs `consumer` until shutdown with the process health wired to it: /readyz fails while the
  // poll loop is silent for 30 s; with `heartbeat_from_polls` the liveness heartbeat beats while
  // it polls (otherwise the caller's own loop beats). Returns once the consumer stopped.
  void run_consumer(kafka::GroupConsumer& consumer, bool heartbeat_from_polls);

 private:
  std::filesystem::path config_file_;
  config::Config config_;
  std::string service_name_;
  // Declared before what it guards, so destroyed after it: armed until the very end of the service.
  ShutdownWatchdog watchdog_;
  std::shared_ptr<prometheus::Registry> registry_;
  metrics::HealthState health_;
  std::unique_ptr<metrics::OpsServer> ops_;
  struct LagMetric;
  std::shared_ptr<LagMetric> lag_;
};

}  // namespace datarefresh::service
