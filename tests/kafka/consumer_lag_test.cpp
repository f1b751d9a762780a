#include "core/kafka/consumer_lag.h"

#include <gtest/gtest.h>

namespace datarefresh::kafka {
namespace {

// The parts of librdkafka's statistics JSON the lag is read from.
constexpr const char* kStatistics = R"({
  "name": "datarefresh#consumer-1", "type": "consumer",
  "topics": {
    "datarefresh.shard-jobs": {"topic": "datarefresh.shard-jobs", "partitions": {
      "0": {"partition": 0, "desired": true, "fetch_state": "active", "lo_offset": 0, "hi_offset": 40,
            "committed_offset": 31, "consumer_lag": 2},
      "1": {"partition": 1, "desired": true, "fetch_state": "active", "lo_offset": 5, "hi_offset": 12,
            "committed_offset": -1001, "consumer_lag": -1},
      "2": {"partition": 2, "desired": false, "fetch_state": "none", "lo_offset": 0, "hi_offset": 99,
            "committed_offset": 3},
      "3": {"partition": 3, "desired": true, "fetch_state": "offset-query", "hi_offset": -1},
      "-1": {"partition": -1, "desired": false, "hi_offset": -1}}},
    "datarefresh.events": {"partitions": {
      "0": {"partition": 0, "desired": true, "fetch_state": "active", "lo_offset": 0, "hi_offset": 7,
            "committed_offset": 7}}}
  }
})";

TEST(ConsumerLag, CountsFromTheCommittedOffsetOfEachAssignedPartition) {
  auto lags = consumer_lag_from_statistics(kStatistics);
  EXPECT_EQ(lags, (std::vector<PartitionLag>{{"datarefresh.events", 0, 0},
                                             {"datarefresh.shard-jobs", 0, 9},
                                             {"datarefresh.shard-jobs", 1, 7}}));
}

TEST(ConsumerLag, IgnoresWhatItCannotRead) {
  EXPECT_TRUE(consumer_lag_from_statistics("").empty());
  EXPECT_TRUE(consumer_lag_from_statistics("{\"topics\": []}").empty());
  EXPECT_TRUE(consumer_lag_from_statistics("{\"topics\": {\"t\": {\"partitions\": {\"x\": {}}}}}").empty());
  EXPECT_TRUE(consumer_lag_from_statistics("{not json").empty());
}

}  // namespace
}  // namespace datarefresh::kafka
