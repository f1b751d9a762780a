#include "core/catalog/shard_plan.h"

#include <string>

#include "core/common/error.h"

namespace datarefresh::catalog {

std::vector<ShardRange> plan_shards(std::int64_t min_id, std::int64_t max_id, std::int64_t rows_per_shard) {
  if (rows_per_shard < 1) {
    throw InvariantError("plan_shards: rows_per_shard must be at least 1, got " + std::to_string(rows_per_shard));
  }
  std::vector<ShardRange> shards;
  if (min_id > max_id) return shards;
  const std::int64_t end = max_id + 1;
  std::int32_t n = 0;
  for (std::int64_t start = min_id; start < end;) {
    std::int64_t stop = (end - start > rows_per_shard) ? start + rows_per_shard : end;
    shards.push_back({n++, start, stop});
    start = stop;
  }
  return shards;
}

}  // namespace datarefresh::catalog
