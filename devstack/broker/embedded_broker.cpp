#include "devstack/broker/embedded_broker.h"

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h needs rdkafka.h first.
#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/common/error.h"
#include "core/common/log.h"

namespace datarefresh::broker {

std::vector<BrokerTopic> default_topics(std::string_view prefix) {
  const std::string p(prefix);
  return {
      {p + "requests", 1}, {p + "refresh-jobs", 1}, {p + "shard-jobs", 12}, {p + "events", 3}, {p + "dead-letter", 1}};
}

BrokerTopic parse_topic_arg(std::string_view text) {
  const auto colon = text.rfind(':');
  int partitions = 0;
  if (colon == std::string_view::npos || colon == 0) {
    throw ConfigError(fmt::format("--topic '{}' is not name:partitions: write it like datarefresh.events:3", text));
  }
  const auto count = text.substr(colon + 1);
  const auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), partitions);
  if (ec != std::errc() || ptr != count.data() + count.size() || partitions < 1 || partitions > 10000) {
    throw ConfigError(
        fmt::format("--topic '{}' has an invalid partition count '{}': use a number from 1 to 10000", text, count));
  }
  return BrokerTopic{std::string(text.substr(0, colon)), partitions};
}

struct EmbeddedBroker::Impl {
  Logger logger{"broker"};
  rd_kafka_t* host = nullptr;  // the handle the mock cluster lives in
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
  int brokers = 0;
  mutable std::mutex mutex;
  std::vector<BrokerTopic> topics;
  std::vector<std::int32_t> down;
  std::chrono::milliseconds settle_delay{0};
  // Topics not settled yet: when they settle. Under `mutex`; the settler waits on settle_cv.
  std::map<std::string, std::chrono::steady_clock::time_point> settling;
  std::condition_variable_any settle_cv;
  std::jthread settler;

  // Makes a new topic look just created: listed with LEADER_NOT_AVAILABLE, no partition leaders.
  void unsettle(const std::string& name, int partitions) {
    rd_kafka_mock_topic_set_error(cluster, name.c_str(), RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    for (int p = 0; p < partitions; ++p) {
      check(rd_kafka_mock_partition_set_leader(cluster, name.c_str(), p, -1),
            fmt::format("taking the leader of {}[{}] away", name, p));
    }
  }

  // The topic as a controller leaves it: no error, every partition led by a broker that is up.
  void settle(const std::string& name) {
    int partitions = 0;
    std::vector<std::int32_t> up;
    {
      std::lock_guard lock(mutex);
      for (const auto& t : topics) {
        if (t.name == name) partitions = t.partitions;
      }
      for (std::int32_t id = 1; id <= brokers; ++id) {
        if (std::find(down.begin(), down.end(), id) == down.end()) up.push_back(id);
      }
    }
    if (up.empty()) up.push_back(1);
    for (int p = 0; p < partitions; ++p) {
      const auto err =
          rd_kafka_mock_partition_set_leader(cluster, name.c_str(), p, up[static_cast<std::size_t>(p) % up.size()]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        logger.error("settling a topic: setting a partition leader failed",
                     {{"topic", name}, {"partition", p}, {"error", rd_kafka_err2name(err)}});
      }
    }
    rd_kafka_mock_topic_set_error(cluster, name.c_str(), RD_KAFKA_RESP_ERR_NO_ERROR);
    logger.info("topic settled", {{"topic", name}, {"partitions", partitions}});
  }

  void run_settler(std::stop_token stop) {
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      if (settling.empty()) {
        settle_cv.wait(lock, stop, [&] { return !settling.empty(); });
        continue;
      }
      auto next = std::min_element(settling.begin(), settling.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
      if (std::chrono::steady_clock::now() < next->second) {
        settle_cv.wait_until(lock, stop, next->second, [] { return false; });
        continue;
      }
      const std::string name = next->first;
      settling.erase(next);
      lock.unlock();
      settle(name);
      lock.lock();
    }
  }

  void check_broker(std::int32_t id) const {
    if (id < 1 || id > brokers) {
      throw Error(fmt::format("broker {} does not exist on the embedded broker: ids are 1 to {}", id, brokers));
    }
  }

  void check(rd_kafka_resp_err_t err, const std::string& what) const {
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw Error(fmt::format("{} failed on the embedded broker: {}", what, rd_kafka_err2str(err)));
    }
  }
};

