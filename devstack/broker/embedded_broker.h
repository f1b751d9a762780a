#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace datarefresh::broker {

struct BrokerTopic {
  std::string name;
  int partitions = 1;
  bool operator==(const BrokerTopic&) const = default;
};

struct EmbeddedBrokerOptions {
  int brokers = 3;
  std::vector<BrokerTopic> topics;  // created at start
  // Every topic created (at start or by create_topic) looks, for this long, like one a real
  // cluster has just created: listed with LEADER_NOT_AVAILABLE and without partition leaders, as
  // until its controller has assigned them. Zero: topics are settled at once.
  std::chrono::milliseconds topic_metadata_delay{0};
};

// The topics of the Kafka contract with their development partition counts:
// <prefix>requests:1, refresh-jobs:1, shard-jobs:12, events:3, dead-letter:1.
std::vector<BrokerTopic> default_topics(std::string_view prefix);

// Parses "name:partitions" (as given to --topic). Throws ConfigError naming the argument.
BrokerTopic parse_topic_arg(std::string_view text);

// An in-process Kafka-protocol cluster for development and tests: librdkafka's mock cluster,
// served on 127.0.0.1 with `brokers` brokers (ids 1..N) on random free ports. Data lives in memory
// only. Owns the mock cluster and the librdkafka handle hosting it; the cluster's own thread serves
// clients until destruction; with a topic_metadata_delay, a thread of its own settles new topics.
// Methods are thread-safe (librdkafka's mock API is).
class EmbeddedBroker {
 public:
  explicit EmbeddedBroker(EmbeddedBrokerOptions options = {});
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..." for bootstrap.servers.
  const std::string& bootstrap_servers() const;
  int broker_count() const;

  // Creates a topic with `partitions` partitions and min(3, brokers) replicas, settling after
  // topic_metadata_delay. Throws Error if the topic exists or the arguments are invalid.
  void create_topic(const std::string& name, int partitions);
  // Topics created through this object, in creation order.
  std::vector<BrokerTopic> created_topics() const;

  // Fault injection. Throw Error naming the broker / partition when the mock rejects it.
  void set_broker_down(std::int32_t broker_id);
  void set_broker_up(std::int32_t broker_id);
  void set_partition_leader(const std::string& topic, std::int32_t partition, std::int32_t broker_id);
  // Ids of brokers currently taken down with set_broker_down().
  std::vector<std::int32_t> down_brokers() const;
  // Topics created but not settled yet (see topic_metadata_delay).
  std::vector<std::string> settling_topics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::broker
