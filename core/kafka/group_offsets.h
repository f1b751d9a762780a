#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/common/duration.h"
#include "core/kafka/client_options.h"

namespace datarefresh::kafka {

// Where a consumer group stands on one partition of a topic.
struct PartitionOffsets {
  std::int32_t partition = 0;
  std::int64_t committed = -1;  // the group's committed offset (the next message it will process); -1: none yet
  std::int64_t low = 0;         // the partition's first retained offset
  std::int64_t high = 0;        // the offset the next produced message will get
  // Messages the group has not committed yet (from the low watermark when it never committed).
  std::int64_t lag() const { return high - (committed >= low ? committed : low); }
  bool operator==(const PartitionOffsets&) const = default;
};

// Reads a consumer group's committed offsets and a topic's watermarks from the brokers, without
// joining the group (OffsetFetch and ListOffsets only, so it never disturbs the group's members).
// Used by the coordinator to tell shard jobs queued behind others from jobs nobody consumes. One
// thread at a time; holds one client handle.
class GroupOffsetsReader {
 public:
  GroupOffsetsReader(const ClientOptions& options, std::string group_id, std::string topic);
  ~GroupOffsetsReader();
  GroupOffsetsReader(const GroupOffsetsReader&) = delete;
  GroupOffsetsReader& operator=(const GroupOffsetsReader&) = delete;

  // Every partition of the topic, in partition order. Throws Error naming the group and topic
  // when the brokers do not answer within `timeout` (each of the requests gets that long).
  std::vector<PartitionOffsets> read(Duration timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::kafka
