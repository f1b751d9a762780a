#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace datarefresh::kafka {

// The lag of one partition this consumer is assigned: messages at or after the committed offset.
struct PartitionLag {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t lag = 0;
  bool operator==(const PartitionLag&) const = default;
};

// The lag of every partition a consumer's statistics (librdkafka's statistics JSON, emitted every
// statistics.interval.ms) show assigned to it with a known high watermark. The lag counts from
// the committed offset, not the fetch position: this consumer commits a job only once it is done,
// so messages fetched and held or running still count as lag, which is what an autoscaler and an
// operator want to see. A partition without a commit yet counts from its low watermark. Malformed
// or partial JSON yields what could be read. Pure.
std::vector<PartitionLag> consumer_lag_from_statistics(std::string_view statistics_json);

}  // namespace datarefresh::kafka
