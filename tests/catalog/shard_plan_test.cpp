#include "core/catalog/shard_plan.h"

#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh::catalog {
namespace {

void expect_exact_cover(const std::vector<ShardRange>& shards, std::int64_t min_id, std::int64_t max_id) {
  ASSERT_FALSE(shards.empty());
  EXPECT_EQ(shards.front().id_start, min_id);
  EXPECT_EQ(shards.back().id_end, max_id + 1);
  for (std::size_t i = 0; i < shards.size(); ++i) {
    EXPECT_EQ(shards[i].shard, static_cast<std::int32_t>(i));
    EXPECT_LT(shards[i].id_start, shards[i].id_end);
    if (i > 0) {
      EXPECT_EQ(shards[i].id_start, shards[i - 1].id_end) << "gap or overlap before shard " << i;
    }
  }
}

TEST(PlanShards, CoversEveryIdExactlyOnce) {
  for (std::int64_t rows : {1, 2, 3, 7, 10, 100, 1000}) {
    for (std::int64_t max_id : {1, 9, 10, 11, 99, 100, 101, 1000}) {
      auto shards = plan_shards(1, max_id, rows);
      expect_exact_cover(shards, 1, max_id);
      std::int64_t covered = 0;
      for (const auto& s : shards) covered += s.id_end - s.id_start;
      EXPECT_EQ(covered, max_id);
    }
  }
}

TEST(PlanShards, IncludesTheMaximumIdWhenTheSpanIsAMultipleOfTheShardSize) {
  auto shards = plan_shards(1, 200, 100);
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[1], (ShardRange{1, 101, 201}));
}

TEST(PlanShards, NeverExceedsTheShardSize) {
  for (const auto& s : plan_shards(5, 12'345, 1000)) EXPECT_LE(s.id_end - s.id_start, 1000);
}

TEST(PlanShards, EmptyTableGivesNoShardsAndABadSizeIsRefused) {
  EXPECT_TRUE(plan_shards(1, 0, 100).empty());
  EXPECT_THROW(plan_shards(1, 10, 0), InvariantError);
}

TEST(PlanShards, SingleIdTableGivesOneShard) {
  auto shards = plan_shards(42, 42, 100);
  ASSERT_EQ(shards.size(), 1u);
  EXPECT_EQ(shards[0], (ShardRange{0, 42, 43}));
}

}  // namespace
}  // namespace datarefresh::catalog
