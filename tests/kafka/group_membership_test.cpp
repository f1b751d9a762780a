#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/kafka/group_test_support.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;
using namespace datarefresh::kafka::kafka_test;

TEST_F(GroupConsumerTest, AMemberThatDiesMidJobHasItsMessageRedeliveredToTheOtherMember) {
  cluster_.create_topic(topic_, 1);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  RunningConsumer a(options, [&](const Message& m, const CancelToken& cancel) {
    journal_.add("a", m);
    cancel.wait_for(30s);  // a job that never finishes here
    return JobOutcome::kRetry;
  });
  produce(1);
  ASSERT_TRUE(eventually([&] { return journal_.size() == 1; }, 20s)) << "a never got the message";

  RunningConsumer b(options, [&](const Message& m, const CancelToken&) {
    journal_.add("b", m);
    return JobOutcome::kDone;
  });
  ASSERT_TRUE(eventually([&] { return b->counters().assigned_events >= 1 || b->counters().jobs_started > 0; }, 20s))
      << "b never joined the group";

  const auto crash = SteadyClock::now();
  a->abort_for_tests();  // gone without leaving the group or committing
  ASSERT_TRUE(eventually([&] { return journal_.size() == 2; }, 25s)) << "the message was not redelivered";
  const auto redelivered_after = SteadyClock::now() - crash;

  const auto entries = journal_.entries();
  EXPECT_EQ(entries[1].consumer, "b");
  EXPECT_EQ(entries[1].message.offset, entries[0].message.offset);
  EXPECT_EQ(entries[1].message.payload, "job-0");
  EXPECT_EQ(a->counters().jobs_done, 0);
  EXPECT_EQ(a->counters().jobs_abandoned, 1);
  // The coordinator could only notice through the session timeout (3 s).
  EXPECT_GE(redelivered_after, 2s);
  ASSERT_TRUE(eventually([&] { return b->counters().jobs_done == 1; }, 10s));
  b.join();
  EXPECT_EQ(committed(0), 1);
  std::cout << "redelivered after crash in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(redelivered_after).count() << " ms\n";
}

// librdkafka keeps a partition's pause flag across a revoke and a re-assignment; a partition
// paused for a running job, taken away and given back must still deliver.
TEST_F(GroupConsumerTest, APartitionRevokedMidJobAndAssignedBackDeliversAgain) {
  cluster_.create_topic(topic_, 2);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  options.max_in_flight = 2;
  std::atomic<bool> hold{true};
  RunningConsumer a(options, [&](const Message& m, const CancelToken& cancel) {
    journal_.add("a", m);
    while (hold && !cancel.cancelled()) std::this_thread::sleep_for(20ms);
    return cancel.cancelled() ? JobOutcome::kRetry : JobOutcome::kDone;
  });
  produce(8);
  ASSERT_TRUE(eventually([&] { return a->counters().jobs_started >= 2; }, 20s)) << "a never ran both partitions";
  {
    RunningConsumer b(options, [&](const Message&, const CancelToken& cancel) {
      cancel.wait_for(30s);
      return JobOutcome::kRetry;
    });
    ASSERT_TRUE(eventually([&] { return a->counters().revoked_events >= 1; }, 20s)) << "b never took a partition";
  }  // b leaves the group: its partition goes back to a
  hold = false;
  ASSERT_TRUE(eventually([&] { return committed(0) + committed(1) == 8; }, 40s))
      << "committed " << committed(0) << " + " << committed(1) << " of 8";
}

