#include "core/service/service_context.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/kafka/consumer_lag.h"
#include "core/pg/database.h"

namespace datarefresh::service {

kafka::ClientOptions kafka_client_options(const config::Config& c) {
  kafka::ClientOptions o;
  o.bootstrap_servers = c.kafka.bootstrap_servers;
  o.client_id = c.kafka.client_id;
  o.properties = c.kafka.properties;
  if (c.kafka.security_protocol != config::SecurityProtocol::kPlaintext) {
    o.properties["security.protocol"] = std::string(config::to_string(c.kafka.security_protocol));
  }
  if (c.kafka.security_protocol == config::SecurityProtocol::kSaslPlaintext ||
      c.kafka.security_protocol == config::SecurityProtocol::kSaslSsl) {
    o.properties["sasl.mechanism"] = std::string(config::to_string(c.kafka.sasl_mechanism));
    o.properties["sasl.username"] = c.kafka.sasl_username;
    o.properties["sasl.password"] = c.kafka.sasl_password.reveal();
  }
  if (!c.kafka.ssl_ca_location.empty()) o.properties["ssl.ca.location"] = c.kafka.ssl_ca_location;
  return o;
}

kafka::ProducerOptions kafka_producer_options(const config::Config& c) {
  kafka::ProducerOptions o;
  o.client = kafka_client_options(c);
  o.delivery_timeout = c.kafka.producer.delivery_timeout;
  o.linger = c.kafka.producer.linger;
  return o;
}

kafka::ConsumerOptions kafka_consumer_options(const config::Config& c, const std::string& group_id,
                                              std::vector<std::string> topics) {
  kafka::ConsumerOptions o;
  o.client = kafka_client_options(c);
  o.group_id = group_id;
  o.topics = std::move(topics);
  switch (c.kafka.consumer.assignment_strategy) {
    case config::AssignmentStrategy::kCooperativeSticky: o.strategy = kafka::AssignmentStrategy::kCooperativeSticky; break;
    case config::AssignmentStrategy::kRange: o.strategy = kafka::AssignmentStrategy::kRange; break;
    case config::AssignmentStrategy::kRoundRobin: o.strategy = kafka::AssignmentStrategy::kRoundRobin; break;
  }
  o.session_timeout = c.kafka.consumer.session_timeout;
  o.max_poll_interval = c.kafka.consumer.max_poll_interval;
  o.stall_timeout = c.kafka.consumer.stall_timeout;
  return o;
}

std::vector<kafka::TopicSpec> topic_specs(const config::Config& c) {
  std::vector<kafka::TopicSpec> specs;
  for (auto t : {config::Topic::kRequests, config::Topic::kRefreshJobs, config::Topic::kShardJobs,
                 config::Topic::kEvents, config::Topic::kDeadLetter}) {
    const auto& tc = c.kafka.topics.get(t);
    specs.push_back({c.kafka.topic_name(t), tc.partitions, tc.replication_factor});
  }
  return specs;
}

namespace {
pg::ConnectionOptions db_options(const config::Config& c, const config::Secret& dsn, const std::string& app) {
  pg::ConnectionOptions o;
  o.dsn = dsn.reveal();
  o.connect_timeout = c.postgres.connect_timeout;
  o.connect_attempts = c.postgres.connect_attempts;
  o.statement_timeout = c.postgres.statement_timeout;
  o.lock_timeout = c.postgres.lock_timeout;
  o.application_name = app;
  o.search_path = {"public"};
  return o;
}
}  // namespace

pg::ConnectionOptions api_db_options(const config::Config& c, const std::string& app) {
  return db_options(c, c.postgres.api.dsn, app);
}

pg::ConnectionOptions upstream_db_options(const config::Config& c, const std::string& app) {
  return db_options(c, c.postgres.upstream.dsn, app);
}

search::ClientOptions search_client_options(const config::Config& c) {
  search::ClientOptions o;
  o.url = c.search.url;
  if (!c.search.username.empty()) o.username = c.search.username;
  if (!c.search.password.empty()) o.password = c.search.password.reveal();
  if (!c.search.api_key.empty()) o.api_key = c.search.api_key.reveal();
  o.tls_verify = c.search.tls_verify;
  o.ca_file = c.search.ca_file;
  o.connect_timeout = c.search.connect_timeout;
  o.request_timeout = c.search.request_timeout;
  return o;
}

metrics::OpsServerOptions ops_server_options(const config::Config& c) {
  metrics::OpsServerOptions o;
  o.bind = c.http.metrics_bind;
  o.port = static_cast<std::uint16_t>(c.http.metrics_port);
  if (!c.http.token.empty()) o.token = c.http.token.reveal();
  return o;
}

catalog::MediaKind media_kind(const config::MediaTypeConfig& media) {
  if (auto k = catalog::parse_media_kind(media.name)) return *k;
  throw ConfigError("media_types." + media.name + ": no document transform is known for media type '" + media.name +
                    "' (known: image, audio)");
}

std::filesystem::path resolve_path(const std::filesystem::path& config_file, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p;
  auto beside = config_file.parent_path() / p;
  if (std::filesystem::exists(beside)) return beside;
  // Paths in the shipped configs are relative to the repository root (config/..., schemas/...).
  auto above = config_file.parent_path().parent_path() / p;
  if (std::filesystem::exists(above)) return above;
  return p;
}

ServiceContext::ServiceContext(std::filesystem::path config_file, config::Config config, std::string service_name)
    : config_file_(std::move(config_file)),
      config_(std::move(config)),
      service_name_(std::move(service_name)),
      watchdog_(config_.service.shutdown_grace, service_name_),
      registry_(std::make_shared<prometheus::Registry>()) {}

ServiceContext::~ServiceContext() {
  if (ops_) ops_->stop();
}

void ServiceContext::start_ops_server() {
  ops_ = std::make_unique<metrics::OpsServer>(ops_server_options(config_), registry_, health_);
  ops_->start();
  Logger("service").info("ops server listening", {{"service", service_name_},
                                                   {"bind", config_.http.metrics_bind},
                                                   {"port", ops_->port()}});
}

std::uint16_t ServiceContext::ops_port() const { return ops_ ? ops_->port() : 0; }

std::vector<std::string> probe_endpoints(const config::Config& config, unsigned endpoints, Duration timeout) {
  struct Probe {
    unsigned endpoint;
    std::string key;
    std::function<std::optional<std::string>()> run;
  };
  auto db_probe = [&](pg::ConnectionOptions o) {
    o.connect_attempts = 1;
    o.connect_timeout = std::max<Duration>(timeout, std::chrono::seconds(2));
    return [o]() -> std::optional<std::string> {
      try {
        pg::Database::connect(o);
        return std::nullopt;
      } catch (const std::exception& e) {
        return std::string(e.what());
      }
    };
  };
  std::vector<Probe> probes{
      {kApiDatabase, "postgres.api.dsn", db_probe(api_db_options(config, "datarefresh-probe"))},
      {kUpstreamDatabase, "postgres.upstream.dsn", db_probe(upstream_db_options(config, "datarefresh-probe"))},
      {kSearchEngine, "search.url",
       [&]() -> std::optional<std::string> {
         auto o = search_client_options(config);
         o.request_timeout = timeout;
         o.connect_timeout = std::min<Duration>(timeout, o.connect_timeout);
         auto r = search::Client(o).info();
         if (r.ok()) return std::nullopt;
         return r.error().describe();
       }},
      {kKafka, "kafka.bootstrap_servers",
       [&]() -> std::optional<std::string> {
         try {
           kafka::list_topics(kafka_client_options(config), timeout);
           return std::nullopt;
         } catch (const std::exception& e) {
           return std::string(e.what());
         }
       }},
  };
  std::vector<std::optional<std::string>> results(probes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    if (endpoints & probes[i].endpoint) threads.emplace_back([&, i] { results[i] = probes[i].run(); });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    if (results[i]) problems.push_back(probes[i].key + ": unreachable: " + *results[i]);
  }
  return problems;
}

void ServiceContext::require_endpoints(unsigned endpoints) const {
  auto problems = probe_endpoints(config_, endpoints, std::chrono::seconds(10));
  if (problems.empty()) return;
  std::string message = service_name_ + " cannot start: " + std::to_string(problems.size()) +
                        " endpoint(s) unreachable; fix the configuration or start them:";
  for (const auto& p : problems) message += "\n  " + p;
  throw ConfigError(message);
}

void ServiceContext::ensure_topics() const {
  Logger log("service");
  for (const auto& report : kafka::ensure_topics(kafka_client_options(config_), topic_specs(config_), std::chrono::seconds(30))) {
    if (report.state == kafka::TopicState::kPartitionMismatch || report.state == kafka::TopicState::kNotSettled) {
      log.warn(report.message, {{"topic", report.name}});
    }
  }
}

struct ServiceContext::LagMetric {
  explicit LagMetric(prometheus::Registry& registry)
      : family(prometheus::BuildGauge()
                   .Name("datarefresh_kafka_consumer_lag_messages")
                   .Help("Messages of an assigned partition at or after the group's committed offset, per consumer "
                         "group, topic and partition (from librdkafka statistics)")
                   .Register(registry)) {}
  prometheus::Family<prometheus::Gauge>& family;
  std::mutex mutex;
  std::map<std::string, std::set<std::pair<std::string, std::int32_t>>> shown;  // by group