EmbeddedBroker::EmbeddedBroker(EmbeddedBrokerOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.brokers < 1 || options.brokers > 32) {
    throw ConfigError(fmt::format("--brokers is {}: use 1 to 32", options.brokers));
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The hosting handle never connects anywhere; silence its "no bootstrap servers" notice.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  impl_->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (impl_->host == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw Error(fmt::format("starting the embedded broker failed: {}", errstr));
  }
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->host, options.brokers);
  if (impl_->cluster == nullptr) {
    rd_kafka_destroy(impl_->host);
    throw Error(
        "starting the embedded broker failed: librdkafka could not create the mock cluster (no free "
        "loopback ports?)");
  }
  impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
  impl_->brokers = options.brokers;
  impl_->settle_delay = options.topic_metadata_delay;
  if (impl_->settle_delay.count() > 0) {
    impl_->settler = std::jthread([impl = impl_.get()](std::stop_token stop) { impl->run_settler(stop); });
  }
  for (const auto& t : options.topics) create_topic(t.name, t.partitions);
  impl_->logger.info("embedded broker started", {{"bootstrap", impl_->bootstrap},
                                                 {"brokers", options.brokers},
                                                 {"topic_metadata_delay_ms", impl_->settle_delay.count()}});
}

EmbeddedBroker::~EmbeddedBroker() {
  if (impl_->settler.joinable()) {
    impl_->settler.request_stop();
    impl_->settler.join();
  }
  rd_kafka_mock_cluster_destroy(impl_->cluster);
  rd_kafka_destroy(impl_->host);
}

const std::string& EmbeddedBroker::bootstrap_servers() const {
  return impl_->bootstrap;
}
int EmbeddedBroker::broker_count() const {
  return impl_->brokers;
}

void EmbeddedBroker::create_topic(const std::string& name, int partitions) {
  if (name.empty() || partitions < 1) {
    throw ConfigError(
        fmt::format("embedded broker topic '{}' with {} partitions is invalid: give a name and at "
                    "least 1 partition",
                    name, partitions));
  }
  std::lock_guard lock(impl_->mutex);
  const bool exists =
      std::any_of(impl_->topics.begin(), impl_->topics.end(), [&](const BrokerTopic& t) { return t.name == name; });
  if (exists) throw Error(fmt::format("topic {} already exists on the embedded broker", name));
  impl_->check(rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, std::min(3, impl_->brokers)),
               fmt::format("creating topic {} with {} partitions", name, partitions));
  impl_->topics.push_back({name, partitions});
  if (impl_->settle_delay.count() > 0) {
    impl_->unsettle(name, partitions);
    impl_->settling[name] = std::chrono::steady_clock::now() + impl_->settle_delay;
    impl_->settle_cv.notify_all();
  }
}

std::vector<BrokerTopic> EmbeddedBroker::created_topics() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->topics;
}

void EmbeddedBroker::set_broker_down(std::int32_t broker_id) {
  impl_->check_broker(broker_id);
  {
    std::lock_guard lock(impl_->mutex);
    if (std::find(impl_->down.begin(), impl_->down.end(), broker_id) == impl_->down.end()) {
      impl_->down.push_back(broker_id);
    }
  }
  impl_->check(rd_kafka_mock_broker_set_down(impl_->cluster, broker_id),
               fmt::format("taking broker {} down", broker_id));
  impl_->logger.info("broker down", {{"broker", broker_id}});
}

void EmbeddedBroker::set_broker_up(std::int32_t broker_id) {
  impl_->check_broker(broker_id);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->down.erase(std::remove(impl_->down.begin(), impl_->down.end(), broker_id), impl_->down.end());
  }
  impl_->check(rd_kafka_mock_broker_set_up(impl_->cluster, broker_id), fmt::format("bringing broker {} up", broker_id));
  impl_->logger.info("broker up", {{"broker", broker_id}});
}

void EmbeddedBroker::set_partition_leader(const std::string& topic, std::int32_t partition, std::int32_t broker_id) {
  impl_->check_broker(broker_id);
  impl_->check(rd_kafka_mock_partition_set_leader(impl_->cluster, topic.c_str(), partition, broker_id),
               fmt::format("moving the leader of {}[{}] to broker {}", topic, partition, broker_id));
  impl_->logger.info("partition leader moved", {{"topic", topic}, {"partition", partition}, {"broker", broker_id}});
}

std::vector<std::string> EmbeddedBroker::settling_topics() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<std::string> out;
  for (const auto& [name, when] : impl_->settling) out.push_back(name);
  return out;
}

std::vector<std::int32_t> EmbeddedBroker::down_brokers() const {
  std::lock_guard lock(impl_->mutex);
  auto out = impl_->down;
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace datarefresh::broker