// librdkafka before 2.3.0 aborts the whole process when a cooperative-sticky member is destroyed
// between the answers to its JoinGroup and its SyncGroup (the CI run of this suite died on it once,
// in the test above). Members joining together and stopped at staggered moments across their first
// rebalances hit that window; the consumer must neither abort nor break the group for the member
// that stays.
TEST_F(GroupConsumerTest, MembersStoppedDuringTheirFirstRebalanceLeaveWithoutAbortingTheProcess) {
  cluster_.create_topic(topic_, 2);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  std::atomic<int> done_by_a{0};
  RunningConsumer a(options, [&](const Message&, const CancelToken&) {
    ++done_by_a;
    return JobOutcome::kDone;
  });
  ASSERT_TRUE(eventually([&] { return a->counters().assigned_events >= 1; }, 20s)) << "a never joined";

  constexpr int kJoiners = 20;
  std::vector<std::unique_ptr<RunningConsumer>> joiners;
  for (int i = 0; i < kJoiners; ++i) {
    joiners.push_back(std::make_unique<RunningConsumer>(options, [](const Message&, const CancelToken&) {
      return JobOutcome::kRetry;  // never commits: whatever it got goes back to the group
    }));
  }
  for (int i = 0; i < kJoiners; ++i) {
    std::this_thread::sleep_for(200ms);
    joiners[i]->request_stop();
  }
  for (auto& j : joiners) {
    j->join();
    EXPECT_EQ(j->failure(), "");
    EXPECT_FALSE((*j)->running());
  }
  joiners.clear();

  produce(6);
  ASSERT_TRUE(eventually([&] { return committed(0) + committed(1) == 6; }, 40s))
      << "the remaining member committed " << committed(0) + committed(1) << " of 6";
  // At least once: a commit refused by a rebalance (ILLEGAL_GENERATION) has a job run again.
  EXPECT_GE(done_by_a.load(), 6);
}

TEST_F(GroupConsumerTest, AJobLongerThanMaxPollIntervalKeepsTheMembershipAndCommitsOnce) {
  cluster_.create_topic(topic_, 1);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  ASSERT_EQ(options.max_poll_interval, 6s);
  std::atomic<bool> cancelled{false};
  RunningConsumer a(options, [&](const Message& m, const CancelToken& cancel) {
    journal_.add("a", m);
    if (m.offset == KafkaOffset(0) && cancel.wait_for(10s)) {
      cancelled = true;
      return JobOutcome::kRetry;
    }
    return JobOutcome::kDone;
  });
  produce(2);
  ASSERT_TRUE(eventually([&] { return journal_.size() == 2; }, 30s)) << "processed " << journal_.size();
  ASSERT_TRUE(eventually([&] { return a->counters().jobs_done == 2; }, 5s));
  std::this_thread::sleep_for(500ms);

  EXPECT_FALSE(cancelled);
  const auto entries = journal_.entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].message.offset, KafkaOffset(0));
  EXPECT_EQ(entries[1].message.offset, KafkaOffset(1));
  const auto c = a->counters();
  EXPECT_EQ(c.assigned_events, 1);
  EXPECT_EQ(c.revoked_events, 0);
  EXPECT_EQ(c.jobs_abandoned, 0);
  EXPECT_EQ(c.commit_failures, 0);
  EXPECT_LT(SteadyClock::now() - a->last_poll(), 2s);
  EXPECT_EQ(committed(0), 2);
}

// A partition whose messages stop reaching the consumer (a client that stopped fetching it: seen
// once with librdkafka 2.0.2 after a rebalance, when a shard job was never delivered and its
// refresh waited for good) is fetched again from its committed offset once it has been quiet for
// stall_timeout; a healthy idle partition is left alone.
TEST_F(GroupConsumerTest, APartitionThatStopsDeliveringIsFetchedAgainFromItsCommittedOffset) {
  cluster_.create_topic(topic_, 1);
  auto options = test_options(cluster_.bootstrap_servers(), group_, topic_);
  options.stall_timeout = 2s;
  RunningConsumer a(options, [&](const Message& m, const CancelToken&) {
    journal_.add("a", m);
    return JobOutcome::kDone;
  });
  ASSERT_TRUE(eventually([&] { return a->counters().assigned_events >= 1; }, 20s)) << "a never joined";
  a->drop_next_message_for_tests(0);
  produce(1);
  ASSERT_TRUE(eventually([&] { return journal_.size() == 1; }, 20s)) << "the lost message was never delivered";
  EXPECT_EQ(a->counters().stalls_recovered, 1);
  ASSERT_TRUE(eventually([&] { return committed(0) == 1; }, 10s));

  // Quiet, with nothing waiting: no more fetching again, nothing delivered twice.
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(journal_.size(), 1u);
  EXPECT_EQ(a->counters().stalls_recovered, 1);
  EXPECT_EQ(a->counters().jobs_done, 1);
}

}  // namespace
}  // namespace datarefresh::kafka
