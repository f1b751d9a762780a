#include "consumer/coordinator/shard_jobs_watch.h"

#include <algorithm>
#include <limits>

namespace datarefresh::coordinator {

ShardJobsVerdict judge_shard_jobs(const std::vector<ledger::ShardRecord>& shards,
                                  const std::map<std::int32_t, kafka::PartitionOffsets>& offsets,
                                  double consuming_age) {
  ShardJobsVerdict v;
  v.offsets_known = !offsets.empty();
  double longest_wait = 0;
  std::int64_t nearest = std::numeric_limits<std::int64_t>::max();
  for (const auto& s : shards) {
    if (s.status != ledger::ShardStatus::kPending || !s.published) continue;
    ++v.waiting;
    longest_wait = std::max(longest_wait, s.idle_seconds);  // a pending shard's idle time counts from its publication
    if (!s.job || !v.offsets_known) continue;
    auto it = offsets.find(s.job->partition);
    if (it == offsets.end()) continue;
    const auto& o = it->second;
    if (s.job->offset < o.low || (o.committed >= 0 && o.committed > s.job->offset)) {
      ++v.lost;
      v.lost_shards.push_back(s.shard);
      continue;
    }
    ++v.queued;
    nearest = std::min(nearest, s.job->offset - std::max(o.committed, o.low));
    if (std::find(v.idle_partitions.begin(), v.idle_partitions.end(), s.job->partition) == v.idle_partitions.end()) {
      v.idle_partitions.push_back(s.job->partition);
    }
  }
  std::sort(v.idle_partitions.begin(), v.idle_partitions.end());
  if (nearest != std::numeric_limits<std::int64_t>::max()) v.jobs_ahead = nearest;
  if (v.waiting > 0) v.idle_seconds = std::min(consuming_age, longest_wait);
  return v;
}

nlohmann::json shard_jobs_json(const ShardJobsVerdict& v, double warn_after) {
  if (v.waiting == 0) return nullptr;
  std::string state = "queued";
  if (v.lost > 0) state = "lost";
  if (v.idle_seconds >= warn_after) state = "not_consumed";
  return {{"waiting", v.waiting},         {"queued", v.queued},
          {"lost", v.lost},               {"jobs_ahead", v.jobs_ahead},
          {"idle_seconds", static_cast<std::int64_t>(v.idle_seconds)},
          {"offsets_known", v.offsets_known}, {"state", state}};
}

ShardJobsWatch::ShardJobsWatch(Clock::time_point now) : last_move_(now) {}

void ShardJobsWatch::update(const std::vector<kafka::PartitionOffsets>& offsets, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (const auto& o : offsets) {
    auto it = offsets_.find(o.partition);
    if (it != offsets_.end() && it->second.committed != o.committed) last_move_ = now;
    offsets_[o.partition] = o;
  }
  error_.reset();
}

void ShardJobsWatch::failed(const std::string& error) {
  std::lock_guard lock(mutex_);
  error_ = error;
}

ShardJobsWatch::Snapshot ShardJobsWatch::snapshot(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return {offsets_, std::chrono::duration<double>(now - last_move_).count(), error_};
}

}  // namespace datarefresh::coordinator
