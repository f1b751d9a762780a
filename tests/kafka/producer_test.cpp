#include "core/kafka/producer.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/common/error.h"
#include "core/common/net.h"
#include "core/kafka/topics.h"
#include "devstack/broker/broker_admin_server.h"
#include "devstack/broker/embedded_broker.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;

std::string unique_name(std::string_view what) {
  static std::atomic<int> counter{0};
  return fmt::format("test-{}-{}-{}", what, ::getpid(), counter++);
}

ProducerOptions producer_options(const std::string& bootstrap) {
  ProducerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.client_id = "kafka-producer-test";
  o.delivery_timeout = 10s;
  o.close_timeout = 5s;
  return o;
}

TEST(Producer, ProduceSyncReturnsConsecutiveOffsetsFromTheBroker) {
  broker::EmbeddedBroker cluster;
  const auto topic = unique_name("produce");
  cluster.create_topic(topic, 1);
  Producer producer(producer_options(cluster.bootstrap_servers()));

  for (int i = 0; i < 3; ++i) {
    const auto result = producer.produce_sync(topic, "refresh-1", fmt::format("{{\"n\":{}}}", i), 10s);
    ASSERT_TRUE(result.ok()) << result.error->message;
    EXPECT_EQ(result.topic, topic);
    EXPECT_EQ(result.partition, 0);
    EXPECT_EQ(result.offset, KafkaOffset(i));
  }
  auto future = producer.produce(topic, "refresh-1", "{\"n\":3}");
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  const auto async_result = future.get();
  ASSERT_TRUE(async_result.ok()) << async_result.error->message;
  EXPECT_EQ(async_result.offset, KafkaOffset(3));
  EXPECT_TRUE(producer.flush(5s));
  EXPECT_EQ(producer.outstanding(), 0);
}

TEST(Producer, UnreachableClusterYieldsARetryableErrorNamingTheTopic) {
  auto options = producer_options(fmt::format("127.0.0.1:{}", pick_free_loopback_port()));
  options.delivery_timeout = 1s;
  options.close_timeout = 1s;
  Producer producer(options);
  const auto result = producer.produce_sync("datarefresh.events", "k", "v", 10s);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.error->retryable);
  EXPECT_EQ(result.error->name, "_MSG_TIMED_OUT");
  EXPECT_THAT(result.error->message, ::testing::HasSubstr("datarefresh.events"));
}

TEST(Producer, StatisticsCallbackReceivesLibrdkafkaStatsJson) {
  broker::EmbeddedBroker cluster;
  auto options = producer_options(cluster.bootstrap_servers());
  std::mutex mutex;
  std::string last;
  options.client.statistics_interval = 100ms;
  options.client.on_statistics = [&](std::string_view json) {
    std::lock_guard lock(mutex);
    last = std::string(json);
  };
  Producer producer(options);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (!last.empty()) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no statistics within 10 s";
    std::this_thread::sleep_for(20ms);
  }
  std::lock_guard lock(mutex);
  const auto stats = nlohmann::json::parse(last);
  EXPECT_EQ(stats.at("type"), "producer");
  EXPECT_EQ(stats.at("client_id"), "kafka-producer-test");
}

TEST(EnsureTopics, AcceptsExistingTopicsAndReportsPartitionMismatches) {
  broker::EmbeddedBroker cluster;
  const auto existing = unique_name("existing");
  const auto mismatched = unique_name("mismatched");
  cluster.create_topic(existing, 2);
  cluster.create_topic(mismatched, 1);
  ClientOptions client;
  client.bootstrap_servers = cluster.bootstrap_servers();

  const auto reports = ensure_topics(client, {{existing, 2, -1}, {mismatched, 4, -1}}, 10s);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].name, existing);
  EXPECT_EQ(reports[0].state, TopicState::kExisted);
  EXPECT_EQ(reports[0].partitions, 2);
  EXPECT_EQ(reports[1].state, TopicState::kPartitionMismatch);
  EXPECT_EQ(reports[1].partitions, 1);
  EXPECT_THAT(reports[1].message, ::testing::HasSubstr("has 1 partitions, configured 4"));

  const auto topics = list_topics(client, 10s);
  EXPECT_EQ(topics.at(existing), 2);
  EXPECT_EQ(topics.at(mismatched), 1);
}

// librdkafka 2.0.2's mock cluster has no controller and no CreateTopics: ensure_topics must say
// so, name the topic and how to create it, and not hang.
TEST(EnsureTopics, MissingTopicOnTheEmbeddedBrokerFailsNamingTheTopicAndTheFix) {
  broker::EmbeddedBroker cluster;
  const auto missing = unique_name("missing");
  ClientOptions client;
  client.bootstrap_servers = cluster.bootstrap_servers();
  const auto start = std::chrono::steady_clock::now();
  try {
    ensure_topics(client, {{missing, 3, 1}}, 1s);
    ADD_FAILURE() << "ensure_topics created a topic on a cluster without CreateTopics";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(missing));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("--topic name:partitions"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(list_topics(client, 10s).count(missing), 0u);
}

TEST(BrokerAdminEndpoint, TakesBrokersDownAndUpAndMovesLeaders) {
  broker::EmbeddedBroker cluster;
  const auto topic = unique_name("admin");
  cluster.create_topic(topic, 2);
  broker::BrokerAdminServer admin(cluster, 0);
  httplib::Client http("127.0.0.1", admin.port());
  http.set_read_timeout(10, 0);
  http.set_connection_timeout(5, 0);

  auto res = http.Get("/");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto body = nlohmann::json::parse(res->body);
  EXPECT_EQ(body.at("bootstrap"), cluster.bootstrap_servers());
  EXPECT_EQ(body.at("brokers").size(), 3u);
  EXPECT_EQ(body.at("topics").at(topic), 2);

  res = http.Post("/brokers/2/down");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(cluster.down_brokers(), std::vector<std::int32_t>{2});
  res = http.Post("/brokers/2/up");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(cluster.down_brokers().empty());

  res = http.Post("/brokers/9/down");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, ::testing::HasSubstr("broker 9 does not exist"));

  res = http.Post(fmt::format("/topics/{}/partitions/1/leader/3", topic));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;

  res = http.Post("/nothing/here");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_THAT(res->body, ::testing::HasSubstr("no admin route POST /nothing/here"));
}

}  // namespace
}  // namespace datarefresh::kafka
