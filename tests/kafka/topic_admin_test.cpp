#include "core/kafka/topic_admin.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh::kafka {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

using Listing = std::map<std::string, TopicMetadata>;

// A cluster whose answers are scripted: the n-th description returns listings[n] (the last one
// from then on); an entry that holds a "throw" topic makes that description fail.
class ScriptedTopicAdmin final : public TopicAdmin {
 public:
  ScriptedTopicAdmin(std::vector<Listing> listings, std::map<std::string, bool> created = {})
      : listings_(std::move(listings)), created_(std::move(created)) {}

  std::map<std::string, TopicMetadata> describe_topics(Duration) override {
    const auto& answer = listings_[std::min(describe_calls_++, listings_.size() - 1)];
    if (answer.count("throw") != 0) throw Error("listing kafka topics failed: scripted");
    return answer;
  }
  std::map<std::string, bool> create_topics(const std::vector<TopicSpec>& topics, Duration) override {
    for (const auto& t : topics) create_requests_.push_back(t.name);
    return created_;
  }

  std::size_t describe_calls() const { return describe_calls_; }
  const std::vector<std::string>& create_requests() const { return create_requests_; }

 private:
  std::vector<Listing> listings_;
  std::map<std::string, bool> created_;
  std::size_t describe_calls_ = 0;
  std::vector<std::string> create_requests_;
};

const TopicMetadata kNoPartitions{"", 0, 0};
const TopicMetadata kLeaderNotAvailable{"LEADER_NOT_AVAILABLE", 0, 0};

TEST(TopicSettled, OnlyATopicWithoutErrorWithPartitionsAllLedIsSettled) {
  EXPECT_TRUE(settled({"", 12, 0}));
  EXPECT_FALSE(settled(kNoPartitions));
  EXPECT_FALSE(settled(kLeaderNotAvailable));
  EXPECT_FALSE(settled({"UNKNOWN_TOPIC_OR_PART", 0, 0}));
  EXPECT_FALSE(settled({"", 12, 1}));
  EXPECT_FALSE(settled({"LEADER_NOT_AVAILABLE", 12, 0}));
}

// The race of issue 14: another process created the topic a moment earlier, so CreateTopics says
// TOPIC_ALREADY_EXISTS and the metadata shows the topic missing, then without partitions, then
// without leaders. None of that is a mismatch.
TEST(EnsureTopicsJudging, WaitsForATopicAnotherProcessJustCreatedInsteadOfReportingZeroPartitions) {
  ScriptedTopicAdmin admin({{},
                            {},
                            {{"shard-jobs", kNoPartitions}},
                            {{"shard-jobs", kLeaderNotAvailable}},
                            {{"shard-jobs", {"", 12, 12}}},
                            {{"shard-jobs", {"", 12, 0}}}},
                           {{"shard-jobs", false}});
  const auto reports = ensure_topics(admin, {{"shard-jobs", 12, 3}}, 10s, 1ms);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kExisted);
  EXPECT_EQ(reports[0].partitions, 12);
  EXPECT_EQ(reports[0].message, "");
  EXPECT_EQ(admin.create_requests(), std::vector<std::string>{"shard-jobs"});
  EXPECT_EQ(admin.describe_calls(), 6u);
}

TEST(EnsureTopicsJudging, AListedTopicThatIsStillSettlingIsWaitedForAndNeverCreated) {
  ScriptedTopicAdmin admin({{{"events", kLeaderNotAvailable}}, {{"events", {"", 3, 0}}}});
  const auto reports = ensure_topics(admin, {{"events", 3, 3}}, 10s, 1ms);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kExisted);
  EXPECT_EQ(reports[0].partitions, 3);
  EXPECT_TRUE(admin.create_requests().empty());
}

TEST(EnsureTopicsJudging, AReallyDifferentPartitionCountIsReportedWithAdviceOnceSettled) {
  ScriptedTopicAdmin admin(
      {{{"shard-jobs", kNoPartitions}}, {{"shard-jobs", {"", 3, 2}}}, {{"shard-jobs", {"", 3, 0}}}});
  const auto reports = ensure_topics(admin, {{"shard-jobs", 12, 3}}, 10s, 1ms);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kPartitionMismatch);
  EXPECT_EQ(reports[0].partitions, 3);
  EXPECT_EQ(reports[0].message,
            "kafka topic shard-jobs has 3 partitions, configured 12: delete and recreate it, or set the configured "
            "count to 3");
}

TEST(EnsureTopicsJudging, ATopicThatNeverSettlesIsReportedNotSettledWithoutAdviceToDeleteIt) {
  ScriptedTopicAdmin admin({{{"requests", kLeaderNotAvailable}}});
  const auto started = std::chrono::steady_clock::now();
  const auto reports = ensure_topics(admin, {{"requests", 1, 3}}, 200ms, 5ms);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kNotSettled);
  EXPECT_THAT(reports[0].message, HasSubstr("kafka topic requests exists but did not settle within 200 ms"));
  EXPECT_THAT(reports[0].message, HasSubstr("LEADER_NOT_AVAILABLE"));
  EXPECT_THAT(reports[0].message, Not(HasSubstr("delete")));
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 10s);
  EXPECT_GT(admin.describe_calls(), 2u);
}

TEST(EnsureTopicsJudging, CreatesMissingTopicsAndJudgesSettledOnesAtOnce) {
  ScriptedTopicAdmin admin({{{"requests", {"", 1, 0}}, {"events", {"", 1, 0}}}}, {{"dead-letter", true}});
  const auto reports = ensure_topics(admin, {{"requests", 1, 3}, {"events", 3, 3}, {"dead-letter", 1, 3}}, 10s, 1ms);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].state, TopicState::kExisted);
  EXPECT_EQ(reports[1].state, TopicState::kPartitionMismatch);
  EXPECT_EQ(reports[2].state, TopicState::kCreated);
  EXPECT_EQ(reports[2].partitions, 1);
  EXPECT_EQ(admin.create_requests(), std::vector<std::string>{"dead-letter"});
  EXPECT_EQ(admin.describe_calls(), 1u);
}

TEST(EnsureTopicsJudging, ADescriptionFailingWhileWaitingIsTriedAgain) {
  ScriptedTopicAdmin admin({{{"events", kNoPartitions}}, {{"throw", {}}}, {{"events", {"", 3, 0}}}});
  const auto reports = ensure_topics(admin, {{"events", 3, 3}}, 10s, 1ms);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, TopicState::kExisted);
}

TEST(EnsureTopicsJudging, AClusterThatDoesNotAnswerAtFirstIsAnError) {
  ScriptedTopicAdmin admin(std::vector<Listing>{Listing{{"throw", {}}}});
  EXPECT_THROW(ensure_topics(admin, {{"events", 3, 3}}, 1s, 1ms), Error);
}

TEST(EnsureTopicsJudging, AnInvalidSpecIsAConfigErrorBeforeAnyRequest) {
  ScriptedTopicAdmin admin(std::vector<Listing>{Listing{}});
  EXPECT_THROW(ensure_topics(admin, {{"", 3, 3}}, 1s, 1ms), ConfigError);
  EXPECT_EQ(admin.describe_calls(), 0u);
}

}  // namespace
}  // namespace datarefresh::kafka
