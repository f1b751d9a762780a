#pragma once

#include <cstdint>
#include <vector>

namespace datarefresh::catalog {

// One shard: the half-open id range [id_start, id_end).
struct ShardRange {
  std::int32_t shard = 0;
  std::int64_t id_start = 0;
  std::int64_t id_end = 0;
  bool deletes = false;  // an incremental refresh's shard of documents to delete
  bool operator==(const ShardRange&) const = default;
};

// Splits the inclusive id span [min_id, max_id] into consecutive half-open ranges of at most
// rows_per_shard ids that cover every id exactly once: no gaps, no overlaps, the last range ends
// at max_id + 1. An empty table (no ids: pass min_id > max_id) gives no shards. Throws
// InvariantError for rows_per_shard < 1.
std::vector<ShardRange> plan_shards(std::int64_t min_id, std::int64_t max_id, std::int64_t rows_per_shard);

}  // namespace datarefresh::catalog
