#include "core/common/strong_id.h"

#include <type_traits>
#include <unordered_set>

#include <gtest/gtest.h>

namespace datarefresh {
namespace {

TEST(StrongId, DistinctIdKindsAreDistinctTypes) {
  static_assert(!std::is_convertible_v<ShardNumber, KafkaOffset>);
  static_assert(!std::is_convertible_v<std::int32_t, ShardNumber>);
  EXPECT_EQ(ShardNumber(3), ShardNumber(3));
  EXPECT_LT(ShardNumber(2), ShardNumber(3));
}

TEST(StrongId, HashesLikeItsValue) {
  std::unordered_set<RefreshId> ids{RefreshId("a"), RefreshId("b"), RefreshId("a")};
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace datarefresh
