#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "core/common/error.h"
#include "core/kafka/cancel_token.h"
#include "core/kafka/group_consumer.h"
#include "core/kafka/message.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;

ConsumerOptions valid_options() {
  ConsumerOptions o;
  o.client.bootstrap_servers = "localhost:9092";
  o.group_id = "datarefresh-indexer";
  o.topics = {"datarefresh.shard-jobs"};
  return o;
}

std::string validation_message(const ConsumerOptions& options) {
  try {
    validate(options);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConsumerOptionsValidation, DefaultsAreValid) {
  EXPECT_EQ(validation_message(valid_options()), "");
}

TEST(ConsumerOptionsValidation, MessagesNameTheKeyAndTheFix) {
  auto o = valid_options();
  o.group_id.clear();
  EXPECT_EQ(validation_message(o), "kafka.consumer.group_id is empty: set the consumer group name in config");

  o = valid_options();
  o.topics.clear();
  EXPECT_EQ(validation_message(o), "kafka.consumer.topics is empty: name at least one topic to consume");

  o = valid_options();
  o.max_in_flight = 0;
  EXPECT_EQ(validation_message(o), "kafka.consumer.max_in_flight is 0: set it to 1 or more");

  o = valid_options();
  o.session_timeout = 10s;
  o.max_poll_interval = 5s;
  EXPECT_EQ(validation_message(o),
            "kafka.consumer.max_poll_interval (5000 ms) must be at least session_timeout (10000 ms)");

  o = valid_options();
  o.auto_offset_reset = "smallest-ish";
  EXPECT_EQ(validation_message(o), "kafka.consumer.auto_offset_reset is 'smallest-ish': use earliest or latest");

  o = valid_options();
  o.client.bootstrap_servers.clear();
  EXPECT_EQ(validation_message(o),
            "kafka.bootstrap_servers is empty: set it in config or DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS");
}

TEST(KafkaMessage, IsAPlainComparableValue) {
  Message a{"datarefresh.shard-jobs", 4, KafkaOffset(17), "refresh-1/4", "{}", std::nullopt};
  Message b = a;
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.topic_partition(), (TopicPartition{"datarefresh.shard-jobs", 4}));
  EXPECT_EQ(to_string(a.topic_partition()), "datarefresh.shard-jobs[4]");
  b.offset = KafkaOffset(18);
  EXPECT_NE(a, b);
  EXPECT_LT((TopicPartition{"a", 9}), (TopicPartition{"b", 0}));
  EXPECT_LT((TopicPartition{"a", 1}), (TopicPartition{"a", 2}));
}

TEST(CancelToken, FirstReasonWinsAndWakesWaiters) {
  CancelSource source;
  auto token = source.token();
  EXPECT_FALSE(token.cancelled());
  EXPECT_FALSE(token.wait_for(1ms));

  std::thread canceller([&] {
    std::this_thread::sleep_for(20ms);
    source.cancel(CancelReason::kRevoked);
    source.cancel(CancelReason::kStopping);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(token.wait_for(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  canceller.join();
  EXPECT_TRUE(token.cancelled());
  EXPECT_EQ(token.reason(), CancelReason::kRevoked);
  EXPECT_EQ(to_string(token.reason()), "revoked");
}

}  // namespace
}  // namespace datarefresh::kafka
