#include "consumer/coordinator/shard_jobs_watch.h"

#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/refresh/status_view.h"

namespace datarefresh::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNever = std::numeric_limits<double>::infinity();

ledger::ShardRecord waiting(std::int32_t shard, std::int32_t partition, std::int64_t offset, double waited) {
  ledger::ShardRecord s;
  s.shard = shard;
  s.status = ledger::ShardStatus::kPending;
  s.published = true;
  s.job = ledger::JobPosition{partition, offset};
  s.idle_seconds = waited;
  return s;
}

std::map<std::int32_t, kafka::PartitionOffsets> offsets(std::vector<kafka::PartitionOffsets> list) {
  std::map<std::int32_t, kafka::PartitionOffsets> out;
  for (const auto& o : list) out[o.partition] = o;
  return out;
}

TEST(JudgeShardJobs, JobsBehindTheCommittedOffsetAreQueuedWithTheJobsAheadOfTheNearest) {
  auto v = judge_shard_jobs({waiting(0, 0, 40, 5), waiting(1, 1, 12, 5), waiting(2, 1, 15, 5)},
                            offsets({{0, 30, 0, 41}, {1, 10, 0, 16}}), 1.0);
  EXPECT_EQ(v.waiting, 3);
  EXPECT_EQ(v.queued, 3);
  EXPECT_EQ(v.lost, 0);
  EXPECT_EQ(v.jobs_ahead, 2);  // shard 1: offsets 10 and 11 come first
  EXPECT_THAT(v.idle_partitions, ElementsAre(0, 1));
  EXPECT_DOUBLE_EQ(v.idle_seconds, 1.0) << "someone consumed a second ago";
}

TEST(JudgeShardJobs, AJobTheGroupCommittedPastOrRetentionRemovedIsLost) {
  auto v = judge_shard_jobs({waiting(0, 0, 5, 5), waiting(1, 1, 3, 5), waiting(2, 2, 7, 5)},
                            offsets({{0, 6, 0, 9}, {1, -1, 4, 9}, {2, 7, 0, 9}}), 1.0);
  EXPECT_EQ(v.lost, 2);
  EXPECT_THAT(v.lost_shards, ElementsAre(0, 1));
  EXPECT_EQ(v.queued, 1) << "the job at the committed offset is next, not passed";
  EXPECT_EQ(v.jobs_ahead, 0);
}

TEST(JudgeShardJobs, IdleTimeIsTheShorterOfTheLastConsumptionAndTheLongestWait) {
  auto jobs = std::vector<ledger::ShardRecord>{waiting(0, 0, 5, 40), waiting(1, 0, 6, 10)};
  EXPECT_DOUBLE_EQ(judge_shard_jobs(jobs, offsets({{0, 0, 0, 9}}), kNever).idle_seconds, 40.0)
      << "nobody ever consumed: the jobs have waited since the first was published";
  EXPECT_DOUBLE_EQ(judge_shard_jobs(jobs, offsets({{0, 0, 0, 9}}), 25.0).idle_seconds, 25.0);
}

TEST(JudgeShardJobs, OnlyPublishedPendingShardsWaitAndUnknownOffsetsJudgeNothingButTime) {
  auto running = waiting(0, 0, 1, 100);
  running.status = ledger::ShardStatus::kRunning;
  auto unpublished = waiting(1, 0, 2, 100);
  unpublished.published = false;
  auto done = waiting(2, 0, 3, 100);
  done.status = ledger::ShardStatus::kCompleted;
  auto none = judge_shard_jobs({running, unpublished, done}, offsets({{0, 0, 0, 9}}), kNever);
  EXPECT_EQ(none.waiting, 0);
  EXPECT_DOUBLE_EQ(none.idle_seconds, 0.0);
  EXPECT_TRUE(shard_jobs_json(none, 60).is_null());

  auto unknown = judge_shard_jobs({waiting(3, 0, 3, 90)}, {}, kNever);
  EXPECT_FALSE(unknown.offsets_known);
  EXPECT_EQ(unknown.waiting, 1);
  EXPECT_EQ(unknown.queued + unknown.lost, 0);
  EXPECT_DOUBLE_EQ(unknown.idle_seconds, 90.0);
}

TEST(ShardJobsJson, SaysQueuedLostOrNotConsumedAndTheStatusLineSaysSo) {
  ShardJobsVerdict v;
  v.waiting = 4;
  v.queued = 4;
  v.jobs_ahead = 340;
  v.offsets_known = true;
  v.idle_seconds = 3;
  auto queued = shard_jobs_json(v, 60);
  EXPECT_EQ(queued["state"], "queued");
  EXPECT_EQ(queued["jobs_ahead"], 340);
  EXPECT_EQ(refresh::shard_jobs_text(queued), "4 jobs queued (340 ahead)");

  v.queued = 3;
  v.lost = 1;
  auto lost = shard_jobs_json(v, 60);
  EXPECT_EQ(lost["state"], "lost");
  EXPECT_THAT(refresh::shard_jobs_text(lost), HasSubstr("1 lost"));

  v.idle_seconds = 61;
  auto idle = shard_jobs_json(v, 60);
  EXPECT_EQ(idle["state"], "not_consumed");
  EXPECT_EQ(idle["idle_seconds"], 61);
  EXPECT_EQ(refresh::shard_jobs_text(idle), "4 jobs NOT CONSUMED for 61s: no indexer is taking shard jobs");
  EXPECT_EQ(refresh::shard_jobs_text(nullptr), "");
}

TEST(ShardJobsWatch, RemembersWhenACommittedOffsetLastMoved) {
  using Clock = ShardJobsWatch::Clock;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  ShardJobsWatch watch(t0);
  watch.update({{0, 5, 0, 10}, {1, -1, 0, 3}}, t0 + std::chrono::seconds(10));
  EXPECT_DOUBLE_EQ(watch.snapshot(t0 + std::chrono::seconds(20)).commit_age, 20.0) << "a first reading is no move";
  watch.update({{0, 5, 0, 12}, {1, -1, 0, 3}}, t0 + std::chrono::seconds(30));
  EXPECT_DOUBLE_EQ(watch.snapshot(t0 + std::chrono::seconds(40)).commit_age, 40.0) << "new jobs are no consumption";
  watch.update({{0, 6, 0, 12}, {1, -1, 0, 3}}, t0 + std::chrono::seconds(50));
  auto s = watch.snapshot(t0 + std::chrono::seconds(55));
  EXPECT_DOUBLE_EQ(s.commit_age, 5.0);
  EXPECT_EQ(s.offsets.at(0).committed, 6);
  EXPECT_EQ(s.offsets.at(0).lag(), 6);
  EXPECT_EQ(s.offsets.at(1).lag(), 3) << "never committed: counted from the low watermark";
  EXPECT_FALSE(s.error);
  watch.failed("brokers down");
  EXPECT_EQ(watch.snapshot().error.value_or(""), "brokers down");
  EXPECT_EQ(watch.snapshot().offsets.size(), 2u) << "the last good reading is kept";
}

}  // namespace
}  // namespace datarefresh::coordinator
