#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/kafka/group_offsets.h"
#include "core/ledger/ledger.h"

namespace datarefresh::coordinator {

// What the shard-jobs group's offsets say about the jobs of one refresh that were published and
// have not started.
struct ShardJobsVerdict {
  int waiting = 0;          // published, not started
  int queued = 0;           // behind other jobs on their partition: an indexer will get to them
  int lost = 0;             // the group committed past them, or retention deleted them: nobody will
  std::int64_t jobs_ahead = 0;  // jobs before the nearest waiting one on its partition
  // Seconds for which no indexer showed a sign of consuming shard jobs (no committed offset moved,
  // no shard of a running refresh started or progressed) while these jobs waited; 0 when none waits.
  double idle_seconds = 0;
  bool offsets_known = false;  // the group's offsets could be read
  std::vector<std::int32_t> lost_shards;
  std::vector<std::int32_t> idle_partitions;  // partitions holding waiting jobs
  bool operator==(const ShardJobsVerdict&) const = default;
};

// Judges the waiting jobs of one refresh. `offsets` by partition (empty: unknown);
// `consuming_age` is how long ago an indexer last showed a sign of consuming (see above); a job
// that has waited less than that counts only from its publication. Pure.
ShardJobsVerdict judge_shard_jobs(const std::vector<ledger::ShardRecord>& shards,
                                  const std::map<std::int32_t, kafka::PartitionOffsets>& offsets,
                                  double consuming_age);

// The status line and ledger value of a verdict ({"waiting", "queued", "lost", "jobs_ahead",
// "idle_seconds", "state"}), with state "queued", "lost" or "not_consumed" (idle beyond
// `warn_after`); null when nothing waits.
nlohmann::json shard_jobs_json(const ShardJobsVerdict& v, double warn_after);

// The shard-jobs consumer group as the coordinator last read it: committed offsets and
// watermarks per partition, and when a committed offset last moved. The supervisor thread
// refreshes it (update()), every driver reads it (snapshot()). Thread-safe.
class ShardJobsWatch {
 public:
  using Clock = std::chrono::steady_clock;

  struct Snapshot {
    std::map<std::int32_t, kafka::PartitionOffsets> offsets;  // empty until the first good read
    // Seconds since a committed offset was last seen to move (since the watch started when none has).
    double commit_age = 0;
    std::optional<std::string> error;  // why the last read failed
  };

  explicit ShardJobsWatch(Clock::time_point now = Clock::now());

  void update(const std::vector<kafka::PartitionOffsets>& offsets, Clock::time_point now = Clock::now());
  void failed(const std::string& error);
  Snapshot snapshot(Clock::time_point now = Clock::now()) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::int32_t, kafka::PartitionOffsets> offsets_;
  Clock::time_point last_move_;
  std::optional<std::string> error_;
};

}  // namespace datarefresh::coordinator
