#include <chrono>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/kafka/consumer_lag.h"
#include "tests/kafka/group_test_support.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;
using namespace datarefresh::kafka::kafka_test;

class GroupConsumerStrategyTest : public GroupConsumerTest, public ::testing::WithParamInterface<AssignmentStrategy> {};

TEST_P(GroupConsumerStrategyTest, TwoMembersSplitThePartitionsAndProcessEveryMessageOnce) {
  cluster_.create_topic(topic_, 4);
  std::atomic<bool> retried_once{false};
  auto handler_for = [&](std::string name) {
    return [&, name](const Message& m, const CancelToken&) {
      journal_.add(name, m);
      // The very first delivery asks for a retry: it must come back, and be committed only then.
      if (!retried_once.exchange(true)) return JobOutcome::kRetry;
      return JobOutcome::kDone;
    };
  };
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  options.strategy = GetParam();
  options.max_in_flight = 2;
  RunningConsumer a(options, handler_for("a"));
  ASSERT_TRUE(eventually([&] { return a->assignment().size() == 4; }, 20s)) << "a never got the 4 partitions";
  RunningConsumer b(options, handler_for("b"));

  std::vector<TopicPartition> all, union_ab;
  for (int p = 0; p < 4; ++p) all.push_back({topic_, p});
  const bool split = eventually(
      [&] {
        const auto pa = a->assignment();
        const auto pb = b->assignment();
        std::set<TopicPartition> u(pa.begin(), pa.end());
        u.insert(pb.begin(), pb.end());
        return !pa.empty() && !pb.empty() && u.size() == 4 && pa.size() + pb.size() == 4;
      },
      25s);
  ASSERT_TRUE(split) << "assignment did not settle: a has " << a->assignment().size() << ", b has "
                     << b->assignment().size();

  produce(12);
  ASSERT_TRUE(eventually([&] { return journal_.size() >= 13; }, 20s)) << "processed " << journal_.size();
  std::this_thread::sleep_for(300ms);  // room for a wrong extra delivery to show up

  const auto pa = a->assignment();
  const std::set<TopicPartition> owned_by_a(pa.begin(), pa.end());
  std::map<std::pair<std::int32_t, std::int64_t>, int> deliveries;
  for (const auto& e : journal_.entries()) {
    ++deliveries[{e.message.partition, e.message.offset.value()}];
    EXPECT_EQ(e.consumer == "a", owned_by_a.count(e.message.topic_partition()) == 1)
        << e.consumer << " processed " << to_string(e.message.topic_partition()) << " it does not own";
  }
  EXPECT_EQ(journal_.size(), 13u);
  EXPECT_EQ(deliveries.size(), 12u);
  int twice = 0;
  for (const auto& [where, n] : deliveries) twice += (n == 2);
  EXPECT_EQ(twice, 1);  // only the retried one
  EXPECT_EQ(a->counters().jobs_done + b->counters().jobs_done, 12);
  EXPECT_EQ(a->counters().jobs_retried + b->counters().jobs_retried, 1);
  a.request_stop();
  b.request_stop();
  a.join();
  b.join();
  EXPECT_EQ(a.failure(), "");
  EXPECT_EQ(b.failure(), "");
  std::int64_t committed_total = 0;
  for (int p = 0; p < 4; ++p) committed_total += std::max<std::int64_t>(0, committed(p));
  EXPECT_EQ(committed_total, 12);
}

INSTANTIATE_TEST_SUITE_P(Strategies, GroupConsumerStrategyTest,
                         ::testing::Values(AssignmentStrategy::kCooperativeSticky, AssignmentStrategy::kRange),
                         [](const auto& info) {
                           return info.param == AssignmentStrategy::kRange ? "EagerRange" : "CooperativeSticky";
                         });

TEST_F(GroupConsumerTest, GracefulStopCommitsCompletedWorkAndReleasesTheRunningJob) {
  cluster_.create_topic(topic_, 1);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  options.stop_grace = 1s;
  std::optional<RunningConsumer> a;
  a.emplace(options, [&](const Message& m, const CancelToken& cancel) {
    journal_.add("a", m);
    if (m.offset == KafkaOffset(3)) {
      cancel.wait_for(30s);  // still running when stop() comes
      return JobOutcome::kRetry;
    }
    return JobOutcome::kDone;
  });
  produce(4);
  ASSERT_TRUE(eventually([&] { return journal_.size() == 4 && (*a)->counters().jobs_done == 3; }, 20s));

  const auto stop_started = SteadyClock::now();
  a->join();
  const auto stop_took = SteadyClock::now() - stop_started;
  EXPECT_LT(stop_took, 8s);
  EXPECT_EQ(a->failure(), "");
  EXPECT_EQ((*a)->counters().jobs_abandoned, 1);
  EXPECT_FALSE((*a)->running());
  EXPECT_EQ(committed(0), 3);
  a.reset();

  RunningConsumer b(options, [&](const Message& m, const CancelToken&) {
    journal_.add("b", m);
    return JobOutcome::kDone;
  });
  ASSERT_TRUE(eventually([&] { return journal_.size() == 5; }, 20s));
  const auto entries = journal_.entries();
  EXPECT_EQ(entries[4].consumer, "b");
  EXPECT_EQ(entries[4].message.offset, KafkaOffset(3));
  std::cout << "graceful stop took " << std::chrono::duration_cast<std::chrono::milliseconds>(stop_took).count()
            << " ms\n";
}

// The lag read from the consumer's own librdkafka statistics counts what is not committed yet:
// held and running jobs included, done ones not.
TEST_F(GroupConsumerTest, StatisticsReportTheUncommittedMessagesAsLag) {
  cluster_.create_topic(topic_, 1);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  std::mutex mutex;
  std::optional<std::int64_t> lag;
  options.client.statistics_interval = 300ms;
  options.client.on_statistics = [&](std::string_view stats) {
    for (const auto& l : consumer_lag_from_statistics(stats)) {
      std::lock_guard lock(mutex);
      if (l.topic == topic_ && l.partition == 0) lag = l.lag;
    }
  };
  auto current = [&] {
    std::lock_guard lock(mutex);
    return lag.value_or(-1);
  };
  std::atomic<bool> hold{true};
  RunningConsumer a(options, [&](const Message&, const CancelToken& cancel) {
    while (hold && !cancel.cancelled()) std::this_thread::sleep_for(20ms);
    return cancel.cancelled() ? JobOutcome::kRetry : JobOutcome::kDone;
  });
  produce(5);
  ASSERT_TRUE(eventually([&] { return a->counters().jobs_started == 1; }, 20s));
  EXPECT_TRUE(eventually([&] { return current() == 5; }, 10s)) << "lag " << current();
  hold = false;
  ASSERT_TRUE(eventually([&] { return committed(0) == 5; }, 20s));
  EXPECT_TRUE(eventually([&] { return current() == 0; }, 10s)) << "lag " << current();
}

}  // namespace
}  // namespace datarefresh::kafka
