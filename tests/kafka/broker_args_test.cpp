#include <gtest/gtest.h>

#include "core/common/error.h"
#include "devstack/broker/embedded_broker.h"

namespace datarefresh::broker {
namespace {

TEST(BrokerTopicArgument, ParsesNameAndPartitions) {
  EXPECT_EQ(parse_topic_arg("datarefresh.events:3"), (BrokerTopic{"datarefresh.events", 3}));
  EXPECT_EQ(parse_topic_arg("a:b:7"), (BrokerTopic{"a:b", 7}));
}

TEST(BrokerTopicArgument, RejectsMissingOrInvalidCountsWithTheArgument) {
  for (const char* bad : {"events", ":3", "events:0", "events:x", "events:3x", "events:-1"}) {
    try {
      parse_topic_arg(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--topic '") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(BrokerDefaultTopics, FollowTheKafkaContractWithThePrefix) {
  EXPECT_EQ(
      default_topics("dr."),
      (std::vector<BrokerTopic>{
          {"dr.requests", 1}, {"dr.refresh-jobs", 1}, {"dr.shard-jobs", 12}, {"dr.events", 3}, {"dr.dead-letter", 1}}));
}

}  // namespace
}  // namespace datarefresh::broker