  void update(const std::string& group, std::string_view stats) {
    auto lags = kafka::consumer_lag_from_statistics(stats);
    std::lock_guard lock(mutex);
    auto& previous = shown[group];
    std::set<std::pair<std::string, std::int32_t>> now;
    for (const auto& l : lags) {
      family.Add({{"group", group}, {"topic", l.topic}, {"partition", std::to_string(l.partition)}})
          .Set(static_cast<double>(l.lag));
      now.insert({l.topic, l.partition});
    }
    for (const auto& [topic, partition] : previous) {
      if (now.count({topic, partition})) continue;
      family.Remove(&family.Add({{"group", group}, {"topic", topic}, {"partition", std::to_string(partition)}}));
    }
    previous = std::move(now);
  }
};

kafka::ConsumerOptions ServiceContext::consumer_options(const std::string& group_id, std::vector<std::string> topics) {
  auto o = kafka_consumer_options(config_, group_id, std::move(topics));
  if (config_.kafka.consumer.lag_interval.count() > 0) {
    if (!lag_) lag_ = std::make_shared<LagMetric>(*registry_);
    o.client.statistics_interval = config_.kafka.consumer.lag_interval;
    o.client.on_statistics = [lag = lag_, group_id](std::string_view stats) { lag->update(group_id, stats); };
  }
  return o;
}

void ServiceContext::run_consumer(kafka::GroupConsumer& consumer, bool heartbeat_from_polls) {
  health_.add_readiness_check("kafka", [&consumer] {
    auto age = std::chrono::steady_clock::now() - consumer.last_poll();
    return age < std::chrono::seconds(30) ? std::string() : std::string("consumer poll loop silent for over 30 s");
  });
  auto& stalls = prometheus::BuildCounter()
                     .Name("datarefresh_kafka_partition_stalls_total")
                     .Help("Assigned partitions whose first message past the committed offset waited undelivered "
                           "for kafka.consumer.stall_timeout, and that were fetched again from that offset, per "
                           "consumer group")
                     .Register(*registry_)
                     .Add({{"group", consumer.group_id()}});
  // A jthread: asked to stop and joined when it goes out of scope, also when run() throws. It
  // waits on the stop token, so that joining it does not eat into the shutdown grace.
  std::jthread heartbeat([&](std::stop_token stop) {
    std::int64_t stalls_seen = 0;
    std::mutex mutex;
    std::condition_variable_any wake;
    while (!stop.stop_requested()) {
      if (heartbeat_from_polls && std::chrono::steady_clock::now() - consumer.last_poll() < std::chrono::seconds(60)) {
        health_.heartbeat();
      }
      const auto recovered = consumer.counters().stalls_recovered;
      stalls.Increment(static_cast<double>(recovered - stalls_seen));
      stalls_seen = recovered;
      std::unique_lock lock(mutex);
      wake.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
    }
  });
  consumer.run();
}

config::Config ServiceContext::load(const std::filesystem::path& config_file) {
  config::Warnings warnings;
  auto cfg = config::load_config(config_file, config::process_environment(), &warnings);
  configure_logging(cfg.logging.level, cfg.logging.format);
  Logger log("config");
  for (const auto& w : warnings) log.warn(w, {{"file", config_file.string()}});
  return cfg;
}

}  // namespace datarefresh::service
