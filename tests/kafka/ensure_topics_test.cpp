// ensure_topics against the embedded broker made to behave like a real cluster right after
// CreateTopics (topic_metadata_delay): topics listed with LEADER_NOT_AVAILABLE and no partition
// leaders for a while. Clients that judge such a topic at once (issue 14) see a mismatch, or a
// missing topic they then fail to create.
#include <atomic>
#include <chrono>
#include <future>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/kafka/topics.h"
#include "devstack/broker/embedded_broker.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

std::string unique_prefix() {
  static std::atomic<int> counter{0};
  return fmt::format("test-settle-{}-{}.", ::getpid(), counter++);
}

ClientOptions client(const broker::EmbeddedBroker& cluster, const std::string& id) {
  ClientOptions o;
  o.bootstrap_servers = cluster.bootstrap_servers();
  o.client_id = id;
  return o;
}

TEST(EnsureTopicsOnASettlingCluster, TwoProcessesRacingWaitForJustCreatedTopicsAndSeeNoMismatch) {
  constexpr auto kDelay = 3s;
  broker::EmbeddedBroker cluster({3, {}, kDelay});
  const auto prefix = unique_prefix();
  const std::vector<TopicSpec> specs{
      {prefix + "requests", 1, 3}, {prefix + "shard-jobs", 12, 3}, {prefix + "events", 3, 3}};
  const auto before_creation = SteadyClock::now();
  for (const auto& s : specs) cluster.create_topic(s.name, s.partitions);

  // Each with its own client, as two services starting at once.
  auto run = [&](const std::string& id) {
    auto reports = ensure_topics(client(cluster, id), specs, 30s);
    return std::pair{reports, SteadyClock::now()};
  };
  auto planner = std::async(std::launch::async, run, "planner");
  auto indexer = std::async(std::launch::async, run, "indexer");
  for (auto* f : {&planner, &indexer}) {
    const auto [reports, returned_at] = f->get();
    // No topic settles before kDelay after its creation: returning earlier would mean judging a
    // topic that was not settled.
    EXPECT_GE(returned_at - before_creation, kDelay);
    ASSERT_EQ(reports.size(), specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      EXPECT_EQ(reports[i].name, specs[i].name);
      EXPECT_EQ(reports[i].state, TopicState::kExisted) << reports[i].message;
      EXPECT_EQ(reports[i].partitions, specs[i].partitions);
      EXPECT_EQ(reports[i].message, "");
    }
  }
  EXPECT_TRUE(cluster.settling_topics().empty());
  const auto listed = list_topics(client(cluster, "check"), 10s);
  for (const auto& s : specs) EXPECT_EQ(listed.at(s.name), s.partitions) << s.name;
}

TEST(EnsureTopicsOnASettlingCluster, ARealPartitionMismatchStillGetsTheAdviceOnceSettled) {
  constexpr auto kDelay = 2s;
  broker::EmbeddedBroker cluster({3, {}, kDelay});
  const auto name = unique_prefix() + "shard-jobs";
  const auto before_creation = SteadyClock::now();
  cluster.create_topic(name, 3);

  const auto reports = ensure_topics(client(cluster, "planner"), {{name, 12, 3}}, 30s);
  EXPECT_GE(SteadyClock::now() - before_creation, kDelay);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kPartitionMismatch);
  EXPECT_EQ(reports[0].partitions, 3);
  EXPECT_THAT(reports[0].message,
              HasSubstr(fmt::format("kafka topic {} has 3 partitions, configured 12: delete and recreate it", name)));
}

TEST(EnsureTopicsOnASettlingCluster, ATopicNotSettledWithinTheTimeoutIsNotJudged) {
  broker::EmbeddedBroker cluster({3, {}, 10min});
  const auto name = unique_prefix() + "events";
  cluster.create_topic(name, 3);

  const auto reports = ensure_topics(client(cluster, "planner"), {{name, 12, 3}}, 1s);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kNotSettled);
  EXPECT_THAT(reports[0].message, HasSubstr("LEADER_NOT_AVAILABLE"));
  EXPECT_THAT(reports[0].message, Not(HasSubstr("delete")));
  EXPECT_EQ(cluster.settling_topics(), std::vector<std::string>{name});
}

}  // namespace
}  // namespace datarefresh::kafka
